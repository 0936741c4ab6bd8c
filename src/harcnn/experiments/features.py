"""Feature baselines: linear classifiers (scikit-learn) on hand-made features, by the same protocols
as the networks (the official split, held-out subjects, or cross-validation by subject).

Two feature sets:

* ``"raw"``: the statistics of :mod:`harcnn.models.statistics` computed from the windows (the same
  code the ``hybrid`` network runs inside its forward pass), so the baseline works with any dataset
  whose sampling rate is known. UCI HAR's 7,352 training windows take well under a second.
* ``"engineered"``: a dataset's own feature vectors (UCI HAR's 561, ``extras["features"]``), only
  where every window has them; the shared UCI HAR copy lacks ``X_test.txt``, and asking for them
  there is a clear :class:`~harcnn.core.errors.DataError`, not a crash.

Both go through ``StandardScaler`` (fitted on each fold's training windows only) and a linear SVM
(``LinearSVC``) or a multinomial logistic regression.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from harcnn.core.errors import DataError, HarcnnError
from harcnn.core.metrics import accuracy, confusion_counts, macro_f1, per_class_metrics
from harcnn.core.outputs import OutputKind, json_keys
from harcnn.data.dataset import Dataset
from harcnn.data.splits import Protocol
from harcnn.models.statistics import window_statistics

CLASSIFIERS = ("linear_svm", "logreg")
FEATURE_SETS = ("raw", "engineered")

#: ``harcnn features --out``: the results as JSON (one object per classifier, or a list of them).
RESULTS_FILE = OutputKind("feature baseline results file", folder=False,
                          recognise=lambda path: {"classifier", "features", "protocol", "n_features",
                                                  "accuracy"} <= json_keys(path))

__all__ = ["CLASSIFIERS", "FEATURE_SETS", "RESULTS_FILE", "available_feature_sets", "feature_baseline",
           "feature_matrix", "make_classifier", "raw_window_features"]


def raw_window_features(X: np.ndarray, sampling_rate: float, channel_names) -> np.ndarray:
    """Features of windows ``X [n, T, C]`` -> ``[n, F]`` float32 (see
    :func:`harcnn.models.statistics.statistic_names`), computed in float64."""
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] < 4:
        raise HarcnnError(f"windows must be an array [n, time steps >= 4, channels], got shape {X.shape}")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise HarcnnError("windows contain NaN or infinite values")
    with torch.inference_mode():
        return window_statistics(torch.from_numpy(X), sampling_rate, channel_names).numpy().astype(np.float32)


def available_feature_sets(dataset: Dataset) -> list[str]:
    """``["raw", "engineered"]``, or ``["raw"]`` when some windows lack engineered features."""
    features = dataset.extras.get("features")
    return ["raw", "engineered"] if features is not None and np.isfinite(features).all() else ["raw"]


def make_classifier(classifier: str = "linear_svm", random_state: int = 0):
    """``StandardScaler`` + a linear SVM (``LinearSVC``, C=1) or a logistic regression (lbfgs, C=1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if classifier == "linear_svm":
        model = LinearSVC(C=1.0, max_iter=10_000, random_state=random_state)
    elif classifier == "logreg":
        model = LogisticRegression(C=1.0, max_iter=2_000, random_state=random_state)
    else:
        raise HarcnnError(f"unknown classifier {classifier!r}; choose one of: {', '.join(CLASSIFIERS)}")
    return make_pipeline(StandardScaler(), model)


def feature_matrix(dataset: Dataset, features: str = "raw") -> np.ndarray:
    """The feature matrix ``[n, F]`` of every window for one feature set."""
    if features == "raw":
        if dataset.spec.sampling_rate is None:
            raise DataError(f"{dataset.source}: raw features need the windows' sampling rate (the data does not say)")
        return raw_window_features(dataset.X, dataset.spec.sampling_rate, dataset.channel_names)
    if features == "engineered":
        if "engineered" not in available_feature_sets(dataset):
            raise DataError(f"engineered features are unavailable: not every window of {dataset.source} has them "
                            "(UCI HAR: train/X_train.txt and test/X_test.txt); use the raw features instead")
        return dataset.extras["features"]
    raise HarcnnError(f"unknown feature set {features!r}; choose one of: {', '.join(FEATURE_SETS)}")


def feature_baseline(dataset: Dataset, classifier: str = "linear_svm", features: str = "raw",
                     protocol: Protocol | str = "official", random_state: int = 0) -> dict[str, Any]:
    """Fit ``classifier`` on every fold's training windows, score it once on the fold's test windows.

    Returns ``accuracy`` and ``macro_f1`` of all folds' test predictions pooled, ``fold_accuracy``
    (per fold), ``per_class``, ``confusion`` (rows: true class), ``seconds`` (features + fits +
    predictions), and ``classifier``, ``features``, ``protocol``, ``n_features``, ``n_train``, ``n_test``.
    """
    protocol = protocol if isinstance(protocol, Protocol) else Protocol.parse(protocol)
    start = time.perf_counter()
    make_classifier(classifier, random_state)  # validates the name before any work
    folds = protocol.folds(dataset.subject, dataset.split)
    F = feature_matrix(dataset, features)
    truth, predicted, fold_accuracy = [], [], {}
    for fold in folds:
        pipeline = make_classifier(classifier, random_state).fit(F[fold.train], dataset.y[fold.train])
        p = pipeline.predict(F[fold.test])
        truth.append(dataset.y[fold.test])
        predicted.append(p)
        fold_accuracy[fold.name] = accuracy(truth[-1], p)
    y, p = np.concatenate(truth), np.concatenate(predicted)
    K = len(dataset.class_names)
    return {
        "classifier": classifier, "features": features, "protocol": str(protocol), "n_features": int(F.shape[1]),
        "n_train": int(len(folds[0].train)), "n_test": int(len(y)),
        "accuracy": accuracy(y, p), "macro_f1": macro_f1(y, p, K), "fold_accuracy": fold_accuracy,
        "per_class": per_class_metrics(y, p, dataset.class_names),
        "confusion": confusion_counts(y, p, K).tolist(), "seconds": time.perf_counter() - start,
    }


def most_confused(confusion: list[list[int]], class_names) -> list[tuple[str, str, int, int]]:
    """The two largest off-diagonal cells: ``(true class, predicted class, count, true-class total)``."""
    matrix = np.asarray(confusion)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None)[:2]
    return [(class_names[i], class_names[j], int(off[i, j]), int(matrix[i].sum()))
            for i, j in zip(*np.unravel_index(order, off.shape)) if off[i, j] > 0]
