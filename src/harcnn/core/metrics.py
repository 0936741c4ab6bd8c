"""Classification metrics in numpy: the one place for accuracy, confusion, per-class scores and macro-F1.

(numpy, not scikit-learn: importing scikit-learn costs about a second in every worker process; the
tests check these against scikit-learn.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``[K, K]`` counts, rows: true class, columns: predicted class."""
    return np.bincount(n_classes * np.asarray(y_true) + np.asarray(y_pred),
                       minlength=n_classes ** 2).reshape(n_classes, n_classes)


def per_class_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> tuple[np.ndarray, ...]:
    """Arrays ``[K]`` of precision, recall, F1 and support (0 where undefined, as scikit-learn's zero_division=0)."""
    counts = confusion_counts(y_true, y_pred, n_classes).astype(np.float64)
    hits, support, predicted = np.diag(counts), counts.sum(axis=1), counts.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return precision, recall, f1, support


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                      class_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """:func:`per_class_scores` by class name."""
    precision, recall, f1, support = per_class_scores(y_true, y_pred, len(class_names))
    return {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)}


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean F1 over all ``n_classes`` classes."""
    return float(per_class_scores(y_true, y_pred, n_classes)[2].mean())


def macro_f1_of(per_class: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The mean F1 of a :func:`per_class_metrics` table (None when empty)."""
    values = [float(stats["f1"]) for stats in per_class.values()]
    return sum(values) / len(values) if values else None


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float((np.asarray(y_true) == np.asarray(y_pred)).mean())


def accuracy_by_group(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Accuracy per group (e.g. per subject), keyed by the group id as text, in sorted order."""
    correct = np.asarray(y_true) == np.asarray(y_pred)
    groups = np.asarray(groups)
    return {str(g): float(correct[groups == g].mean()) for g in np.unique(groups)}
