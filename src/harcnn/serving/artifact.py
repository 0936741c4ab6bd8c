"""Saved models: a self-describing folder that ``harcnn.load_model`` restores.

``harcnn train --save DIR`` (or :meth:`TrainedModel.save`) writes::

    DIR/
      model.safetensors   every tensor of the model's state (all R members, each with its own dtype), no pickle
      config.json         everything needed to use it (below)

``config.json`` holds: the format name and version; the model (registry name, ``n_models``, its
settings and its input description); the input spec (sampling rate, window, step, channel names
and units, class names, and the preprocessing that turns a recording into windows); the fitted
standardizer statistics (or ``null``); the training recipe as plain data (the flat configuration,
its id, the seeds and the identity of the training data), the scores, the versions, the creation
time and the SHA-256 of the weights file.

Loading needs none of the experiment machinery: it rebuilds the network from the model's name,
settings and input description, and checks every tensor's name, shape and dtype against it. The
training recipe is kept as it was written (renaming a training setting never breaks a saved model).

The folder is written atomically: into a hidden temporary folder beside ``DIR`` that is renamed to
``DIR`` when complete, so a crash never leaves a half-written model that loads. :func:`load_model`
raises :class:`~harcnn.core.errors.HarcnnError` with one line naming the problem: missing files, bad
JSON, a weights file whose hash does not match, tensors that do not fit, an unknown model.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.data.dataset import InputSpec
from harcnn.data.transforms import Standardizer, check_windows
from harcnn.core.errors import DataError, HarcnnError
from harcnn.models import EnsembleModel, create_model
from harcnn.core.outputs import OutputKind, check_output, write_folder
from harcnn.core.provenance import current_versions, json_default
from harcnn.training.inference import average_probabilities, predict_proba

__all__ = ["ARTIFACT_FORMAT", "FORMAT_VERSION", "MODEL_FOLDER", "TrainedModel", "load_model"]

ARTIFACT_FORMAT = "harcnn-model"
FORMAT_VERSION = 3  # 3: any input spec, the model's input description, the recipe as plain data
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class TrainedModel:
    """A trained network (one or an ensemble of R members) with everything needed to use it.

    ``predict_proba(windows)`` takes raw windows ``[n, window, channels]`` (float, in the channel
    order and units of ``spec``), applies the fitted preprocessing (``standardizer``) and returns
    the class probabilities ``[n, K]``, averaged over the members.
    """

    model: EnsembleModel
    spec: InputSpec
    standardizer: Standardizer | None = None
    recipe: dict[str, Any] = field(default_factory=dict)  # the flat configuration it was trained with
    seeds: list[int] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the identity of its training data
    scores: dict[str, Any] = field(default_factory=dict)
    timeline: dict[str, Any] = field(default_factory=dict)  # smoothing and unknown threshold, plain data
    metadata: dict[str, Any] = field(default_factory=dict)  # config.json as read (or as it will be written)
    path: Path | None = None
    history: Any = field(default=None, repr=False)  # the training curves, right after training (not saved)

    def __post_init__(self) -> None:
        self.model.eval()
        if (self.model.window, self.model.n_channels, self.model.n_classes) != \
                (self.spec.window, len(self.spec.channels), len(self.spec.classes)):
            raise HarcnnError(f"the model reads {self.model.window} x {self.model.n_channels} windows into "
                              f"{self.model.n_classes} classes, but the input spec says {self.spec.describe()}")

    # ------------------------------------------------------------------ shape
    @property
    def n_models(self) -> int:
        return self.model.n_models

    @property
    def window(self) -> int:
        return self.spec.window

    @property
    def step(self) -> int:
        return self.spec.step

    @property
    def sampling_rate(self) -> float:
        return self.spec.sampling_rate

    @property
    def n_channels(self) -> int:
        return len(self.spec.channels)

    @property
    def n_classes(self) -> int:
        return len(self.spec.classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def channel_names(self) -> tuple[str, ...]:
        return self.spec.channels

    @property
    def name(self) -> str:
        return self.model.name

    def describe(self) -> str:
        members = f"{self.n_models} members" if self.n_models > 1 else "1 member"
        return f"{self.name} ({members}, {'standardized' if self.standardizer else 'raw'} input)"

    # ------------------------------------------------------------------ prediction
    def prepare(self, windows: np.ndarray) -> np.ndarray:
        """Check raw windows and apply the fitted preprocessing: float32 ``[n, window, channels]``."""
        X = np.asarray(windows)
        expected = (self.window, self.n_channels)
        if X.ndim != 3 or X.shape[1:] != expected:
            raise DataError(f"windows must have shape [n, {expected[0]}, {expected[1]}] "
                            f"({', '.join(self.channel_names)}), got {list(X.shape)}")
        if not np.issubdtype(X.dtype, np.floating) and not np.issubdtype(X.dtype, np.integer):
            raise DataError(f"windows must be numbers, got dtype {X.dtype}")
        X = X.astype(np.float32, copy=False)
        check_windows(X, "windows")
        return self.standardizer.transform(X) if self.standardizer is not None else X

    def predict_proba_members(self, windows: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Every member's class probabilities: ``[R, n, K]`` (float32)."""
        return predict_proba(self.model, self.prepare(windows), batch_size=batch_size)

    def predict_proba(self, windows: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Class probabilities ``[n, K]`` (float32): the members' softmax outputs, averaged."""
        return average_probabilities(self.predict_proba_members(windows, batch_size)).astype(np.float32)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Predicted class indices ``[n]`` (int64), in ``class_names`` order."""
        return self.predict_proba(windows).argmax(axis=1).astype(np.int64)

    def score(self, windows: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy of the (averaged) prediction against class indices ``labels``."""
        return float((self.predict(windows) == np.asarray(labels)).mean())

    # ------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the artifact folder atomically (see the module docstring); returns its path."""
        return save_model(self, path, overwrite=overwrite)


def scores_on(trained: TrainedModel, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Each member's accuracy on ``(X, y)`` and the ensemble's (averaged probabilities), per-class
    metrics and the confusion matrix of the ensemble."""
    from harcnn.core.metrics import accuracy, confusion_counts, per_class_metrics

    members = trained.predict_proba_members(X)  # [R, n, K]
    ensemble = average_probabilities(members).astype(np.float32).argmax(axis=1)
    return {
        "test_windows": int(len(y)),
        "test_accuracy": accuracy(y, ensemble),
        "member_test_accuracy": [accuracy(y, m.argmax(axis=1)) for m in members],
        "per_class": per_class_metrics(y, ensemble, trained.class_names),
        "confusion": confusion_counts(y, ensemble, trained.n_classes).tolist(),
    }


# ---------------------------------------------------------------------------------------- saving


def _describe_artifact(trained: TrainedModel, weights_sha256: str, weights_bytes: int) -> dict[str, Any]:
    from harcnn.core.provenance import config_id

    return {
        "format": ARTIFACT_FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": trained.name, "n_models": trained.n_models, "params": trained.model.hparams,
                  "inputs": trained.model.inputs, "parameters_per_member": trained.model.num_parameters()},
        "input": {**trained.spec.to_dict(), "layout": "[n_windows, window, channels] float32 (channels last)"},
        "preprocessing": {"standardizer": trained.standardizer.to_dict() if trained.standardizer else None},
        "training": {"config": trained.recipe, "config_id": config_id(trained.recipe) if trained.recipe else None,
                     "seeds": list(trained.seeds), "data": trained.data},
        "timeline": trained.timeline,
        "scores": trained.scores,
        "versions": current_versions(),
        "weights": {"file": WEIGHTS_FILE, "sha256": weights_sha256, "bytes": weights_bytes},
    }


def _is_model_folder(path: Path) -> bool:
    try:
        meta = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == ARTIFACT_FORMAT


#: A saved model: recognised by its config.json (``"format": "harcnn-model"``).
MODEL_FOLDER = OutputKind("model folder", folder=True, recognise=_is_model_folder,
                          files=frozenset({CONFIG_FILE, WEIGHTS_FILE}))


def save_model(trained: TrainedModel, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``trained`` as an artifact folder at ``path`` (atomically; see the module docstring).

    ``path`` must be new, an empty folder, or with ``overwrite`` a model folder harcnn saved
    (:func:`harcnn.core.outputs.check_output`): nothing else is ever replaced."""
    from safetensors.torch import save as save_tensors

    target = check_output(path, MODEL_FOLDER, replace=overwrite)
    state = {k: v.detach().cpu().contiguous() for k, v in trained.model.state_dict().items()}
    weights = save_tensors(state, metadata={"format": "pt", "harcnn_model": trained.name,
                                            "n_models": str(trained.n_models)})
    digest = hashlib.sha256(weights).hexdigest()
    description = _describe_artifact(trained, digest, len(weights))
    text = json.dumps(description, indent=2, default=json_default) + "\n"

    def write(folder: Path) -> None:
        for name, data in ((WEIGHTS_FILE, weights), (CONFIG_FILE, text.encode("utf-8"))):
            with open(folder / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())

    write_folder(target, write)
    trained.metadata, trained.path = description, target
    return target


# ---------------------------------------------------------------------------------------- loading


def load_model(path: str | os.PathLike, *, device: str = "cpu", verify: bool = True) -> TrainedModel:
    """Restore a model saved by ``harcnn train --save`` (or :meth:`TrainedModel.save`).

    ``verify`` checks the weights file against the SHA-256 recorded in ``config.json``.
    Every problem is a HarcnnError whose message names the folder and what is wrong.
    """
    folder = Path(path)
    where = f"{folder}: "
    if not folder.exists():
        raise HarcnnError(f"{where}no such model folder")
    if not folder.is_dir():
        raise HarcnnError(f"{where}not a model folder (expected the folder written by 'harcnn train --save')")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise HarcnnError(f"{where}missing {CONFIG_FILE}: not a harcnn model folder, or an incomplete one")
    try:
        meta = json.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise HarcnnError(f"{config_path}: not a UTF-8 text file (corrupted?)") from None
    except json.JSONDecodeError as error:
        raise HarcnnError(f"{config_path}: not valid JSON (line {error.lineno}, column {error.colno}: "
                          f"{error.msg}); the file is corrupted") from None
    except OSError as error:
        raise HarcnnError(f"{config_path}: cannot read ({error.strerror or error})") from None
    if not isinstance(meta, dict) or meta.get("format") != ARTIFACT_FORMAT:
        raise HarcnnError(f"{config_path}: not a harcnn model description (no \"format\": \"{ARTIFACT_FORMAT}\")")
    version = meta.get("format_version")
    if version == 1:
        raise HarcnnError(f"{config_path}: model format version 1 was saved by an older harcnn, whose networks "
                          f"flattened features in another order; retrain it with this version")
    if version not in (2, FORMAT_VERSION):
        raise HarcnnError(f"{config_path}: model format version {version!r} is not supported by this harcnn "
                          f"(it reads versions 2 and {FORMAT_VERSION}); was it saved by a newer harcnn?")
    try:
        if version == 2:
            meta = _from_format_2(meta)
        model_info = meta["model"]
        name, n_models = str(model_info["name"]), int(model_info["n_models"])
        params, inputs = dict(model_info["params"]), dict(model_info["inputs"])
        spec = InputSpec.from_dict(meta["input"])
        standardizer_state = meta["preprocessing"]["standardizer"]
        training = dict(meta.get("training") or {})
        weights_info = meta["weights"]
        recorded_sha = str(weights_info["sha256"])
    except (KeyError, TypeError, ValueError, DataError) as error:
        raise HarcnnError(f"{config_path}: incomplete or malformed model description ({type(error).__name__}: "
                          f"{error})") from None

    weights_path = folder / str(weights_info.get("file", WEIGHTS_FILE))
    if not weights_path.is_file():
        raise HarcnnError(f"{where}missing weights file {weights_path.name}")
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise HarcnnError(f"{weights_path}: cannot read ({error.strerror or error})") from None
    if verify and hashlib.sha256(data).hexdigest() != recorded_sha:
        raise HarcnnError(f"{weights_path}: SHA-256 does not match the one recorded in {CONFIG_FILE} "
                          "(the weights file is corrupted or was replaced)")
    try:
        model = create_model(name, n_models=n_models, **inputs, **params)
    except HarcnnError as error:
        raise HarcnnError(f"{config_path}: {error}") from None
    except (TypeError, ValueError) as error:
        raise HarcnnError(f"{config_path}: cannot build model {name!r} from its settings ({error})") from None
    try:
        from safetensors.torch import load as load_tensors

        state = load_tensors(data)
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise HarcnnError(f"{weights_path}: not a readable safetensors file ({error})") from None
    _check_state(model, state, weights_path)
    model.load_state_dict(state)
    model.to(device).eval()

    standardizer = None
    if standardizer_state is not None:
        try:
            standardizer = Standardizer.from_dict(standardizer_state)
            ok = standardizer.mean_.shape == standardizer.scale_.shape == (model.n_channels,)
            ok = ok and bool(np.isfinite(standardizer.mean_).all() and (standardizer.scale_ > 0).all())
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise HarcnnError(f"{config_path}: malformed standardizer statistics (need {model.n_channels} "
                              "finite means and positive scales)")
    try:
        return TrainedModel(model=model, spec=spec, standardizer=standardizer, recipe=dict(training.get("config") or {}),
                            seeds=list(training.get("seeds") or []), data=dict(training.get("data") or {}),
                            scores=dict(meta.get("scores") or {}), timeline=dict(meta.get("timeline") or {}),
                            metadata=meta, path=folder)
    except HarcnnError as error:
        raise HarcnnError(f"{config_path}: {error}") from None


def _from_format_2(meta: dict[str, Any]) -> dict[str, Any]:
    """A format-2 description (models trained on UCI HAR before any dataset could be used) as format 3."""
    from harcnn.data.uci_har import SPEC
    from harcnn.data.windows import output_units

    params = dict(meta["model"]["params"])
    inputs = {k: params.pop(k) for k in ("window", "n_channels", "n_classes") if k in params}
    old = meta["input"]
    channels = [str(c) for c in old["channels"]]
    if meta["model"]["name"] == "hybrid":
        inputs.update(sampling_rate=float(old["sampling_rate"]), channel_names=channels)
    spec = {"sampling_rate": old["sampling_rate"], "window": old["window"], "step": old["step"], "channels": channels,
            "units": list(output_units(channels)), "classes": meta["class_names"],
            "preprocessing": dict(SPEC.preprocessing)}  # they were all trained on UCI HAR's windows
    return {**meta, "model": {**meta["model"], "n_models": meta["n_models"], "params": params, "inputs": inputs},
            "input": spec, "training": {"config": meta.get("config"), "seeds": meta.get("seeds", [])}}


def _check_state(model: EnsembleModel, state: dict, weights_path: Path) -> None:
    """Every tensor of the rebuilt model's state (parameters and buffers) with its name, shape and dtype."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors {_listing(missing)}")
    if extra:
        problems.append(f"unexpected tensors {_listing(extra)}")
    for key in sorted(set(expected) & set(state)):
        want, got = expected[key], state[key]
        if tuple(got.shape) != tuple(want.shape):
            problems.append(f"{key} has shape {list(got.shape)}, expected {list(want.shape)}")
        elif got.dtype != want.dtype:
            problems.append(f"{key} is {str(got.dtype).removeprefix('torch.')}, "
                            f"expected {str(want.dtype).removeprefix('torch.')}")
    if problems:
        raise HarcnnError(f"{weights_path}: does not fit the model described in {CONFIG_FILE} "
                          f"({_listing(problems, 3)}); the file was made by another harcnn version or was changed")


def _listing(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
