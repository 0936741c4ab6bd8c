"""A trial trains one network of a configuration with one seed on one fold, and scores it on that
fold's test windows.

:func:`run_trials` runs a :class:`TrialJob`: several repeats of one configuration on one fold,
trained together (one ensemble, one batched computation), returning one :class:`Trial` per repeat.
:class:`Trial` is also what the result store keeps.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harcnn.core.metrics import accuracy, accuracy_by_group, confusion_counts, macro_f1_of, per_class_metrics
from harcnn.core.provenance import current_versions
from harcnn.data.dataset import Dataset
from harcnn.data.splits import Fold
from harcnn.models.config import Config
from harcnn.training.callbacks import StepReporter
from harcnn.training.fit import fit_networks
from harcnn.training.inference import predict_proba


def now_iso() -> str:
    """The current UTC time, to the second, as ISO 8601."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass(kw_only=True)
class Trial:
    """One trained and tested network. Accuracies are fractions in 0..1: ``test_accuracy`` on the fold's
    test windows, ``val_accuracy`` on its validation windows (None without). In a search's inner folds
    (``TrialJob.validate_on_test``) the fold's held-out subjects are validation data: ``val_accuracy`` is
    their score (what the search reads), and ``test_accuracy``, computed on the same windows, is no test.
    ``per_class`` maps a class name
    to precision, recall, F1 and support; ``confusion`` has true classes in rows; ``per_subject`` maps a
    test subject to its accuracy; ``history`` holds the per-epoch curves; ``data`` is the dataset's
    fingerprint. ``test_proba`` (float32 ``[n_test, K]``, for ensembles) is not part of :meth:`to_dict`:
    studies save it beside their store."""

    config_id: str
    repeat: int
    fold: str
    seed: int
    test_accuracy: float
    val_accuracy: float | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    per_subject: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    epochs: int = 0  # epochs trained (fewer than configured when stopped early)
    label: str = ""
    study: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    versions: dict[str, str] = field(default_factory=current_versions)
    finished_at: str = field(default_factory=now_iso)
    test_proba: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def macro_f1(self) -> float | None:
        return macro_f1_of(self.per_class)

    def to_dict(self) -> dict[str, Any]:
        """The plain-data fields (JSON-able); ``test_proba`` is left out."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "test_proba"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class TrialJob:
    """Repeats of one configuration on one fold, trained together.

    ``validate_on_test``: the fold's test windows are validation data, scored after every epoch
    (curves, pruning): a search's inner folds, whose held-out part is training subjects, never the
    test split. ``callbacks``: trainer callbacks for this job's fit (plain data: they travel to workers).
    """

    config: Config
    label: str
    fold: Fold
    repeats: tuple[int, ...]
    seeds: tuple[int, ...]
    validate_on_test: bool = False
    callbacks: tuple = ()

    @property
    def size(self) -> int:
        return len(self.repeats)


def run_trials(dataset: Dataset, job: TrialJob, *, device: str = "cpu",
               on_step: Callable[[float], None] | None = None, callbacks: Sequence = ()) -> list[Trial]:
    """Train ``job``'s repeats as one ensemble on its fold's training windows, test each on the fold's
    test windows. ``on_step`` gets the fraction of the fit done after every step."""
    config = job.config
    train, test = dataset.subset(job.fold.train), dataset.subset(job.fold.test)
    callbacks = [*job.callbacks, *callbacks, *([StepReporter(on_step)] if on_step is not None else [])]
    fitted = fit_networks(config, train, job.seeds, device=device, callbacks=callbacks,
                          validation=test if job.validate_on_test else None)
    probabilities = predict_proba(fitted.model, fitted.prepare(test.X)).astype(np.float32, copy=False)  # [R, n, K]
    predictions = probabilities.argmax(axis=2)
    history, classes = fitted.history, dataset.class_names
    trials = []
    for r, (repeat, seed) in enumerate(zip(job.repeats, job.seeds)):
        held_out = accuracy(test.y, predictions[r])
        trials.append(Trial(
            config_id=config.config_id, repeat=repeat, fold=job.fold.name, seed=seed, test_accuracy=held_out,
            val_accuracy=held_out if job.validate_on_test else history.final_validation_accuracy(r),
            per_class=per_class_metrics(test.y, predictions[r], classes),
            confusion=confusion_counts(test.y, predictions[r], len(classes)).tolist(),
            per_subject=accuracy_by_group(test.y, predictions[r], test.subject),
            history=history.member(r), train_seconds=history.seconds / len(job.seeds),
            epochs=int(history.stopped_epoch[r]) + 1, label=job.label, config=config.to_flat(),
            data=dataset.fingerprint, test_proba=np.ascontiguousarray(probabilities[r])))
    return trials
