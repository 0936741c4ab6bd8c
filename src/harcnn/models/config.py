"""A configuration: a complete, checked set of settings for one registered model.

The model's own settings are declared with the model (:func:`harcnn.models.register_model`); the
shared ones (data preparation, training, augmentation) in :data:`harcnn.core.settings.SHARED`.
A :class:`Config` joins the two, so it lives here, above the registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harcnn.core.errors import HarcnnError
from harcnn.core import provenance
from harcnn.core.settings import SHARED, Setting, SettingError, canonical_name, read_settings_file, show_value
from harcnn.models.registry import list_models, model_class

__all__ = ["Config", "model_settings", "read_config_file", "settings_for"]


def model_settings(model: str) -> Mapping[str, Setting]:
    """The model's own settings (declared with the model in :mod:`harcnn.models`)."""
    return model_class(model).settings


def settings_for(model: str) -> dict[str, Setting]:
    """Every setting of ``model``: its own, then the shared ones."""
    return {**model_settings(model), **SHARED}


@dataclass(frozen=True)
class Config:
    """A complete, checked set of settings for one model (the model's own and the shared ones).

    >>> Config.from_flat({"model": "cnn", "kernel": "5", "standardize": "yes"}).values["kernel_size"]
    5
    """

    model: str = "cnn"
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        schema = settings_for(self.model)
        unknown = sorted(set(self.values) - set(schema))
        if unknown:
            raise SettingError(f"unknown setting {', '.join(map(repr, unknown))} for model {self.model!r}; "
                               f"its settings are: {', '.join(schema)} (see 'harcnn models {self.model}')")
        complete = {name: s.convert(self.values[name]) if name in self.values else s.default
                    for name, s in schema.items()}
        object.__setattr__(self, "values", complete)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], *, where: str = "") -> "Config":
        """From one flat mapping (``model`` plus any settings); ``where`` prefixes error messages."""
        flat = {canonical_name(k): v for k, v in values.items()}
        try:
            model = str(flat.pop("model", "cnn"))
            return cls(model, flat)
        except HarcnnError as error:
            raise type(error)(f"{where}{error}") from None

    def replace(self, **changes: Any) -> "Config":
        flat = {**self.to_flat(), **changes}
        return Config.from_flat(flat)

    def to_flat(self) -> dict[str, Any]:
        """The complete configuration, defaults included (what ``config_id`` hashes)."""
        return {"model": self.model, **self.values}

    @property
    def config_id(self) -> str:
        return provenance.config_id(self.to_flat())

    @property
    def model_params(self) -> dict[str, Any]:
        return {name: self.values[name] for name in model_settings(self.model)}

    def group(self, name: str) -> dict[str, Any]:
        """The shared settings of one group (``"data"``, ``"training"``, ``"augmentation"``)."""
        return {k: self.values[k] for k, s in SHARED.items() if s.group == name}

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def describe(self, only_changed: bool = False) -> str:
        defaults = Config(self.model)
        return ", ".join(f"{k}={show_value(v, quote=True)}" for k, v in self.values.items()
                         if not only_changed or v != defaults.values[k])


def read_config_file(path: str | os.PathLike, *, tables: Iterable[str] = ("settings", "grid", "space"),
                     reader: str = "harcnn") -> dict[str, Any]:
    """A settings file (:func:`harcnn.core.settings.read_settings_file`: its tables, those the ``reader``
    command does not read refused) with every value of its ``[settings]`` table checked by the schema of
    the models that have the setting, also one the command line overrides (which would never reach a
    :class:`Config`)."""
    data = read_settings_file(path, tables=tables, reader=reader)
    _check_file_settings(data["settings"], where=f"{path}: ")
    return data


def _check_file_settings(values: Mapping[str, Any], *, where: str = "") -> None:
    """Every value of a ``[settings]`` table through the schema, also one the command line overrides (which
    would never reach a :class:`Config`): by the file's model where it has the setting, else by any model
    that has it. Unknown names are left to the command, which knows its models."""
    flat = {canonical_name(k): v for k, v in values.items()}
    model = flat.pop("model", None)
    try:
        if model is not None:
            model_class(str(model))
        for name, value in flat.items():
            models = [str(model)] if model is not None and name in settings_for(str(model)) else list_models()
            refusals = [_refusal(settings_for(m)[name], value) for m in models if name in settings_for(m)]
            if refusals and all(refusals):
                raise refusals[0]
    except SettingError as error:
        raise SettingError(f"{where}{error}") from None


def _refusal(setting: Setting, value: Any) -> SettingError | None:
    try:
        setting.convert(value)
    except SettingError as error:
        return error
    return None
