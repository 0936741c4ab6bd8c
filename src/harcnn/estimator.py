"""A scikit-learn style classifier around any registered network.

>>> clf = HARClassifier("cnn", n_models=10, random_state=0).fit(X_train, y_train)
>>> clf.score(X_test, y_test)

With ``n_models > 1`` the members are trained together and their probabilities averaged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harcnn.data.transforms import Standardizer, check_windows
from harcnn.errors import HarcnnError
from harcnn.models import EnsembleModel, create_model
from harcnn.seeding import repeat_seeds
from harcnn.training import History, TrainConfig, Trainer, predict_proba


class HARClassifier:
    """Fit a 1D CNN (or any registered model) on windows ``X [n, T, C]`` with labels ``y``.

    Parameters are only stored here; ``fit`` sets ``model_``, ``classes_``, ``history_``,
    ``standardizer_`` (or None) and ``n_features_in_`` (channels).
    """

    def __init__(self, model: str = "cnn", model_params: dict[str, Any] | None = None, *, n_models: int = 1,
                 epochs: int = 10, batch_size: int = 32, learning_rate: float = 1e-3, standardize: bool = False,
                 device: str = "cpu", progress: bool = False, random_state: int | None = None):
        self.model = model
        self.model_params = model_params
        self.n_models = n_models
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.standardize = standardize
        self.device = device
        self.progress = progress
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> "HARClassifier":
        check_windows(X)
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise HarcnnError(f"y must hold one label per window: {len(X)} windows, y has shape {y.shape}")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.n_features_in_ = X.shape[2]
        self.standardizer_ = Standardizer().fit(X) if self.standardize else None
        X = self._prepare(X)
        seed = self.random_state if self.random_state is not None else int(np.random.SeedSequence().entropy % 2**31)
        self.model_: EnsembleModel = create_model(
            self.model, n_models=self.n_models, n_channels=X.shape[2], n_classes=len(self.classes_),
            window=X.shape[1], **(self.model_params or {}))
        trainer = Trainer(TrainConfig(self.epochs, self.batch_size, self.learning_rate),
                          device=self.device, progress=self.progress)
        self.history_: History = trainer.fit(self.model_, X, y_index, repeat_seeds(seed, self.n_models))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``[n, n_classes]``, averaged over the members."""
        self._check_fitted()
        return predict_proba(self.model_, self._prepare(X)).mean(axis=0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of the (ensemble) prediction."""
        return float((self.predict(X) == np.asarray(y)).mean())

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        import inspect

        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters
                if name != "self"}

    def set_params(self, **params: Any) -> "HARClassifier":
        for name, value in params.items():
            if name not in self.get_params():
                raise HarcnnError(f"HARClassifier has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        check_windows(X)
        if hasattr(self, "n_features_in_") and X.shape[2] != self.n_features_in_:
            raise HarcnnError(f"X has {X.shape[2]} channels; the classifier was fitted on {self.n_features_in_}")
        return self.standardizer_.transform(X) if self.standardizer_ is not None else X.astype(np.float32)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise HarcnnError("this HARClassifier is not fitted yet: call fit(X, y) first")
