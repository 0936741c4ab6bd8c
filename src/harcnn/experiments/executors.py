"""Executors run trial jobs. A job trains some repeats of one configuration as one ensemble.

The study runner only hands jobs to an executor and stores what comes back, so another
executor (processes, machines) can replace the in-process one without touching the runner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from harcnn.data.uci_har import UCIHAR
from harcnn.experiments.config import ExperimentConfig
from harcnn.experiments.trials import TrialOutcome, prepare_data, run_trials


@dataclass(frozen=True)
class TrialJob:
    config: ExperimentConfig
    label: str
    repeats: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass
class InProcessExecutor:
    """Runs jobs one after another in this process; yields each job's outcomes as it finishes."""

    device: str = "cpu"
    progress: bool = True

    def run(self, dataset: UCIHAR, jobs: Iterable[TrialJob]) -> Iterator[tuple[TrialJob, list[TrialOutcome]]]:
        prepared: dict[str, object] = {}
        for job in jobs:
            key = job.config.config_id
            if key not in prepared:
                prepared = {key: prepare_data(dataset, job.config)}  # keep only the current config's arrays
            yield job, run_trials(dataset, job.config, job.repeats, job.seeds, data=prepared[key],
                                  device=self.device, progress=self.progress, description=job.label)
