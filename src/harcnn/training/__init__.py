"""Training: the loop (:mod:`.trainer`), its callbacks (:mod:`.callbacks`), batched inference
(:mod:`.inference`) and the one path from data and settings to trained networks (:mod:`.fit`)."""

from harcnn.training.callbacks import Callback, EarlyStopping, Progress, StepReporter
from harcnn.training.inference import evaluate_loss_accuracy, predict_logits, predict_proba
from harcnn.training.state import EpochEnd, FitState, History
from harcnn.training.trainer import TrainConfig, Trainer

__all__ = ["Callback", "EarlyStopping", "EpochEnd", "FitState", "History", "Progress", "StepReporter", "TrainConfig",
           "Trainer", "evaluate_loss_accuracy", "predict_logits", "predict_proba"]
