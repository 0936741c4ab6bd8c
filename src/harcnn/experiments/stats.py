"""Summaries of repeated scores, and statistical comparisons of a configuration with the baseline.

Scores are test accuracies as fractions in 0..1. The reference tutorial reports the mean and the
*population* standard deviation (``numpy.std``, ``ddof=0``) of the ten scores; :func:`summarize`
does the same, so its numbers match the tutorial's printout. The comparison statistics (Welch's t,
Cohen's d, the confidence interval) use the *sample* variance (``ddof=1``) as their definitions
require.

Degenerate inputs never raise and never emit warnings: fewer than two scores in a group, or zero
variance, give ``nan`` for the statistics that are undefined, and :attr:`Comparison.notes` says why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError

__all__ = [
    "Summary",
    "Comparison",
    "summarize",
    "format_summary",
    "compare_to_baseline",
    "summary_table",
    "comparison_table",
    "group_scores",
    "write_rows_csv",
    "SUMMARY_COLUMNS",
    "COMPARISON_COLUMNS",
]

NAN = float("nan")


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics of one configuration's scores (std is the population std, ddof=0)."""

    mean: float
    std: float
    median: float
    min: float
    max: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """``other`` versus ``baseline``; differences and effect sizes are other minus baseline.

    ``cohens_d`` uses the pooled sample standard deviation; ``hedges_g`` is ``cohens_d`` times the
    exact small-sample correction J(df) = Γ(df/2) / (sqrt(df/2) Γ((df-1)/2)), df = n1 + n2 - 2.
    ``ci95_low``/``ci95_high`` bound the mean difference with Welch's standard error and
    Welch-Satterthwaite degrees of freedom. Mann-Whitney U is the statistic of ``other`` and both
    p-values are two-sided.
    """

    n_baseline: int
    n_other: int
    mean_difference: float
    ci95_low: float
    ci95_high: float
    welch_t: float
    welch_df: float
    welch_p: float
    mannwhitney_u: float
    mannwhitney_p: float
    cohens_d: float
    hedges_g: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ci95(self) -> tuple[float, float]:
        return (self.ci95_low, self.ci95_high)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = "; ".join(self.notes)
        return data


# --------------------------------------------------------------------------------------------


def _as_array(scores: Iterable[float]) -> np.ndarray:
    try:
        arr = np.asarray(list(scores), dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise HarcnnError(f"scores must be numbers: {exc}") from None
    if arr.size and not np.all(np.isfinite(arr)):
        raise HarcnnError("scores must be finite numbers (found nan or inf)")
    return arr


def summarize(scores: Iterable[float]) -> Summary:
    """Mean, population std (``numpy.std``, ddof=0, as the reference), median, min, max and n.

    An empty input gives ``n=0`` and ``nan`` everywhere else.
    """
    arr = _as_array(scores)
    if arr.size == 0:
        return Summary(NAN, NAN, NAN, NAN, NAN, 0)
    return Summary(
        mean=float(np.mean(arr)),
        std=float(np.std(arr)),
        median=float(np.median(arr)),
        min=float(np.min(arr)),
        max=float(np.max(arr)),
        n=int(arr.size),
    )


def format_summary(label: Any, summary: Summary | Iterable[float]) -> str:
    """The reference's line, e.g. ``Param=64: 90.873% (+/-1.203)`` (scores shown as percent).

    ``summary`` may be a :class:`Summary` or the raw scores.
    """
    if not isinstance(summary, Summary):
        summary = summarize(summary)
    return f"{label!s}: {summary.mean * 100.0:.3f}% (+/-{summary.std * 100.0:.3f})"


def compare_to_baseline(baseline_scores: Iterable[float], other_scores: Iterable[float]) -> Comparison:
    """Welch's t-test, Mann-Whitney U, Cohen's d, Hedges' g and the Welch 95% CI of the difference."""
    from scipy import special, stats

    a = _as_array(baseline_scores)
    b = _as_array(other_scores)
    n1, n2 = int(a.size), int(b.size)
    notes: list[str] = []

    mean_diff = float(np.mean(b) - np.mean(a)) if n1 and n2 else NAN
    if not (n1 and n2):
        notes.append("a group has no scores")

    welch_t = welch_df = welch_p = ci_low = ci_high = NAN
    cohens_d = hedges_g = NAN
    if n1 >= 2 and n2 >= 2:
        # A group of identical scores has exactly zero variance (np.var may leave rounding dust).
        v1 = 0.0 if np.ptp(a) == 0 else float(np.var(a, ddof=1))
        v2 = 0.0 if np.ptp(b) == 0 else float(np.var(b, ddof=1))
        se2 = v1 / n1 + v2 / n2
        if se2 > 0:
            se = math.sqrt(se2)
            welch_t = mean_diff / se
            # Welch-Satterthwaite; a zero-variance group contributes nothing to the denominator.
            denom = (v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1)
            welch_df = se2**2 / denom
            welch_p = float(2.0 * stats.t.sf(abs(welch_t), welch_df))
            half = float(stats.t.ppf(0.975, welch_df)) * se
            ci_low, ci_high = mean_diff - half, mean_diff + half
        else:
            notes.append("both groups have zero variance: t-test, confidence interval and effect size undefined")
        df = n1 + n2 - 2
        pooled = ((n1 - 1) * v1 + (n2 - 1) * v2) / df
        if pooled > 0:  # equivalent to se2 > 0
            cohens_d = mean_diff / math.sqrt(pooled)
            log_j = special.gammaln(df / 2.0) - 0.5 * math.log(df / 2.0) - special.gammaln((df - 1) / 2.0)
            hedges_g = cohens_d * math.exp(log_j)
    elif n1 and n2:
        notes.append("fewer than 2 scores in a group: t-test, confidence interval and effect size undefined")

    mw_u = mw_p = NAN
    if n1 and n2:
        if np.ptp(np.concatenate([a, b])) == 0:
            # All scores identical: U is exactly n1*n2/2 and there is no evidence of a difference.
            mw_u, mw_p = n1 * n2 / 2.0, 1.0
            notes.append("all scores identical: Mann-Whitney p set to 1")
        else:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                res = stats.mannwhitneyu(b, a, alternative="two-sided")
            mw_u, mw_p = float(res.statistic), float(res.pvalue)

    return Comparison(
        n_baseline=n1,
        n_other=n2,
        mean_difference=mean_diff,
        ci95_low=float(ci_low),
        ci95_high=float(ci_high),
        welch_t=float(welch_t),
        welch_df=float(welch_df),
        welch_p=float(welch_p),
        mannwhitney_u=float(mw_u),
        mannwhitney_p=float(mw_p),
        cohens_d=float(cohens_d),
        hedges_g=float(hedges_g),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# tables over a study's records
# --------------------------------------------------------------------------------------------

#: Keys of each :func:`summary_table` row, in order (also the CSV header).
SUMMARY_COLUMNS = (
    "label",
    "n",
    "mean",
    "std",
    "median",
    "min",
    "max",
    "diff_vs_baseline",
    "welch_p",
    "mannwhitney_p",
    "cohens_d",
    "hedges_g",
)

#: Keys of each :func:`comparison_table` row, in order.
COMPARISON_COLUMNS = (
    "label",
    "baseline",
    "n_baseline",
    "n_other",
    "mean_difference",
    "ci95_low",
    "ci95_high",
    "welch_t",
    "welch_df",
    "welch_p",
    "mannwhitney_u",
    "mannwhitney_p",
    "cohens_d",
    "hedges_g",
    "notes",
)


def _get(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record[name]
    return getattr(record, name)


def group_scores(records: Iterable[Any], metric: str = "test_accuracy") -> dict[str, list[float]]:
    """``{label: [score, ...]}`` in order of first appearance (records: dicts or Trials): one score per
    trial, or, under cross-validation (records of several folds), one per repeat: the mean over its
    folds. Folds test different subjects, so their scores are not independent draws of one quantity;
    each repeat's cross-validated score is (its seeds are independent). A repeat missing a fold is left out."""
    by_label: dict[str, dict[int, dict[str, float]]] = {}
    for i, rec in enumerate(records):
        value = _get(rec, metric)
        if value is None:
            continue
        repeat = int(_get(rec, "repeat")) if _has(rec, "repeat") else i
        fold = str(_get(rec, "fold")) if _has(rec, "fold") else ""
        by_label.setdefault(str(_get(rec, "label")), {}).setdefault(repeat, {})[fold] = float(value)
    groups: dict[str, list[float]] = {}
    for label, repeats in by_label.items():
        folds = set().union(*(r.keys() for r in repeats.values()))
        groups[label] = [float(np.mean([r[f] for f in sorted(folds)])) for _, r in sorted(repeats.items())
                         if set(r) == folds]
    return groups


def _has(record: Any, name: str) -> bool:
    return name in record if isinstance(record, Mapping) else hasattr(record, name)


def _check_baseline(groups: Mapping[str, Any], baseline_label: str | None) -> None:
    if baseline_label is not None and baseline_label not in groups:
        known = ", ".join(repr(k) for k in groups) or "none"
        raise HarcnnError(f"baseline {baseline_label!r} is not among the study's labels ({known})")


def summary_table(
    records: Iterable[Any], baseline_label: str | None, metric: str = "test_accuracy"
) -> list[dict[str, Any]]:
    """One row (a dict keyed by :data:`SUMMARY_COLUMNS`) per label, in order of first appearance.

    Scores stay fractions in 0..1. The comparison columns are ``None`` on the baseline's own row
    (and on every row when ``baseline_label`` is None); ``diff_vs_baseline`` is other minus
    baseline; ``cohens_d``/``hedges_g`` as in :class:`Comparison`.
    """
    groups = group_scores(records, metric)
    _check_baseline(groups, baseline_label)
    rows = []
    for label, scores in groups.items():
        s = summarize(scores)
        row: dict[str, Any] = {"label": label, **s.as_dict()}
        row = {k: row[k] for k in ("label", "n", "mean", "std", "median", "min", "max")}
        if baseline_label is None or label == baseline_label:
            row.update(diff_vs_baseline=None, welch_p=None, mannwhitney_p=None, cohens_d=None, hedges_g=None)
        else:
            c = compare_to_baseline(groups[baseline_label], scores)
            row.update(
                diff_vs_baseline=c.mean_difference,
                welch_p=c.welch_p,
                mannwhitney_p=c.mannwhitney_p,
                cohens_d=c.cohens_d,
                hedges_g=c.hedges_g,
            )
        rows.append(row)
    return rows


def comparison_table(
    records: Iterable[Any], baseline_label: str, metric: str = "test_accuracy"
) -> list[dict[str, Any]]:
    """Every :class:`Comparison` field for each non-baseline label (keys :data:`COMPARISON_COLUMNS`)."""
    groups = group_scores(records, metric)
    _check_baseline(groups, baseline_label)
    rows = []
    for label, scores in groups.items():
        if label == baseline_label:
            continue
        c = compare_to_baseline(groups[baseline_label], scores)
        rows.append({"label": label, "baseline": baseline_label, **c.as_dict()})
    return [{k: row[k] for k in COMPARISON_COLUMNS} for row in rows]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return value


def write_rows_csv(path: Any, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]):
    """Write table rows atomically as CSV (``None`` -> empty cell, floats at full precision)."""
    from harcnn.core.io import write_csv

    return write_csv(path, list(columns), ([_cell(row.get(c)) for c in columns] for row in rows))
