"""The one training path: data preparation, the model, the trainer.

Evaluation, studies, ``harcnn train`` and the scikit-learn estimator all train through
:func:`fit_networks` (a model for serving through :func:`harcnn.serving.train.train_model`, which calls
it): hold out the validation subjects (``validation_subjects``), fit the standardizer on the remaining
training windows (``standardize``), build the model for the data's :class:`~harcnn.data.dataset.InputSpec`,
and train R members with their seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.data.dataset import Dataset
from harcnn.data.splits import subject_holdout
from harcnn.data.transforms import Standardizer
from harcnn.models import EnsembleModel, create_model
from harcnn.models.config import Config
from harcnn.training.finetune import starting_point
from harcnn.training.state import History
from harcnn.training.trainer import TrainConfig, Trainer

if TYPE_CHECKING:
    from harcnn.training.callbacks import Callback


@dataclass
class FittedNetworks:
    """What training leaves: the networks (eval mode), the fitted standardizer and the curves."""

    model: EnsembleModel
    standardizer: Standardizer | None
    history: History
    train_windows: int
    validation_subjects: list = field(default_factory=list)
    validation: Dataset | None = None  # the held-out validation subjects' windows, raw
    init: dict = field(default_factory=dict)  # the saved model it started from (StartingPoint.identity), or empty

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """Raw windows as the networks take them (standardized when they were trained so)."""
        return self.standardizer.transform(X) if self.standardizer is not None else X


def check_trainable(config: Config, data: Dataset, train_subjects: int | None = None, *,
                    validated: bool = False) -> None:
    """Refuse, before any training, a configuration that cannot train on ``data`` (whose training parts
    have at least ``train_subjects`` subjects; default: all of them; ``validated``: validation windows
    are given apart from the data)."""
    from harcnn.data.windows import triplets

    n = len(data.subjects) if train_subjects is None else train_subjects
    if config.early_stopping and not (config.validation_subjects or validated):
        raise HarcnnError(f"early_stopping={config.early_stopping} watches validation subjects: also set "
                          "validation_subjects (e.g. --validation-subjects 5)")
    if config.validation_subjects and config.validation_subjects >= n:
        raise HarcnnError(f"validation_subjects={config.validation_subjects}: the training data has {n} subjects; "
                          "hold out fewer, so that some are left to train on")
    for name in ("augment_rotate", "augment_yaw"):
        if config.values[name] and not triplets(data.channel_names):
            raise HarcnnError(f"{name} turns 3-axis vectors, but no channels of {data.name} are named "
                              f"<sensor>_x, _y, _z ({', '.join(data.channel_names)}): set {name}=0")
    if config.init is not None:
        starting_point(config, data.spec)


def check_plan(configs: Sequence[Config], data: Dataset, folds: Sequence) -> None:
    """:func:`check_trainable` for every configuration against the smallest training part of ``folds``."""
    fewest = min((len(np.unique(data.subject[fold.train])) for fold in folds), default=len(data.subjects))
    for config in configs:
        check_trainable(config, data, fewest)


def fit_networks(config: Config, data: Dataset, seeds: Sequence[int], *, device: str = "cpu",
                 callbacks: Sequence[Callback] = (), validation: Dataset | None = None) -> FittedNetworks:
    """Train ``len(seeds)`` members of ``config`` on ``data`` (all of it is training data, apart from
    the validation subjects that ``config.validation_subjects`` holds out). ``validation``: explicit
    validation windows instead (a search's inner fold), scored after every epoch. With ``config.init``
    the members start from that saved model (:mod:`harcnn.training.finetune`), its standardizer reused."""
    check_trainable(config, data, validated=validation is not None)
    X, y, held, held_out = data.X, data.y, [], None
    if validation is not None:
        if config.validation_subjects:
            raise HarcnnError("validation data was given, so validation_subjects must be 0 (it would hold out "
                              "more subjects)")
        held, held_out = sorted(np.unique(validation.subject).tolist()), validation
        validation = (validation.X, validation.y)
    elif config.validation_subjects:
        keep, holdout = subject_holdout(data.subject, config.validation_subjects)
        validation = (X[holdout], y[holdout])
        held, held_out = sorted(np.unique(data.subject[holdout]).tolist()), data.subset(holdout)
        X, y = X[keep], y[keep]
    start = starting_point(config, data.spec) if config.init is not None else None
    if start is not None:
        standardizer = start.standardizer
    else:
        standardizer = Standardizer(data.spec.overlap).fit(X) if config.standardize else None
    model = create_model(config.model, n_models=len(seeds), **data.spec.model_inputs(), **config.model_params)
    history = Trainer(TrainConfig.from_values(config), device=device, callbacks=callbacks).fit(
        model, X, y, seeds, validation=validation, channels=data.spec.channels, standardizer=standardizer, start=start)
    return FittedNetworks(model, standardizer, history, len(X), held, held_out,
                          start.identity() if start is not None else {})
