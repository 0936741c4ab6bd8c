"""Models of body-frame input: trained with --frame body, they predict a turned phone as an upright one,
say which frame they used, follow a phone moved on the body, stream with the causal frame; models of the
phone's axes (every model saved before the body frame) predict as they always did.

The recordings are made in the body frame (conftest.py: walking, postures) and seen by turned phones,
written as one CSV each with a per-sample label column.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import RATE, SIT_TILT_DEG, make_uci_har_tree, phone_axes, posture, seen_by, walking

from harcnn.cli import main
from harcnn.cli.options import preset_data_options
from harcnn.core.errors import DataError
from harcnn.data import load_uci_har
from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.sources import SOURCES, load_dataset
from harcnn.serving.artifact import load_model
from harcnn.serving.predict import predict_recording, recording_recipe
from harcnn.serving.streaming import StreamingPredictor

PLAN = (("standing", 0, 15), ("walking", None, 40), ("sitting", SIT_TILT_DEG, 20), ("walking", None, 15),
        ("lying", 90, 20), ("standing", 0, 15))


def body_signals(plan, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(acc, gyro, labels)`` in the body frame: the activities of ``plan`` (name, tilt, seconds)."""
    rng = np.random.default_rng(seed)
    parts = [walking(seconds, rng) if tilt is None else posture(seconds, tilt, rng) for _, tilt, seconds in plan]
    labels = np.concatenate([[name] * len(p) for (name, _, _), p in zip(plan, parts)])
    acc = np.concatenate(parts)
    gyro = 0.02 * rng.standard_normal(acc.shape)
    gyro[:, 1] += 0.5 * (acc[:, 0] - acc[:, 0].mean())  # turns with the gait, about the body's left axis
    return acc, gyro, labels


def write_csv(path: Path, acc: np.ndarray, gyro: np.ndarray, labels: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
                        + (["label"] if labels is not None else []))
        for i in range(len(acc)):
            writer.writerow([f"{i / RATE:.4f}", *(f"{v:.6f}" for v in acc[i]), *(f"{v:.6f}" for v in gyro[i])]
                            + ([labels[i]] if labels is not None else []))
    return path


def turned(phone: np.ndarray, acc: np.ndarray, gyro: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return seen_by(phone, acc), seen_by(phone, gyro)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Three people, each wearing the phone their own way."""
    root = tmp_path_factory.mktemp("frame") / "recordings"
    for person in range(3):
        acc, gyro, labels = body_signals(PLAN, seed=person)
        write_csv(root / f"p{person}" / "day.csv", *turned(phone_axes(100 + person), acc, gyro), labels)
    return root


@pytest.fixture(scope="module")
def body_model(folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "body"
    assert main(["train", "--data", str(folder), "--frame", "body", "--model", "cnn", "--filters", "8",
                 "--epochs", "3", "--save", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def phone_model(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "phone"
    assert main(["train", "--data", str(folder), "--model", "cnn", "--filters", "8", "--epochs", "1", "--save",
                 str(out), "--quiet"]) == 0
    return out


def test_a_body_frame_model_predicts_a_turned_phone_as_the_upright_one(body_model, capsys, tmp_path):
    config = json.loads((body_model / "config.json").read_text())
    preprocessing = config["input"]["preprocessing"]
    assert preprocessing["frame"] == "body" and preprocessing["frame_version"] == 1
    assert config["training"]["data"]["options"]["frame"] == "body"  # loaded so again by predict and export
    acc, gyro, _ = body_signals(PLAN, seed=7)
    worn = [write_csv(tmp_path / f"{name}.csv", *turned(phone, acc, gyro))
            for name, phone in (("upright", phone_axes(50)), ("turned", phone_axes(51)),
                                ("flipped", np.diag([1.0, -1.0, -1.0]) @ phone_axes(50)))]
    capsys.readouterr()
    tables = []
    for path in worn:
        assert main(["predict", str(body_model), str(path), "--out", str(path.with_suffix(".json")), "--no-plot"]) == 0
        assert re.search(r"\nbody frame: 5\d s of walking, high \(spread", capsys.readouterr().out)
        tables.append(json.loads(path.with_suffix(".json").read_text()))
    upright = tables[0]
    assert upright["frame"][0]["frame"] == "walking" and upright["frame"][0]["confidence"] == "high"
    frames = {(w["frame"], w["frame_confidence"], w["frame_segment"]) for w in upright["windows"]}
    assert frames == {("walking", "high", 0)}
    for other in tables[1:]:
        assert [w["activity"] for w in other["windows"]] == [w["activity"] for w in upright["windows"]]
        np.testing.assert_allclose([list(w["probabilities"].values()) for w in other["windows"]],
                                   [list(w["probabilities"].values()) for w in upright["windows"]], atol=1e-4)


def test_a_phone_frame_model_and_an_old_one_predict_as_before(phone_model, body_model, folder, tmp_path):
    config = json.loads((phone_model / "config.json").read_text())
    assert "frame" not in config["input"]["preprocessing"] and "frame" not in config["training"]["data"]["options"]
    model = load_model(phone_model)
    recording = load_recording(folder / "p0" / "day.csv")
    prediction = predict_recording(model, recording)
    sensors, preprocess, frame = recording_recipe(model)
    assert frame == "phone" and prediction.frame is None
    windows = recording_to_windows(recording.select(*sensors), preprocess).windows
    np.testing.assert_array_equal(prediction.probabilities, model.predict_proba(windows))
    assert "frame" not in prediction.rows()[0] and "body frame" not in prediction.summary()
    # a model saved before the body frame: its spec has no frame, and it reads the phone's axes
    old = tmp_path / "old"
    old.mkdir()
    for name in ("model.safetensors", "config.json"):
        (old / name).write_bytes((body_model / name).read_bytes())
    meta = json.loads((old / "config.json").read_text())
    for key in ("frame", "frame_version"):
        del meta["input"]["preprocessing"][key]
    del meta["training"]["data"]["options"]["frame"]
    (old / "config.json").write_text(json.dumps(meta))
    legacy = load_model(old)
    assert recording_recipe(legacy)[2] == "phone"
    np.testing.assert_array_equal(predict_recording(legacy, recording).probabilities,
                                  legacy.predict_proba(recording_to_windows(recording, preprocess).windows))


def test_streaming_equals_batch_once_the_frame_has_settled(body_model):
    model = load_model(body_model)
    plan = (("walking", None, 40), ("standing", 0, 15), ("sitting", SIT_TILT_DEG, 20), ("lying", 90, 20))
    acc, gyro = turned(phone_axes(60), *body_signals(plan, seed=8)[:2])
    batch = predict_recording(model, Recording(np.arange(len(acc)) / RATE, {"acc": acc, "gyro": gyro}))
    streamer = StreamingPredictor(model)
    events = [e for i in range(0, len(acc), 37) for e in streamer.push(acc[i:i + 37], gyro[i:i + 37])]
    assert len(events) == len(batch)
    assert (events[0].frame, events[0].frame_confidence, events[0].frame_segment) == ("gravity", "low", 0)
    assert (events[-1].frame, events[-1].frame_confidence) == ("walking", "high")
    settled = batch.start_times >= 40 + 10  # the walking is over (the frame final) and the filters have settled
    np.testing.assert_allclose(np.stack([e.probabilities for e in events])[settled], batch.probabilities[settled],
                               atol=1e-4)
    walking_seen = (batch.start_times >= 10) & ~settled  # refined while the walking lasts: the same activities
    streamed = [e.class_index for e, w in zip(events, walking_seen) if w]
    assert streamed == batch.probabilities[walking_seen].argmax(1).tolist()


def test_a_phone_moved_on_the_body_gets_a_new_frame_and_the_prediction_says_so(body_model):
    model = load_model(body_model)
    plan = (("standing", 0, 10), ("walking", None, 40), ("standing", 0, 6), ("walking", None, 40),
            ("sitting", SIT_TILT_DEG, 20), ("lying", 90, 20))
    acc, gyro, _ = body_signals(plan, seed=9)
    move = round(56 * RATE)  # the phone goes from one pocket to another while standing
    first, second = phone_axes(70), phone_axes(71)
    moved = Recording(np.arange(len(acc)) / RATE, {
        "acc": np.concatenate([seen_by(first, acc[:move]), seen_by(second, acc[move:])]),
        "gyro": np.concatenate([seen_by(first, gyro[:move]), seen_by(second, gyro[move:])])})
    stayed = Recording(moved.timestamps, dict(zip(("acc", "gyro"), turned(first, acc, gyro))))
    prediction, reference = predict_recording(model, moved), predict_recording(model, stayed)
    (change,) = prediction.frame.changes_s()
    assert abs(change - 56) <= 1.3
    assert "phone moved at" in prediction.summary()
    header, rows = prediction.rows()
    segments = [row[header.index("frame_segment")] for row in rows]
    assert segments[0] == 0 and segments[-1] == 1 and sorted(set(segments)) == [0, 1]
    after = prediction.start_times >= change + 10
    agree = (prediction.predicted[after] == reference.predicted[after]).mean()
    assert agree >= 0.95


def test_without_walking_the_gravity_frame_is_used_and_said(body_model):
    plan = (("standing", 0, 30), ("sitting", SIT_TILT_DEG, 30), ("standing", 0, 20))
    acc, gyro = turned(phone_axes(80), *body_signals(plan, seed=10)[:2])
    prediction = predict_recording(load_model(body_model), Recording(np.arange(len(acc)) / RATE,
                                                                      {"acc": acc, "gyro": gyro}))
    assert "body frame: gravity alone, low: postures may be misread" in prediction.summary()
    header, rows = prediction.rows()
    assert {(row[header.index("frame")], row[header.index("frame_confidence")]) for row in rows} == {("gravity", "low")}


def test_datasets_take_the_frame_option(folder, tmp_path):
    body = load_dataset(folder, frame="body")
    phone = load_dataset(folder)
    assert body.spec.preprocessing["frame"] == "body" and "frame" not in phone.spec.preprocessing
    assert body.loaded_with["options"]["frame"] == "body" and body.fingerprint != phone.fingerprint
    assert any(n.startswith("body frame of 3 recording(s): 3 frame(s) from walking (3 high)") for n in body.notes)
    uci = make_uci_har_tree(tmp_path / "uci", n_train=12, n_test=6)
    plain, framed = (load_uci_har(uci, frame=f, cache_dir=tmp_path / "c", progress=False) for f in ("phone", "body"))
    np.testing.assert_array_equal(plain.X, framed.X)  # UCI HAR's windows are the body frame's already
    assert framed.spec.preprocessing["frame"] == "body" and framed.notes[0].startswith("body frame: the windows as")


def test_the_presets_load_body_frame_data_where_the_kind_takes_it():
    args = argparse.Namespace(preset="best", data_frame=None)
    assert preset_data_options(args, SOURCES["recordings"]) == {"frame": "body"}
    assert preset_data_options(args, SOURCES["hapt"]) == {"frame": "body"}
    assert preset_data_options(args, SOURCES["uci_har"]) == {"frame": "body"}
    assert preset_data_options(args, SOURCES["windows"]) == {}  # windows as they are: no frame to choose
    assert preset_data_options(argparse.Namespace(preset="best", data_frame="phone"), SOURCES["hapt"]) == {}
    assert preset_data_options(argparse.Namespace(preset=None), SOURCES["hapt"]) == {}


def test_bad_frame_inputs_are_one_clear_error(capsys, folder, tmp_path):
    gyro_only = Recording(np.arange(500) / RATE, {"gyro": np.zeros((500, 3))}, source="g.csv")
    with pytest.raises(DataError, match="g.csv: the body frame is estimated from the accelerometer.*--frame phone"):
        recording_to_windows(gyro_only, frame="body")
    with pytest.raises(DataError, match="frame must be phone or body, got 'sideways'"):
        recording_to_windows(gyro_only, frame="sideways")
    with pytest.raises(SystemExit):
        main(["train", "--data", str(folder), "--frame", "sideways", "--save", str(tmp_path / "m")])
    assert "argument --frame: invalid choice: 'sideways' (choose from 'phone', 'body')" in capsys.readouterr().err
    assert main(["train", "--data", str(folder), "--frame", "body", "--sensors", "gyro", "--save",
                 str(tmp_path / "m")]) == 2
    assert "estimated from the accelerometer" in capsys.readouterr().err


def test_evaluate_and_train_say_which_frame_their_data_is_in(capsys, folder, tmp_path):
    assert main(["evaluate", "--data", str(folder), "--frame", "body", "--cv", "subjects:3", "--repeats", "1",
                 "--epochs", "1", "--filters", "4", "--workers", "1", "--quiet", "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert "\n  body frame of 3 recording(s): 3 frame(s) from walking (3 high)\n" in out
    results = json.loads((tmp_path / "e" / "results.json").read_text())
    assert results["data"]["options"]["frame"] == "body" and results["data"]["spec"]["preprocessing"]["frame"] == "body"
