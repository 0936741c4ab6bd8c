"""UCI-HAR-style preprocessing: continuous sensor signals to windows.

The UCI HAR dataset (Anguita et al. 2012/2013) describes its preprocessing in one paragraph:
signals sampled at 50 Hz, noise-filtered with a median filter and a 3rd-order Butterworth
low-pass at 20 Hz, total acceleration split into gravity and body parts with a Butterworth
low-pass at 0.3 Hz (``body_acc = total_acc - gravity``), then cut into windows of 2.56 s =
128 samples with 50% overlap (step 64). Units: acceleration in g (standard gravity
9.80665 m/s^2), angular velocity in rad/s. The output channel order matches the dataset
loader: total_acc x,y,z; body_acc x,y,z; body_gyro x,y,z -> float32 ``[n_windows, 128, 9]``.

Sensor sets
-----------
:func:`preprocess` takes any set of sensors, ``{name: [n, k] array}``: ``"acc"`` (3 axes, g,
total acceleration), ``"gyro"`` (3 axes, rad/s), ``"mag"`` (3 axes, uT) and single channels
under any other name (``[n]`` or ``[n, 1]``, e.g. ``"pressure"``). Every channel gets the median
filter and the noise low-pass; the accelerometer is then split into total and body parts.
The output channels (:func:`output_channels`) come in a fixed order whatever the mapping's
order: ``total_acc_x..z, body_acc_x..z`` (acc), ``body_gyro_x..z`` (gyro, UCI's name, so
UCI-trained models match), ``mag_x..z`` (mag), then the single channels under their own
names. For acc + gyro this is exactly the dataset's 9-channel pipeline.

**Noise cutoff at other rates**: the noise low-pass runs at ``min(noise_cutoff_hz, 0.8 x
Nyquist)`` (:meth:`PreprocessConfig.noise_cutoff_at`). At 50 Hz that is the dataset's 20 Hz
exactly (20 Hz *is* 0.8 x 25 Hz); at 20 Hz it is 8 Hz instead of an impossible 20 Hz; from
50 Hz up the configured cutoff applies unchanged. The cap keeps the filter's transition band
clear of Nyquist, where resampling has already attenuated the signal.

Choices the published description leaves open, and what this module does
--------------------------------------------------------------------------
* **Median kernel**: 3 samples (``PreprocessConfig.median_kernel``). The description gives no
  size; 3 is the smallest kernel that removes single-sample spikes, and at 50 Hz a larger
  kernel would start to flatten the 5-20 Hz content that the 20 Hz low-pass is meant to keep.
  The signal edges are extended by repeating the first/last sample.
* **Filter order of the gravity low-pass**: 3, the same as the noise filter (the description
  gives only the 0.3 Hz cutoff; the published windows confirm it, see below). Every Butterworth
  filter is designed as second-order sections (``scipy.signal.butter(..., output="sos")``) for
  numerical stability: a 0.3 Hz cutoff at 50 Hz puts the poles very close to the unit circle,
  where the (b, a) transfer function form loses precision.
* **Causal vs zero-phase** (``PreprocessConfig.zero_phase``): **causal by default**, because
  that is what the dataset did. In the published windows, ``total_acc - body_acc`` (the
  dataset's gravity) equals a causal 3rd-order Butterworth low-pass at 0.3 Hz (``sosfilt``,
  fs = 50 Hz) of the stitched ``total_acc`` to about 1e-7, the files' 8-digit precision, once the
  start-up transient has died out (subject 1 WALKING, x/y/z); the same filter at 0.28 or
  0.32 Hz is off by about 1e-3, forward-backward filtering (orders 1-4) by up to 1e-2. So the
  default filters run forward only (``sosfilt``) and the median is a *trailing* window over the last
  ``median_kernel`` samples (the centred median delayed by ``(k - 1) / 2`` samples): every
  output sample depends only on samples up to it, the batch path and
  :class:`StreamingWindower` give the same windows for any chunking (the streamer carries the
  filter states and the median tail), and new recordings are processed like the training data.
  ``zero_phase=True`` is offered for offline analysis (``sosfiltfilt``, centred median): no
  group delay, so gravity follows posture changes without the ~0.5 s lag that leaks them into
  ``body_acc``; but forward-backward filtering squares the magnitude response (-6 dB at the
  cutoff; the cutoffs are not adjusted) and the windows no longer look like the dataset's, nor
  like the streamer's: zero-phase batch and streaming differ by design.
* **Noise filter**: a 3rd-order Butterworth at 20 Hz applied at 50 Hz, as described. Note that
  the published signals fall off far more steeply above 20 Hz (body_gyro_x of the first 2000
  training windows: about -42 dB at 19.5 Hz and -106 dB at 23 Hz) than such a filter can (about
  -25 dB at 23 Hz), so the dataset's noise stage probably ran at a higher rate or differed
  otherwise; it is not reproduced exactly (the gravity split above is).
* **Gyroscope drift** (``PreprocessConfig.gyro_drift_cutoff_hz``, off by default): the published
  description does not mention it, but the dataset's ``body_gyro`` is the gyroscope minus its causal
  2nd-order Butterworth low-pass at 0.1 Hz (measured on the HAPT recordings the UCI HAR windows were
  cut from: the static windows' body_gyro difference falls 10x, from 1.9e-2 to 1.8e-3 rad/s; see
  ``benchmarks/results/hapt-vs-uci.md``). The UCI HAR dataset's input spec therefore sets it, so a
  model trained on UCI HAR removes the drift of a new recording's gyroscope the same way.
* **Edge handling**: zero-phase filtering extends each edge by a mirror image (``padtype=
  "even"``) of about one period of the cutoff frequency (``ceil(fs / cutoff)`` samples, 167
  for the 0.3 Hz gravity filter; at least scipy's default, at most ``n - 1``). A mirror keeps
  the level of a constant gravity vector at the edge without copying the instantaneous body
  acceleration into the extension, which scipy's default odd extension does: on a constant
  plus a 2 Hz movement the odd extension's gravity error in the first second was about ten
  times larger. Causal filtering starts in the steady state of the first sample
  (``sosfilt_zi * x[0]``, i.e. the signal is assumed constant before it starts), so the first
  output equals the first input; the gravity estimate then needs about 3-5 s to settle
  when the first sample holds body movement.
  Samples after the last complete window are dropped, as in the dataset.
* **Resampling** (:func:`resample`) uses polyphase filtering (``scipy.signal.resample_poly``)
  with the ratio ``to_hz / from_hz`` approximated by a fraction with denominator at most
  1000, a Kaiser-windowed FIR whose polyphase branches are each normalised to unit DC gain
  (so a constant gravity vector passes exactly), and odd ("antireflect") edge extension
  (scipy's default zero padding pulls gravity towards 0 g at both ends). The output holds
  only the samples that lie within the span of the input. Irregular timestamps
  (:func:`resample_series`) are first interpolated with a cubic spline (linear interpolation
  of a 2 Hz, 0.5 g movement sampled at ~30 Hz with +-30% jitter errs by up to 0.02 g; the
  spline by far less) onto a uniform grid at the
  smallest integer multiple of the target rate that is at least the mean input rate, then
  decimated by that integer factor with the anti-aliasing polyphase filter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harcnn.core.errors import DataError

__all__ = [
    "AXES",
    "CHANNELS",
    "MAX_RATIO_DENOMINATOR",
    "NOISE_CUTOFF_NYQUIST_FRACTION",
    "DEFAULT_RATE",
    "STANDARD_GRAVITY",
    "DEFAULT_STEP",
    "VECTOR_SENSORS",
    "DEFAULT_WINDOW",
    "PreprocessConfig",
    "StreamingWindower",
    "canonical_order",
    "make_windows",
    "output_channels",
    "output_units",
    "preprocess",
    "resample",
    "resample_ratio",
    "resample_series",
    "sensor_array",
    "sliding_windows",
    "stitch_windows",
    "triplets",
    "window_starts",
]


def _signal():
    """scipy.signal, imported on first use (importing it takes about a second)."""
    from scipy import signal

    return signal

# harcnn's default windows for recordings: 2.56 s at 50 Hz, a new one every 1.28 s (the common HAR choice)
DEFAULT_RATE = 50.0
DEFAULT_WINDOW = 128
DEFAULT_STEP = 64
STANDARD_GRAVITY = 9.80665  # m/s^2 per g
MAX_RATIO_DENOMINATOR = 1000
VECTOR_SENSORS = ("acc", "gyro", "mag")  # the 3-axis sensors, in channel order; any other name is one channel
AXES = ("x", "y", "z")
NOISE_CUTOFF_NYQUIST_FRACTION = 0.8  # the noise low-pass never runs above 0.8 x Nyquist


def canonical_order(names: Iterable[str]) -> tuple[str, ...]:
    """Sensor names in channel order: acc, gyro, mag, then the others as given."""
    names = list(names)
    return tuple([s for s in VECTOR_SENSORS if s in names] + [s for s in names if s not in VECTOR_SENSORS])


def output_channels(sensor_names: Iterable[str]) -> tuple[str, ...]:
    """Channel names of :func:`preprocess`'s output for these sensors (see the module docstring)."""
    prefixes = {"acc": ("total_acc", "body_acc"), "gyro": ("body_gyro",), "mag": ("mag",)}
    names: list[str] = []
    for sensor in canonical_order(sensor_names):
        if sensor in prefixes:
            names += [f"{prefix}_{axis}" for prefix in prefixes[sensor] for axis in AXES]
        else:
            names.append(sensor)
    return tuple(names)


def output_units(channel_names: Iterable[str]) -> tuple[str, ...]:
    """The unit of every channel of :func:`preprocess`'s output: g, rad/s, uT, or "" (a user's channel)."""
    units = {"total_acc": "g", "body_acc": "g", "body_gyro": "rad/s", "mag": "uT"}
    return tuple(units.get(name.rsplit("_", 1)[0], "") for name in channel_names)


def triplets(channel_names: Sequence[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """The sensors whose channels ``<sensor>_x``, ``_y``, ``_z`` all exist: ``[(sensor, (ix, iy, iz)), ...]``,
    in the order of their x channels (the 3-axis vectors that rotate with the device)."""
    index = {name: i for i, name in enumerate(channel_names)}
    found = []
    for name in channel_names:
        if name.endswith("_x"):
            sensor = name[:-2]
            axes = [index.get(f"{sensor}_{a}") for a in AXES]
            if None not in axes:
                found.append((sensor, tuple(axes)))
    return found


CHANNELS = output_channels(("acc", "gyro"))


@dataclass(frozen=True)
class PreprocessConfig:
    """Settings of the UCI HAR preprocessing (defaults follow the dataset's description).

    ``noise_cutoff_hz=None`` skips the noise low-pass and ``median_kernel=1`` the median filter;
    the noise cutoff is capped at 0.8 x Nyquist (:meth:`noise_cutoff_at`: 20 Hz stays 20 Hz from 50 Hz up).
    :meth:`to_dict` / :meth:`from_dict` give plain JSON data for saved models.
    ``zero_phase=False`` (default, as the dataset: see the module docstring) filters causally,
    which :class:`StreamingWindower` reproduces; ``True`` filters forward and backward.
    """

    median_kernel: int = 3
    noise_cutoff_hz: float | None = 20.0
    gravity_cutoff_hz: float = 0.3
    filter_order: int = 3
    gravity_filter_order: int = 3
    zero_phase: bool = False
    gyro_drift_cutoff_hz: float | None = None  # subtract the gyroscope's low-pass at this cutoff (UCI HAR: 0.1)
    gyro_drift_order: int = 2

    def __post_init__(self) -> None:
        k = self.median_kernel
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or k % 2 == 0:
            raise DataError(f"median_kernel must be a positive odd integer, got {k!r}")
        for name in ("filter_order", "gravity_filter_order", "gyro_drift_order"):
            order = getattr(self, name)
            if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 12:
                raise DataError(f"{name} must be an integer from 1 to 12, got {order!r}")
        cutoffs = [("gravity_cutoff_hz", self.gravity_cutoff_hz)]
        if self.noise_cutoff_hz is not None:
            cutoffs.append(("noise_cutoff_hz", self.noise_cutoff_hz))
        if self.gyro_drift_cutoff_hz is not None:
            cutoffs.append(("gyro_drift_cutoff_hz", self.gyro_drift_cutoff_hz))
        for name, value in cutoffs:
            if not isinstance(value, (int, float, np.floating)) or not math.isfinite(value) or value <= 0:
                raise DataError(f"{name} must be a positive number of Hz, got {value!r}")
        if not isinstance(self.zero_phase, (bool, np.bool_)):
            raise DataError(f"zero_phase must be true or false, got {self.zero_phase!r}")
        if self.noise_cutoff_hz is not None and self.gravity_cutoff_hz >= self.noise_cutoff_hz:
            raise DataError(
                f"gravity_cutoff_hz ({self.gravity_cutoff_hz} Hz) must be below "
                f"noise_cutoff_hz ({self.noise_cutoff_hz} Hz)"
            )

    def noise_cutoff_at(self, sampling_rate: float) -> float | None:
        """The noise low-pass cutoff used at ``sampling_rate`` Hz: ``noise_cutoff_hz`` capped at
        0.8 x Nyquist (the module docstring says why); ``None`` when the low-pass is off."""
        if self.noise_cutoff_hz is None:
            return None
        return min(float(self.noise_cutoff_hz), NOISE_CUTOFF_NYQUIST_FRACTION * float(sampling_rate) / 2.0)

    def to_dict(self) -> dict[str, object]:
        """The settings as plain JSON data (what a saved model stores)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.item() if isinstance(value, np.generic) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PreprocessConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise DataError(f"preprocessing settings must be a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise DataError(
                f"unknown preprocessing setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
            )
        return cls(**data)

    def causal(self) -> PreprocessConfig:
        """The same settings with causal filtering (what streaming reproduces)."""
        return replace(self, zero_phase=False)

    def zero_phase_variant(self) -> PreprocessConfig:
        """The same settings with zero-phase (forward-backward) filtering, for offline analysis."""
        return replace(self, zero_phase=True)


# --------------------------------------------------------------------------- validation


def _as_float_2d(x, name: str, n_cols: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be a numeric array ({exc})") from None
    if arr.ndim != 2 or (n_cols is not None and arr.shape[1] != n_cols):
        want = f"[n, {n_cols}]" if n_cols is not None else "[n, channels]"
        raise DataError(f"{name} must have shape {want}, got {list(arr.shape)}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{name} has a non-finite value ({arr[row, col]}) at sample {row}, column {col}")


def _check_window_step(window: int, step: int) -> None:
    for name, v in (("window", window), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise DataError(f"{name} must be a positive integer, got {v!r}")


# --------------------------------------------------------------------------- resampling


def resample_ratio(from_hz: float, to_hz: float = DEFAULT_RATE) -> tuple[int, int]:
    """``(up, down)``: the fraction (denominator <= 1000) closest to ``to_hz / from_hz``."""
    for name, v in (("from_hz", from_hz), ("to_hz", to_hz)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) or v <= 0:
            raise DataError(f"{name} must be a positive sampling rate in Hz, got {v!r}")
    frac = Fraction(float(to_hz) / float(from_hz)).limit_denominator(MAX_RATIO_DENOMINATOR)
    if frac.numerator == 0 or frac.numerator > 100 * MAX_RATIO_DENOMINATOR:
        raise DataError(
            f"cannot resample from {from_hz:g} Hz to {to_hz:g} Hz: the rates are too far apart "
            "(check the time unit of the timestamps)"
        )
    return frac.numerator, frac.denominator


def _polyphase_filter(up: int, down: int) -> np.ndarray:
    """resample_poly's default Kaiser FIR with every polyphase branch at unit DC gain."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = _signal().firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    for r in range(up):  # scipy multiplies h by `up`; each branch then sums to exactly 1
        h[r::up] *= (1.0 / up) / h[r::up].sum()
    return h


def _resample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    n = x.shape[0]
    if n == 0:
        return x.copy()
    n_keep = (n - 1) * up // down + 1  # output samples within the span of the input
    if up == down:
        return x.copy()
    if n == 1:
        return x[:1].copy()
    y = _signal().resample_poly(x, up, down, axis=0, window=_polyphase_filter(up, down), padtype="antireflect")
    return y[:n_keep]


def resample(signal, from_hz: float, to_hz: float = DEFAULT_RATE) -> np.ndarray:
    """Resample a uniformly sampled ``[n]`` or ``[n, channels]`` signal from ``from_hz`` to ``to_hz``.

    Polyphase filtering with the rational approximation :func:`resample_ratio`; output sample
    ``i`` lies at input position ``i * down / up`` and only samples within the input's span are
    returned (``(n - 1) * up // down + 1`` of them). Returns float64.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise DataError(f"signal must have shape [n] or [n, channels], got {list(x.shape)}")
    up, down = resample_ratio(from_hz, to_hz)
    if x.ndim == 1:
        return _resample_poly(x[:, None], up, down)[:, 0]
    return _resample_poly(x, up, down)


def resample_series(
    timestamps,
    signal,
    to_hz: float = DEFAULT_RATE,
    *,
    jitter_tolerance: float = 0.02,
    start: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a timestamped ``[n, channels]`` signal to ``to_hz``; returns ``(times, values)``.

    ``timestamps`` (seconds, strictly increasing) count as regular when every interval is within
    ``jitter_tolerance`` (relative) of the mean interval: then the signal is polyphase-resampled
    from its mean rate (:func:`resample`) and ``times`` are the exact output sample times.
    Otherwise it is interpolated (cubic spline) onto a uniform grid at ``k * to_hz`` (smallest integer
    ``k`` with ``k * to_hz`` >= the mean rate) and decimated by ``k`` with the anti-aliasing
    filter; ``times`` is then exactly ``t[0] + i / to_hz``. ``start`` (within the timestamps' span)
    moves that grid to ``start + i / to_hz`` and always takes the second path: this puts separate
    streams onto one common grid.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    x = np.asarray(signal, dtype=np.float64)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    if t.ndim != 1 or x.ndim != 2 or x.shape[0] != t.shape[0]:
        raise DataError(
            f"timestamps [n] and signal [n, channels] must match, got {list(t.shape)} and {list(np.shape(signal))}"
        )
    if t.size < 2:
        raise DataError(f"need at least 2 samples to resample, got {t.size}")
    if not np.all(np.isfinite(t)):
        raise DataError("timestamps contain NaN or inf")
    dt = np.diff(t)
    if np.any(dt <= 0):
        i = int(np.argmax(dt <= 0))
        raise DataError(f"timestamps must be strictly increasing (sample {i + 1}: {t[i + 1]!r} after {t[i]!r})")
    span = t[-1] - t[0]
    rate = (t.size - 1) / span
    slack = max(1e-6 / rate, 4 * np.spacing(abs(t[0])))  # float rounding of a grid point near t[0]
    if start is not None and not (math.isfinite(start) and t[0] - slack <= start <= t[-1]):
        raise DataError(f"start={start!r} must lie within the timestamps ({t[0]!r} to {t[-1]!r})")
    if start is None and np.max(np.abs(dt * rate - 1.0)) <= jitter_tolerance:
        up, down = resample_ratio(rate, to_hz)
        y = _resample_poly(x, up, down)
        times = t[0] + np.arange(y.shape[0]) * (down / (up * rate))
    else:
        origin = t[0] if start is None else float(start)
        k = max(1, math.ceil(rate / to_hz * (1 - 1e-6)))
        grid_rate = k * to_hz
        n_grid = int(math.floor((t[-1] - origin) * grid_rate + 1e-9)) + 1
        grid = (origin - t[0]) + np.arange(n_grid) / grid_rate  # relative to t[0]: keeps precision for epoch times
        from scipy.interpolate import CubicSpline

        fine = CubicSpline(t - t[0], x, axis=0)(grid)
        y = _resample_poly(fine, 1, k)
        times = origin + np.arange(y.shape[0]) / to_hz
    return times, (y[:, 0] if squeeze else y)


# --------------------------------------------------------------------------- filters


def _design(cutoff_hz: float, order: int, fs: float, name: str) -> np.ndarray:
    nyquist = fs / 2.0
    if not 0 < cutoff_hz < nyquist:
        raise DataError(
            f"{name}={cutoff_hz:g} Hz must be below the Nyquist frequency ({nyquist:g} Hz) of {fs:g} Hz data"
        )
    return _signal().butter(order, cutoff_hz, btype="low", fs=fs, output="sos")


def _median_rows(padded: np.ndarray, kernel: int) -> np.ndarray:
    """Median of every run of ``kernel`` consecutive rows of ``padded`` -> ``[len - kernel + 1, c]``."""
    return np.median(sliding_window_view(padded, kernel, axis=0), axis=-1)


def _median_filter(x: np.ndarray, kernel: int, causal: bool) -> np.ndarray:
    if kernel == 1 or x.shape[0] == 0:
        return x.copy()
    if causal:  # trailing window: y[i] = median(x[i-k+1 .. i]), x[<0] = x[0]
        padded = np.concatenate([np.repeat(x[:1], kernel - 1, axis=0), x])
    else:  # centred window, edges repeated
        h = (kernel - 1) // 2
        padded = np.concatenate([np.repeat(x[:1], h, axis=0), x, np.repeat(x[-1:], h, axis=0)])
    return _median_rows(padded, kernel)


def _steady_zi(sos: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Initial state ``[sections, 2, channels]``: the filter has seen ``first`` forever."""
    return _signal().sosfilt_zi(sos)[:, :, None] * first[None, None, :]


def _lowpass(x: np.ndarray, sos: np.ndarray, fs: float, cutoff_hz: float, zero_phase: bool) -> np.ndarray:
    n = x.shape[0]
    if n == 0:
        return x.copy()
    if zero_phase:
        default_pad = 3 * (2 * sos.shape[0] + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
        padlen = min(n - 1, max(default_pad, math.ceil(fs / cutoff_hz)))
        return _signal().sosfiltfilt(sos, x, axis=0, padtype="even", padlen=padlen)
    y, _ = _signal().sosfilt(sos, x, axis=0, zi=_steady_zi(sos, x[0]))
    return y


def _noise_sos(config: PreprocessConfig, fs: float) -> tuple[np.ndarray | None, float | None]:
    """The noise low-pass at ``fs`` (second-order sections, or None when off) and its cutoff."""
    cutoff = config.noise_cutoff_at(fs)
    if cutoff is None:
        return None, None
    return _design(cutoff, config.filter_order, fs, "noise_cutoff_hz"), cutoff


def sensor_array(values, name: str, sensor: str | None = None) -> np.ndarray:
    """One sensor's samples, checked: float64 ``[n, 3]`` for acc, gyro and mag, ``[n, 1]`` for any
    other sensor (``[n]`` accepted). ``name`` is what messages call it; ``sensor`` (default ``name``)
    decides the shape."""
    single = (sensor or name) not in VECTOR_SENSORS
    if single and np.ndim(values) == 1:
        values = np.reshape(values, (-1, 1))
    arr = _as_float_2d(values, name, 1 if single else 3)
    _check_finite(arr, name)
    return arr


def _sensor_matrix(sensors: Mapping[str, object], suffix: str = "") -> tuple[tuple[str, ...], np.ndarray]:
    """The sensors' columns side by side in channel order: ``(names, [n, channels])``, checked."""
    if not isinstance(sensors, Mapping) or not sensors:
        raise DataError("sensors must be a non-empty mapping of sensor name -> array, e.g. {'acc': acc, 'gyro': gyro}")
    for name in sensors:
        if not isinstance(name, str) or not name:
            raise DataError(f"sensor names must be non-empty strings, got {name!r}")
    names = canonical_order(sensors)
    arrays = [sensor_array(sensors[s], s + suffix, s) for s in names]
    if len({a.shape[0] for a in arrays}) > 1:
        counts = ", ".join(f"{s} {a.shape[0]}" for s, a in zip(names, arrays))
        raise DataError(f"all sensors must have the same number of samples, got {counts}")
    return names, np.concatenate(arrays, axis=1)


def _with_body(x: np.ndarray, gravity: np.ndarray) -> np.ndarray:
    """Insert ``body_acc = total_acc - gravity`` after the total acceleration (columns 0-2)."""
    total = x[:, :3]
    return np.concatenate([total, total - gravity, x[:, 3:]], axis=1)


def preprocess(
    sensors: Mapping[str, object],
    config: PreprocessConfig | None = None,
    sampling_rate: float = DEFAULT_RATE,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Continuous UCI-style series from signals already at ``sampling_rate`` (default 50 Hz).

    ``sensors``: ``{"acc": [n, 3] in g, "gyro": [n, 3] in rad/s, "mag": [n, 3] in uT, other: [n]}``,
    any subset. Median filter and noise low-pass on every channel, then ``gravity =
    lowpass_0.3Hz(total_acc)`` and ``body_acc = total_acc - gravity``. Returns ``(series [n, C]
    float64, channel names)`` in the order of :func:`output_channels`.
    """
    cfg = config or PreprocessConfig()
    names, x = _sensor_matrix(sensors)
    fs = float(sampling_rate)
    x = _median_filter(x, cfg.median_kernel, not cfg.zero_phase)
    sos, cutoff = _noise_sos(cfg, fs)
    if sos is not None:
        x = _lowpass(x, sos, fs, cutoff, cfg.zero_phase)
    gyro = _gyro_columns(names)
    if gyro is not None and cfg.gyro_drift_cutoff_hz is not None:
        sos_d = _design(cfg.gyro_drift_cutoff_hz, cfg.gyro_drift_order, fs, "gyro_drift_cutoff_hz")
        x[:, gyro] -= _lowpass(x[:, gyro], sos_d, fs, cfg.gyro_drift_cutoff_hz, cfg.zero_phase)
    if "acc" in names:
        sos_g = _design(cfg.gravity_cutoff_hz, cfg.gravity_filter_order, fs, "gravity_cutoff_hz")
        x = _with_body(x, _lowpass(x[:, :3], sos_g, fs, cfg.gravity_cutoff_hz, cfg.zero_phase))
    return x, output_channels(names)


def _gyro_columns(names: tuple[str, ...]) -> slice | None:
    """Where the gyroscope's x, y, z are in the stacked sensors (before the body acceleration is added)."""
    if "gyro" not in names:
        return None
    first = 3 * names.index("gyro")  # acc, gyro, mag come first, three columns each, in this order
    return slice(first, first + 3)


# --------------------------------------------------------------------------- windows


def window_starts(n_samples: int, window: int = DEFAULT_WINDOW, step: int = DEFAULT_STEP) -> np.ndarray:
    """Start indices of the complete windows of a series of ``n_samples`` samples."""
    _check_window_step(window, step)
    if n_samples < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - window + 1, step, dtype=np.int64)


def sliding_windows(series, window: int = DEFAULT_WINDOW, step: int = DEFAULT_STEP) -> np.ndarray:
    """Cut ``[n, c]`` into ``[n_windows, window, c]`` (a copy; dtype kept); samples after the last
    complete window are dropped. Start indices: :func:`window_starts`."""
    _check_window_step(window, step)
    x = np.asarray(series)
    if x.ndim != 2:
        raise DataError(f"series must have shape [n, channels], got {list(x.shape)}")
    starts = window_starts(x.shape[0], window, step)
    if starts.size == 0:
        return np.zeros((0, window, x.shape[1]), dtype=x.dtype)
    view = sliding_window_view(x, window, axis=0)[::step]  # [n_windows, c, window]
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def stitch_windows(windows, step: int = DEFAULT_STEP, *, check: bool = True, atol: float = 1e-6) -> np.ndarray:
    """Inverse of :func:`sliding_windows` for consecutive windows: ``[n, W, c]`` -> ``[(n-1)*step + W, c]``.

    With ``check`` the samples that consecutive windows share must agree within ``atol``
    (plus a 1e-6 relative tolerance); a DataError names the first pair that does not.
    """
    w = np.asarray(windows)
    if w.ndim != 3:
        raise DataError(f"windows must have shape [n_windows, window, channels], got {list(w.shape)}")
    n, length, _ = w.shape
    _check_window_step(length, step)
    if step > length:
        raise DataError(f"cannot stitch windows of {length} samples with step {step} > window (they leave gaps)")
    if n == 0:
        return np.zeros((0, w.shape[2]), dtype=w.dtype)
    overlap = length - step
    if check and n > 1 and overlap > 0:
        a, b = w[:-1, step:], w[1:, :overlap]
        ok = np.isclose(a, b, rtol=1e-6, atol=atol).all(axis=(1, 2))
        if not ok.all():
            i = int(np.argmin(ok))
            diff = float(np.max(np.abs(a[i].astype(np.float64) - b[i])))
            raise DataError(
                f"windows {i} and {i + 1} do not share their {overlap} overlapping samples "
                f"(max difference {diff:.3g}): they are not consecutive windows with step {step}"
            )
    return np.concatenate([w[0], w[1:, overlap:].reshape(-1, w.shape[2])], axis=0)


def make_windows(
    sensors: Mapping[str, object],
    config: PreprocessConfig | None = None,
    *,
    sampling_rate: float = DEFAULT_RATE,
    window: int = DEFAULT_WINDOW,
    step: int = DEFAULT_STEP,
) -> np.ndarray:
    """``sliding_windows(preprocess(sensors, config, sampling_rate))`` as float32 ``[n_windows, window, C]``
    (channels: :func:`output_channels`)."""
    series, _ = preprocess(sensors, config, sampling_rate)
    return sliding_windows(series, window, step).astype(np.float32)


# --------------------------------------------------------------------------- streaming


class StreamingWindower:
    """Causal UCI-style preprocessing of a live stream, returning windows as they complete.

    ``push(acc_chunk [k, 3], gyro_chunk [k, 3], mag=[k, 3], pressure=[k], ...)`` takes chunks of
    any length (0 included) of any sensor set (the first push fixes it; pass ``None`` or leave
    out what the stream lacks) and returns the float32 windows ``[m, window, C]`` completed by that
    chunk, channels as :func:`output_channels`. The median tail and the Butterworth states
    (``sosfilt`` ``zi``) are carried from chunk to chunk, so for any chunking the windows equal
    ``make_windows(sensors, config)`` with the same (causal) config, the default (within float
    tolerance; in practice bit for bit). Zero-phase filtering cannot be streamed (it looks into
    the future): its batch windows differ from these by design. Window ``j`` (counted from 0 since
    the start or :meth:`reset`) starts at sample ``j * step``: the windows of the last push are
    ``windows_emitted - m .. windows_emitted - 1``.
    """

    def __init__(
        self,
        config: PreprocessConfig | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        step: int = DEFAULT_STEP,
        sampling_rate: float = DEFAULT_RATE,
    ) -> None:
        cfg = config if config is not None else PreprocessConfig()
        if cfg.zero_phase:
            raise DataError(
                "streaming needs causal filtering: pass PreprocessConfig(zero_phase=False) "
                "(or config.causal())"
            )
        _check_window_step(window, step)
        self.config = cfg
        self.window = int(window)
        self.step = int(step)
        self.sampling_rate = float(sampling_rate)
        self._sos_noise, _ = _noise_sos(cfg, self.sampling_rate)
        self._sos_gravity = _design(
            cfg.gravity_cutoff_hz, cfg.gravity_filter_order, self.sampling_rate, "gravity_cutoff_hz"
        )
        self._sos_drift = None if cfg.gyro_drift_cutoff_hz is None else _design(
            cfg.gyro_drift_cutoff_hz, cfg.gyro_drift_order, self.sampling_rate, "gyro_drift_cutoff_hz")
        self.reset()

    def reset(self) -> None:
        """Forget everything, the sensor set included: the next push starts a new stream."""
        self._sensors: tuple[str, ...] | None = None
        self._median_tail: np.ndarray | None = None
        self._zi_noise: np.ndarray | None = None
        self._zi_gravity: np.ndarray | None = None
        self._zi_drift: np.ndarray | None = None
        self._buffer = np.zeros((0, 0), dtype=np.float64)
        self._buffer_start = 0
        self._n_samples = 0
        self._next_start = 0
        self._n_windows = 0

    @property
    def samples_seen(self) -> int:
        return self._n_samples

    @property
    def windows_emitted(self) -> int:
        return self._n_windows

    @property
    def next_window_start(self) -> int:
        """Sample index at which the next window will start."""
        return self._next_start

    @property
    def channel_names(self) -> tuple[str, ...] | None:
        """The output channels, once the first push has fixed the sensor set."""
        return None if self._sensors is None else output_channels(self._sensors)

    @staticmethod
    def _one_sample(x, name: str):
        """A single 3-axis sample given as ``[3]`` (or an empty ``[0]``) becomes ``[1, 3]`` (``[0, 3]``)."""
        if name in VECTOR_SENSORS and isinstance(x, (np.ndarray, list, tuple)) and np.ndim(x) == 1:
            if len(x) in (0, 3):
                return np.reshape(np.asarray(x, dtype=object), (-1, 3))
        if name not in VECTOR_SENSORS and np.ndim(x) == 0:
            return np.reshape(np.asarray(x, dtype=object), (1,))
        return x

    def push(self, acc_chunk=None, gyro_chunk=None, **other_sensors) -> np.ndarray:
        """Feed ``k`` new samples of every sensor (acc in g, gyro in rad/s, mag in uT); return the
        windows they complete."""
        given = {"acc": acc_chunk, "gyro": gyro_chunk, **other_sensors}
        chunks = {name: self._one_sample(x, name) for name, x in given.items() if x is not None}
        names, x = _sensor_matrix(chunks, "_chunk")
        if self._sensors is None:
            self._sensors = names
            self._buffer = np.zeros((0, len(output_channels(names))), dtype=np.float64)
        elif names != self._sensors:
            raise DataError(
                f"this push has sensors {', '.join(names)} but the stream has {', '.join(self._sensors)} "
                "(fixed by its first push): push the same sensors every time, or reset()"
            )
        if x.shape[0] > 0:
            self._process(x)
        return self._emit()

    def _process(self, x: np.ndarray) -> None:
        kernel = self.config.median_kernel
        if self._median_tail is None:  # first sample of the stream: steady state at x[0]
            self._median_tail = np.repeat(x[:1], kernel - 1, axis=0)
            if self._sos_noise is not None:
                self._zi_noise = _steady_zi(self._sos_noise, x[0])
        if kernel > 1:
            padded = np.concatenate([self._median_tail, x])
            x = _median_rows(padded, kernel)
            self._median_tail = padded[-(kernel - 1):]
        if self._sos_noise is not None:
            x, self._zi_noise = _signal().sosfilt(self._sos_noise, x, axis=0, zi=self._zi_noise)
        gyro = _gyro_columns(self._sensors)
        if gyro is not None and self._sos_drift is not None:
            if self._zi_drift is None:
                self._zi_drift = _steady_zi(self._sos_drift, x[0, gyro])
            drift, self._zi_drift = _signal().sosfilt(self._sos_drift, x[:, gyro], axis=0, zi=self._zi_drift)
            x[:, gyro] -= drift
        if "acc" in self._sensors:
            if self._zi_gravity is None:
                self._zi_gravity = _steady_zi(self._sos_gravity, x[0, :3])
            gravity, self._zi_gravity = _signal().sosfilt(self._sos_gravity, x[:, :3], axis=0, zi=self._zi_gravity)
            x = _with_body(x, gravity)
        self._buffer = np.concatenate([self._buffer, x])
        self._n_samples += x.shape[0]

    def _emit(self) -> np.ndarray:
        found = []
        while self._next_start + self.window <= self._n_samples:
            lo = self._next_start - self._buffer_start
            found.append(self._buffer[lo:lo + self.window])
            self._next_start += self.step
        self._n_windows += len(found)
        drop = min(max(self._next_start - self._buffer_start, 0), self._buffer.shape[0])
        if drop:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
        if not found:
            return np.zeros((0, self.window, self._buffer.shape[1]), dtype=np.float32)
        return np.stack(found).astype(np.float32)
