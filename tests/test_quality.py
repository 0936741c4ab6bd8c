"""The data-quality check of recordings (harcnn.data.quality): what it finds, what it leaves out, and how the
reader, the folder loader, predict and the command line use it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_UCI_ZIP

from harcnn.cli import main
from harcnn.core.errors import DataError
from harcnn.data.quality import assess, gravity_seconds
from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.sources import load_dataset

RATE = 50.0
HEADER = ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "label"]
PLAN = (("walking", 40), ("standing", 20), ("walking", 180), ("sitting", 30), ("walking", 30))  # 5 minutes
SHARED_HAPT = SHARED_UCI_ZIP.parents[1] / "hapt" / "HAPT_RawData_train_subjects.zip"


def wrist(seconds_plan=PLAN, *, seed: int = 0, rate: float = RATE):
    """A wrist recording (acc in g, gyro in rad/s, a label per sample): walking with a 2 Hz gait, standing
    and sitting still but breathing, with sensor noise."""
    rng = np.random.default_rng(seed)
    n = int(sum(d for _, d in seconds_plan) * rate)
    t = np.arange(n) / rate
    labels = np.concatenate([[name] * int(d * rate) for name, d in seconds_plan])
    down = {"walking": (0.2, -0.97, 0.1), "standing": (0.15, -0.98, 0.12), "sitting": (0.7, -0.2, 0.68)}
    acc = np.array([down[a] for a in labels]) + 0.01 * rng.standard_normal((n, 3))
    gyro = 0.03 * rng.standard_normal((n, 3))
    walking = labels == "walking"
    phase = 2 * np.pi * 2.0 * t[walking]
    acc[walking] += np.column_stack([0.3 * np.sin(phase), 0.4 * np.sin(phase + 1), 0.15 * np.sin(phase / 2)])
    gyro[walking] += np.column_stack([1.2 * np.sin(phase / 2), 0.5 * np.cos(phase), 0.3 * np.sin(phase)])
    acc[~walking] += 0.005 * np.sin(2 * np.pi * 0.25 * t[~walking])[:, None]  # breathing
    return t, acc, gyro, labels


def loose(acc: np.ndarray, t: np.ndarray, start: float, end: float, seed: int = 1) -> np.ndarray:
    """The acceleration with a loose or saturated sensor from ``start`` to ``end`` s: magnitudes of 2-9 g."""
    rng = np.random.default_rng(seed)
    out = acc.copy()
    bad = (t >= start) & (t < end)
    out[bad] *= (rng.uniform(2.0, 9.0, bad.sum()) / np.linalg.norm(acc[bad], axis=1))[:, None]
    return out


def write(path: Path, t, acc, gyro, labels, header=HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in zip(t, *acc.T, *gyro.T, labels):
            writer.writerow([f"{row[0]:.3f}", *(f"{v:.5f}" for v in row[1:7]), row[7]])
    return path


@pytest.fixture
def damaged(tmp_path):
    """The issue's recording: 5 minutes at the wrist in g (no unit in the header), 60-240 s reading 2-9 g."""
    t, acc, gyro, labels = wrist()
    return write(tmp_path / "wrist" / "alice" / "wrist.csv", t, loose(acc, t, 60.0, 240.0), gyro, labels)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- the reader


def test_a_loose_sensor_stretch_neither_blocks_reading_nor_fools_the_unit(damaged):
    rec = load_recording(damaged)  # main: "median magnitude 3.12 ...: neither about 1 (g) nor about 9.8"
    assert any("median magnitude 3." in n and "average about 1 g" in n and "-> g" in n for n in rec.notes), rec.notes
    np.testing.assert_allclose(np.median(np.linalg.norm(rec.sensors["acc"][:2900], axis=1)), 1.0, atol=0.05)
    given = load_recording(damaged, acc_units="g")  # main: "pass check_units=False"
    np.testing.assert_array_equal(given.sensors["acc"], rec.sensors["acc"])
    (suspect,) = rec.quality.suspects
    assert (suspect.reason, suspect.start, suspect.end) == ("implausible", 60.0, 240.0)
    assert "acc magnitude averages" in suspect.detail


def test_the_suspect_stretch_is_left_out_of_the_windows_as_a_gap(damaged):
    rec = load_recording(damaged)
    cut = recording_to_windows(rec)
    kept = recording_to_windows(rec, quality="keep")
    assert len(kept.windows) == 233 and len(cut.windows) == 90  # 0-60 s: 45 windows, 240-300 s: 45
    assert cut.n_excluded == 143 and not ((cut.start_times < 240) & (cut.end_times > 60)).any()
    assert any("143 window(s) left out (--quality keep keeps them): 60.0-240.0 s implausible acceleration" in n
               for n in cut.notes), cut.notes
    assert any(n.startswith("quality: kept (--quality keep): 60.0-240.0 s") for n in kept.notes)
    # the filters start afresh after the stretch: the first window after it is the recording's from there
    after = recording_to_windows(Recording(rec.timestamps[12000:], {k: v[12000:] for k, v in rec.sensors.items()}))
    np.testing.assert_allclose(cut.windows[45], after.windows[0], atol=1e-6)


def test_a_stated_unit_that_the_data_contradicts_is_still_refused(tmp_path):
    t, acc, gyro, labels = wrist()
    path = write(tmp_path / "ms2.csv", t, acc * 9.80665, gyro, labels)
    with pytest.raises(DataError, match=r"--acc-units given g, but no second averages about 1 g .*the file is in m/s2; "
                                        r"pass --acc-units m/s2"):
        load_recording(path, acc_units="g")
    assert load_recording(path).quality.suspects == ()  # detected as m/s^2, and then healthy


def test_linear_acceleration_with_a_stated_unit_is_left_out_and_then_refused(tmp_path):
    t, acc, gyro, labels = wrist((("walking", 30),))
    path = write(tmp_path / "linear.csv", t, acc - acc.mean(axis=0), gyro, labels,
                 ["time", "acc_x (g)", "acc_y (g)", "acc_z (g)", "gyro_x", "gyro_y", "gyro_z", "label"])
    rec = load_recording(path)
    assert [s.reason for s in rec.quality.suspects] == ["implausible"]
    cut = recording_to_windows(rec)
    assert len(cut.windows) == 0 and cut.n_excluded == 22


# --------------------------------------------------------------------------- the rules


def _assess(t, acc, gyro=None):
    return assess([("rec.csv", t, {"acc": acc} if gyro is None else {"acc": acc, "gyro": gyro})], 0.5)


def test_clipping_at_the_range_is_excluded_and_short_peaks_are_kept():
    t, acc, gyro, _ = wrist((("walking", 60),))
    acc[:, 0] += 2.0 * np.sin(2 * np.pi * t)  # a vigorous arm swing: peaks above the 2 g range
    clipped = acc.copy()
    clipped[:, 0] = np.clip(clipped[:, 0], -2.0, 2.0)
    peaks = _assess(t, clipped)
    assert peaks.suspects == () and any("acc x touches 2 g (its range?) in" in n and "kept" in n for n in peaks.notes)
    pinned = clipped.copy()
    pinned[(t >= 20) & (t < 30), 0] = 2.0  # saturated for 10 s
    report = _assess(t, pinned)
    (suspect,) = report.suspects
    assert any("touches 2 g (its range?)" in n for n in report.notes)  # the peaks elsewhere
    assert (suspect.reason, suspect.start, suspect.end, suspect.detail) == ("clipped", 20.0, 30.0,
                                                                            "acc x pinned at 2 g")


def test_a_stuck_sensor_is_flat_and_a_person_sitting_still_is_not():
    t, acc, gyro, _ = wrist((("sitting", 60), ("walking", 30)))
    assert _assess(t, acc, gyro).suspects == ()  # sitting still: the readings move by their noise
    quantized = np.round(gyro, 1)  # a still device may read its rotation as exactly 0 ...
    assert _assess(t, acc, quantized).suspects == ()
    stuck = gyro.copy()
    stuck[(t >= 65) & (t < 85)] = 0.0  # ... but not while walking: a dead gyroscope
    (suspect,) = _assess(t, acc, stuck).suspects
    assert suspect.reason == "flat" and suspect.detail == "gyro stays at exactly (0, 0, 0)"
    assert (suspect.start, suspect.end) == pytest.approx((65.0, 85.0))
    recording = Recording(t, {"acc": acc, "gyro": stuck}, quality=_assess(t, acc, stuck))
    assert recording_to_windows(recording).n_excluded == 18
    assert recording_to_windows(recording.select("acc")).n_excluded == 0  # a model of the accelerometer only
    frozen = acc.copy()
    frozen[(t >= 10) & (t < 14)] = frozen[500]  # the accelerometer repeating one sample for 4 s
    (suspect,) = _assess(t, frozen).suspects
    assert suspect.reason == "flat" and (suspect.start, suspect.end) == pytest.approx((10.0, 14.0))


def test_gaps_jitter_and_sparse_stretches():
    t, acc, _, _ = wrist((("walking", 60),))
    rng = np.random.default_rng(3)
    jittered = t + rng.uniform(-0.3, 0.3, t.size) / RATE
    report = _assess(jittered, acc)
    assert report.suspects == () and any("irregular sampling" in n for n in report.notes)
    keep = np.ones(t.size, dtype=bool)
    keep[1000:1100] = False  # a 2 s gap
    throttled = (t >= 40) & (t < 50)
    keep[throttled] = (np.arange(t.size) % 10 == 0)[throttled]  # 5 Hz for 10 s: an app throttled
    report = _assess(t[keep], acc[keep])
    assert any("1 gap(s) longer than 0.5 s (longest 2.02 s at 20.0 s)" in n for n in report.notes), report.notes
    (suspect,) = report.suspects
    assert suspect.reason == "sparse" and (suspect.start, suspect.end) == (40.0, 50.0)


def test_gravity_seconds_tell_the_unit_on_the_plausible_part():
    t, acc, _, _ = wrist()
    norm = np.linalg.norm(loose(acc, t, 60.0, 240.0), axis=1)
    assert gravity_seconds(t, norm, 1.0) == 120 and gravity_seconds(t, norm, 1 / 9.80665) == 0


@pytest.mark.skipif(not SHARED_HAPT.is_file(), reason="the shared HAPT recordings are not here")
def test_healthy_real_recordings_are_left_whole(tmp_path):
    """HAPT's 42 recordings of 21 people: nothing suspect (one reaches its sensors' ranges in short peaks)."""
    from harcnn.data.hapt import hapt_recordings

    recordings = hapt_recordings(SHARED_HAPT, cache_dir=tmp_path, download=False, progress=False)
    reports = [assess([(r.name, np.arange(len(r.acc)) / RATE, {"acc": r.acc, "gyro": r.gyro})], 0.5)
               for r in recordings]
    assert len(reports) == 42 and all(r.suspects == () for r in reports)
    assert sum(bool(r.notes) for r in reports) == 1  # exp12_user06 touches 2 g and 10 rad/s in 11 and 17 samples


# --------------------------------------------------------------------------- the command line


def test_every_command_uses_the_good_part_and_says_what_it_left_out(capsys, tmp_path, damaged):
    folder = damaged.parents[1]
    t, acc, gyro, labels = wrist(seed=5)
    write(folder / "bob" / "wrist.csv", t, acc, gyro, labels)
    code, out, err = run(capsys, "data", "info", "--data", folder)
    assert code == 0, err
    assert ("quality: alice/wrist: 143 window(s) left out: 60.0-240.0 s implausible acceleration: acc magnitude "
            "averages") in out
    assert ("warning: quality check: left out 143 window(s) in 1 of 2 recording(s) (alice/wrist 60.0-240.0 s "
            "implausible); --quality keep keeps them") in err
    excluded, kept = load_dataset(folder), load_dataset(folder, quality="keep")
    assert len(kept) > len(excluded) and kept.fingerprint != excluded.fingerprint
    assert excluded.identity()["options"] == {"quality": "exclude"}

    code, out, err = run(capsys, "train", "--data", folder, "--epochs", "1", "--save", tmp_path / "m", "--quiet")
    assert code == 0 and "left out 143 window(s)" in err, err
    assert json.loads((tmp_path / "m" / "config.json").read_text())["training"]["data"]["options"] == \
        {"quality": "exclude"}
    code, out, err = run(capsys, "predict", tmp_path / "m", damaged, "--out", tmp_path / "alice.json", "--no-plot")
    assert code == 0, err
    assert ("Left out by the quality check (a gap in the timeline; --quality keep predicts them): 60-240 s "
            "implausible") in out
    written = json.loads((tmp_path / "alice.json").read_text())
    assert written["n_windows"] == 90 and written["excluded"][0]["reason"] == "implausible"
    code, out, err = run(capsys, "predict", tmp_path / "m", damaged, "--out", tmp_path / "keep.json", "--no-plot",
                         "--quality", "keep")
    assert code == 0 and json.loads((tmp_path / "keep.json").read_text())["n_windows"] == 233, err


def test_refused_only_when_nothing_usable_is_left(capsys, tmp_path):
    t, acc, gyro, labels = wrist((("walking", 30), ("sitting", 30)))
    path = write(tmp_path / "broken" / "rec.csv", t, loose(acc, t, 0.0, 60.0), gyro, labels)
    code, _, err = run(capsys, "data", "info", "--data", path.parent, "--acc-units", "g")
    assert code == 2 and "Traceback" not in err
    assert err.startswith("harcnn: error: ") and "nothing usable left: quality check: left out 45 window(s)" in err
    assert "--quality keep keeps them" in err
    code, out, err = run(capsys, "data", "info", "--data", path.parent, "--acc-units", "g", "--quality", "keep")
    assert code == 0 and "quality: rec: kept (--quality keep): 0.0-60.0 s implausible" in out, err
