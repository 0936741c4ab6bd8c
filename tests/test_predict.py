"""harcnn predict: windows, UCI folders and CSV recordings -> per-window table, segments, timeline."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import make_uci_har_tree, train_on

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.data import load_uci_har
from harcnn.data.sources import input_kind
from harcnn.reports.plots import timeline_plot
from harcnn.serving.artifact import load_model
from harcnn.serving.prediction import Prediction

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HEADER = ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def synthetic_recording(seconds: float = 60.0, rate: float = 100.0, seed: int = 0):
    """Upright and still, then walking (2 Hz bounce + sway), then lying down: (t, acc in g, gyro in rad/s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    acc = np.tile([1.0, 0.0, 0.0], (len(t), 1))
    walk = (t >= seconds / 3) & (t < 2 * seconds / 3)
    acc[walk, 0] += 0.3 * np.sin(2 * np.pi * 2.0 * t[walk])
    acc[walk, 2] += 0.1 * np.sin(2 * np.pi * 1.0 * t[walk])
    acc[t >= 2 * seconds / 3] = [0.05, 0.1, 0.99]
    acc += 0.01 * rng.standard_normal(acc.shape)
    gyro = 0.02 * rng.standard_normal((len(t), 3))
    gyro[walk, 1] += 0.6 * np.sin(2 * np.pi * 2.0 * t[walk])
    return t, acc, gyro


def write_recording(path, t, acc, gyro, header=HEADER):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in zip(t, *acc.T, *gyro.T):
            writer.writerow([f"{v:.6g}" if not isinstance(v, str) else v for v in row])
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    folder = make_uci_har_tree(root, n_train=24, n_test=12, seed=5)
    return folder, load_uci_har(folder, cache_dir=root / "cache", progress=False)


@pytest.fixture(scope="module")
def model_dir(tiny, tmp_path_factory):
    _, dataset = tiny
    trained = train_on(dataset, {"filters": 4, "dense_units": 8, "epochs": 1, "standardize": True}, repeats=2, seed=1)
    return trained.save(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="module")
def recording_csv(tmp_path_factory):
    return write_recording(tmp_path_factory.mktemp("rec") / "walk.csv", *synthetic_recording())


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_predict_npy_windows(capsys, model_dir, tiny, tmp_path):
    _, dataset = tiny
    np.save(tmp_path / "w.npy", dataset.test.X)
    out = tmp_path / "pred.csv"
    code, printed, err = run(capsys, "predict", model_dir, tmp_path / "w.npy", "--out", out)
    assert code == 0, err
    rows = read_csv(out)
    assert len(rows) == len(dataset.test) and rows[0]["window"] == "0"
    assert list(rows[0])[:3] == ["window", "activity", "confidence"]
    probs = np.array([[float(r[f"p_{c}"]) for c in dataset.class_names] for r in rows])
    expected = load_model(model_dir).predict_proba(dataset.test.X)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert [r["activity"] for r in rows] == [dataset.class_names[k] for k in expected.argmax(1)]
    segments = read_csv(tmp_path / "pred_segments.csv")
    assert sum(int(s["n_windows"]) for s in segments) == len(rows)
    assert (tmp_path / "pred_timeline.png").read_bytes()[:8] == PNG_MAGIC
    assert f"{len(rows)} windows from w.npy" in printed


def test_predict_npz_with_labels_to_json(capsys, model_dir, tiny, tmp_path):
    _, dataset = tiny
    np.savez(tmp_path / "w.npz", X=dataset.test.X, y=dataset.test.y)
    out = tmp_path / "pred.json"
    code, printed, err = run(capsys, "predict", model_dir, tmp_path / "w.npz", "--out", out, "--no-plot")
    assert code == 0, err
    doc = json.loads(out.read_text())
    accuracy = load_model(model_dir).scores["test_accuracy"]
    assert doc["n_windows"] == len(dataset.test) and doc["accuracy"] == pytest.approx(accuracy)
    assert set(doc["windows"][0]["probabilities"]) == set(dataset.class_names)
    assert "segments" in json.loads((tmp_path / "pred_segments.json").read_text())
    assert not (tmp_path / "pred_timeline.png").exists()
    assert "Accuracy against the labels" in printed


def test_predict_uci_folder_reproduces_recorded_accuracy(capsys, model_dir, tiny, tmp_path):
    folder, dataset = tiny
    recorded = load_model(model_dir).scores["test_accuracy"]
    out = tmp_path / "uci.csv"
    code, printed, err = run(capsys, "predict", model_dir, folder, "--out", out, "--plot", tmp_path / "uci.png")
    assert code == 0, err
    rows = read_csv(out)
    assert len(rows) == len(dataset.test) and {"subject", "true_activity"} <= set(rows[0])
    assert np.mean([r["activity"] == r["true_activity"] for r in rows]) == recorded
    assert f"{100 * recorded:.2f}%" in printed
    assert (tmp_path / "uci.png").read_bytes()[:8] == PNG_MAGIC
    assert "(test split)" in printed


def test_predict_csv_recording(capsys, model_dir, recording_csv, tmp_path):
    out = tmp_path / "walk.csv"
    code, printed, err = run(capsys, "predict", model_dir, recording_csv, "--out", out)
    assert code == 0, err
    rows = read_csv(out)
    assert len(rows) == (6000 // 2 - 128) // 64 + 1  # 60 s at 100 Hz -> 3000 samples at 50 Hz
    assert float(rows[1]["start_s"]) == pytest.approx(1.28) and float(rows[0]["end_s"]) == pytest.approx(2.56)
    segments = read_csv(tmp_path / "walk_segments.csv")
    assert float(segments[0]["start_s"]) == 0.0
    assert float(segments[-1]["end_s"]) == pytest.approx(float(rows[-1]["end_s"]))
    for a, b in zip(segments[:-1], segments[1:]):  # segments tile the recording
        assert float(a["end_s"]) == pytest.approx(float(b["start_s"]))
    total = sum(float(s["duration_s"]) for s in segments)
    assert total == pytest.approx(float(rows[-1]["end_s"]))
    assert (tmp_path / "walk_timeline.png").read_bytes()[:8] == PNG_MAGIC
    assert "covering" in printed and " s " in printed


def test_recording_in_m_per_s2_and_ms(capsys, model_dir, tmp_path):
    t, acc, gyro = synthetic_recording(seconds=12, rate=50)
    write_recording(tmp_path / "r.csv", t * 1000, acc * 9.80665, gyro, header=["ts", *HEADER[1:]])
    code, _, err = run(capsys, "predict", model_dir, tmp_path / "r.csv", "--acc-units", "m/s2", "--time-unit", "ms",
                       "--out", tmp_path / "given.json", "--no-plot")
    assert code == 0, err
    code, out, err = run(capsys, "predict", model_dir, tmp_path / "r.csv", "--out", tmp_path / "detected.json",
                         "--no-plot")  # the units detected, and said
    assert code == 0, err
    assert "m/s^2" in out and " ms" in out
    given, detected = (json.loads((tmp_path / f"{n}.json").read_text())["windows"] for n in ("given", "detected"))
    assert [w["activity"] for w in given] == [w["activity"] for w in detected]
    code, _, err = run(capsys, "predict", model_dir, tmp_path / "r.csv", "--acc-units", "g", "--out",
                       tmp_path / "wrong.json", "--no-plot")
    assert code == 2 and "m/s" in err  # the wrong unit given: the loader notices ~9.8 g


def _bad_csvs(tmp_path):
    t, acc, gyro = synthetic_recording(seconds=10, rate=50)
    cases = {}
    cases["missing"] = write_recording(tmp_path / "missing.csv", t, acc, gyro[:, :2],
                                       header=HEADER[:-1])
    unsorted = t.copy()
    unsorted[[10, 11]] = unsorted[[11, 10]]
    cases["unsorted"] = write_recording(tmp_path / "unsorted.csv", unsorted, acc, gyro)
    dup = t.copy()
    dup[20] = dup[19]
    cases["duplicate"] = write_recording(tmp_path / "dup.csv", dup, acc, gyro)
    nan = acc.copy()
    nan[30, 1] = np.nan
    cases["nan"] = write_recording(tmp_path / "nan.csv", t, nan, gyro)
    cases["short"] = write_recording(tmp_path / "short.csv", t[:100], acc[:100], gyro[:100])
    (tmp_path / "empty.csv").write_text("")
    cases["empty"] = tmp_path / "empty.csv"
    return cases


@pytest.mark.parametrize("case,message", [
    ("missing", "missing column(s) gyro_z"),
    ("unsorted", "not sorted"),
    ("duplicate", "duplicate timestamp"),
    ("nan", "NaN"),
    ("short", "too short"),
    ("empty", "empty"),
])
def test_bad_csv_is_a_one_line_cli_error(capsys, model_dir, tmp_path, case, message):
    path = _bad_csvs(tmp_path)[case]
    code, _, err = run(capsys, "predict", model_dir, path, "--out", tmp_path / "o.csv")
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("name,content,message", [
    ("w.npy", np.zeros((4, 64, 9), np.float32), "[n, 128, 9]"),
    ("w.npy", np.full((4, 128, 9), np.nan, np.float32), "NaN"),
    ("w.npy", np.zeros((128, 9), np.float32), "expected windows"),
    ("w.npz", None, "expected an array named"),
    ("w.xyz", None, "unknown input type"),
])
def test_bad_window_inputs(capsys, model_dir, tmp_path, name, content, message):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, content)
    elif name.endswith(".npz"):
        np.savez(path, a=np.zeros(3), b=np.zeros(3))
    else:
        path.write_text("?")
    code, _, err = run(capsys, "predict", model_dir, path, "--out", tmp_path / "o.csv")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_bad_output_extension(capsys, model_dir, recording_csv, tmp_path):
    code, _, err = run(capsys, "predict", model_dir, recording_csv, "--out", tmp_path / "o.txt")
    assert code == 2 and ".csv or .json" in err


def test_segments_merge_runs_and_respect_gaps(tmp_path):
    classes = ("A", "B")
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.7, 0.3]])
    start = np.array([0.0, 1.28, 2.56, 3.84, 20.0])  # a gap before the last window
    pred = Prediction(p, classes, "x.csv", "recording", 1.28, start_times=start, end_times=start + 2.56)
    segs = pred.segments()
    assert [(s.activity, s.first_window, s.last_window) for s in segs] == [("A", 0, 1), ("B", 2, 2), ("A", 3, 3),
                                                                          ("A", 4, 4)]
    assert segs[0].start == 0.0 and segs[0].end == pytest.approx(3.2)  # midway between window centres 2.56, 3.84
    assert segs[1].start == pytest.approx(segs[0].end) and segs[2].end == pytest.approx(3.84 + 2.56)
    assert (segs[3].start, segs[3].end) == (20.0, 22.56)
    assert segs[0].mean_confidence == pytest.approx(0.85)
    totals = pred.time_per_activity()
    assert totals["A"] + totals["B"] == pytest.approx(6.4 + 2.56)
    timeline_plot(pred, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG_MAGIC


def test_windows_segments_break_at_subjects():
    p = np.array([[0.9, 0.1]] * 4)
    pred = Prediction(p, ("A", "B"), "w", "dataset", 1.28, subjects=np.array([1, 1, 2, 2]))
    assert [(s.first_window, s.last_window, s.subject) for s in pred.segments()] == [(0, 1, "1"), (2, 3, "2")]


def test_input_kind(tmp_path):
    with pytest.raises(HarcnnError, match="no such file"):
        input_kind(tmp_path / "nope.csv")
    (tmp_path / "a.csv.gz").write_bytes(b"")
    assert input_kind(tmp_path / "a.csv.gz") == "recording" and input_kind(tmp_path) == "dataset"
