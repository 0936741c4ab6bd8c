"""harcnn.serving.timeline.smoothing: HMM smoothing, streaming, the majority filter and unknown windows."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from harcnn.core.errors import HarcnnError
from harcnn.serving.timeline import (
    HMMSmoother,
    OnlineSmoother,
    choose_unknown_threshold,
    majority_smooth,
    mark_unknown,
    runs,
    smooth,
)

K = 4
STAY = 0.95
TRUE_TRANSITIONS = np.full((K, K), (1 - STAY) / (K - 1)) + np.eye(K) * (STAY - (1 - STAY) / (K - 1))


def markov_chain(n: int, rng: np.random.Generator) -> np.ndarray:
    states = np.zeros(n, dtype=np.int64)
    states[0] = rng.integers(K)
    for t in range(1, n):
        states[t] = rng.choice(K, p=TRUE_TRANSITIONS[states[t - 1]])
    return states


def noisy_probabilities(states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A confusion model: the true class gets a logit bonus, and noise confuses it with the others."""
    logits = 1.2 * np.eye(K)[states] + rng.standard_normal((len(states), K))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def chain():
    rng = np.random.default_rng(0)
    train = markov_chain(3000, rng)
    train[[700, 1500, 1501]] = -1  # unlabelled windows: the pairs touching them are not counted
    states = markov_chain(800, rng)
    hmm = HMMSmoother(K).fit([train[:1200], train[1200:]])
    return hmm, states, noisy_probabilities(states, rng)


def test_fit_learns_the_transitions_and_viterbi_beats_the_argmax(chain):
    hmm, states, p = chain
    assert np.abs(hmm.transitions_ - TRUE_TRANSITIONS).max() < 0.03
    np.testing.assert_allclose(hmm.transitions_.sum(axis=1), 1.0)
    np.testing.assert_allclose(hmm.class_priors_.sum(), 1.0)
    raw = (p.argmax(axis=1) == states).mean()
    decoded = (hmm.decode(p) == states).mean()
    assert raw < 0.7 and decoded > raw + 0.2, (raw, decoded)
    posteriors = hmm.posteriors(p)
    np.testing.assert_allclose(posteriors.sum(axis=1), 1.0, atol=1e-12)
    assert (posteriors.argmax(axis=1) == states).mean() > raw + 0.2
    np.testing.assert_allclose(hmm.filter(p).sum(axis=1), 1.0, atol=1e-12)


def test_fit_counts_by_hand():
    hmm = HMMSmoother(2, pseudo_count=0.0).fit([np.array([0, 0, 1, -1, 1, 1])])
    np.testing.assert_array_equal(hmm.transitions_, [[0.5, 0.5], [0.0, 1.0]])  # pairs 00, 01, 11 (x2)
    np.testing.assert_array_equal(hmm.initial_, [0.5, 0.5])  # runs start with 0 and (after -1) 1
    np.testing.assert_array_equal(hmm.class_priors_, [0.4, 0.6])
    given = HMMSmoother(2).fit([np.array([0, 1])], class_priors=np.array([3.0, 1.0]))
    np.testing.assert_array_equal(given.class_priors_, [0.75, 0.25])
    np.testing.assert_array_equal(given.transitions_, [[1 / 3, 2 / 3], [0.5, 0.5]])


def test_fixed_lag_between_filter_and_posteriors(chain):
    hmm, _, p = chain
    p = p[:50]
    np.testing.assert_allclose(hmm.fixed_lag(p, 0), hmm.filter(p), atol=1e-12)
    np.testing.assert_allclose(hmm.fixed_lag(p, 49), hmm.posteriors(p), atol=1e-12)
    lagged = hmm.fixed_lag(p, 3)
    np.testing.assert_allclose(lagged[-4:], hmm.posteriors(p)[-4:], atol=1e-12)  # they see every window
    assert not np.allclose(lagged[:-4], hmm.posteriors(p)[:-4])


def test_zero_probabilities_stay_finite(chain):
    hmm, _, _ = chain
    p = np.array([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0, 1.0]])  # rows need not sum to 1
    assert np.isfinite(hmm.posteriors(p)).all() and np.isfinite(hmm.filter(p)).all()
    np.testing.assert_array_equal(hmm.decode(p), [0, 1, 3])


def test_calibration_recovers_the_temperature():
    """Labels drawn from softmax(z), the classifier reports softmax(3 z): over-confident, T = 3."""
    rng = np.random.default_rng(1)
    z = 1.5 * rng.standard_normal((4000, K))
    labels = (softmax(z).cumsum(axis=1) < rng.random((len(z), 1))).sum(axis=1)
    hmm = HMMSmoother(K).calibrate(softmax(3 * z), labels)
    assert abs(hmm.temperature_ - 3.0) < 0.3, hmm.temperature_
    assert not hasattr(HMMSmoother(K), "temperature_")


def test_to_dict_round_trip(chain):
    _, _, p = chain
    hmm = HMMSmoother(K).fit([np.array([0, 1, 2, 3, 3, 2])])
    hmm.temperature_ = 1.7
    restored = HMMSmoother.from_dict(json.loads(json.dumps(hmm.to_dict())))
    for name in ("transitions_", "initial_", "class_priors_"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(hmm, name))
    assert restored.temperature_ == 1.7 and restored.pseudo_count == hmm.pseudo_count
    np.testing.assert_array_equal(restored.posteriors(p[:20]), hmm.posteriors(p[:20]))
    with pytest.raises(HarcnnError, match="missing initial"):
        HMMSmoother.from_dict({k: v for k, v in hmm.to_dict().items() if k != "initial"})
    with pytest.raises(HarcnnError, match="transitions rows must sum to 1"):
        HMMSmoother.from_dict({**hmm.to_dict(), "transitions": np.full((K, K), 0.5).tolist()})


@pytest.mark.parametrize("lag", [0, 2, 5])
def test_online_equals_fixed_lag(chain, lag):
    hmm, _, p = chain
    p = p[:40]
    online = OnlineSmoother(hmm, lag)
    out = []
    for t, row in enumerate(p):
        emitted = online.push(row)
        assert [i for i, _ in emitted] == ([t - lag] if t >= lag else [])
        out += emitted
    rest = online.flush()
    assert [i for i, _ in rest] == list(range(len(p) - lag, len(p)))
    out += rest
    assert [i for i, _ in out] == list(range(len(p)))
    np.testing.assert_allclose(np.array([row for _, row in out]), hmm.fixed_lag(p, lag), rtol=0, atol=1e-12)
    if lag == 0:
        np.testing.assert_allclose(np.array([row for _, row in out]), hmm.filter(p), rtol=0, atol=1e-12)
    assert online.flush() == []  # flush ended the stream
    assert [i for i, _ in online.push(p[0])] == ([0] if lag == 0 else [])  # a new stream, from window 0


def test_clear_errors(chain):
    hmm, _, p = chain
    with pytest.raises(HarcnnError, match="3 classes per window but the smoother has 4"):
        hmm.decode(np.ones((5, 3)))
    bad = p[:5].copy()
    bad[2, 1] = np.nan
    with pytest.raises(HarcnnError, match="window 2 holds NaN"):
        hmm.posteriors(bad)
    bad[2, 1] = -0.1
    with pytest.raises(HarcnnError, match="window 2 holds negative"):
        hmm.filter(bad)
    with pytest.raises(HarcnnError, match="2-D array"):
        hmm.decode(p[0])
    with pytest.raises(HarcnnError, match="not fitted"):
        HMMSmoother(K).decode(p)
    with pytest.raises(HarcnnError, match="wrap a single sequence in a list"):
        HMMSmoother(K).fit(np.array([0, 1, 2]))
    with pytest.raises(HarcnnError, match="sequence 1 holds label 4 outside -1..3"):
        HMMSmoother(K).fit([np.array([0, 1]), np.array([4])])
    with pytest.raises(HarcnnError, match="class 3 never occurs"):
        HMMSmoother(K).fit([np.array([0, 1, 2])])
    online = OnlineSmoother(hmm, 2)
    for row in p[:7]:
        online.push(row)
    with pytest.raises(HarcnnError, match="window 7 holds NaN"):
        online.push(np.full(K, np.nan))
    with pytest.raises(HarcnnError, match="one window's probabilities"):
        online.push(p[:2])
    with pytest.raises(HarcnnError, match="lag must be"):
        hmm.fixed_lag(p, -1)


def test_does_not_import_torch():
    code = "import sys, harcnn.serving.timeline; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------- majority filter


def one_hot(labels, k=3, confidence=0.8):
    p = np.full((len(labels), k), (1 - confidence) / (k - 1))
    p[np.arange(len(labels)), labels] = confidence
    return p


def test_majority_removes_a_flicker():
    np.testing.assert_array_equal(majority_smooth(one_hot([0, 0, 1, 0, 0]), 3), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(majority_smooth(one_hot([0, 0, 1, 1, 0, 0]), 3), [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(majority_smooth(one_hot([0, 1, 0]), 1), [0, 1, 0])


def test_majority_ties():
    # three different votes: the largest summed probability wins (class 2: 0.4 + 0.3 + 0.6)
    p = np.array([[0.5, 0.1, 0.4], [0.3, 0.4, 0.3], [0.1, 0.3, 0.6]])
    assert majority_smooth(p, 3)[1] == 2
    # at the edge, 1 vote each: probability mass decides; when even that ties, each keeps its own label
    np.testing.assert_array_equal(majority_smooth(np.array([[0.6, 0.4], [0.1, 0.9]]), 3), [1, 1])
    np.testing.assert_array_equal(majority_smooth(np.array([[1.0, 0.0], [0.0, 1.0]]), 3), [0, 1])


def test_majority_causal_is_a_trailing_window():
    p = one_hot([0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(majority_smooth(p, 3), [0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(majority_smooth(p, 3, causal=True), [0, 0, 0, 1, 1, 1, 0])
    with pytest.raises(HarcnnError, match="odd number"):
        majority_smooth(p, 4)
    with pytest.raises(HarcnnError, match="whole number"):
        majority_smooth(p, 0, causal=True)


def test_smooth_respects_gaps():
    p = one_hot([0, 0, 1, 0, 0])
    p[2, 1], p[1, 0] = 0.9, 0.6  # window 2 is surer than window 1
    np.testing.assert_array_equal(smooth(p, "median", width=3), [0, 0, 0, 0, 0])
    gap_after_2 = np.array([True, True, False, True])
    assert runs(gap_after_2) == [slice(0, 3), slice(3, 5)]
    np.testing.assert_array_equal(smooth(p, "median", width=3, contiguous=gap_after_2), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(smooth(p, "none"), p.argmax(axis=1))
    with pytest.raises(HarcnnError, match="unknown smoothing method 'mode': choose one of none, median, hmm"):
        smooth(p, "mode")
    with pytest.raises(HarcnnError, match="pass hmm=HMMSmoother"):
        smooth(p, "hmm")
    with pytest.raises(HarcnnError, match="one value per pair of windows"):
        smooth(p, "median", contiguous=np.ones(5, bool))


def test_smooth_hmm_decodes_each_stretch(chain):
    hmm, _, p = chain
    p = p[:30]
    contiguous = np.ones(29, bool)
    contiguous[11] = False
    np.testing.assert_array_equal(smooth(p, "hmm", hmm=hmm, contiguous=contiguous),
                                  np.r_[hmm.decode(p[:12]), hmm.decode(p[12:])])


# ---------------------------------------------------------------------------------------- unknowns


def test_choose_unknown_threshold_by_hand():
    conf = np.array([0.9, 0.8, 0.3, 0.2])
    # windows below t become unknown. t=0 or 0.2: 2; t=0.3: 2 + 0.5; t=0.8: 2 + 1.0 (best); t=0.9: 1 + 1.5
    assert choose_unknown_threshold(conf, np.array([True, True, False, False])) == 0.8
    assert choose_unknown_threshold(conf, np.ones(4, bool)) == 0.0  # abstaining never helps
    assert choose_unknown_threshold(conf, np.array([True, False, True, True])) == 0.0  # 3 > 2.5 at best
    # abstaining is worth a correct window: t=0.4 and t=0.6 both score 3; the smaller wins
    assert choose_unknown_threshold(np.array([0.2, 0.4, 0.6]), np.array([False, True, True]),
                                    abstain_value=1.0) == 0.4
    # equal confidences go together: t=0.5 marks nothing, t=0.7 both wrong windows (1 + 2 x 0.5)
    assert choose_unknown_threshold(np.array([0.5, 0.5, 0.7]), np.array([False, False, True])) == 0.7
    with pytest.raises(HarcnnError, match="abstain_value"):
        choose_unknown_threshold(conf, np.ones(4, bool), abstain_value=2.0)
    with pytest.raises(HarcnnError, match="one length"):
        choose_unknown_threshold(conf, np.ones(3, bool))


def test_mark_unknown():
    np.testing.assert_array_equal(mark_unknown(np.array([0, 1, 2]), np.array([0.9, 0.2, 0.5]), 0.5), [0, -1, 2])
    np.testing.assert_array_equal(mark_unknown(np.array([0, 1]), np.array([0.1, 0.9]), 0.5, unknown=6), [6, 1])
