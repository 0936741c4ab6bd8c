"""Datasets of every source kind: a folder of labelled recordings (the example folder, segments tables,
label columns, subjects, sensors, rates), a .npz of windows; detection; every command on them."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import numpy as np
import pytest

from harcnn.cli import main
from harcnn.core.errors import DataError
from harcnn.data import load_dataset
from harcnn.data.example import write_example_recordings
from harcnn.data.npz import load_windows
from harcnn.data.options import data_options
from harcnn.data.recording_folder import load_recordings


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return write_example_recordings(tmp_path_factory.mktemp("example") / "my_recordings", people=3,
                                    recordings_per_person=2)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -------------------------------------------------------------------------------------------- recordings


def test_the_example_folder_is_detected_and_windowed(example):
    data = load_dataset(example)
    assert data.name == "recordings" and data.split is None
    assert data.class_names == ("lying", "sitting", "standing", "walking")
    assert sorted(set(data.subject.tolist())) == ["person1", "person2", "person3"]
    assert data.spec.sampling_rate == 50.0 and data.spec.window == 128 and data.spec.step == 64
    assert data.spec.channels[:3] == ("total_acc_x", "total_acc_y", "total_acc_z") and len(data.spec.channels) == 9
    assert data.spec.preprocessing["sensors"] == ["acc", "gyro"]
    assert set(data.recording.tolist()) == {f"person{p}/rec{r}" for p in (1, 2, 3) for r in (1, 2)}
    assert np.all(np.abs(data.X[:, :, :3]).max(axis=(1, 2)) < 3)  # in g (one recording per person is in m/s^2)
    segments = _rows(example / "labels.csv")
    # windows lie inside one labelled segment of their recording, with the segment's label
    for i in np.random.default_rng(0).choice(len(data), 40, replace=False):
        start, end = data.start[i], data.start[i] + 2.56
        inside = [s for s in segments if s["recording"] == data.recording[i]
                  and float(s["start"]) - 0.03 <= start and end <= float(s["end"]) + 0.03]
        assert [s["label"] for s in inside] == [data.class_names[data.y[i]]], (i, start)
    assert any("subjects: the first folder" in note for note in data.notes)


def test_options_rate_window_sensors_and_policy(example):
    pure = load_recordings(example, data_options(sampling_rate=20, window_seconds=3.2, step_seconds=0.8, sensors="acc"))
    assert pure.spec.sampling_rate == 20 and pure.spec.window == 64 and pure.spec.step == 16
    assert pure.spec.channels == ("total_acc_x", "total_acc_y", "total_acc_z", "body_acc_x", "body_acc_y",
                                  "body_acc_z") and pure.X.shape[1:] == (64, 6)
    fast = load_recordings(example, data_options(sampling_rate=100))
    assert fast.spec.window == 256 and fast.X.shape[2] == 9
    majority = load_recordings(example, data_options(label_policy="majority"))
    assert len(majority) > len(load_recordings(example))  # windows across a label change are kept
    with pytest.raises(DataError, match="sensor.s. mag are not in every recording"):
        load_recordings(example, data_options(sensors="acc,mag"))


def test_label_columns_subject_tables_patterns_and_sample_units(tmp_path, example):
    folder = tmp_path / "flat"
    folder.mkdir()
    t = np.arange(3000) / 50.0
    rng = np.random.default_rng(1)
    for name in ("alice_walk", "alice_rest", "bob_walk"):
        walking = "walk" in name
        acc = np.tile([1.0, 0.0, 0.0], (len(t), 1)) + 0.01 * rng.standard_normal((len(t), 3))
        if walking:
            acc[:, 0] += 0.3 * np.sin(2 * np.pi * 2 * t)
        labels = np.where(t < 5, "", np.where(t < 40, "walking" if walking else "resting", "standing"))
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["t", "ax", "ay", "az", "activity"])
            writer.writerows(zip(t.round(3), *acc.T.round(5), labels))
    by_pattern = load_recordings(folder, data_options(subjects="^(alice|bob)_"))
    assert sorted(set(by_pattern.subject.tolist())) == ["alice", "bob"]
    assert by_pattern.class_names == ("resting", "standing", "walking") and by_pattern.X.shape[2] == 6
    assert by_pattern.start.min() >= 5.0  # the unlabelled first 5 s give no window
    (folder / "subjects.csv").write_text("recording,subject\nalice_walk,1\nalice_rest,1\nbob_walk,2\n")
    assert sorted(set(load_recordings(folder).subject.tolist())) == ["1", "2"]
    (folder / "subjects.csv").unlink()
    lonely = load_recordings(folder)
    assert len(set(lonely.subject.tolist())) == 3 and any("leak" in note for note in lonely.notes)
    # a segments table in samples replaces the label column
    (folder / "labels.csv").write_text("recording,start,end,label\nalice_walk,500,1500,a\nbob_walk,0,3000,b\n"
                                       "alice_rest,100,2000,b\n")
    data = load_recordings(folder, data_options(labels_unit="samples"))
    first = data.start[data.recording == "alice_walk"].min()  # windows on the recording's grid, inside sample 500..
    assert data.class_names == ("a", "b") and 10.0 <= first < 10.0 + 1.28


@pytest.mark.parametrize("table,message", [
    ("recording,start,end,label\nnobody,0,10,walking\n", r"labels.csv: recording\(s\) 'nobody' are not in"),
    ("recording,start,end,label\nperson1/rec1,10,5,walking\n", r"labels.csv, line 2: end 5 s is not after start 10"),
    ("recording,begin,end,label\nperson1/rec1,0,5,walking\n", r"labels.csv: no start column"),
    ("recording,start,end,label\nperson1/rec1,0,5,walking\nperson1/rec1,4,8,sitting\n",
     r"labels.csv, line 3: segment 4-8 s overlaps the segment of recording 'person1/rec1' on line 2"),
    ("recording,start,end,label\nperson1/rec1,x,5,walking\n", r"labels.csv.*line 2.*not a number"),
    ("recording,start,end,label\nperson1/rec1,9000,9100,walking\n", r"lies outside recording"),
])
def test_bad_segment_tables_are_clear_errors(tmp_path, example, table, message):
    folder = shutil.copytree(example, tmp_path / "copy")
    (folder / "labels.csv").write_text(table)
    with pytest.raises(DataError, match=message):
        load_recordings(folder)


def test_a_segment_running_past_the_end_of_its_recording_labels_up_to_the_end(tmp_path, example):
    folder = shutil.copytree(example, tmp_path / "copy")
    rows = _rows(example / "labels.csv")
    last = max((r for r in rows if r["recording"] == "person1/rec1"), key=lambda r: float(r["start"]))
    last["end"] = "99999"  # far past the recording's last sample
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["recording", "start", "end", "label"])
        writer.writeheader()
        writer.writerows(rows)
    before, after = load_recordings(example), load_recordings(folder)
    mine = after.recording == "person1/rec1"
    tail = mine & (after.start >= float(last["start"]))
    assert tail.any() and {after.class_names[c] for c in after.y[tail]} == {last["label"]}
    assert after.start[mine].max() >= before.start[before.recording == "person1/rec1"].max()
    others = after.recording != "person1/rec1"
    np.testing.assert_array_equal(after.X[others], before.X[before.recording != "person1/rec1"])


def test_a_zip_of_the_folder_reads_the_same(tmp_path, example):
    archive = tmp_path / "recordings.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(example.rglob("*")):
            z.write(path, (example.name / path.relative_to(example)).as_posix())
    from_zip, from_folder = load_dataset(archive), load_dataset(example)
    assert from_zip.name == "recordings" and from_zip.fingerprint == from_folder.fingerprint
    assert from_zip.source == str(archive)


def test_one_labels_table_reader_for_training_and_scoring(tmp_path, example):
    """A segments table with ';' and decimal commas (a European spreadsheet's CSV) reads the same for
    the training folder and for predict --labels."""
    from harcnn.data.labels import read_labels_table

    folder = shutil.copytree(example, tmp_path / "copy")
    rows = _rows(example / "labels.csv")
    (folder / "labels.csv").write_text("recording;start;end;label\n" + "".join(
        f"{r['recording']}.csv;{r['start'].replace('.', ',')};{r['end'].replace('.', ',')};{r['label']}\n"
        for r in rows))
    assert load_recordings(folder).fingerprint == load_recordings(example).fingerprint
    truth = read_labels_table(folder / "labels.csv")["person1/rec1"]
    first = next(r for r in rows if r["recording"] == "person1/rec1")
    assert truth.starts[0] == float(first["start"]) and truth.labels[0] == first["label"]


def test_subject_tables_and_sample_units_are_checked(tmp_path, example):
    with pytest.raises(DataError, match="subjects table subjcts.csv: no such file"):
        load_recordings(example, data_options(subjects="subjcts.csv"))
    phone = tmp_path / "phone"
    shutil.copytree(example, phone)
    per_sensor = next(p for p in phone.iterdir() if p.is_dir() and any(q.is_dir() for q in p.iterdir()))
    assert per_sensor  # the example has recordings of one file per sensor
    with pytest.raises(DataError, match="segments in samples count the rows of one file"):
        load_recordings(phone, data_options(labels_unit="samples"))


def test_reading_options_are_data_options(capsys, tmp_path):
    """A folder whose files have a time column in milliseconds and gyroscopes in deg/s, said on the
    command line of any data command."""
    folder = tmp_path / "ms"
    folder.mkdir()
    t = np.arange(3000) / 50.0
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        acc = np.tile([0.0, 0.0, 1.0], (len(t), 1)) + 0.01 * rng.standard_normal((len(t), 3))
        gyro = np.degrees(0.2 * rng.standard_normal((len(t), 3)))
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["stamp", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "label"])
            writer.writerows(zip((t * 1000).round(1), *acc.T.round(5), *gyro.T.round(3),
                                 ["still"] * 1500 + ["moving"] * 1500))
    data = load_dataset(folder, time_column="stamp", time_unit="ms", gyro_units="deg/s")
    assert data.spec.sampling_rate == 50.0 and len(data) > 40
    assert np.abs(data.X[:, :, 6:9]).max() < 2.0  # rad/s, converted from deg/s
    code, out, err = run(capsys, "data", "info", "--data", folder, "--time-column", "stamp", "--time-unit", "ms",
                         "--gyro-units", "deg/s")
    assert code == 0 and "moving" in out, err
    assert data.loaded_with == {"kind": "recordings", "options": {"quality": "exclude"}}  # no reading option


def test_no_labels_is_a_clear_error(tmp_path, example):
    folder = shutil.copytree(example, tmp_path / "copy")
    (folder / "labels.csv").unlink()
    with pytest.raises(DataError, match="has no labels: give a segments table"):
        load_recordings(folder)


# -------------------------------------------------------------------------------------------- windows (.npz)


def test_npz_windows_with_names_strings_and_a_single_channel(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 64, 1)).astype(np.float32)
    y = np.array(["run", "rest"] * 20)
    np.savez(tmp_path / "w.npz", X=X, y=y, subject=np.repeat(np.arange(4), 10), sampling_rate=25.0)
    data = load_dataset(tmp_path / "w.npz")
    assert data.name == "windows" and data.class_names == ("rest", "run") and data.spec.channels == ("channel_0",)
    assert data.spec.step == 32 and any("overlap by half" in n for n in data.notes)
    assert load_windows(tmp_path / "w.npz", data_options(step_seconds=0.64, channel_names="pressure")).spec.step == 16
    np.savez(tmp_path / "norate.npz", X=X, y=np.zeros(40, int))
    with pytest.raises(DataError, match="no sampling rate: add an array 'sampling_rate' or pass --rate"):
        load_dataset(tmp_path / "norate.npz")
    np.savez(tmp_path / "bad.npz", X=X, y=np.zeros(3, int), sampling_rate=25.0)
    with pytest.raises(DataError, match="'y' must hold one value per window"):
        load_dataset(tmp_path / "bad.npz")


def test_options_a_kind_does_not_take_are_refused(example):
    with pytest.raises(DataError, match="recordings data takes no option 'classes'"):
        load_dataset(example, classes="all")


# -------------------------------------------------------------------------------------------- every command


def test_every_command_on_a_folder_of_recordings(capsys, tmp_path, example):
    code, out, err = run(capsys, "data", "info", "--data", example)
    assert code == 0 and "recordings dataset" in out and "person1" in out, err
    fast = ["--epochs", 2, "--filters", 8, "--dense-units", 16, "--quiet", "--workers", 1]
    code, out, err = run(capsys, "evaluate", "--data", example, "--cv", "subjects:3", "--repeats", 1, "--out",
                         tmp_path / "ev", *fast)
    assert code == 0, err
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["protocol"] == "subjects:3" and len(results["per_fold"]) == 3
    assert set(results["per_subject"]) == {"person1", "person2", "person3"}
    code, out, err = run(capsys, "features", "--data", example, "--cv", "loso")
    assert code == 0 and "--cv loso" in out, err
    code, out, err = run(capsys, "study", "custom", "--grid", "kernel_size=3,5", "--data", example, "--cv",
                         "holdout:1", "--repeats", 1, "--out", tmp_path / "studies", *fast)
    assert code == 0, err
    code, out, err = run(capsys, "leaderboard", "--models", "cnn", "--data", example, "--cv", "subjects:3",
                         "--repeats", 1, "--no-latency", "--out", tmp_path / "board", *fast)
    assert code == 0 and "| 1 | cnn |" in out, err
    code, out, err = run(capsys, "train", "--data", example, "--save", tmp_path / "model", "--test", "holdout:1",
                         "--epochs", 2, "--filters", 8, "--dense-units", 16, "--quiet")
    assert code == 0 and "Test accuracy" in out, err
    recording = example / "person1" / "rec2.csv"
    code, out, err = run(capsys, "predict", tmp_path / "model", recording, "--out", tmp_path / "p.csv")
    assert code == 0 and "windows covering" in out, err
    code, out, err = run(capsys, "predict", tmp_path / "model", example / "person1" / "rec1", "--out",
                         tmp_path / "q.csv")  # the per-sensor files of one recording, as a phone app exports them
    assert code == 0 and "windows covering" in out, err
    code, out, err = run(capsys, "export", tmp_path / "model", "--onnx", tmp_path / "m.onnx", "--data", example)
    assert code == 0 and "Accuracy (" in out, err


def test_an_accelerometer_only_20_hz_model_predicts_accelerometer_recordings(capsys, tmp_path, example):
    code, out, err = run(capsys, "train", "--data", example, "--sensors", "acc", "--rate", 20, "--save",
                         tmp_path / "acc", "--epochs", 1, "--filters", 8, "--dense-units", 16, "--quiet")
    assert code == 0, err
    meta = json.loads((tmp_path / "acc" / "config.json").read_text())
    assert meta["input"]["sampling_rate"] == 20 and meta["input"]["preprocessing"]["sensors"] == ["acc"]
    t = np.arange(0, 60, 0.01)  # 100 Hz, accelerometer only
    acc = np.tile([1.0, 0.0, 0.0], (len(t), 1)) + 0.3 * np.sin(2 * np.pi * 2 * t)[:, None] * [1, 0, 0]
    with open(tmp_path / "acc_only.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "acc_x", "acc_y", "acc_z"])
        writer.writerows(zip(t.round(3), *acc.T.round(5)))
    code, out, err = run(capsys, "predict", tmp_path / "acc", tmp_path / "acc_only.csv", "--out", tmp_path / "a.csv")
    assert code == 0, err
    rows = _rows(tmp_path / "a.csv")
    assert float(rows[1]["start_s"]) - float(rows[0]["start_s"]) == pytest.approx(1.25)  # 25 samples at 20 Hz
    # a model that reads the gyroscope says so when a recording has none
    code, _, _ = run(capsys, "train", "--data", example, "--save", tmp_path / "both", "--epochs", 1, "--filters", 8,
                     "--dense-units", 16, "--quiet")
    code, out, err = run(capsys, "predict", tmp_path / "both", tmp_path / "acc_only.csv", "--out", tmp_path / "b.csv")
    assert code == 2 and "has no gyro data, which this model needs" in err and len(err.strip().splitlines()) == 1
    # predicting (and exporting with) a dataset loads it as the model's training data was: 20 Hz, acc only
    code, out, err = run(capsys, "predict", tmp_path / "acc", example, "--out", tmp_path / "d.csv", "--no-plot")
    assert code == 0 and "accuracy" in out.lower(), err
    code, out, err = run(capsys, "export", tmp_path / "acc", "--onnx", tmp_path / "acc.onnx", "--data", example)
    assert code == 0 and "Accuracy (" in out, err


def test_a_dataset_with_fewer_classes_is_renumbered_and_other_windows_are_refused(tmp_path, example):
    from harcnn.data.dataset import InputSpec
    from harcnn.serving.artifact import load_model
    from harcnn.serving.predict import load_like_training

    assert main(["train", "--data", str(example), "--save", str(tmp_path / "m"), "--epochs", "1", "--filters", "4",
                 "--dense-units", "8", "--quiet"]) == 0
    model = load_model(tmp_path / "m")
    fewer = shutil.copytree(example, tmp_path / "fewer")
    rows = [r for r in _rows(example / "labels.csv") if r["label"] in ("sitting", "walking")]
    (fewer / "labels.csv").write_text("recording,start,end,label\n" + "".join(
        f"{r['recording']},{r['start']},{r['end']},{r['label']}\n" for r in rows))
    data = load_like_training(model, fewer)
    assert data.class_names == model.class_names and set(data.y.tolist()) == {1, 3}
    spec = model.spec
    drift = dict(spec.preprocessing, gyro_drift_cutoff_hz=0.1)  # as UCI HAR's windows were made
    other = InputSpec(spec.sampling_rate, spec.window, spec.step, spec.channels, spec.units, spec.classes, drift)
    assert spec.differences(other) == ["preprocessing gyro_drift_cutoff_hz 0.1 (not None)"]
    assert spec.differences(InputSpec(25.0, spec.window, 32, spec.channels, spec.units, spec.classes,
                                      spec.preprocessing)) == ["sampling rate 25.0 (not 50.0)"]


def test_bad_configurations_stop_before_any_training(capsys, example):
    for argv, message in [
        (["--early-stopping", "3"], "early_stopping=3 watches validation subjects"),
        (["--validation-subjects", "3"], "hold out 3 of the 2 training subjects"),
    ]:
        code, out, err = run(capsys, "evaluate", "--data", example, "--cv", "subjects:3", "--repeats", 1, *argv)
        assert code == 2 and message in err and "Trained" not in out, err
    windows = load_dataset(example)
    npz = example.parent / "unnamed.npz"
    np.savez(npz, X=windows.X, y=windows.y, subject=windows.subject, sampling_rate=50.0)
    code, out, err = run(capsys, "evaluate", "--data", npz, "--augment-rotate", 30, "--repeats", 1, "--cv", "loso")
    assert code == 2 and "augment_rotate turns 3-axis vectors" in err, err


# -------------------------------------------------------------------------------------------- clear refusals


@pytest.mark.parametrize("y, message", [
    (np.zeros(0, np.int64), r"empty.npz: 'X' holds no windows \(shape \[0, 64, 3\]\)"),
    (np.linspace(0.1, 2.7, 10), r"empty.npz: labels 'y' hold 10 values that are not whole numbers \(e.g. 0.1, 0.3889, "
                                r"0.6778\): a measurement, not classes"),
])
def test_npz_without_windows_or_with_continuous_labels_is_refused(capsys, tmp_path, y, message):
    X = np.zeros((len(y), 64, 3), np.float32)
    np.savez(tmp_path / "empty.npz", X=X, y=y, sampling_rate=50.0)
    with pytest.raises(DataError, match=message):  # main: a ValueError traceback; one class per value
        load_dataset(tmp_path / "empty.npz")
    code, _, err = run(capsys, "data", "info", "--data", tmp_path / "empty.npz")
    assert code == 2 and err.startswith("harcnn: error: ") and "Traceback" not in err


def test_one_subject_data_is_told_what_works(capsys, tmp_path, example):
    folder = tmp_path / "alone"
    shutil.copytree(example / "person1", folder / "alice")
    with open(example / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["recording"].startswith("person1/")]
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "recording": r["recording"].replace("person1", "alice")} for r in rows)
    for cv in ([], ["--cv", "loso"], ["--cv", "holdout:1"]):  # main: "use --cv subjects:1 or loso", both refused
        code, _, err = run(capsys, "evaluate", "--data", folder, "--epochs", 1, "--out", tmp_path / "runs", *cv)
        assert code == 2 and err == ("harcnn: error: testing by subject needs at least 2 subjects, and this data has 1 "
                                     "(alice): train on all its windows with 'harcnn train --test none', or add "
                                     "recordings of other people (one folder per person, a subjects table, or "
                                     "--subjects PATTERN)\n")
    code, _, err = run(capsys, "train", "--data", folder, "--epochs", 1, "--filters", 8, "--dense-units", 8, "--test",
                       "none", "--save", tmp_path / "m", "--quiet")
    assert code == 0, err


def test_a_truncated_zip_is_said_to_be_damaged(capsys, tmp_path, example):
    archive = tmp_path / "recs.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(example.rglob("*.csv")):
            handle.write(path, path.relative_to(example).as_posix())
    (tmp_path / "cut.zip").write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    for kind in ([], ["--data-kind", "recordings"]):  # main: "not a dataset harcnn knows"
        code, _, err = run(capsys, "data", "info", "--data", tmp_path / "cut.zip", *kind)
        assert code == 2 and "cut.zip: not a readable zip archive: the file is damaged (truncated or corrupt" in err
