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
    evaluate.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
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
    study.add_argument("--device", default="cpu", help="torch device (default cpu)")
    study.add_argument("--out", type=Path, default=Path("runs/studies"), help="parent folder of study folders "
                       "(default runs/studies); running again resumes")
    study.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_option(study)
    study.set_defaults(run=_study)

    report = commands.add_parser("report", help="render a study folder as one self-contained HTML page")
    report.add_argument("folder", type=Path, help="a study folder (with results.sqlite)")
    report.set_defaults(run=_report)
    return parser


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
    parser.add_argument("--validation-subjects", type=int, default=0,
                        help="hold out this many whole training subjects for validation curves (default 0)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="any other model or training setting, e.g. --set dropout=0.3 (repeatable)")


def _config_from_args(args: argparse.Namespace):
    from harcnn.experiments import ExperimentConfig

    values = {"model": args.model, "epochs": args.epochs, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "standardize": args.standardize,
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
    from harcnn.experiments import evaluate

    config = _config_from_args(args)
    dataset = _load_data(args, progress=not args.quiet)
    out = args.out or Path("runs") / f"evaluate-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    flat = config.to_flat()
    print(f"Evaluating {config.model} ({', '.join(f'{k}={v}' for k, v in flat.items() if k != 'model')})")
    print(f"{args.repeats} repeats on {len(dataset.train)} training / {len(dataset.test)} test windows")

    def report(outcome) -> None:
        print(f"Repeat {outcome.repeat + 1:>2}/{args.repeats}: {100 * outcome.test_accuracy:.3f}%  "
              f"(seed {outcome.seed}, {outcome.train_seconds:.1f} s per model)", flush=True)

    result = evaluate(dataset, config, repeats=args.repeats, seed=args.seed, models_per_batch=args.models_per_batch,
                      device=args.device, progress=not args.quiet, on_trial=report)
    result.save(out)
    print(result.summary_line())
    print(f"Results saved to {out}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from harcnn.experiments.executors import InProcessExecutor
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
    for spec in specs:  # check every configuration before training anything
        spec.experiment_configs(settings)
    dataset = _load_data(args, progress=not args.quiet)
    executor = InProcessExecutor(device=args.device, progress=not args.quiet)
    for spec in specs:
        folder = args.out / spec.name
        print(f"Study '{spec.name}': {len(spec.configs)} configurations x {args.repeats} repeats -> {folder}")
        result = run_study(dataset, spec, folder, repeats=args.repeats, seed=args.seed, settings=settings,
                           models_per_batch=args.models_per_batch, executor=executor, progress=not args.quiet)
        for line in result.summary_lines():
            print(line)
        print(f"Report: {folder / 'report.html'}")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
