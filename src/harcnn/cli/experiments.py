"""``harcnn evaluate``, ``study``, ``report``, ``leaderboard`` and ``features``."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from harcnn.cli.options import (
    add_data_options,
    add_execution_options,
    add_settings_options,
    check_output_of,
    config_from_args,
    executor_of,
    frame_lines,
    given_settings,
    load_data,
    positive_int,
    protocol_of,
    settings_from_args,
)
from harcnn.core.errors import HarcnnError

STUDIES = ("standardize", "filters", "kernels", "heads", "all", "custom")

TUNE_HELP = """\
A hyper-parameter search with Optuna (pip install 'harcnn[tune]'), chosen on training subjects only.

The space (--space FILE, TOML or YAML; benchmarks/spaces/uci_har.toml is one):

    [settings]                      # fixed in every trial, for each candidate model that has the setting
    standardize = true

    [space]
    model = ["cnn", "hybrid"]                               # a choice of models (default cnn)
    learning_rate = {low = 1e-4, high = 1e-2, log = true}   # a range (log-uniform)
    epochs = {low = 10, high = 30, step = 5}                # integers, since epochs is an integer
    lr_schedule = ["constant", "cosine"]                    # a choice
    dropout = {low = 0.1, high = 0.6}                       # for every candidate model that has it

    [space.hybrid]                                          # only when model = hybrid
    blocks = {low = 2, high = 4}
    filters = [16, 32]

Every value is checked by the settings schema, and every model is built at the ends of its ranges,
before any training. --config FILE ([settings]) and the setting options fix settings, searched or
not (--epochs 5 for a quick look); validation_subjects and early_stopping are not searched.

Objective: the mean validation accuracy over folds of the training subjects of the outer split
(--cv official, or holdout:N): --inner-cv subjects:3 (default), loso or holdout:N, or N held-out
training subjects (--validation-subjects N). Never a test score: the test split is used once, at
the end, when the best settings are trained --final-repeats times with fresh seeds and tested.

Pruning (--prune median): after --prune-warmup epochs, a trial whose validation accuracy on a fold
falls below the median of the completed trials' at that epoch stops there (the epoch is recorded).

Resumable: the same command again continues the search (a trial a killed run left unfinished is
marked failed and run again, its finished folds reused; finished trials are never repeated). In
--out: optuna.sqlite, results.sqlite, trials.csv, history.png, importances.png, intermediate.png,
tune.json, report.html and final/ (the test run, with its own report).
"""


def add_commands(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="repeated evaluation of one configuration (the reference "
                                                    "experiment by default), on the official split or by subject")
    evaluate.add_argument("--repeats", type=positive_int, default=10, help="independent trainings (default 10)")
    evaluate.add_argument("--out", type=Path, default=None,
                          help="results folder (default runs/evaluate-<model>-<time>)")
    evaluate.add_argument("--force", action="store_true", help="replace a results folder harcnn wrote there before "
                                                               "(never anything else)")
    add_data_options(evaluate)
    add_settings_options(evaluate)
    add_execution_options(evaluate)
    evaluate.set_defaults(run=_evaluate)

    study = commands.add_parser("study", help="tuning studies: a grid of configurations x repeats, resumable")
    study.add_argument("name", choices=STUDIES, help="a reference study, all four, or a custom grid (--grid, or a "
                                                     "[grid] table in --config)")
    study.add_argument("--grid", nargs="+", metavar="KEY=V1,V2", default=[],
                       help="custom grid: all combinations, e.g. --grid filters=32,128 kernel_size=5,7 (list "
                            "settings take lists separated by ';': \"kernel_sizes=3,5;3,5,7\")")
    study.add_argument("--repeats", type=positive_int, default=10, help="repeats per configuration (default 10)")
    study.add_argument("--out", type=Path, default=Path("runs/studies"),
                       help="parent folder of study folders (default runs/studies); running again resumes")
    study.add_argument("--select", choices=["val"], default=None,
                       help="val: after the study, choose the configuration with the best mean validation accuracy "
                            "(needs --validation-subjects) and report its test accuracy")
    add_data_options(study)
    add_settings_options(study, model=False)
    add_execution_options(study)
    study.set_defaults(run=_study)

    report = commands.add_parser("report", help="render a study or search folder as one self-contained HTML page")
    report.add_argument("folder", type=Path, help="a study folder (with results.sqlite), or a 'harcnn tune' folder")
    report.set_defaults(run=_report)

    board = commands.add_parser(
        "leaderboard", help="several models x R repeats (resumable): accuracy, F1, ensembles, parameters, training "
                            "time and latency as one table (CSV, Markdown, HTML report)")
    board.add_argument("--models", default=None, metavar="M1,M2",
                       help="comma-separated registered models (default: all registered)")
    board.add_argument("--repeats", type=positive_int, default=10, help="repeats per model (default 10)")
    board.add_argument("--model-set", metavar="MODEL:KEY=VALUE", action="append", default=[],
                       help="a setting for one model, e.g. --model-set resnet1d:width=1.0 (repeatable); the setting "
                            "options reach every model that has them")
    board.add_argument("--ensemble-of", metavar="M1,M2", action="append", default=None,
                       help="an extra row: the repeats of these models averaged together ('all' for every model; "
                            "default: all, when there are several models; 'none' for no such row)")
    board.add_argument("--baselines", default=None, metavar="CLASSIFIERS",
                       help="add feature-baseline rows: linear_svm, logreg or both ('all'), comma-separated")
    board.add_argument("--feature-set", choices=["raw", "engineered"], default="raw",
                       help="the feature baselines' features (default raw: computed from the windows)")
    board.add_argument("--tuning-note", default="", metavar="TEXT",
                       help="how the settings were chosen, stated in the protocol")
    board.add_argument("--no-latency", action="store_true", help="skip the latency measurements")
    board.add_argument("--out", type=Path, default=Path("runs/leaderboard"),
                       help="the leaderboard's folder (default runs/leaderboard); running again resumes")
    add_data_options(board)
    add_settings_options(board, model=False)
    add_execution_options(board)
    board.set_defaults(run=_leaderboard)

    tune = commands.add_parser("tune", help="hyper-parameter search with Optuna on validation subjects, resumable, "
                                            "pruned, parallel; then one test of the best settings",
                               description=TUNE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_argument("--space", type=Path, required=True, metavar="FILE",
                      help="the search space: a TOML or YAML file with [space] (and [settings]) tables, see above")
    tune.add_argument("--trials", type=positive_int, default=40,
                      help="finished (complete or pruned) trials to reach (default 40); more resumes a search further")
    tune.add_argument("--parallel", type=positive_int, default=None,
                      help="trials in flight at once (default: the jobs the executor runs at once)")
    tune.add_argument("--inner-cv", default=None, metavar="PROTOCOL",
                      help="the objective's folds of the training subjects: subjects:K (default subjects:3), loso or "
                           "holdout:N; or --validation-subjects N instead")
    tune.add_argument("--repeats", type=positive_int, default=1, help="networks per inner fold and trial (default 1)")
    tune.add_argument("--prune", choices=["median", "none"], default="median",
                      help="median: stop a trial whose validation accuracy falls below the median of the completed "
                           "trials at the same epoch on the same fold (default); none: train every trial fully")
    tune.add_argument("--prune-warmup", type=int, default=5, metavar="EPOCHS",
                      help="epochs every trial trains before it can be pruned (default 5)")
    tune.add_argument("--prune-startup", type=positive_int, default=5, metavar="N",
                      help="completed trials before pruning starts (default 5)")
    tune.add_argument("--final-repeats", type=int, default=10, metavar="N",
                      help="trainings of the best settings with fresh seeds, tested once on the test split "
                           "(default 10; 0: no test)")
    tune.add_argument("--out", type=Path, default=Path("runs/tune"),
                      help="the search's folder (default runs/tune); running the same command again resumes")
    add_data_options(tune)
    add_settings_options(tune)
    add_execution_options(tune, batching=False)
    tune.set_defaults(run=_tune)

    features = commands.add_parser("features", help="feature baselines: a linear classifier on hand-made features, "
                                                    "by the same protocols as the networks")
    features.add_argument("--classifier", choices=["linear_svm", "logreg", "all"], default="linear_svm",
                          help="linear SVM, logistic regression, or both (default linear_svm)")
    features.add_argument("--feature-set", choices=["raw", "engineered"], default="raw",
                          help="raw: statistics computed from the windows; engineered: the dataset's own feature "
                               "vectors (UCI HAR's 561, where X_train.txt and X_test.txt exist) (default raw)")
    features.add_argument("--out", type=Path, default=None, metavar="FILE.json", help="also write the results as JSON")
    features.add_argument("--force", action="store_true", help="replace a results file harcnn wrote there before "
                                                               "(never anything else)")
    add_data_options(features)
    features.set_defaults(run=_features)


def _evaluate(args: argparse.Namespace) -> int:
    from harcnn.core.progress import ProgressBar
    from harcnn.experiments import evaluate
    from harcnn.experiments.evaluate import RESULTS_FOLDER

    config = config_from_args(args)
    out = args.out or Path("runs") / f"evaluate-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_output_of(args, out, RESULTS_FOLDER, "--out")
    dataset = load_data(args, progress=not args.quiet, init=config.init)
    protocol = protocol_of(args, dataset)
    folds = protocol.folds(dataset.subject, dataset.split)
    print(f"Evaluating {config.model} ({config.describe()})")
    print(f"on {dataset.name} data ({dataset.source}, fingerprint {dataset.fingerprint}), --cv {protocol}: "
          f"{len(folds)} fold{'s' if len(folds) > 1 else ''} x {args.repeats} repeats")
    for line in frame_lines(dataset):
        print(line)
    for fold in folds:
        print(f"  {fold.name}: {len(fold.train)} training / {len(fold.test)} test windows (test subjects "
              f"{', '.join(fold.test_subjects)})")
    if config.validation_subjects:
        from harcnn.data.splits import subject_holdout

        train = dataset.subject[folds[0].train]
        _, held = subject_holdout(train, config.validation_subjects)
        print(f"  validation: {config.validation_subjects} training subjects held out "
              f"({', '.join(map(str, sorted(set(train[held].tolist()))))} in the first fold)")
    total = args.repeats * len(folds)
    with ProgressBar(total, "trials", "model", enabled=not args.quiet) as bar:
        def report(trial) -> None:
            where = f"{trial.fold}, " if len(folds) > 1 else ""
            bar.write(f"{where}repeat {trial.repeat + 1:>2}/{args.repeats}: {100 * trial.test_accuracy:.3f}%  "
                      f"(seed {trial.seed}, {trial.epochs} epochs in {trial.train_seconds:.1f} s)")

        with executor_of(args) as executor:
            result = evaluate(dataset, config, protocol=protocol, repeats=args.repeats, seed=args.seed,
                              models_per_batch=args.models_per_batch, executor=executor, on_trial=report,
                              on_progress=bar.update_to)
    result.save(out, overwrite=args.force)
    wall = result.wall_seconds
    print(f"Trained and tested {total} models in {wall:.1f} s ({wall / total:.1f} s per model, wall clock)")
    print(result.summary_line())
    if len(folds) > 1:
        print("\n".join(result.fold_lines()))
    print(result.ensemble_line())
    print(f"Results saved to {out}")
    return 0


def _grid_values(name: str, text: str) -> list[str]:
    """A grid's values for one setting: comma-separated, or for a list-valued setting (kernel_sizes)
    semicolon-separated lists (``kernel_sizes=3,5;3,5,7``: two configurations)."""
    from harcnn.cli.options import setting_table
    from harcnn.core.settings import Ints, canonical_name

    owners = setting_table().get(canonical_name(name), [])
    listed = any(isinstance(setting.kind, Ints) for _, setting in owners)
    return [v for v in text.split(";" if listed else ",") if v.strip()]


def _study(args: argparse.Namespace) -> int:
    from harcnn.core.settings import canonical_name, parse_assignments
    from harcnn.experiments.store import STUDY_FOLDER
    from harcnn.experiments.study import BUILTIN_STUDIES, grid_study, load_study_file, run_study
    from harcnn.models.config import read_config_file
    from harcnn.training.fit import check_plan

    if args.name == "custom":
        if args.grid:
            if args.config is not None and read_config_file(args.config)["grid"]:
                raise HarcnnError(f"--grid and the [grid] table of {args.config} both give the study's grid: use one")
            grid = {k: _grid_values(k, v) for k, v in parse_assignments(args.grid, "KEY=V1,V2").items()}
            specs = [grid_study(grid)]
        elif args.config is not None:
            specs = [load_study_file(args.config)]
        else:
            raise HarcnnError("a custom study needs --grid KEY=V1,V2 ... or --config FILE with a [grid] table")
    elif args.grid:
        raise HarcnnError("--grid is for 'harcnn study custom'")
    else:
        specs = list(BUILTIN_STUDIES.values()) if args.name == "all" else [BUILTIN_STUDIES[args.name]]
    file_grid = args.name == "custom" and not args.grid  # the --config file's [grid] is the study's
    reading = dict(tables=("settings", "grid") if file_grid else ("settings",),
                   reader=f"harcnn study {args.name}{' --grid' if args.grid else ''} --config")
    settings = settings_from_args(args, **reading)  # the --config file's [settings] and the options
    given = {canonical_name(k) for k in given_settings(args, **reading)}  # a preset's model may be varied
    for spec in specs:  # check every configuration before training anything
        varied = sorted(given & spec.varied())
        if varied:
            raise HarcnnError(f"study {spec.name!r} varies {', '.join(varied)}: a value given as an option or in the "
                              "--config file's [settings] would be ignored; leave it out")
        configs = spec.experiment_configs(settings)
        if args.select == "val" and not all(c.validation_subjects for _, c in configs):
            raise HarcnnError("--select val chooses on validation subjects: add --validation-subjects N")
        check_output_of(args, args.out / spec.name, STUDY_FOLDER, "--out")
    dataset = load_data(args, progress=not args.quiet, init=settings.get("init"))
    protocol = protocol_of(args, dataset)
    folds = protocol.folds(dataset.subject, dataset.split)
    for spec in specs:  # and against the data, before the first study trains
        check_plan([config for _, config in spec.experiment_configs(settings)], dataset, folds)
    with executor_of(args) as executor:
        for spec in specs:
            folder = args.out / spec.name
            print(f"Study '{spec.name}': {len(spec.configs)} configurations x {args.repeats} repeats, --cv {protocol} "
                  f"-> {folder}")
            siblings = [args.out / other.name for other in specs if other is not spec]
            result = run_study(dataset, spec, folder, protocol=protocol, repeats=args.repeats, seed=args.seed,
                               settings=settings, models_per_batch=args.models_per_batch, executor=executor,
                               progress=not args.quiet, reuse=siblings)
            for line in result.summary_lines():
                print(line)
            if args.select == "val":
                _print_selection(result.records)
            print(f"Report: {folder / 'report.html'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from harcnn.core.outputs import check_output
    from harcnn.reports.html import REPORT_FILE, REPORT_NAME, render_report
    from harcnn.reports.tune import render_tune_report

    tune = (args.folder / "tune.json").is_file()
    if not tune and not (args.folder / "study.json").is_file():
        raise HarcnnError(f"{args.folder} is not a finished study or search folder (no study.json or tune.json)")
    check_output(args.folder / REPORT_NAME, REPORT_FILE, option="FOLDER", replace=True)  # its own page is redrawn
    if tune:
        print(f"Report written to {render_tune_report(args.folder)}")
        return 0
    print(f"Report written to {render_report(args.folder)}")
    return 0


def _split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _parse_model_settings(items: list[str]) -> dict[str, dict[str, str]]:
    """``["resnet1d:width=1.0"]`` -> ``{"resnet1d": {"width": "1.0"}}``."""
    from harcnn.core.settings import parse_assignments

    out: dict[str, dict[str, str]] = {}
    for item in items:
        model, sep, assignment = item.partition(":")
        if not sep or not model.strip() or "=" not in assignment:
            raise HarcnnError(f"--model-set expects MODEL:KEY=VALUE, got {item!r}")
        out.setdefault(model.strip(), {}).update(parse_assignments([assignment]))
    return out


def _leaderboard(args: argparse.Namespace) -> int:
    from harcnn.experiments.features import CLASSIFIERS
    from harcnn.experiments.leaderboard import leaderboard_spec, run_leaderboard
    from harcnn.experiments.store import STUDY_FOLDER
    from harcnn.models import list_models

    models = _split_names(args.models) if args.models is not None else list_models()
    if args.models is not None and not models:
        raise HarcnnError("--models needs at least one model name")
    settings = settings_from_args(args, model=False)  # --preset best: its recipe for every model
    model_settings = _parse_model_settings(args.model_set)
    ensembles = None
    if args.ensemble_of is not None:
        ensembles = []
        for text in args.ensemble_of:
            names = _split_names(text)
            if names != ["none"]:
                ensembles.append(models if names == ["all"] else names)
    baselines = [] if args.baselines is None else _split_names(args.baselines)
    if baselines == ["all"]:
        baselines = list(CLASSIFIERS)
    for name in baselines:
        if name not in CLASSIFIERS:
            raise HarcnnError(f"unknown classifier {name!r} in --baselines; choose from {', '.join(CLASSIFIERS)}")
    leaderboard_spec(models, settings, model_settings)  # every model and setting checked before any work
    check_output_of(args, args.out, STUDY_FOLDER, "--out")
    dataset = load_data(args, progress=not args.quiet)
    protocol = protocol_of(args, dataset)
    print(f"Leaderboard: {len(models)} models ({', '.join(models)}) x {args.repeats} repeats, --cv {protocol} "
          f"-> {args.out}")
    with executor_of(args) as executor:
        board = run_leaderboard(
            dataset, args.out, protocol=protocol, models=models, repeats=args.repeats, seed=args.seed,
            settings=settings, model_settings=model_settings, ensembles=ensembles, baselines=baselines,
            feature_set=args.feature_set, latency=not args.no_latency, tuning_note=args.tuning_note,
            command="harcnn " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["leaderboard"] else "",
            models_per_batch=args.models_per_batch, executor=executor, progress=not args.quiet)
    print()
    print(board.markdown_table())
    if board.selection is not None:
        print()
        print(board.selection.describe().replace("**", ""))
    print(f"\nSaved {args.out / 'leaderboard.csv'}, {args.out / 'leaderboard.md'} (with the protocol) and "
          f"{args.out / 'report.html'}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from harcnn.experiments.space import load_space
    from harcnn.experiments.tune import SEARCH_FOLDER, Pruning, import_optuna, run_tune, show_params

    import_optuna()
    settings = settings_from_args(args)
    space = load_space(args.space, settings)  # --config and the options win over the file
    pruning = Pruning(args.prune == "median", args.prune_warmup, args.prune_startup)
    if args.final_repeats < 0:
        raise HarcnnError(f"--final-repeats must be >= 0, got {args.final_repeats}")
    check_output_of(args, args.out, SEARCH_FOLDER, "--out")
    dataset = load_data(args, progress=not args.quiet, init=settings.get("init"))
    if args.cv is None and dataset.split is None:
        raise HarcnnError(f"{dataset.name} data has no official split: choose the test subjects with --cv holdout:N")
    protocol = protocol_of(args, dataset)
    print(f"Searching {', '.join(space.describe())}")
    command = "harcnn " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["tune"] else ""
    with executor_of(args) as executor:
        result = run_tune(dataset, space, args.out, protocol=protocol, inner=args.inner_cv,
                          validation_subjects=space.validation_subjects, trials=args.trials, parallel=args.parallel,
                          repeats=args.repeats, seed=args.seed, pruning=pruning, final_repeats=args.final_repeats,
                          executor=executor, progress=not args.quiet, command=command)
    print("Trials: " + ", ".join(f"{n} {state.lower()}" for state, n in sorted(result.counts.items())))
    if result.best is not None:
        best = result.best
        folds = ", ".join(f"{k} {100 * v:.2f}%" for k, v in best["folds"].items())
        print(f"Best: trial {best['number']}, validation {100 * best['value']:.2f}% ({folds})")
        print(f"  {show_params(best['params'])}")
    if result.final is not None:
        final = result.final
        ensemble = final["ensemble_accuracy"]
        print(f"Test split, once ({final['repeats']} fresh training{'s' * (final['repeats'] != 1)}): "
              f"{100 * final['mean']:.2f}% "
              f"(+/-{100 * final['std']:.2f})" + (f"; their ensemble {100 * ensemble:.2f}%" if ensemble else ""))
    print(f"Report: {args.out / 'report.html'}")
    return 0


def _features(args: argparse.Namespace) -> int:
    from harcnn.core.io import write_json
    from harcnn.experiments.features import CLASSIFIERS, RESULTS_FILE, feature_baseline, most_confused

    if args.out is not None:
        check_output_of(args, args.out, RESULTS_FILE, "--out")
    dataset = load_data(args)
    protocol = protocol_of(args, dataset)
    classifiers = list(CLASSIFIERS) if args.classifier == "all" else [args.classifier]
    results = []
    for classifier in classifiers:
        result = feature_baseline(dataset, classifier=classifier, features=args.feature_set, protocol=protocol)
        results.append(result)
        print(f"{classifier} on {result['n_features']} {args.feature_set} features, --cv {protocol} "
              f"({result['n_test']} test windows, {result['seconds']:.1f} s)")
        print(f"  accuracy {100 * result['accuracy']:.2f}%   macro-F1 {100 * result['macro_f1']:.2f}%")
        if len(result["fold_accuracy"]) > 1:
            print("  per fold: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in result["fold_accuracy"].items()))
        for true, wrong, count, total in most_confused(result["confusion"], dataset.class_names):
            print(f"  {true} taken for {wrong}: {count} of {total} windows ({100 * count / total:.1f}%)")
    if args.out is not None:
        write_json(args.out, results if len(results) > 1 else results[0])
        print(f"Results saved to {args.out}")
    return 0


def _print_selection(records) -> None:
    from harcnn.experiments.selection import select_by_validation

    selection = select_by_validation(records)
    print(selection.describe().replace("**", ""))
    for label, val, n in selection.ranking:
        print(f"  validation {100 * val:6.2f}%  ({n} trials)  {label}")
