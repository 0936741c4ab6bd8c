"""The body frame (harcnn.data.bodyframe) on synthetic recordings with a known phone orientation.

A recording is made in the body frame (conftest.py: walking, postures), then seen by a phone whose
axes are the rows of ``phone`` (the body axes in phone coordinates), so the true rotation from the
phone to the canonical frame is ``CANONICAL.T @ phone``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import RATE, SIT_TILT_DEG, phone_axes, posture, seen_by, walking

from harcnn.core.errors import DataError
from harcnn.data import bodyframe as bf
from harcnn.data.recordings import Recording, to_body_frame


def day(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, slice]]:
    """Standing, sitting, lying, standing, walking 60 s, standing: body-frame samples and where each is."""
    parts = [("stand", posture(10, 0, rng)), ("sit", posture(20, SIT_TILT_DEG, rng)), ("lie", posture(15, 90, rng)),
             ("stand2", posture(5, 0, rng)), ("walk", walking(60, rng)), ("stand3", posture(10, 0, rng))]
    bounds = np.cumsum([0] + [len(p) for _, p in parts])
    return np.concatenate([p for _, p in parts]), {n: slice(a, b) for (n, _), a, b in zip(parts, bounds, bounds[1:])}


def truth(phone: np.ndarray) -> np.ndarray:
    return bf.CANONICAL.T @ phone


@pytest.mark.parametrize("seed", range(5))
def test_the_frame_of_a_turned_phone_is_recovered(seed):
    rng = np.random.default_rng(seed)
    body, _ = day(rng)
    phone = phone_axes(seed)
    estimate = bf.estimate_body_frame(seen_by(phone, body), RATE)
    assert estimate.changes == ()
    (frame,) = estimate.frames
    assert frame.source == "walking" and frame.start == 0 and frame.stop == len(body)
    assert 55 <= frame.walking_s <= 62  # block edges: a block is walking when most of it is
    assert bf.rotation_angle(frame.rotation, truth(phone)) < 1.0  # measured: 0.1-0.2 degrees
    assert frame.spread_deg < 1.0 and frame.sign_agreement > 0.95
    assert frame.confidence == "high"


def test_turning_the_recording_turns_the_frame_exactly():
    rng = np.random.default_rng(0)
    body, _ = day(rng)
    acc = seen_by(phone_axes(1), body)
    upright = bf.estimate_body_frame(acc, RATE).frames[0].rotation
    for seed in range(3):
        turn = phone_axes(10 + seed)
        turned = bf.estimate_body_frame(acc @ turn.T, RATE).frames[0].rotation
        assert bf.rotation_angle(turned @ turn, upright) < 1e-4


def test_postures_keep_their_tilt_against_the_walking_vertical():
    rng = np.random.default_rng(2)
    body, where = day(rng)
    acc = seen_by(phone_axes(3), body)
    canonical = bf.estimate_body_frame(acc, RATE).apply(acc)
    up, forward = bf.CANONICAL[2], bf.CANONICAL[0]
    for name, tilt in (("stand", 0.0), ("sit", SIT_TILT_DEG), ("lie", 90.0)):
        gravity = canonical[where[name]].mean(0)
        gravity /= np.linalg.norm(gravity)
        assert math.degrees(math.acos(gravity @ up)) == pytest.approx(tilt, abs=1.0)
        if tilt:
            assert gravity @ forward > 0  # tilted back: gravity leans towards the body's front


def test_walking_is_told_from_postures_and_noise():
    rng = np.random.default_rng(4)
    acc = np.concatenate([posture(20, 0, rng), walking(20, rng), 1 + rng.normal(0, 0.1, (1000, 3))])
    start, is_walking = bf.detect_walking(acc, RATE)
    seconds = start / RATE
    assert not is_walking[seconds < 19].any()
    assert is_walking[(seconds > 22) & (seconds < 38)].all()
    assert not is_walking[seconds > 42].any()


def moved(rng: np.random.Generator, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, int]:
    """Postures and 40 s of walking with the phone ``first``, standing while it moves, then 40 s of
    walking and postures with the phone ``second``; returns the phone's samples and the move's sample."""
    before = np.concatenate([posture(10, 0, rng), posture(15, SIT_TILT_DEG, rng), walking(40, rng),
                             posture(6, 0, rng)])
    after = np.concatenate([posture(6, 0, rng), walking(40, rng), posture(15, SIT_TILT_DEG, rng)])
    return np.concatenate([seen_by(first, before), seen_by(second, after)]), len(before)


def test_a_phone_moved_on_the_body_is_found_and_gets_a_new_frame():
    rng = np.random.default_rng(5)
    first, second = phone_axes(6), phone_axes(7)
    acc, move = moved(rng, first, second)
    estimate = bf.estimate_body_frame(acc, RATE)
    (change,) = estimate.changes
    assert abs(change - move) <= bf.BLOCK_S * RATE  # within a block; the move is where gravity jumps as the frames say
    before, after = estimate.frames
    assert before.stop == after.start == change
    assert estimate.frame_at(change - 1) is before and estimate.frame_at(change) is after
    assert estimate.frame_at(len(acc) + 10) is after  # past the end: the last frame
    assert bf.rotation_angle(before.rotation, truth(first)) < 1.0
    assert bf.rotation_angle(after.rotation, truth(second)) < 1.0
    turn = phone_axes(8)
    assert bf.estimate_body_frame(acc @ turn.T, RATE).changes == estimate.changes


def test_no_change_is_found_while_the_phone_stays():
    rng = np.random.default_rng(9)
    phone = phone_axes(9)
    acc, _ = moved(rng, phone, phone)
    assert bf.estimate_body_frame(acc, RATE).changes == ()
    assert len(bf.estimate_body_frame(acc, RATE, detect_changes=False).frames) == 1


def test_without_walking_only_gravity_is_known():
    rng = np.random.default_rng(10)
    phone = phone_axes(11)
    body = np.concatenate([posture(30, 0, rng), posture(10, SIT_TILT_DEG, rng)])
    (frame,) = bf.estimate_body_frame(seen_by(phone, body), RATE).frames
    assert frame.source == "gravity" and frame.confidence == "low" and frame.walking_s == 0
    assert math.isnan(frame.spread_deg) and math.isnan(frame.sign_agreement)
    standing = frame.rotation @ (phone.T @ np.array([0.0, 0.0, 1.0]))  # the most common gravity, turned
    assert standing @ bf.CANONICAL[2] == pytest.approx(1.0, abs=1e-4)


def stream(acc: np.ndarray, chunk: int = 37) -> tuple[np.ndarray, bf.StreamingBodyFrame]:
    streamer = bf.StreamingBodyFrame(RATE)
    return np.concatenate([streamer.push(acc[i:i + chunk]) for i in range(0, len(acc), chunk)]), streamer


def test_the_causal_frame_starts_from_gravity_and_converges_to_the_batch_frame():
    rng = np.random.default_rng(12)
    body, where = day(rng)
    phone = phone_axes(13)
    acc = seen_by(phone, body)
    rotations, streamer = stream(acc)
    assert rotations.shape == (len(acc), 3, 3)
    standing = phone.T @ np.array([0.0, 0.0, 1.0])
    assert rotations[where["stand"]][-1] @ standing @ bf.CANONICAL[2] == pytest.approx(1.0, abs=1e-3)
    batch = bf.estimate_body_frame(acc, RATE).frames[0].rotation
    assert streamer.frame.source == "walking"
    assert bf.rotation_angle(streamer.frame.rotation, batch) < 0.5
    assert bf.rotation_angle(rotations[where["stand3"]][-1], truth(phone)) < 1.0
    first_right = np.argmax([bf.rotation_angle(r, batch) < 5 for r in rotations])
    assert where["walk"].start < first_right < where["walk"].start + 5 * RATE  # a few seconds into the walk


def test_the_causal_frame_follows_a_moved_phone_after_some_walking():
    rng = np.random.default_rng(14)
    first, second = phone_axes(15), phone_axes(16)
    acc, move = moved(rng, first, second)
    rotations, streamer = stream(acc)
    (change,) = streamer.changes
    assert abs(change - move) <= bf.BLOCK_S * RATE
    switched = move + np.argmax([bf.rotation_angle(r, truth(second)) < 5 for r in rotations[move:]])
    walk_starts = move + 6 * RATE
    assert walk_starts + bf.CHANGE_MIN_WALK_S * RATE <= switched <= walk_starts + (bf.CHANGE_MIN_WALK_S + 5) * RATE
    assert bf.rotation_angle(rotations[-1], truth(second)) < 1.0


def test_a_recording_goes_into_the_body_frame_with_its_gyroscope():
    rng = np.random.default_rng(17)
    body, _ = day(rng)
    phone = phone_axes(18)
    acc = seen_by(phone, body)
    gyro = rng.normal(0, 0.1, acc.shape)
    labels = np.where(np.arange(len(acc)) % 2, "a", "")
    recording = Recording(np.arange(len(acc)) / RATE, {"acc": acc, "gyro": gyro}, labels, source="r.csv")
    turned, estimate = to_body_frame(recording)
    rotation = estimate.frames[0].rotation
    np.testing.assert_allclose(turned.sensors["acc"], acc @ rotation.T)
    np.testing.assert_allclose(turned.sensors["gyro"], gyro @ rotation.T)
    assert list(turned.labels) == list(labels) and turned.source == "r.csv"


@pytest.mark.parametrize(("acc", "rate", "message"), [
    (np.ones((100, 3)), RATE, "too short for a body frame: 2.00 s"),
    (np.ones((1000, 2)), RATE, r"shape \[n, 3\]"),
    (np.where(np.arange(3000)[:, None] == 7, np.nan, 1.0) * np.ones((3000, 3)), RATE,
     "non-finite value \\(nan\\) at sample 7"),
    (np.ones((1000, 3)), 5.0, "at least 10 Hz"),
    (np.full((1000, 3), 9.80665 / 3**0.5), RATE, r"9.81 in magnitude .* --acc-units m/s2"),
    (np.zeros((1000, 3)), RATE, "linear acceleration without gravity"),
    ("abc", RATE, "numeric array"),
])
def test_bad_input_is_one_clear_error(acc, rate, message):
    with pytest.raises(DataError, match=message):
        bf.estimate_body_frame(acc, rate)


def test_a_recording_without_an_accelerometer_is_refused():
    gyro = np.zeros((500, 3))
    with pytest.raises(DataError, match="estimated from the accelerometer, but the recording has only gyro"):
        to_body_frame(Recording(np.arange(500) / RATE, {"gyro": gyro}, source="g.csv"))
    with pytest.raises(DataError, match="a streaming chunk|acc_chunk has a non-finite"):
        bf.StreamingBodyFrame(RATE).push(np.full((10, 3), np.inf))
