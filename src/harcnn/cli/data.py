"""``harcnn data info``, ``harcnn data download`` and ``harcnn models``."""

from __future__ import annotations

import argparse
from pathlib import Path

from harcnn.cli.options import add_data_options, load_data
from harcnn.core.errors import HarcnnError
from harcnn.core.outputs import check_output


def add_commands(commands) -> None:
    data = commands.add_parser("data", help="find, download and describe datasets")
    data_commands = data.add_subparsers(title="data commands", metavar="COMMAND")
    info = data_commands.add_parser("info", help="what a dataset holds: source, fingerprint, windows per class and "
                                                 "subject")
    add_data_options(info, protocol=False)
    info.set_defaults(run=_data_info)
    download = data_commands.add_parser("download", help="download a dataset's official archive into the user cache")
    download.add_argument("--kind", choices=["uci_har", "hapt"], default="uci_har", help="which (default uci_har)")
    download.add_argument("--cache-dir", type=Path, help="cache folder (default: the per-user cache)")
    download.add_argument("--force", action="store_true", help="download again even if cached")
    download.set_defaults(run=_data_download)
    example = data_commands.add_parser("example", help="write a small example folder of labelled phone recordings "
                                                       "(synthetic), to try every command on")
    example.add_argument("folder", type=Path, help="a new folder to write")
    example.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    example.set_defaults(run=_data_example)

    models = commands.add_parser("models", help="the registered models and their settings (from the settings schema); "
                                                "--builtin: the trained models harcnn ships, with their cards")
    models.add_argument("name", nargs="?", help="one model's settings (default: every model, briefly)")
    models.add_argument("--builtin", action="store_true",
                        help="the built-in trained models (predict without a model, fine-tune with --init "
                             "builtin:NAME), each with its card: data, classes, input, accuracy, licences")
    models.set_defaults(run=_models)


def _data_info(args: argparse.Namespace) -> int:
    print(load_data(args).describe())
    return 0


def _data_download(args: argparse.Namespace) -> int:
    from harcnn.data.cache import cache_root
    from harcnn.data.download import CACHE_FOLDER

    if args.kind == "hapt":
        from harcnn.data.hapt import download_hapt as download
    else:
        from harcnn.data.uci_har import download_uci_har as download
    check_output(cache_root(args.cache_dir), CACHE_FOLDER, option="--cache-dir")
    path = download(args.cache_dir, force=args.force)
    print(f"{args.kind} dataset ready: {path}")
    return 0


def _data_example(args: argparse.Namespace) -> int:
    from harcnn.data.example import EXAMPLE_FOLDER, write_example_recordings

    check_output(args.folder, EXAMPLE_FOLDER, option="FOLDER")
    folder = write_example_recordings(args.folder, seed=args.seed)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    print(f"Wrote {len(files)} files to {folder}: {', '.join(files[:6])}, ...")
    print(f"Try: harcnn data info --data {folder}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from harcnn.core.settings import SHARED, show_value
    from harcnn.models import list_models, model_class

    if args.builtin:
        return _builtin_models(args.name)
    if args.name is None:
        for name in list_models():
            cls = model_class(name)
            summary = (cls.__doc__ or "").strip().splitlines()[0]
            print(f"{name:<10} {summary}")
            print(f"{'':<10} settings: {', '.join(f'{k}={show_value(s.default)}' for k, s in cls.settings.items())}")
        print("\nEvery model also takes the shared settings (data preparation, training, augmentation); "
              "'harcnn models NAME' lists them all.")
        return 0
    if args.name not in list_models():
        raise HarcnnError(f"unknown model {args.name!r}; available: {', '.join(list_models())}")
    cls = model_class(args.name)
    print(f"{args.name}: {(cls.__doc__ or '').strip()}\n")
    for title, settings in (("model settings", cls.settings), *(
            (f"{group} settings", {k: s for k, s in SHARED.items() if s.group == group})
            for group in ("data", "training", "fine-tuning", "augmentation"))):
        print(f"{title}:")
        for name, setting in settings.items():
            print(f"  --{name.replace('_', '-'):<22} {setting.help} ({setting.describe()})")
    return 0


def _builtin_models(name: str | None) -> int:
    from harcnn.models.saved import builtin_names
    from harcnn.serving.builtin import describe_card

    names = builtin_names()
    if name is not None:
        name = name.removeprefix("builtin:")
        if name not in names:
            raise HarcnnError(f"no built-in model {name!r}; built-in: "
                              f"{', '.join(names) or 'none in this installation'}")
        names = [name]
    if not names:
        raise HarcnnError("this installation of harcnn has no built-in models (its package data is missing)")
    print("\n\n".join(describe_card(n) for n in names))
    if name is None:
        print("\n'harcnn predict REC' uses the one that fits the recording's sensors; '--init builtin:NAME' fine-tunes "
              "one on your data.")
    return 0
