"""Windows you already have, as a ``.npz`` file: the source kind "windows".

Arrays (names as ``numpy.savez`` writes them):

* ``X`` (or ``windows``): float ``[n, T, C]``, required;
* ``y`` (or ``labels``): ``[n]`` class indices (with ``class_names``) or class names (strings), required
  to train (a file without labels can still be predicted);
* ``subject``: ``[n]`` subject ids (ints or strings); without it every window counts as one subject, and
  cross-validation by subject is impossible;
* ``channel_names`` ``[C]``, ``class_names`` ``[K]``, ``sampling_rate`` (Hz), ``step`` (samples between
  window starts), ``units`` ``[C]``: optional; the loader's options fill or override them (its ``step``
  in seconds).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import DataError
from harcnn.data.dataset import Dataset, InputSpec, SourceKind
from harcnn.data.options import DataOptions

ALIASES = {"windows": "X", "x": "X", "labels": "y", "subjects": "subject", "channels": "channel_names",
           "classes": "class_names"}


def read_npz_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` under their canonical names (``X``, ``y``, ``subject``, ...), checked."""
    path = Path(path)
    where = f"{path}: "
    if not path.is_file():
        raise DataError(f"{where}no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {ALIASES.get(k, k): npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{where}not a readable .npz file ({error})") from None
    if "X" not in arrays:
        others = [k for k in arrays if k not in ("y", "subject", "channel_names", "class_names", "sampling_rate",
                                                 "step", "units")]
        if len(others) != 1:
            raise DataError(f"{where}expected an array named 'X' or 'windows' (found: {', '.join(arrays) or 'none'})")
        arrays["X"] = arrays.pop(others[0])
    X = arrays["X"]
    if X.ndim != 3 or not np.issubdtype(X.dtype, np.number):
        raise DataError(f"{where}'X' must be numeric windows [n, time steps, channels], got {X.dtype} {list(X.shape)}")
    if len(X) == 0:
        raise DataError(f"{where}'X' holds no windows (shape {list(X.shape)})")
    for name in ("y", "subject"):
        if name in arrays and arrays[name].shape != (len(X),):
            raise DataError(f"{where}'{name}' must hold one value per window ({len(X)}), got shape "
                            f"{list(arrays[name].shape)}")
    if "y" in arrays and np.issubdtype(arrays["y"].dtype, np.integer) and "class_names" not in arrays \
            and arrays["y"].min() < 0:
        raise DataError(f"{where}integer labels 'y' must be class indices >= 0")
    if "y" in arrays and np.issubdtype(arrays["y"].dtype, np.floating):
        y = arrays["y"]
        odd = y[~np.isfinite(y) | (y != np.round(y))]
        if odd.size:
            shown = ", ".join(f"{v:.4g}" for v in np.unique(odd)[:3])
            raise DataError(f"{where}labels 'y' hold {np.unique(odd).size} values that are not whole numbers (e.g. "
                            f"{shown}): a measurement, not classes; save one class per window as an integer index "
                            "(with --class-names A,B,...) or as a name")
    return arrays


def load_windows(path: str | Path, options: DataOptions = DataOptions()) -> Dataset:
    """A :class:`Dataset` from a ``.npz`` of windows (see the module docstring); of ``options``, the
    ones the file does not say: ``sampling_rate``, ``step_seconds``, ``class_names`` and
    ``channel_names`` (comma-separated)."""
    path = Path(path)
    sampling_rate, step = options.sampling_rate, options.step_seconds
    where = f"{path}: "
    arrays = read_npz_arrays(path)
    X = arrays["X"].astype(np.float32)
    if "y" not in arrays:
        raise DataError(f"{where}no labels: add an array 'y' (one class per window) to train or evaluate on it")
    notes = []
    classes = _names(options.class_names, arrays.get("class_names"))
    y = arrays["y"]
    if not np.issubdtype(y.dtype, np.integer):
        found = sorted({str(v) for v in y})
        classes = classes or found
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise DataError(f"{where}labels {', '.join(unknown)} are not among the class names {', '.join(classes)}")
        y = np.array([classes.index(str(v)) for v in y], dtype=np.int64)
    elif classes is None:
        classes = [f"class_{k}" for k in range(int(y.max()) + 1)]
        notes.append(f"no class names: calling the classes {', '.join(classes)}")
    if len(y) and y.max() >= len(classes):
        raise DataError(f"{where}label {int(y.max())} has no class name ({len(classes)} names given)")
    channels = _names(options.channel_names, arrays.get("channel_names")) or [f"channel_{c}" for c in range(X.shape[2])]
    if len(channels) != X.shape[2]:
        raise DataError(f"{where}{len(channels)} channel names for windows of {X.shape[2]} channels")
    rate = sampling_rate if sampling_rate is not None else _scalar(arrays, "sampling_rate", where)
    if rate is None:
        raise DataError(f"{where}no sampling rate: add an array 'sampling_rate' or pass --rate HZ")
    window_step = int(round(step * rate)) if step is not None else _scalar(arrays, "step", where)
    if window_step is None:
        window_step = X.shape[1] // 2
        notes.append(f"no step given: assuming windows overlap by half ({window_step} samples)")
    units = _names(None, arrays.get("units")) or [""] * X.shape[2]
    if "subject" in arrays:
        subject = arrays["subject"]
    else:
        subject = np.zeros(len(X), dtype=np.int64)
        notes.append("no subjects: every window counts as subject 0 (cross-validation by subject needs 'subject')")
    spec = InputSpec(float(rate), X.shape[1], int(window_step), tuple(channels), tuple(units), tuple(classes), None)
    return Dataset(X=X, y=y, subject=subject, spec=spec, name="windows", source=str(path), notes=tuple(notes))


def _names(option: str | None, array: np.ndarray | None) -> list[str] | None:
    if option is not None:
        return [part.strip() for part in str(option).split(",") if part.strip()]
    return None if array is None else [str(v) for v in np.atleast_1d(array)]


def _scalar(arrays: dict[str, np.ndarray], name: str, where: str) -> Any:
    if name not in arrays:
        return None
    value = arrays[name]
    if value.size != 1 or not np.issubdtype(value.dtype, np.number) or not float(value.reshape(-1)[0]) > 0:
        raise DataError(f"{where}'{name}' must be one positive number, got {value!r}")
    return value.reshape(-1)[0].item()


SOURCE = SourceKind(
    "windows", "a .npz of windows X [n, T, C] with labels y (and optionally subject, names, rate)",
    lambda path: path.is_file() and path.suffix.lower() == ".npz",
    lambda path, options, **_: load_windows(path, options),
    ("sampling_rate", "step_seconds", "class_names", "channel_names"))


def read_windows_file(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Windows (and labels, if the ``.npz`` has ``y``) from a ``.npy`` or ``.npz`` file."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        arrays = read_npz_arrays(path)
        return arrays["X"], arrays.get("y")
    where = f"{path}: "
    if not path.is_file():
        raise DataError(f"{where}no such file")
    try:
        X = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{where}not a readable numpy file (truncated or corrupt? {error})") from None
    if X.ndim != 3:
        raise DataError(f"{where}expected windows [n, time steps, channels], got an array of shape {list(X.shape)}")
    return X, None
