"""A trial trains one network of a configuration with one seed and scores it on the test set.

``run_trials`` trains several repeats of one configuration together (one ensemble, one
batched computation) and returns one ``TrialOutcome`` per repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from harcnn.data.splits import subject_holdout
from harcnn.data.transforms import Standardizer
from harcnn.data.uci_har import UCIHAR
from harcnn.experiments.config import ExperimentConfig
from harcnn.models import create_model
from harcnn.training import History, Trainer, predict_logits

VALIDATION_SEED = 0  # which training subjects are held out for validation: fixed, so configs compare


@dataclass
class TrialOutcome:
    repeat: int
    seed: int
    test_accuracy: float
    val_accuracy: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    history: dict[str, list[float]]
    train_seconds: float
    # Test-set class probabilities, float32 [n_test, K], for ensembles (averaging the repeats'
    # probabilities). Kept out of ``to_dict`` (results.json, the store's JSON); studies save them
    # as .npy files beside their store (harcnn.experiments.ensembles).
    test_proba: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The plain-data fields (JSON-able); ``test_proba`` is left out."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "test_proba"}


@dataclass
class PreparedData:
    """The arrays a configuration trains and tests on, after its data preparation."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    validation: tuple[np.ndarray, np.ndarray] | None
    standardizer: Standardizer | None
    validation_subject_ids: list[int]


def validation_holdout(dataset: UCIHAR, n_subjects: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (keep, holdout) over the training windows: the ``n_subjects`` validation subjects
    every configuration holds out (fixed by :data:`VALIDATION_SEED`, so configurations compare)."""
    return subject_holdout(dataset.train.subject, n_subjects, VALIDATION_SEED)


def prepare_data(dataset: UCIHAR, config: ExperimentConfig) -> PreparedData:
    """Hold out validation subjects, then fit the standardizer on the remaining training windows."""
    X_train, y_train, validation, held = dataset.train.X, dataset.train.y, None, []
    if config.validation_subjects:
        keep, holdout = validation_holdout(dataset, config.validation_subjects)
        validation = (X_train[holdout], y_train[holdout])
        held = sorted(int(s) for s in np.unique(dataset.train.subject[holdout]))
        X_train, y_train = X_train[keep], y_train[keep]
    X_test, standardizer = dataset.test.X, None
    if config.standardize:
        standardizer = Standardizer().fit(X_train)
        X_train, X_test = standardizer.transform(X_train), standardizer.transform(X_test)
        if validation is not None:
            validation = (standardizer.transform(validation[0]), validation[1])
    return PreparedData(X_train, y_train, X_test, dataset.test.y, validation, standardizer, held)


def run_trials(dataset: UCIHAR, config: ExperimentConfig, repeats: Sequence[int], seeds: Sequence[int],
               *, data: PreparedData | None = None, device: str = "cpu", progress: bool = False,
               description: str = "training", on_step: Callable[[float], None] | None = None) -> list[TrialOutcome]:
    """Train ``len(seeds)`` repeats of ``config`` as one ensemble and score each on the test set."""
    data = data or prepare_data(dataset, config)
    n_classes = len(dataset.class_names)
    model = create_model(config.model, n_models=len(seeds), n_channels=data.X_train.shape[2],
                         n_classes=n_classes, window=data.X_train.shape[1], **config.model_params)
    trainer = Trainer(config.train, device=device, progress=progress, description=description, on_step=on_step)
    history = trainer.fit(model, data.X_train, data.y_train, seeds, validation=data.validation)
    logits = predict_logits(model, data.X_test).float()  # [R, n, K]
    predictions = logits.argmax(dim=2).cpu().numpy()  # [R, n]
    probabilities = torch.softmax(logits, dim=2).cpu().numpy().astype(np.float32, copy=False)
    outcomes = []
    for r, (repeat, seed) in enumerate(zip(repeats, seeds)):
        curves = history.member(r)
        outcomes.append(TrialOutcome(
            repeat=repeat, seed=seed,
            test_accuracy=float((predictions[r] == data.y_test).mean()),
            val_accuracy=_final_validation_accuracy(history, r),
            per_class=per_class_metrics(data.y_test, predictions[r], dataset.class_names),
            confusion=confusion_counts(data.y_test, predictions[r], n_classes).tolist(),
            history=curves,
            train_seconds=history.seconds / len(seeds),
            test_proba=np.ascontiguousarray(probabilities[r]),
        ))
    return outcomes


def _final_validation_accuracy(history: History, r: int) -> float | None:
    """Member r's validation accuracy with the weights it keeps (the best epoch's, with early stopping)."""
    if history.val_accuracy is None:
        return None
    epoch = int(history.best_epoch[r]) if history.best_epoch is not None else -1
    return float(history.val_accuracy[r, epoch])


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``[K, K]`` counts, rows: true class, columns: predicted class."""
    return np.bincount(n_classes * np.asarray(y_true) + np.asarray(y_pred), minlength=n_classes ** 2).reshape(n_classes, n_classes)


def per_class_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, ...]:
    """Arrays ``[K]`` of precision, recall, F1 and support (0 where undefined, as scikit-learn's zero_division=0)."""
    counts = confusion_counts(y_true, y_pred, n_classes).astype(np.float64)
    hits, support, predicted = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return precision, recall, f1, support


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """:func:`per_class_scores` by class name."""
    precision, recall, f1, support = per_class_scores(y_true, y_pred, len(class_names))
    return {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)}
