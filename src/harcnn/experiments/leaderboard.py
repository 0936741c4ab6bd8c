"""The leaderboard: several models, R repeats each, in one resumable study folder, as one table.

``run_leaderboard`` is a study (``run_study``) over the ``model`` key, so it resumes like any study
and its folder has the usual tables, figures and HTML report. On top it writes ``leaderboard.csv``
and ``leaderboard.md`` (atomically): per model the parameters of one member, the mean +- std test
accuracy, mean macro-F1, the accuracy of the ensemble of its repeats (probabilities averaged),
training time per model, inference latency per window (batched over the test set, and one window
at a time), the mean validation accuracy when validation subjects were held out, and the selection
protocol in words. Rows for ensembles of several models and for the feature baselines are optional.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harcnn.data.uci_har import UCIHAR
from harcnn.errors import HarcnnError
from harcnn.experiments.config import ALIASES, DATA_KEYS, TRAIN_KEYS, ExperimentConfig
from harcnn.experiments.ensembles import ensemble_accuracy, ensemble_macro_f1, load_probabilities
from harcnn.experiments.executors import Executor
from harcnn.experiments.report import render_report
from harcnn.experiments.selection import Selection, select_by_validation
from harcnn.experiments.stats import write_rows_csv
from harcnn.experiments.store import TrialRecord
from harcnn.experiments.study import StudySpec, run_study
from harcnn.experiments.trials import validation_holdout
from harcnn.io import atomic_write_text
from harcnn.models import create_model, list_models, model_options

__all__ = [
    "LEADERBOARD_COLUMNS",
    "Leaderboard",
    "leaderboard_spec",
    "measure_latency",
    "run_leaderboard",
]

NAME = "leaderboard"
LATENCY_BATCH = 256
SINGLE_WINDOW_CALLS = 50
_BUILD_KEYS = frozenset({"n_models", "n_channels", "n_classes", "window"})

#: Columns of ``leaderboard.csv``. Accuracies and F1 are fractions in 0..1.
LEADERBOARD_COLUMNS = (
    "rank", "kind", "model", "settings", "parameters", "repeats",
    "accuracy_mean", "accuracy_std", "macro_f1_mean", "ensemble_accuracy", "ensemble_macro_f1",
    "train_seconds_per_model", "latency_ms_per_window_batched", "latency_ms_single_window",
    "val_accuracy_mean", "config_id",
)


# --------------------------------------------------------------------------------------------
# the configurations
# --------------------------------------------------------------------------------------------


def _known_keys(model: str) -> set[str]:
    return (set(model_options(model)) - _BUILD_KEYS) | set(DATA_KEYS) | set(TRAIN_KEYS)


def _canonical(values: Mapping[str, Any]) -> dict[str, Any]:
    return {ALIASES.get(k, k): v for k, v in values.items()}


def leaderboard_spec(models: Sequence[str] | None = None, settings: Mapping[str, Any] | None = None,
                     model_settings: Mapping[str, Mapping[str, Any]] | None = None,
                     description: str = "") -> StudySpec:
    """A study with one configuration per model, labelled by the model name.

    ``settings`` apply to every model that has them (``filters`` reaches the CNNs, not the LSTM;
    training and data settings reach all); a key no model knows is an error. ``model_settings``
    (``{"resnet1d": {"width": 1.0}}``) apply to one model and must be known to it.
    """
    models = list(dict.fromkeys(models or list_models()))
    if not models:
        raise HarcnnError("the leaderboard needs at least one model")
    registered = list_models()
    unknown = [m for m in models if m not in registered]
    if unknown:
        raise HarcnnError(f"unknown model {', '.join(map(repr, unknown))}; available: {', '.join(registered)}")
    settings = _canonical(settings or {})
    if "model" in settings:
        raise HarcnnError("the models are chosen with --models, not with a 'model' setting")
    orphans = sorted(k for k in settings if not any(k in _known_keys(m) for m in models))
    if orphans:
        raise HarcnnError(f"unknown setting {', '.join(map(repr, orphans))} for models {', '.join(models)}")
    model_settings = {m: _canonical(v) for m, v in (model_settings or {}).items()}
    stray = [m for m in model_settings if m not in models]
    if stray:
        raise HarcnnError(f"per-model settings for {', '.join(map(repr, stray))}, which is not among the "
                          f"leaderboard's models ({', '.join(models)})")
    configs = []
    for model in models:
        values = {k: v for k, v in settings.items() if k in _known_keys(model)}
        values.update(model_settings.get(model, {}))
        ExperimentConfig.from_flat({"model": model, **values})  # a clear error for a bad per-model setting
        configs.append((model, {"model": model, **values}))
    baseline = "cnn" if "cnn" in models else models[0]
    return StudySpec(NAME, description or "Leaderboard: " + ", ".join(models), tuple(configs), baseline)


# --------------------------------------------------------------------------------------------
# latency
# --------------------------------------------------------------------------------------------


def measure_latency(config: ExperimentConfig, X: np.ndarray, *, batch_size: int = LATENCY_BATCH,
                    single_calls: int = SINGLE_WINDOW_CALLS, threads: int = 1) -> tuple[float, float]:
    """Milliseconds per window of a fresh single network of ``config``'s architecture (fp32, eval
    mode, ``threads`` torch threads): over all of ``X`` in batches of ``batch_size`` (the best of two
    passes after a warm-up), and for one window at a time (the median of ``single_calls`` calls)."""
    X = np.asarray(X, dtype=np.float32)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = create_model(config.model, n_models=1, n_channels=X.shape[2], window=X.shape[1],
                             **config.model_params).eval()
        windows = torch.from_numpy(np.ascontiguousarray(X))
        with torch.inference_mode():
            model(windows[:batch_size])
            best = math.inf
            for _ in range(2):
                start = time.perf_counter()
                for i in range(0, len(windows), batch_size):
                    model(windows[i:i + batch_size])
                best = min(best, time.perf_counter() - start)
            one = windows[:1]
            for _ in range(3):
                model(one)
            calls = []
            for _ in range(single_calls):
                start = time.perf_counter()
                model(one)
                calls.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 1000 * best / len(windows), 1000 * statistics.median(calls)


# --------------------------------------------------------------------------------------------
# the leaderboard
# --------------------------------------------------------------------------------------------


@dataclass
class Leaderboard:
    folder: Path
    rows: list[dict[str, Any]]
    protocol: list[str]
    selection: Selection | None = None
    command: str = ""
    notes: list[str] = field(default_factory=list)

    def markdown_table(self) -> str:
        return markdown_table(self.rows)

    def markdown(self) -> str:
        lines = ["# Leaderboard", ""]
        if self.command:
            lines += ["Made with:", "", f"    {self.command}", ""]
        lines += [self.markdown_table(), ""]
        if self.selection is not None:
            lines += [self.selection.describe(), ""]
        lines += ["**Protocol.**", ""] + [f"- {line}" for line in self.protocol + self.notes] + [""]
        return "\n".join(lines)

    def save(self) -> tuple[Path, Path]:
        """``leaderboard.csv`` and ``leaderboard.md`` (each atomically), then the HTML report again."""
        csv_path = write_rows_csv(self.folder / "leaderboard.csv", self.rows, LEADERBOARD_COLUMNS)
        md_path = atomic_write_text(self.folder / "leaderboard.md", self.markdown())
        render_report(self.folder)
        return csv_path, md_path


def _pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}"


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


MARKDOWN_HEADER = ("#", "model", "settings", "parameters per member", "repeats", "test accuracy % (mean ± std)",
                   "macro-F1 % (mean)", "ensemble of repeats %", "training s per model",
                   "latency ms/window (batched)", "latency ms (1 window)", "validation accuracy % (mean)")


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    out = ["| " + " | ".join(MARKDOWN_HEADER) + " |",
           "|" + "|".join("---:" if i not in (1, 2) else "---" for i in range(len(MARKDOWN_HEADER))) + "|"]
    for row in rows:
        accuracy = _pct(row.get("accuracy_mean"))
        if row.get("accuracy_std") is not None and row.get("kind") == "network":
            accuracy += f" ± {_pct(row['accuracy_std'])}"
        parameters = row.get("parameters")
        cells = [str(row.get("rank") or ""), str(row["model"]), str(row.get("settings") or "") or "defaults",
                 "–" if parameters is None else f"{parameters:,}", str(row.get("repeats", "")),
                 accuracy, _pct(row.get("macro_f1_mean")), _pct(row.get("ensemble_accuracy")),
                 _num(row.get("train_seconds_per_model"), ".1f"),
                 _num(row.get("latency_ms_per_window_batched"), ".3f"),
                 _num(row.get("latency_ms_single_window"), ".3f"), _pct(row.get("val_accuracy_mean"))]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def _settings_text(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in values.items())


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(present)) if present else None


def _network_row(folder: Path, model: str, config: ExperimentConfig, label_settings: Mapping[str, Any],
                 records: list[TrialRecord], y_test: np.ndarray, latency: tuple[float, float] | None,
                 probas_by_model: dict[str, np.ndarray]) -> dict[str, Any]:
    scores = np.array([r.test_accuracy for r in records])
    found, probas = load_probabilities(folder, config.config_id, sorted(r.repeat for r in records))
    if probas is not None and probas.shape[1] == len(y_test):
        probas_by_model[model] = probas
    else:
        probas = None
    return {
        "kind": "network", "model": model, "settings": _settings_text(label_settings),
        "parameters": create_model(model, **config.model_params).num_parameters(),
        "repeats": len(records), "accuracy_mean": float(scores.mean()), "accuracy_std": float(scores.std()),
        "macro_f1_mean": _mean(r.macro_f1 for r in records),
        "ensemble_accuracy": None if probas is None else ensemble_accuracy(probas, y_test),
        "ensemble_macro_f1": None if probas is None else ensemble_macro_f1(probas, y_test),
        "ensemble_n": len(found),
        "train_seconds_per_model": float(np.mean([r.train_seconds for r in records])),
        "latency_ms_per_window_batched": None if latency is None else latency[0],
        "latency_ms_single_window": None if latency is None else latency[1],
        "val_accuracy_mean": _mean(r.val_accuracy for r in records),
        "config_id": config.config_id,
    }


def _ensemble_row(name: str, members: Sequence[str], rows: Mapping[str, dict[str, Any]],
                  probas_by_model: Mapping[str, np.ndarray], y_test: np.ndarray) -> dict[str, Any]:
    """Every repeat of every member model averaged, each model weighing the same."""
    mean_probas = np.stack([probas_by_model[m].astype(np.float64).mean(axis=0) for m in members])
    n = sum(len(probas_by_model[m]) for m in members)
    latencies = [[rows[m][k] for m in members] for k in ("latency_ms_per_window_batched", "latency_ms_single_window")]
    return {
        "kind": "ensemble", "model": name, "settings": "+".join(members),
        "parameters": sum(rows[m]["parameters"] * len(probas_by_model[m]) for m in members), "repeats": n,
        "accuracy_mean": ensemble_accuracy(mean_probas, y_test),
        "macro_f1_mean": ensemble_macro_f1(mean_probas, y_test),
        "ensemble_accuracy": ensemble_accuracy(mean_probas, y_test),
        "ensemble_macro_f1": ensemble_macro_f1(mean_probas, y_test),
        "train_seconds_per_model": sum(rows[m]["train_seconds_per_model"] * len(probas_by_model[m]) for m in members),
        "latency_ms_per_window_batched": None if None in latencies[0] else
        sum(v * len(probas_by_model[m]) for v, m in zip(latencies[0], members)),
        "latency_ms_single_window": None if None in latencies[1] else
        sum(v * len(probas_by_model[m]) for v, m in zip(latencies[1], members)),
    }


def _feature_row(dataset: UCIHAR, classifier: str, features: str, latency: bool) -> dict[str, Any]:
    from harcnn.features import feature_baseline, make_classifier, raw_window_features

    result = feature_baseline(dataset, classifier=classifier, features=features)
    row: dict[str, Any] = {
        "kind": "features", "model": f"{classifier} ({features} features)",
        "settings": f"{result['n_features']} features, StandardScaler, C=1", "repeats": 1,
        "accuracy_mean": result["accuracy"], "accuracy_std": 0.0, "macro_f1_mean": result["macro_f1"],
        "train_seconds_per_model": result["seconds"],
    }
    # Latency (features + prediction, one thread) of the same pipeline fitted on a part of the
    # training split: the cost of predicting does not depend on the data the weights came from.
    part = slice(0, min(len(dataset.train), 1000))
    if features == "raw":
        extract = raw_window_features
        inputs = dataset.test.X
        F_fit = raw_window_features(dataset.train.X[part])
    else:
        extract = np.asarray
        inputs = dataset.test.features
        F_fit = dataset.train.features[part]
    pipeline = make_classifier(classifier).fit(F_fit, dataset.train.y[part])
    linear = pipeline[-1]
    row["parameters"] = int(linear.coef_.size + np.size(linear.intercept_))
    if latency:
        with _one_thread():
            pipeline.predict(extract(inputs[:LATENCY_BATCH]))
            best = math.inf
            for _ in range(2):
                start = time.perf_counter()
                for i in range(0, len(inputs), LATENCY_BATCH):
                    pipeline.predict(extract(inputs[i:i + LATENCY_BATCH]))
                best = min(best, time.perf_counter() - start)
            calls = []
            for _ in range(SINGLE_WINDOW_CALLS):
                start = time.perf_counter()
                pipeline.predict(extract(inputs[:1]))
                calls.append(time.perf_counter() - start)
        row["latency_ms_per_window_batched"] = 1000 * best / len(inputs)
        row["latency_ms_single_window"] = 1000 * statistics.median(calls)
    return row


class _one_thread:
    """Numerical libraries (BLAS/OpenMP) limited to one thread, when threadpoolctl is there."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self.limits = None
        else:
            self.limits = threadpool_limits(1)
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.unregister()


def protocol_lines(dataset: UCIHAR, configs: Sequence[tuple[str, ExperimentConfig]], *, repeats: int, seed: int,
                   shared: Mapping[str, Any], per_model: Mapping[str, Mapping[str, Any]],
                   tuning_note: str = "", latency: bool = True) -> list[str]:
    """The selection protocol in words: what was trained on what, what was tuned where, what the test saw."""
    validation = {c.validation_subjects for _, c in configs}
    n_val = max(validation)
    test_subjects = ", ".join(map(str, np.unique(dataset.test.subject)))
    lines = []
    if n_val:
        keep, holdout = validation_holdout(dataset, n_val)
        held = ", ".join(map(str, np.unique(dataset.train.subject[holdout])))
        lines.append(f"Training: {int(keep.sum())} windows of the training subjects other than the {n_val} "
                     f"held-out validation subjects ({held}; {int(holdout.sum())} windows, the same for every "
                     f"model). Validation accuracy is measured on them only.")
    else:
        lines.append(f"Training: all {len(dataset.train)} training windows (no validation subjects held out).")
    early = {c.train.early_stopping for _, c in configs}
    if n_val and any(early):
        lines.append("Early stopping watched the validation subjects' loss (patience "
                     f"{', '.join(map(str, sorted(early)))} epochs) and restored the best epoch's weights.")
    lines.append(f"Test: the {len(dataset.test)} windows of the test subjects ({test_subjects}), disjoint from the "
                 f"training subjects. Each final network was scored on them once; no setting, epoch or model "
                 f"choice in this run looked at them.")
    settings_words = _settings_text(shared) or "none"
    model_words = "; ".join(f"{m}: {_settings_text(v)}" for m, v in per_model.items() if v) or "none"
    if tuning_note:
        lines.append(f"Tuning: {tuning_note}")
    elif n_val:
        lines.append("Tuning: the settings were fixed before this run; compare or choose models on the validation "
                     "column, never on the test columns.")
    else:
        lines.append("Tuning: none in this run; every model runs with its registered defaults plus the settings "
                     "below, fixed in advance.")
    lines.append(f"Settings for every model that has them: {settings_words}. Per-model settings: {model_words}.")
    lines.append(f"Repeats: {repeats} per model with seeds derived from base seed {seed} and the repeat index; "
                 "mean ± population std over the repeats. Macro-F1: mean over repeats of the mean F1 of the "
                 "6 classes.")
    lines.append("Ensemble of repeats: the repeats' test probabilities averaged, then the most probable class. "
                 "Rows 'ensemble: ...' average every repeat of several models (each model weighs the same); their "
                 "parameters, training time and latencies are the sums over all their members.")
    lines.append("Training time: seconds of training per network (a batch of repeats trained together, divided "
                 "by its size), on the training machine's worker processes.")
    if latency:
        lines.append(f"Latency: a freshly built network of the same architecture (fp32, eval mode, 1 torch "
                     f"thread, forward pass only, standardization excluded): all test windows in batches of "
                     f"{LATENCY_BATCH} (best of 2 passes), per window; and one window per call (median of "
                     f"{SINGLE_WINDOW_CALLS} calls).")
    return lines


def run_leaderboard(dataset: UCIHAR, folder: str | Path, *, models: Sequence[str] | None = None, repeats: int = 10,
                    seed: int = 0, settings: Mapping[str, Any] | None = None,
                    model_settings: Mapping[str, Mapping[str, Any]] | None = None,
                    ensembles: Sequence[Sequence[str]] | None = None, features: Sequence[str] = (),
                    feature_set: str = "raw", latency: bool = True, tuning_note: str = "", command: str = "",
                    models_per_batch: int | None = None, executor: Executor | None = None, progress: bool = True,
                    log: Callable[[str], None] = print) -> Leaderboard:
    """Train what ``folder`` lacks, then write ``leaderboard.csv``/``.md`` and the HTML report.

    ``ensembles``: lists of model names whose repeats are averaged together into extra rows (default:
    all models, when there are several). ``features``: feature-baseline classifiers (``linear_svm``,
    ``logreg``) on ``feature_set`` features, as extra rows.
    """
    folder = Path(folder)
    settings = _canonical(settings or {})
    model_settings = {m: _canonical(v) for m, v in (model_settings or {}).items()}
    spec = leaderboard_spec(models, settings, model_settings)
    configs = spec.experiment_configs()
    models = [label for label, _ in configs]
    if ensembles is None:
        ensembles = [models] if len(models) > 1 else []
    for members in ensembles:
        stray = [m for m in members if m not in models]
        if stray or not members:
            raise HarcnnError(f"--ensemble-of names {', '.join(map(repr, stray)) or 'no model'}, not among the "
                              f"leaderboard's models ({', '.join(models)})")
    from harcnn.features import CLASSIFIERS, FEATURE_SETS

    for classifier in features:
        if classifier not in CLASSIFIERS:
            raise HarcnnError(f"unknown classifier {classifier!r}; choose from {', '.join(CLASSIFIERS)}")
    if feature_set not in FEATURE_SETS:
        raise HarcnnError(f"unknown feature set {feature_set!r}; choose from {', '.join(FEATURE_SETS)}")
    protocol = protocol_lines(dataset, configs, repeats=repeats, seed=seed, shared=settings,
                              per_model=model_settings, tuning_note=tuning_note, latency=latency)
    spec = StudySpec(spec.name, "Leaderboard protocol:\n" + "\n".join(f"- {line}" for line in protocol),
                     spec.configs, spec.baseline)
    result = run_study(dataset, spec, folder, repeats=repeats, seed=seed, models_per_batch=models_per_batch,
                       executor=executor, progress=progress, log=log)

    y_test = dataset.test.y
    rows, by_model, probas_by_model = [], {}, {}
    for model, config in configs:
        records = sorted((r for r in result.records if r.config_id == config.config_id), key=lambda r: r.repeat)
        if not records:
            continue
        if latency and progress:
            log(f"  measuring the latency of {model} (1 thread)")
        timing = measure_latency(config, dataset.test.X) if latency else None
        own = {**config.model_params, **model_settings.get(model, {})}  # its architecture, and its own settings
        row = _network_row(folder, model, config, own, records, y_test, timing, probas_by_model)
        by_model[model] = row
        rows.append(row)
    rows.sort(key=lambda r: -r["accuracy_mean"])
    notes = []
    missing = [m for m, row in by_model.items() if row["ensemble_n"] < row["repeats"]]
    if missing:
        notes.append("Ensemble of repeats covers only the repeats with saved probabilities for: "
                     + ", ".join(f"{m} ({by_model[m]['ensemble_n']} of {by_model[m]['repeats']})" for m in missing))
    for members in ensembles:
        members = list(dict.fromkeys(members))
        if any(m not in probas_by_model for m in members):
            notes.append(f"Ensemble {'+'.join(members)}: skipped, some models have no saved probabilities.")
            continue
        name = "ensemble: all models" if len(members) == len(models) and len(models) > 1 else \
            "ensemble: " + "+".join(members)
        rows.append(_ensemble_row(name, members, by_model, probas_by_model, y_test))
    for classifier in features:
        rows.append(_feature_row(dataset, classifier, feature_set, latency))
    if features:
        protocol.append(f"Feature baselines: StandardScaler + {', '.join(features)} (default hyper-parameters, "
                        f"not tuned) fitted on all training windows' {feature_set} features, scored once on the "
                        "test set; deterministic, so one run. Parameters: the linear weights and intercepts. "
                        "Latency includes computing the features.")
    for rank, row in enumerate((r for r in rows if r["kind"] == "network"), start=1):
        row["rank"] = rank
    selection = None
    if any(c.validation_subjects for _, c in configs):
        try:
            selection = select_by_validation(result.records)
        except HarcnnError:
            selection = None
    board = Leaderboard(folder, rows, protocol, selection, command, notes)
    board.save()
    return board
