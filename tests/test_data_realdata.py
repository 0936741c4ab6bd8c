"""The loader on the real UCI HAR zip in shared/ (skipped when it is absent)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from harcnn.data import uci_har
from harcnn.data.dataset import Dataset
from harcnn.data.uci_har import CLASS_NAMES, load_uci_har

pytestmark = pytest.mark.realdata

TRAIN_COUNTS = [1226, 1073, 986, 1286, 1374, 1407]
TEST_COUNTS = [496, 471, 420, 491, 532, 537]
TEST_SUBJECTS = [2, 4, 9, 10, 12, 13, 18, 20, 24]
TRAIN_SUBJECTS = [1, 3, 5, 6, 7, 8, 11, 14, 15, 16, 17, 19, 21, 22, 23, 25, 26, 27, 28, 29, 30]


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-cache")


@pytest.fixture(scope="module")
def real(shared_uci_zip: Path, real_cache: Path) -> Dataset:
    return load_uci_har(shared_uci_zip, cache_dir=real_cache, download=False, progress=False)


def test_shapes_and_dtypes(real: Dataset) -> None:
    assert real.train.X.shape == (7352, 128, 9) and real.test.X.shape == (2947, 128, 9)
    assert real.train.X.dtype == np.float32 and real.train.y.dtype == np.int64
    features = real.train.extras["features"]
    assert features.shape == (7352, 561) and features.dtype == np.float32 and np.isfinite(features).all()
    assert np.isnan(real.test.extras["features"]).all()  # X_test.txt is missing from the shared copy
    assert real.class_names == CLASS_NAMES


def test_labels_and_subjects(real: Dataset) -> None:
    assert np.bincount(real.train.y).tolist() == TRAIN_COUNTS
    assert np.bincount(real.test.y).tolist() == TEST_COUNTS
    assert np.unique(real.train.subject).tolist() == TRAIN_SUBJECTS
    assert np.unique(real.test.subject).tolist() == TEST_SUBJECTS


def test_known_values(real: Dataset) -> None:
    assert real.train.X[0, 0, 0] == np.float32(1.012817)  # total_acc_x_train: '1.0128170e+000'
    assert real.train.X[0, 0, 3] == np.float32(1.808515e-4)  # body_acc_x_train: '1.8085150e-004'
    assert real.train.extras["features"][0, 0] == np.float32(0.28858451)  # X_train: '2.8858451e-001'
    assert 0.80 < real.train.X[:, :, 0].mean() < 0.81  # total_acc_x in g


def test_one_file_equals_loadtxt(real: Dataset, shared_uci_zip: Path) -> None:
    with zipfile.ZipFile(shared_uci_zip) as archive:
        with archive.open("UCI HAR Dataset/test/Inertial Signals/body_gyro_z_test.txt") as handle:
            expected = np.loadtxt(handle)
    np.testing.assert_array_equal(real.test.X[:, :, 8], expected.astype(np.float32))


def test_cache_round_trip(real: Dataset, shared_uci_zip: Path, real_cache: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(list((real_cache / "parsed").glob("*.npz"))) == 1
    monkeypatch.setattr(uci_har, "_read_source", lambda source: pytest.fail("parsed again"))
    cached = load_uci_har(shared_uci_zip, cache_dir=real_cache, download=False)
    for a, b in ((real.train, cached.train), (real.test, cached.test)):
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)
        np.testing.assert_array_equal(a.subject, b.subject)
    np.testing.assert_array_equal(real.extras["features"], cached.extras["features"])
    assert cached.source == str(shared_uci_zip.resolve()) and cached.fingerprint == real.fingerprint


def test_describe_real(real: Dataset) -> None:
    text = real.describe()
    assert "windows: 10299 x 128 samples (2.56 s) every 64 at 50 Hz; 9 channels; 6 classes" in text
    assert "train subjects (21, windows each):" in text and "test subjects (9, windows each):" in text
