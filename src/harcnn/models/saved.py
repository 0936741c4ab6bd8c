"""Saved models as networks: reading a model folder, and the built-in models shipped with harcnn.

A model folder (``harcnn train --save DIR``, :meth:`harcnn.serving.artifact.TrainedModel.save`) holds::

    model.safetensors   every tensor of the model's state (all R members, each with its own dtype), no pickle
    config.json         the model, its input spec, the standardizer, the training recipe, the weights' SHA-256

Reading one is here, below training, so that training can start from a saved model (fine-tuning,
``--init``) and serving can load one to predict (:func:`harcnn.serving.artifact.load_model`), through
one reader. A built-in model is such a folder inside the package (``harcnn/models/builtin/NAME``),
named ``builtin:NAME`` wherever a model folder is asked for (no network needed); ``card.json`` beside
it describes it (data, classes, input, accuracy and how it was measured, licences).

Every problem is a :class:`~harcnn.core.errors.HarcnnError` with one line naming the folder and what is
wrong: missing files, bad JSON, a weights file whose hash does not match, tensors that do not fit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import DataError, HarcnnError
from harcnn.data.dataset import InputSpec
from harcnn.data.transforms import Standardizer
from harcnn.models.base import EnsembleModel
from harcnn.models.registry import create_model

__all__ = ["ARTIFACT_FORMAT", "BUILTIN_PREFIX", "CARD_FILE", "CONFIG_FILE", "FORMAT_VERSION", "WEIGHTS_FILE",
           "SavedNetwork", "builtin_card", "builtin_names", "model_path", "read_card", "read_description", "read_saved",
           "weights_sha256"]

ARTIFACT_FORMAT = "harcnn-model"
FORMAT_VERSION = 3  # 3: any input spec, the model's input description, the recipe as plain data
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "card.json"  # a model card (the built-in models have one)
BUILTIN_PREFIX = "builtin:"
BUILTIN_FOLDER = Path(__file__).resolve().parent / "builtin"


# ---------------------------------------------------------------------------------------- built-in models


def builtin_names() -> list[str]:
    """The built-in models this harcnn ships (folders of ``harcnn/models/builtin``)."""
    if not BUILTIN_FOLDER.is_dir():
        return []
    return sorted(p.name for p in BUILTIN_FOLDER.iterdir() if (p / CONFIG_FILE).is_file())


def builtin_card(name: str) -> dict[str, Any]:
    """A built-in model's card (``card.json``), with its files' size on disk (``bytes``)."""
    folder = model_path(f"{BUILTIN_PREFIX}{name}")
    card = read_card(folder)
    if not card:
        raise HarcnnError(f"built-in model {name!r} has no readable {CARD_FILE}")
    return {**card, "bytes": sum(p.stat().st_size for p in folder.iterdir() if p.is_file())}


def read_card(folder: Path) -> dict[str, Any]:
    """A model folder's card (``card.json``), or ``{}`` where it has none (or it cannot be read)."""
    try:
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def model_path(model: str | os.PathLike) -> Path:
    """The folder of a model: ``builtin:NAME`` (a built-in model) or a model folder's path."""
    text = os.fspath(model)
    if not text.startswith(BUILTIN_PREFIX):
        return Path(text).expanduser()
    name = text[len(BUILTIN_PREFIX):]
    if name not in builtin_names():
        have = ", ".join(BUILTIN_PREFIX + n for n in builtin_names()) or "none in this installation"
        raise HarcnnError(f"{text}: no such built-in model (built-in: {have}; 'harcnn models --builtin')")
    return BUILTIN_FOLDER / name


# ---------------------------------------------------------------------------------------- reading


@dataclass
class SavedNetwork:
    """A saved model's network (eval mode), input spec, fitted standardizer (or None) and description
    (``meta``: config.json as read, converted to the current format version)."""

    model: EnsembleModel
    spec: InputSpec
    standardizer: Standardizer | None
    meta: dict[str, Any]
    path: Path

    @property
    def weights_sha256(self) -> str:
        return str(self.meta["weights"]["sha256"])


def read_description(model: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """``(folder, description)``: a model folder's config.json, checked and in the current format."""
    folder = model_path(model)
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
        meta = _from_format_2(meta) if version == 2 else meta
    except (KeyError, TypeError, ValueError) as error:
        raise HarcnnError(f"{config_path}: incomplete or malformed model description ({type(error).__name__}: "
                          f"{error})") from None
    missing = [key for key in ("model", "input", "preprocessing", "weights") if not isinstance(meta.get(key), dict)]
    if missing or "sha256" not in meta["weights"]:
        raise HarcnnError(f"{config_path}: incomplete or malformed model description (no "
                          f"{', '.join(missing) or 'weights sha256'})")
    return folder, meta


def weights_sha256(model: str | os.PathLike) -> str:
    """The SHA-256 of a saved model's weights, as its config.json records it (what identifies the
    model in a configuration that starts from it, wherever its folder lies)."""
    folder = model_path(model)
    try:
        stamp = (folder / CONFIG_FILE).stat().st_mtime_ns
    except OSError:
        stamp = None
    return _recorded_sha256(str(folder.resolve()), stamp)


@lru_cache(maxsize=64)
def _recorded_sha256(folder: str, stamp: int | None) -> str:
    return str(read_description(folder)[1]["weights"]["sha256"])


def read_saved(model: str | os.PathLike, *, device: str = "cpu", verify: bool = True) -> SavedNetwork:
    """The network of a saved model (``builtin:NAME`` or a folder), rebuilt from its description, every
    tensor checked against it (name, shape, dtype); ``verify`` checks the weights' SHA-256 too."""
    folder, meta = read_description(model)
    config_path = folder / CONFIG_FILE
    try:
        model_info = meta["model"]
        name, n_models = str(model_info["name"]), int(model_info["n_models"])
        params, inputs = dict(model_info["params"]), dict(model_info["inputs"])
        spec = InputSpec.from_dict(meta["input"])
        standardizer_state = meta["preprocessing"]["standardizer"]
        weights_info = meta["weights"]
        recorded_sha = str(weights_info["sha256"])
    except (KeyError, TypeError, ValueError, DataError) as error:
        raise HarcnnError(f"{config_path}: incomplete or malformed model description ({type(error).__name__}: "
                          f"{error})") from None
    weights_path = folder / str(weights_info.get("file", WEIGHTS_FILE))
    if not weights_path.is_file():
        raise HarcnnError(f"{folder}: missing weights file {weights_path.name}")
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise HarcnnError(f"{weights_path}: cannot read ({error.strerror or error})") from None
    if verify and hashlib.sha256(data).hexdigest() != recorded_sha:
        raise HarcnnError(f"{weights_path}: SHA-256 does not match the one recorded in {CONFIG_FILE} "
                          "(the weights file is corrupted or was replaced)")
    try:
        network = create_model(name, n_models=n_models, **inputs, **params)
    except HarcnnError as error:
        raise HarcnnError(f"{config_path}: {error}") from None
    except (TypeError, ValueError) as error:
        raise HarcnnError(f"{config_path}: cannot build model {name!r} from its settings ({error})") from None
    try:
        from safetensors.torch import load as load_tensors

        state = load_tensors(data)
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise HarcnnError(f"{weights_path}: not a readable safetensors file ({error})") from None
    _check_state(network, state, weights_path)
    network.load_state_dict(state)
    network.to(device).eval()
    return SavedNetwork(network, spec, _standardizer(standardizer_state, network.n_channels, config_path), meta,
                        folder)


def _standardizer(state: Any, n_channels: int, config_path: Path) -> Standardizer | None:
    if state is None:
        return None
    try:
        standardizer = Standardizer.from_dict(state)
        ok = standardizer.mean_.shape == standardizer.scale_.shape == (n_channels,)
        ok = ok and bool(np.isfinite(standardizer.mean_).all() and (standardizer.scale_ > 0).all())
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise HarcnnError(f"{config_path}: malformed standardizer statistics (need {n_channels} finite means and "
                          "positive scales)")
    return standardizer


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
