"""What one experiment trains: a model, its options, the data preparation and the training recipe.

A configuration is a flat mapping of readable keys, e.g. ``{"model": "cnn", "filters": 64,
"kernel_size": 3, "standardize": False, "epochs": 10}``; unspecified keys take the reference's
values. Its ``config_id`` (a hash of the complete mapping) names it in result stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from harcnn.errors import HarcnnError
from harcnn.experiments.store import make_config_id
from harcnn.models import model_options
from harcnn.training import TrainConfig

ALIASES = {"kernel": "kernel_size", "kernels": "kernel_sizes", "lr": "learning_rate", "batch": "batch_size"}
DATA_KEYS = ("standardize", "validation_subjects")
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))


@dataclass(frozen=True)
class ExperimentConfig:
    model: str = "cnn"
    model_params: dict[str, Any] = field(default_factory=dict)
    standardize: bool = False
    validation_subjects: int = 0  # training subjects held out whole for validation (0: none)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> "ExperimentConfig":
        """Build from one flat mapping; unknown keys get a clear error listing the known ones."""
        values = {ALIASES.get(k, k): v for k, v in values.items()}
        model = values.pop("model", "cnn")
        options = set(model_options(model)) - {"n_models", "n_channels", "n_classes", "window"}
        unknown = sorted(set(values) - options - set(DATA_KEYS) - set(TRAIN_KEYS))
        if unknown:
            known = sorted(options | set(DATA_KEYS) | set(TRAIN_KEYS))
            raise HarcnnError(f"unknown setting {', '.join(map(repr, unknown))} for model {model!r}; "
                              f"known settings: {', '.join(known)}")
        return cls(
            model=model,
            model_params={k: v for k, v in values.items() if k in options},
            standardize=bool(values.get("standardize", False)),
            validation_subjects=int(values.get("validation_subjects", 0)),
            train=TrainConfig(**{k: v for k, v in values.items() if k in TRAIN_KEYS}),
        )

    def to_flat(self) -> dict[str, Any]:
        """The complete configuration, defaults included (what ``config_id`` hashes)."""
        defaults = {k: v for k, v in model_options(self.model).items()
                    if k not in ("n_models", "n_channels", "n_classes", "window")}
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in {**defaults, **self.model_params}.items()}
        return {"model": self.model, **params, "standardize": self.standardize,
                "validation_subjects": self.validation_subjects, **self.train.to_dict()}

    @property
    def config_id(self) -> str:
        return make_config_id(self.to_flat())
