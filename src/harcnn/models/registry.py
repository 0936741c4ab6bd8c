"""The model registry: ``create_model("cnn", window=128, n_channels=9, n_classes=6, filters=64)``.

Each model family registers itself with its typed settings next to its constructor::

    @register_model("cnn", filters=(Int(1), "filters of both convolutions"), ...)
    class CNN(EnsembleModel):
        def __init__(self, *, window, n_channels, n_classes, n_models=1, filters: int = 64, ...): ...

The constructor's defaults are the settings' defaults; every keyword beyond the input description
(:data:`INPUT_ARGS`) and ``n_models`` must be declared, and every declared setting must be a keyword.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, TypeVar

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import Kind, Setting, SettingError
from harcnn.models.base import INPUT_ARGS, EnsembleModel

M = TypeVar("M", bound=type[EnsembleModel])
_MODELS: dict[str, type[EnsembleModel]] = {}


def register_model(name: str, **kinds: tuple[Kind, str]) -> Callable[[M], M]:
    """Register a model class under ``name`` with its settings: ``filters=(Int(1), "help text")``."""

    def add(cls: M) -> M:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        parameters = inspect.signature(cls.__init__).parameters
        keywords = [p for p in parameters.values() if p.kind == p.KEYWORD_ONLY]
        declared = [p.name for p in keywords if p.name not in (*INPUT_ARGS, "n_models")]
        if sorted(declared) != sorted(kinds):
            raise ValueError(f"model {name!r}: constructor settings {sorted(declared)} do not match the declared "
                             f"settings {sorted(kinds)}")
        cls.name = name
        cls.settings = MappingProxyType({
            p: Setting(p, kinds[p][0], kinds[p][0].convert(parameters[p].default), kinds[p][1], "model")
            for p in declared})
        _MODELS[name] = cls
        return cls

    return add


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_class(name: str) -> type[EnsembleModel]:
    try:
        return _MODELS[name]
    except KeyError:
        raise SettingError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def create_model(name: str, **arguments: Any) -> EnsembleModel:
    """Build a registered network: its input description (``window``, ``n_channels``, ``n_classes``
    and, for models that use them, ``sampling_rate``, ``channel_names``), ``n_models=R`` independent
    members trained as one, and any of its settings (checked; unknown ones are an error)."""
    cls = model_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in arguments if k not in accepted and k not in INPUT_ARGS)
    if unknown:
        raise SettingError(f"model {name!r} has no setting {', '.join(map(repr, unknown))}; "
                           f"its settings are: {', '.join(cls.settings)}")
    missing = [k for k in ("window", "n_channels", "n_classes") if k not in arguments]
    if missing:
        raise HarcnnError(f"create_model({name!r}) needs the input description: {', '.join(missing)} "
                          "(e.g. window=128, n_channels=9, n_classes=6, or **dataset.spec.model_inputs())")
    inputs = {k: v for k, v in arguments.items() if k in INPUT_ARGS and k in accepted}
    settings = {k: cls.settings[k].convert(v) for k, v in arguments.items() if k in cls.settings}
    return cls(**inputs, **settings, **({"n_models": arguments["n_models"]} if "n_models" in arguments else {}))
