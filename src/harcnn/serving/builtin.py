"""The built-in models: trained models shipped inside the package, that predict a phone's recordings
with no training and no network (``harcnn predict REC``) and that fine-tuning starts from
(``--init builtin:phone``).

Each is a model folder of the package (``harcnn/models/builtin/NAME``, read like any other by
:func:`harcnn.serving.artifact.load_model("builtin:NAME") <harcnn.serving.artifact.load_model>`) with
a card (``card.json``): its data, classes, input, the placement it was trained for, its accuracy and
how that was measured, and the data's licences. ``benchmarks/builtin_models.py`` trains them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from harcnn.core.errors import HarcnnError
from harcnn.models.saved import BUILTIN_PREFIX, builtin_card, builtin_names, read_description
from harcnn.serving.artifact import TrainedModel, load_model

if TYPE_CHECKING:
    from harcnn.data.recordings import Recording

__all__ = ["builtin_for_sensors", "builtin_model_for", "describe_card", "load_builtin"]


@lru_cache(maxsize=8)
def load_builtin(name: str) -> TrainedModel:
    """The built-in model ``name`` (``"phone"``), loaded once."""
    return load_model(f"{BUILTIN_PREFIX}{name}")


def _sensors(name: str) -> tuple[str, ...]:
    preprocessing = read_description(f"{BUILTIN_PREFIX}{name}")[1]["input"].get("preprocessing") or {}
    return tuple(preprocessing.get("sensors") or ())


def builtin_for_sensors(sensors: Iterable[str]) -> str | None:
    """The built-in model for a recording of ``sensors``: of those whose sensors it has, the one that reads
    the most (``acc, gyro`` -> phone; ``acc`` -> phone-acc); None when none fits."""
    have = set(sensors)
    fitting = [name for name in builtin_names() if _sensors(name) and set(_sensors(name)) <= have]
    return max(fitting, key=lambda name: len(_sensors(name))) if fitting else None  # ties: the first by name


def builtin_model_for(recording: Recording) -> TrainedModel | None:
    """The built-in model that fits ``recording``'s sensors (:func:`builtin_for_sensors`), or None."""
    name = builtin_for_sensors(recording.sensor_names)
    return None if name is None else load_builtin(name)


def describe_card(name: str) -> str:
    """A built-in model's card as text (``harcnn models --builtin``)."""
    card: dict[str, Any] = builtin_card(name)
    if not card:
        raise HarcnnError(f"built-in model {name!r} has no card")
    lines = [f"{BUILTIN_PREFIX}{name}: {card.get('summary', '')}"]
    fields = [(title, card.get(key)) for key, title in (
        ("classes", "classes"), ("input", "input"), ("placement", "placement"), ("frame", "frame"),
        ("network", "network"), ("trained_with", "trained with"), ("data", "data"), ("accuracy", "accuracy"),
        ("protocol", "protocol"), ("licences", "licences"))]
    for title, value in [*fields, ("size", f"{card['bytes'] / 1e6:.2f} MB")]:
        if value:
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            lines += textwrap.wrap(text, width=110, initial_indent=f"  {title + ':':<14}", subsequent_indent=" " * 16)
    return "\n".join(lines)
