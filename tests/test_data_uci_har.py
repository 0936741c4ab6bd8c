"""The UCI HAR loader on tiny generated datasets: every source kind, the cache, bad input, downloads."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_uci_har_tree, official_float, zip_uci_har

from harcnn.core.errors import DataError, HarcnnError
from harcnn.data import download as download_module
from harcnn.data import uci_har
from harcnn.data.dataset import Dataset
from harcnn.data.sources import load_dataset
from harcnn.data.textparse import _parse_fixed_width, parse_float_table, parse_int_column
from harcnn.data.uci_har import (
    CHANNEL_NAMES,
    CLASS_NAMES,
    default_cache_dir,
    download_uci_har,
    find_uci_har,
    load_uci_har,
)

SIGNAL = "train/Inertial Signals/body_gyro_y_train.txt"


def load(path: Path | None = None, **kwargs) -> Dataset:
    return load_uci_har(path, download=False, progress=False, **kwargs)


def features(part: Dataset) -> np.ndarray | None:
    """A split's engineered features, None when its X_<split>.txt was absent (NaN rows)."""
    values = part.extras.get("features")
    return None if values is None or np.isnan(values).all() else values


def assert_same(a: Dataset, b: Dataset) -> None:
    for x, y in ((a.train, b.train), (a.test, b.test)):
        np.testing.assert_array_equal(x.X, y.X)
        np.testing.assert_array_equal(x.y, y.y)
        np.testing.assert_array_equal(x.subject, y.subject)
        assert (features(x) is None) == (features(y) is None)
        if features(x) is not None:
            np.testing.assert_array_equal(features(x), features(y))
    assert a.class_names == b.class_names and a.fingerprint == b.fingerprint


def edit_line(file: Path, number: int, edit) -> None:
    """Replace line ``number`` (1-based) of ``file`` by ``edit(line)``, keeping line endings."""
    lines = file.read_bytes().splitlines(keepends=True)
    lines[number - 1] = edit(lines[number - 1])
    file.write_bytes(b"".join(lines))


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixed_width", [True, False], ids=["official-format", "plain-format"])
def test_values_equal_loadtxt(tmp_path: Path, fixed_width: bool) -> None:
    folder = make_uci_har_tree(tmp_path, fixed_width=fixed_width, seed=3)
    data = load(folder)
    for split_name in ("train", "test"):
        split = getattr(data, split_name)
        assert split.X.dtype == np.float32 and split.X.shape == (len(split), 128, 9)
        for c, channel in enumerate(CHANNEL_NAMES):  # channel order is CHANNEL_NAMES
            expected = np.loadtxt(folder / split_name / "Inertial Signals" / f"{channel}_{split_name}.txt")
            np.testing.assert_array_equal(split.X[:, :, c], expected.astype(np.float32))
        labels = np.loadtxt(folder / split_name / f"y_{split_name}.txt", dtype=np.int64)
        np.testing.assert_array_equal(split.y, labels - 1)
        assert split.y.dtype == np.int64 and set(split.y) == set(range(6))
        subjects = np.loadtxt(folder / split_name / f"subject_{split_name}.txt", dtype=np.int64)
        np.testing.assert_array_equal(split.subject, subjects)
        expected_features = np.loadtxt(folder / split_name / f"X_{split_name}.txt")
        assert features(split).dtype == np.float32
        np.testing.assert_array_equal(features(split), expected_features.astype(np.float32))
    assert data.class_names == CLASS_NAMES and data.channel_names == CHANNEL_NAMES
    assert data.spec.sampling_rate == 50.0 and data.spec.window == 128 and data.spec.step == 64
    assert data.spec.units == ("g",) * 6 + ("rad/s",) * 3 and data.name == "uci_har"


def test_parsers_are_exact_on_all_exponents() -> None:
    rng = np.random.default_rng(7)
    signs = rng.choice([-1.0, 1.0], size=(40, 16))
    values = signs * rng.uniform(1, 10, (40, 16)) * 10.0 ** rng.integers(-15, 23, size=(40, 16))
    values[0, :2] = [0.0, -0.0]
    values[-1, 0] = 1e-300  # beyond the fast path's exponent range: the general parser takes over
    fixed = "".join("".join(official_float(v) for v in row) + "\r\n" for row in values).encode()
    plain = "".join("\t".join(repr(float(v)) for v in row) + "  \n" for row in values).encode() + b"\n\n"
    expected = np.loadtxt(io.BytesIO(fixed))
    head = fixed[: -(16 * 16 + 2)]
    np.testing.assert_array_equal(_parse_fixed_width(head), expected[:-1])
    assert _parse_fixed_width(fixed) is None
    np.testing.assert_array_equal(parse_float_table(fixed, "f", ncols=16), expected)
    np.testing.assert_array_equal(parse_float_table(plain, "p"), np.loadtxt(io.BytesIO(plain)))
    assert np.signbit(_parse_fixed_width(head)[0, 1])


def test_parsers_report_file_and_line() -> None:
    with pytest.raises(DataError, match=r"f\.txt, line 2: 1 values, expected 2"):
        parse_float_table(b"1 2\n3\n", "f.txt", ncols=2)
    with pytest.raises(DataError, match=r"f\.txt, line 2: 3 values, line 1 has 2"):
        parse_float_table(b"1 2\n3 4 5\n", "f.txt")
    with pytest.raises(DataError, match=r"line 3: not a number: 'x1'"):
        parse_float_table(b"1 2\n3 4\n5 x1\n", "f.txt")
    with pytest.raises(DataError, match=r"line 1: non-finite value '-inf'"):
        parse_float_table(b"1 -inf\n", "f.txt")
    with pytest.raises(DataError, match=r"f\.txt: file is empty"):
        parse_float_table(b"\r\n\n", "f.txt")
    with pytest.raises(DataError, match=r"line 2: not an integer: '2.5'"):
        parse_int_column(b"1\n2.5\n", "y.txt")
    with pytest.raises(DataError, match=r"line 1: expected one integer, found 2 values"):
        parse_int_column(b"1 2\n", "y.txt")


# --- sources ----------------------------------------------------------------------------------


def test_every_source_kind_gives_the_same_data(uci_folder: Path, uci_zip: Path, uci_nested_zip: Path) -> None:
    reference = load(uci_folder)
    assert reference.source == str(uci_folder.resolve())
    for source in (uci_folder.parent, uci_zip, uci_nested_zip):
        data = load(source)
        assert data.source == str(source.resolve())
        assert_same(data, reference)


def test_env_var_and_explicit_path(uci_folder: Path, uci_zip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARCNN_DATA", str(uci_zip))
    assert find_uci_har() == uci_zip.resolve()
    assert load().source == str(uci_zip.resolve())
    assert load(uci_folder).source == str(uci_folder.resolve())  # the argument beats the env var
    monkeypatch.setenv("HARCNN_DATA", str(uci_zip.with_name("gone.zip")))
    with pytest.raises(DataError, match="HARCNN_DATA .*gone.zip does not exist"):
        load()


def test_not_found_says_how_to_get_the_data(cache_dir: Path) -> None:
    assert find_uci_har() is None
    with pytest.raises(DataError, match=r"harcnn data download.*--data PATH") as error:
        load()
    assert str(cache_dir / "uci_har.zip") in str(error.value)
    assert isinstance(error.value, HarcnnError)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARCNN_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HARCNN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "harcnn"


def test_features_optional(uci_folder: Path) -> None:
    (uci_folder / "test" / "X_test.txt").unlink()
    data = load(uci_folder)
    assert features(data.test) is None and features(data.train).shape == (20, 561)
    (uci_folder / "train" / "X_train.txt").unlink()
    data = load(uci_folder)
    assert "features" not in data.extras


def test_describe(uci_folder: Path) -> None:
    data = load(uci_folder)
    text = data.describe()
    assert str(uci_folder.resolve()) in text and f"fingerprint: {data.fingerprint}" in text
    assert "windows: 32 x 128 samples (2.56 s) every 64 at 50 Hz; 9 channels; 6 classes" in text
    for index, name in enumerate(CLASS_NAMES):
        train, test = int(np.sum(data.train.y == index)), int(np.sum(data.test.y == index))
        assert f"{index:<2}{name:<{len('WALKING_DOWNSTAIRS') + 2}}{train:>8}{test:>8}" in text
    for ids, counts in (np.unique(data.test.subject, return_counts=True),):
        assert ", ".join(f"{i} ({c})" for i, c in zip(ids, counts)) in text


def test_detected_by_load_dataset_and_fingerprint_is_content(uci_folder: Path, uci_zip: Path) -> None:
    from_folder, from_zip = load_dataset(uci_folder), load_dataset(uci_zip)
    assert from_folder.name == from_zip.name == "uci_har"
    assert from_folder.fingerprint == from_zip.fingerprint  # the same windows, wherever they come from
    edit_line(uci_folder / "train" / "y_train.txt", 1, lambda line: b"6\n" if line != b"6\n" else b"5\n")
    assert load_dataset(uci_folder).fingerprint != from_zip.fingerprint


# --- the parsed-array cache ---------------------------------------------------------------------


def test_cache_hit_skips_parsing(uci_zip: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load(uci_zip)
    assert len(list((cache_dir / "parsed").glob("*.npz"))) == 1
    monkeypatch.setattr(uci_har, "_read_source", lambda source: pytest.fail("parsed again"))
    second = load(uci_zip)
    assert_same(first, second)
    assert second.source == first.source


def test_changed_source_is_parsed_again(uci_folder: Path, cache_dir: Path) -> None:
    load(uci_folder)
    edit_line(uci_folder / "train" / "y_train.txt", 1, lambda line: b"6\n" if line != b"6\n" else b"5\n")
    data = load(uci_folder)
    assert data.train.y[0] == np.loadtxt(uci_folder / "train" / "y_train.txt", dtype=int)[0] - 1
    assert len(list((cache_dir / "parsed").glob("*.npz"))) == 1  # the stale entry is gone


def _stored_zip(folder: Path, path: Path, first_label: bytes) -> Path:
    """The dataset as a zip of stored members with fixed dates, y_train.txt's first line replaced: the same
    size whatever the label."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = (Path(folder.name) / file.relative_to(folder)).as_posix()
            data = file.read_bytes()
            if name.endswith("train/y_train.txt"):
                data = first_label + data[data.index(b"\n"):]
            archive.writestr(zipfile.ZipInfo(name, date_time=(2012, 12, 10, 0, 0, 0)), data)
    return path


@pytest.mark.parametrize("settled", [False, True], ids=["fresh", "settled"])
@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_an_edit_with_its_mtime_put_back_is_parsed_again(uci_folder: Path, tmp_path: Path, cache_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch, settled: bool,
                                                        layout: str) -> None:
    """The cache is keyed on content: a source edited to the same size, its modification time put back,
    is parsed again (main: the old arrays, under the old fingerprint). A settled file's digest is kept with its
    stat, whose change time the edit moves."""
    from harcnn.data import cache

    if settled:
        monkeypatch.setattr(cache, "RECENT_S", 0.0)
    source = _stored_zip(uci_folder, tmp_path / "uci.zip", b"1") if layout == "zip" else uci_folder
    edited = source if layout == "zip" else uci_folder / "train" / "y_train.txt"
    first = load(source)
    stat = edited.stat()
    if layout == "zip":
        _stored_zip(uci_folder, source, b"2")
    else:
        edit_line(edited, 1, lambda line: b"2\n" if line != b"2\n" else b"3\n")
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (edited.stat().st_size, edited.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    second = load(source)
    assert second.fingerprint != first.fingerprint and second.train.y[0] != first.train.y[0]
    assert (cache_dir / "parsed" / cache.DIGESTS).is_file() == settled
    assert len(list((cache_dir / "parsed").glob("*.npz"))) == 1  # the stale entry is gone


def test_an_unchanged_source_is_not_hashed_again_once_settled(uci_zip: Path, cache_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from harcnn.data import cache

    monkeypatch.setattr(cache, "RECENT_S", 0.0)
    load(uci_zip)
    monkeypatch.setattr(cache.hashlib, "file_digest", lambda *a: pytest.fail("hashed again"))
    load(uci_zip)


def test_explicit_cache_dir(uci_zip: Path, tmp_path: Path) -> None:
    load(uci_zip, cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine" / "parsed").glob("*.npz"))) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_cache_is_rebuilt(uci_zip: Path, cache_dir: Path, damage: str) -> None:
    reference = load(uci_zip)
    (entry,) = (cache_dir / "parsed").glob("*.npz")
    raw = bytearray(entry.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = bytearray(b"not an npz")
    entry.write_bytes(bytes(raw))
    assert_same(load(uci_zip), reference)
    assert entry.read_bytes() != bytes(raw)  # rewritten


def test_unwritable_cache_only_warns(uci_zip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="could not write the UCI HAR cache"):
        data = load(uci_zip, cache_dir=blocker)
    assert len(data.train) == 20


# --- bad input --------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data path .*nowhere does not exist"):
        load(tmp_path / "nowhere")


def test_folder_without_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a UCI HAR folder"):
        load(tmp_path)


def test_missing_member(uci_folder: Path, tmp_path: Path) -> None:
    (uci_folder / SIGNAL).unlink()
    (uci_folder / "test" / "subject_test.txt").unlink()
    with pytest.raises(DataError, match=f"missing file\\(s\\): {SIGNAL}, test/subject_test.txt"):
        load(uci_folder)
    with pytest.raises(DataError, match=f"missing file\\(s\\): {SIGNAL}"):
        load(zip_uci_har(uci_folder, tmp_path / "x.zip", nested=True))


def test_truncated_and_corrupt_zip(uci_zip: Path, uci_nested_zip: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(uci_zip.read_bytes()[:5000])
    with pytest.raises(DataError, match="truncated.zip: not a readable zip archive"):
        load(truncated)
    corrupt = tmp_path / "corrupt.zip"
    raw = bytearray(uci_zip.read_bytes())
    with zipfile.ZipFile(uci_zip) as archive:
        info = archive.getinfo(f"UCI HAR Dataset/{SIGNAL}")
    raw[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"corrupt.zip: cannot read {SIGNAL}"):
        load(corrupt)
    nested = tmp_path / "nested-truncated.zip"
    nested.write_bytes(uci_nested_zip.read_bytes()[:-100])
    with pytest.raises(DataError, match="nested-truncated.zip: not a readable zip archive"):
        load(nested)


def test_zip_without_dataset(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(DataError, match="no UCI HAR dataset in this zip"):
        load(path)


def test_ragged_row(uci_folder: Path) -> None:
    edit_line(uci_folder / SIGNAL, 3, lambda line: line[16:])
    with pytest.raises(DataError, match=f"{SIGNAL} in .*, line 3: 127 values, expected 128"):
        load(uci_folder)


def test_non_numeric_value(uci_folder: Path) -> None:
    edit_line(uci_folder / SIGNAL, 4, lambda line: line[:16] + b"abc".rjust(16) + line[32:])
    with pytest.raises(DataError, match=f"{SIGNAL} in .*, line 4: not a number: 'abc'"):
        load(uci_folder)


def test_nan_value(uci_folder: Path) -> None:
    edit_line(uci_folder / SIGNAL, 2, lambda line: b"             nan" + line[16:])
    with pytest.raises(DataError, match=f"{SIGNAL} in .*, line 2: non-finite value 'nan'"):
        load(uci_folder)


@pytest.mark.parametrize("label", [b"7", b"0"])
def test_label_out_of_range(uci_folder: Path, label: bytes) -> None:
    edit_line(uci_folder / "test" / "y_test.txt", 5, lambda line: label + b"\n")
    with pytest.raises(DataError, match=f"test/y_test.txt in .*, line 5: label {int(label)} is not in 1..6"):
        load(uci_folder)


def test_row_counts_disagree(uci_folder: Path) -> None:
    path = uci_folder / SIGNAL
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))
    with pytest.raises(DataError, match=r"train files disagree on the number of windows: .*body_gyro_y_train.txt 19"):
        load(uci_folder)


def test_feature_columns_must_match_features_txt(uci_folder: Path) -> None:
    edit_line(uci_folder / "features.txt", 561, lambda line: b"")
    with pytest.raises(DataError, match=r"train/X_train.txt in .*, line 1: 561 values, expected 560"):
        load(uci_folder)


def test_wrong_activity_labels(uci_folder: Path) -> None:
    edit_line(uci_folder / "activity_labels.txt", 4, lambda line: b"4 SLEEPING\n")
    with pytest.raises(DataError, match="activity_labels.txt in .*: expected the six activities"):
        load(uci_folder)


# --- downloads (the network is always faked) ----------------------------------------------------


class FakeResponse(io.BytesIO):
    """What urlopen returns, serving ``body``; raises ``fail`` after ``fail_after`` bytes."""

    def __init__(self, body: bytes, length: int | None = None, fail: BaseException | None = None, fail_after: int = 0):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body) if length is None else length)}
        self.fail, self.fail_after = fail, fail_after

    def read(self, size: int = -1) -> bytes:
        if self.fail is not None and self.tell() >= self.fail_after:
            raise self.fail
        return super().read(min(size, 1000) if size > 0 else size)


def serve(monkeypatch: pytest.MonkeyPatch, body: bytes, **kwargs) -> list[str]:
    """Make every URL open to ``body``; return the list of URLs requested."""
    requested: list[str] = []

    def open_url(url: str) -> FakeResponse:
        requested.append(url)
        return FakeResponse(body, **kwargs)

    monkeypatch.setattr(download_module, "_open_url", open_url)
    return requested


def no_data_files(cache_dir: Path) -> bool:
    return not (cache_dir / "uci_har.zip").exists() and not [p for p in cache_dir.iterdir() if p.is_file()]


def test_download_then_load_from_cache(uci_nested_zip: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = uci_nested_zip.read_bytes()
    requested = serve(monkeypatch, body)
    path = download_uci_har(url="https://example.invalid/uci.zip", progress=False)
    assert path == cache_dir / "uci_har.zip" and path.read_bytes() == body
    assert requested == ["https://example.invalid/uci.zip"]
    assert find_uci_har() == path
    data = load()
    assert data.source == str(path) and len(data.train) == 20
    assert download_uci_har(progress=False) == path and len(requested) == 1  # already there
    download_uci_har(url="https://example.invalid/uci.zip", progress=False, force=True)
    assert len(requested) == 2


def test_load_downloads_when_allowed(uci_nested_zip: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = uci_nested_zip.read_bytes()
    requested = serve(monkeypatch, body)
    monkeypatch.setattr(uci_har, "UCI_HAR_SHA256", hashlib.sha256(body).hexdigest())
    data = load_uci_har(progress=False)
    assert requested == [uci_har.UCI_HAR_URL]
    assert_same(data, load(uci_nested_zip))


def test_checksum_mismatch_keeps_nothing(uci_nested_zip: Path, cache_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, uci_nested_zip.read_bytes())
    with pytest.raises(DataError, match="sha256 .* expected c00b8030"):
        download_uci_har(progress=False)
    assert no_data_files(cache_dir)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fail": ConnectionResetError("connection reset"), "fail_after": 3000}, "failed: connection reset"),
        ({"length": 10**7}, "cut short"),
    ],
    ids=["connection-lost", "short-body"],
)
def test_interrupted_download_keeps_nothing(
    uci_nested_zip: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict, message: str
) -> None:
    serve(monkeypatch, uci_nested_zip.read_bytes(), **kwargs)
    with pytest.raises(DataError, match=message):
        download_uci_har(url="https://example.invalid/uci.zip", progress=False)
    assert no_data_files(cache_dir)
    with pytest.raises(DataError, match="UCI HAR data not found"):
        load()


def test_keyboard_interrupt_keeps_nothing(uci_nested_zip: Path, cache_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, uci_nested_zip.read_bytes(), fail=KeyboardInterrupt(), fail_after=2000)
    with pytest.raises(KeyboardInterrupt):
        download_uci_har(url="https://example.invalid/uci.zip", progress=False)
    assert no_data_files(cache_dir)


@pytest.mark.parametrize("content", ["html", "incomplete-dataset"])
def test_bad_download_content_keeps_nothing(
    uci_folder: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    if content == "html":
        body = b"<html>Service unavailable</html>"
        message = "not a readable zip archive"
    else:
        shutil.rmtree(uci_folder / "test")
        body = zip_uci_har(uci_folder, tmp_path / "partial.zip").read_bytes()
        message = "missing file\\(s\\): test/Inertial Signals/total_acc_x_test.txt"
    serve(monkeypatch, body)
    with pytest.raises(DataError, match=message):
        download_uci_har(url="https://example.invalid/uci.zip", progress=False)
    assert no_data_files(cache_dir)


def test_replaced_download_is_atomic(uci_nested_zip: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = uci_nested_zip.read_bytes()
    serve(monkeypatch, good)
    path = download_uci_har(url="https://example.invalid/uci.zip", progress=False)
    serve(monkeypatch, good, fail=ConnectionResetError("reset"), fail_after=1000)
    with pytest.raises(DataError):
        download_uci_har(url="https://example.invalid/uci.zip", progress=False, force=True)
    assert path.read_bytes() == good  # the earlier complete copy is untouched
    assert sorted(os.listdir(cache_dir)) == ["uci_har.zip"]
