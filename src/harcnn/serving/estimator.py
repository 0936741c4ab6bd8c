"""A scikit-learn estimator around any registered network and every training setting.

>>> clf = HARClassifier("hybrid", n_models=10, standardize=True, epochs=30, lr_schedule="cosine",
...                     augment_rotate=90, random_state=0, input_spec=data.spec).fit(X_train, y_train)
>>> clf.score(X_test, y_test)
>>> clf.save("models/hybrid")          # the artifact that `harcnn predict` and `harcnn export` read

``__init__`` only stores parameters (scikit-learn's rule), so ``clone``, ``GridSearchCV`` and
``cross_val_score(..., groups=subjects, cv=GroupKFold(5))`` work. Every setting of the schema
(:mod:`harcnn.core.settings`) is a parameter; ``None`` means the model's default. It trains through
the same path as ``harcnn evaluate`` and ``harcnn train`` (:func:`harcnn.training.fit.fit_networks`).
With ``n_models > 1`` the members are trained together and their probabilities averaged.

As scikit-learn expects: bad data or parameters raise ``ValueError``s (harcnn's ``DataError`` and
``SettingError`` are both), predicting before ``fit`` raises ``NotFittedError``, and a 2-D ``X``
is windows ``[n, T]`` of one channel (one series per row, as time-series libraries read it).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from harcnn.core.errors import DataError, HarcnnError
from harcnn.core.settings import SHARED
from harcnn.data.dataset import Dataset, InputSpec
from harcnn.data.transforms import check_windows
from harcnn.models import list_models
from harcnn.models.config import Config, model_settings
from harcnn.models.saved import read_description
from harcnn.serving.train import train_model
from harcnn.training.callbacks import Progress

#: Every setting name of every model and the shared ones: the estimator's setting parameters.
SETTING_NAMES = tuple(dict.fromkeys([name for m in list_models() for name in model_settings(m)] + list(SHARED)))


class NotFittedError(HarcnnError, SklearnNotFittedError):
    """Predicting or saving before ``fit``: scikit-learn's ``NotFittedError``, and a :class:`HarcnnError`."""


class HARClassifier(ClassifierMixin, BaseEstimator):
    """Fit a registered network on windows ``X [n, T, C]`` (or ``[n, T]``: one channel) with labels ``y``
    (any label values).

    Parameters: ``model`` (registry name; default cnn, or with ``init`` the saved model's), ``n_models``
    (members trained together), ``random_state``,
    ``device``, ``progress`` (training progress on stderr), ``input_spec`` (the windows'
    :class:`~harcnn.data.dataset.InputSpec`, e.g. ``dataset.spec``: sampling rate, channel names,
    units and the recording preprocessing, which a saved model needs to predict recordings; without
    it the rate is unknown and channels are named ``channel_0``..., or with ``init`` they are the saved
    model's), and every setting: ``init="builtin:phone"`` (or a model folder) fine-tunes that model.

    ``fit`` sets ``model_`` (a :class:`~harcnn.serving.artifact.TrainedModel`), ``classes_``, ``history_``
    and ``n_features_in_`` (channels).
    """

    def __init__(self, model: str | None = None, *, n_models: int = 1, random_state: int | None = None,
                 device: str = "cpu", progress: bool = False, input_spec: InputSpec | None = None, **settings: Any):
        self.model = model
        self.n_models = n_models
        self.random_state = random_state
        self.device = device
        self.progress = progress
        self.input_spec = input_spec
        unknown = sorted(set(settings) - set(SETTING_NAMES))
        if unknown:
            raise TypeError(f"HARClassifier got unknown parameters {', '.join(unknown)}; "
                            f"its settings are: {', '.join(SETTING_NAMES)}")
        for name in SETTING_NAMES:
            setattr(self, name, settings.get(name))

    def config(self) -> Config:
        """The checked configuration these parameters describe."""
        given = {k: getattr(self, k) for k in SETTING_NAMES if getattr(self, k) is not None}
        return Config.from_flat({**({"model": self.model} if self.model is not None else {}), **given})

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> HARClassifier:
        """Train on windows ``X`` with labels ``y``; ``groups`` (the subject of every window) is needed
        when ``validation_subjects`` holds subjects out for validation."""
        config = self.config()
        X = _windows(X)
        if y is None:
            raise DataError("HARClassifier requires y to be passed, but the target y is None: fit(X, y) takes one "
                            "label per window")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)  # scikit-learn's rule: a column of labels is labels, with a warning
        if y.shape != (len(X),):
            raise DataError(f"y must hold one label per window: {len(X)} windows, y has shape {y.shape}")
        if type_of_target(y) in ("continuous", "continuous-multioutput"):
            raise DataError(f"y holds continuous values (e.g. {y[0]!r}): a classifier needs class labels")
        if config.validation_subjects and groups is None:
            raise HarcnnError("validation_subjects holds whole subjects out: pass fit(X, y, groups=subjects)")
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"y holds 1 class ({classes[0]!r}): a classifier needs at least 2 classes")
        self.classes_ = classes
        self.n_features_in_ = X.shape[2]
        data = Dataset(X=X.astype(np.float32), y=y_index, subject=np.zeros(len(X), int) if groups is None else groups,
                       spec=self._spec(X), name="arrays", source="HARClassifier.fit")
        seed = self.random_state if self.random_state is not None else int(np.random.SeedSequence().entropy % 2**31)
        callbacks = [Progress(f"training {config.model}")] if self.progress else []
        self.model_ = train_model(config, data, repeats=self.n_models, seed=seed, device=self.device,
                                  callbacks=callbacks)
        self.history_ = self.model_.history
        return self

    def _spec(self, X: np.ndarray) -> InputSpec:
        """The saved model's input spec: ``input_spec`` with the fitted classes, named by the spec's
        class names when ``y`` holds indices into them (as ``Dataset.y`` does)."""
        spec = self.input_spec
        if spec is None and self.init is not None:  # windows as the model it starts from reads them
            spec = InputSpec.from_dict(read_description(self.init)[1]["input"])
        indices = spec is not None and np.issubdtype(self.classes_.dtype, np.integer) \
            and self.classes_.min() >= 0 and self.classes_.max() < len(spec.classes)
        classes = tuple(spec.classes[c] for c in self.classes_) if indices else tuple(str(c) for c in self.classes_)
        if spec is None:
            channels = tuple(f"channel_{c}" for c in range(X.shape[2]))
            return InputSpec(None, X.shape[1], X.shape[1], channels, ("",) * len(channels), classes, None)
        if (spec.window, len(spec.channels)) != X.shape[1:]:
            raise DataError(f"input_spec describes windows of {spec.window} x {len(spec.channels)}, "
                            f"X has {X.shape[1]} x {X.shape[2]}")
        return InputSpec(spec.sampling_rate, spec.window, spec.step, spec.channels, spec.units, classes,
                         spec.preprocessing)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``[n, n_classes]``, averaged over the members."""
        self._check_fitted()
        X = _windows(X)
        if X.shape[2] != self.n_features_in_:
            raise DataError(f"X has {X.shape[2]} channels; the classifier was fitted on {self.n_features_in_}")
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save the fitted networks as the artifact ``harcnn predict`` and ``harcnn export`` read."""
        self._check_fitted()
        return self.model_.save(path, overwrite=overwrite)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this HARClassifier is not fitted yet: call fit(X, y) first")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # windows [n, T, C]; 2-D X is [n, T] of one channel
        return tags


def _windows(X: Any) -> np.ndarray:
    """``X`` as finite windows ``[n, T, C]`` of real numbers; a 2-D ``X`` is ``[n, T]`` of one channel.
    The messages contain the phrases scikit-learn's estimator checks look for."""
    if sparse.issparse(X):
        raise DataError("X is a sparse matrix: windows must be a dense array (X.toarray())")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise DataError("X holds complex numbers (Complex data not supported): windows must be real")
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise DataError(f"X must hold numbers: {error}") from None
    if X.dtype.kind not in "biuf":
        raise DataError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.ndim not in (2, 3):
        raise DataError(f"X must be windows [n, time steps, channels], or [n, time steps] of one channel; got shape "
                        f"{X.shape} (Reshape your data: X.reshape(1, -1) is one window of one channel)")
    if X.shape[1] == 0 or (X.ndim == 3 and X.shape[2] == 0):
        raise DataError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required: windows need time "
                        "steps and channels")
    X = X[:, :, np.newaxis] if X.ndim == 2 else X
    check_windows(X)
    return X


def _signature() -> inspect.Signature:
    base = inspect.signature(HARClassifier.__init__)
    fixed = [p for p in base.parameters.values() if p.kind != p.VAR_KEYWORD]
    settings = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in SETTING_NAMES]
    return base.replace(parameters=fixed + settings)


HARClassifier.__init__.__signature__ = _signature()  # every setting is a parameter (get_params, clone, grid search)
