"""Experiments: repeated evaluation of configurations (and, built on it, studies)."""

from harcnn.experiments.config import ExperimentConfig
from harcnn.experiments.evaluate import EvaluationResult, evaluate
from harcnn.experiments.trials import TrialOutcome, run_trials

__all__ = ["EvaluationResult", "ExperimentConfig", "TrialOutcome", "evaluate", "run_trials"]
