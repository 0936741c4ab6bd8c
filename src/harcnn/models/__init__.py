"""Networks for inertial windows, built by name: ``create_model("cnn", filters=64, n_models=10)``."""

from harcnn.models import cnn, cnnlstm, deepcnn, hybrid, inception, lstm, multihead, resnet1d  # noqa: F401  (registers the models)
from harcnn.models.base import EnsembleModel
from harcnn.models.registry import create_model, list_models, model_options, register_model

__all__ = ["EnsembleModel", "create_model", "list_models", "model_options", "register_model"]
