"""Feature baselines: raw-window features and the linear classifiers on top of them."""

import numpy as np
import pytest

from harcnn.core.errors import DataError, HarcnnError
from harcnn.data import Dataset, InputSpec, load_uci_har
from harcnn.data.uci_har import CHANNEL_NAMES, CLASS_NAMES
from harcnn.experiments.features import available_feature_sets, feature_baseline
from harcnn.experiments.features import raw_window_features as _features
from harcnn.models.statistics import BANDS_HZ, statistic_names

T, FS = 128, 50.0
t = np.arange(T) / FS


def raw_feature_names(channels=CHANNEL_NAMES):
    return statistic_names(channels)


def raw_window_features(X, channels=CHANNEL_NAMES):
    return _features(X, FS, channels)


def bin_frequency(k):
    """The frequency of rFFT bin k of a 128-step window at 50 Hz: k whole cycles a window."""
    return k * FS / T


def column(features, name, names=None):
    return features[:, (names or raw_feature_names()).index(name)]


def test_shapes_names_and_finite():
    X = np.random.default_rng(0).standard_normal((5, T, 9)).astype(np.float32)
    F = raw_window_features(X)
    assert F.shape == (5, len(raw_feature_names())) and F.dtype == np.float32
    assert np.isfinite(F).all()
    assert len(set(raw_feature_names())) == F.shape[1] == 12 * 26 + 3 * 4
    other = raw_window_features(np.random.default_rng(1).standard_normal((4, 64, 3)), ["a", "b", "c"])
    assert other.shape == (4, len(raw_feature_names(["a", "b", "c"]))) == (4, 3 * 26)


def test_known_values_on_sines():
    X = np.zeros((2, T, 9))
    amplitudes, bins = (2.0, 0.5), (5, 20)
    for i, (a, k) in enumerate(zip(amplitudes, bins)):
        X[i, :, 0] = 1.0 + a * np.sin(2 * np.pi * bin_frequency(k) * t)  # total_acc_x: offset + sine
        X[i, :, 1] = a * np.sin(2 * np.pi * bin_frequency(k) * t)  # total_acc_y: the same sine
        X[i, :, 2] = -X[i, :, 1]  # total_acc_z: its negative
        X[i, :, 6] = 3.0  # body_gyro_x: constant
    F = raw_window_features(X)
    np.testing.assert_allclose(column(F, "total_acc_x:dominant_freq"), [bin_frequency(k) for k in bins])
    np.testing.assert_allclose(column(F, "total_acc_x:mean"), [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(column(F, "total_acc_x:std"), np.array(amplitudes) / np.sqrt(2), rtol=1e-5)
    np.testing.assert_allclose(column(F, "total_acc_x:energy"), 1 + np.array(amplitudes) ** 2 / 2, rtol=1e-5)
    np.testing.assert_allclose(column(F, "total_acc_x:max"), 1 + np.array(amplitudes), rtol=1e-3)
    np.testing.assert_allclose(column(F, "total_acc_x:mad"), np.array(amplitudes) * 2 / np.pi, rtol=1e-2)
    np.testing.assert_allclose(column(F, "total_acc_x:spectral_centroid"), [bin_frequency(k) for k in bins], rtol=1e-4)
    assert np.all(column(F, "total_acc_x:spectral_entropy") < 1e-4)  # all power in one bin
    np.testing.assert_allclose(column(F, "total_acc_x:mean_crossing_rate"), [2 * k / (T - 1) for k in bins], atol=0.02)
    np.testing.assert_allclose(column(F, "total_acc:corr_xy"), [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(column(F, "total_acc:corr_yz"), [-1.0, -1.0], rtol=1e-5)
    # 5 bins = 1.95 Hz lies in the 1.5-3 Hz band, 20 bins = 7.8 Hz in 5-8 Hz
    band_names = [f"total_acc_y:log_power_{lo:g}-{hi:g}Hz" for lo, hi in BANDS_HZ]
    strongest = np.argmax(np.stack([column(F, name) for name in band_names], axis=1), axis=1)
    assert [BANDS_HZ[b] for b in strongest] == [(1.5, 3.0), (5.0, 8.0)]
    # a constant signal: zero spread, and no NaN from scale-free statistics
    for stat in ("std", "skewness", "kurtosis", "dominant_freq", "spectral_entropy", "mean_crossing_rate"):
        np.testing.assert_array_equal(column(F, f"body_gyro_x:{stat}"), 0.0)
    np.testing.assert_array_equal(column(F, "body_gyro:corr_xy"), 0.0)
    np.testing.assert_allclose(column(F, "body_gyro_magnitude:mean"), 3.0)
    np.testing.assert_allclose(column(F, "body_gyro:sma"), 3.0)


def test_magnitude_signal():
    X = np.zeros((1, T, 9))
    X[0, :, 3:6] = (3.0, 4.0, 0.0)  # body_acc = (3, 4, 0) -> |body_acc| = 5
    F = raw_window_features(X)
    assert column(F, "body_acc_magnitude:mean")[0] == pytest.approx(5.0)
    assert column(F, "body_acc_magnitude:std")[0] == pytest.approx(0.0)


def test_bad_windows_are_clear_errors():
    with pytest.raises(HarcnnError, match="windows must be"):
        raw_window_features(np.zeros((3, 128)))
    bad = np.zeros((2, T, 9))
    bad[1, 3, 4] = np.nan
    with pytest.raises(HarcnnError, match="NaN"):
        raw_window_features(bad)


def _synthetic_dataset(n_train=120, n_test=60, seed=0):
    """Six classes told apart by the frequency and axis of a sine, 9 channels without triplet names."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.permutation(np.arange(n) % 6)
    X = 0.2 * rng.standard_normal((n, T, 9))
    frequency = np.where(y < 3, 1.0, 4.0)
    X[np.arange(n), :, 3 + y % 3] += np.sin(2 * np.pi * frequency[:, None] * t + rng.uniform(0, 6.3, (n, 1)))
    split = np.array(["train"] * n_train + ["test"] * n_test)
    spec = InputSpec(FS, T, T // 2, tuple(f"c{i}" for i in range(9)), ("",) * 9, CLASS_NAMES)
    return Dataset(X=X.astype(np.float32), y=y, subject=np.where(split == "train", 1, 2), spec=spec, name="synthetic",
                   source="synthetic", split=split)


@pytest.mark.parametrize("classifier", ["linear_svm", "logreg"])
def test_raw_baseline_learns_a_separable_problem(classifier):
    result = feature_baseline(_synthetic_dataset(), classifier=classifier, features="raw")
    assert result["accuracy"] > 0.95 and result["macro_f1"] > 0.95
    assert result["n_features"] == 9 * 26 and result["n_test"] == 60  # no x/y/z names: no triplets


@pytest.mark.parametrize("classifier", ["linear_svm", "logreg"])
@pytest.mark.parametrize("features", ["raw", "engineered"])
def test_baseline_on_tiny_dataset(uci_folder, classifier, features):
    dataset = load_uci_har(uci_folder, download=False, progress=False)
    assert available_feature_sets(dataset) == ["raw", "engineered"]
    result = feature_baseline(dataset, classifier=classifier, features=features)
    assert set(result) >= {"accuracy", "macro_f1", "per_class", "confusion", "seconds", "n_features"}
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["macro_f1"] <= 1.0
    assert list(result["per_class"]) == list(dataset.class_names)
    assert np.sum(result["confusion"]) == len(dataset.test) and result["seconds"] > 0
    assert result["n_features"] == (561 if features == "engineered" else len(raw_feature_names()))


def test_missing_engineered_features_are_a_clear_error(uci_folder):
    (uci_folder / "test" / "X_test.txt").unlink()  # like the shared copy
    dataset = load_uci_har(uci_folder, download=False, progress=False)
    assert available_feature_sets(dataset) == ["raw"]
    with pytest.raises(DataError, match=r"engineered features are unavailable: not every window .*X_test.txt"):
        feature_baseline(dataset, features="engineered")
    assert 0.0 <= feature_baseline(dataset, features="raw")["accuracy"] <= 1.0  # raw features still work


def test_unknown_names_are_clear_errors():
    dataset = _synthetic_dataset(12, 6)
    with pytest.raises(HarcnnError, match="unknown classifier 'svm'"):
        feature_baseline(dataset, classifier="svm")
    with pytest.raises(HarcnnError, match="unknown feature set 'fft'"):
        feature_baseline(dataset, features="fft")


def test_baseline_by_cross_validation(uci_folder):
    dataset = load_uci_har(uci_folder, download=False, progress=False)
    result = feature_baseline(dataset, features="raw", protocol="subjects:2")
    assert result["protocol"] == "subjects:2" and len(result["fold_accuracy"]) == 2
    assert result["n_test"] == len(dataset)  # every window tested once
