"""Draw docs/labelling_app.png: the labelling app (``harcnn label``) on a real HAPT recording, half labelled,
with a model's timeline under the labels, as headless chromium shows it.

The folder it serves holds one HAPT recording of a subject the model did not train on, as a phone-style CSV
(``time, acc_x..z`` in g, ``gyro_x..z`` in rad/s, 50 Hz), and a labels.csv with HAPT's true segments of the
recording's first part only: the rest is what the model pre-labels for the user to correct. Train the model
first, holding out the recording's subject (``--test holdout:4`` holds out subjects 8, 17, 21 and 25 of the
shared copy)::

    harcnn train --data HAPT.zip --classes all --test holdout:4 --epochs 3 --save models/hapt-cnn
    python docs/make_labelling_screenshot.py --model models/hapt-cnn [--recording exp15_user08] [--data HAPT.zip]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "hapt" / "HAPT_RawData_train_subjects.zip"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def write_folder(data: Path, recording: str, labelled: float, folder: Path) -> float:
    """The recording as ``folder/<recording>.csv`` and its segments ending before ``labelled`` x its duration in
    ``folder/labels.csv``; returns the duration (s)."""
    from harcnn.core.io import write_csv
    from harcnn.data.hapt import hapt_recordings

    found = {r.name: r for r in hapt_recordings(data, progress=False)}
    if recording not in found:
        raise SystemExit(f"no recording {recording!r} in {data}; it has {', '.join(sorted(found))}")
    rec = found[recording].recording()
    write_csv(folder / f"{recording}.csv", ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
              ([f"{t:.2f}", *(f"{v:.7g}" for v in a), *(f"{v:.7g}" for v in g)]
               for t, a, g in zip(rec.timestamps, rec.sensors["acc"], rec.sensors["gyro"])))
    limit = rec.timestamps[0] + labelled * rec.duration
    segments = found[recording].segments
    write_csv(folder / "labels.csv", ["recording", "start", "end", "label"],
              ([recording, f"{a:.2f}", f"{b:.2f}", label]
               for a, b, label in zip(segments.starts, segments.ends, segments.labels) if b <= limit))
    return rec.duration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model folder from harcnn train --save")
    parser.add_argument("--recording", default="exp15_user08", help="a HAPT experiment (default exp15_user08)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"HAPT zip or folder (default {DEFAULT_DATA})")
    parser.add_argument("--labelled", type=float, default=0.55, help="the share of the recording with labels")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "labelling_app.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from harcnn.labelling.server import make_server
    from harcnn.labelling.store import LabelFolder
    from harcnn.labelling.timelines import ModelTimelines
    from harcnn.serving.artifact import load_model

    model = load_model(args.model)
    with tempfile.TemporaryDirectory(prefix="harcnn-label-docs-") as scratch:
        folder = Path(scratch) / "my_recordings"
        folder.mkdir()
        duration = write_folder(args.data, args.recording, args.labelled, folder)
        server, sock, url = make_server(LabelFolder(folder), ModelTimelines(model), port=0)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 820}, bypass_csp=True)
                page.goto(f"{url}#{quote(args.recording)}")
                page.wait_for_function("window.harcnnLabel && harcnnLabel.app.firstSignalsAt !== null")
                page.wait_for_function("harcnnLabel.app.pred !== null", timeout=300_000)
                start = page.evaluate("harcnnLabel.app.rec.start")
                box = page.locator("#prediction-row").bounding_box()
                y = box["y"] + box["height"] / 2

                def x(seconds: float) -> float:
                    return box["x"] + page.evaluate(f"harcnnLabel.xOf({start + seconds})")

                page.mouse.move(x(0.62 * duration), y)  # select a stretch of the model's timeline to accept
                page.mouse.down()
                page.mouse.move(x(0.75 * duration), y, steps=5)
                page.mouse.up()
                page.locator("#labels-row").click(position={"x": x(0.3 * duration) - box["x"], "y": 20})
                page.wait_for_timeout(300)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
