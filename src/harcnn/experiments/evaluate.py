"""Repeated evaluation: train and test a configuration R times with distinct seeds.

Networks are stochastic, so one score says little; the reference reports the mean and
standard deviation of 10 repeats and every individual score.
"""

from __future__ import annotations

import time

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.data.uci_har import UCIHAR
from harcnn.experiments.config import ExperimentConfig
from harcnn.experiments.store import current_versions
from harcnn.experiments.executors import Executor, InProcessExecutor, plan_jobs
from harcnn.experiments.trials import TrialOutcome
from harcnn.io import write_csv, write_json
from harcnn.seeding import repeat_seeds


@dataclass
class EvaluationResult:
    config: ExperimentConfig
    seed: int
    outcomes: list[TrialOutcome] = field(default_factory=list)
    data_source: str = ""
    wall_seconds: float = 0.0  # all repeats, wall clock (workers train in parallel)

    @property
    def scores(self) -> np.ndarray:
        return np.array([o.test_accuracy for o in self.outcomes])

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        """Population standard deviation (``np.std``), as the reference reports."""
        return float(self.scores.std())

    def summary_line(self) -> str:
        return f"Accuracy: {100 * self.mean:.3f}% (+/-{100 * self.std:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_flat(), "config_id": self.config.config_id, "seed": self.seed,
            "repeats": len(self.outcomes), "mean_accuracy": self.mean, "std_accuracy": self.std,
            "scores": self.scores.tolist(),
            "mean_train_seconds": float(np.mean([o.train_seconds for o in self.outcomes])),
            "wall_seconds": self.wall_seconds,
            "data_source": self.data_source, "versions": current_versions(),
            "trials": [o.to_dict() for o in self.outcomes],
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write ``config.json``, ``results.json`` and ``scores.csv`` (each atomically) into ``out_dir``."""
        out = Path(out_dir)
        write_json(out / "config.json", {"config": self.config.to_flat(), "config_id": self.config.config_id,
                                         "seed": self.seed, "repeats": len(self.outcomes),
                                         "data_source": self.data_source})
        write_json(out / "results.json", self.to_dict())
        write_csv(out / "scores.csv", ["repeat", "seed", "test_accuracy", "train_seconds"],
                  [[o.repeat, o.seed, o.test_accuracy, o.train_seconds] for o in self.outcomes])
        return out


def evaluate(dataset: UCIHAR, config: ExperimentConfig, *, repeats: int = 10, seed: int = 0,
             models_per_batch: int | None = None, executor: Executor | None = None,
             on_trial: Callable[[TrialOutcome], None] | None = None,
             on_progress: Callable[[float], None] | None = None) -> EvaluationResult:
    """Train and test ``config`` ``repeats`` times. Repeat i's seed depends only on ``seed`` and i,
    so the scores do not depend on how repeats are grouped into batches or spread over workers."""
    seeds = repeat_seeds(seed, repeats)
    executor = executor or InProcessExecutor()
    jobs = plan_jobs([(config.model, config, list(range(repeats)))], seeds, models_per_batch, executor.workers)
    result = EvaluationResult(config=config, seed=seed, data_source=dataset.source)
    start = time.perf_counter()
    for _, outcomes in executor.run(dataset, jobs, on_progress):
        for outcome in outcomes:
            result.outcomes.append(outcome)
            if on_trial is not None:
                on_trial(outcome)
    result.outcomes.sort(key=lambda o: o.repeat)
    result.wall_seconds = time.perf_counter() - start
    return result
