"""Timelines from recordings: the smoother a model learns from labelled recordings, predict --smooth,
--unknown and --labels, causal smoothing in streaming, and rotated recordings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from harcnn.cli import main
from harcnn.data import load_dataset
from harcnn.data.augment import random_rotations
from harcnn.data.example import write_example_recordings
from harcnn.data.recordings import load_recording
from harcnn.models.config import Config
from harcnn.serving.artifact import load_model
from harcnn.serving.predict import predict_recording
from harcnn.serving.streaming import StreamingPredictor
from harcnn.serving.timeline import HMMSmoother, label_sequences
from harcnn.serving.train import train_model

FAST = {"filters": 8, "dense_units": 16, "epochs": 3}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return write_example_recordings(tmp_path_factory.mktemp("timeline") / "recordings", people=4)


@pytest.fixture(scope="module")
def trained(example):
    data = load_dataset(example)
    return train_model(Config.from_flat({**FAST, "standardize": True, "validation_subjects": 1}), data, seed=1)


def test_label_sequences_follow_each_recording_and_step_over_short_gaps():
    recordings = np.array(["a"] * 6 + ["b"] * 3)
    starts = np.array([0.0, 1.0, 2.0, 4.0, 40.0, 41.0, 0.0, 1.0, 2.0])  # a: one missing window, then a long gap
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    out = label_sequences(recordings, starts, labels, step=1.0, max_gap_windows=3)
    assert [s.tolist() for s in out] == [[0, 0, 1, 1], [2, 2], [3, 3, 3]]


def test_a_model_trained_on_recordings_learns_its_smoother(trained, example):
    timeline = trained.timeline
    hmm = HMMSmoother.from_dict(timeline["hmm"])
    assert hmm.transitions_.shape == (4, 4) and np.allclose(hmm.transitions_.sum(axis=1), 1)
    assert np.all(np.diag(hmm.transitions_) > 0.8)  # activities last many windows
    assert 0.0 <= timeline["unknown_threshold"] <= 1.0 and hmm.temperature_ > 0
    assert any("validation subjects" in note for note in timeline["notes"])
    saved = trained.save(example.parent / "saved")
    assert load_model(saved).timeline == json.loads(json.dumps(timeline))


def test_smoothing_a_recording_never_crosses_a_gap_and_keeps_the_windows(trained, example):
    recording = load_recording(example / "person1" / "rec2.csv")
    pred = predict_recording(trained, recording)
    raw = pred.predicted.copy()
    for method in ("none", "median", "hmm"):
        pred.decide(method, hmm=trained.timeline["hmm"])
        assert pred.decision.shape == raw.shape and pred.smoothing == method
        if method == "none":
            assert np.array_equal(pred.decision, raw)
    # smoothing removes flicker: fewer segments than windows judged alone
    assert len(pred.segments()) <= len(predict_recording(trained, recording).segments())
    pred.decide("hmm", hmm=trained.timeline["hmm"], unknown=1.01)  # nothing is that confident
    assert (pred.decision == -1).all() and {s.activity for s in pred.segments()} == {"unknown"}
    assert "unknown" in pred.time_per_activity()


def test_predict_with_smoothing_unknowns_and_a_labels_table(capsys, trained, example, tmp_path):
    model = trained.save(tmp_path / "model")
    out = tmp_path / "rec2.csv"
    code = main(["predict", str(model), str(example / "person1" / "rec2.csv"), "--out", str(out), "--smooth", "hmm",
                 "--unknown", "auto", "--labels", str(example / "labels.csv")])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "Against the labels: agreement" in printed and "segments: F1" in printed
    scores = json.loads(out.with_name("rec2_scores.json").read_text())
    assert 0 <= scores["agreement"] <= 1 and scores["per_window"] is not None and scores["n_true_segments"] == 4
    header = out.read_text().splitlines()[0].split(",")
    assert {"activity", "window_activity", "true_activity"} <= set(header)
    assert out.with_name("rec2_timeline.png").read_bytes()[:4] == b"\x89PNG"
    code = main(["predict", str(model), str(example / "person1" / "rec2.csv"), "--unknown", "2", "--out",
                 str(tmp_path / "x.csv")])
    assert code == 2 and "--unknown takes auto, off or a threshold in [0, 1]" in capsys.readouterr().err
    np.save(tmp_path / "w.npy", load_dataset(example).X[:4])
    code = main(["predict", str(model), str(tmp_path / "w.npy"), "--smooth", "hmm", "--out", str(tmp_path / "w.csv")])
    assert code == 2 and "for recordings" in capsys.readouterr().err


def test_a_model_without_recordings_has_no_hmm_but_can_borrow_their_sequences(capsys, tmp_path, example, uci_folder):
    windows = load_dataset(example)
    np.savez(tmp_path / "w.npz", X=windows.X, y=windows.y, subject=windows.subject, class_names=windows.class_names,
             sampling_rate=50.0)
    code = main(["train", "--data", str(tmp_path / "w.npz"), "--save", str(tmp_path / "plain"), "--epochs", "1",
                 "--filters", "4", "--dense-units", "8", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert load_model(tmp_path / "plain").timeline == {}
    code = main(["train", "--data", str(tmp_path / "w.npz"), "--save", str(tmp_path / "borrowed"), "--epochs", "1",
                 "--filters", "4", "--dense-units", "8", "--quiet", "--timeline-data", str(example),
                 "--test", "holdout:1"])
    out = capsys.readouterr().out
    assert code == 0 and "transitions from" in out and "scoring on" in out and "of subjects person" in out
    assert "Timeline data: left out" in out  # the test subject's recordings do not teach the smoother
    assert load_model(tmp_path / "borrowed").timeline["hmm"]["n_classes"] == 4


@pytest.mark.parametrize("lag", [0, 3])
def test_streaming_smoothing_equals_the_batch_forward_pass(trained, example, lag):
    recording = load_recording(example / "person2" / "rec1.csv")
    batch = predict_recording(trained, recording)
    hmm = HMMSmoother.from_dict(trained.timeline["hmm"])
    expected = hmm.fixed_lag(batch.probabilities, lag)
    streamer = StreamingPredictor(trained, smooth="hmm", lag=lag)
    acc, gyro = recording.sensors["acc"], recording.sensors["gyro"]
    events = [e for i in range(0, len(acc), 97) for e in streamer.push(acc[i:i + 97], gyro[i:i + 97])]
    events += streamer.flush()
    assert [e.index for e in events] == list(range(len(batch)))
    np.testing.assert_allclose(np.stack([e.smoothed for e in events]), expected, atol=1e-5)
    assert [e.class_index for e in events] == expected.argmax(axis=1).tolist()
    again = [e for i in range(0, len(acc), 97) for e in streamer.push(acc[i:i + 97], gyro[i:i + 97])]
    again += streamer.flush()  # flush ended the stream: the next push starts a new one
    assert [e.index for e in again] == list(range(len(batch)))
    np.testing.assert_allclose(np.stack([e.smoothed for e in again]), expected, atol=1e-5)


def test_random_rotations_are_rotations_up_to_the_angle():
    R = random_rotations(500, math.pi / 2, torch.Generator().manual_seed(0))
    eye = torch.eye(3, dtype=R.dtype).expand(500, 3, 3)
    torch.testing.assert_close(R @ R.transpose(1, 2), eye)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500, dtype=R.dtype))
    angles = torch.arccos(((R.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1))
    assert angles.max() <= math.pi / 2 + 1e-6 and angles.max() > 0.95 * math.pi / 2


def test_rotating_a_recording_rotates_its_windows(trained, example):
    """The preprocessing commutes with a rotation of the phone (filters are linear and act per axis; the
    median filter nearly commutes): rotated recordings give the rotated windows."""
    from scipy.spatial.transform import Rotation

    from harcnn.data.recordings import recording_to_windows

    recording = load_recording(example / "person3" / "rec2.csv")
    turn = Rotation.from_euler("y", 90, degrees=True).as_matrix()
    straight = predict_recording(trained, recording)
    a = recording_to_windows(recording).windows.astype(np.float64)
    b = recording_to_windows(recording.rotated(turn)).windows.astype(np.float64)
    for s in range(3):  # total_acc, body_acc, body_gyro triplets
        np.testing.assert_allclose(b[:, :, 3 * s:3 * s + 3], a[:, :, 3 * s:3 * s + 3] @ turn.T, atol=0.03)
    assert len(straight) == len(a)
    with pytest.raises(Exception, match="a rotation is a 3 x 3 orthogonal matrix"):
        recording.rotated(np.diag([1.0, 1.0, -1.0]))
