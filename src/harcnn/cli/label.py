"""``harcnn label``: the labelling app (harcnn.labelling), started on a folder of recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

from harcnn.cli.options import READING_OPTIONS, add_options, data_options_of
from harcnn.core.errors import HarcnnError


def add_commands(commands) -> None:
    label = commands.add_parser(
        "label", help="label a folder of recordings in the browser (a local web app), with a model's timeline",
        description="A local web app over a folder of recordings (the folder --data reads): their signals, the "
                    "labels as an editable row, the model's timeline with its confidence, and a video named like "
                    "the recording; saving writes the folder's labels.csv (recording, start, end, label; seconds). "
                    "Needs pip install 'harcnn[label]'.")
    label.add_argument("folder", type=Path, metavar="FOLDER",
                       help="a folder of recordings (one file per recording, or a subfolder of per-sensor files); "
                            "its labels.csv is read and written")
    label.add_argument("--model", type=Path, metavar="DIR",
                       help="a model folder from 'harcnn train --save': its timeline and confidence under the labels")
    label.add_argument("--port", type=int, default=None, metavar="N",
                       help="the port to listen on (default 8765, or the next free one)")
    label.add_argument("--host", default="127.0.0.1", metavar="H",
                       help="the address to listen on (default 127.0.0.1: this machine only); another address lets "
                            "anyone who can reach it and has the printed token read and change the labels")
    label.add_argument("--no-browser", action="store_true", help="print the address only; do not open a browser")
    add_options(label.add_argument_group("reading recordings (each detected when not given)"), READING_OPTIONS)
    label.set_defaults(run=_label)


def _label(args: argparse.Namespace) -> int:
    try:
        from harcnn.labelling.server import make_server, plotly_js
    except ModuleNotFoundError as error:
        raise HarcnnError(f"harcnn label needs the 'label' extra ({error.name} is not installed): "
                          "pip install 'harcnn[label]'") from None
    from harcnn.labelling.store import LabelFolder
    from harcnn.labelling.timelines import ModelTimelines

    if args.port is not None and not 0 <= args.port <= 65535:
        raise HarcnnError(f"--port {args.port}: a port is a number from 0 to 65535")
    plotly_js()
    folder = LabelFolder(args.folder, reading=data_options_of(args).reading)
    model = None
    if args.model is not None:
        from harcnn.serving.artifact import load_model

        model = load_model(args.model)
    server, sock, url = make_server(folder, ModelTimelines(model), host=args.host, port=args.port)
    labels = folder.read_labels()
    print(f"harcnn label: {len(folder.names)} recordings in {folder.root}"
          + (f"; model {model.describe()}" if model is not None else "; no model (--model DIR adds its timeline)"))
    for note in folder.notes:
        print(f"  {note}")
    if labels.error:
        print(f"  labels.csv cannot be read ({labels.error}); saving will ask before replacing it (kept as a backup)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  listening on {args.host}: anyone who can reach it and has the token below can read and change "
              "the labels")
    print(f"Open {url}\n(Ctrl+C stops the app; unsaved edits stay in the browser until saved)", flush=True)
    if not args.no_browser:
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, [url]).start()
    server.run(sockets=[sock])
    return 0
