"""Aggregating trials: everything computed over several trials lives here, once.

Evaluation, studies and leaderboards score a configuration over its trials (repeats x folds):

* :func:`mean_per_subject`, :func:`mean_per_class`, :func:`per_fold`: a metric of every trial, averaged;
* :func:`fold_ensembles` and :func:`pooled_scores`: the ensemble of the repeats (their test probabilities
  averaged per fold, :func:`harcnn.training.inference.average_probabilities`), then every fold's test
  windows pooled into one accuracy and macro-F1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from harcnn.core.metrics import accuracy, macro_f1
from harcnn.core.text import natural_key
from harcnn.data.splits import Fold
from harcnn.experiments.trials import Trial
from harcnn.training.inference import average_probabilities

__all__ = ["fold_ensembles", "mean_per_class", "mean_per_subject", "per_fold", "pooled_scores"]


def mean_per_subject(trials: Iterable[Trial]) -> dict[str, float]:
    """Each test subject's accuracy, averaged over the trials that tested it, in natural order."""
    by_subject: dict[str, list[float]] = {}
    for trial in trials:
        for subject, value in trial.per_subject.items():
            by_subject.setdefault(subject, []).append(value)
    return {s: float(np.mean(v)) for s, v in sorted(by_subject.items(), key=lambda kv: natural_key(kv[0]))}


def mean_per_class(trials: Sequence[Trial]) -> dict[str, dict[str, float]]:
    """Each class's precision, recall and F1, averaged over the trials."""
    classes = trials[0].per_class
    return {name: {metric: float(np.mean([t.per_class[name][metric] for t in trials]))
                   for metric in ("precision", "recall", "f1")} for name in classes}


def per_fold(trials: Sequence[Trial], folds: Sequence[Fold]) -> dict[str, tuple[float, float]]:
    """Mean and (population) std of the test accuracy per fold, in fold order."""
    return {f.name: (float(np.mean(s)), float(np.std(s))) for f in folds
            if (s := [t.test_accuracy for t in trials if t.fold == f.name])}


def fold_ensembles(folds: Sequence[Fold],
                   probabilities: Callable[[Fold], np.ndarray | None]) -> list[np.ndarray] | None:
    """Per fold, the repeats' test probabilities ``probabilities(fold)`` (``[R, n_test, K]``) averaged:
    ``[n_test, K]``; None when some fold has none (or not one per test window)."""
    means = []
    for fold in folds:
        probas = probabilities(fold)
        if probas is None or probas.shape[1] != len(fold.test):
            return None
        means.append(average_probabilities(probas))
    return means


def pooled_scores(means: Sequence[np.ndarray], y_folds: Sequence[np.ndarray], n_classes: int) -> tuple[float, float]:
    """Accuracy and macro-F1 of an ensemble's averaged probabilities per fold, every fold's test windows
    pooled."""
    y = np.concatenate(list(y_folds))
    predicted = np.concatenate([m.argmax(axis=1) for m in means])
    return accuracy(y, predicted), macro_f1(y, predicted, n_classes)
