"""The model's timeline of a recording, for the app's second row: the activity of every window after the
model's smoothing, and its confidence (the probability the model gives that activity).

Which model: the one given (``harcnn label --model DIR``), else harcnn's built-in model that fits the
recording's sensors (:func:`harcnn.serving.builtin.builtin_model_for`); where none fits, the page shows
:data:`NO_MODEL_HINT`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.serving.builtin import builtin_model_for

if TYPE_CHECKING:
    from harcnn.data.recordings import Recording
    from harcnn.serving.artifact import TrainedModel

NO_MODEL_HINT = ("no model reads this recording's sensors: start the app with --model DIR (a model folder from "
                 "'harcnn train --save') to see its timeline here and accept its predictions")
BUILTIN = "the built-in model that fits each recording's sensors ('harcnn models --builtin')"


class ModelTimelines:
    """Timelines of recordings by ``model``, or by the model ``choose(recording)`` returns when ``model`` is
    None; computed once per recording (while it is unchanged) and one at a time."""

    def __init__(self, model: TrainedModel | None = None,
                 choose: Callable[[Recording], TrainedModel | None] = builtin_model_for):
        self.model, self.choose = model, choose
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        if self.model is None:
            return {"model": BUILTIN, "hint": None} if self.choose is builtin_model_for else \
                {"model": None, "hint": NO_MODEL_HINT}
        return {"model": self.model.describe(), "classes": list(self.model.class_names), "hint": None}

    def timeline(self, name: str, recording: Recording, key: Any = None) -> dict[str, Any]:
        """``{"available": False, "hint": why}`` or the timeline: ``model``, ``smoothing``, ``classes``, and
        per window (``windows``: arrays) the stretch it owns ``start``/``end`` (s, the recording's clock), its
        activity ``label`` (an index into ``classes``) and ``confidence``. ``key`` identifies the recording's
        content (computed again when it changes)."""
        with self._lock:
            cached = self._cache.get(name)
            if cached and cached[0] == key:
                return cached[1]
            model = self.model if self.model is not None else self.choose(recording)
            if model is None:
                return {"available": False, "hint": NO_MODEL_HINT}
            try:
                result = _timeline(model, recording)
            except HarcnnError as error:
                result = {"available": False, "hint": f"{model.describe()}: {error}"}
            self._cache[name] = (key, result)
            return result


def _timeline(model: TrainedModel, recording: Recording) -> dict[str, Any]:
    from harcnn.serving.predict import predict_recording, smoothing_for

    prediction = predict_recording(model, recording)
    smoothing = smoothing_for(model)
    prediction.decide(smoothing, hmm=model.timeline.get("hmm"))
    lo, hi, _ = prediction.window_spans()
    decided = prediction.predicted
    confidence = prediction.probabilities[np.arange(len(decided)), decided]
    return {"available": True, "model": model.describe(), "smoothing": smoothing, "classes": list(model.class_names),
            "windows": {"start": lo.tolist(), "end": hi.tolist(), "label": decided.tolist(),
                        "confidence": np.round(confidence.astype(np.float64), 4).tolist()}}
