"""Saved models: a self-describing folder that ``harcnn.load_model`` restores.

``harcnn train --save DIR`` (or :meth:`TrainedModel.save`) writes::

    DIR/
      model.safetensors   every tensor of the model's state (all R members, each with its own dtype), no pickle
      config.json         everything needed to use it (below)
      card.json           a model card, where it has one (the built-in models: data, accuracy, licences)

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

from harcnn.core.errors import DataError, HarcnnError
from harcnn.core.outputs import OutputKind, check_output, write_folder
from harcnn.core.provenance import current_versions, json_default
from harcnn.data.dataset import InputSpec
from harcnn.data.transforms import Standardizer, check_windows
from harcnn.models import EnsembleModel
from harcnn.models.saved import (
    ARTIFACT_FORMAT,
    BUILTIN_FOLDER,
    CARD_FILE,
    CONFIG_FILE,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    read_card,
    read_saved,
)
from harcnn.training.inference import average_probabilities, predict_proba

__all__ = ["ARTIFACT_FORMAT", "FORMAT_VERSION", "MODEL_FOLDER", "TrainedModel", "load_model"]


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
    init: dict[str, Any] = field(default_factory=dict)  # the model it was fine-tuned from (--init), plain data
    card: dict[str, Any] = field(default_factory=dict)  # a model card (built-in models), saved as card.json
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

    @property
    def builtin(self) -> str | None:
        """The built-in model's name (``"phone"``) when this is one, else None."""
        if self.path is None or self.path.resolve().parent != BUILTIN_FOLDER:
            return None
        return self.path.name

    def describe(self) -> str:
        members = f"{self.n_models} members" if self.n_models > 1 else "1 member"
        what = f"{self.name} ({members}, {'standardized' if self.standardizer else 'raw'} input)"
        return f"builtin:{self.builtin}, {what}" if self.builtin else what

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
    from harcnn.models.config import config_identity

    return {
        "format": ARTIFACT_FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "model": {"name": trained.name, "n_models": trained.n_models, "params": trained.model.hparams,
                  "inputs": trained.model.inputs, "parameters_per_member": trained.model.num_parameters()},
        "input": {**trained.spec.to_dict(), "layout": "[n_windows, window, channels] float32 (channels last)"},
        "preprocessing": {"standardizer": trained.standardizer.to_dict() if trained.standardizer else None},
        "training": {"config": trained.recipe, "seeds": list(trained.seeds), "data": trained.data,
                     "config_id": config_id(config_identity(trained.recipe, trained.init.get("sha256")))
                     if trained.recipe else None, **({"init": trained.init} if trained.init else {})},
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
                          files=frozenset({CONFIG_FILE, WEIGHTS_FILE, CARD_FILE}))


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
    files = [(WEIGHTS_FILE, weights), (CONFIG_FILE, text.encode("utf-8"))]
    if trained.card:
        files.append((CARD_FILE, (json.dumps(trained.card, indent=1, default=json_default) + "\n").encode("utf-8")))

    def write(folder: Path) -> None:
        for name, data in files:
            with open(folder / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())

    write_folder(target, write)
    trained.metadata, trained.path = description, target
    return target


# ---------------------------------------------------------------------------------------- loading


def load_model(path: str | os.PathLike, *, device: str = "cpu", verify: bool = True) -> TrainedModel:
    """Restore a model saved by ``harcnn train --save`` (or :meth:`TrainedModel.save`), or a built-in
    model (``"builtin:phone"``; ``harcnn models --builtin`` lists them).

    ``verify`` checks the weights file against the SHA-256 recorded in ``config.json``.
    Every problem is a HarcnnError whose message names the folder and what is wrong.
    """
    saved = read_saved(path, device=device, verify=verify)
    meta, training = saved.meta, dict(saved.meta.get("training") or {})
    try:
        return TrainedModel(model=saved.model, spec=saved.spec, standardizer=saved.standardizer,
                            recipe=dict(training.get("config") or {}), seeds=list(training.get("seeds") or []),
                            data=dict(training.get("data") or {}), init=dict(training.get("init") or {}),
                            scores=dict(meta.get("scores") or {}), timeline=dict(meta.get("timeline") or {}),
                            card=read_card(saved.path), metadata=meta, path=saved.path)
    except HarcnnError as error:
        raise HarcnnError(f"{saved.path / CONFIG_FILE}: {error}") from None
