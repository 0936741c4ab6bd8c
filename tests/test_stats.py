"""Summaries and baseline comparisons against scipy and hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from harcnn.core.errors import HarcnnError
from harcnn.experiments import stats

BASE = [0.905, 0.91, 0.899, 0.92, 0.915, 0.902, 0.908, 0.911, 0.897, 0.906]
OTHER = [0.915, 0.922, 0.918, 0.925, 0.909, 0.93, 0.921, 0.917, 0.926, 0.913]


def test_summarize_uses_population_std():
    s = stats.summarize(BASE)
    assert s.n == 10
    assert s.mean == pytest.approx(np.mean(BASE))
    assert s.std == pytest.approx(np.std(BASE))  # ddof=0, as the reference
    assert s.std != pytest.approx(np.std(BASE, ddof=1))
    assert (s.median, s.min, s.max) == (pytest.approx(np.median(BASE)), min(BASE), max(BASE))


def test_format_summary_matches_reference():
    s = stats.Summary(mean=0.90873, std=0.01203, median=0.9, min=0.88, max=0.93, n=10)
    assert stats.format_summary("Param=64", s) == "Param=64: 90.873% (+/-1.203)"
    assert stats.format_summary("filters=8", [0.9, 0.9]) == "filters=8: 90.000% (+/-0.000)"


def test_welch_and_mannwhitney_match_scipy():
    c = stats.compare_to_baseline(BASE, OTHER)
    t = sps.ttest_ind(OTHER, BASE, equal_var=False)
    assert c.welch_t == pytest.approx(t.statistic, rel=1e-10)
    assert c.welch_p == pytest.approx(t.pvalue, rel=1e-8)
    mw = sps.mannwhitneyu(OTHER, BASE, alternative="two-sided")
    assert c.mannwhitney_u == pytest.approx(mw.statistic)
    assert c.mannwhitney_p == pytest.approx(mw.pvalue, rel=1e-10)
    assert c.mean_difference == pytest.approx(np.mean(OTHER) - np.mean(BASE))
    ci = t.confidence_interval(0.95)
    assert c.ci95 == (pytest.approx(ci.low, rel=1e-8), pytest.approx(ci.high, rel=1e-8))
    assert c.n_baseline == c.n_other == 10 and c.notes == ()


def test_cohens_d_hand_computed():
    # a: mean 2, sample var 1; b: mean 4, sample var 1 -> pooled sd 1 -> d = 2
    c = stats.compare_to_baseline([1, 2, 3], [3, 4, 5])
    assert c.cohens_d == pytest.approx(2.0)
    # Hedges' correction for df = 4: J = Gamma(2) / (sqrt(2) * Gamma(1.5))
    j = math.gamma(2) / (math.sqrt(2) * math.gamma(1.5))
    assert c.hedges_g == pytest.approx(2.0 * j)
    assert 0.79 < j < 0.81  # close to the usual 1 - 3 / (4 * df - 1) = 0.8
    # unequal sizes: pooled variance = (2*1 + 1*4.5) / 3
    c = stats.compare_to_baseline([1, 2, 3], [10, 13])
    assert c.cohens_d == pytest.approx((11.5 - 2) / math.sqrt((2 * 1 + 1 * 4.5) / 3))


@pytest.mark.parametrize(
    "a, b, defined_mw",
    [
        ([0.9], [0.91], True),  # n < 2: Mann-Whitney still works
        ([], [0.9, 0.91], False),  # an empty group
        ([0.9, 0.9, 0.9], [0.9, 0.9], True),  # all scores identical
        ([0.9, 0.9], [0.92, 0.92], True),  # zero variance, different means
    ],
)
def test_degenerate_inputs_give_nan_with_note_and_no_warning(a, b, defined_mw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = stats.compare_to_baseline(a, b)
    assert math.isnan(c.welch_t) and math.isnan(c.welch_p)
    assert math.isnan(c.cohens_d) and math.isnan(c.hedges_g)
    assert math.isnan(c.ci95_low) and math.isnan(c.ci95_high)
    assert c.notes
    assert math.isfinite(c.mannwhitney_p) == defined_mw


def test_one_zero_variance_group_is_fine():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = stats.compare_to_baseline([0.9, 0.9, 0.9], [0.91, 0.92, 0.93])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's own precision warning on the constant group
        t = sps.ttest_ind([0.91, 0.92, 0.93], [0.9, 0.9, 0.9], equal_var=False)
    assert c.welch_p == pytest.approx(t.pvalue)
    assert math.isfinite(c.cohens_d)


def test_summarize_degenerate():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = stats.summarize([])
        one = stats.summarize([0.9])
    assert empty.n == 0 and math.isnan(empty.mean)
    assert one.n == 1 and one.std == 0.0
    with pytest.raises(HarcnnError):
        stats.summarize([0.9, float("nan")])


def _records():
    recs = []
    for label, scores in (("filters=64", BASE), ("filters=8", OTHER), ("filters=1", [0.5])):
        for r, s in enumerate(scores):
            recs.append({"label": label, "repeat": r, "test_accuracy": s})
    return recs


def test_summary_table():
    rows = stats.summary_table(_records(), "filters=64")
    assert [r["label"] for r in rows] == ["filters=64", "filters=8", "filters=1"]
    assert list(rows[0]) == list(stats.SUMMARY_COLUMNS)
    base, other, single = rows
    assert base["diff_vs_baseline"] is None and base["welch_p"] is None
    assert base["n"] == 10 and base["std"] == pytest.approx(np.std(BASE))
    assert other["diff_vs_baseline"] == pytest.approx(np.mean(OTHER) - np.mean(BASE))
    assert other["welch_p"] == pytest.approx(sps.ttest_ind(OTHER, BASE, equal_var=False).pvalue)
    assert math.isnan(single["welch_p"]) and single["n"] == 1
    with pytest.raises(HarcnnError, match="baseline"):
        stats.summary_table(_records(), "nope")


def test_comparison_table_and_csv(tmp_path):
    rows = stats.comparison_table(_records(), "filters=64")
    assert [r["label"] for r in rows] == ["filters=8", "filters=1"]
    assert list(rows[0]) == list(stats.COMPARISON_COLUMNS)
    assert rows[1]["notes"]
    path = stats.write_rows_csv(tmp_path / "comparison.csv", rows, stats.COMPARISON_COLUMNS)
    lines = path.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["label", "baseline", "n_baseline"]
    assert len(lines) == 3 and ",nan," in lines[2]


def test_cross_validated_trials_count_once_per_repeat():
    """Folds test different subjects: a repeat's sample is its mean over the folds; an incomplete repeat
    is left out."""
    records = [{"label": "a", "fold": f, "repeat": r, "test_accuracy": acc}
               for (f, r, acc) in [("fold1", 0, 0.8), ("fold2", 0, 0.9), ("fold1", 1, 0.7), ("fold2", 1, 0.8),
                                   ("fold1", 2, 0.5)]]
    assert stats.group_scores(records) == {"a": [pytest.approx(0.85), pytest.approx(0.75)]}
    plain = [{"label": "b", "test_accuracy": x} for x in (0.3, 0.1, 0.2)]
    assert stats.group_scores(plain) == {"b": [0.3, 0.1, 0.2]}
