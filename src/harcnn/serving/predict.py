"""Using a saved model on new data: window files, datasets and continuous recordings.

Inputs (:func:`predict_path` picks by what ``path`` is, :func:`harcnn.data.sources.input_kind`):

* **windows**: ``.npy`` ``[n, window, channels]`` or ``.npz`` (array ``X`` or ``windows``, or its
  only array; an optional ``y`` of class indices adds the accuracy): raw windows in the model's
  channel order and units (the model folder's config.json lists them: ``load_model(DIR).spec.channels``).
* **a dataset** any ``harcnn`` command reads (a UCI HAR or HAPT zip or folder, a folder of labelled
  recordings, ...): its test split when it has an official one, else all its windows; labels and
  subjects come along, so the accuracy is reported too. It is loaded with the window options of the
  model's training data (:func:`load_like_training`), and its windows must then match the model's input.
* **a recording**: CSV (or Parquet) with a time column and the sensors the model needs, at any
  rate, or a folder of one file per sensor as phone apps export them; read by
  :func:`harcnn.data.load_recording` and prepared the way the model's training windows were (its
  input spec: rate, window, step, preprocessing, and the frame: a model trained on body-frame
  windows gets the recording turned into its body frame, and the prediction says which frame was
  found and how confident it is).

The result is a :class:`~harcnn.serving.prediction.Prediction`. The rules of a timeline
(:func:`smoothing_for`, :func:`unknown_threshold`, :func:`truth_for`) are here too, so that the
Python API and ``harcnn predict`` decide alike.
"""


from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.data.bodyframe import FRAME_VERSION, FRAMES
from harcnn.data.dataset import Dataset
from harcnn.data.labels import Timeline, read_labels_table
from harcnn.data.npz import read_windows_file
from harcnn.data.options import FORMER_NAMES, READING_OPTIONS, ReadingOptions
from harcnn.data.recording_folder import sensor_files
from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.sensorfiles import without_suffix
from harcnn.data.sources import input_kind, load_dataset, source_kind
from harcnn.data.transforms import check_labels
from harcnn.data.windows import PreprocessConfig, output_channels
from harcnn.serving.artifact import TrainedModel
from harcnn.serving.prediction import Prediction

__all__ = ["load_like_training", "predict_dataset", "predict_path", "predict_recording", "predict_windows",
           "read_recording", "recording_quality", "recording_recipe", "smoothing_for", "truth_for", "unknown_threshold"]


# ---------------------------------------------------------------------------------------- predicting


def predict_windows(model: TrainedModel, windows: np.ndarray, *, labels: np.ndarray | None = None,
                    subjects: np.ndarray | None = None, source: str = "windows", kind: str = "windows") -> Prediction:
    """Predict raw windows ``[n, window, channels]``; the signal trace for the timeline is the
    acceleration magnitude of each window's last ``step`` samples (exact for consecutive windows)."""
    X = np.asarray(windows)
    probabilities = model.predict_proba(X)  # checks the shape and values
    if labels is not None:
        labels = check_labels(labels, len(X), model.n_classes)
    pred = Prediction(probabilities, model.class_names, str(source), kind, model.spec.step_seconds,
                      model=model.describe(), labels=labels,
                      subjects=None if subjects is None else np.asarray(subjects))
    acc = [model.channel_names.index(c) for c in output_channels(("acc",))[:3] if c in model.channel_names]
    if len(acc) == 3:
        tail = X[:, -model.step:, :][:, :, acc].astype(np.float64)
        pred.signal = np.linalg.norm(tail, axis=2).reshape(-1)
        steps = tail.shape[1]
        pred.signal_times = (np.arange(len(X))[:, None] + (np.arange(steps)[None, :] + 0.5) / steps).reshape(-1)
    return pred


def recording_recipe(model: TrainedModel) -> tuple[tuple[str, ...], PreprocessConfig, str]:
    """``(sensors, PreprocessConfig, frame)``: how the model's windows were made from recordings (``frame``:
    ``"phone"``, or ``"body"`` for a model trained on body-frame windows), or a clear error when its windows
    did not come from recordings."""
    recipe = model.spec.preprocessing
    if recipe is None:
        raise HarcnnError(f"this model was trained on windows without a recording preprocessing ({model.describe()}); "
                          "it predicts window files (.npy/.npz) only")
    frame = recipe.get("frame", "phone")
    if frame not in FRAMES or recipe.get("frame_version", FRAME_VERSION) > FRAME_VERSION:
        raise HarcnnError(f"this model expects the {frame} frame, version {recipe.get('frame_version')}, which this "
                          f"harcnn does not make (it makes {', '.join(FRAMES)}, version {FRAME_VERSION}); was it saved "
                          "by a newer harcnn?")
    config = {k: v for k, v in recipe.items() if k not in ("sensors", "frame", "frame_version")}
    return tuple(recipe["sensors"]), PreprocessConfig.from_dict(config), frame


def predict_recording(model: TrainedModel, recording: Recording, **window_options) -> Prediction:
    """Predict a :class:`~harcnn.data.Recording`: the sensors the model reads, prepared with the model's
    input spec (rate, window, step, preprocessing, frame); times from the recording's clock. The stretches its
    quality report finds suspect are left out (``quality="keep"`` keeps them): the timeline has a gap
    there, and the notes and :attr:`Prediction.excluded` say what was left out. In the body frame,
    :attr:`Prediction.frame` holds the frames found (each window's is a column of the table)."""
    sensors, config, frame = recording_recipe(model)
    missing = [s for s in sensors if s not in recording.sensor_names]
    if missing:
        raise HarcnnError(f"{recording.source or 'the recording'} has no {', '.join(missing)} data, which this model "
                          f"needs (it reads {', '.join(sensors)}; the recording has "
                          f"{', '.join(recording.sensor_names)})")
    spec = model.spec
    cut = recording_to_windows(recording.select(*sensors), config, sampling_rate=spec.sampling_rate,
                               window=spec.window, step=spec.step, frame=frame, **window_options)
    if tuple(cut.channel_names) != spec.channels:
        raise HarcnnError(f"the recording gives channels {', '.join(cut.channel_names)}, but the model reads "
                          f"{', '.join(spec.channels)}")
    origin = float(recording.timestamps[0])
    if not len(cut.windows):
        raise HarcnnError(f"{recording.source or 'the recording'}: nothing usable left: the quality check left out "
                          f"every window ({'; '.join(s.describe(origin) for s in cut.excluded)}); pass --quality keep "
                          "to predict them anyway")
    pred = predict_windows(model, cut.windows, source=recording.source or "recording", kind="recording")
    pred.start_times, pred.end_times = cut.start_times, cut.end_times
    pred.notes = [note for note in cut.notes if not note.startswith("body frame: ")]  # the summary says it
    pred.frame = cut.frame
    pred.excluded = [{"start_s": round(s.start, 4), "end_s": round(s.end, 4), "reason": s.reason, "detail": s.detail}
                     for s in cut.excluded]
    if "acc" in recording.sensor_names:
        pred.signal_times = recording.timestamps
        pred.signal = np.linalg.norm(recording.sensors["acc"], axis=1)
    return pred


def load_like_training(model: TrainedModel, path: str | os.PathLike,
                       reading: ReadingOptions = ReadingOptions()) -> Dataset:
    """The dataset at ``path`` with its windows made as the model's training windows were (the window
    options its training data was loaded with), its labels renumbered to the model's classes; a clear
    error when its windows still differ from the model's input (:meth:`InputSpec.differences`).
    ``reading``: how recording files are read (units, time column, ...), for a folder of recordings."""
    kind = source_kind(path)
    options = {k: v for k, v in model.data.get("options", {}).items() if FORMER_NAMES.get(k, k) in kind.options}
    given = reading.given()
    if given and not set(given) <= set(kind.options):
        raise HarcnnError(f"{path}: {_flags(given)} apply to recordings, and this is {kind.name} data")
    dataset = load_dataset(path, kind.name, **options, **given)
    differences = model.spec.differences(dataset.spec, classes=False)
    if differences:
        raise HarcnnError(f"{path}: its windows are not made like this model's input: " + "; ".join(differences)
                          + f" (the model: {model.spec.describe()})")
    extra = [c for c in dataset.class_names if c not in model.class_names]
    if extra:
        raise HarcnnError(f"{path}: its classes {', '.join(extra)} are not among the model's "
                          f"({', '.join(model.class_names)})")
    if dataset.class_names == model.class_names:
        return dataset
    remap = np.array([model.class_names.index(c) for c in dataset.class_names])
    return replace(dataset, y=remap[dataset.y], spec=replace(dataset.spec, classes=model.spec.classes))


def _flags(given) -> str:
    return ", ".join(READING_OPTIONS[name].flag for name in sorted(given))


def predict_dataset(model: TrainedModel, path: str | os.PathLike,
                    reading: ReadingOptions = ReadingOptions()) -> Prediction:
    """Predict the windows of a dataset (its test split where it has an official one), loaded as
    :func:`load_like_training` says."""
    dataset = load_like_training(model, path, reading)
    part = "all windows"
    if dataset.split is not None:
        dataset, part = dataset.test, "test split"
    pred = predict_windows(model, dataset.X, labels=dataset.y, subjects=dataset.subject,
                           source=f"{dataset.source} ({part})", kind="dataset")
    pred.notes += [note for note in dataset.notes if note.startswith("body frame")]
    pred.notes += [f"warning: {warning}" for warning in dataset.warnings]
    return pred


def predict_path(model: TrainedModel, path: str | os.PathLike,
                 reading: ReadingOptions = ReadingOptions()) -> Prediction:
    """Predict whatever ``path`` holds (see the module docstring); ``reading``: how a recording's files
    are read (units, time column and unit, input rate; detected when not given)."""
    kind = input_kind(path)
    if kind == "windows":
        if reading.given():
            raise HarcnnError(f"{path}: {_flags(reading.given())} apply to recordings, and this is a windows file")
        X, y = read_windows_file(path)
        return predict_windows(model, X, labels=y, source=str(path))
    if kind == "dataset":
        return predict_dataset(model, path, reading)
    return predict_recording(model, read_recording(path, reading), quality=recording_quality(model, reading))


def read_recording(path: str | os.PathLike, reading: ReadingOptions = ReadingOptions()) -> Recording:
    """The recording at ``path`` (a file, or a folder of one file per sensor), read as ``reading`` says."""
    path = Path(path)
    recording = load_recording(sensor_files(path) if path.is_dir() else path, **reading.keywords())
    if path.is_dir():  # a folder of one file per sensor: the recording is the folder
        recording = replace(recording, source=str(path))
    return recording


def recording_quality(model: TrainedModel, reading: ReadingOptions = ReadingOptions()) -> str:
    """What a recording's suspect stretches become: ``--quality`` where given, else the rule the model's
    training data was loaded with (exclude by default)."""
    return reading.quality or model.data.get("options", {}).get("quality", "exclude")


# ---------------------------------------------------------------------------------------- a timeline's rules


def smoothing_for(model: TrainedModel, smooth: str = "auto") -> str:
    """The smoothing ``smooth`` asks for; ``auto``: the model's HMM where it has one, else the median filter."""
    if smooth != "auto":
        return smooth
    return "hmm" if model.timeline.get("hmm") else "median"


def unknown_threshold(value: str | float | None, model: TrainedModel) -> float | None:
    """The confidence below which windows are marked unknown: ``off``/None (never), ``auto`` (the
    threshold chosen on the model's validation subjects) or a number in [0, 1]."""
    if value is None or value == "off":
        return None
    if value == "auto":
        threshold = model.timeline.get("unknown_threshold")
        if threshold is None:
            raise HarcnnError("--unknown auto needs a threshold chosen on validation subjects, and this model has none "
                              "(train it with --validation-subjects N on recordings); or give one, e.g. --unknown 0.6")
        return float(threshold)
    try:
        threshold = float(value)
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        raise HarcnnError(f"--unknown takes auto, off or a threshold in [0, 1], got {value!r}")
    return threshold


def truth_for(table: str | os.PathLike, recording: str | os.PathLike) -> Timeline:
    """The true timeline of ``recording`` from a labels table (a table of several recordings: by its name,
    which names the end of the recording's path)."""
    truth = read_labels_table(table)
    if not isinstance(truth, dict):
        return truth
    path = without_suffix(Path(recording).resolve().as_posix())
    name = path.rsplit("/", 1)[-1]
    matches = [key for key in truth if path.endswith(f"/{key.strip('/')}")]
    if len(matches) != 1:
        raise HarcnnError(f"{table}: {'no' if not matches else 'more than one'} recording named {name!r} "
                          f"(it has {', '.join(sorted(truth)[:6])}{' ...' if len(truth) > 6 else ''})")
    return truth[matches[0]]
