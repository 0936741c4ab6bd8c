"""Predicting live sensor samples window by window: :class:`StreamingPredictor`, with the same results
as the batch path (:mod:`harcnn.serving.predict`) and, smoothed, as the HMM's forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.data.bodyframe import StreamingBodyFrame
from harcnn.data.windows import STANDARD_GRAVITY, VECTOR_SENSORS, StreamingWindower
from harcnn.serving.artifact import TrainedModel
from harcnn.serving.predict import recording_recipe
from harcnn.serving.timeline import HMMSmoother, OnlineSmoother

__all__ = ["StreamEvent", "StreamingPredictor"]


@dataclass(frozen=True)
class StreamEvent:
    """One completed window of a stream: its index (from 0), its time span in seconds since the
    first sample (plus the predictor's ``start_time``), the window's class probabilities, and the
    prediction: the most probable class, or with smoothing the most probable class of ``smoothed``
    (the HMM's posterior given the windows up to this one and ``lag`` more). For a model of body-frame
    windows, the frame in force when the window completed: ``frame`` ("walking" or "gravity"),
    ``frame_confidence`` ("high", "medium", "low") and ``frame_segment`` (how many moves of the phone
    on the body were found before it)."""

    index: int
    start_time: float
    end_time: float
    probabilities: np.ndarray
    class_index: int
    activity: str
    smoothed: np.ndarray | None = None
    frame: str | None = None
    frame_confidence: str | None = None
    frame_segment: int | None = None

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

    A model of body-frame windows gets every sample turned by the causal body frame
    (:class:`harcnn.data.bodyframe.StreamingBodyFrame`) before the preprocessing: gravity alone (the
    events say "gravity", "low") until 2.56 s of walking, then the walking frame, refined as walking
    arrives; on HAPT's recordings it is within 10 degrees of the batch frame 2.6 s (median) after the
    first walking, and a move of the phone on the body is followed 15.7 s (median) later, after 10 s of
    walking (benchmarks/README.md, "Body frame"). Until then the windows differ from the batch path's,
    which turns the whole recording by the frame estimated from all of it.
    """

    def __init__(self, model: TrainedModel, *, acc_units: str = "g", start_time: float = 0.0, smooth: str = "none",
                 lag: int = 0):
        units = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "m/s^2": 1.0 / STANDARD_GRAVITY}
        if acc_units not in units:
            raise HarcnnError(f"acc_units must be 'g' or 'm/s2', got {acc_units!r}")
        self.model = model
        self.sensors, config, frame = recording_recipe(model)
        self.body_frame = StreamingBodyFrame(model.sampling_rate) if frame == "body" else None
        if self.body_frame is not None and "acc" not in self.sensors:
            raise HarcnnError("this model's body frame is estimated from the accelerometer, which it does not read")
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
        if self.body_frame is not None:
            self.body_frame.reset()
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
        if self.body_frame is not None:
            rotations = self.body_frame.push(sensors["acc"])  # [k, 3, 3], one per sample
            for name in VECTOR_SENSORS:
                if name in sensors:
                    sensors[name] = np.einsum("kij,kj->ki", rotations, np.asarray(sensors[name], dtype=np.float64))
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
            event = StreamEvent(index, start, start + length / rate, p, k, self.model.class_names[k],
                                **self._frame_fields())
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
                                   self.model.class_names[k], posterior, raw.frame, raw.frame_confidence,
                                   raw.frame_segment))
        return out

    def _frame_fields(self) -> dict:
        """The frame in force now, as :class:`StreamEvent` fields (none for a model of the phone's axes)."""
        if self.body_frame is None:
            return {}
        frame = self.body_frame.frame  # None during the first block: gravity alone
        return {"frame": frame.source if frame else "gravity", "frame_confidence": frame.confidence if frame else "low",
                "frame_segment": len(self.body_frame.changes)}
