"""Every registered model survives train -> save -> load -> predict -> stream -> export.

Table-driven over the registry: a model added to it is covered without editing this file.
Default settings (only the input shape comes from the data), tiny generated data, one epoch,
two standardized members (standardization inside the exported graph, several members averaged).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_uci_har_tree, train_on
from test_predict import synthetic_recording, write_recording

from harcnn.cli import main
from harcnn.data import Recording, load_uci_har
from harcnn.models import list_models
from harcnn.serving.artifact import load_model
from harcnn.serving.predict import predict_recording
from harcnn.serving.streaming import StreamingPredictor


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    folder = make_uci_har_tree(root, n_train=24, n_test=12, seed=11)
    return folder, load_uci_har(folder, cache_dir=root / "cache", progress=False)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    t, acc, gyro = synthetic_recording(seconds=20.0, rate=50.0)
    return write_recording(tmp_path_factory.mktemp("rec") / "walk.csv", t, acc, gyro), (t, acc, gyro)


@pytest.fixture(scope="module", params=list_models())
def served(request, tiny, tmp_path_factory):
    _, dataset = tiny
    trained = train_on(dataset, {"model": request.param, "epochs": 1, "standardize": True}, repeats=2, seed=4)
    return trained, trained.save(tmp_path_factory.mktemp(request.param) / "model")


def test_save_load_gives_identical_probabilities(served, tiny):
    trained, path = served
    _, dataset = tiny
    back = load_model(path)
    saved, loaded = trained.model.state_dict(), back.model.state_dict()
    assert saved.keys() == loaded.keys()
    for key, value in saved.items():  # parameters and buffers (batch-norm counters are int64)
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key
    X = np.concatenate([dataset.test.X, dataset.train.X])
    assert np.array_equal(back.predict_proba_members(X), trained.predict_proba_members(X))


def test_predict_windows_folder_and_recording(served, tiny, recording, tmp_path, capsys):
    _, path = served
    folder, dataset = tiny
    np.save(tmp_path / "windows.npy", dataset.test.X)
    for source in (tmp_path / "windows.npy", folder, recording[0]):
        out = tmp_path / f"{source.stem}.csv"
        assert main(["predict", str(path), str(source), "--out", str(out)]) == 0, capsys.readouterr().err
        assert out.is_file() and out.with_name(f"{out.stem}_segments.csv").is_file()
    assert "Accuracy against the labels" in capsys.readouterr().out  # the UCI folder has labels


def test_streaming_equals_batch(served, recording):
    trained, _ = served
    t, acc, gyro = recording[1]
    batch = predict_recording(trained, Recording(t, {"acc": acc, "gyro": gyro}, source="live"))
    streamer = StreamingPredictor(trained)
    events = [e for i in range(0, len(t), 100) for e in streamer.push(acc[i:i + 100], gyro[i:i + 100])]
    np.testing.assert_allclose(np.stack([e.probabilities for e in events]), batch.probabilities, atol=1e-5)


def test_onnx_and_int8_export(served, tiny, tmp_path):
    pytest.importorskip("onnxruntime")
    from harcnn.serving.export import export_onnx, onnx_predict_proba, onnx_session, quantize_int8

    trained, _ = served
    _, dataset = tiny
    result = export_onnx(trained, tmp_path / "m.onnx", check_windows=dataset.test.X)
    assert result.max_abs_diff <= 1e-4
    int8 = quantize_int8(result.path, tmp_path / "m.int8.onnx")
    probabilities = onnx_predict_proba(onnx_session(int8), dataset.test.X)
    assert probabilities.shape == (len(dataset.test), len(dataset.class_names))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
