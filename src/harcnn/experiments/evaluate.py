"""Repeated evaluation: train and test a configuration R times with distinct seeds, on every fold of a
protocol (the official split, held-out subjects, or cross-validation by subject).

Networks are stochastic, so one score says little; the reference reports the mean and standard
deviation of 10 repeats and every individual score. With several folds, every (fold, repeat) is
one trial: the mean and std are over all of them, with the per-fold and per-subject accuracies
beside them.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.io import atomic_write_bytes, write_csv, write_json
from harcnn.core.outputs import OutputKind, check_output, json_keys, write_folder
from harcnn.core.provenance import current_versions
from harcnn.core.seeding import fold_seeds
from harcnn.data.dataset import Dataset
from harcnn.data.splits import Fold, Protocol
from harcnn.experiments.executors import Executor, InProcessExecutor, plan_jobs
from harcnn.experiments.results import fold_ensembles, mean_per_subject, per_fold, pooled_scores
from harcnn.experiments.trials import Trial
from harcnn.models.config import Config
from harcnn.training.fit import check_plan


@dataclass
class EvaluationResult:
    config: Config
    seed: int
    protocol: str
    folds: list[Fold]
    trials: list[Trial] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the dataset's identity
    wall_seconds: float = 0.0  # all trials, wall clock (workers train in parallel)
    # The repeats as one ensemble: their test probabilities averaged per fold (None without probabilities).
    ensemble_accuracy: float | None = None
    ensemble_macro_f1: float | None = None

    @property
    def scores(self) -> np.ndarray:
        return np.array([t.test_accuracy for t in self.trials])

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        """Population standard deviation (``np.std``), as the reference reports."""
        return float(self.scores.std())

    @property
    def repeats(self) -> int:
        return len({t.repeat for t in self.trials})

    def per_fold(self) -> dict[str, tuple[float, float]]:
        """Mean and std of the test accuracy per fold, in fold order."""
        return per_fold(self.trials, self.folds)

    def per_subject(self) -> dict[str, float]:
        """Each test subject's accuracy, averaged over the repeats."""
        return mean_per_subject(self.trials)

    def summary_line(self) -> str:
        over = f" over {len(self.folds)} folds x {self.repeats} repeats" if len(self.folds) > 1 else ""
        return f"Accuracy: {100 * self.mean:.3f}% (+/-{100 * self.std:.3f}){over}"

    def ensemble_line(self) -> str:
        if self.ensemble_accuracy is None:
            return "Ensemble accuracy: unavailable (no test probabilities)"
        return (f"Ensemble of the {self.repeats} repeats (probabilities averaged): "
                f"{100 * self.ensemble_accuracy:.3f}% (macro-F1 {100 * self.ensemble_macro_f1:.2f})")

    def fold_lines(self) -> list[str]:
        return [f"  {name}: {100 * mean:.2f}% (+/-{100 * std:.2f})  test subjects "
                f"{', '.join(next(f for f in self.folds if f.name == name).test_subjects)}"
                for name, (mean, std) in self.per_fold().items()]

    def probabilities(self, fold: str) -> np.ndarray | None:
        """The repeats' test probabilities on one fold ``[R, n, K]`` float32, in repeat order."""
        trials = sorted((t for t in self.trials if t.fold == fold), key=lambda t: t.repeat)
        if not trials or any(t.test_proba is None for t in trials):
            return None
        return np.stack([t.test_proba for t in trials]).astype(np.float32, copy=False)

    def score_ensemble(self, dataset: Dataset) -> None:
        """Set ``ensemble_accuracy``/``ensemble_macro_f1``: per fold the repeats' probabilities averaged,
        then all folds' test windows pooled."""
        means = fold_ensembles(self.folds, lambda fold: self.probabilities(fold.name))
        if means is not None:
            self.ensemble_accuracy, self.ensemble_macro_f1 = pooled_scores(
                means, [dataset.y[fold.test] for fold in self.folds], len(dataset.class_names))

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_flat(), "config_id": self.config.config_id, "seed": self.seed,
            "protocol": self.protocol, "data": self.data, "repeats": self.repeats,
            "folds": [{"name": f.name, "test_subjects": list(f.test_subjects), "train_windows": len(f.train),
                       "test_windows": len(f.test)} for f in self.folds],
            "mean_accuracy": self.mean, "std_accuracy": self.std, "scores": self.scores.tolist(),
            "per_fold": {k: {"mean": m, "std": s} for k, (m, s) in self.per_fold().items()},
            "per_subject": self.per_subject(),
            "ensemble_accuracy": self.ensemble_accuracy, "ensemble_macro_f1": self.ensemble_macro_f1,
            "mean_train_seconds": float(np.mean([t.train_seconds for t in self.trials])),
            "wall_seconds": self.wall_seconds, "versions": current_versions(),
            "trials": [t.to_dict() for t in self.trials],
        }

    def save(self, out_dir: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json``, ``results.json``, ``scores.csv`` and ``test_probabilities.npz`` (per fold
        ``[R, n_test, K]`` float32 in repeat order, with the test windows' indices) as one folder, atomically.
        ``out_dir`` must be new, an empty folder, or with ``overwrite`` a results folder harcnn wrote."""
        out = check_output(out_dir, RESULTS_FOLDER, replace=overwrite)
        arrays = {}
        for fold in self.folds:
            probas = self.probabilities(fold.name)
            if probas is not None:
                arrays[fold.name], arrays[f"{fold.name}/index"] = probas, fold.test

        def write(folder: Path) -> None:
            if arrays:
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                atomic_write_bytes(folder / "test_probabilities.npz", buffer.getvalue())
            write_json(folder / "config.json", {"config": self.config.to_flat(), "config_id": self.config.config_id,
                                                "seed": self.seed, "repeats": self.repeats,
                                                "protocol": self.protocol, "data": self.data})
            write_json(folder / "results.json", self.to_dict())
            write_csv(folder / "scores.csv", ["fold", "repeat", "seed", "test_accuracy", "train_seconds"],
                      [[t.fold, t.repeat, t.seed, t.test_accuracy, t.train_seconds] for t in self.trials])

        return write_folder(out, write)


#: What ``results.json`` of an evaluation holds (among others): how a results folder is recognised.
RESULTS_KEYS = frozenset({"config", "config_id", "protocol", "repeats", "folds", "trials", "versions"})


def _is_results_folder(path: Path) -> bool:
    return RESULTS_KEYS <= json_keys(path / "results.json") and (path / "config.json").is_file()


#: ``harcnn evaluate``'s results folder.
RESULTS_FOLDER = OutputKind("results folder", folder=True, recognise=_is_results_folder,
                            files=frozenset({"config.json", "results.json", "scores.csv", "test_probabilities.npz"}))


def evaluate(dataset: Dataset, config: Config, *, protocol: Protocol | str = "official", repeats: int = 10,
             seed: int = 0, models_per_batch: int | None = None, executor: Executor | None = None,
             on_trial: Callable[[Trial], None] | None = None,
             on_progress: Callable[[float], None] | None = None) -> EvaluationResult:
    """Train and test ``config`` ``repeats`` times on every fold of ``protocol``. A trial's seed depends
    only on ``seed``, its repeat and its fold, so the scores do not depend on how trials are grouped
    into batches or spread over workers."""
    protocol = protocol if isinstance(protocol, Protocol) else Protocol.parse(protocol)
    folds = protocol.folds(dataset.subject, dataset.split)
    check_plan([config], dataset, folds)
    executor = executor or InProcessExecutor()
    todo = [(config.model, config, fold, list(range(repeats)), fold_seeds(seed, repeats, i, len(folds)))
            for i, fold in enumerate(folds)]
    jobs = plan_jobs(todo, dataset.spec, models_per_batch, executor.workers)
    result = EvaluationResult(config=config, seed=seed, protocol=str(protocol), folds=folds, data=dataset.identity())
    start = time.perf_counter()
    for _, trials in executor.run(dataset, jobs, on_progress):
        for trial in trials:
            result.trials.append(trial)
            if on_trial is not None:
                on_trial(trial)
    order = {f.name: i for i, f in enumerate(folds)}
    result.trials.sort(key=lambda t: (order[t.fold], t.repeat))
    result.wall_seconds = time.perf_counter() - start
    result.score_ensemble(dataset)
    return result
