"""harcnn: human activity recognition from inertial signals with 1D convolutional networks.

The main entry points, imported on first use so that ``import harcnn`` stays light:

* ``harcnn.load_dataset(path)`` / ``harcnn.load_uci_har()`` - datasets of labelled windows (``harcnn.data``)
* ``harcnn.create_model("cnn", window=128, n_channels=9, n_classes=6)`` - networks by name (``harcnn.models``)
* ``harcnn.Config`` - a checked set of settings (``harcnn.models.config``)
* ``harcnn.HARClassifier`` - a scikit-learn estimator
* ``harcnn.evaluate`` - repeated evaluation by subject (``harcnn.experiments``)
* ``harcnn.load_model(DIR)`` - a model saved by ``harcnn train --save DIR``; ``harcnn.predict_path(model, PATH)``,
  ``harcnn.StreamingPredictor(model)`` - prediction and streaming (``harcnn.serving``)

The package is layered, each part importing only the ones before it: ``core`` -> ``data`` -> ``models``
-> ``training`` -> ``serving`` -> ``reports`` -> ``experiments`` -> ``cli``.
"""

__version__ = "0.2.0"

_EXPORTS = {
    "load_dataset": "harcnn.data",
    "load_uci_har": "harcnn.data",
    "create_model": "harcnn.models",
    "list_models": "harcnn.models",
    "Config": "harcnn.models",
    "HARClassifier": "harcnn.serving.estimator",
    "evaluate": "harcnn.experiments",
    "load_model": "harcnn.serving.artifact",
    "TrainedModel": "harcnn.serving.artifact",
    "predict_path": "harcnn.serving.predict",
    "StreamingPredictor": "harcnn.serving.streaming",
    "train_model": "harcnn.serving.train",
    "HarcnnError": "harcnn.core.errors",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harcnn' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
