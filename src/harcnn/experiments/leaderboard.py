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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.core.io import atomic_write_text
from harcnn.core.settings import canonical_name, show_value
from harcnn.data.dataset import Dataset
from harcnn.data.splits import Fold, Protocol, subject_holdout
from harcnn.experiments.ensembles import load_probabilities
from harcnn.experiments.executors import Executor
from harcnn.experiments.results import fold_ensembles, pooled_scores
from harcnn.experiments.selection import Selection, select_by_validation
from harcnn.experiments.stats import write_rows_csv
from harcnn.experiments.study import StudySpec, run_study
from harcnn.experiments.trials import Trial
from harcnn.models import create_model, list_models
from harcnn.models.config import Config, settings_for
from harcnn.reports.html import render_report
from harcnn.serving.latency import BATCH, SINGLE_WINDOW_CALLS, measure_latency

__all__ = ["LEADERBOARD_COLUMNS", "Leaderboard", "leaderboard_spec", "run_leaderboard"]

NAME = "leaderboard"

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


def _canonical(values: Mapping[str, Any]) -> dict[str, Any]:
    return {canonical_name(k): v for k, v in values.items()}


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
        raise HarcnnError("the leaderboard's models are chosen with --models, not with a 'model' setting (leave it "
                          "out of the config file)")
    orphans = sorted(k for k in settings if not any(k in settings_for(m) for m in models))
    if orphans:
        raise HarcnnError(f"unknown setting {', '.join(map(repr, orphans))} for models {', '.join(models)}")
    model_settings = {m: _canonical(v) for m, v in (model_settings or {}).items()}
    stray = [m for m in model_settings if m not in models]
    if stray:
        raise HarcnnError(f"per-model settings for {', '.join(map(repr, stray))}, which is not among the "
                          f"leaderboard's models ({', '.join(models)})")
    configs = []
    for model in models:
        values = {k: v for k, v in settings.items() if k in settings_for(model)}
        values.update(model_settings.get(model, {}))
        Config.from_flat({"model": model, **values}, where=f"{model}: ")  # a clear error for a bad setting
        configs.append((model, {"model": model, **values}))
    baseline = "cnn" if "cnn" in models else models[0]
    return StudySpec(NAME, description or "Leaderboard: " + ", ".join(models), tuple(configs), baseline)


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
        accuracy_text = _pct(row.get("accuracy_mean"))
        if row.get("accuracy_std") is not None and row.get("kind") != "ensemble":
            accuracy_text += f" ± {_pct(row['accuracy_std'])}"
        parameters = row.get("parameters")
        cells = [str(row.get("rank") or ""), str(row["model"]), str(row.get("settings") or "") or "defaults",
                 "–" if parameters is None else f"{parameters:,}", str(row.get("repeats", "")),
                 accuracy_text, _pct(row.get("macro_f1_mean")), _pct(row.get("ensemble_accuracy")),
                 _num(row.get("train_seconds_per_model"), ".1f"),
                 _num(row.get("latency_ms_per_window_batched"), ".3f"),
                 _num(row.get("latency_ms_single_window"), ".3f"), _pct(row.get("val_accuracy_mean"))]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def _settings_text(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={show_value(v)}" for k, v in values.items())


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(present)) if present else None


def _fold_probabilities(folder: Path, config: Config, records: list[Trial],
                        folds: list[Fold]) -> list[np.ndarray] | None:
    """Per fold, the mean test probabilities of the repeats (None when some fold has none saved)."""
    return fold_ensembles(folds, lambda fold: load_probabilities(
        folder, config.config_id, fold.name, sorted(r.repeat for r in records if r.fold == fold.name))[1])


def _network_row(model: str, config: Config, dataset: Dataset, label_settings: Mapping[str, Any],
                 records: list[Trial], means: list[np.ndarray] | None, y_folds: list[np.ndarray],
                 latency: tuple[float, float] | None) -> dict[str, Any]:
    scores = np.array([r.test_accuracy for r in records])
    ensemble = None if means is None else pooled_scores(means, y_folds, len(dataset.class_names))
    return {
        "kind": "network", "model": model, "settings": _settings_text(label_settings),
        "parameters": create_model(model, **dataset.spec.model_inputs(), **config.model_params).num_parameters(),
        "repeats": len({r.repeat for r in records}), "accuracy_mean": float(scores.mean()),
        "accuracy_std": float(scores.std()), "macro_f1_mean": _mean(r.macro_f1 for r in records),
        "ensemble_accuracy": None if ensemble is None else ensemble[0],
        "ensemble_macro_f1": None if ensemble is None else ensemble[1],
        "train_seconds_per_model": float(np.mean([r.train_seconds for r in records])),
        "latency_ms_per_window_batched": None if latency is None else latency[0],
        "latency_ms_single_window": None if latency is None else latency[1],
        "val_accuracy_mean": _mean(r.val_accuracy for r in records),
        "config_id": config.config_id,
    }


def _ensemble_row(name: str, members: Sequence[str], rows: Mapping[str, dict[str, Any]],
                  means: Mapping[str, list[np.ndarray]], y_folds: list[np.ndarray], n_classes: int) -> dict[str, Any]:
    """Every repeat of every member model averaged, each model weighing the same."""
    joined = [np.mean([means[m][f] for m in members], axis=0) for f in range(len(y_folds))]
    acc, f1 = pooled_scores(joined, y_folds, n_classes)
    counts = {m: rows[m]["repeats"] for m in members}
    latencies = [[rows[m][k] for m in members] for k in ("latency_ms_per_window_batched", "latency_ms_single_window")]
    return {
        "kind": "ensemble", "model": name, "settings": "+".join(members),
        "parameters": sum(rows[m]["parameters"] * counts[m] for m in members), "repeats": sum(counts.values()),
        "accuracy_mean": acc, "macro_f1_mean": f1, "ensemble_accuracy": acc, "ensemble_macro_f1": f1,
        "train_seconds_per_model": sum(rows[m]["train_seconds_per_model"] * counts[m] for m in members),
        "latency_ms_per_window_batched": None if None in latencies[0] else
        sum(v * counts[m] for v, m in zip(latencies[0], members)),
        "latency_ms_single_window": None if None in latencies[1] else
        sum(v * counts[m] for v, m in zip(latencies[1], members)),
    }


def _feature_row(dataset: Dataset, classifier: str, features: str, protocol: Protocol, latency: bool) -> dict[str, Any]:
    from harcnn.experiments.features import feature_baseline, feature_matrix, make_classifier, raw_window_features

    result = feature_baseline(dataset, classifier=classifier, features=features, protocol=protocol)
    folds = list(result["fold_accuracy"].values())
    row: dict[str, Any] = {
        "kind": "features", "model": f"{classifier} ({features} features)",
        "settings": f"{result['n_features']} features, StandardScaler, C=1", "repeats": 1,
        "accuracy_mean": result["accuracy"], "accuracy_std": float(np.std(folds)) if len(folds) > 1 else 0.0,
        "macro_f1_mean": result["macro_f1"], "train_seconds_per_model": result["seconds"],
    }
    # Latency (features + prediction, one thread) of the same pipeline fitted on a part of the data:
    # the cost of predicting does not depend on the data the weights came from.
    part = slice(0, min(len(dataset), 1000))
    sub = dataset.subset(np.arange(len(dataset))[part])
    pipeline = make_classifier(classifier).fit(feature_matrix(sub, features), sub.y)
    linear = pipeline[-1]
    row["parameters"] = int(linear.coef_.size + np.size(linear.intercept_))
    if latency:
        if features == "raw":
            spec = dataset.spec
            inputs = dataset.X

            def predict(X):
                return pipeline.predict(raw_window_features(X, spec.sampling_rate, spec.channels))
        else:
            inputs, predict = dataset.extras["features"], pipeline.predict
        row["latency_ms_per_window_batched"], row["latency_ms_single_window"] = measure_latency(predict, inputs)
    return row


def network_latency(config: Config, dataset: Dataset) -> tuple[float, float]:
    """Latency of a freshly built single network of ``config`` (fp32, eval mode, one thread)."""
    import torch

    model = create_model(config.model, n_models=1, **dataset.spec.model_inputs(), **config.model_params).eval()
    return measure_latency(lambda X: model(torch.from_numpy(np.ascontiguousarray(X))), dataset.X)


def protocol_lines(dataset: Dataset, configs: Sequence[tuple[str, Config]], folds: list[Fold], *, protocol: Protocol,
                   repeats: int, seed: int, shared: Mapping[str, Any], per_model: Mapping[str, Mapping[str, Any]],
                   tuning_note: str = "", latency: bool = True) -> list[str]:
    """The selection protocol in words: what was trained on what, what was tuned where, what the test saw."""
    n_val = max(c.validation_subjects for _, c in configs)
    lines = [f"Data: {dataset.name} from {dataset.source} (fingerprint {dataset.fingerprint}): {len(dataset)} windows "
             f"of {len(dataset.subjects)} subjects, {len(dataset.class_names)} classes, {dataset.spec.describe()}."]
    if str(protocol) == "official" or len(folds) == 1:
        which = "the dataset's official test split" if str(protocol) == "official" else \
            f"held-out subjects (--cv {protocol})"
        lines.append(f"Test: {which}, {len(folds[0].test)} windows of subjects "
                     f"{', '.join(folds[0].test_subjects)}, disjoint from the training subjects.")
    else:
        lines.append(f"Test: cross-validation by subject (--cv {protocol}): {len(folds)} folds, each testing on "
                     "subjects that its networks never saw in training; accuracies are means over folds and repeats.")
    if n_val:
        keep, holdout = subject_holdout(dataset.subject[folds[0].train], n_val)
        held = ", ".join(map(str, np.unique(dataset.subject[folds[0].train][holdout])))
        where = "of each fold's training subjects " if len(folds) > 1 else ""
        lines.append(f"Validation: {n_val} whole training subjects {where}held out (the same for every model; "
                     f"first fold: {held}). Validation accuracy is measured on them only.")
    early = {c.early_stopping for _, c in configs}
    if n_val and any(early):
        lines.append("Early stopping watched the validation subjects' loss (patience "
                     f"{', '.join(map(str, sorted(early)))} epochs) and restored the best epoch's weights.")
    lines.append("Each final network was scored on its test subjects once; no setting, epoch or model choice in "
                 "this run looked at them.")
    if tuning_note:
        lines.append(f"Tuning: {tuning_note}")
    elif n_val:
        lines.append("Tuning: the settings were fixed before this run; compare or choose models on the validation "
                     "column, never on the test columns.")
    else:
        lines.append("Tuning: none in this run; every model runs with its registered defaults plus the settings "
                     "below, fixed in advance.")
    model_words = "; ".join(f"{m}: {_settings_text(v)}" for m, v in per_model.items() if v) or "none"
    lines.append(f"Settings for every model that has them: {_settings_text(shared) or 'none'}. "
                 f"Per-model settings: {model_words}.")
    lines.append(f"Repeats: {repeats} per model (and fold) with seeds derived from base seed {seed}; mean ± population "
                 f"std over the trials. Macro-F1: mean over trials of the mean F1 of the {len(dataset.class_names)} "
                 "classes.")
    lines.append("Ensemble of repeats: the repeats' test probabilities averaged, then the most probable class. "
                 "Rows 'ensemble: ...' average every repeat of several models (each model weighs the same); their "
                 "parameters, training time and latencies are the sums over all their members.")
    lines.append("Training time: seconds of training per network (a batch of repeats trained together, divided "
                 "by its size), on the training machine's worker processes.")
    if latency:
        lines.append(f"Latency: a freshly built network of the same architecture (fp32, eval mode, 1 thread, forward "
                     f"pass only, standardization excluded): all windows in batches of {BATCH} (best of 2 passes), "
                     f"per window; and one window per call (median of {SINGLE_WINDOW_CALLS} calls).")
    return lines


def run_leaderboard(dataset: Dataset, folder: str | Path, *, protocol: Protocol | str = "official",
                    models: Sequence[str] | None = None, repeats: int = 10, seed: int = 0,
                    settings: Mapping[str, Any] | None = None,
                    model_settings: Mapping[str, Mapping[str, Any]] | None = None,
                    ensembles: Sequence[Sequence[str]] | None = None, baselines: Sequence[str] = (),
                    feature_set: str = "raw", latency: bool = True, tuning_note: str = "", command: str = "",
                    models_per_batch: int | None = None, executor: Executor | None = None, progress: bool = True,
                    log: Callable[[str], None] = print) -> Leaderboard:
    """Train what ``folder`` lacks, then write ``leaderboard.csv``/``.md`` and the HTML report.

    ``ensembles``: lists of model names whose repeats are averaged together into extra rows (default:
    all models, when there are several). ``baselines``: feature-baseline classifiers (``linear_svm``,
    ``logreg``) on ``feature_set`` features, as extra rows.
    """
    from harcnn.experiments.features import CLASSIFIERS, FEATURE_SETS

    folder = Path(folder)
    protocol = protocol if isinstance(protocol, Protocol) else Protocol.parse(protocol)
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
    for classifier in baselines:
        if classifier not in CLASSIFIERS:
            raise HarcnnError(f"unknown classifier {classifier!r}; choose from {', '.join(CLASSIFIERS)}")
    if feature_set not in FEATURE_SETS:
        raise HarcnnError(f"unknown feature set {feature_set!r}; choose from {', '.join(FEATURE_SETS)}")
    folds = protocol.folds(dataset.subject, dataset.split)
    lines = protocol_lines(dataset, configs, folds, protocol=protocol, repeats=repeats, seed=seed, shared=settings,
                           per_model=model_settings, tuning_note=tuning_note, latency=latency)
    spec = StudySpec(spec.name, "Leaderboard protocol:\n" + "\n".join(f"- {line}" for line in lines),
                     spec.configs, spec.baseline)
    result = run_study(dataset, spec, folder, protocol=protocol, repeats=repeats, seed=seed,
                       models_per_batch=models_per_batch, executor=executor, progress=progress, log=log)

    y_folds = [dataset.y[f.test] for f in folds]
    rows, by_model, means_by_model = [], {}, {}
    for model, config in configs:
        records = [r for r in result.records if r.config_id == config.config_id]
        if not records:
            continue
        if latency and progress:
            log(f"  measuring the latency of {model} (1 thread)")
        timing = network_latency(config, dataset) if latency else None
        means = _fold_probabilities(folder, config, records, folds)
        if means is not None:
            means_by_model[model] = means
        defaults = Config(model).values
        changed = {k: v for k, v in config.model_params.items() if v != defaults[k]}  # its architecture
        own = {**changed, **{k: config.values[k] for k in model_settings.get(model, {})}}  # and its own settings
        row = _network_row(model, config, dataset, own, records, means, y_folds, timing)
        by_model[model] = row
        rows.append(row)
    rows.sort(key=lambda r: -r["accuracy_mean"])
    notes = []
    for members in ensembles:
        members = list(dict.fromkeys(members))
        if any(m not in means_by_model for m in members):
            notes.append(f"Ensemble {'+'.join(members)}: skipped, some models have no saved probabilities.")
            continue
        name = "ensemble: all models" if len(members) == len(models) and len(models) > 1 else \
            "ensemble: " + "+".join(members)
        rows.append(_ensemble_row(name, members, by_model, means_by_model, y_folds, len(dataset.class_names)))
    for classifier in baselines:
        rows.append(_feature_row(dataset, classifier, feature_set, protocol, latency))
    if baselines:
        lines.append(f"Feature baselines: StandardScaler + {', '.join(baselines)} (default hyper-parameters, not "
                     f"tuned) fitted on each fold's training windows' {feature_set} features, scored once on its "
                     "test windows; deterministic, so one run. Parameters: the linear weights and intercepts. "
                     "Latency includes computing the features.")
    for rank, row in enumerate((r for r in rows if r["kind"] == "network"), start=1):
        row["rank"] = rank
    selection = None
    if any(c.validation_subjects for _, c in configs):
        try:
            selection = select_by_validation(result.records)
        except HarcnnError:
            selection = None
    board = Leaderboard(folder, rows, lines, selection, command, notes)
    board.save()
    return board
