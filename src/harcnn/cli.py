"""The ``harcnn`` command line: a thin layer over the Python API.

Every user error (HarcnnError) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harcnn.errors import HarcnnError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except HarcnnError as error:
        print(f"harcnn: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harcnn: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from harcnn import __version__

    parser = argparse.ArgumentParser(prog="harcnn", description="Human activity recognition with 1D CNNs (UCI HAR).")
    parser.add_argument("--version", action="version", version=f"harcnn {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    data = commands.add_parser("data", help="find, download and describe the UCI HAR dataset")
    data_commands = data.add_subparsers(title="data commands", metavar="COMMAND")
    info = data_commands.add_parser("info", help="where the data is, sizes, counts per class and subject")
    _add_data_option(info)
    info.set_defaults(run=_data_info)
    download = data_commands.add_parser("download", help="download the official archive into the user cache")
    download.add_argument("--cache-dir", type=Path, help="cache folder (default: the per-user cache)")
    download.add_argument("--force", action="store_true", help="download again even if cached")
    download.set_defaults(run=_data_download)

    evaluate = commands.add_parser("evaluate", help="repeated evaluation of one configuration (the reference experiment)")
    _add_data_option(evaluate)
    _add_config_options(evaluate)
    evaluate.add_argument("--repeats", type=_positive_int, default=10, help="independent trainings (default 10)")
    evaluate.add_argument("--seed", type=int, default=0, help="base seed; repeat i's seed derives from it (default 0)")
    evaluate.add_argument("--models-per-batch", type=_positive_int, default=None,
                          help="repeats trained together as one batched computation (default: all)")
    _add_execution_options(evaluate)
    evaluate.add_argument("--out", type=Path, default=None, help="results folder (default runs/evaluate-<model>-<time>)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    evaluate.set_defaults(run=_evaluate)

    study = commands.add_parser("study", help="tuning studies: a grid of configurations x repeats, resumable")
    study.add_argument("name", choices=["standardize", "filters", "kernels", "heads", "all", "custom"],
                       help="a reference study, all four, or a custom grid (--grid or --config)")
    study.add_argument("--grid", nargs="+", metavar="KEY=V1,V2", default=[],
                       help="custom grid: all combinations, e.g. --grid filters=32,128 kernel=5,7 standardize=true")
    study.add_argument("--config", type=Path, help="custom study from a TOML/YAML file ([grid] and [settings] tables)")
    study.add_argument("--repeats", type=_positive_int, default=10, help="repeats per configuration (default 10)")
    study.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    study.add_argument("--validation", default=None, metavar="subjects:N",
                       help="hold out N whole training subjects for validation curves, e.g. subjects:5")
    study.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="a setting for every configuration, e.g. --set epochs=5 (repeatable)")
    study.add_argument("--models-per-batch", type=_positive_int, default=None,
                       help="repeats trained together as one batched computation (default: all of a config)")
    _add_execution_options(study)
    study.add_argument("--out", type=Path, default=Path("runs/studies"), help="parent folder of study folders "
                       "(default runs/studies); running again resumes")
    study.add_argument("--quiet", action="store_true", help="no progress bars")
    study.add_argument("--select", choices=["val"], default=None,
                       help="val: after the study, choose the configuration with the best mean validation "
                            "accuracy (needs --validation) and report its test accuracy")
    _add_data_option(study)
    study.set_defaults(run=_study)

    report = commands.add_parser("report", help="render a study folder as one self-contained HTML page")
    report.add_argument("folder", type=Path, help="a study folder (with results.sqlite)")
    report.set_defaults(run=_report)

    _add_model_commands(commands)  # train, predict, export: see the block at the end
    _add_leaderboard_commands(commands)  # leaderboard, features: see their block at the end
    return parser


def _add_execution_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker processes on a CPU (default 2 on a multi-core CPU; 1 = in-process)")


def _add_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="UCI HAR zip or extracted folder (default: $HARCNN_DATA, then the user cache, then download)")


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="cnn", help="registered model name (default cnn; see --list-models)")
    parser.add_argument("--standardize", action="store_true", help="standardize each channel (fitted on training data)")
    parser.add_argument("--filters", type=_positive_int, help="filters per conv layer (default 64)")
    parser.add_argument("--kernel", type=_positive_int, help="kernel size (default 3)")
    parser.add_argument("--epochs", type=_positive_int, default=10, help="training epochs (default 10)")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="batch size (default 32)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: bfloat16 compute in training, faster on CPUs with native bf16 (default fp32)")
    parser.add_argument("--validation-subjects", type=int, default=0,
                        help="hold out this many whole training subjects for validation curves (default 0)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="any other model or training setting, e.g. --set dropout=0.3 (repeatable)")


def _config_from_args(args: argparse.Namespace):
    from harcnn.experiments import ExperimentConfig

    values = {"model": args.model, "epochs": args.epochs, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "precision": args.precision, "standardize": args.standardize,
              "validation_subjects": args.validation_subjects}
    if args.filters is not None:
        values["filters"] = args.filters
    if args.kernel is not None:
        values["kernel_size"] = args.kernel
    values.update(parse_assignments(args.set))
    return ExperimentConfig.from_flat(values)


def parse_assignments(items: list[str]) -> dict[str, object]:
    """``["dropout=0.3", "kernel_sizes=3,5"]`` -> ``{"dropout": 0.3, "kernel_sizes": [3, 5]}``."""
    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise HarcnnError(f"expected KEY=VALUE, got {item!r}")
        parts = [parse_value(p) for p in raw.split(",")]
        values[key.strip().replace("-", "_")] = parts if len(parts) > 1 else parts[0]
    return values


def parse_value(text: str) -> object:
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _load_data(args: argparse.Namespace, progress: bool = True):
    from harcnn.data import load_uci_har

    return load_uci_har(args.data, progress=progress)


def _data_info(args: argparse.Namespace) -> int:
    from harcnn.data import describe

    print(describe(_load_data(args)))
    return 0


def _data_download(args: argparse.Namespace) -> int:
    from harcnn.data import download_uci_har

    path = download_uci_har(args.cache_dir, force=args.force)
    print(f"UCI HAR dataset ready: {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from harcnn.experiments import evaluate
    from harcnn.experiments.executors import make_executor

    config = _config_from_args(args)
    dataset = _load_data(args, progress=not args.quiet)
    out = args.out or Path("runs") / f"evaluate-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    flat = config.to_flat()
    print(f"Evaluating {config.model} ({', '.join(f'{k}={v}' for k, v in flat.items() if k != 'model')})")
    split = f"{len(dataset.train)} training"
    if config.validation_subjects:
        from harcnn.experiments.trials import validation_holdout

        keep, held = validation_holdout(dataset, config.validation_subjects)
        subjects = ", ".join(str(s) for s in sorted(set(dataset.train.subject[held].tolist())))
        split = f"{int(keep.sum())} training ({int(held.sum())} more from subjects {subjects} for validation)"
    print(f"{args.repeats} repeats on {split} / {len(dataset.test)} test windows")

    with tqdm(total=args.repeats, desc="repeats", unit="model", disable=args.quiet, dynamic_ncols=True) as bar:
        def show(trials: float) -> None:
            bar.n = round(trials, 2)
            bar.refresh()

        def report_to_bar(outcome) -> None:
            bar.write(_repeat_line(outcome, args.repeats))

        result = evaluate(dataset, config, repeats=args.repeats, seed=args.seed,
                          models_per_batch=args.models_per_batch, executor=make_executor(args.device, args.workers),
                          on_trial=report_to_bar, on_progress=show)
    result.save(out)
    wall = result.wall_seconds
    print(f"Trained and tested {args.repeats} models in {wall:.1f} s ({wall / args.repeats:.1f} s per model, wall clock)")
    print(result.summary_line())
    print(result.ensemble_line())
    print(f"Results saved to {out}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from harcnn.experiments.executors import make_executor
    from harcnn.experiments.study import BUILTIN_STUDIES, grid_study, load_study_file, run_study

    if args.name == "custom":
        if bool(args.grid) == bool(args.config):
            raise HarcnnError("a custom study needs either --grid KEY=V1,V2 ... or --config FILE")
        specs = [load_study_file(args.config) if args.config else
                 grid_study({k: v if isinstance(v, list) else [v] for k, v in parse_assignments(args.grid).items()})]
    elif args.grid or args.config:
        raise HarcnnError("--grid and --config are for 'harcnn study custom'")
    else:
        specs = list(BUILTIN_STUDIES.values()) if args.name == "all" else [BUILTIN_STUDIES[args.name]]
    settings = parse_assignments(args.set)
    if args.validation:
        settings["validation_subjects"] = parse_validation(args.validation)
    if args.select == "val" and not settings.get("validation_subjects"):
        raise HarcnnError("--select val chooses on validation subjects: add --validation subjects:N")
    for spec in specs:  # check every configuration before training anything
        spec.experiment_configs(settings)
    dataset = _load_data(args, progress=not args.quiet)
    executor = make_executor(args.device, args.workers)
    for spec in specs:
        folder = args.out / spec.name
        print(f"Study '{spec.name}': {len(spec.configs)} configurations x {args.repeats} repeats -> {folder}")
        siblings = [args.out / other.name for other in specs if other is not spec]
        result = run_study(dataset, spec, folder, repeats=args.repeats, seed=args.seed, settings=settings,
                           models_per_batch=args.models_per_batch, executor=executor, progress=not args.quiet,
                           reuse=siblings)
        for line in result.summary_lines():
            print(line)
        if args.select == "val":
            _print_selection(result.records)
        print(f"Report: {folder / 'report.html'}")
    return 0


def _repeat_line(outcome, repeats: int) -> str:
    return (f"Repeat {outcome.repeat + 1:>2}/{repeats}: {100 * outcome.test_accuracy:.3f}%  "
            f"(seed {outcome.seed}, trained in {outcome.train_seconds:.1f} s of its worker's time)")


def parse_validation(text: str) -> int:
    """``subjects:5`` -> 5 (whole training subjects held out for validation)."""
    kind, _, count = text.partition(":")
    if kind != "subjects" or not count.isdigit() or int(count) < 1:
        raise HarcnnError(f"--validation must look like subjects:N (whole subjects held out), got {text!r}")
    return int(count)


def _report(args: argparse.Namespace) -> int:
    from harcnn.experiments.report import render_report

    if not (args.folder / "study.json").is_file():
        raise HarcnnError(f"{args.folder} is not a finished study folder (no study.json)")
    print(f"Report written to {render_report(args.folder)}")
    return 0


# ------------------------------------------------------------------------------------------------
# Saved models: train --save, predict, export (harcnn.artifact, harcnn.predict, harcnn.export)
# ------------------------------------------------------------------------------------------------


def _add_model_commands(commands) -> None:
    train = commands.add_parser("train", help="train one model (or an ensemble of the repeats) and save it")
    _add_data_option(train)
    _add_config_options(train)
    train.add_argument("--repeats", type=_positive_int, default=1,
                       help="members: N > 1 saves an ensemble of N repeats, probabilities averaged (default 1)")
    train.add_argument("--seed", type=int, default=0,
                       help="base seed; member i equals 'harcnn evaluate' repeat i (default 0)")
    train.add_argument("--device", default="cpu", help="torch device for training (default cpu)")
    train.add_argument("--save", type=Path, required=True, metavar="DIR", help="the model folder to write")
    train.add_argument("--force", action="store_true", help="replace an existing --save folder")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=_train)

    predict = commands.add_parser(
        "predict", help="predict activities of windows (.npy/.npz), a UCI HAR folder/zip or a CSV/Parquet recording")
    predict.add_argument("model", type=Path, metavar="DIR", help="a model folder from 'harcnn train --save'")
    predict.add_argument("input", type=Path, metavar="INPUT",
                         help="windows .npy/.npz [n, 128, 9]; a UCI HAR zip/folder (its --split) or one split "
                              "folder; or a recording .csv/.csv.gz/.parquet (time, acc_x..z, gyro_x..z)")
    predict.add_argument("--out", type=Path, metavar="FILE",
                         help="per-window predictions, .csv or .json (default <INPUT name>_predictions.csv); "
                              "segments go beside it as <name>_segments.<ext>")
    predict.add_argument("--plot", type=Path, metavar="PNG", help="timeline plot (default <out name>_timeline.png)")
    predict.add_argument("--no-plot", action="store_true", help="no timeline plot")
    predict.add_argument("--acc-units", default="g", choices=["g", "m/s2"],
                         help="recording acceleration unit (default g)")
    predict.add_argument("--gyro-units", default="rad/s", choices=["rad/s", "deg/s"],
                         help="recording angular velocity unit (default rad/s)")
    predict.add_argument("--time-column", default="time", metavar="NAME",
                         help="recording time column (default 'time' and its aliases); 'none' for none "
                              "(then give --sampling-rate)")
    predict.add_argument("--time-unit", default="s", choices=["s", "ms", "us", "ns"], help="time unit (default s)")
    predict.add_argument("--sampling-rate", type=float, metavar="HZ",
                         help="sampling rate of a recording without a time column")
    predict.add_argument("--split", default="test", choices=["train", "test"],
                         help="which split of a whole UCI HAR dataset to predict (default test)")
    predict.set_defaults(run=_predict)

    export = commands.add_parser("export",
                                 help="export a saved model to ONNX (optionally int8), verified with onnxruntime")
    export.add_argument("model", type=Path, metavar="DIR", help="a model folder from 'harcnn train --save'")
    export.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="the ONNX file to write")
    export.add_argument("--int8", action="store_true",
                        help="also write a dynamically quantized int8 model beside it (<name>.int8.onnx)")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    export.add_argument("--data", type=Path, default=None,
                        help="UCI HAR zip or folder for the check and the test accuracies "
                             "(default: $HARCNN_DATA or the cached download; never downloads)")
    export.set_defaults(run=_export)


def _train(args: argparse.Namespace) -> int:
    from harcnn.artifact import train_model

    config = _config_from_args(args)
    if args.save.exists() and (not args.save.is_dir() or any(args.save.iterdir())) and not args.force:
        raise HarcnnError(f"{args.save}: exists and is not an empty folder (choose another --save, or pass --force)")
    dataset = _load_data(args, progress=not args.quiet)
    flat = config.to_flat()
    members = f"an ensemble of {args.repeats} members" if args.repeats > 1 else "1 model"
    print(f"Training {members}: {config.model} ({', '.join(f'{k}={v}' for k, v in flat.items() if k != 'model')})")
    print(f"on {len(dataset.train)} training windows; scoring on {len(dataset.test)} test windows", flush=True)
    trained = train_model(dataset, config, repeats=args.repeats, seed=args.seed, device=args.device,
                          progress=not args.quiet)
    scores = trained.scores
    if args.repeats > 1:
        listed = ", ".join(f"{100 * a:.2f}" for a in scores["member_test_accuracy"])
        print(f"Member test accuracies (%): {listed}")
        print(f"Ensemble test accuracy (averaged probabilities): {100 * scores['test_accuracy']:.2f}%")
    else:
        print(f"Test accuracy: {100 * scores['test_accuracy']:.2f}%")
    path = trained.save(args.save, overwrite=args.force)
    weights = trained.metadata["weights"]
    print(f"Saved to {path} (weights {weights['bytes'] / 1e6:.2f} MB, sha256 {weights['sha256'][:12]})")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from harcnn.artifact import load_model
    from harcnn.predict import output_paths, predict_path, timeline_plot, write_prediction

    model = load_model(args.model)
    out = args.out
    if out is None:
        name = args.input.name
        for suffix in (".gz", ".csv", ".parquet", ".pq", ".txt", ".tsv", ".npy", ".npz", ".zip"):
            name = name[: -len(suffix)] if name.lower().endswith(suffix) and len(name) > len(suffix) else name
        out = Path(f"{name}_predictions.csv")
    windows_path, _ = output_paths(out)  # check the extension before the work
    plot = None if args.no_plot else (args.plot or windows_path.with_name(f"{windows_path.stem}_timeline.png"))
    time_column = None if args.time_column.lower() == "none" else args.time_column
    prediction = predict_path(model, args.input, split=args.split, acc_units=args.acc_units,
                              gyro_units=args.gyro_units, time_column=time_column, time_unit=args.time_unit,
                              sampling_rate=args.sampling_rate)
    print(prediction.summary())
    written = list(write_prediction(prediction, out))
    if plot is not None:
        written.append(timeline_plot(prediction, plot))
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


def _export(args: argparse.Namespace) -> int:
    from harcnn.artifact import load_model
    from harcnn.export import export_onnx, onnx_predict_proba, onnx_session, quantize_int8, require_onnx

    require_onnx()
    if args.onnx.suffix.lower() != ".onnx":
        raise HarcnnError(f"{args.onnx}: the ONNX file name must end in .onnx")
    model = load_model(args.model)
    dataset = _export_dataset(args)
    test = dataset.test if dataset is not None else None
    result = export_onnx(model, args.onnx, opset=args.opset, check_windows=None if test is None else test.X)
    print(f"Exported {model.describe()} to {result.path} ({result.bytes / 1e6:.2f} MB, opset {result.opset})")
    print(f"  input 'windows' float32 [batch, {model.window}, {model.n_channels}]: raw windows "
          f"({'standardization inside the graph' if model.standardizer else 'no standardization'}); "
          f"output 'probabilities' [batch, {model.n_classes}]")
    checked = "random" if test is None else f"random + {len(test)} test"
    print(f"Verified with onnxruntime on {result.n_checked} windows ({checked}): "
          f"max abs difference {result.max_abs_diff:.2e} (limit 1e-04)")
    sessions = {"ONNX fp32": result.path}
    if args.int8:
        int8 = quantize_int8(result.path, result.path.with_name(f"{result.path.stem}.int8.onnx"))
        print(f"Quantized (dynamic int8) to {int8} ({int8.stat().st_size / 1e6:.2f} MB)")
        sessions["ONNX int8"] = int8
    if test is None:
        print("Test accuracy skipped: no UCI HAR dataset found (pass --data)")
        return 0
    accuracies = {"PyTorch": model.score(test.X, test.y)}
    for label, path in sessions.items():
        predicted = onnx_predict_proba(onnx_session(path), test.X).argmax(axis=1)
        accuracies[label] = float((predicted == test.y).mean())
    print(f"Test accuracy ({len(test)} windows): " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in accuracies.items()))
    return 0


def _export_dataset(args: argparse.Namespace):
    from harcnn.data import find_uci_har, load_uci_har

    source = args.data if args.data is not None else find_uci_har()
    return None if source is None else load_uci_har(source, download=False, progress=False)


# ------------------------------------------------------------------------------------------------
# Comparing models: leaderboard, features (harcnn.experiments.leaderboard, harcnn.features),
# and the honest-selection printout of 'harcnn study --select val'
# ------------------------------------------------------------------------------------------------


def _add_leaderboard_commands(commands) -> None:
    board = commands.add_parser(
        "leaderboard", help="several models x R repeats (resumable): accuracy, F1, ensembles, parameters, "
                            "training time and latency as one table (CSV, Markdown, HTML report)")
    board.add_argument("--models", default=None, metavar="M1,M2",
                       help="comma-separated registered models (default: all registered)")
    board.add_argument("--repeats", type=_positive_int, default=10, help="repeats per model (default 10)")
    board.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    board.add_argument("--standardize", action="store_true", help="standardize each channel (fitted on training data)")
    board.add_argument("--epochs", type=_positive_int, default=None, help="training epochs (default: 10)")
    board.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="training precision (default fp32)")
    board.add_argument("--validation", default=None, metavar="subjects:N",
                       help="hold out N whole training subjects for validation (curves, early stopping, "
                            "the validation column), e.g. subjects:5")
    board.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="a setting for every model that has it, e.g. --set filters=32 --set epochs=20 "
                            "(repeatable)")
    board.add_argument("--model-set", metavar="MODEL:KEY=VALUE", action="append", default=[],
                       help="a setting for one model, e.g. --model-set resnet1d:width=1.0 (repeatable)")
    board.add_argument("--ensemble-of", metavar="M1,M2", action="append", default=None,
                       help="an extra row: the repeats of these models averaged together ('all' for every "
                            "model; default: all, when there are several models; 'none' for no such row)")
    board.add_argument("--features", nargs="*", default=None, metavar="CLASSIFIER",
                       help="add feature-baseline rows: linear_svm and/or logreg (default both when given "
                            "without names)")
    board.add_argument("--feature-set", choices=["raw", "engineered"], default="raw",
                       help="the feature baselines' features (default raw: computed from the windows)")
    board.add_argument("--tuning-note", default="", metavar="TEXT",
                       help="how the settings were chosen, stated in the protocol, e.g. 'width chosen on "
                            "validation subjects in runs/studies/width'")
    board.add_argument("--no-latency", action="store_true", help="skip the latency measurements")
    board.add_argument("--models-per-batch", type=_positive_int, default=None,
                       help="repeats trained together as one batched computation (default: all of a model)")
    _add_execution_options(board)
    board.add_argument("--out", type=Path, default=Path("runs/leaderboard"),
                       help="the leaderboard's folder (default runs/leaderboard); running again resumes")
    board.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_option(board)
    board.set_defaults(run=_leaderboard)

    features = commands.add_parser("features", help="feature baselines: a linear classifier on hand-made features")
    features.add_argument("--classifier", choices=["linear_svm", "logreg", "all"], default="linear_svm",
                          help="linear SVM, logistic regression, or both (default linear_svm)")
    features.add_argument("--features", choices=["raw", "engineered"], default="raw",
                          help="raw: 324 features computed from the windows; engineered: the dataset's 561 "
                               "(needs X_test.txt) (default raw)")
    features.add_argument("--out", type=Path, default=None, metavar="FILE.json", help="also write the results as JSON")
    _add_data_option(features)
    features.set_defaults(run=_features)


def _split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _parse_model_settings(items: list[str]) -> dict[str, dict[str, object]]:
    """``["resnet1d:width=1.0", "lstm:hidden=128"]`` -> ``{"resnet1d": {"width": 1.0}, "lstm": {"hidden": 128}}``."""
    out: dict[str, dict[str, object]] = {}
    for item in items:
        model, sep, assignment = item.partition(":")
        if not sep or not model.strip() or "=" not in assignment:
            raise HarcnnError(f"--model-set expects MODEL:KEY=VALUE, got {item!r}")
        out.setdefault(model.strip(), {}).update(parse_assignments([assignment]))
    return out


def _leaderboard(args: argparse.Namespace) -> int:
    import shlex

    from harcnn.experiments.executors import make_executor
    from harcnn.experiments.leaderboard import leaderboard_spec, run_leaderboard
    from harcnn.features import CLASSIFIERS
    from harcnn.models import list_models

    models = _split_names(args.models) if args.models is not None else list_models()
    if args.models is not None and not models:
        raise HarcnnError("--models needs at least one model name")
    settings = parse_assignments(args.set)
    for key, value in (("epochs", args.epochs), ("precision", args.precision)):
        if value is not None:
            settings[key] = value
    if args.standardize:
        settings["standardize"] = True
    if args.validation:
        settings["validation_subjects"] = parse_validation(args.validation)
    model_settings = _parse_model_settings(args.model_set)
    ensembles = None
    if args.ensemble_of is not None:
        ensembles = []
        for text in args.ensemble_of:
            names = _split_names(text)
            if names == ["none"]:
                continue
            ensembles.append(models if names == ["all"] else names)
    features = [] if args.features is None else (list(args.features) or list(CLASSIFIERS))
    for name in features:
        if name not in CLASSIFIERS:
            raise HarcnnError(f"unknown classifier {name!r} in --features; choose from {', '.join(CLASSIFIERS)}")
    leaderboard_spec(models, settings, model_settings)  # every model and setting checked before any work
    dataset = _load_data(args, progress=not args.quiet)
    print(f"Leaderboard: {len(models)} models ({', '.join(models)}) x {args.repeats} repeats -> {args.out}")
    board = run_leaderboard(
        dataset, args.out, models=models, repeats=args.repeats, seed=args.seed, settings=settings,
        model_settings=model_settings, ensembles=ensembles, features=features, feature_set=args.feature_set,
        latency=not args.no_latency, tuning_note=args.tuning_note,
        command="harcnn " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["leaderboard"] else "",
        models_per_batch=args.models_per_batch, executor=make_executor(args.device, args.workers),
        progress=not args.quiet)
    print()
    print(board.markdown_table())
    if board.selection is not None:
        print()
        print(board.selection.describe().replace("**", ""))
    print(f"\nSaved {args.out / 'leaderboard.csv'}, {args.out / 'leaderboard.md'} (with the protocol) and "
          f"{args.out / 'report.html'}")
    return 0


def _features(args: argparse.Namespace) -> int:
    from harcnn.features import CLASSIFIERS, feature_baseline
    from harcnn.io import write_json

    dataset = _load_data(args)
    classifiers = list(CLASSIFIERS) if args.classifier == "all" else [args.classifier]
    names = list(dataset.class_names)
    results = []
    for classifier in classifiers:
        result = feature_baseline(dataset, classifier=classifier, features=args.features)
        results.append(result)
        print(f"{classifier} on {result['n_features']} {args.features} features ({result['n_train']} training / "
              f"{result['n_test']} test windows, {result['seconds']:.1f} s)")
        print(f"  accuracy {100 * result['accuracy']:.2f}%   macro-F1 {100 * result['macro_f1']:.2f}%")
        if "SITTING" in names and "STANDING" in names:
            sit, stand = names.index("SITTING"), names.index("STANDING")
            confusion = result["confusion"]
            for true, wrong in ((sit, stand), (stand, sit)):
                total = sum(confusion[true])
                share = 100 * confusion[true][wrong] / total if total else 0.0
                print(f"  {names[true]} taken for {names[wrong]}: {confusion[true][wrong]} of {total} windows "
                      f"({share:.1f}%)")
    if args.out is not None:
        write_json(args.out, results if len(results) > 1 else results[0])
        print(f"Results saved to {args.out}")
    return 0


def _print_selection(records) -> None:
    from harcnn.experiments.selection import select_by_validation

    selection = select_by_validation(records)
    print(selection.describe().replace("**", ""))
    for label, val, n in selection.ranking:
        print(f"  validation {100 * val:6.2f}%  ({n} repeats)  {label}")


if __name__ == "__main__":
    sys.exit(main())
