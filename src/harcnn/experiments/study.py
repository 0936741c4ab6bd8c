"""Studies: a grid of configurations times R repeats (on every fold of a protocol), resumable,
with plots and statistics.

Each (configuration, fold, repeat) is a trial. Finished trials are committed one by one to the
study folder's SQLite store, so running the same study again skips what is done and a crash loses
at most the trials being trained. A study folder belongs to one dataset (its fingerprint) and one
protocol: running it again on other data, or with another --cv, is refused. The built-in studies
reproduce the reference's tuning experiments; ``grid_study`` builds any other grid.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.core.io import atomic_write_bytes, write_json
from harcnn.core.outputs import check_output
from harcnn.core.progress import ProgressBar
from harcnn.core.seeding import fold_seeds
from harcnn.core.settings import canonical_name, show_value
from harcnn.data.dataset import Dataset
from harcnn.data.splits import Fold, Protocol
from harcnn.data.transforms import Standardizer
from harcnn.experiments.ensembles import load_probabilities, probability_path, save_probabilities
from harcnn.experiments.execution import make_executor
from harcnn.experiments.executors import Executor, plan_jobs
from harcnn.experiments.results import fold_ensembles, mean_per_class, mean_per_subject, pooled_scores
from harcnn.experiments.stats import (
    COMPARISON_COLUMNS,
    SUMMARY_COLUMNS,
    comparison_table,
    format_summary,
    group_scores,
    summary_table,
    write_rows_csv,
)
from harcnn.experiments.store import DB_NAME, STUDY_FOLDER, ResultStore
from harcnn.experiments.trials import Trial
from harcnn.models import create_model
from harcnn.models.config import Config, read_config_file
from harcnn.reports import plots
from harcnn.reports.html import render_report
from harcnn.training.fit import check_plan


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
        both = sorted(self.varied() & {canonical_name(k) for k in self.settings})
        if both:
            raise HarcnnError(f"study {self.name!r} both fixes ([settings]) and varies ([grid]) {', '.join(both)}: "
                              "keep one")

    def varied(self) -> set[str]:
        """The settings the configurations set themselves (a grid's keys), which win over fixed settings."""
        return {canonical_name(k) for _, values in self.configs for k in values}

    def experiment_configs(self, extra: Mapping[str, Any] | None = None) -> list[tuple[str, Config]]:
        """Every configuration, checked: the study's settings, then ``extra``, then the configuration's own."""
        return [(label, Config.from_flat({**self.settings, **(extra or {}), **values},
                                         where=f"study {self.name!r}, {label}: "))
                for label, values in self.configs]


def _one_setting(name: str, description: str, key: str, values: Iterable[Any], baseline: Any) -> StudySpec:
    configs = tuple((f"{key}={show_value(v)}", {key: v}) for v in values)
    return StudySpec(name, description, configs, f"{key}={show_value(baseline)}")


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
    keys = [canonical_name(k) for k in grid]
    values = [list(v) if isinstance(v, (list, tuple)) else [v] for v in grid.values()]
    if any(not v for v in values):
        raise HarcnnError(f"the grid gives no value for {', '.join(k for k, v in zip(keys, values) if not v)}")
    configs = tuple((" ".join(f"{k}={show_value(v)}" for k, v in zip(keys, combo)), dict(zip(keys, combo)))
                    for combo in itertools.product(*values))
    description = description or "Grid: " + ", ".join(f"{k} in {{{' | '.join(map(show_value, v))}}}"
                                                      for k, v in zip(keys, values))
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
    data = read_config_file(path, tables=("settings", "grid"), reader="harcnn study custom --config")
    if not data["grid"]:
        raise HarcnnError(f"{path} needs a [grid] table of settings and their values")
    return grid_study(data["grid"], name=str(data.get("name", Path(path).stem)), settings=data["settings"],
                      baseline=data.get("baseline"), description=str(data.get("description", "")))


@dataclass
class StudyResult:
    spec: StudySpec
    folder: Path
    records: list[Trial]
    folds: list[Fold] = field(default_factory=list)

    def scores(self) -> dict[str, list[float]]:
        return group_scores(self.records)

    def summary_lines(self) -> list[str]:
        groups = self.scores()
        return [format_summary(label, groups[label]) for label, _ in self.spec.configs if label in groups]


def folder_identity(dataset: Dataset, protocol: Protocol, seed: int) -> dict[str, Any]:
    """What a study folder's trials depend on besides their configuration: the data, protocol and seed."""
    return {"data": dataset.identity(), "protocol": str(protocol), "seed": seed}


def same_trials(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two folder identities give the same trial for the same configuration, fold and repeat
    (the same data wherever it was loaded from, the same protocol and base seed)."""
    if not a or not b:
        return False
    return (a.get("data", {}).get("fingerprint") == b.get("data", {}).get("fingerprint")
            and a.get("protocol") == b.get("protocol") and a.get("seed") == b.get("seed"))


def check_folder_identity(store: ResultStore, identity: Mapping[str, Any]) -> None:
    """A study folder holds trials of one dataset, protocol and seed: refuse to mix in others."""
    previous = store.get_meta("identity")
    if previous is None or same_trials(previous, identity):
        return
    old, new = previous.get("data", {}), identity["data"]
    if old.get("fingerprint") != new["fingerprint"]:
        raise HarcnnError(f"{store.folder} holds trials on other data ({old.get('name')} from {old.get('source')}, "
                          f"fingerprint {old.get('fingerprint')}); this data ({new['name']} from {new['source']}) "
                          f"has fingerprint {new['fingerprint']}: choose another --out folder")
    if previous.get("protocol") != identity["protocol"]:
        raise HarcnnError(f"{store.folder} holds trials of the protocol --cv {previous.get('protocol')}, not "
                          f"--cv {identity['protocol']}: choose another --out folder, or run with "
                          f"--cv {previous.get('protocol')}")
    raise HarcnnError(f"{store.folder} holds trials of --seed {previous.get('seed')}, not --seed {identity['seed']}: "
                      f"choose another --out folder, or run with --seed {previous.get('seed')}")


def run_study(dataset: Dataset, spec: StudySpec, folder: str | Path, *, protocol: Protocol | str = "official",
              repeats: int = 10, seed: int = 0, settings: Mapping[str, Any] | None = None,
              models_per_batch: int | None = None, executor: Executor | None = None, progress: bool = True,
              reuse: Iterable[str | Path] = (), log: Callable[[str], None] = print) -> StudyResult:
    """Run the trials of ``spec`` not yet in ``folder``'s store, then write its tables, figures and report.

    ``settings`` apply to every configuration (e.g. ``{"validation_subjects": 5, "epochs": 10}``).
    ``reuse``: other study folders whose finished trials of the same configuration, fold and seed on
    the same data and protocol are copied instead of trained again (such a trial is fully determined).
    """
    folder = Path(folder)
    protocol = protocol if isinstance(protocol, Protocol) else Protocol.parse(protocol)
    configs = spec.experiment_configs(settings)
    folds = protocol.folds(dataset.subject, dataset.split)
    check_plan([config for _, config in configs], dataset, folds)
    seeds = {fold.name: fold_seeds(seed, repeats, i, len(folds)) for i, fold in enumerate(folds)}
    store = ResultStore(check_output(folder, STUDY_FOLDER))
    with store.lock():
        identity = folder_identity(dataset, protocol, seed)
        check_folder_identity(store, identity)
        store.set_meta("identity", identity)
        store.set_meta("study", {"name": spec.name, "repeats": repeats, "seed": seed,
                                 "configs": {label: c.to_flat() for label, c in configs}})
        done = store.completed()
        copied = _copy_trials(store, spec.name, configs, seeds, done, reuse)
        if copied:
            log(f"{spec.name}: reused {copied} finished trials of identical configurations from other studies")
            done = store.completed()
        executor = executor or make_executor()
        todo = []
        for label, config in configs:
            for fold in folds:
                missing = [r for r in range(repeats) if (config.config_id, fold.name, r) not in done]
                if missing:
                    todo.append((label, config, fold, missing, [seeds[fold.name][r] for r in missing]))
        jobs = plan_jobs(todo, dataset.spec, models_per_batch, executor.workers)
        total = len(configs) * len(folds) * repeats
        n_done = total - sum(job.size for job in jobs)
        if n_done:
            log(f"{spec.name}: resuming, {n_done} of {total} trials already done")
        resumed = n_done  # the executor reports the trials done in this run, finished jobs included
        with ProgressBar(total, f"study {spec.name}", "trial", initial=n_done, enabled=progress) as bar:
            for job, trials in executor.run(dataset, jobs, on_progress=lambda t: bar.update_to(resumed + t)):
                for trial in trials:
                    if trial.test_proba is not None:  # the file first: a committed trial always has one
                        save_probabilities(folder, trial.config_id, trial.fold, trial.repeat, trial.test_proba)
                    store.add(dataclasses.replace(trial, study=spec.name))
                n_done += job.size
                fold = f" {job.fold.name}" if len(folds) > 1 else ""
                bar.write(f"  {job.label}{fold}: repeats {', '.join(str(r + 1) for r in job.repeats)} -> "
                          + ", ".join(f"{100 * t.test_accuracy:.2f}%" for t in trials)
                          + f"  ({trials[0].train_seconds:.1f} s per model)  [{n_done}/{total}]")
        order = {c.config_id: i for i, (_, c) in enumerate(configs)}  # tables follow the grid's order
        fold_order = {f.name: i for i, f in enumerate(folds)}
        records = sorted((r for r in store.records() if r.config_id in order and r.fold in fold_order
                          and r.repeat < repeats), key=lambda r: (order[r.config_id], fold_order[r.fold], r.repeat))
        result = StudyResult(spec, folder, records, folds)
        write_study_outputs(result, dataset, configs, store)
    return result


def _copy_trials(store: ResultStore, study: str, configs: list[tuple[str, Config]], seeds: dict[str, list[int]],
                 done: set[tuple[str, str, int]], folders: Iterable[str | Path]) -> int:
    labels = {config.config_id: label for label, config in configs}
    identity = store.get_meta("identity")
    copied = 0
    for folder in folders:
        if Path(folder).resolve() == store.folder.resolve() or not (Path(folder) / DB_NAME).is_file():
            continue
        other = ResultStore(folder)
        if not same_trials(other.get_meta("identity"), identity):
            continue  # other data, protocol or seed: nothing there is the same trial
        for record in other.records():
            key = (record.config_id, record.fold, record.repeat)
            fold_seeds_ = seeds.get(record.fold, [])
            if record.config_id in labels and record.repeat < len(fold_seeds_) and key not in done \
                    and record.seed == fold_seeds_[record.repeat]:
                source = probability_path(folder, record.config_id, record.fold, record.repeat)
                if source.is_file():  # its test probabilities first, as for a trained trial
                    atomic_write_bytes(probability_path(store.folder, record.config_id, record.fold, record.repeat),
                                       source.read_bytes())
                store.add(dataclasses.replace(record, study=study, label=labels[record.config_id]))
                done.add(key)
                copied += 1
    return copied


def write_study_outputs(result: StudyResult, dataset: Dataset, configs: list[tuple[str, Config]],
                        store: ResultStore) -> None:
    """Tables, figures and the HTML report of a finished study."""
    spec, folder, records = result.spec, result.folder, result.records
    labels = [label for label, _ in configs]
    by_label = {label: [r for r in records if r.label == label] for label in labels}
    by_label = {k: v for k, v in by_label.items() if v}
    summary = summary_table(records, spec.baseline)
    ensembles = ensemble_scores(folder, records, dataset, result.folds)
    for row in summary:
        row.update(ensembles.get(row["label"], {}))
    write_rows_csv(folder / "summary.csv", summary, (*SUMMARY_COLUMNS, *ENSEMBLE_COLUMNS))
    write_rows_csv(folder / "comparison.csv", comparison_table(records, spec.baseline), COMPARISON_COLUMNS)
    store.export_csv(folder / "results.csv")
    write_json(folder / "per_class.json", {label: mean_per_class(rs) for label, rs in by_label.items()})
    write_json(folder / "per_subject.json", {label: mean_per_subject(rs) for label, rs in by_label.items()})

    n_folds = len(result.folds)
    over = f"{n_folds} folds x repeats" if n_folds > 1 else "repeats"
    plots.boxplot_scores({label: [r.test_accuracy for r in rs] for label, rs in by_label.items()},
                         folder / "boxplot.png", title=f"Study '{spec.name}': test accuracy per configuration "
                                                       f"({over}; {dataset.name})")
    training = dataset.subset(result.folds[0].train) if result.folds else dataset
    overlap = dataset.spec.overlap
    plots.histograms(training.X, dataset.channel_names, folder / "histograms.png", overlap=overlap,
                     title="Training data, overlap removed: distribution of each variable")
    if any(c.standardize for _, c in configs):
        plots.histograms(Standardizer(overlap).fit_transform(training.X), dataset.channel_names,
                         folder / "histograms_standardized.png", overlap=overlap,
                         title="Training data, overlap removed, standardized")
    for model_name in dict.fromkeys(c.model for _, c in configs):
        config = next(c for _, c in configs if c.model == model_name)
        model = create_model(model_name, **dataset.spec.model_inputs(), **config.model_params)
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
                                   title=f"Confusion ({suffix}), {label}, summed over {len(by_label[label])} trials",
                                   normalize=normalize)
    write_json(folder / "study.json", {
        "name": spec.name, "description": spec.description, "baseline": spec.baseline,
        "grid": {label: c.to_flat() for label, c in configs}, "settings": spec.settings,
        "repeats": max((len({r.repeat for r in rs}) for rs in by_label.values()), default=0),
        "protocol": store.get_meta("identity", {}).get("protocol"),
        "folds": [{"name": f.name, "test_subjects": list(f.test_subjects)} for f in result.folds],
        "data": dataset.identity(), "summary": result.summary_lines(),
    })
    render_report(folder)


ENSEMBLE_COLUMNS = ("ensemble_n", "ensemble_accuracy", "ensemble_macro_f1")


def ensemble_scores(folder: Path, records: list[Trial], dataset: Dataset,
                    folds: list[Fold]) -> dict[str, dict[str, Any]]:
    """Per label: the accuracy and macro-F1 of its repeats' averaged test probabilities (per fold, then
    every fold's test windows pooled). ``ensemble_n`` counts the repeats whose probabilities were saved
    on every fold; labels without saved probabilities are left out."""
    out: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r.label for r in records):
        rows = [r for r in records if r.label == label]
        counts = []

        def saved(fold: Fold, rows: list[Trial] = rows, counts: list[int] = counts) -> np.ndarray | None:
            found, probas = load_probabilities(folder, rows[0].config_id, fold.name,
                                               sorted(r.repeat for r in rows if r.fold == fold.name))
            counts.append(len(found))
            return probas

        means = fold_ensembles(folds, saved)
        if means:
            accuracy_, f1 = pooled_scores(means, [dataset.y[fold.test] for fold in folds], len(dataset.class_names))
            out[label] = {"ensemble_n": min(counts), "ensemble_accuracy": accuracy_, "ensemble_macro_f1": f1}
    return out
