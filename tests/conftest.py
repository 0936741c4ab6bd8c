"""Shared test fixtures: tiny UCI HAR datasets in the official layout, and an isolated cache.

``make_uci_har_tree`` and ``zip_uci_har`` are plain functions so any test module can build its
own variant (``from conftest import make_uci_har_tree``).
"""

from __future__ import annotations

import math
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from harcnn.data.uci_har import CHANNEL_NAMES, CLASS_NAMES

# Tiny test models gain nothing from threads, and two busy threads on a shared 2-core machine stall.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_UCI_ZIP = REPO_ROOT.parent / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"


def official_float(value: float) -> str:
    """One value as the official files write it: 16 characters, '  1.8085150e-004'."""
    mantissa, exponent = f"{value:.7e}".split("e")
    exp = int(exponent)
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):03d}".rjust(16)


def _write_table(path: Path, table: np.ndarray, fixed_width: bool) -> None:
    """Official layout (fixed width, CRLF) or an ordinary one (shortest repr, single spaces, LF)."""
    if fixed_width:
        text = "".join("".join(official_float(v) for v in row) + "\r\n" for row in table)
    else:
        text = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in table)
    path.write_text(text, newline="")


def make_uci_har_tree(
    root: str | Path,
    n_train: int = 20,
    n_test: int = 12,
    seed: int = 0,
    *,
    fixed_width: bool = True,
    n_features: int = 561,
    features: tuple[str, ...] = ("train", "test"),
) -> Path:
    """Write a tiny random UCI HAR copy under ``root``; return its 'UCI HAR Dataset' folder.

    Same file names and formats as the official archive; every split holds all 6 labels and a few
    subjects (train 1, 3, 5; test 2, 4). ``features`` names the splits that get an X_<split>.txt.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "UCI HAR Dataset"
    folder.mkdir(parents=True)
    (folder / "README.txt").write_text("tiny synthetic UCI HAR copy for tests\n")
    (folder / "activity_labels.txt").write_text(
        "".join(f"{i} {name}\n" for i, name in enumerate(CLASS_NAMES, start=1))
    )
    (folder / "features.txt").write_text("".join(f"{i} feature-{i}()\n" for i in range(1, n_features + 1)))
    for split, n, subjects in (("train", n_train, (1, 3, 5)), ("test", n_test, (2, 4))):
        signals = folder / split / "Inertial Signals"
        signals.mkdir(parents=True)
        labels = rng.permutation(np.arange(n) % len(CLASS_NAMES) + 1)
        subject = np.sort(rng.choice(subjects, size=n))
        (folder / split / f"y_{split}.txt").write_text("".join(f"{v}\n" for v in labels))
        (folder / split / f"subject_{split}.txt").write_text("".join(f"{v}\n" for v in subject))
        for channel in CHANNEL_NAMES:
            values = rng.standard_normal((n, 128)) * 10.0 ** rng.integers(-5, 2, size=(n, 128))
            _write_table(signals / f"{channel}_{split}.txt", values, fixed_width)
        if split in features:
            _write_table(folder / split / f"X_{split}.txt", rng.uniform(-1, 1, (n, n_features)), fixed_width)
    return folder


def zip_uci_har(folder: str | Path, zip_path: str | Path, nested: bool = False) -> Path:
    """Zip a 'UCI HAR Dataset' folder like UCI does: the inner zip, or (``nested``) the outer
    zip holding 'UCI HAR Dataset.zip' and a 'UCI HAR Dataset.names' note."""
    folder, zip_path = Path(folder), Path(zip_path)
    inner = zip_path.with_name(zip_path.stem + ".inner.zip") if nested else zip_path
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, (Path(folder.name) / file.relative_to(folder)).as_posix())
    if nested:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("UCI HAR Dataset.names", "Human Activity Recognition Using Smartphones\n")
            archive.write(inner, "UCI HAR Dataset.zip")
        inner.unlink()
    return zip_path


@pytest.fixture(autouse=True)
def isolated_harcnn_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty HARCNN_CACHE and no HARCNN_DATA: never the user's real cache."""
    cache = tmp_path_factory.mktemp("harcnn-cache")
    monkeypatch.setenv("HARCNN_CACHE", str(cache))
    monkeypatch.delenv("HARCNN_DATA", raising=False)
    return cache


@pytest.fixture
def cache_dir(isolated_harcnn_env: Path) -> Path:
    """The test's isolated cache folder (also what HARCNN_CACHE points to)."""
    return isolated_harcnn_env


@pytest.fixture(scope="session")
def _pristine_uci_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_uci_har_tree(tmp_path_factory.mktemp("uci-pristine"))


@pytest.fixture
def uci_folder(_pristine_uci_tree: Path, tmp_path: Path) -> Path:
    """A fresh copy of a tiny dataset (fixed-width files): the 'UCI HAR Dataset' folder, free to edit."""
    return Path(shutil.copytree(_pristine_uci_tree, tmp_path / "data" / "UCI HAR Dataset"))


@pytest.fixture
def uci_zip(uci_folder: Path, tmp_path: Path) -> Path:
    """The tiny dataset as a plain inner zip (top folder 'UCI HAR Dataset/')."""
    return zip_uci_har(uci_folder, tmp_path / "UCI HAR Dataset.zip")


@pytest.fixture
def uci_nested_zip(uci_folder: Path, tmp_path: Path) -> Path:
    """The tiny dataset as UCI serves it today: an outer zip holding 'UCI HAR Dataset.zip'."""
    return zip_uci_har(uci_folder, tmp_path / "human+activity+recognition+using+smartphones.zip", nested=True)


@pytest.fixture(scope="session")
def shared_uci_zip() -> Path:
    """The real dataset zip in shared/ beside the repository; skips the test when absent."""
    if not SHARED_UCI_ZIP.is_file():
        pytest.skip(f"real UCI HAR zip not found at {SHARED_UCI_ZIP}")
    return SHARED_UCI_ZIP


def train_on(dataset, settings: dict, repeats: int = 1, seed: int = 0):
    """Train a saved-model-to-be on the dataset's official training split, scored on its test split."""
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    return train_model(Config.from_flat(settings), dataset.train, repeats=repeats, seed=seed, test=dataset.test)


#: The input description of UCI HAR windows, for building models in tests: create_model(name, **UCI_INPUTS).
from harcnn.data.uci_har import SPEC as _UCI_SPEC  # noqa: E402

UCI_INPUTS = _UCI_SPEC.model_inputs()


def inputs(**changes):
    """UCI_INPUTS with some entries changed (e.g. inputs(window=64, n_channels=3))."""
    return {**UCI_INPUTS, **changes}


# ------------------------------------------------------------------------------------------ body frame
# Recordings made in the body frame (forward, left, up; specific force in g), then seen by a turned phone:
# walking with the vertical-forward phase relation of HAPT's walking (forward leads vertical by 120 degrees
# at the step frequency), postures still and tilted back.

RATE = 50.0
SIT_TILT_DEG = 20.0


def walking(seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    phase = 2 * np.pi * 1.8 * t + np.cumsum(rng.normal(0, 0.01, t.size))
    vertical = 0.25 * np.cos(phase) + 0.08 * np.cos(2 * phase + 0.5)
    forward = 0.18 * np.cos(phase + np.radians(120))
    lateral = 0.08 * np.cos(phase / 2)  # the sway at the stride frequency
    return np.column_stack([forward, lateral, 1 + vertical]) + rng.normal(0, 0.02, (t.size, 3))


def posture(seconds: float, tilt_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Still, the body tilted back by ``tilt_deg`` (gravity gains a forward component)."""
    tilt = math.radians(tilt_deg)
    return np.array([math.sin(tilt), 0.0, math.cos(tilt)]) + rng.normal(0, 0.005, (round(seconds * RATE), 3))


def phone_axes(seed: int) -> np.ndarray:
    """A random phone orientation: the body axes in phone coordinates (rows)."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(random_state=seed).as_matrix()


def seen_by(phone: np.ndarray, body: np.ndarray) -> np.ndarray:
    return body @ phone  # v_phone = phone.T @ v_body, row by row
