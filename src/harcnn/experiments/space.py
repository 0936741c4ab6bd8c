"""Search spaces for ``harcnn tune``: which settings vary, over what, for which models.

A space file (TOML, or YAML with PyYAML) has a ``[space]`` table and, optionally, fixed ``[settings]``::

    [settings]                      # every trial, for every candidate model that has the setting
    standardize = true

    [space]
    model = ["cnn", "hybrid"]                               # a choice (the candidate models)
    learning_rate = {low = 1e-4, high = 1e-2, log = true}   # a range; integers when the setting is one
    epochs = {low = 10, high = 30, step = 5}
    lr_schedule = ["constant", "cosine"]
    dropout = {low = 0.1, high = 0.6}                       # every candidate model that has it

    [space.hybrid]                                          # only when model = hybrid
    blocks = {low = 2, high = 4}
    filters = [16, 32]

* A list is a choice (its values as the setting takes them: ``true``, ``"cosine"``, ``[3, 5, 11]``).
* A table ``{low, high}`` is a range, with ``log = true`` (log-uniform; low > 0) or a ``step``; it is
  an integer range when the setting takes integers, else a real one.
* A top-level setting applies to every candidate model that has it; a ``[space.MODEL]`` table only
  to that model (and wins over a top-level entry of the same setting). Optuna sees them as
  ``setting`` and ``MODEL.setting``.
* ``model`` is a choice of registered models (default: ``cnn``, or ``[settings] model``).

Every value is converted by the settings schema when the space is read, and each candidate model is
built at the corners of its ranges before any training, so a bad range is one clear error up front.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import SHARED, Bool, Float, Int, Ints, SettingError, canonical_name
from harcnn.models.config import Config, read_config_file, settings_for

RANGE_KEYS = ("low", "high", "log", "step")
#: Settings a search does not vary: how it validates, and what it searches instead.
NOT_SEARCHED = {
    "validation_subjects": "it is how the search validates (give --validation-subjects N, or --inner-cv)",
    "early_stopping": "the search chooses the number of epochs (and prunes weak trials) instead",
}


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a choice, or an integer or real range."""

    name: str  # Optuna's parameter name: the setting, or MODEL.setting
    setting: str
    model: str | None  # None: every candidate model that has the setting
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False

    def suggest(self, trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, self.choices)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list:
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {list(self.choices)}"
        extra = ", log" if self.log else f", step {self.step:g}" if self.step else ""
        kind = "integers" if self.integer else "numbers"
        return f"{self.name}: {kind} {self.low:g}..{self.high:g}{extra}"

    def to_dict(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step, "integer": self.integer}


@dataclass(frozen=True)
class SearchSpace:
    models: tuple[str, ...]  # the candidate models (a choice when several)
    fixed: Mapping[str, Any] = field(default_factory=dict)  # settings of every trial (models that have them)
    dimensions: tuple[Dimension, ...] = ()
    validation_subjects: int = 0  # the objective's held-out subjects ([settings] or --validation-subjects)

    def for_model(self, model: str) -> list[Dimension]:
        """The dimensions that apply to ``model`` (its own table first wins over the top level)."""
        own = {d.setting for d in self.dimensions if d.model == model}
        names = settings_for(model)
        return [d for d in self.dimensions if d.model == model or (d.model is None and d.setting not in own
                                                                    and d.setting in names)]

    def fixed_for(self, model: str) -> dict[str, Any]:
        names = settings_for(model)
        return {k: v for k, v in self.fixed.items() if k in names}

    def sample(self, trial) -> Config:
        """The configuration of an Optuna trial (its values suggested by the trial, checked by the schema)."""
        model = trial.suggest_categorical("model", self.models) if len(self.models) > 1 else self.models[0]
        values = {**self.fixed_for(model), **{d.setting: d.suggest(trial) for d in self.for_model(model)}}
        return Config.from_flat({"model": model, **values}, where=f"trial {trial.number}: ")

    def check(self, spec=None) -> None:
        """Every candidate model with every range at its ends (one at a time, then all low and all high),
        through the schema and, given an input ``spec``, built: a bad range fails here, not in training."""
        from harcnn.models import create_model

        for model in self.models:
            base = {"model": model, **self.fixed_for(model)}
            dims = self.for_model(model)
            trials = [{d.setting: v} for d in dims for v in d.corners()]
            trials += [{d.setting: d.corners()[i] for d in dims} for i in (0, -1)]
            for values in trials:
                shown = ", ".join(f"{k}={v}" for k, v in values.items())
                config = Config.from_flat({**base, **values}, where=f"the search space ({model}: {shown}): ")
                if spec is not None:
                    try:
                        create_model(model, **spec.model_inputs(), **config.model_params)
                    except HarcnnError as error:
                        raise HarcnnError(f"the search space cannot build {model} with {shown}: {error}") from None

    def describe(self) -> list[str]:
        lines = [f"model in {list(self.models)}"] if len(self.models) > 1 else [f"model: {self.models[0]}"]
        lines += [d.describe() for d in self.dimensions]
        if self.fixed:
            lines.append("fixed: " + ", ".join(f"{k}={v}" for k, v in self.fixed.items()))
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "fixed": dict(self.fixed),
                "dimensions": {d.name: d.to_dict() for d in self.dimensions}}


def load_space(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SearchSpace:
    """The space of a file (its ``[space]`` and ``[settings]`` tables); ``overrides`` (the command
    line's settings) fix settings, searched or not."""
    data = read_config_file(path, tables=("settings", "space"), reader="harcnn tune --space")
    if not data["space"]:
        raise SettingError(f"{path} needs a [space] table of the settings to search (see 'harcnn tune --help')")
    return parse_space(data["space"], data["settings"], overrides, where=f"{path}: ")


def parse_space(space: Mapping[str, Any], settings: Mapping[str, Any] | None = None,
                overrides: Mapping[str, Any] | None = None, *, where: str = "") -> SearchSpace:
    """A :class:`SearchSpace` from a ``[space]`` table, fixed ``settings`` and ``overrides`` (which win
    over both: a searched setting given there is fixed at that value)."""
    from harcnn.models import list_models

    overrides = {canonical_name(k): v for k, v in (overrides or {}).items()}
    fixed = {canonical_name(k): v for k, v in (settings or {}).items()}
    space = {canonical_name(k): v for k, v in space.items()}
    fixed.update(overrides)
    registered = list_models()
    try:
        validation_subjects = SHARED["validation_subjects"].convert(fixed.pop("validation_subjects", 0))
    except SettingError as error:
        raise SettingError(f"{where}{error}") from None
    for name, reason in NOT_SEARCHED.items():
        if name in space or any(isinstance(v, Mapping) and name in map(canonical_name, v) for v in space.values()):
            raise SettingError(f"{where}{name} cannot be searched: {reason}")
    if Int(0).convert(fixed.get("early_stopping", 0) or 0):
        raise SettingError(f"{where}early_stopping cannot be used in a search: {NOT_SEARCHED['early_stopping']}")
    if "model" in fixed:
        if "model" in space and "model" not in overrides:
            raise SettingError(f"{where}model is both fixed ([settings]) and searched ([space])")
        models = (_model_name(fixed.pop("model"), registered, where),)
        if "model" in space:
            _model_choices(space["model"], registered, where)  # checked, though the command line fixes the model
    elif "model" in space:
        models = _model_choices(space["model"], registered, where)
    else:
        models = ("cnn",)
    dimensions = []
    for key, value in space.items():
        if key == "model":
            continue
        if isinstance(value, Mapping) and key in registered:
            applies = key in models
            if not applies and "model" not in overrides:
                raise SettingError(f"{where}[space.{key}] is for a model that is not a candidate "
                                   f"(model = {list(models)})")
            for setting, entry in value.items():
                dimension = _dimension(canonical_name(setting), entry, key, models, fixed, overrides, where)
                if dimension is not None and applies:  # else the command line chose another model: checked only
                    dimensions.append(dimension)
        else:
            dimension = _dimension(key, value, None, models, fixed, overrides, where)
            if dimension is not None:
                dimensions.append(dimension)
    for name, value in fixed.items():  # canonical values (by the first candidate model that has the setting)
        owner = next((m for m in models if name in settings_for(m)), None)
        if owner is None:
            raise SettingError(f"{where}setting {name!r} belongs to none of the candidate models ({', '.join(models)})")
        try:
            fixed[name] = settings_for(owner)[name].convert(value)
        except SettingError as error:
            raise SettingError(f"{where}{error}") from None
    if not dimensions and len(models) == 1:
        raise SettingError(f"{where}the [space] searches nothing (the command line fixes everything it names)")
    return SearchSpace(models, fixed, tuple(dimensions), validation_subjects)


def _model_choices(choices: Any, registered: list[str], where: str) -> tuple[str, ...]:
    if not isinstance(choices, list) or not choices:
        raise SettingError(f"{where}[space] model must be a list of models, e.g. model = [\"cnn\", \"hybrid\"]")
    return tuple(dict.fromkeys(_model_name(m, registered, where) for m in choices))


def _model_name(value: Any, registered: list[str], where: str) -> str:
    if not isinstance(value, str) or value not in registered:
        raise SettingError(f"{where}model {value!r} is not a registered model; choose from {', '.join(registered)}")
    return value


def _dimension(setting: str, value: Any, model: str | None, models: tuple[str, ...], fixed: Mapping[str, Any],
               overrides: Mapping[str, Any], where: str) -> Dimension | None:
    here = f"{where}[space{'.' + model if model else ''}] {setting}: "
    if setting in fixed and setting not in overrides:
        raise SettingError(f"{here}{setting} is both fixed ([settings]) and searched ([space])")
    owners = [model] if model else [m for m in models if setting in settings_for(m)]
    if not all(setting in settings_for(m) for m in owners) or not owners:
        whose = f"model {model!r}" if model else f"any candidate model ({', '.join(models)})"
        raise SettingError(f"{here}unknown setting {setting!r} for {whose} (see 'harcnn models')")
    kinds = [settings_for(m)[setting] for m in owners]
    name = f"{model}.{setting}" if model else setting
    try:
        if isinstance(value, list):
            if not value:
                raise SettingError("an empty list of choices")
            choices = [[_choice(s, v) for v in value] for s in kinds][0]
            dimension = Dimension(name, setting, model, choices=tuple(dict.fromkeys(choices)))
        else:
            dimension = _range(name, setting, model, value, kinds)
    except SettingError as error:
        raise SettingError(f"{here}{error}") from None
    return None if setting in overrides else dimension  # fixed on the command line: checked, not searched


def _range(name: str, setting: str, model: str | None, value: Any, kinds: list) -> Dimension:
    if not isinstance(value, Mapping):
        raise SettingError("give a list of choices or a range {low = ..., high = ...}; a single value belongs in "
                           "[settings]")
    if set(value) - set(RANGE_KEYS) or "low" not in value or "high" not in value:
        raise SettingError(f"a range takes low and high, and optionally log or step (got "
                           f"{', '.join(map(str, value)) or 'nothing'})")
    kind = kinds[0].kind
    if not isinstance(kind, (Int, Float)):
        raise SettingError(f"{setting} takes {kind.describe()}: give a list of choices, not a range")
    low, high = [[s.convert(value[k]) for s in kinds][0] for k in ("low", "high")]
    try:
        log = Bool().convert(value.get("log", False))
        step = None if value.get("step") is None else \
            (Int(1) if isinstance(kind, Int) else Float(0, low_open=True)).convert(value["step"])
    except ValueError:
        raise SettingError("log must be true or false, and step a positive number") from None
    if low > high:
        raise SettingError(f"low {low} is above high {high}")
    if log and low <= 0:
        raise SettingError(f"a log range needs low > 0, got {low}")
    if log and step is not None:
        raise SettingError("a range takes log or step, not both")
    return Dimension(name, setting, model, low=low, high=high, log=log, step=step, integer=isinstance(kind, Int))


def _choice(setting, value: Any) -> Any:
    """A choice as the setting takes it, in a form Optuna stores (lists of integers as "3,5,11")."""
    converted = setting.convert(value)
    return ",".join(map(str, converted)) if isinstance(setting.kind, Ints) else converted
