"""Training one model for serving: the networks, their scores and the timeline smoother, as a
:class:`~harcnn.serving.artifact.TrainedModel` ready to save (what ``harcnn train`` and
:class:`~harcnn.serving.estimator.HARClassifier` do)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.core.seeding import repeat_seeds
from harcnn.data.dataset import Dataset
from harcnn.data.options import DataOptions
from harcnn.data.sources import load_dataset, source_kind
from harcnn.data.splits import Protocol
from harcnn.models.config import Config
from harcnn.serving.artifact import TrainedModel, scores_on
from harcnn.serving.timeline import HMMSmoother, choose_unknown_threshold, label_sequences
from harcnn.training.callbacks import Callback
from harcnn.training.fit import fit_networks

__all__ = ["fit_timeline", "split_for_training", "timeline_sequences", "train_model"]


def split_for_training(dataset: Dataset, test: str | None = None) -> tuple[Dataset, Dataset | None]:
    """``(train, test)`` for a model to serve: ``test`` is ``official`` (the dataset's test split; the
    default where it has one), ``holdout:N`` (N test subjects) or ``none`` (train on every window;
    the default otherwise)."""
    which = test or ("official" if dataset.split is not None else "none")
    if which == "none":
        return dataset, None
    protocol = Protocol.parse(which)
    if protocol.kind not in ("official", "holdout"):
        raise HarcnnError(f"--test {which}: train scores one test part: official, holdout:N or none")
    fold = protocol.folds(dataset.subject, dataset.split)[0]
    return dataset.subset(fold.train), dataset.subset(fold.test)


def timeline_sequences(path: str | Path, train: Dataset, test: Dataset | None,
                       options: DataOptions = DataOptions()) -> tuple[Dataset, int]:
    """``(windows, left out)``: the labelled recordings at ``path`` whose activity sequences teach a
    model's timeline smoother (``harcnn train --timeline-data``), windowed as the training windows
    (rate, window, step, frame, and the window ``options`` the kind takes), without the windows of the test
    subjects' recordings (their sequences must not teach the smoother that the test then scores; how
    many were left out is the second value)."""
    kind = source_kind(path)
    spec = train.spec
    window = options.window_options()
    if spec.sampling_rate is not None:
        window.update(sampling_rate=spec.sampling_rate, window_seconds=spec.window_seconds,
                      step_seconds=spec.step_seconds)
    window["frame"] = (spec.preprocessing or {}).get("frame", "phone")
    sequences = load_dataset(path, kind.name, **{k: v for k, v in window.items() if k in kind.options})
    if sequences.recording is None:
        raise HarcnnError(f"--timeline-data {path}: its windows do not come from recordings, so they have no "
                          "activity sequences")
    if sequences.spec.step_seconds != spec.step_seconds:
        raise HarcnnError(f"--timeline-data {path}: its windows start every {sequences.spec.step_seconds} s, the "
                          f"model's every {spec.step_seconds} s: the smoother's transitions are per step")
    if test is None:
        return sequences, 0
    held = np.isin(sequences.subject.astype(str), np.unique(test.subject).astype(str))
    return sequences.subset(~held), int(held.sum())


def train_model(config: Config, train: Dataset, *, repeats: int = 1, seed: int = 0, test: Dataset | None = None,
                device: str = "cpu", callbacks: Sequence[Callback] = (),
                timeline_data: Dataset | None = None) -> TrainedModel:
    """Train ``repeats`` members of ``config`` on ``train`` (seeded as ``harcnn evaluate`` seeds its
    repeats, so member i equals evaluate's repeat i), and score them on ``test`` when given.

    Where the training windows come from recordings (or ``timeline_data`` has recordings of the same
    classes), the model also gets a timeline smoother (:func:`fit_timeline`)."""
    if repeats < 1:
        raise HarcnnError(f"repeats must be >= 1, got {repeats}")
    seeds = repeat_seeds(seed, repeats)
    fitted = fit_networks(config, train, seeds, device=device, callbacks=callbacks)
    trained = TrainedModel(model=fitted.model.cpu(), spec=train.spec, standardizer=fitted.standardizer,
                           recipe=config.to_flat(), seeds=list(seeds), data=train.identity(), init=fitted.init,
                           history=fitted.history)
    history = fitted.history
    kept = history.best_epoch if history.best_epoch is not None else history.stopped_epoch  # the weights kept
    trained.scores = {
        "train_windows": fitted.train_windows, "validation_subjects": fitted.validation_subjects,
        "train_seconds": round(history.seconds, 3),
        "final_train_accuracy": [float(history.accuracy[r, kept[r]]) for r in range(repeats)],
        "final_train_loss": [float(history.loss[r, kept[r]]) for r in range(repeats)],
    }
    if history.val_accuracy is not None:
        trained.scores["validation_accuracy"] = [history.final_validation_accuracy(r) for r in range(repeats)]
    if test is not None:
        trained.scores.update(scores_on(trained, test.X, test.y))
    sequences = timeline_data if timeline_data is not None else train
    if sequences.recording is not None:
        # the smoother learns from the training subjects only: the validation subjects calibrate it
        held = [str(s) for s in fitted.validation_subjects]
        training_part = train.subset(~np.isin(train.subject.astype(str), held))
        sequences = sequences.subset(~np.isin(sequences.subject.astype(str), held))
        trained.timeline = fit_timeline(trained, sequences, training_part, fitted.validation)
    return trained


def fit_timeline(trained: TrainedModel, sequences: Dataset, train: Dataset,
                 validation: Dataset | None) -> dict:
    """The timeline smoother of a trained model, as plain data: an HMM over its classes whose transitions
    come from the label sequences of ``sequences``' recordings and whose class priors are ``train``'s
    (both without the validation subjects);
    with validation windows (held-out subjects), its temperature is calibrated on their predictions and
    the threshold below which a window is marked unknown is chosen on them."""
    if len(sequences) == 0:
        raise HarcnnError("no timeline data left: its recordings are all of validation or test subjects")
    if sequences.class_names != train.class_names:
        raise HarcnnError(f"the timeline data's classes ({', '.join(sequences.class_names)}) are not the model's "
                          f"({', '.join(train.class_names)})")
    K = len(train.class_names)
    hmm = HMMSmoother(K).fit(label_sequences(sequences.recording, sequences.start, sequences.y,
                                             sequences.spec.step_seconds),
                             class_priors=np.bincount(train.y, minlength=K) + 1.0)
    notes = [f"transitions from {len(set(sequences.recording.tolist()))} recordings of {sequences.name} "
             f"({sequences.source})"]
    threshold = None
    if validation is not None:
        probabilities = trained.predict_proba(validation.X)
        hmm.calibrate(probabilities, validation.y)
        threshold = choose_unknown_threshold(probabilities.max(axis=1), probabilities.argmax(axis=1) == validation.y)
        notes.append(f"temperature {hmm.temperature_:.3f} and unknown threshold {threshold:.3f} from "
                     f"{len(validation)} windows of the validation subjects")
    else:
        notes.append("not calibrated (no validation subjects): temperature 1, no unknown threshold")
    return {"hmm": hmm.to_dict(), "unknown_threshold": threshold, "notes": notes}
