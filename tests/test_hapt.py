"""The HAPT loader on tiny generated copies in the official layout; one test on the real shared copy."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_UCI_ZIP, make_uci_har_tree

from harcnn.core.errors import DataError
from harcnn.data import download as download_module
from harcnn.data import hapt
from harcnn.data.hapt import CLASS_NAMES, PREPROCESS, TEST_SUBJECTS, download_hapt, hapt_recordings, is_hapt, load_hapt
from harcnn.data.sources import load_dataset
from harcnn.data.textparse import parse_float_table
from harcnn.data.windows import CHANNELS, preprocess

SHARED_HAPT_ZIP = SHARED_UCI_ZIP.parents[1] / "hapt" / "HAPT_RawData_train_subjects.zip"

# name: (samples, labels.txt rows: activity, first and last sample, 1-based, inclusive)
RECORDINGS = {
    "exp01_user01": (1200, [(5, 11, 310), (7, 311, 400), (4, 401, 700), (1, 801, 1000), (8, 1001, 1040),
                            (2, 1041, 1168)]),
    "exp02_user01": (900, [(6, 1, 250), (11, 251, 450), (5, 451, 900)]),
    "exp03_user02": (800, [(6, 101, 227), (3, 301, 492), (12, 493, 600)]),
    "exp04_user03": (400, [(1, 1, 400)]),
}
# Where the rule puts the windows of RECORDINGS: (recording, first sample 0-based, class index 0-based).
BASIC = [("exp01_user01", s, 4) for s in (10, 74, 138)] + [("exp01_user01", s, 3) for s in (400, 464, 528)] \
    + [("exp01_user01", s, 0) for s in (800, 864)] + [("exp01_user01", 1040, 1)] \
    + [("exp02_user01", s, 5) for s in (0, 64)] + [("exp02_user01", s, 4) for s in range(450, 771, 64)] \
    + [("exp03_user02", s, 2) for s in (300, 364)] + [("exp04_user03", s, 0) for s in range(0, 257, 64)]
TRANSITIONS = [("exp01_user01", 291, 6),  # 90 samples: one window centred on them
               ("exp02_user01", 254, 10), ("exp02_user01", 318, 10),  # 200 samples: two, 4 spare on each side
               ("exp03_user02", 482, 11)]  # 108 samples; SIT_TO_STAND of exp01 (40 samples) gets none


def signals(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth known signals plus a little noise: acc [n, 3] in g, gyro [n, 3] in rad/s."""
    t = np.arange(n) / 50.0
    noise = np.random.default_rng(seed).normal(0.0, 0.01, (n, 6))
    acc = np.stack([0.9 + 0.1 * np.sin(2 * np.pi * 0.1 * t), -0.1 + 0.3 * np.sin(2 * np.pi * 2 * t),
                    0.4 + 0.05 * np.cos(2 * np.pi * 0.7 * t)], axis=1) + noise[:, :3]
    gyro = np.stack([0.5 * np.sin(2 * np.pi * 1.5 * t), 0.2 * np.cos(2 * np.pi * 0.5 * t), 0.1 * t / t[-1]],
                    axis=1) + noise[:, 3:]
    return acc, gyro


def write_table(path: Path, table: np.ndarray) -> None:
    """Space-separated shortest repr, as the official RawData files."""
    path.write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in table))


def make_hapt_tree(root: str | Path, recordings: dict = RECORDINGS, *, folder: str = "HAPT Data Set") -> Path:
    """Write a tiny HAPT copy under ``root`` (in ``folder``, '' for none); return the dataset root."""
    base = Path(root) / folder
    raw = base / "RawData"
    raw.mkdir(parents=True)
    (base / "README.txt").write_text("tiny synthetic HAPT copy for tests\n")
    (base / "activity_labels.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(CLASS_NAMES, 1)))
    rows = []
    for name, (n, segments) in recordings.items():
        experiment, user = int(name[3:5]), int(name[10:])
        acc, gyro = signals(n, experiment)
        write_table(raw / f"acc_{name}.txt", acc)
        write_table(raw / f"gyro_{name}.txt", gyro)
        rows += [(experiment, user, *segment) for segment in segments]
    (raw / "labels.txt").write_text("".join(" ".join(map(str, row)) + "\n" for row in rows))
    return base


def zip_hapt(base: Path, zip_path: Path, *, top: bool = False, nested: bool = False) -> Path:
    """Zip a dataset root: under its folder name, at the top of the zip (``top``), or (``nested``) as
    'HAPT Data Set.zip' inside an outer zip."""
    inner = zip_path.with_name(zip_path.stem + ".inner.zip") if nested else zip_path
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(base.rglob("*")):
            relative = file.relative_to(base)
            archive.write(file, relative.as_posix() if top else (Path(base.name) / relative).as_posix())
    if nested:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(inner, "HAPT Data Set.zip")
        inner.unlink()
    return zip_path


def load(path: Path | None = None, **kwargs):
    return load_hapt(path, download=False, progress=False, **kwargs)


def windows_of(data) -> list[tuple[str, int, int]]:
    return [(str(r), int(round(s * 50)), int(y)) for r, s, y in zip(data.recording, data.start, data.y)]


def parsed_entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "parsed").glob("hapt-*.npz")) if (cache_dir / "parsed").is_dir() else []


@pytest.fixture(scope="session")
def _pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hapt_tree(tmp_path_factory.mktemp("hapt-pristine"))


@pytest.fixture
def folder(_pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the tiny dataset: the 'HAPT Data Set' folder, free to edit."""
    return Path(shutil.copytree(_pristine, tmp_path / "data" / "HAPT Data Set"))


# --- windows ----------------------------------------------------------------------------------------


def test_windows_land_where_the_rule_says(folder: Path) -> None:
    data = load(folder)
    assert windows_of(data) == BASIC
    assert data.spec.classes == CLASS_NAMES[:6] and data.spec.channels == CHANNELS
    assert data.spec.units == ("g",) * 6 + ("rad/s",) * 3
    assert (data.spec.sampling_rate, data.spec.window, data.spec.step) == (50.0, 128, 64)
    assert data.spec.preprocessing == {"sensors": ["acc", "gyro"], "median_kernel": 3, "noise_cutoff_hz": 20.0,
                                       "gravity_cutoff_hz": 0.3, "filter_order": 3, "gravity_filter_order": 3,
                                       "zero_phase": False, "gyro_drift_cutoff_hz": 0.1, "gyro_drift_order": 2}
    assert np.bincount(data.y).tolist() == [7, 1, 2, 3, 9, 2]
    np.testing.assert_array_equal(data.subject, [int(r[-2:]) for r, _, _ in BASIC])
    assert data.X.dtype == np.float32 and data.X.shape == (len(BASIC), 128, 9)
    for name in RECORDINGS:  # each window is the whole recording's preprocessing, cut at its start
        acc, gyro = (np.loadtxt(folder / "RawData" / f"{sensor}_{name}.txt") for sensor in ("acc", "gyro"))
        series = preprocess({"acc": acc, "gyro": gyro}, PREPROCESS)[0].astype(np.float32)
        for index in np.flatnonzero(data.recording == name):
            first = int(round(data.start[index] * 50))
            np.testing.assert_array_equal(data.X[index], series[first:first + 128])


def test_all_classes_add_windows_centred_on_the_transitions(folder: Path) -> None:
    data = load(folder, classes="all")
    assert data.spec.classes == CLASS_NAMES and len(CLASS_NAMES) == 12
    assert sorted(windows_of(data)) == sorted(BASIC + TRANSITIONS)
    assert np.bincount(data.y, minlength=12)[6:].tolist() == [1, 0, 0, 0, 2, 1]
    assert any("centred" in note for note in data.notes)
    with pytest.raises(DataError, match="classes must be one of 'basic', 'all', got 'some'"):
        load(folder, classes="some")


@pytest.mark.parametrize("layout", ["parent-folder", "zip", "zip-top", "nested-zip"])
def test_every_layout_gives_the_same_data(folder: Path, tmp_path: Path, layout: str) -> None:
    reference = load(folder)
    path = {"parent-folder": lambda: folder.parent,
            "zip": lambda: zip_hapt(folder, tmp_path / "hapt.zip"),
            "zip-top": lambda: zip_hapt(folder, tmp_path / "hapt.zip", top=True),
            "nested-zip": lambda: zip_hapt(folder, tmp_path / "hapt.zip", nested=True)}[layout]()
    data = load(path)
    assert data.fingerprint == reference.fingerprint and data.source == str(path.resolve())
    assert is_hapt(path)


def test_recordings_give_segments_in_seconds_and_the_continuous_series(folder: Path) -> None:
    recordings = hapt_recordings(folder, download=False, progress=False)
    assert [r.name for r in recordings] == list(RECORDINGS) and [r.subject for r in recordings] == [1, 1, 2, 3]
    first = recordings[0]
    assert first.acc.shape == first.gyro.shape == (1200, 3)
    segments = first.segments
    assert segments.labels.tolist() == ["STANDING", "STAND_TO_SIT", "SITTING", "WALKING", "SIT_TO_STAND",
                                        "WALKING_UPSTAIRS"]
    np.testing.assert_allclose(segments.starts, [0.2, 6.2, 8.0, 16.0, 20.0, 20.8])
    np.testing.assert_allclose(segments.ends, [6.2, 8.0, 14.0, 20.0, 20.8, 23.36])  # 14 .. 16 s: unlabelled
    np.testing.assert_array_equal(first.preprocessed(),
                                  preprocess({"acc": first.acc, "gyro": first.gyro}, PREPROCESS)[0])


# --- the official split -------------------------------------------------------------------------------


def one_window_each(subjects) -> dict:
    return {f"exp{s:02d}_user{s:02d}": (200, [(1 + s % 6, 1, 130)]) for s in subjects}


def test_split_only_when_all_30_subjects_are_there(tmp_path: Path) -> None:
    everyone = load(make_hapt_tree(tmp_path / "all", one_window_each(range(1, 31))))
    assert len(everyone) == 30 and everyone.split is not None
    assert sorted(everyone.test.subject.tolist()) == list(TEST_SUBJECTS)
    assert len(everyone.train) == 21
    some = load(make_hapt_tree(tmp_path / "some", one_window_each(range(1, 30))))
    assert some.split is None
    assert any("29 of the 30 subjects" in note and "--cv subjects:5" in note for note in some.notes)
    with pytest.raises(DataError, match="no official split"):
        _ = some.train  # the property raises


def test_split_follows_the_archives_own_test_subjects(tmp_path: Path) -> None:
    base = make_hapt_tree(tmp_path, one_window_each(range(1, 31)))
    (base / "Test").mkdir()
    (base / "Test" / "subject_id_test.txt").write_text("1\n1\n7\n")
    assert sorted(load(base).test.subject.tolist()) == [1, 7]


# --- detection ----------------------------------------------------------------------------------------


def test_load_dataset_detects_hapt(folder: Path, tmp_path: Path) -> None:
    for path in (folder, folder.parent, zip_hapt(folder, tmp_path / "a.zip"),
                 zip_hapt(folder, tmp_path / "b.zip", nested=True)):
        data = load_dataset(path, classes="all", download=False)
        assert data.name == "hapt" and len(data.spec.classes) == 12
    uci = make_uci_har_tree(tmp_path / "uci")
    assert load_dataset(uci).name == "uci_har" and not is_hapt(uci)
    with pytest.raises(DataError, match="hapt data takes no option 'features'.*classes, sensors, frame, download"):
        load_dataset(folder, features=True)


# --- the parsed-recording cache -----------------------------------------------------------------------


def test_second_load_reads_the_cache(folder: Path, tmp_path: Path, cache_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = zip_hapt(folder, tmp_path / "hapt.zip")
    first = load(path)
    assert len(parsed_entries(cache_dir)) == 1
    monkeypatch.setattr(hapt, "_read_source", lambda source: pytest.fail("parsed again"))
    second = load(path, classes="all")  # the cache holds recordings: any class set comes from it
    assert load(path).fingerprint == first.fingerprint and len(second) == len(BASIC + TRANSITIONS)


def test_damaged_cache_is_rebuilt(folder: Path, cache_dir: Path) -> None:
    first = load(folder)
    [entry] = parsed_entries(cache_dir)
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    assert load(folder).fingerprint == first.fingerprint
    [rebuilt] = parsed_entries(cache_dir)
    with np.load(rebuilt) as npz:
        assert npz["names"].tolist() == list(RECORDINGS)


def test_changed_source_is_parsed_again(folder: Path, cache_dir: Path) -> None:
    load(folder)
    labels = folder / "RawData" / "labels.txt"
    labels.write_text(labels.read_text().replace("4 3 1 1 400", "4 3 3 1 400"))  # exp04: walking -> downstairs
    assert windows_of(load(folder))[-1] == ("exp04_user03", 256, 2)
    assert len(parsed_entries(cache_dir)) == 1  # the stale entry is gone


# --- bad input: one clear error, nothing cached ------------------------------------------------------


def edit(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = text
    path.write_text("".join(lines))


@pytest.mark.parametrize("breakage, message", [
    (lambda f: edit(f / "RawData" / "labels.txt", 3, "1 1 4 700 401\n"),
     r"labels\.txt in .*, line 3: segment 700\.\.401 is not within samples 1\.\.1200 of exp01_user01"),
    (lambda f: edit(f / "RawData" / "labels.txt", 7, "2 1 6 800 901\n"),
     r"line 7: segment 800\.\.901 is not within samples 1\.\.900 of exp02_user01"),
    (lambda f: edit(f / "RawData" / "labels.txt", 2, "1 1 13 311 400\n"), r"line 2: activity 13 is not one of 1\.\.12"),
    (lambda f: edit(f / "RawData" / "labels.txt", 4, "1 1 1 650 1000\n"),
     r"line 4: its segment overlaps the one of line 3 \(exp01_user01\)"),
    (lambda f: edit(f / "RawData" / "labels.txt", 5, "1 1 8 1001\n"), r"line 5: expected 5 integers, found 4"),
    (lambda f: edit(f / "RawData" / "labels.txt", 6, "9 1 2 1041 1168\n"),
     r"line 6: experiment 9 of user 1 has no recording \(RawData/acc_exp09_user01\.txt is missing\)"),
    (lambda f: (f / "RawData" / "gyro_exp02_user01.txt").unlink(),
     r"RawData/acc_exp02_user01\.txt has no gyro file RawData/gyro_exp02_user01\.txt"),
    (lambda f: (f / "RawData" / "acc_exp04_user03.txt").unlink(),
     r"RawData/gyro_exp04_user03\.txt has no acc file"),
    (lambda f: edit(f / "RawData" / "acc_exp03_user02.txt", 5, "0.1 abc 0.3\n"),
     r"RawData/acc_exp03_user02\.txt in .*HAPT Data Set, line 5: not a number: 'abc'"),
    (lambda f: edit(f / "RawData" / "gyro_exp01_user01.txt", 9, "0.1 0.2\n"),
     r"RawData/gyro_exp01_user01\.txt in .*, line 9: 2 values, expected 3"),
    (lambda f: edit(f / "RawData" / "gyro_exp01_user01.txt", 1200, ""),
     r"acc_exp01_user01\.txt has 1200 samples but RawData/gyro_exp01_user01\.txt has 1199"),
    (lambda f: edit(f / "activity_labels.txt", 7, "7 SIT_DOWN\n"),
     r"activity_labels\.txt in .*: expected the 12 classes '1 WALKING' \.\. '12 LIE_TO_STAND'"),
    (lambda f: (f / "RawData" / "labels.txt").unlink(), r"not a HAPT folder \(no RawData/labels\.txt in it"),
], ids=["end-before-start", "end-past-recording", "unknown-activity", "overlap", "short-row", "no-recording",
        "acc-without-gyro", "gyro-without-acc", "not-a-number", "short-line", "lengths-differ", "class-names",
        "no-labels"])
def test_bad_input_is_one_clear_error(folder: Path, cache_dir: Path, breakage, message: str) -> None:
    breakage(folder)
    with pytest.raises(DataError, match=message):
        load(folder)
    assert parsed_entries(cache_dir) == []


def test_zip_without_labels_is_one_clear_error(folder: Path, tmp_path: Path) -> None:
    (folder / "RawData" / "labels.txt").unlink()
    path = zip_hapt(folder, tmp_path / "hapt.zip")
    with pytest.raises(DataError, match=r"hapt\.zip: no HAPT dataset in this zip \(no RawData/labels\.txt"):
        load(path)
    assert not is_hapt(path)
    (tmp_path / "notes.txt").write_text("not a zip")
    (tmp_path / "broken.zip").write_bytes(path.read_bytes()[:100])
    assert not is_hapt(tmp_path / "notes.txt") and not is_hapt(tmp_path / "broken.zip")


def test_no_windows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no labelled segment is long enough for a 128-sample window"):
        load(make_hapt_tree(tmp_path, {"exp01_user01": (300, [(4, 1, 100)])}))


# --- finding and downloading --------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def serve(monkeypatch: pytest.MonkeyPatch, body: bytes) -> list[str]:
    requested: list[str] = []

    def open_url(url: str) -> FakeResponse:
        requested.append(url)
        return FakeResponse(body)

    monkeypatch.setattr(download_module, "_open_url", open_url)
    return requested


def test_download_then_load_from_the_cache(folder: Path, tmp_path: Path, cache_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match=r"HAPT data not found: .*hapt\.zip does not exist"):
        load()
    body = zip_hapt(folder, tmp_path / "official.zip", top=True).read_bytes()
    requested = serve(monkeypatch, body)
    data = load_hapt(progress=False)
    assert requested == [hapt.HAPT_URL] and (cache_dir / "hapt.zip").read_bytes() == body
    assert data.source == str(cache_dir / "hapt.zip") and windows_of(data) == BASIC
    assert download_hapt(progress=False) == cache_dir / "hapt.zip" and len(requested) == 1  # already there


@pytest.mark.parametrize("content, message", [("html", "not a readable zip archive"),
                                              ("no-recordings", "no recordings")])
def test_bad_download_keeps_nothing(folder: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                    content: str, message: str) -> None:
    if content == "html":
        body = b"<html>Service unavailable</html>"
    else:
        for file in (folder / "RawData").glob("*_exp*.txt"):
            file.unlink()
        body = zip_hapt(folder, tmp_path / "partial.zip").read_bytes()
    serve(monkeypatch, body)
    with pytest.raises(DataError, match=message):
        download_hapt(progress=False)
    assert [p.name for p in cache_dir.iterdir()] == []


# --- the real shared copy -----------------------------------------------------------------------------


@pytest.mark.realdata
def test_first_uci_har_window_is_cut_from_exp01(tmp_path: Path) -> None:
    """UCI HAR's first training window (subject 1, STANDING) is harcnn's first HAPT window, at sample 249."""
    if not (SHARED_HAPT_ZIP.is_file() and SHARED_UCI_ZIP.is_file()):
        pytest.skip("the shared HAPT and UCI HAR zips are needed")
    data = load(SHARED_HAPT_ZIP, cache_dir=tmp_path)
    assert data.split is None and len(data.subjects) == 21
    assert (data.recording[0], data.start[0], data.class_names[data.y[0]]) == ("exp01_user01", 4.98, "STANDING")
    official = np.empty((128, 9))
    with zipfile.ZipFile(SHARED_UCI_ZIP) as archive:
        for c, channel in enumerate(CHANNELS):
            with archive.open(f"UCI HAR Dataset/train/Inertial Signals/{channel}_train.txt") as handle:
                official[:, c] = parse_float_table(handle.readline(), channel, ncols=128)[0]
    error = np.abs(data.X[0] - official).mean(axis=0)
    assert error[:3].max() < 1e-3  # total_acc: ~6e-4 g, the published note's figure
    assert error[3:6].mean() < 2e-3  # body_acc: the gravity split agrees too
    series = hapt_recordings(SHARED_HAPT_ZIP, cache_dir=tmp_path)[0].preprocessed()
    offsets = [np.abs(series[o:o + 128, :3] - official[:, :3]).mean() for o in range(239, 260)]
    assert 239 + int(np.argmin(offsets)) == 249  # no other alignment fits as well


def test_accelerometer_only_windows(folder):
    acc = load_hapt(folder, sensors="acc", progress=False)
    both = load_hapt(folder, progress=False)
    assert acc.spec.channels == both.spec.channels[:6] and acc.spec.preprocessing["sensors"] == ["acc"]
    np.testing.assert_allclose(acc.X, both.X[:, :, :6], atol=1e-6)  # the accelerometer's channels are the same
    with pytest.raises(DataError, match="HAPT sensors are acc, gyro"):
        load_hapt(folder, sensors="mag", progress=False)
