"""Experiments: repeated evaluation of configurations by protocol, and, built on it, studies,
leaderboards and searches."""

from harcnn.experiments.evaluate import EvaluationResult, evaluate
from harcnn.experiments.trials import Trial, TrialJob, run_trials

__all__ = ["EvaluationResult", "Trial", "TrialJob", "evaluate", "run_trials"]
