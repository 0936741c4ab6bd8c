"""Streaming prediction: chunks of any length give the same windows and predictions as the batch path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_uci_har_tree, train_on

from harcnn.core.errors import HarcnnError
from harcnn.data import Recording, load_uci_har
from harcnn.data.windows import STANDARD_GRAVITY, make_windows
from harcnn.serving.predict import predict_recording, recording_recipe
from harcnn.serving.streaming import StreamingPredictor


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    dataset = load_uci_har(make_uci_har_tree(root, n_train=24, n_test=6, seed=2), cache_dir=root / "c",
                           progress=False)
    return train_on(dataset, {"filters": 4, "dense_units": 8, "epochs": 1, "standardize": True}, repeats=2)


def signal(seconds=20.0, rate=50.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    acc = np.tile([0.98, -0.1, 0.15], (len(t), 1)) + 0.01 * rng.standard_normal((len(t), 3))
    moving = t > seconds / 2
    acc[moving, 0] += 0.3 * np.sin(2 * np.pi * 2.0 * t[moving])
    gyro = 0.03 * rng.standard_normal((len(t), 3))
    gyro[moving, 2] += 0.5 * np.sin(2 * np.pi * 2.0 * t[moving])
    return t, acc, gyro


def chunked(n, rng):
    bounds, i = [0], 0
    while i < n:
        i = min(n, i + int(rng.choice([0, 1, 7, 63, 64, 65, 200])))
        bounds.append(i)
    return list(zip(bounds[:-1], bounds[1:]))


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_equals_batch(model, seed):
    t, acc, gyro = signal()
    _, config, frame = recording_recipe(model)  # UCI HAR's preprocessing, gyro drift removal included
    assert frame == "phone"  # a model without a frame in its spec: the phone's axes, as before the body frame
    batch_windows = make_windows({"acc": acc, "gyro": gyro}, config)
    batch = model.predict_proba(batch_windows)
    streamer = StreamingPredictor(model)
    events = []
    for a, b in chunked(len(t), np.random.default_rng(seed)):
        events += streamer.push(acc[a:b], gyro[a:b])
    assert [e.index for e in events] == list(range(len(batch_windows))) == list(range((len(t) - 128) // 64 + 1))
    probs = np.stack([e.probabilities for e in events])
    np.testing.assert_allclose(probs, batch, atol=1e-6, rtol=0)
    assert [e.class_index for e in events] == batch.argmax(axis=1).tolist()
    assert [e.activity for e in events] == [model.class_names[k] for k in batch.argmax(axis=1)]
    assert events[3].start_time == pytest.approx(3 * 1.28) and events[3].end_time == pytest.approx(3 * 1.28 + 2.56)
    # the windows themselves are identical: push them one sample at a time
    streamer.reset()
    for i in range(300):
        streamer.push(acc[i], gyro[i])
    assert streamer.windows_emitted == 3


def test_streaming_equals_the_recording_path(model):
    t, acc, gyro = signal(seconds=15)
    batch = predict_recording(model, Recording(t, {"acc": acc, "gyro": gyro}, source="live"))
    streamer = StreamingPredictor(model, acc_units="m/s2")
    events = [e for i in range(0, len(t), 37) for e in streamer.push(acc[i:i + 37] * STANDARD_GRAVITY,
                                                                     gyro[i:i + 37])]
    np.testing.assert_allclose(np.stack([e.probabilities for e in events]), batch.probabilities, atol=1e-6)
    np.testing.assert_allclose([e.start_time for e in events], batch.start_times, atol=1e-9)


def test_streaming_rejects_bad_chunks(model):
    streamer = StreamingPredictor(model)
    with pytest.raises(HarcnnError):
        streamer.push(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(HarcnnError):
        streamer.push(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(HarcnnError, match="acc_units"):
        StreamingPredictor(model, acc_units="furlongs")
