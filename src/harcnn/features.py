"""Feature baselines: linear classifiers (scikit-learn) on hand-made features.

Two feature sets:

* ``"engineered"``: the dataset's own 561 features (``X_train.txt``/``X_test.txt``). Only where
  both splits ship them; the shared copy of the dataset lacks ``X_test.txt``, and asking for them
  there is a clear :class:`~harcnn.errors.DataError`, not a crash.
* ``"raw"``: features computed here from the raw inertial windows, so the baseline works with any
  copy. Per signal (the 9 channels and the magnitudes of the 3 sensors' triplets): mean, standard
  deviation, min, max, percentiles, energy, mean absolute deviation, skewness, kurtosis,
  mean-crossing rate, jerk (first difference) statistics, and from the rFFT of the mean-removed
  window: dominant frequency, spectral centroid, spectral entropy and log band powers; per
  sensor: the correlations between its axes and the signal magnitude area: 324 features. All
  vectorised numpy: the 7,352 training windows take 2-3 s on a 2-core CPU.

Both go through ``StandardScaler`` (fitted on the training split only) and a linear SVM
(``LinearSVC``) or a multinomial logistic regression.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from harcnn.data.uci_har import CHANNEL_NAMES, UCIHAR
from harcnn.errors import DataError, HarcnnError

SAMPLING_RATE = 50.0  # Hz, UCI HAR
PERCENTILES = (10, 25, 50, 75, 90)
BANDS_HZ = ((0.0, 0.5), (0.5, 1.5), (1.5, 3.0), (3.0, 5.0), (5.0, 8.0), (8.0, 12.0), (12.0, 25.0))
SENSORS = ("total_acc", "body_acc", "body_gyro")  # channel triplets x, y, z in CHANNEL_NAMES order

CLASSIFIERS = ("linear_svm", "logreg")
FEATURE_SETS = ("raw", "engineered")

_SIGNAL_STATS = (
    ["mean", "std", "min", "max"] + [f"p{q}" for q in PERCENTILES]
    + ["energy", "mad", "skewness", "kurtosis", "mean_crossing_rate", "jerk_std", "jerk_mean_abs",
       "dominant_freq", "spectral_centroid", "spectral_entropy"]
    + [f"log_power_{lo:g}-{hi:g}Hz" for lo, hi in BANDS_HZ]
)


def raw_feature_names(channel_names: Sequence[str] = CHANNEL_NAMES) -> list[str]:
    """The names of :func:`raw_window_features`' columns, in order."""
    signals = list(channel_names) + [f"{sensor}_magnitude" for sensor in _sensor_names(len(channel_names))]
    names = [f"{signal}:{stat}" for signal in signals for stat in _SIGNAL_STATS]
    for sensor in _sensor_names(len(channel_names)):
        names += [f"{sensor}:corr_xy", f"{sensor}:corr_xz", f"{sensor}:corr_yz", f"{sensor}:sma"]
    return names


def raw_window_features(X: np.ndarray, sampling_rate: float = SAMPLING_RATE) -> np.ndarray:
    """Features of windows ``X [n, T, C]`` -> ``[n, F]`` float32 (see :func:`raw_feature_names`).

    With 9 channels (UCI HAR order: three sensors of x, y, z), the 3 sensors' magnitude signals
    and per-sensor axis correlations are added; with any other channel count, only the
    per-channel statistics. Constant signals give 0 (not NaN) for scale-free statistics.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] < 4:
        raise HarcnnError(f"windows must be an array [n, time steps >= 4, channels], got shape {X.shape}")
    X = X.astype(np.float64, copy=False)
    if not np.isfinite(X).all():
        raise HarcnnError("windows contain NaN or infinite values")
    n, T, C = X.shape
    triplets = [X[:, :, 3 * s:3 * s + 3] for s in range(len(_sensor_names(C)))]
    signals = X
    if triplets:
        magnitudes = np.stack([np.sqrt((t ** 2).sum(axis=2)) for t in triplets], axis=2)
        signals = np.concatenate([X, magnitudes], axis=2)
    per_signal = _signal_statistics(signals, sampling_rate)  # [n, S, stats]
    columns = [per_signal.reshape(n, -1)]
    for t in triplets:
        centred = t - t.mean(axis=1, keepdims=True)
        cov = np.einsum("ntc,ntd->ncd", centred, centred) / T
        sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        pairs = [(0, 1), (0, 2), (1, 2)]
        corr = [_safe_divide(cov[:, a, b], sd[:, a] * sd[:, b]) for a, b in pairs]
        sma = np.abs(t).sum(axis=2).mean(axis=1)
        columns.append(np.stack(corr + [sma], axis=1))
    return np.concatenate(columns, axis=1).astype(np.float32)


def _sensor_names(n_channels: int) -> tuple[str, ...]:
    return SENSORS if n_channels == 9 else ()


def _safe_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b > 1e-12)
    return out


def _signal_statistics(S: np.ndarray, sampling_rate: float) -> np.ndarray:
    """``S [n, T, K]`` -> ``[n, K, len(_SIGNAL_STATS)]``."""
    n, T, K = S.shape
    mean = S.mean(axis=1)
    centred = S - mean[:, None, :]
    var = (centred ** 2).mean(axis=1)
    std = np.sqrt(var)
    percentiles = np.percentile(S, PERCENTILES, axis=1)  # [q, n, K]
    energy = (S ** 2).mean(axis=1)
    mad = np.abs(centred).mean(axis=1)
    skewness = _safe_divide((centred ** 3).mean(axis=1), std ** 3)
    kurtosis = np.where(std > 1e-12, _safe_divide((centred ** 4).mean(axis=1), var ** 2) - 3.0, 0.0)
    signs = np.signbit(centred)
    crossing_rate = (signs[:, 1:] != signs[:, :-1]).mean(axis=1)
    jerk = np.diff(S, axis=1) * sampling_rate
    jerk_std, jerk_mean_abs = jerk.std(axis=1), np.abs(jerk).mean(axis=1)

    power = np.abs(np.fft.rfft(centred, axis=1)) ** 2 / T  # [n, F, K]
    freqs = np.fft.rfftfreq(T, d=1.0 / sampling_rate)
    ac = power[:, 1:]  # without the DC bin (zero after removing the mean)
    total = ac.sum(axis=1)
    dominant = freqs[1:][ac.argmax(axis=1)]
    dominant = np.where(total > 1e-12, dominant, 0.0)
    centroid = _safe_divide((ac * freqs[1:, None]).sum(axis=1), total)
    p = ac / np.where(total > 1e-12, total, 1.0)[:, None, :]
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1) / np.log(ac.shape[1])
    bands = []
    for lo, hi in BANDS_HZ:
        in_band = (freqs >= lo) & ((freqs < hi) | ((hi >= freqs[-1]) & (freqs <= hi)))
        bands.append(np.log(power[:, in_band].sum(axis=1) + 1e-10))

    stats = [mean, std, S.min(axis=1), S.max(axis=1), *percentiles, energy, mad, skewness, kurtosis,
             crossing_rate, jerk_std, jerk_mean_abs, dominant, centroid, entropy, *bands]
    return np.stack(stats, axis=2)


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
