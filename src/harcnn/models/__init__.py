"""Networks for inertial windows, built by name: ``create_model("cnn", window=128, n_channels=9, n_classes=6)``."""

from harcnn.models import cnn, cnnlstm, deepcnn, hybrid, inception, lstm, multihead, resnet1d  # noqa: F401  (registers the models)
from harcnn.models.base import INPUT_ARGS, EnsembleModel
from harcnn.models.config import Config, model_settings, settings_for
from harcnn.models.registry import create_model, list_models, model_class, register_model

__all__ = ["INPUT_ARGS", "Config", "EnsembleModel", "create_model", "list_models", "model_class", "model_settings",
           "register_model", "settings_for"]
