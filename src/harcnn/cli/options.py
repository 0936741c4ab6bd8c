"""Option groups shared by the commands: data, protocol, settings and execution, each with one spelling.

Every setting of the schema (:mod:`harcnn.core.settings`) is an option of every command that trains
(``--epochs 30``, ``--standardize``, ``--kernel-size 5``, ``--validation-subjects 5``); values are
converted and checked once, by the schema, with one clear message. ``--config FILE`` reads settings
from a TOML or YAML file (its ``[settings]`` table); options given on the command line win.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harcnn.core.errors import HarcnnError
from harcnn.core.settings import Choice, Setting
from harcnn.data.options import DATASET_OPTIONS, READING_OPTIONS


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def torch_device(text: str) -> str:
    """A torch device this machine has: cpu, cuda, cuda:N or mps."""
    if text == "cpu":
        return text
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (e.g. cpu, cuda, cuda:1, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this torch build or machine has no CUDA GPU (torch "
                                         f"{torch.__version__}); use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available here; use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text}: harcnn trains on cpu, cuda or mps")
    return text


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


# -------------------------------------------------------------------------------------------- data

def add_data_options(parser: argparse.ArgumentParser, *, protocol: bool = True) -> None:
    from harcnn.data.sources import source_kinds

    group = parser.add_argument_group("data")
    group.add_argument("--data", type=Path, default=None, metavar="PATH",
                       help="a dataset: UCI HAR or HAPT zip/folder, a .npz of windows, or a folder/zip of recordings "
                            "(default: UCI HAR from $HARCNN_DATA, the user cache, or a download)")
    group.add_argument("--data-kind", choices=sorted(source_kinds()), default=None,
                       help="what --data holds, when it cannot be told from the path")
    add_options(group, DATASET_OPTIONS)
    add_options(group, READING_OPTIONS)
    if protocol:
        group.add_argument("--cv", default=None, metavar="PROTOCOL",
                           help="evaluation by subject: official (the dataset's own split), holdout:N (N test "
                                "subjects), subjects:K (K-fold by subject) or loso (leave one subject out); default "
                                "official where the dataset has one, else subjects:5")


def add_options(group, schema: Mapping[str, Setting]) -> None:
    """One option per data option of ``schema`` (:mod:`harcnn.data.options`: flag, help, choices and
    checks come from there): ``--rate`` -> ``args.data_sampling_rate``."""
    for name, setting in schema.items():
        if isinstance(setting.kind, Choice):
            form = dict(choices=list(setting.kind.values))
        else:
            form = dict(type=_checked_by(setting), metavar=setting.metavar)
        group.add_argument(setting.flag, dest=f"data_{name}", default=None, help=setting.help, **form)


def _checked_by(setting: Setting):
    def convert(text: str):
        try:
            return setting.convert(text)
        except HarcnnError:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: {setting.flag} takes "
                                             f"{setting.kind.describe()}") from None
    return convert


def data_options_of(args: argparse.Namespace):
    """The :class:`~harcnn.data.options.DataOptions` given on the command line (the ones the command has)."""
    from harcnn.data.options import data_options

    return data_options({name: getattr(args, f"data_{name}") for name in (*DATASET_OPTIONS, *READING_OPTIONS)
                         if hasattr(args, f"data_{name}")})


def preset_data_options(args: argparse.Namespace, kind, given: Iterable[str] = ()) -> dict[str, Any]:
    """The data options ``--preset`` loads data of ``kind`` with (:data:`harcnn.core.settings.PRESET_DATA`):
    those the kind takes and neither the command line nor ``given`` sets."""
    from harcnn.core.settings import PRESET_DATA

    preset = PRESET_DATA[args.preset] if getattr(args, "preset", None) else {}
    return {name: value for name, value in preset.items()
            if name in kind.options and name not in given and getattr(args, f"data_{name}", None) is None}


def load_data(args: argparse.Namespace, progress: bool = True, init: str | None = None):
    """The ``--data`` dataset, loaded with the data options given; with ``init`` (a saved model to
    fine-tune), as that model reads windows where the options do not say (which is printed)."""
    from harcnn.data.options import data_options
    from harcnn.data.sources import load_dataset, source_kind

    kind = source_kind(args.data, args.data_kind)
    options = data_options_of(args)
    if init is not None:
        from harcnn.training.finetune import adopted_options

        adopted = adopted_options(init, options, kind)
        if adopted:
            flags = {**DATASET_OPTIONS, **READING_OPTIONS}
            print(f"--init {init}: the data is loaded as it reads windows: "
                  + " ".join(f"{flags[k].flag} {v:g}" if isinstance(v, float) else f"{flags[k].flag} {v}"
                             for k, v in adopted.items()))
            options = data_options({**options.given(), **adopted})
    dataset = load_dataset(args.data, kind.name, options=options, progress=progress,
                           **preset_data_options(args, kind, options.given()))
    for warning in dataset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return dataset


def frame_lines(dataset) -> list[str]:
    """What a command says of the frame its data is in: the line on the body frames found (none for the
    phone's axes)."""
    return [f"  {note}" for note in dataset.notes if note.startswith("body frame")]


def protocol_of(args: argparse.Namespace, dataset):
    """The ``--cv`` protocol, or the default: the official split where there is one, else 5-fold by subject."""
    from harcnn.data.splits import Protocol

    if args.cv is not None:
        return Protocol.parse(args.cv)
    if dataset.split is not None:
        return Protocol("official")
    print(f"{dataset.name} data has no official split: evaluating by 5-fold cross-validation over its subjects "
          "(choose with --cv)")
    return Protocol("subjects", 5)


# -------------------------------------------------------------------------------------------- settings


def setting_table() -> dict[str, list[tuple[str, Any]]]:
    """Every setting name -> [(model or "all", Setting)], models in registry order."""
    from harcnn.core.settings import SHARED
    from harcnn.models import list_models
    from harcnn.models.config import model_settings

    table: dict[str, list] = {}
    for model in list_models():
        for name, setting in model_settings(model).items():
            table.setdefault(name, []).append((model, setting))
    for name, setting in SHARED.items():
        table.setdefault(name, []).append(("all", setting))
    return table


def add_settings_options(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    """``--model`` (optional), ``--config FILE`` and one option per setting, grouped as the schema groups them."""
    from harcnn.core.settings import Bool, show_value

    groups = {name: parser.add_argument_group(title) for name, title in (
        ("model", "model settings (which models have each: 'harcnn models')"), ("data", "data preparation"),
        ("training", "training"), ("fine-tuning", "fine-tuning (start from a saved model: --init)"),
        ("augmentation", "augmentation (all off by default)"))}
    if model:
        groups["model"].add_argument("--model", default=None, help="registered model name (default cnn; see "
                                                                   "'harcnn models')")
    groups["model"].add_argument("--config", type=Path, default=None, metavar="FILE",
                                 help="settings from a TOML/YAML file ([settings] table; options given here win)")
    parser.set_defaults(config_reader=f"{parser.prog} --config")  # names the command in a config file's errors
    from harcnn.core.settings import PRESETS

    groups["model"].add_argument("--preset", choices=sorted(PRESETS), default=None,
                                 help="a named set of settings: reference (the tutorial's baseline, every default) "
                                      "or best ("
                                      + ", ".join(f"{k}={show_value(v)}" for k, v in PRESETS["best"].items())
                                      + "); both on body-frame input (--frame body, where the data takes it); the "
                                      "config file and options given here win")
    for name, owners in setting_table().items():
        setting = owners[0][1]
        flag = "--" + name.replace("_", "-")
        if owners[0][0] == "all":
            help_text = f"{setting.help} ({setting.describe()})"
        else:
            defaults = ", ".join(f"{m} {show_value(s.default)}" for m, s in owners)
            help_text = f"{setting.help} ({setting.kind.describe()}; default: {defaults})"
        if isinstance(setting.kind, Bool):
            groups[setting.group].add_argument(flag, dest=f"setting_{name}", action=argparse.BooleanOptionalAction,
                                               default=None, help=help_text)
        else:
            groups[setting.group].add_argument(flag, dest=f"setting_{name}", default=None, metavar="VALUE",
                                               help=help_text)


def settings_from_args(args: argparse.Namespace, *, model: bool = True, tables: tuple[str, ...] = ("settings",),
                       reader: str | None = None) -> dict[str, Any]:
    """The settings given (preset, then file, then options), as raw values: the schema converts them.
    Without ``model`` (a command that chooses its models otherwise), a preset's model is left out.
    ``tables`` and ``reader``: see :func:`given_settings`."""
    from harcnn.core.settings import PRESETS

    values = dict(PRESETS[args.preset]) if getattr(args, "preset", None) else {}
    if not model:
        values.pop("model", None)
    values.update(given_settings(args, tables=tables, reader=reader))
    if getattr(args, "model", None) is not None:
        values["model"] = args.model
    if str(values.get("precision")) == "bf16" and getattr(args, "device", "cpu") == "cpu" and not native_bf16():
        print("note: this CPU has no native bfloat16 (AVX-512 BF16 or AMX), so --precision bf16 is emulated "
              "and slower than fp32 here", file=sys.stderr)
    return values


def given_settings(args: argparse.Namespace, *, tables: tuple[str, ...] = ("settings",),
                   reader: str | None = None) -> dict[str, Any]:
    """The settings the ``--config`` file's ``[settings]`` and the setting options give (options win), raw.
    ``tables``: those the command reads in the file (any other is an error naming ``reader``, by default
    the command)."""
    from harcnn.models.config import read_config_file

    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        reader = reader or getattr(args, "config_reader", "harcnn --config")
        values.update(read_config_file(args.config, tables=tables, reader=reader)["settings"])
    values.update({key[len("setting_"):]: value for key, value in vars(args).items()
                   if key.startswith("setting_") and value is not None})
    return values


def native_bf16() -> bool:
    """Whether torch computes bfloat16 natively on this CPU (AVX-512 BF16 or AMX tiles)."""
    import torch

    return any(getattr(torch.cpu, f"_is_{name}_supported", lambda: False)() for name in ("avx512_bf16", "amx_tile"))


def config_from_args(args: argparse.Namespace):
    from harcnn.models.config import Config

    return Config.from_flat(settings_from_args(args))


# -------------------------------------------------------------------------------------------- execution

#: The executors :func:`harcnn.experiments.execution.make_executor` builds; named here so that building
#: the parser (every command, ``harcnn predict`` included) imports no executor code.
EXECUTORS = ("local", "ray")


def add_execution_options(parser: argparse.ArgumentParser, *, batching: bool = True, executors: bool = True) -> None:
    """``--seed``, ``--device``, ``--quiet``; with ``executors`` where jobs run (``--executor``,
    ``--address``, ``--workers``, ``--threads``), with ``batching`` ``--models-per-batch``."""
    group = parser.add_argument_group("execution")
    group.add_argument("--seed", type=non_negative_int, default=0,
                       help="base seed; every trial's (and member's) seed derives from it, its repeat and its fold: "
                            "'harcnn train' member i equals 'harcnn evaluate' repeat i (default 0)")
    group.add_argument("--device", type=torch_device, default="cpu",
                       help="torch device, e.g. cpu or cuda (default cpu)"
                            + ("; with --executor ray and cuda every job asks for one GPU" if executors else ""))
    if executors:
        group.add_argument("--executor", choices=EXECUTORS, default="local",
                           help="local: worker processes on this machine (default); ray: Ray tasks on a local Ray "
                                "runtime or, with --address, a running cluster (pip install 'harcnn[ray]')")
        group.add_argument("--address", default=None, metavar="ADDR",
                           help="join the Ray cluster at ADDR (e.g. auto, or ray://head:10001); without it --executor "
                                "ray starts a local Ray runtime and stops it at the end")
        group.add_argument("--workers", type=positive_int, default=None,
                           help="local: worker processes (default 2 on a multi-core CPU, 1 on a GPU; 1 = in-process; "
                                "a single job always runs in-process with all threads); ray without --address: the "
                                "local runtime's jobs at once (default: one per core)")
        group.add_argument("--threads", type=positive_int, default=None,
                           help="torch threads per job: local, per worker process (default: the cores shared among "
                                "the workers); ray, the CPUs each job asks for (default 1)")
    if batching:
        group.add_argument("--models-per-batch", type=positive_int, default=None,
                           help="repeats trained together as one batched computation (default: balanced over workers)")
    group.add_argument("--quiet", action="store_true", help="no progress output")


def executor_of(args: argparse.Namespace):
    """The executor the options choose; use it in a ``with`` block (a Ray runtime it started is stopped at the end)."""
    from harcnn.experiments.execution import make_executor

    return make_executor(args.device, args.workers, kind=args.executor, address=args.address, threads=args.threads)


# -------------------------------------------------------------------------------------------- outputs

#: Every option that names an input (argparse dest, how messages name it): what no output may be, lie
#: inside or hold.
INPUT_OPTIONS = (("model", "DIR, the model folder"), ("setting_init", "--init"), ("input", "INPUT"), ("data", "--data"),
                 ("timeline_data", "--timeline-data"), ("data_labels", "--labels"), ("labels", "--labels"),
                 ("data_subjects", "--subjects"), ("config", "--config"), ("space", "--space"))


def input_paths(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """The inputs a command was given, as ``(option, path)`` (a ``--subjects`` pattern is no path)."""
    found = []
    for dest, name in INPUT_OPTIONS:
        value = getattr(args, dest, None)
        if value is not None and (dest not in ("data_subjects", "setting_init", "model") or Path(value).exists()):
            found.append((name, Path(value)))
    return found


def check_output_of(args: argparse.Namespace, path: Path, kind, option: str) -> Path:
    """:func:`harcnn.core.outputs.check_output` for a command's output ``option``: against the command's inputs,
    replacing an earlier output of ``kind`` only with ``--force`` (where the command has it)."""
    from harcnn.core.outputs import check_output

    has_force = hasattr(args, "force")
    return check_output(path, kind, inputs=input_paths(args), option=option, replace=has_force and args.force,
                        replace_by="--force" if has_force else None)
