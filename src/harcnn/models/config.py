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

from harcnn.core import provenance
from harcnn.core.errors import HarcnnError
from harcnn.core.settings import SHARED, Setting, SettingError, canonical_name, read_settings_file, show_value
from harcnn.models.registry import list_models, model_class
from harcnn.models.saved import read_description, weights_sha256

__all__ = ["FINE_TUNING", "Config", "config_identity", "model_settings", "read_config_file", "settings_for"]

#: The settings only fine-tuning reads (``init`` and its schedule): without ``init`` they change nothing.
FINE_TUNING = tuple(name for name, setting in SHARED.items() if setting.group == "fine-tuning")


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
    def from_flat(cls, values: Mapping[str, Any], *, where: str = "") -> Config:
        """From one flat mapping (``model`` plus any settings); ``where`` prefixes error messages.

        With ``init`` (a saved model to start from), the model, its settings and ``standardize`` that are
        not given are the saved model's (:func:`init_settings`)."""
        flat = {canonical_name(k): v for k, v in values.items()}
        try:
            if flat.get("init") is not None:
                flat = {**init_settings(flat["init"], flat.get("model")), **flat}
            model = str(flat.pop("model", "cnn"))
            return cls(model, flat)
        except HarcnnError as error:
            raise type(error)(f"{where}{error}") from None

    def replace(self, **changes: Any) -> Config:
        flat = {**self.to_flat(), **changes}
        return Config.from_flat(flat)

    def to_flat(self) -> dict[str, Any]:
        """The complete configuration, defaults included (what ``config_id`` hashes)."""
        return {"model": self.model, **self.values}

    @property
    def config_id(self) -> str:
        """A short hash of :func:`config_identity` (the model it starts from by its weights' SHA-256)."""
        init = self.values.get("init")
        return provenance.config_id(config_identity(self.to_flat(), weights_sha256(init) if init else None))

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


def config_identity(flat: Mapping[str, Any], init_sha256: str | None = None) -> dict[str, Any]:
    """What a configuration's id hashes: its complete flat values, where the saved model it starts from
    (``init``) is named by the SHA-256 of its weights (``init_sha256``), so that the same weights give one
    id wherever their folder lies and other weights another; without ``init`` the fine-tuning settings
    are left out (they change nothing then, and configurations keep the ids they had before them)."""
    identity = dict(flat)
    if identity.get("init") is None:
        for name in FINE_TUNING:
            identity.pop(name, None)
    else:
        identity["init"] = f"sha256:{init_sha256}"
    return identity


def init_settings(init: Any, model: Any = None) -> dict[str, Any]:
    """The settings a configuration that starts from the saved model ``init`` takes from it: its model and
    that model's settings (when ``model`` is None or the same model) and ``standardize`` (whether it
    standardizes its input: its standardizer is reused)."""
    _, meta = read_description(SHARED["init"].convert(init))
    name = str(meta["model"]["name"])
    values: dict[str, Any] = {"standardize": meta["preprocessing"].get("standardizer") is not None}
    if model is None or str(model) == name:
        values.update(model=name, **{k: v for k, v in dict(meta["model"].get("params") or {}).items()
                                     if k in model_class(name).settings})
    return values


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
