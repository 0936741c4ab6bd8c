"""Fine-tuning: networks that start from a saved model (the ``init`` setting) instead of random weights.

From the saved model (a model folder or ``builtin:NAME``, read by :mod:`harcnn.models.saved`) a fit takes:

* its **feature extractor**: every tensor but the head's (the model family's final layer,
  :attr:`~harcnn.models.base.EnsembleModel.head_name`), copied into every member (member r from the saved
  model's member r mod its members);
* its **head** for the classes it knows, matched by name (:func:`same_class`: ``walking`` is ``WALKING``;
  the head kept when the classes are the same);
  a class it does not know gets a fresh column, drawn from the member's seed as a new network's;
* its **standardizer**, reused as it is;
* its **input**: the data must be windows as it reads them (rate, window, channels, units,
  preprocessing): :func:`adopted_options` are the data options that load them so where not given,
  and :func:`check_start` says which options would make other windows so.

The schedule (:class:`~harcnn.training.trainer.TrainConfig`): the pretrained layers (the feature
extractor) stay frozen for ``freeze_epochs`` epochs while the head trains, then train at
``pretrained_lr`` times the learning rate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import show_value
from harcnn.data.dataset import InputSpec, SourceKind
from harcnn.data.options import DATASET_OPTIONS, DataOptions
from harcnn.data.transforms import Standardizer
from harcnn.models import EnsembleModel, create_model
from harcnn.models.config import Config
from harcnn.models.layers import EnsembleLinear
from harcnn.models.saved import SavedNetwork, model_path, read_description, read_saved
from harcnn.training.callbacks import Callback
from harcnn.training.state import EpochEnd, FitState

__all__ = ["FreezePretrained", "StartingPoint", "adopted_options", "check_start", "input_fixes", "same_class",
           "starting_point"]


@dataclass(frozen=True)
class StartingPoint:
    """A saved model to start ``classes``' networks from; :meth:`apply` loads it into a seeded network."""

    reference: str  # as given (``builtin:phone``, a folder)
    saved: SavedNetwork
    classes: tuple[str, ...]

    @property
    def standardizer(self) -> Standardizer | None:
        return self.saved.standardizer

    def known(self) -> list[tuple[int, int]]:
        """``(index here, index in the saved model)`` of every class the saved model knows."""
        theirs = [same_class(c) for c in self.saved.spec.classes]
        return [(k, theirs.index(same_class(c))) for k, c in enumerate(self.classes) if same_class(c) in theirs]

    def identity(self) -> dict[str, Any]:
        """How a model fine-tuned from it names it: the reference, the weights' SHA-256, its classes."""
        return {"model": self.reference, "sha256": self.saved.weights_sha256, "network": self.saved.model.name,
                "classes": list(self.saved.spec.classes), "kept_classes": [self.classes[k] for k, _ in self.known()]}

    def apply(self, model: EnsembleModel) -> frozenset[str]:
        """Copy the saved model into the seeded ``model`` (see the module docstring); the names of the
        pretrained parameters (the feature extractor's) for the schedule."""
        source, R = self.saved.model, model.n_models
        if source.n_models != R:
            source = EnsembleModel.from_members([source.member(r % source.n_models) for r in range(R)])
        head = model.head_name
        if not isinstance(getattr(model, head, None), EnsembleLinear):
            raise HarcnnError(f"{model.name}: its head ({head}) is not a linear layer to the classes, so it cannot be "
                              "fine-tuned")
        saved_state, own, known = source.state_dict(), model.state_dict(), self.known()
        with torch.no_grad():
            for key, tensor in saved_state.items():
                if not key.startswith(f"{head}."):
                    own[key].copy_(tensor.to(own[key].device))
            if known:
                new, old = (torch.tensor(index) for index in zip(*known))
                for name in (f"{head}.weight", f"{head}.bias"):
                    own[name][..., new] = saved_state[name][..., old].to(own[name].device)
        return frozenset(name for name, _ in model.named_parameters() if not name.startswith(f"{head}."))


def same_class(name: str) -> str:
    """A class name as fine-tuning matches it: case, ``_``, ``-`` and spaces do not count."""
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


@lru_cache(maxsize=8)
def _read(folder: str, stamp: int) -> SavedNetwork:
    return read_saved(folder)


def starting_point(config: Config, spec: InputSpec) -> StartingPoint:
    """The saved model ``config.init`` to start networks for windows of ``spec`` from, checked
    (:func:`check_start`)."""
    folder = model_path(config.init)
    try:
        stamp = os.stat(folder / "model.safetensors").st_mtime_ns
    except OSError:
        stamp = 0
    saved = _read(str(folder.resolve()), stamp)
    check_start(config, spec, saved)
    return StartingPoint(str(config.init), saved, tuple(spec.classes))


def check_start(config: Config, spec: InputSpec, saved: SavedNetwork) -> None:
    """Refuse, with one line naming the options that fix it, a configuration whose network cannot start from
    ``saved``: another model family, settings that change its tensors' shapes, standardization where it
    has none (or none where it has one), or windows other than the ones it reads."""
    where = f"--init {config.init}"
    name = saved.model.name
    if config.model != name:
        raise HarcnnError(f"{where} is a {name} network: leave out --model (or give --model {name})")
    had = saved.standardizer is not None
    if config.standardize != had:
        raise HarcnnError(f"{where} {'standardizes' if had else 'does not standardize'} its input, and its "
                          f"standardizer is reused: leave out --{'no-' if had else ''}standardize")
    differences = saved.spec.differences(spec, classes=False)
    if differences:
        fixes = input_fixes(saved.spec, spec)
        raise HarcnnError(f"{where} reads other windows than these: {'; '.join(differences)}"
                          + (f": load the data with {fixes}" if fixes else ": no data option makes them so"))
    head = saved.model.head_name

    def shapes(state: dict) -> dict:
        return {k: tuple(v.shape) for k, v in state.items() if not k.startswith(f"{head}.")}

    fresh = create_model(name, n_models=saved.model.n_models, **spec.model_inputs(), **config.model_params)
    if shapes(fresh.state_dict()) != shapes(saved.model.state_dict()):
        changed = [k for k, v in config.model_params.items() if saved.model.hparams.get(k) != v]
        listed = ", ".join(f"{k}={show_value(saved.model.hparams.get(k))}" for k in changed)
        raise HarcnnError(f"{where}: its {name} network has {listed or 'other layers'}, which fine-tuning cannot "
                          f"change: leave out {', '.join('--' + k.replace('_', '-') for k in changed) or '--model'}")


def input_fixes(wanted: InputSpec, given: InputSpec) -> str:
    """The data options that would make windows like ``given`` into the ones ``wanted`` describes
    (``--rate 50 --window 2.56 --sensors acc``), as far as options can."""
    flags = {name: setting.flag for name, setting in DATASET_OPTIONS.items()}
    fixes = []
    if wanted.sampling_rate is not None and wanted.sampling_rate != given.sampling_rate:
        fixes.append(f"{flags['sampling_rate']} {wanted.sampling_rate:g}")
    if wanted.window != given.window and wanted.window_seconds is not None:
        fixes.append(f"{flags['window_seconds']} {wanted.window_seconds:g}")
    recipe = wanted.preprocessing or {}
    if wanted.channels != given.channels and recipe.get("sensors"):
        fixes.append(f"{flags['sensors']} {','.join(recipe['sensors'])}")
    theirs = given.preprocessing or {}
    drift = recipe.get("gyro_drift_cutoff_hz")
    if recipe and theirs and drift != theirs.get("gyro_drift_cutoff_hz"):
        fixes.append(f"{flags['gyro_drift']} {drift:g}" if drift is not None else f"no {flags['gyro_drift']}")
    return " ".join(fixes)


def adopted_options(init: str | os.PathLike, options: DataOptions, kind: SourceKind) -> dict[str, Any]:
    """The data options a dataset of ``kind`` is loaded with to fine-tune from the saved model ``init``
    where they were not given: its windows' rate and length, the sensors it reads and its gyroscope
    drift removal and its frame (the ones ``kind`` takes). Given options are kept (a mismatch is then an
    error)."""
    _, meta = read_description(init)
    spec = InputSpec.from_dict(meta["input"])
    recipe = spec.preprocessing or {}
    wanted = {"sampling_rate": spec.sampling_rate, "window_seconds": spec.window_seconds,
              "sensors": ",".join(recipe["sensors"]) if recipe.get("sensors") else None,
              "gyro_drift": recipe.get("gyro_drift_cutoff_hz"),
              "frame": recipe.get("frame", "phone") if spec.preprocessing else None}
    given = options.given()
    return {name: value for name, value in wanted.items()
            if value is not None and name in kind.options and name not in given}


class FreezePretrained(Callback):
    """The fine-tuning schedule's first part: the pretrained parameters (``names``) take no step for the
    first ``epochs`` epochs, while the head trains; then they train too."""

    def __init__(self, names: Sequence[str], epochs: int):
        self.names, self.epochs = frozenset(names), epochs

    def _train(self, model: torch.nn.Module, on: bool) -> None:
        for name, parameter in model.named_parameters():
            if name in self.names:
                parameter.requires_grad_(on)

    def on_fit_start(self, state: FitState) -> None:
        self._train(state.model, False)

    def on_epoch_end(self, state: FitState, logs: EpochEnd) -> None:
        if logs.epoch + 1 == self.epochs:
            self._train(state.model, True)

    def on_fit_end(self, state: FitState, history) -> None:
        self._train(state.model, True)
