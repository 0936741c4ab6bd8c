"""Studies: a grid of configurations times R repeats, resumable, with plots and statistics.

Each (configuration, repeat) is a trial. Finished trials are committed one by one to the
study folder's SQLite store, so running the same study again skips what is done and a crash
loses at most the trials being trained. The built-in studies reproduce the reference's
tuning experiments; ``grid_study`` builds any other grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from harcnn import plots
from harcnn.data.transforms import Standardizer
from harcnn.data.uci_har import UCIHAR
from harcnn.errors import HarcnnError
from harcnn.experiments.config import ALIASES, ExperimentConfig
from harcnn.experiments.ensembles import (
    ensemble_accuracy,
    ensemble_macro_f1,
    load_probabilities,
    probability_path,
    save_probabilities,
)
from harcnn.experiments.executors import Executor, make_executor, plan_jobs
from harcnn.experiments.report import render_report
from harcnn.experiments.stats import (
    COMPARISON_COLUMNS,
    SUMMARY_COLUMNS,
    comparison_table,
    format_summary,
    group_scores,
    summary_table,
    write_rows_csv,
)
from harcnn.experiments.store import DB_NAME, ResultStore, TrialRecord
from harcnn.io import atomic_write_bytes, write_json
from harcnn.models import create_model
from harcnn.seeding import repeat_seeds


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (bool, list)) else str(value)


@dataclass(frozen=True)
class StudySpec:
    """A named list of labelled configurations (flat settings), one of which is the baseline."""

    name: str
    description: str
    configs: tuple[tuple[str, dict[str, Any]], ...]
    baseline: str
    settings: dict[str, Any] = field(default_factory=dict)  # shared by every configuration

    def __post_init__(self) -> None:
        labels = [label for label, _ in self.configs]
        if not labels:
            raise HarcnnError(f"study {self.name!r} has no configurations")
        if len(set(labels)) != len(labels):
            raise HarcnnError(f"study {self.name!r} has duplicate configurations")
        if self.baseline not in labels:
            raise HarcnnError(f"baseline {self.baseline!r} is not one of the study's configurations: {labels}")

    def experiment_configs(self, extra: Mapping[str, Any] | None = None) -> list[tuple[str, ExperimentConfig]]:
        return [(label, ExperimentConfig.from_flat({**self.settings, **(extra or {}), **values}))
                for label, values in self.configs]


def _one_setting(name: str, description: str, key: str, values: Iterable[Any], baseline: Any) -> StudySpec:
    configs = tuple((f"{key}={_show(v)}", {key: v}) for v in values)
    return StudySpec(name, description, configs, f"{key}={_show(baseline)}")


BUILTIN_STUDIES: dict[str, StudySpec] = {
    "standardize": _one_setting(
        "standardize", "Baseline CNN on raw vs standardized signals (per-channel z-scores fitted on the "
        "training windows with the 50% overlap removed). Reference: ~90.4% -> ~91.5%.",
        "standardize", [False, True], False),
    "filters": _one_setting(
        "filters", "Number of filters in both conv layers of the baseline CNN. Reference: a mild upward "
        "trend, plateau around 32/128/256.", "filters", [8, 16, 32, 64, 128, 256], 64),
    "kernels": _one_setting(
        "kernels", "Kernel size of both conv layers of the baseline CNN. Reference: best mean ~91.8% at 5.",
        "kernel_size", [2, 3, 5, 7, 11], 3),
    "heads": _one_setting(
        "heads", "Baseline CNN vs the three-headed CNN (kernels 3, 5, 11), raw signals. Reference: 91.6% +/- 0.8 "
        "for three heads.", "model", ["cnn", "multihead"], "cnn"),
}


def grid_study(grid: Mapping[str, Iterable[Any]], *, name: str = "custom", settings: Mapping[str, Any] | None = None,
               baseline: str | None = None, description: str = "") -> StudySpec:
    """All combinations of ``grid`` (``{"filters": [32, 128], "kernel_size": [5, 7]}``)."""
    if not grid:
        raise HarcnnError("the grid is empty: give at least one KEY=V1,V2 setting")
    keys = [ALIASES.get(k, k) for k in grid]
    values = [list(v) if isinstance(v, (list, tuple)) else [v] for v in grid.values()]
    configs = tuple((" ".join(f"{k}={_show(v)}" for k, v in zip(keys, combo)), dict(zip(keys, combo)))
                    for combo in itertools.product(*values))
    description = description or "Grid: " + ", ".join(f"{k} in {list(map(_show, v))}" for k, v in zip(keys, values))
    return StudySpec(name, description, configs, baseline or configs[0][0], dict(settings or {}))


def load_study_file(path: str | Path) -> StudySpec:
    """A study from TOML (or YAML, when PyYAML is installed)::

        name = "best-settings"
        [grid]
        filters = [32, 128]
        kernel_size = [5, 7]
        [settings]
        standardize = true
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise HarcnnError(f"cannot read study file {path}: {error.strerror}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise HarcnnError(f"reading {path} needs PyYAML (pip install pyyaml), or use TOML") from None
            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise HarcnnError(f"{path} is not valid: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("grid"), dict):
        raise HarcnnError(f"{path} needs a [grid] table of settings and their values")
    return grid_study(data["grid"], name=str(data.get("name", path.stem)), settings=data.get("settings", {}),
                      baseline=data.get("baseline"), description=str(data.get("description", "")))


@dataclass
class StudyResult:
    spec: StudySpec
    folder: Path
    records: list[TrialRecord]

    def scores(self) -> dict[str, list[float]]:
        return group_scores(self.records)

    def summary_lines(self) -> list[str]:
        groups = self.scores()
        return [format_summary(label, groups[label]) for label, _ in self.spec.configs if label in groups]


def run_study(dataset: UCIHAR, spec: StudySpec, folder: str | Path, *, repeats: int = 10, seed: int = 0,
              settings: Mapping[str, Any] | None = None, models_per_batch: int | None = None,
              executor: Executor | None = None, progress: bool = True, reuse: Iterable[str | Path] = (),
              log: Callable[[str], None] = print) -> StudyResult:
    """Run the trials of ``spec`` not yet in ``folder``'s store, then write its tables, figures and report.

    ``settings`` apply to every configuration (e.g. ``{"validation_subjects": 5, "epochs": 10}``).
    ``reuse``: other study folders whose finished trials of the same configuration and seed are
    copied instead of trained again (a trial is fully determined by its configuration and seed).
    """
    folder = Path(folder)
    store = ResultStore(folder)
    configs = spec.experiment_configs(settings)
    seeds = repeat_seeds(seed, repeats)
    with store.lock():
        store.set_meta("study", {"name": spec.name, "repeats": repeats, "seed": seed,
                                 "configs": {label: c.to_flat() for label, c in configs}})
        done = store.completed()
        copied = _copy_trials(store, spec.name, configs, seeds, done, reuse)
        if copied:
            log(f"{spec.name}: reused {copied} finished trials of identical configurations from other studies")
            done = store.completed()
        executor = executor or make_executor()
        todo = [(label, config, [r for r in range(repeats) if (config.config_id, r) not in done])
                for label, config in configs]
        jobs = plan_jobs(todo, seeds, models_per_batch, executor.workers)
        n_done = len(configs) * repeats - sum(len(j.repeats) for j in jobs)
        if n_done:
            log(f"{spec.name}: resuming, {n_done} of {len(configs) * repeats} trials already done")
        bar = tqdm(total=len(configs) * repeats, initial=n_done, desc=f"study {spec.name}", unit="trial",
                   disable=not progress, dynamic_ncols=True)

        def show(trials: float) -> None:
            bar.n = round(n_done + trials, 2)
            bar.refresh()

        for job, outcomes in executor.run(dataset, jobs, on_progress=show if progress else None):
            for outcome in outcomes:
                if outcome.test_proba is not None:  # the file first: a committed trial always has one
                    save_probabilities(folder, job.config.config_id, outcome.repeat, outcome.test_proba)
                store.add(TrialRecord(
                    study=spec.name, config=job.config.to_flat(), config_id=job.config.config_id, label=job.label,
                    repeat=outcome.repeat, seed=outcome.seed, test_accuracy=outcome.test_accuracy,
                    val_accuracy=outcome.val_accuracy, per_class=outcome.per_class, confusion=outcome.confusion,
                    history=outcome.history, train_seconds=outcome.train_seconds))
            scores = [o.test_accuracy for o in outcomes]
            bar.write(f"  {job.label}: repeats {', '.join(str(r + 1) for r in job.repeats)} -> "
                      + ", ".join(f"{100 * s:.2f}%" for s in scores)
                      + f"  ({outcomes[0].train_seconds:.1f} s per model)")
        bar.close()
        order = {c.config_id: i for i, (_, c) in enumerate(configs)}  # tables follow the grid's order
        records = sorted((r for r in store.records() if r.config_id in order and r.repeat < repeats),
                         key=lambda r: (order[r.config_id], r.repeat))
        result = StudyResult(spec, folder, records)
        write_study_outputs(result, dataset, configs, store)
    return result


def _copy_trials(store: ResultStore, study: str, configs: list[tuple[str, ExperimentConfig]], seeds: list[int],
                 done: set[tuple[str, int]], folders: Iterable[str | Path]) -> int:
    labels = {config.config_id: label for label, config in configs}
    copied = 0
    for folder in folders:
        if Path(folder).resolve() == store.folder.resolve() or not (Path(folder) / DB_NAME).is_file():
            continue
        for record in ResultStore(folder).records():
            key = (record.config_id, record.repeat)
            if record.config_id in labels and record.repeat < len(seeds) and key not in done \
                    and record.seed == seeds[record.repeat]:
                source = probability_path(folder, record.config_id, record.repeat)
                if source.is_file():  # its test probabilities first, as for a trained trial
                    atomic_write_bytes(probability_path(store.folder, record.config_id, record.repeat),
                                       source.read_bytes())
                store.add(dataclasses.replace(record, study=study, label=labels[record.config_id]))
                done.add(key)
                copied += 1
    return copied


def write_study_outputs(result: StudyResult, dataset: UCIHAR, configs: list[tuple[str, ExperimentConfig]],
                        store: ResultStore) -> None:
    """Tables, figures and the HTML report of a finished study."""
    spec, folder, records = result.spec, result.folder, result.records
    labels = [label for label, _ in configs]
    by_label = {label: [r for r in records if r.label == label] for label in labels}
    by_label = {k: sorted(v, key=lambda r: r.repeat) for k, v in by_label.items() if v}
    summary = summary_table(records, spec.baseline)
    ensembles = ensemble_scores(folder, records, dataset.test.y)
    for row in summary:
        row.update(ensembles.get(row["label"], {}))
    write_rows_csv(folder / "summary.csv", summary, (*SUMMARY_COLUMNS, *ENSEMBLE_COLUMNS))
    write_rows_csv(folder / "comparison.csv", comparison_table(records, spec.baseline), COMPARISON_COLUMNS)
    store.export_csv(folder / "results.csv")
    write_json(folder / "per_class.json", {label: _mean_per_class(rs) for label, rs in by_label.items()})

    plots.boxplot_scores({label: [r.test_accuracy for r in rs] for label, rs in by_label.items()},
                         folder / "boxplot.png", title=f"Study '{spec.name}': test accuracy per configuration")
    plots.histograms(dataset.train.X, dataset.channel_names, folder / "histograms.png",
                     title="Training data, overlap removed: distribution of each variable")
    if any(c.standardize for _, c in configs):
        plots.histograms(Standardizer().fit_transform(dataset.train.X), dataset.channel_names,
                         folder / "histograms_standardized.png",
                         title="Training data, overlap removed, standardized")
    for model_name in dict.fromkeys(c.model for _, c in configs):
        config = next(c for _, c in configs if c.model == model_name)
        model = create_model(model_name, **config.model_params)
        plots.architecture_diagram(model.architecture(), folder / f"architecture_{model_name}.png",
                                   title=f"Architecture: {model_name} ({model.num_parameters():,} parameters)")
    baseline_records = by_label.get(spec.baseline, [])
    if baseline_records:
        plots.learning_curves([baseline_records[0].history], folder / "learning_curves_one_run.png",
                              title=f"Learning curves, one run ({spec.baseline}, repeat 1)")
    for i, (label, rs) in enumerate(by_label.items()):
        plots.learning_curves([r.history for r in rs], folder / f"learning_curves_{i + 1:02d}.png",
                              title=f"Learning curves: {label}")
    best = max(by_label, key=lambda label: np.mean([r.test_accuracy for r in by_label[label]]))
    for kind, label in dict.fromkeys([("baseline", spec.baseline), ("best", best)]):
        if label not in by_label:
            continue
        matrix = np.sum([r.confusion for r in by_label[label]], axis=0)
        for normalize in (False, True):
            suffix = "normalized" if normalize else "counts"
            plots.confusion_matrix(matrix, dataset.class_names, folder / f"confusion_{kind}_{suffix}.png",
                                   title=f"Confusion ({suffix}), {label}, summed over {len(by_label[label])} repeats",
                                   normalize=normalize)
    write_json(folder / "study.json", {
        "name": spec.name, "description": spec.description, "baseline": spec.baseline,
        "grid": {label: c.to_flat() for label, c in configs}, "settings": spec.settings,
        "repeats": max((len(rs) for rs in by_label.values()), default=0), "data_source": dataset.source,
        "summary": result.summary_lines(),
    })
    render_report(folder)


ENSEMBLE_COLUMNS = ("ensemble_n", "ensemble_accuracy", "ensemble_macro_f1")


def ensemble_scores(folder: Path, records: list[TrialRecord], y_test: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per label: the accuracy and macro-F1 of its repeats' averaged test probabilities.

    ``ensemble_n`` counts the repeats whose probabilities were saved (trials stored by an older
    harcnn have none); labels without any saved probabilities are left out.
    """
    by_config: dict[tuple[str, str], list[int]] = {}
    for record in records:
        by_config.setdefault((record.label, record.config_id), []).append(record.repeat)
    out: dict[str, dict[str, Any]] = {}
    for (label, config_id), repeats in by_config.items():
        found, probas = load_probabilities(folder, config_id, sorted(repeats))
        if probas is None or probas.shape[1] != len(y_test):
            continue
        out[label] = {"ensemble_n": len(found), "ensemble_accuracy": ensemble_accuracy(probas, y_test),
                      "ensemble_macro_f1": ensemble_macro_f1(probas, y_test)}
    return out


def _mean_per_class(records: list[TrialRecord]) -> dict[str, dict[str, float]]:
    classes = records[0].per_class
    return {name: {metric: float(np.mean([r.per_class[name][metric] for r in records]))
                   for metric in ("precision", "recall", "f1")} for name in classes}
