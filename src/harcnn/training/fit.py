"""The one training path: data preparation, the model, the trainer.

Evaluation, studies, ``harcnn train`` and the scikit-learn estimator all train through
:func:`fit_networks`: hold out the validation subjects (``validation_subjects``), fit the
standardizer on the remaining training windows (``standardize``), build the model for the data's
:class:`~harcnn.data.dataset.InputSpec`, and train R members with their seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harcnn.data.dataset import Dataset
from harcnn.data.splits import subject_holdout
from harcnn.data.transforms import Standardizer
from harcnn.core.errors import HarcnnError
from harcnn.models import EnsembleModel, create_model
from harcnn.core.settings import Config
from harcnn.training.trainer import History, TrainConfig, Trainer

if TYPE_CHECKING:
    from harcnn.serving.artifact import TrainedModel
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
    if config.augment_rotate and not triplets(data.channel_names):
        raise HarcnnError(f"augment_rotate turns 3-axis vectors, but no channels of {data.name} are named "
                          f"<sensor>_x, _y, _z ({', '.join(data.channel_names)}): set augment_rotate=0")


def check_plan(configs: Sequence[Config], data: Dataset, folds: Sequence) -> None:
    """:func:`check_trainable` for every configuration against the smallest training part of ``folds``."""
    fewest = min((len(np.unique(data.subject[fold.train])) for fold in folds), default=len(data.subjects))
    for config in configs:
        check_trainable(config, data, fewest)


def fit_networks(config: Config, data: Dataset, seeds: Sequence[int], *, device: str = "cpu",
                 callbacks: Sequence["Callback"] = (), validation: Dataset | None = None) -> FittedNetworks:
    """Train ``len(seeds)`` members of ``config`` on ``data`` (all of it is training data, apart from
    the validation subjects that ``config.validation_subjects`` holds out). ``validation``: explicit
    validation windows instead (a search's inner fold), scored after every epoch."""
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
    standardizer = Standardizer(data.spec.overlap).fit(X) if config.standardize else None
    model = create_model(config.model, n_models=len(seeds), **data.spec.model_inputs(), **config.model_params)
    history = Trainer(TrainConfig.from_values(config), device=device, callbacks=callbacks).fit(
        model, X, y, seeds, validation=validation, channels=data.spec.channels, standardizer=standardizer)
    return FittedNetworks(model, standardizer, history, len(X), held, held_out)


def train_model(config: Config, train: Dataset, *, repeats: int = 1, seed: int = 0, test: Dataset | None = None,
                device: str = "cpu", callbacks: Sequence["Callback"] = (),
                timeline_data: Dataset | None = None) -> "TrainedModel":
    """Train ``repeats`` members of ``config`` on ``train`` (seeded as ``harcnn evaluate`` seeds its
    repeats, so member i equals evaluate's repeat i), and score them on ``test`` when given.

    Where the training windows come from recordings (or ``timeline_data`` has recordings of the same
    classes), the model also gets a timeline smoother (:func:`fit_timeline`)."""
    from harcnn.serving.artifact import TrainedModel, scores_on
    from harcnn.core.seeding import repeat_seeds

    if repeats < 1:
        raise HarcnnError(f"repeats must be >= 1, got {repeats}")
    seeds = repeat_seeds(seed, repeats)
    fitted = fit_networks(config, train, seeds, device=device, callbacks=callbacks)
    trained = TrainedModel(model=fitted.model.cpu(), spec=train.spec, standardizer=fitted.standardizer,
                           recipe=config.to_flat(), seeds=list(seeds), data=train.identity(),
                           history=fitted.history)
    history = fitted.history
    kept = history.best_epoch if history.best_epoch is not None else history.stopped_epoch  # the weights kept
    trained.scores = {
        "train_windows": fitted.train_windows, "validation_subjects": fitted.validation_subjects,
        "train_seconds": round(history.seconds, 3),
        "final_train_accuracy": [float(history.accuracy[r, kept[r]]) for r in range(repeats)],
        "final_train_loss": [float(history.loss[r, kept[r]]) for r in range(repeats)],
    }
    if history.val_accuracy is not None:
        trained.scores["validation_accuracy"] = [history.final_validation_accuracy(r) for r in range(repeats)]
    if test is not None:
        trained.scores.update(scores_on(trained, test.X, test.y))
    sequences = timeline_data if timeline_data is not None else train
    if sequences.recording is not None:
        # the smoother learns from the training subjects only: the validation subjects calibrate it
        held = [str(s) for s in fitted.validation_subjects]
        training_part = train.subset(~np.isin(train.subject.astype(str), held))
        sequences = sequences.subset(~np.isin(sequences.subject.astype(str), held))
        trained.timeline = fit_timeline(trained, sequences, training_part, fitted.validation)
    return trained


def fit_timeline(trained: "TrainedModel", sequences: Dataset, train: Dataset,
                 validation: Dataset | None) -> dict:
    """The timeline smoother of a trained model, as plain data: an HMM over its classes whose transitions
    come from the label sequences of ``sequences``' recordings and whose class priors are ``train``'s
    (both without the validation subjects);
    with validation windows (held-out subjects), its temperature is calibrated on their predictions and
    the threshold below which a window is marked unknown is chosen on them."""
    from harcnn.serving.timeline import HMMSmoother, choose_unknown_threshold, label_sequences

    if len(sequences) == 0:
        raise HarcnnError("no timeline data left: its recordings are all of validation or test subjects")
    if sequences.class_names != train.class_names:
        raise HarcnnError(f"the timeline data's classes ({', '.join(sequences.class_names)}) are not the model's "
                          f"({', '.join(train.class_names)})")
    K = len(train.class_names)
    hmm = HMMSmoother(K).fit(label_sequences(sequences.recording, sequences.start, sequences.y,
                                             sequences.spec.step_seconds),
                             class_priors=np.bincount(train.y, minlength=K) + 1.0)
    notes = [f"transitions from {len(set(sequences.recording.tolist()))} recordings of {sequences.name} "
             f"({sequences.source})"]
    threshold = None
    if validation is not None:
        probabilities = trained.predict_proba(validation.X)
        hmm.calibrate(probabilities, validation.y)
        threshold = choose_unknown_threshold(probabilities.max(axis=1), probabilities.argmax(axis=1) == validation.y)
        notes.append(f"temperature {hmm.temperature_:.3f} and unknown threshold {threshold:.3f} from "
                     f"{len(validation)} windows of the validation subjects")
    else:
        notes.append("not calibrated (no validation subjects): temperature 1, no unknown threshold")
    return {"hmm": hmm.to_dict(), "unknown_threshold": threshold, "notes": notes}
