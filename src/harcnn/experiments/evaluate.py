"""Repeated evaluation: train and test a configuration R times with distinct seeds.

Networks are stochastic, so one score says little; the reference reports the mean and
standard deviation of 10 repeats and every individual score.
"""

from __future__ import annotations

import io
import time

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.data.uci_har import UCIHAR
from harcnn.experiments.config import ExperimentConfig
from harcnn.experiments.ensembles import ensemble_accuracy, ensemble_macro_f1
from harcnn.experiments.store import current_versions
from harcnn.experiments.executors import Executor, InProcessExecutor, plan_jobs
from harcnn.experiments.trials import TrialOutcome
from harcnn.io import atomic_write_bytes, write_csv, write_json
from harcnn.seeding import repeat_seeds


@dataclass
class EvaluationResult:
    config: ExperimentConfig
    seed: int
    outcomes: list[TrialOutcome] = field(default_factory=list)
    data_source: str = ""
    wall_seconds: float = 0.0  # all repeats, wall clock (workers train in parallel)
    # The repeats as one ensemble: their test probabilities averaged (None without probabilities).
    ensemble_accuracy: float | None = None
    ensemble_macro_f1: float | None = None

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

    def ensemble_line(self) -> str:
        if self.ensemble_accuracy is None:
            return "Ensemble accuracy: unavailable (no test probabilities)"
        return (f"Ensemble of the {len(self.outcomes)} repeats (probabilities averaged): "
                f"{100 * self.ensemble_accuracy:.3f}% (macro-F1 {100 * self.ensemble_macro_f1:.2f})")

    def probabilities(self) -> np.ndarray | None:
        """The repeats' test probabilities ``[R, n, K]`` float32, in repeat order, if every repeat has them."""
        if not self.outcomes or any(o.test_proba is None for o in self.outcomes):
            return None
        return np.stack([o.test_proba for o in self.outcomes]).astype(np.float32, copy=False)

    def score_ensemble(self, y_test: np.ndarray) -> None:
        """Set ``ensemble_accuracy``/``ensemble_macro_f1`` from the repeats' probabilities."""
        probas = self.probabilities()
        if probas is not None:
            self.ensemble_accuracy = ensemble_accuracy(probas, y_test)
            self.ensemble_macro_f1 = ensemble_macro_f1(probas, y_test)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_flat(), "config_id": self.config.config_id, "seed": self.seed,
            "repeats": len(self.outcomes), "mean_accuracy": self.mean, "std_accuracy": self.std,
            "scores": self.scores.tolist(),
            "ensemble_accuracy": self.ensemble_accuracy, "ensemble_macro_f1": self.ensemble_macro_f1,
            "mean_train_seconds": float(np.mean([o.train_seconds for o in self.outcomes])),
            "wall_seconds": self.wall_seconds,
            "data_source": self.data_source, "versions": current_versions(),
            "trials": [o.to_dict() for o in self.outcomes],
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write ``config.json``, ``results.json``, ``scores.csv`` and ``test_probabilities.npy``
        (``[R, n_test, K]`` float32, repeat order; each file atomically) into ``out_dir``."""
        out = Path(out_dir)
        probas = self.probabilities()
        if probas is not None:
            buffer = io.BytesIO()
            np.save(buffer, probas, allow_pickle=False)
            atomic_write_bytes(out / "test_probabilities.npy", buffer.getvalue())
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
    result.score_ensemble(dataset.test.y)
    return result
