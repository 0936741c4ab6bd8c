"""Predicting live sensor samples window by window: :class:`StreamingPredictor`, with the same results
as the batch path (:mod:`harcnn.serving.predict`) and, smoothed, as the HMM's forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.data.windows import STANDARD_GRAVITY, StreamingWindower
from harcnn.serving.artifact import TrainedModel
from harcnn.serving.predict import recording_recipe
from harcnn.serving.timeline import HMMSmoother, OnlineSmoother

__all__ = ["StreamEvent", "StreamingPredictor"]


@dataclass(frozen=True)
class StreamEvent:
    """One completed window of a stream: its index (from 0), its time span in seconds since the
    first sample (plus the predictor's ``start_time``), the window's class probabilities, and the
    prediction: the most probable class, or with smoothing the most probable class of ``smoothed``
    (the HMM's posterior given the windows up to this one and ``lag`` more)."""

    index: int
    start_time: float
    end_time: float
    probabilities: np.ndarray
    class_index: int
    activity: str
    smoothed: np.ndarray | None = None

    @property
    def confidence(self) -> float:
        return float((self.smoothed if self.smoothed is not None else self.probabilities)[self.class_index])


class StreamingPredictor:
    """Predict live sensor samples window by window.

    ``push(acc_chunk [k, 3], gyro_chunk [k, 3])`` (the sensors the model reads, in its order:
    ``push(acc_chunk)`` for an accelerometer-only model) takes samples at the model's rate
    (acceleration in g, or m/s^2 with ``acc_units="m/s2"``; angular velocity in rad/s), any ``k``
    (0 included), and returns a :class:`StreamEvent` for every window the chunk completes.
    Preprocessing is the model's causal pipeline carried across chunks
    (:class:`harcnn.data.StreamingWindower`), so the events equal the batch path on the whole signal
    (the windows bit for bit; the probabilities to float rounding, since a batch of one may round
    differently from a large batch).

    ``smooth="hmm"`` smooths causally with the model's HMM: forward filtering (``lag=0``), or with a
    bounded delay of ``lag`` windows (each event comes ``lag`` windows late; :meth:`flush` gives the
    last ones at the end of a stream), equal to :meth:`HMMSmoother.fixed_lag` on the whole stream.
    """

    def __init__(self, model: TrainedModel, *, acc_units: str = "g", start_time: float = 0.0, smooth: str = "none",
                 lag: int = 0):
        units = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "m/s^2": 1.0 / STANDARD_GRAVITY}
        if acc_units not in units:
            raise HarcnnError(f"acc_units must be 'g' or 'm/s2', got {acc_units!r}")
        self.model = model
        self.sensors, config = recording_recipe(model)
        self.acc_scale = units[acc_units]
        self.start_time = float(start_time)
        self.windower = StreamingWindower(config, window=model.window, step=model.step,
                                          sampling_rate=model.sampling_rate)
        if smooth not in ("none", "hmm"):
            raise HarcnnError(f"streaming smooths with smooth='hmm' (causal) or 'none', got {smooth!r}")
        self.smoother = None
        if smooth == "hmm":
            if not model.timeline.get("hmm"):
                raise HarcnnError("this model has no timeline smoother (it was trained on windows without recordings)")
            self.smoother = OnlineSmoother(HMMSmoother.from_dict(model.timeline["hmm"]), lag=lag)
        self._waiting: dict[int, StreamEvent] = {}

    def reset(self) -> None:
        self.windower.reset()
        self._waiting.clear()
        if self.smoother is not None:
            self.smoother.reset()

    @property
    def windows_emitted(self) -> int:
        return self.windower.windows_emitted

    def push(self, *chunks) -> list[StreamEvent]:
        if len(chunks) != len(self.sensors):
            raise HarcnnError(f"push takes one chunk per sensor the model reads ({', '.join(self.sensors)}), "
                              f"got {len(chunks)}")
        sensors = dict(zip(self.sensors, chunks))
        if "acc" in sensors:
            sensors["acc"] = np.asarray(sensors["acc"], dtype=np.float64) * self.acc_scale
        windows = self.windower.push(**{f"{name}_chunk" if name in ("acc", "gyro") else name: values
                                        for name, values in sensors.items()})
        if len(windows) == 0:
            return []
        probabilities = self.model.predict_proba(windows)
        first = self.windower.windows_emitted - len(windows)
        rate, step, length = self.model.sampling_rate, self.model.step, self.model.window
        events = []
        for j, p in enumerate(probabilities):
            index = first + j
            k = int(p.argmax())
            start = self.start_time + index * step / rate
            event = StreamEvent(index, start, start + length / rate, p, k, self.model.class_names[k])
            if self.smoother is None:
                events.append(event)
            else:
                self._waiting[index] = event
                events += self._smoothed(self.smoother.push(p))
        return events

    def flush(self) -> list[StreamEvent]:
        """End the stream: the windows still waiting for their delay (with ``lag`` > 0); the next
        ``push`` starts a new stream."""
        events = self._smoothed(self.smoother.flush()) if self.smoother is not None else []
        self.reset()
        return events

    def _smoothed(self, finals: list[tuple[int, np.ndarray]]) -> list[StreamEvent]:
        out = []
        for index, posterior in finals:
            raw = self._waiting.pop(index)
            k = int(posterior.argmax())
            out.append(StreamEvent(raw.index, raw.start_time, raw.end_time, raw.probabilities, k,
                                   self.model.class_names[k], posterior))
        return out
