"""Smoothing per-window class probabilities over time, and marking unsure windows unknown.

A classifier judges each window alone, so its predictions flicker between neighbouring classes.
:class:`HMMSmoother` treats the activity as a hidden Markov chain at window rate: transitions are
learned from label sequences, and the emission score of class k is the hybrid-HMM "scaled
likelihood" ``log p_cal(k|x) - log prior_k``, where ``p_cal`` is the classifier's probability
after temperature scaling and ``prior`` the class frequencies of the classifier's training data.
It decodes (Viterbi), smooths (forward-backward), filters (forward only, causal) and smooths with a
fixed lag; :class:`OnlineSmoother` gives the fixed-lag results live, one row at a time.
:func:`majority_smooth` is the model-free alternative, :func:`smooth` picks a method by name and
never smooths across a gap (:func:`runs`). :func:`choose_unknown_threshold` and
:func:`mark_unknown` turn windows the model is unsure of into "unknown".

Probabilities are ``[n, K]`` arrays of non-negative rows (renormalised to sum to 1) and are clipped
at ``FLOOR`` before their logarithm, so a probability of 0 is very unlikely, never impossible.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError

__all__ = [
    "FLOOR", "METHODS", "HMMSmoother", "OnlineSmoother", "choose_unknown_threshold", "majority_smooth",
    "mark_unknown", "runs", "smooth",
]

FLOOR = 1e-12
METHODS = ("none", "median", "hmm")


def _log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, FLOOR))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    return x / x.sum(axis=1, keepdims=True)


def _as_probabilities(probabilities, n_classes: int | None = None, *, first_window: int = 0) -> np.ndarray:
    """``[n, K]`` float64 rows renormalised to sum to 1, or a clear error."""
    try:
        p = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):
        raise HarcnnError("probabilities must be an array of numbers [windows, classes]") from None
    if p.ndim != 2:
        raise HarcnnError(f"probabilities must be a 2-D array [windows, classes], got shape {list(p.shape)}")
    if n_classes is not None and p.shape[1] != n_classes:
        raise HarcnnError(f"probabilities have {p.shape[1]} classes per window but the smoother has {n_classes}")
    problems = (("holds NaN or infinite values", ~np.isfinite(p).all(axis=1)),
                ("holds negative probabilities", (p < 0).any(axis=1)),
                ("has no positive probability", ~(p > 0).any(axis=1)))
    for problem, bad in problems:
        if bad.any():
            raise HarcnnError(f"probabilities of window {first_window + int(np.argmax(bad))} {problem}")
    return _normalise_rows(p)


def _as_labels(labels, n_classes: int, name: str) -> np.ndarray:
    """A 1-D integer array of labels in -1..K-1 (-1: unlabelled)."""
    y = np.asarray(labels)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.size == 0):
        raise HarcnnError(f"{name} must be a 1-D array of integer labels, got {y.dtype} of shape {list(y.shape)}")
    y = y.astype(np.int64)
    bad = (y < -1) | (y >= n_classes)
    if bad.any():
        raise HarcnnError(f"{name} holds label {y[np.argmax(bad)]} outside -1..{n_classes - 1} (-1: unlabelled)")
    return y


def _check_lag(lag: int) -> int:
    if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or lag < 0:
        raise HarcnnError(f"lag must be a whole number of windows >= 0, got {lag!r}")
    return int(lag)


def _as_vector(values, n: int, name: str, *, positive: bool) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,) or not np.isfinite(v).all() or (v <= 0 if positive else v < 0).any():
        kind = "positive" if positive else "non-negative"
        raise HarcnnError(f"{name} must be {n} finite {kind} numbers, got {np.array2string(v, threshold=8)}")
    return v


class HMMSmoother:
    """A hidden Markov model over activities at window rate, on top of a window classifier.

    ``fit`` learns ``transitions_ [K, K]`` (row i: next-window class given class i),
    ``initial_ [K]`` and ``class_priors_ [K]``; ``calibrate`` optionally learns ``temperature_``
    (1.0 until then). Then ``decode`` (Viterbi labels), ``posteriors`` (forward-backward),
    ``filter`` (forward, causal) and ``fixed_lag`` take probabilities ``[n, K]`` of one
    contiguous recording. ``to_dict``/``from_dict`` save and restore it as plain JSON data.
    """

    def __init__(self, n_classes: int, *, pseudo_count: float = 1.0):
        self.n_classes = n_classes
        self.pseudo_count = pseudo_count

    # ------------------------------------------------------------------ learning
    def _check_params(self) -> int:
        k = self.n_classes
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise HarcnnError(f"n_classes must be a whole number >= 1, got {k!r}")
        pc = self.pseudo_count
        if isinstance(pc, bool) or not isinstance(pc, (int, float, np.number)) or not np.isfinite(pc) or pc < 0:
            raise HarcnnError(f"pseudo_count must be a finite number >= 0, got {self.pseudo_count!r}")
        return int(k)

    def fit(self, sequences: Sequence[np.ndarray], class_priors: np.ndarray | None = None) -> HMMSmoother:
        """Learn the chain from integer label sequences, one per recording, one label per window
        (-1: unlabelled; pairs touching it are not counted and a labelled run after it starts anew).

        ``class_priors``: the class frequencies of the classifier's training data (the emission
        scores divide them out); by default the label frequencies of ``sequences``.
        """
        k = self._check_params()
        if isinstance(sequences, np.ndarray) and sequences.ndim == 1 and sequences.dtype != object:
            raise HarcnnError("sequences must be a list of label arrays: wrap a single sequence in a list")
        transitions, initial, counts = np.zeros((k, k)), np.zeros(k), np.zeros(k)
        for i, sequence in enumerate(sequences):
            s = _as_labels(sequence, k, f"sequence {i}")
            pair = (s[:-1] >= 0) & (s[1:] >= 0)
            np.add.at(transitions, (s[:-1][pair], s[1:][pair]), 1.0)
            run_start = (s >= 0) & np.r_[True, s[:-1] < 0]
            initial += np.bincount(s[run_start], minlength=k)
            counts += np.bincount(s[s >= 0], minlength=k)
        if counts.sum() == 0:
            raise HarcnnError(f"the sequences hold no labelled window (labels 0..{k - 1}; -1 is unlabelled)")
        transitions += self.pseudo_count
        initial += self.pseudo_count
        totals = transitions.sum(axis=1)
        if (totals == 0).any():
            raise HarcnnError(f"class {int(np.argmax(totals == 0))} is never followed by a labelled window, so its "
                              "transitions are unknown: use pseudo_count > 0 or more label sequences")
        if class_priors is None:
            if (counts == 0).any():
                raise HarcnnError(f"class {int(np.argmax(counts == 0))} never occurs in the sequences: pass "
                                  "class_priors (the class frequencies of the classifier's training data)")
            class_priors = counts
        priors = _as_vector(class_priors, k, "class_priors", positive=True)
        self.transitions_ = transitions / totals[:, None]
        self.initial_ = initial / initial.sum()
        self.class_priors_ = priors / priors.sum()
        return self

    def calibrate(self, probabilities: np.ndarray, labels: np.ndarray) -> HMMSmoother:
        """Fit ``temperature_`` on held-out predictions: the T in [0.01, 100] minimising the negative
        log-likelihood of ``softmax(log p / T)`` (bounded Brent search over log T; the NLL is convex
        in 1/T). Windows labelled -1 are ignored. T > 1 softens an over-confident classifier."""
        from scipy.optimize import minimize_scalar

        k = self._check_params()
        log_p = _log(_as_probabilities(probabilities, k))
        y = _as_labels(labels, k, "labels")
        if len(y) != len(log_p):
            raise HarcnnError(f"calibrate needs one label per window: {len(log_p)} windows, {len(y)} labels")
        keep = y >= 0
        if not keep.any():
            raise HarcnnError("calibrate needs labelled windows (labels 0..K-1), all are -1")
        log_p, y = log_p[keep], y[keep]
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            return -float(_log_softmax(log_p / np.exp(log_t))[rows, y].mean())

        result = minimize_scalar(nll, bounds=(np.log(0.01), np.log(100.0)), method="bounded",
                                 options={"xatol": 1e-6})
        self.temperature_ = float(np.exp(result.x))
        return self

    # ------------------------------------------------------------------ inference
    @property
    def _temperature(self) -> float:
        return getattr(self, "temperature_", 1.0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "transitions_"):
            raise HarcnnError("the HMMSmoother is not fitted: call fit(label_sequences) first, or load one "
                              "with HMMSmoother.from_dict")

    def _log_emissions(self, probabilities, first_window: int = 0) -> np.ndarray:
        """Scaled log-likelihoods ``log p_cal(k|x) - log prior_k``, ``[n, K]``."""
        self._check_fitted()
        p = _as_probabilities(probabilities, self.n_classes, first_window=first_window)
        return _log_softmax(_log(p) / self._temperature) - np.log(self.class_priors_)

    def _likelihoods(self, probabilities, first_window: int = 0) -> np.ndarray:
        """Emission likelihoods scaled so that each row's largest is 1."""
        e = self._log_emissions(probabilities, first_window)
        return np.exp(e - e.max(axis=1, keepdims=True))

    def _forward_step(self, previous: np.ndarray | None, likelihood: np.ndarray) -> np.ndarray:
        predicted = self.initial_ if previous is None else previous @ self.transitions_
        alpha = predicted * likelihood
        return alpha / alpha.sum()

    def _filter(self, likelihoods: np.ndarray) -> np.ndarray:
        alpha, previous = np.empty_like(likelihoods), None
        for t, likelihood in enumerate(likelihoods):
            previous = alpha[t] = self._forward_step(previous, likelihood)
        return alpha

    def _lagged(self, alpha: np.ndarray, likelihoods: np.ndarray, lag: int) -> np.ndarray:
        """Row t: ``p(z_t | windows 0..min(t+lag, n-1))`` from the filtered ``alpha [m, K]`` (m <= n)
        and the likelihoods ``[n, K]`` of the same windows."""
        m, n = len(alpha), len(likelihoods)
        beta = np.ones_like(alpha)
        for d in range(min(lag, n - 1), 0, -1):  # backward messages, innermost (latest window) first
            rows = min(m, n - d)
            message = (likelihoods[d:d + rows] * beta[:rows]) @ self.transitions_.T
            beta[:rows] = _normalise_rows(message)
        return _normalise_rows(alpha * beta)

    def filter(self, probabilities: np.ndarray) -> np.ndarray:
        """Causal posteriors ``p(z_t | windows 0..t)``, ``[n, K]``."""
        return self._filter(self._likelihoods(probabilities))

    def posteriors(self, probabilities: np.ndarray) -> np.ndarray:
        """Smoothed posteriors ``p(z_t | all windows)`` (forward-backward), ``[n, K]``."""
        return self._smoothed(self._likelihoods(probabilities))

    def _smoothed(self, likelihoods: np.ndarray) -> np.ndarray:
        alpha, beta = self._filter(likelihoods), np.ones_like(likelihoods)
        for t in range(len(likelihoods) - 2, -1, -1):
            message = self.transitions_ @ (likelihoods[t + 1] * beta[t + 1])
            beta[t] = message / message.sum()
        return _normalise_rows(alpha * beta)

    def fixed_lag(self, probabilities: np.ndarray, lag: int) -> np.ndarray:
        """``p(z_t | windows 0..t+lag)`` (the last windows see what exists): ``lag=0`` is
        ``filter``, and the last ``lag + 1`` rows equal ``posteriors``."""
        lag = _check_lag(lag)
        likelihoods = self._likelihoods(probabilities)
        if lag >= len(likelihoods) - 1:
            return self._smoothed(likelihoods)
        return self._lagged(self._filter(likelihoods), likelihoods, lag)

    def decode(self, probabilities: np.ndarray) -> np.ndarray:
        """The most likely label sequence (Viterbi, in log space)."""
        e = self._log_emissions(probabilities)
        n, k = e.shape
        path = np.zeros(n, dtype=np.int64)
        if n == 0:
            return path
        log_transitions = _log(self.transitions_)
        back = np.zeros((n, k), dtype=np.int64)
        delta = _log(self.initial_) + e[0]
        for t in range(1, n):
            scores = delta[:, None] + log_transitions
            back[t] = scores.argmax(axis=0)
            delta = scores[back[t], np.arange(k)] + e[t]
        path[-1] = delta.argmax()
        for t in range(n - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return path

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (lists and floats) that ``from_dict`` restores exactly."""
        self._check_fitted()
        return {"n_classes": int(self.n_classes), "pseudo_count": float(self.pseudo_count),
                "temperature": float(self._temperature), "transitions": self.transitions_.tolist(),
                "initial": self.initial_.tolist(), "class_priors": self.class_priors_.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HMMSmoother:
        keys = ("n_classes", "pseudo_count", "temperature", "transitions", "initial", "class_priors")
        missing = [key for key in keys if not isinstance(d, Mapping) or key not in d]
        if missing:
            raise HarcnnError(f"HMMSmoother.from_dict: missing {', '.join(missing)} (expected what to_dict wrote)")
        hmm = cls(d["n_classes"], pseudo_count=d["pseudo_count"])
        k = hmm._check_params()
        try:
            transitions = np.asarray(d["transitions"], dtype=np.float64)
        except (TypeError, ValueError):
            transitions = np.zeros(0)
        if transitions.shape != (k, k):
            raise HarcnnError(f"HMMSmoother.from_dict: transitions must be a {k} x {k} table")
        for i, row in enumerate(transitions):
            _as_vector(row, k, f"HMMSmoother.from_dict: transitions row {i}", positive=False)
        hmm.transitions_ = transitions
        hmm.initial_ = _as_vector(d["initial"], k, "HMMSmoother.from_dict: initial", positive=False)
        hmm.class_priors_ = _as_vector(d["class_priors"], k, "HMMSmoother.from_dict: class_priors", positive=True)
        for name, total in (("transitions rows", transitions.sum(axis=1)), ("initial", hmm.initial_.sum()),
                            ("class_priors", hmm.class_priors_.sum())):
            if not np.allclose(total, 1.0, atol=1e-6):
                raise HarcnnError(f"HMMSmoother.from_dict: {name} must sum to 1")
        hmm.temperature_ = float(_as_vector([d["temperature"]], 1, "HMMSmoother.from_dict: temperature",
                                            positive=True)[0])
        return hmm


class OnlineSmoother:
    """Fixed-lag smoothing of a live stream, one row of probabilities at a time.

    ``push(row)`` returns ``(window_index, posterior)`` for every window that became final: window t
    once window t+lag has arrived. ``flush()`` ends the stream: it returns the windows still waiting,
    smoothed with what arrived, and resets. The outputs equal ``hmm.fixed_lag(all_rows, lag)``.
    """

    def __init__(self, hmm: HMMSmoother, lag: int = 0):
        hmm._check_fitted()
        self.hmm = hmm
        self.lag = _check_lag(lag)
        self.reset()

    def reset(self) -> None:
        self._alpha: deque[np.ndarray] = deque()
        self._likelihoods: deque[np.ndarray] = deque()
        self._first = 0  # index of the oldest window still waiting
        self._previous: np.ndarray | None = None  # the latest filtered posterior

    def push(self, probabilities_row: np.ndarray) -> list[tuple[int, np.ndarray]]:
        row = np.asarray(probabilities_row)
        if row.ndim != 1:
            raise HarcnnError(f"push takes one window's probabilities [K], got shape {list(row.shape)}")
        index = self._first + len(self._alpha)
        likelihood = self.hmm._likelihoods(row[None, :], first_window=index)[0]
        self._previous = self.hmm._forward_step(self._previous, likelihood)
        self._alpha.append(self._previous)
        self._likelihoods.append(likelihood)
        if len(self._alpha) <= self.lag:
            return []
        posterior = self.hmm._lagged(np.array([self._alpha[0]]), np.array(self._likelihoods), self.lag)[0]
        self._alpha.popleft()
        self._likelihoods.popleft()
        self._first += 1
        return [(index - self.lag, posterior)]

    def flush(self) -> list[tuple[int, np.ndarray]]:
        out = []
        if self._alpha:
            posteriors = self.hmm._lagged(np.array(self._alpha), np.array(self._likelihoods), self.lag)
            out = [(self._first + i, row) for i, row in enumerate(posteriors)]
        self.reset()
        return out


# ---------------------------------------------------------------------------------------- model-free


def _window_sums(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Row t: the sum of rows t-before..t+after of ``x`` that exist."""
    padded = np.pad(x, ((before, after), (0, 0)))
    return np.lib.stride_tricks.sliding_window_view(padded, before + after + 1, axis=0).sum(axis=-1)


def majority_smooth(probabilities: np.ndarray, width: int, *, causal: bool = False) -> np.ndarray:
    """Labels by majority vote of the argmax labels in a centred window of ``width`` (odd) windows,
    or the trailing window (this one and the ``width - 1`` before it) when ``causal``; edges use
    the windows that exist.

    Ties: among the classes with the most votes, the one with the largest probability summed over
    the window wins; if that is tied too, the window keeps its own label when it is among them,
    else the lowest class index wins.
    """
    p = _as_probabilities(probabilities)
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1 or (
            not causal and width % 2 == 0):
        raise HarcnnError(f"width must be {'a whole number' if causal else 'an odd number'} of windows >= 1, "
                          f"got {width!r}")
    n, k = p.shape
    labels = p.argmax(axis=1)
    if n == 0:
        return labels
    before, after = (width - 1, 0) if causal else ((width - 1) // 2, (width - 1) // 2)
    votes = _window_sums(np.eye(k)[labels], before, after)
    mass = _window_sums(p, before, after)
    best = votes == votes.max(axis=1, keepdims=True)
    mass = np.where(best, mass, -np.inf)
    best &= mass == mass.max(axis=1, keepdims=True)
    return np.where(best[np.arange(n), labels], labels, best.argmax(axis=1))


def runs(contiguous: np.ndarray) -> list[slice]:
    """The gap-free stretches of ``n`` windows: ``contiguous[i]`` (length n-1) says window i+1
    directly follows window i (:func:`harcnn.serving.timeline.window_spans` gives it)."""
    c = np.asarray(contiguous)
    if c.ndim != 1 or c.dtype != bool:
        raise HarcnnError(f"contiguous must be a 1-D array of booleans (length n-1), got {c.dtype} "
                          f"of shape {list(c.shape)}")
    starts = [0, *(np.flatnonzero(~c) + 1).tolist()]
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], len(c) + 1])]


def smooth(probabilities: np.ndarray, method: str, *, hmm: HMMSmoother | None = None, width: int = 5,
           contiguous: np.ndarray | None = None) -> np.ndarray:
    """Labels per window by ``method``: "none" (argmax), "median" (:func:`majority_smooth` over
    ``width`` windows) or "hmm" (Viterbi of the fitted ``hmm``). With ``contiguous`` (length n-1,
    see :func:`runs`) each gap-free stretch is smoothed on its own."""
    if method not in METHODS:
        raise HarcnnError(f"unknown smoothing method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "hmm" and hmm is None:
        raise HarcnnError("method 'hmm' needs a fitted model: pass hmm=HMMSmoother(K).fit(label_sequences) "
                          "or hmm=HMMSmoother.from_dict(saved)")
    p = _as_probabilities(probabilities, hmm.n_classes if method == "hmm" else None)
    n = len(p)
    pieces = [slice(0, n)]
    if contiguous is not None:
        if len(contiguous) != max(n - 1, 0):
            raise HarcnnError(f"contiguous must have one value per pair of windows ({max(n - 1, 0)}), "
                              f"got {len(contiguous)}")
        pieces = runs(contiguous) if n else []
    labels = np.zeros(n, dtype=np.int64)
    for piece in pieces:
        if method == "hmm":
            labels[piece] = hmm.decode(p[piece])
        elif method == "median":
            labels[piece] = majority_smooth(p[piece], width)
        else:
            labels[piece] = p[piece].argmax(axis=1)
    return labels


# ---------------------------------------------------------------------------------------- unknowns


def choose_unknown_threshold(confidence: np.ndarray, correct: np.ndarray, *, abstain_value: float = 0.5) -> float:
    """The threshold t (windows with confidence < t become unknown) that maximises, on validation
    predictions, the total score: a kept correct window scores 1, a kept wrong one 0, an unknown
    one ``abstain_value`` (in [0, 1]). Candidates are 0 and the distinct confidences; ties go to
    the smallest, so the answer is 0.0 when abstaining never helps."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct)
    if conf.ndim != 1 or ok.shape != conf.shape or ok.dtype != bool:
        raise HarcnnError(f"confidence and correct must be 1-D arrays of one length (numbers, booleans), got "
                          f"shapes {list(conf.shape)} and {list(ok.shape)} ({ok.dtype})")
    if not np.isfinite(conf).all() or (conf < 0).any():
        raise HarcnnError("confidence must hold finite non-negative numbers (the winning class probability)")
    if not 0.0 <= abstain_value <= 1.0:
        raise HarcnnError(f"abstain_value must be in [0, 1], got {abstain_value!r}")
    order = np.argsort(conf, kind="stable")
    candidates = np.unique(np.r_[0.0, conf])
    below = np.searchsorted(conf[order], candidates, side="left")  # windows that become unknown
    correct_below = np.r_[0, np.cumsum(ok[order])][below]
    score = (ok.sum() - correct_below) + abstain_value * below
    return float(candidates[np.argmax(score)])


def mark_unknown(labels: np.ndarray, confidence: np.ndarray, threshold: float, unknown: int = -1) -> np.ndarray:
    """``labels`` with ``unknown`` where ``confidence < threshold``."""
    labels, conf = np.asarray(labels), np.asarray(confidence, dtype=np.float64)
    if labels.ndim != 1 or conf.shape != labels.shape:
        raise HarcnnError(f"labels and confidence must be 1-D arrays of one length, got shapes "
                          f"{list(labels.shape)} and {list(conf.shape)}")
    return np.where(conf < threshold, unknown, labels)


# ---------------------------------------------------------------------------------------- label sequences


def label_sequences(recordings: np.ndarray, starts: np.ndarray, labels: np.ndarray, step: float,
                    max_gap_windows: int = 10) -> list[np.ndarray]:
    """The label sequence of every recording, in time order, one label per window.

    Windows are ``step`` seconds apart; a few missing windows (up to ``max_gap_windows``: the windows a
    dataset drops at a label change or an unlabelled pause) are stepped over, so the sequence goes from
    one activity to the next as the person did; a longer gap starts a new sequence.
    """
    recordings, starts, labels = np.asarray(recordings), np.asarray(starts, dtype=np.float64), np.asarray(labels)
    if not (recordings.shape == starts.shape == labels.shape) or recordings.ndim != 1:
        raise HarcnnError("recordings, starts and labels must be 1-D arrays of one length")
    if not step > 0:
        raise HarcnnError(f"step must be a positive number of seconds, got {step!r}")
    sequences = []
    for name in dict.fromkeys(recordings.tolist()):
        index = np.flatnonzero(recordings == name)
        index = index[np.argsort(starts[index], kind="stable")]
        gaps = np.diff(starts[index]) / step
        cuts = np.flatnonzero(gaps > max_gap_windows + 1.5) + 1
        sequences += [labels[part] for part in np.split(index, cuts) if len(part)]
    return sequences
