"""UCI-HAR-style preprocessing and windowing (harcnn.data.windows)."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harcnn.core.errors import DataError
from harcnn.data.windows import (
    CHANNELS,
    DEFAULT_STEP,
    DEFAULT_WINDOW,
    PreprocessConfig,
    StreamingWindower,
    make_windows,
    output_channels,
    preprocess,
    resample,
    resample_ratio,
    resample_series,
    sliding_windows,
    stitch_windows,
    window_starts,
)

FS = 50.0
UCI_ZIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"
GRAVITY = np.array([0.8, 0.1, 0.55])
DIRECTION = np.array([0.6, -0.3, 0.2])  # movement amplitude per axis, in g


def _sine_fit(x: np.ndarray, t: np.ndarray, freq: float) -> tuple[float, float]:
    """Least-squares amplitude of the ``freq`` sinusoid in ``x`` and the fitted constant."""
    design = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return float(np.hypot(coef[0], coef[1])), float(coef[2])


def _movement(seconds: float = 40.0, freq: float = 2.0):
    t = np.arange(int(seconds * FS)) / FS
    acc = GRAVITY + np.sin(2 * np.pi * freq * t)[:, None] * DIRECTION
    gyro = 0.7 * np.cos(2 * np.pi * freq * t)[:, None] * np.array([1.0, 0.5, -0.25])
    return t, acc, gyro


# --------------------------------------------------------------------------- windows and stitching


def test_sliding_windows_shape_starts_and_content():
    series = np.arange(1000 * 2, dtype=np.float64).reshape(1000, 2)
    w = sliding_windows(series)
    starts = window_starts(1000)
    assert w.shape == (len(starts), DEFAULT_WINDOW, 2) == (14, 128, 2)
    np.testing.assert_array_equal(starts, np.arange(14) * DEFAULT_STEP)
    for k in (0, 5, 13):
        np.testing.assert_array_equal(w[k], series[starts[k]:starts[k] + DEFAULT_WINDOW])
    assert sliding_windows(series[:127]).shape == (0, 128, 2)
    assert window_starts(128).tolist() == [0]


def test_stitch_then_rewindow_gives_the_same_windows():
    rng = np.random.default_rng(1)
    series = rng.standard_normal((64 * 20 + 128 + 17, 9)).astype(np.float32)
    windows = sliding_windows(series)
    stitched = stitch_windows(windows)
    np.testing.assert_array_equal(sliding_windows(stitched), windows)
    np.testing.assert_array_equal(stitched, series[: len(stitched)])  # the dropped tail is not invented
    assert stitched.shape[0] == (len(windows) - 1) * DEFAULT_STEP + DEFAULT_WINDOW
    # other window/step combinations, and a single window
    w2 = sliding_windows(series, window=50, step=10)
    np.testing.assert_array_equal(sliding_windows(stitch_windows(w2, step=10), 50, 10), w2)
    np.testing.assert_array_equal(stitch_windows(windows[:1]), windows[0])


def test_stitch_rejects_windows_that_do_not_overlap():
    rng = np.random.default_rng(2)
    windows = sliding_windows(rng.standard_normal((1000, 3)))
    shuffled = windows[[0, 1, 3, 2]]
    with pytest.raises(DataError, match="windows 1 and 2 do not share"):
        stitch_windows(shuffled)
    with pytest.raises(DataError, match="step"):
        stitch_windows(windows, step=200)
    with pytest.raises(DataError, match="shape"):
        stitch_windows(windows[0])


def _read_rows(z: zipfile.ZipFile, name: str, n_rows: int) -> np.ndarray:
    with z.open(name) as handle:
        lines = list(itertools.islice(io.TextIOWrapper(handle, encoding="ascii"), n_rows))
    return np.array([np.array(line.split(), dtype=np.float64) for line in lines])


@pytest.fixture(scope="module")
def uci_walking_chain():
    """Subject 1 WALKING: the longest run of consecutive training windows sharing 64 samples."""
    if not UCI_ZIP.is_file():
        pytest.skip(f"UCI HAR zip not found at {UCI_ZIP}")
    base = "UCI HAR Dataset/train/"
    with zipfile.ZipFile(UCI_ZIP) as z:
        labels = np.loadtxt(z.open(base + "y_train.txt"), dtype=int)
        subjects = np.loadtxt(z.open(base + "subject_train.txt"), dtype=int)
        rows = np.flatnonzero((subjects == 1) & (labels == 1))
        n_rows = int(rows[-1]) + 1  # subject 1 comes first: only read that far
        signals = {
            name: _read_rows(z, f"{base}Inertial Signals/{name}_train.txt", n_rows)[rows]
            for name in ("body_acc_x", "total_acc_x", "total_acc_y")
        }
    body = signals["body_acc_x"]
    shares = [bool(np.array_equal(body[i, 64:], body[i + 1, :64])) for i in range(len(rows) - 1)]
    best, start = (0, 1), 0
    for i, ok in enumerate([*shares, False]):
        if not ok:
            if i + 1 - start > best[1] - best[0]:
                best = (start, i + 1)
            start = i + 1
    lo, hi = best
    assert hi - lo >= 8, "expected a run of at least 8 overlapping WALKING windows"
    return {name: x[lo:hi] for name, x in signals.items()}


@pytest.mark.realdata
def test_uci_windows_stitch_and_rewindow(uci_walking_chain):
    body = uci_walking_chain["body_acc_x"][:, :, None]
    stitched = stitch_windows(body)
    assert stitched.shape == ((len(body) - 1) * 64 + 128, 1)
    np.testing.assert_array_equal(sliding_windows(stitched), body)


@pytest.mark.realdata
def test_uci_gravity_split_is_a_causal_third_order_butterworth(uci_walking_chain):
    """The default config reproduces the dataset's body_acc from its total_acc (after the transient)."""
    total = stitch_windows(uci_walking_chain["total_acc_x"][:, :, None])[:, 0]
    body = stitch_windows(uci_walking_chain["body_acc_x"][:, :, None])[:, 0]
    acc = np.column_stack([total, stitch_windows(uci_walking_chain["total_acc_y"][:, :, None])[:, 0], total])
    only_gravity_split = PreprocessConfig(median_kernel=1, noise_cutoff_hz=None)
    out, _ = preprocess({"acc": acc, "gyro": np.zeros_like(acc)}, only_gravity_split)
    settled = slice(600, None)  # the dataset's filter ran since the start of the experiment
    np.testing.assert_allclose(out[settled, 3], body[settled], atol=1e-5)
    zero_phase, _ = preprocess({"acc": acc, "gyro": np.zeros_like(acc)}, only_gravity_split.zero_phase_variant())
    assert np.abs(zero_phase[settled, 3] - body[settled]).max() > 1e-3


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("zero_phase", [False, True])
def test_gravity_and_body_separation(zero_phase):
    t, acc, gyro = _movement()
    out, names = preprocess({"acc": acc, "gyro": gyro}, PreprocessConfig(zero_phase=zero_phase))
    assert names == CHANNELS
    assert out.shape == (len(t), 9) and out.dtype == np.float64
    inner = slice(int(10 * FS), len(t) - int(10 * FS))  # away from the edges and the causal start-up
    gravity = out[inner, :3] - out[inner, 3:6]
    np.testing.assert_allclose(gravity, np.broadcast_to(GRAVITY, gravity.shape), atol=0.01)
    for axis in range(3):
        amp, offset = _sine_fit(out[inner, 3 + axis], t[inner], 2.0)
        assert amp == pytest.approx(abs(DIRECTION[axis]), rel=0.03)
        assert abs(offset) < 0.01
        gyro_amp, _ = _sine_fit(out[inner, 6 + axis], t[inner], 2.0)
        assert gyro_amp == pytest.approx(0.7 * abs([1.0, 0.5, -0.25][axis]), rel=0.03)
    if zero_phase:  # no delay: the body part equals the movement itself
        np.testing.assert_allclose(out[inner, 3:6], acc[inner] - GRAVITY, atol=0.02)


def test_noise_lowpass_removes_23_hz_and_keeps_5_hz():
    t = np.arange(int(30 * FS)) / FS
    slow = 0.4 * np.sin(2 * np.pi * 5 * t)
    fast = 0.5 * np.sin(2 * np.pi * 23 * t)
    acc = np.column_stack([1 + slow + fast, fast, slow])
    inner = slice(200, -200)
    for zero_phase, limit in ((True, 0.005), (False, 0.07)):
        cfg = PreprocessConfig(median_kernel=1, zero_phase=zero_phase)  # the low-pass on its own
        out, _ = preprocess({"acc": acc, "gyro": np.zeros_like(acc)}, cfg)
        amp23, _ = _sine_fit(out[inner, 1], t[inner], 23.0)
        assert amp23 < limit * 0.5
        amp5, _ = _sine_fit(out[inner, 2], t[inner], 5.0)
        assert amp5 == pytest.approx(0.4, rel=0.03)
        assert _sine_fit(out[inner, 0], t[inner], 23.0)[0] < limit * 0.5


def test_median_filter_removes_a_single_spike():
    acc = np.tile(GRAVITY, (600, 1))
    acc[300, 0] += 5.0
    for zero_phase in (False, True):
        out, _ = preprocess({"acc": acc, "gyro": np.zeros((600, 3))}, PreprocessConfig(zero_phase=zero_phase))
        np.testing.assert_allclose(out[:, :3], acc[:1].repeat(600, 0), atol=1e-9)
        np.testing.assert_allclose(out[:, 3:], 0.0, atol=1e-9)


def test_channel_order_matches_the_dataset_loader():
    from harcnn.data.uci_har import CHANNEL_NAMES

    assert CHANNELS == tuple(CHANNEL_NAMES)


def test_make_windows_channel_order_and_dtype():
    t, acc, gyro = _movement(seconds=10.0)
    w = make_windows({"acc": acc, "gyro": gyro})
    out, _ = preprocess({"gyro": gyro, "acc": acc})  # the mapping's order does not matter
    assert w.dtype == np.float32 and w.shape == (len(window_starts(len(t))), 128, 9)
    np.testing.assert_allclose(w[2], out[128:256].astype(np.float32))
    late = w[3:]  # after the causal start-up: total - body is the gravity estimate
    np.testing.assert_allclose(late[:, :, 0:3] - late[:, :, 3:6], np.broadcast_to(GRAVITY, late[:, :, :3].shape),
                               atol=0.02)


def test_bad_inputs_raise_data_error():
    good = np.zeros((200, 3))
    with pytest.raises(DataError, match=r"acc must have shape \[n, 3\]"):
        preprocess({"acc": np.zeros((200, 2)), "gyro": good})
    with pytest.raises(DataError, match="same number of samples"):
        preprocess({"acc": good, "gyro": np.zeros((199, 3))})
    bad = good.copy()
    bad[17, 1] = np.nan
    with pytest.raises(DataError, match="sample 17, column 1"):
        preprocess({"acc": bad, "gyro": good})
    with pytest.raises(DataError, match="median_kernel"):
        PreprocessConfig(median_kernel=4)
    with pytest.raises(DataError, match="Nyquist"):  # the gravity cutoff (0.3 Hz) above Nyquist
        preprocess({"acc": good, "gyro": good}, sampling_rate=0.5)
    with pytest.raises(DataError, match="gravity_cutoff_hz"):
        PreprocessConfig(gravity_cutoff_hz=25.0)


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize("from_hz", [100.0, 25.0, 48.3, 200.0])
def test_resample_preserves_a_slow_sinusoid(from_hz):
    t = np.arange(int(20 * from_hz)) / from_hz
    x = np.column_stack([0.8 + 0.3 * np.sin(2 * np.pi * 1.5 * t + 0.4), 0.2 * np.cos(2 * np.pi * 1.0 * t)])
    y = resample(x, from_hz, 50.0)
    up, down = resample_ratio(from_hz, 50.0)
    t_out = np.arange(len(y)) * down / (up * from_hz)
    assert t_out[-1] <= t[-1] + 1e-12 and len(y) == (len(t) - 1) * up // down + 1
    expected = np.column_stack([0.8 + 0.3 * np.sin(2 * np.pi * 1.5 * t_out + 0.4), 0.2 * np.cos(2 * np.pi * t_out)])
    np.testing.assert_allclose(y[25:-25], expected[25:-25], atol=2e-3)
    np.testing.assert_allclose(y, expected, atol=2e-2)  # edges too (antireflect extension)


def test_resample_keeps_a_constant_exactly_and_handles_1d():
    y = resample(np.full(100, 0.98), 25.0, 50.0)
    np.testing.assert_allclose(y, 0.98, rtol=0, atol=1e-12)
    assert y.ndim == 1 and len(y) == 199
    np.testing.assert_array_equal(resample(np.arange(10.0), 50.0, 50.0), np.arange(10.0))
    assert resample_ratio(48.3, 50.0) == (500, 483)
    with pytest.raises(DataError, match="from_hz"):
        resample(np.zeros(10), 0.0)


def test_resample_series_regular_and_irregular():
    rng = np.random.default_rng(3)

    def f(tt):
        return np.column_stack([0.8 + 0.3 * np.sin(2 * np.pi * 1.5 * tt), 0.5 * np.sin(2 * np.pi * 2.0 * tt + 1.0)])

    t0 = 1234.5
    regular = t0 + np.arange(2000) / 100.0
    times, y = resample_series(regular, f(regular))
    assert np.allclose(np.diff(times), 0.02) and times[0] == t0
    np.testing.assert_allclose(y[25:-25], f(times)[25:-25], atol=2e-3)

    # irregular: ~70 Hz with +-30% jitter, and ~30 Hz
    for mean_dt in (1 / 70, 1 / 30):
        dt = mean_dt * rng.uniform(0.7, 1.3, size=1500)
        irregular = t0 + np.concatenate([[0.0], np.cumsum(dt)])
        times, y = resample_series(irregular, f(irregular))
        np.testing.assert_allclose(np.diff(times), 0.02)
        assert times[0] == t0 and times[-1] <= irregular[-1]
        np.testing.assert_allclose(y[25:-25], f(times)[25:-25], atol=0.01)

    with pytest.raises(DataError, match="strictly increasing"):
        resample_series(np.array([0.0, 0.02, 0.02, 0.04]), np.zeros((4, 2)))


# --------------------------------------------------------------------------- streaming


def _chunked(acc, gyro, sizes, windower):
    out, i = [], 0
    for size in itertools.cycle(sizes):
        if i >= len(acc):
            break
        out.append(windower.push(acc[i:i + size], gyro[i:i + size]))
        i += size
    return np.concatenate(out)


@pytest.mark.parametrize("sizes", [[1], [1000], [64], [127, 0, 1, 129], [3, 0, 250, 1, 11]])
def test_streaming_equals_causal_batch(sizes):
    rng = np.random.default_rng(4)
    t, acc, gyro = _movement(seconds=30.0)
    acc = acc + 0.05 * rng.standard_normal(acc.shape)
    gyro = gyro + 0.05 * rng.standard_normal(gyro.shape)
    batch = make_windows({"acc": acc, "gyro": gyro}, PreprocessConfig())  # the default is causal
    sw = StreamingWindower()
    streamed = _chunked(acc, gyro, sizes, sw)
    assert streamed.shape == batch.shape and streamed.dtype == np.float32
    np.testing.assert_allclose(streamed, batch, rtol=1e-6, atol=1e-6)
    assert sw.windows_emitted == len(batch) and sw.samples_seen == len(t)
    assert sw.next_window_start == len(batch) * DEFAULT_STEP


def test_streaming_other_settings_reset_and_errors():
    rng = np.random.default_rng(5)
    acc = GRAVITY + 0.1 * rng.standard_normal((700, 3))
    gyro = 0.1 * rng.standard_normal((700, 3))
    cfg = PreprocessConfig(median_kernel=5, noise_cutoff_hz=None, gravity_filter_order=2)
    sw = StreamingWindower(cfg, window=100, step=30)
    first = _chunked(acc, gyro, [37], sw)
    np.testing.assert_allclose(first, make_windows({"acc": acc, "gyro": gyro}, cfg, window=100, step=30), atol=1e-6)
    sw.reset()
    again = np.concatenate([sw.push(acc[i], gyro[i]) for i in range(len(acc))])  # single samples as [3]
    np.testing.assert_array_equal(again, first)
    assert sw.push(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 100, 9)

    with pytest.raises(DataError, match="causal"):
        StreamingWindower(PreprocessConfig(zero_phase=True))
    with pytest.raises(DataError, match="same number of samples"):
        sw.push(np.zeros((3, 3)), np.zeros((2, 3)))
    with pytest.raises(DataError, match="acc_chunk"):
        sw.push(np.zeros((3, 4)), np.zeros((3, 3)))


def test_zero_phase_batch_differs_from_streaming_by_design():
    t, acc, gyro = _movement(seconds=12.0)
    acc[300:] += np.array([0.0, 0.5, -0.3])  # a posture change
    causal = make_windows({"acc": acc, "gyro": gyro})
    zero_phase = make_windows({"acc": acc, "gyro": gyro}, PreprocessConfig(zero_phase=True))
    assert causal.shape == zero_phase.shape
    assert np.abs(causal - zero_phase).max() > 0.05


# --------------------------------------------------------------------------- any sensor set


def _sensor_set(names, n=1500, seed=6):
    rng = np.random.default_rng(seed)
    t, acc, gyro = _movement(seconds=n / FS)
    out = {"acc": acc + 0.05 * rng.standard_normal(acc.shape), "gyro": gyro + 0.05 * rng.standard_normal(gyro.shape),
           "mag": np.array([20.0, -5.0, 40.0]) + rng.standard_normal((n, 3)),
           "pressure": 1013.0 + 0.1 * rng.standard_normal(n)}
    return {k: out[k] for k in names}


def test_output_channels_for_sensor_sets():
    assert output_channels(["gyro", "acc"]) == CHANNELS
    assert output_channels(["acc"]) == CHANNELS[:6]
    assert output_channels(["gyro"]) == CHANNELS[6:]
    assert output_channels(["pressure", "mag", "acc"]) == (*CHANNELS[:6], "mag_x", "mag_y", "mag_z", "pressure")


def test_preprocess_any_sensor_set_matches_the_uci_channels():
    full = _sensor_set(["acc", "gyro", "mag", "pressure"])
    series, names = preprocess(full)
    assert names == output_channels(full) and series.shape == (1500, 13)
    uci, _ = preprocess({"acc": full["acc"], "gyro": full["gyro"]})
    np.testing.assert_array_equal(series[:, :9], uci)  # the channels are processed independently
    acc_only, names = preprocess({"acc": full["acc"]})
    np.testing.assert_array_equal(acc_only, uci[:, :6])
    gyro_only, names = preprocess({"gyro": full["gyro"]})
    assert names == CHANNELS[6:]
    np.testing.assert_array_equal(gyro_only, uci[:, 6:])
    # mag and single channels: median + noise filter only
    raw = PreprocessConfig(median_kernel=1, noise_cutoff_hz=None)
    series, _ = preprocess({"mag": full["mag"], "pressure": full["pressure"]}, raw)
    np.testing.assert_array_equal(series, np.column_stack([full["mag"], full["pressure"]]))
    with pytest.raises(DataError, match=r"pressure must have shape \[n, 1\]"):
        preprocess({"pressure": np.zeros((10, 2))})
    with pytest.raises(DataError, match="non-empty mapping"):
        preprocess({})


def test_noise_cutoff_is_capped_below_nyquist():
    cfg = PreprocessConfig()
    assert cfg.noise_cutoff_at(50.0) == 20.0 and cfg.noise_cutoff_at(100.0) == 20.0
    assert cfg.noise_cutoff_at(20.0) == pytest.approx(8.0) and cfg.noise_cutoff_at(30.0) == pytest.approx(12.0)
    assert PreprocessConfig(noise_cutoff_hz=None).noise_cutoff_at(20.0) is None
    t = np.arange(600) / 20.0
    acc = np.column_stack([1 + 0.3 * np.sin(2 * np.pi * 2 * t), 0.4 * np.sin(2 * np.pi * 9.5 * t), np.zeros_like(t)])
    out, _ = preprocess({"acc": acc}, PreprocessConfig(median_kernel=1), sampling_rate=20.0)
    inner = slice(100, -100)
    assert _sine_fit(out[inner, 1], t[inner], 9.5)[0] < 0.15  # 9.5 Hz is above the 8 Hz cap
    assert _sine_fit(out[inner, 0], t[inner], 2.0)[0] == pytest.approx(0.3, rel=0.03)


def test_config_to_and_from_plain_data():
    cfg = PreprocessConfig(median_kernel=np.int64(5), noise_cutoff_hz=None, gravity_cutoff_hz=0.25, zero_phase=True)
    data = cfg.to_dict()
    assert json.loads(json.dumps(data)) == data == {
        "median_kernel": 5, "noise_cutoff_hz": None, "gravity_cutoff_hz": 0.25, "filter_order": 3,
        "gravity_filter_order": 3, "zero_phase": True, "gyro_drift_cutoff_hz": None, "gyro_drift_order": 2}
    assert type(data["median_kernel"]) is int
    assert PreprocessConfig.from_dict(data) == cfg and PreprocessConfig.from_dict({}) == PreprocessConfig()
    with pytest.raises(DataError, match="unknown preprocessing setting.s. 'cutoff'; known: median_kernel"):
        PreprocessConfig.from_dict({"cutoff": 3})
    with pytest.raises(DataError, match="zero_phase must be true or false"):
        PreprocessConfig.from_dict({"zero_phase": "no"})
    with pytest.raises(DataError, match="must be a mapping"):
        PreprocessConfig.from_dict([1])


def test_resample_series_onto_a_given_grid():
    rng = np.random.default_rng(8)
    t = 5.0 + np.concatenate([[0.0], np.cumsum(rng.uniform(0.9, 1.1, 999) / 100.0)])

    def f(tt):
        return np.column_stack([np.sin(2 * np.pi * 1.1 * tt), np.cos(2 * np.pi * 0.7 * tt)])

    times, y = resample_series(t, f(t), 200.0, start=5.0123)
    np.testing.assert_allclose(times, 5.0123 + np.arange(len(times)) / 200.0)
    assert times[-1] <= t[-1] < times[-1] + 1 / 200.0
    np.testing.assert_allclose(y[10:-10], f(times)[10:-10], atol=1e-4)
    with pytest.raises(DataError, match="start=4.0 must lie within the timestamps"):
        resample_series(t, f(t), 200.0, start=4.0)


@pytest.mark.parametrize("names", [["acc"], ["acc", "gyro", "mag"], ["gyro", "mag", "pressure", "acc"]])
@pytest.mark.parametrize("sizes", [[1], [64], [127, 0, 1, 129], [3, 0, 250, 1, 11]])
def test_streaming_equals_batch_for_any_sensor_set(names, sizes):
    sensors = _sensor_set(names)
    batch = make_windows(sensors)
    sw = StreamingWindower()
    out, i = [], 0
    for size in itertools.cycle(sizes):
        if i >= 1500:
            break
        chunk = {k: v[i:i + size] for k, v in sensors.items()}
        out.append(sw.push(chunk.pop("acc", None), chunk.pop("gyro", None), **chunk))
        i += size
    streamed = np.concatenate(out)
    assert streamed.shape == batch.shape and sw.channel_names == output_channels(names)
    np.testing.assert_allclose(streamed, batch, rtol=1e-6, atol=1e-6)


def test_streaming_keeps_its_sensor_set():
    sw = StreamingWindower()
    assert sw.channel_names is None
    assert sw.push(np.zeros((5, 3)), mag=np.zeros((5, 3))).shape == (0, 128, 9)
    with pytest.raises(DataError, match="this push has sensors acc, gyro but the stream has acc, mag"):
        sw.push(np.zeros((5, 3)), np.zeros((5, 3)))
    sw.reset()
    assert sw.push(np.zeros(3), pressure=1.0).shape == (0, 128, 7)  # one sample: [3] and a scalar
    with pytest.raises(DataError, match=r"pressure_chunk must have shape \[n, 1\]"):
        sw.push(np.zeros((2, 3)), pressure=np.zeros((2, 2)))
    with pytest.raises(DataError, match="same number of samples, got acc 2, pressure 3"):
        sw.push(np.zeros((2, 3)), pressure=np.zeros(3))


def test_gyroscope_drift_removal_streams_like_the_batch_path():
    """UCI HAR's body_gyro is the gyroscope minus its causal 0.1 Hz low-pass (measured; the dataset's spec
    says so): a constant drift goes, the motion stays, and streaming gives the batch windows."""
    from harcnn.data.uci_har import SPEC
    from harcnn.data.windows import PreprocessConfig, StreamingWindower, preprocess, sliding_windows

    assert SPEC.preprocessing["gyro_drift_cutoff_hz"] == 0.1
    rng = np.random.default_rng(3)
    n = 3000
    t = np.arange(n) / 50.0
    acc = np.tile([1.0, 0.0, 0.0], (n, 1)) + 0.01 * rng.standard_normal((n, 3))
    motion = np.sin(2 * np.pi * 2.0 * t)
    gyro = 0.05 + np.stack([motion, 0 * t, 0 * t], axis=1)
    config = PreprocessConfig(gyro_drift_cutoff_hz=0.1)
    series, _ = preprocess({"acc": acc, "gyro": gyro}, config)
    late = series[2000:, 6:]
    assert abs(late[:, 1].mean()) < 1e-3 and abs(late[:, 2].mean()) < 1e-3  # the 0.05 rad/s drift is gone
    assert late[:, 0].std() > 0.6  # the 2 Hz motion stays (it is far above 0.1 Hz)
    plain, _ = preprocess({"acc": acc, "gyro": gyro})
    assert abs(plain[2000:, 7].mean() - 0.05) < 1e-3  # without the stage, the drift stays
    np.testing.assert_array_equal(series[:, :6], plain[:, :6])  # the accelerometer is untouched
    streamer = StreamingWindower(config)
    pieces = [streamer.push(acc[i:i + 101], gyro[i:i + 101]) for i in range(0, n, 101)]
    np.testing.assert_allclose(np.concatenate([p for p in pieces if len(p)]),
                               sliding_windows(series, 128, 64).astype(np.float32), atol=1e-6)
