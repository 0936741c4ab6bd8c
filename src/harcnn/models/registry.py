"""The model registry: ``create_model("cnn", filters=64)`` builds any harcnn network by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from harcnn.errors import HarcnnError
from harcnn.models.base import EnsembleModel

M = TypeVar("M", bound=type[EnsembleModel])
_MODELS: dict[str, type[EnsembleModel]] = {}


def register_model(name: str) -> Callable[[M], M]:
    def add(cls: M) -> M:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return add


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_options(name: str) -> dict[str, Any]:
    """The constructor options of a model and their defaults."""
    cls = _model_class(name)
    return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"}


def create_model(name: str, **params: Any) -> EnsembleModel:
    """Build a registered network; ``n_models=R`` builds R independent members trained as one."""
    options = model_options(name)
    unknown = sorted(set(params) - set(options))
    if unknown:
        raise HarcnnError(f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
                          f"its options are: {', '.join(options)}")
    model = _model_class(name)(**params)
    model.hparams = {**options, **params}
    return model


def _model_class(name: str) -> type[EnsembleModel]:
    try:
        return _MODELS[name]
    except KeyError:
        raise HarcnnError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None
