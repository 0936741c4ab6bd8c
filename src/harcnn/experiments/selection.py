"""Honest model selection: choose a configuration on validation subjects only, then report its test score.

A study run with validation subjects (``--validation-subjects N``) records, per trial, the accuracy on
those held-out training subjects. :func:`select_by_validation` picks the configuration with the best
mean validation accuracy, ignoring every test score, and only then reads the chosen configuration's
test accuracies. Test scores of the configurations that were not chosen play no part, so the reported
test accuracy is an unbiased estimate for the chosen configuration, trained as in the study (without
the validation subjects).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.experiments.trials import Trial

__all__ = ["Selection", "select_by_validation"]


@dataclass(frozen=True)
class Selection:
    """The configuration chosen on validation accuracy, and its test accuracy over its repeats."""

    label: str
    config_id: str
    config: dict[str, Any]
    n: int
    val_mean: float
    test_mean: float
    test_std: float
    # every candidate, best validation first: (label, mean validation accuracy, repeats)
    ranking: tuple[tuple[str, float, int], ...] = field(default=())

    def describe(self) -> str:
        runner_up = ""
        if len(self.ranking) > 1:
            label, val, _ = self.ranking[1]
            runner_up = f" Runner-up on validation: {label} ({100 * val:.2f}%)."
        return (f"**Chosen on validation only:** {self.label}, the best mean validation accuracy "
                f"({100 * self.val_mean:.2f}% over {self.n} repeats, of {len(self.ranking)} candidates). Its mean "
                f"test accuracy: {100 * self.test_mean:.2f}% ± {100 * self.test_std:.2f}; no test score took part "
                f"in the choice.{runner_up}")

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "config_id": self.config_id, "config": self.config, "n": self.n,
                "val_mean": self.val_mean, "test_mean": self.test_mean, "test_std": self.test_std,
                "ranking": [list(r) for r in self.ranking]}


def select_by_validation(records: Iterable[Trial]) -> Selection:
    """The configuration (grouped by ``config_id``) with the highest mean validation accuracy.

    Ties go to the configuration seen first. Raises :class:`HarcnnError` when no trial has a
    validation accuracy (the study ran without validation subjects).
    """
    groups: dict[str, list[Trial]] = {}
    for record in records:
        groups.setdefault(record.config_id, []).append(record)
    candidates = []
    for config_id, group in groups.items():
        vals = [r.val_accuracy for r in group if r.val_accuracy is not None and not math.isnan(r.val_accuracy)]
        if vals:
            candidates.append((float(np.mean(vals)), config_id, group))
    if not candidates:
        raise HarcnnError("no trial has a validation accuracy: run the study with validation subjects "
                          "(--validation-subjects N) to select on them")
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i][0], i))
    val_mean, config_id, group = candidates[order[0]]
    tests = np.array([r.test_accuracy for r in group])  # read only after the choice
    ranking = tuple((candidates[i][2][0].label, candidates[i][0], len(candidates[i][2])) for i in order)
    return Selection(label=group[0].label, config_id=config_id, config=dict(group[0].config), n=len(group),
                     val_mean=val_mean, test_mean=float(tests.mean()), test_std=float(tests.std()), ranking=ranking)
