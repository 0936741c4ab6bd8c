"""``harcnn tune``: a hyper-parameter search with Optuna, chosen on training subjects only.

* **Objective**: the validation accuracy by subject, never the test split. The outer protocol has one
  test split (``official``, ``holdout:N``); its training windows are cut into inner folds by subject
  (``--inner-cv subjects:3``: every training subject is validated on once), or ``N`` training subjects
  are held out (``--validation-subjects N``, the subjects ``harcnn evaluate`` holds out). A trial is
  one configuration, trained on every inner fold (``repeats`` networks each) and scored on the fold's
  held-out subjects; its value is the mean over folds and repeats.
* **Trials and the store**: each inner fold of a trial is one job for the executor (local processes,
  Ray); up to ``parallel`` trials are in flight (Optuna ask/tell). The driver alone writes: every
  finished job into ``results.sqlite`` (one row per configuration, fold and repeat, as a study's),
  every finished trial into Optuna's ``optuna.sqlite``. The seeds depend on the fold and repeat only
  (common random numbers, as in a study), so a configuration gives the same networks whenever it is
  tried: a configuration suggested again reuses its stored folds instead of training them twice.
* **Pruning**: after ``warmup`` epochs, a fold's training stops when its validation accuracy falls below
  the median of the completed trials' on that fold at that epoch (:mod:`.pruning`); one pruned fold
  prunes the trial (its other folds are cancelled), and the epoch is recorded.
* **Resume**: the folder's lock says no other run is live, so a trial still RUNNING in Optuna's storage
  was cut short by a killed run: it is marked FAIL and its parameters queued again (``rerun_of``); its
  folds already stored are reused, the others trained. Finished trials are never run again, and
  ``trials`` counts the finished (complete or pruned) ones. The sampler (TPE, its first third of the
  trials random) is seeded from ``seed`` and the number of trials stored, so a resumed search does not
  replay its first suggestions.
* **Final test**: the best configuration is trained again ``final_repeats`` times with fresh seeds on
  all outer training windows and tested once on the outer test split (a study in ``final/``, with its
  own report). ``tune.json``, ``trials.csv``, the figures and ``report.html`` hold the rest.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harcnn.core.errors import HarcnnError
from harcnn.core.outputs import OutputKind, check_output
from harcnn.core.progress import ProgressBar
from harcnn.core.seeding import fold_seeds
from harcnn.data.dataset import Dataset
from harcnn.data.splits import Fold, Protocol, subject_holdout
from harcnn.experiments.execution import make_executor
from harcnn.experiments.executors import Executor, JobQueue
from harcnn.experiments.pruning import MedianPruning, median_thresholds
from harcnn.experiments.space import SearchSpace
from harcnn.experiments.store import STUDY_FOLDER, ResultStore, sqlite_schema
from harcnn.experiments.trials import Trial, TrialJob
from harcnn.models.config import Config

OPTUNA_DB = "optuna.sqlite"
STUDY_NAME = "harcnn"


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise HarcnnError("harcnn tune needs Optuna: pip install 'harcnn[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


@dataclass(frozen=True)
class Pruning:
    """The median rule: from epoch ``warmup`` on, once ``startup`` trials have completed."""

    enabled: bool = True
    warmup: int = 5
    startup: int = 5

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.startup < 1:
            raise HarcnnError(f"pruning needs a warm-up >= 0 epochs and >= 1 start-up trials, got {self.warmup} "
                              f"and {self.startup}")


@dataclass
class TuneResult:
    folder: Path
    best: dict[str, Any] | None  # number, value, params, config, folds
    final: dict[str, Any] | None  # the final test, when it ran
    counts: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ folds


def outer_fold(dataset: Dataset, protocol: Protocol) -> Fold:
    """The one train/test split of the outer protocol."""
    folds = protocol.folds(dataset.subject, dataset.split)
    if len(folds) != 1:
        raise HarcnnError(f"harcnn tune tests once, on one test split: use --cv official or --cv holdout:N, not "
                          f"--cv {protocol}")
    return folds[0]


def inner_folds(dataset: Dataset, outer: Fold, inner: str | None, validation_subjects: int) -> tuple[str, list[Fold]]:
    """The objective's folds (a description, and folds of whole subjects within the outer training windows)."""
    subjects = dataset.subject[outer.train]
    if validation_subjects:
        if inner is not None:
            raise HarcnnError("give --inner-cv or --validation-subjects, not both")
        keep, held = subject_holdout(subjects, validation_subjects)
        return f"{validation_subjects} validation subjects", [_within(outer, "validation", keep, held, subjects)]
    text = inner or "subjects:3"
    try:
        protocol = Protocol.parse(text)
    except HarcnnError:
        protocol = Protocol("official")  # refused just below, with the words for an inner protocol
    if protocol.kind == "official":
        raise HarcnnError(f"--inner-cv {text!r} is not an inner protocol: use subjects:K (K folds of the training "
                          "subjects), loso or holdout:N, or --validation-subjects N")
    folds = protocol.folds(subjects)
    return f"--inner-cv {protocol}", [
        _within(outer, f"inner{i + 1}" if protocol.kind == "subjects" else f.name, f.train, f.test, subjects)
        for i, f in enumerate(folds)]


def _within(outer: Fold, name: str, train: np.ndarray, test: np.ndarray, subjects: np.ndarray) -> Fold:
    """A fold of the outer training windows (``train``/``test``: masks or indices into them)."""
    return Fold(name, outer.train[train], outer.train[test], tuple(str(s) for s in np.unique(subjects[test])))


# ------------------------------------------------------------------------------------------ the search


@dataclass
class _Running:
    """An Optuna trial in flight: its configuration, jobs not back yet, and results by fold."""

    trial: Any
    config: Config
    started: float
    jobs: list[TrialJob] = field(default_factory=list)
    results: dict[str, list[Trial]] = field(default_factory=dict)
    pruned: tuple[str, int] | None = None  # (fold, epochs trained)
    reused: int = 0  # folds taken from the store
    trained: float = 0.0  # networks trained for it in this run


def pruned_epochs(records: list[Trial], config: Config) -> int | None:
    """Epochs trained when a fold was pruned (searches never stop early otherwise), else None."""
    epochs = min(r.epochs for r in records)
    return epochs if epochs < config.epochs else None


class _Search:
    def __init__(self, study, space: SearchSpace, store: ResultStore, folds: list[Fold], *, repeats: int, seed: int,
                 pruning: Pruning, parallel: int, trials: int, bar: ProgressBar):
        optuna = import_optuna()
        self.states = optuna.trial.TrialState
        self.study, self.space, self.store, self.folds, self.repeats = study, space, store, folds, repeats
        self.pruning, self.parallel, self.trials, self.bar = pruning, parallel, trials, bar
        self.seeds = {f.name: fold_seeds(seed, repeats, i, len(folds)) for i, f in enumerate(folds)}
        self.curves: dict[str, list[list[float]]] = {f.name: [] for f in folds}
        for trial in study.get_trials(deepcopy=False, states=(self.states.COMPLETE,)):
            for fold, curve in trial.user_attrs.get("curves", {}).items():
                self.curves.setdefault(fold, []).append(curve)
        self.finished = len(study.get_trials(deepcopy=False, states=(self.states.COMPLETE, self.states.PRUNED)))
        self.running: dict[int, _Running] = {}
        self.owner: dict[int, _Running] = {}  # id(job) -> its trial
        self.counted = 0.0  # networks trained for the trials finished in this run
        self.best = _best(study)

    def run(self, queue: JobQueue) -> None:
        while True:
            while len(self.running) < self.parallel and self.finished + len(self.running) < self.trials:
                self.start(self.study.ask(), queue)
            if not self.running:
                return
            for job, trials in queue.completed(timeout=0.5):
                self.collect(job, trials, queue)

    def progress(self, networks: float) -> None:
        """The bar: finished trials, and the running ones' share of their networks trained."""
        per_trial = len(self.folds) * self.repeats
        running = min(0.99 * len(self.running), max(0.0, networks - self.counted) / per_trial)
        self.bar.update_to(self.finished + running)

    def start(self, trial, queue: JobQueue) -> None:
        try:
            config = self.space.sample(trial)
        except HarcnnError:
            self.study.tell(trial, state=self.states.FAIL)
            raise
        trial.set_user_attr("config_id", config.config_id)
        trial.set_user_attr("config", config.to_flat())
        running = _Running(trial, config, time.perf_counter())
        stored: dict[str, list[Trial]] = {}
        for record in self.store.records(config.config_id):
            if record.repeat < self.repeats:
                stored.setdefault(record.fold, []).append(record)
        for fold in self.folds:
            have = sorted(stored.get(fold.name, []), key=lambda r: r.repeat)
            if len(have) == self.repeats:
                running.results[fold.name], running.reused = have, running.reused + 1
                if running.pruned is None and (epochs := pruned_epochs(have, config)) is not None:
                    running.pruned = (fold.name, epochs)
        if running.pruned is None:
            for fold in self.folds:
                if fold.name not in running.results:
                    job = self._job(trial.number, config, fold)
                    running.jobs.append(job)
                    self.owner[id(job)] = running
                    queue.submit(job)
        if running.jobs:
            self.running[trial.number] = running
        else:
            self.finish(running)

    def _job(self, number: int, config: Config, fold: Fold) -> TrialJob:
        curves = self.curves.get(fold.name, [])
        callbacks = ()
        if self.pruning.enabled and len(curves) >= self.pruning.startup:
            callbacks = (MedianPruning(median_thresholds(curves, self.pruning.startup), self.pruning.warmup),)
        seeds = self.seeds[fold.name]
        return TrialJob(config, f"trial {number}", fold, tuple(range(self.repeats)), tuple(seeds),
                        validate_on_test=True, callbacks=callbacks)

    def collect(self, job: TrialJob, trials: list[Trial], queue: JobQueue) -> None:
        for trial in trials:  # every finished job is kept, also one of a trial already pruned
            self.store.add(dataclasses.replace(trial, study="tune", test_proba=None))
        running = self.owner.pop(id(job), None)
        if running is None:
            return
        running.jobs = [j for j in running.jobs if j is not job]
        running.results[job.fold.name] = trials
        running.trained += job.size
        epochs = pruned_epochs(trials, running.config)
        if epochs is not None and running.pruned is None:
            running.pruned = (job.fold.name, epochs)
            for other in running.jobs:  # not needed any more: dropped, or left to finish for the store
                queue.cancel(other)
                self.owner.pop(id(other), None)
            running.jobs = []
        if not running.jobs:
            self.finish(running)

    def finish(self, running: _Running) -> None:
        trial, config = running.trial, running.config
        self.running.pop(trial.number, None)
        scores = {fold: float(np.mean([r.val_accuracy for r in rs])) for fold, rs in running.results.items()}
        curves = {fold: _mean_curve(rs) for fold, rs in running.results.items()}
        for epoch in range(max(map(len, curves.values()), default=0)):
            values = [c[epoch] for c in curves.values() if len(c) > epoch]
            trial.report(float(np.mean(values)), epoch)
        trial.set_user_attr("folds", scores)
        trial.set_user_attr("curves", curves)
        if running.reused:
            trial.set_user_attr("reused_folds", running.reused)
        seconds = time.perf_counter() - running.started
        if running.pruned is not None:
            fold, epochs = running.pruned
            trial.set_user_attr("pruned_fold", fold)
            trial.set_user_attr("pruned_epoch", epochs)
            self.study.tell(trial, state=self.states.PRUNED)
            outcome = f"pruned at epoch {epochs} of {config.epochs} on {fold} (validation {100 * scores[fold]:.2f}%)"
        else:
            value = float(np.mean(list(scores.values())))
            self.study.tell(trial, value)
            for fold, curve in curves.items():
                self.curves.setdefault(fold, []).append(curve)
            if self.best is None or value > self.best[1]:
                self.best = (trial.number, value)
            per_fold = ", ".join(f"{k} {100 * v:.1f}" for k, v in scores.items()) if len(scores) > 1 else ""
            outcome = f"{100 * value:.2f}%" + (f"  ({per_fold})" if per_fold else "")
        self.finished += 1
        self.counted += running.trained
        reused = "  (stored folds reused)" if running.reused else ""
        best = f"best {100 * self.best[1]:.2f}% (trial {self.best[0]})" if self.best else "no trial complete yet"
        self.bar.write(f"trial {trial.number:>3} [{self.finished}/{self.trials}]: {outcome}  "
                       f"{show_params(trial.params)}  [{seconds:.0f} s; {best}]{reused}")
        self.bar.update_to(self.finished)


def _mean_curve(records: list[Trial]) -> list[float]:
    """The validation accuracy per epoch, mean over the repeats (as far as all of them trained)."""
    curves = [r.history.get("val_accuracy", []) for r in records]
    length = min(map(len, curves), default=0)
    return [float(np.mean([c[e] for c in curves])) for e in range(length)]


def _best(study) -> tuple[int, float] | None:
    complete = [t for t in study.get_trials(deepcopy=False) if t.value is not None and t.state.name == "COMPLETE"]
    if not complete:
        return None
    best = max(complete, key=lambda t: (t.value, -t.number))
    return best.number, float(best.value)


def show_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def recover_interrupted(study, log: Callable[[str], None]) -> list[int]:
    """Trials RUNNING in the storage were cut short by a killed run (the folder lock says none is live):
    each is marked FAIL and its parameters queued again."""
    optuna = import_optuna()
    numbers = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs={"rerun_of": trial.number})
        numbers.append(trial.number)
    if numbers:
        log(f"trials {', '.join(map(str, numbers))} were running when the last run stopped: marked failed, and "
            "their settings queued again (their folds already trained are reused)")
    return numbers


def startup_trials(trials: int) -> int:
    """TPE's random start-up trials: a third of the search, 2 to 10."""
    return max(2, min(10, trials // 3))


def open_study(folder: Path, seed: int, trials: int):
    """Optuna's study in ``FOLDER/optuna.sqlite`` (created on first use), with a TPE sampler seeded from
    ``seed`` and the number of trials already there."""
    optuna = import_optuna()
    storage = optuna.storages.RDBStorage(f"sqlite:///{(folder / OPTUNA_DB).resolve()}",
                                         engine_kwargs={"connect_args": {"timeout": 30}})
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise HarcnnError(f"{folder / OPTUNA_DB} holds a study that minimises: choose another --out folder")
    stream = int(np.random.SeedSequence([seed, len(study.trials)]).generate_state(1)[0])
    sampler = optuna.samplers.TPESampler(seed=stream, multivariate=True, group=True, constant_liar=True,
                                         n_startup_trials=startup_trials(trials))
    return optuna.load_study(storage=storage, study_name=STUDY_NAME, sampler=sampler,
                             pruner=optuna.pruners.NopPruner())


def final_seed(seed: int) -> int:
    """The final repeats' base seed: fresh, apart from every seed the search used."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def _is_search_folder(path: Path) -> bool:
    """A folder of harcnn's results (its results.sqlite), or of an Optuna study storage (``optuna.sqlite``, where
    trials may be queued before the first run)."""
    optuna_db = sqlite_schema(path / OPTUNA_DB)
    return STUDY_FOLDER.recognise(path) or (optuna_db is not None and {"studies", "trials"} <= optuna_db[1])


#: ``harcnn tune``'s folder: continued where it stopped.
SEARCH_FOLDER = OutputKind("search folder", folder=True, recognise=_is_search_folder, resumable=True)


def run_tune(dataset: Dataset, space: SearchSpace, folder: str | Path, *, protocol: Protocol | str = "official",
             inner: str | None = None, validation_subjects: int = 0, trials: int = 40, parallel: int | None = None,
             repeats: int = 1, seed: int = 0, pruning: Pruning = Pruning(), final_repeats: int = 10,
             executor: Executor | None = None, progress: bool = True, command: str = "",
             log: Callable[[str], None] = print) -> TuneResult:
    """Search ``space`` for ``trials`` finished trials in ``folder`` (resuming what is there), then train
    the best configuration ``final_repeats`` times and test it once on the outer test split."""
    from harcnn.reports.tune import write_tune_outputs

    if trials < 1 or repeats < 1 or final_repeats < 0:
        raise HarcnnError("a search needs trials >= 1, repeats >= 1 and final repeats >= 0")
    import_optuna()
    folder = Path(folder)
    protocol = protocol if isinstance(protocol, Protocol) else Protocol.parse(protocol)
    outer = outer_fold(dataset, protocol)
    objective, folds = inner_folds(dataset, outer, inner, validation_subjects)
    space.check(dataset.spec)
    executor = executor or make_executor()
    parallel = parallel or executor.workers
    store = ResultStore(check_output(folder, SEARCH_FOLDER))
    with store.lock():
        identity = {"data": dataset.identity(), "protocol": str(protocol), "objective": objective,
                    "folds": {f.name: list(f.test_subjects) for f in folds}, "space": space.to_dict(),
                    "repeats": repeats, "seed": seed}
        _check_identity(store, identity)
        store.set_meta("tune", identity)
        study = open_study(folder, seed, trials)
        rerun = recover_interrupted(study, log)
        held = "; ".join(f"{f.name}: subjects {', '.join(f.test_subjects)}" for f in folds)
        log(f"Search in {folder}: {trials} trial{'s' * (trials != 1)}, up to {parallel} at a time; objective: the "
            f"mean validation accuracy over {objective} ({held})")
        search_started = time.perf_counter()
        with ProgressBar(trials, "search", "trial", initial=0, enabled=progress) as bar:
            search = _Search(study, space, store, folds, repeats=repeats, seed=seed, pruning=pruning,
                             parallel=parallel, trials=trials, bar=bar)
            if search.finished:
                log(f"resuming: {search.finished} of {trials} trials finished")
            bar.update_to(search.finished)
            if search.finished < trials:
                with executor.open(dataset, on_progress=search.progress) as queue:
                    search.run(queue)
        search_seconds = time.perf_counter() - search_started
        best = best_trial(study)
        final = None
        if best is not None and final_repeats:
            config = Config.from_flat(best["config"])
            log(f"Best: trial {best['number']}, {100 * best['value']:.2f}% validation accuracy; training it "
                f"{final_repeats} times with fresh seeds and testing once on the {outer.name} test split")
            final = final_test(dataset, config, folder, protocol, final_repeats, seed, executor, progress, log)
        summary = {"command": command, "protocol": str(protocol), "test_subjects": list(outer.test_subjects),
                   "objective": objective, "folds": [_fold_info(f) for f in folds], "repeats": repeats,
                   "seed": seed, "trials_wanted": trials, "parallel": parallel, "space": space.to_dict(),
                   "space_lines": space.describe(), "pruning": dataclasses.asdict(pruning),
                   "sampler": f"TPE (multivariate, grouped, constant liar), {startup_trials(trials)} random start-up "
                              "trials",
                   "data": dataset.identity(), "rerun_after_kill": rerun, "best": best, "final": final,
                   "search_seconds_this_run": search_seconds}
        counts = write_tune_outputs(folder, study, summary)
    return TuneResult(folder, best, final, counts)


def _check_identity(store: ResultStore, identity: dict[str, Any]) -> None:
    previous = store.get_meta("tune")
    if previous is None:
        return
    import json

    for key, words in (("data", "other data"), ("protocol", "another --cv"), ("objective", "another objective"),
                       ("folds", "other inner folds"), ("space", "another space or fixed settings"),
                       ("repeats", "another --repeats"), ("seed", "another --seed")):
        old, new = previous.get(key), json.loads(json.dumps(identity[key]))
        if key == "data":
            old, new = (old or {}).get("fingerprint"), new.get("fingerprint")
        if old != new:
            raise HarcnnError(f"{store.folder} holds a search with {words} ({key} was {old}, is {new}): run it with "
                              "the same options to resume, or choose another --out folder")


def _fold_info(fold: Fold) -> dict[str, Any]:
    return {"name": fold.name, "validation_subjects": list(fold.test_subjects), "train_windows": len(fold.train),
            "validation_windows": len(fold.test)}


def best_trial(study) -> dict[str, Any] | None:
    found = _best(study)
    if found is None:
        return None
    trial = study.trials[found[0]]
    return {"number": trial.number, "value": float(trial.value), "params": dict(trial.params),
            "config": trial.user_attrs["config"], "config_id": trial.user_attrs["config_id"],
            "folds": trial.user_attrs.get("folds", {})}


def final_test(dataset: Dataset, config: Config, folder: Path, protocol: Protocol, repeats: int, seed: int,
               executor: Executor, progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """The best configuration, ``repeats`` fresh trainings on the outer training windows, tested once."""
    from harcnn.experiments.study import StudySpec, ensemble_scores, run_study

    spec = StudySpec("final", "The best settings of the search, trained again with fresh seeds on every outer "
                              "training window and tested once on the outer test split.",
                     (("best", config.to_flat()),), "best")
    result = run_study(dataset, spec, folder / "final", protocol=protocol, repeats=repeats, seed=final_seed(seed),
                       executor=executor, progress=progress, log=log)
    scores = [r.test_accuracy for r in result.records]
    ensemble = ensemble_scores(result.folder, result.records, dataset, result.folds).get("best", {})
    return {"folder": "final", "repeats": len(scores), "seed": final_seed(seed), "config_id": config.config_id,
            "scores": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores)),
            "ensemble_accuracy": ensemble.get("ensemble_accuracy"),
            "ensemble_macro_f1": ensemble.get("ensemble_macro_f1"),
            "mean_train_seconds": float(np.mean([r.train_seconds for r in result.records]))}
