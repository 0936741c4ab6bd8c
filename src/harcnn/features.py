"""Feature baselines: linear classifiers (scikit-learn) on hand-made features.

Two feature sets:

* ``"engineered"``: the dataset's own 561 features (``X_train.txt``/``X_test.txt``). Only where
  both splits ship them; the shared copy of the dataset lacks ``X_test.txt``, and asking for them
  there is a clear :class:`~harcnn.errors.DataError`, not a crash.
* ``"raw"``: the 324 statistics of :mod:`harcnn.models.statistics` computed from the raw
  inertial windows (the same code the ``hybrid`` network runs inside its forward pass), so the
  baseline works with any copy. The 7,352 training windows take well under a second.

Both go through ``StandardScaler`` (fitted on the training split only) and a linear SVM
(``LinearSVC``) or a multinomial logistic regression.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from harcnn.data.uci_har import CHANNEL_NAMES, UCIHAR
from harcnn.errors import DataError, HarcnnError
from harcnn.models.statistics import BANDS_HZ, SAMPLING_RATE, statistic_names, window_statistics

CLASSIFIERS = ("linear_svm", "logreg")
FEATURE_SETS = ("raw", "engineered")

__all__ = ["BANDS_HZ", "CLASSIFIERS", "FEATURE_SETS", "available_feature_sets", "feature_baseline",
           "feature_matrices", "make_classifier", "raw_feature_names", "raw_window_features"]


def raw_feature_names(channel_names: Sequence[str] = CHANNEL_NAMES) -> list[str]:
    """The names of :func:`raw_window_features`' columns, in order."""
    return statistic_names(channel_names)


def raw_window_features(X: np.ndarray, sampling_rate: float = SAMPLING_RATE) -> np.ndarray:
    """Features of windows ``X [n, T, C]`` -> ``[n, F]`` float32 (see :func:`raw_feature_names`).

    With 9 channels (UCI HAR order: three sensors of x, y, z), the 3 sensors' magnitude signals
    and per-sensor axis correlations are added; with any other channel count, only the
    per-channel statistics. Computed in float64. Constant signals give 0 (not NaN) for
    scale-free statistics.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] < 4:
        raise HarcnnError(f"windows must be an array [n, time steps >= 4, channels], got shape {X.shape}")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise HarcnnError("windows contain NaN or infinite values")
    with torch.inference_mode():
        return window_statistics(torch.from_numpy(X), sampling_rate).numpy().astype(np.float32)


def available_feature_sets(dataset: UCIHAR) -> list[str]:
    """``["raw", "engineered"]``, or ``["raw"]`` when a split lacks the 561 engineered features."""
    engineered = dataset.train.features is not None and dataset.test.features is not None
    return ["raw", "engineered"] if engineered else ["raw"]


def make_classifier(classifier: str = "linear_svm", random_state: int = 0) -> Pipeline:
    """``StandardScaler`` + a linear SVM (``LinearSVC``, C=1) or a logistic regression (lbfgs, C=1)."""
    if classifier == "linear_svm":
        model = LinearSVC(C=1.0, max_iter=10_000, random_state=random_state)
    elif classifier == "logreg":
        model = LogisticRegression(C=1.0, max_iter=2_000, random_state=random_state)
    else:
        raise HarcnnError(f"unknown classifier {classifier!r}; choose one of: {', '.join(CLASSIFIERS)}")
    return make_pipeline(StandardScaler(), model)


def feature_matrices(dataset: UCIHAR, features: str = "raw") -> tuple[np.ndarray, np.ndarray]:
    """The train and test feature matrices of one feature set."""
    if features == "raw":
        return raw_window_features(dataset.train.X), raw_window_features(dataset.test.X)
    if features == "engineered":
        missing = [name for name, split in (("train", dataset.train), ("test", dataset.test)) if split.features is None]
        if missing:
            files = " and ".join(f"{m}/X_{m}.txt" for m in missing)
            raise DataError(f"the 561 engineered features are unavailable: {dataset.source} has no {files}; "
                            "use features='raw' (features computed from the raw windows) instead")
        return dataset.train.features, dataset.test.features
    raise HarcnnError(f"unknown feature set {features!r}; choose one of: {', '.join(FEATURE_SETS)}")


def feature_baseline(dataset: UCIHAR, classifier: str = "linear_svm", features: str = "raw",
                     random_state: int = 0) -> dict[str, Any]:
    """Fit ``classifier`` on the training split's ``features``, score it once on the test split.

    Returns ``accuracy``, ``macro_f1``, ``per_class`` (precision, recall, f1, support per class
    name), ``confusion`` (rows: true class), ``seconds`` (features + fit + predict), and
    ``classifier``, ``features``, ``n_features``, ``n_train``, ``n_test``.
    """
    from harcnn.experiments.trials import per_class_metrics

    start = time.perf_counter()
    pipeline = make_classifier(classifier, random_state)  # validates the name before any work
    F_train, F_test = feature_matrices(dataset, features)
    pipeline.fit(F_train, dataset.train.y)
    predicted = pipeline.predict(F_test)
    seconds = time.perf_counter() - start
    y, labels = dataset.test.y, range(len(dataset.class_names))
    return {
        "classifier": classifier, "features": features, "n_features": int(F_train.shape[1]),
        "n_train": int(len(F_train)), "n_test": int(len(F_test)),
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": per_class_metrics(y, predicted, dataset.class_names),
        "confusion": confusion_matrix(y, predicted, labels=labels).tolist(),
        "seconds": seconds,
    }
