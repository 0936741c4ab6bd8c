"""How fast the labelling app (``harcnn label``) draws and zooms a one-hour recording at 50 Hz, in headless chromium.

It writes a one-hour recording (180,000 samples of acc + gyro, a CSV as phones export it) and a labels.csv of
120 segments into a temporary folder, serves the app on it (optionally with ``--model DIR``), and opens it
``--repeats`` times in Debian's chromium driven by Playwright:

* **first signals**: from the start of navigation to the first signals drawn (page, plotly.js, the
  recording's metadata, the decimated signals and their plot): ``--repeats`` first visits in new browser
  profiles (the very first also reads the CSV on the server; the others find it in memory), then as many
  visits again in one profile (plotly.min.js from the browser's cache); the first contentful paint beside it;
* **zoom**: from a zoom to one minute in the middle of the hour until the signals of that minute are drawn at
  the new resolution (the request, the server's min/max per pixel, the plot), and back to the whole hour.

Also the server side alone: reading the CSV, and the min/max decimation of the whole hour for a 1200-pixel
plot, with the size of the answer. Usage::

    python benchmarks/labelling_app.py [--repeats 5] [--model DIR]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
from export_latency import cpu_name  # this folder's scripts run with it on the path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def write_hour(folder: Path, seconds: float = 3600.0, rate: float = 50.0) -> str:
    """A recording of ``seconds`` at ``rate`` Hz (walking and still stretches) and its labels.csv; its name."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    walking = (t // 30) % 2 == 0
    acc = np.tile([1.0, 0.0, 0.0], (len(t), 1)) + 0.01 * rng.standard_normal((len(t), 3))
    acc[walking, 0] += 0.35 * np.sin(2 * np.pi * 1.9 * t[walking])
    gyro = 0.02 * rng.standard_normal((len(t), 3))
    gyro[walking, 1] += 0.8 * np.sin(np.pi * 1.9 * t[walking])
    table = np.column_stack([t, acc, gyro])
    np.savetxt(folder / "hour.csv", table, fmt=["%.2f"] + ["%.5f"] * 6, delimiter=",",
               header="time_s,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z", comments="")
    rows = [f"hour,{a:.2f},{a + 29:.2f},{'walking' if (a // 30) % 2 == 0 else 'standing'}\n"
            for a in np.arange(0, seconds, 30.0)]
    (folder / "labels.csv").write_text("recording,start,end,label\n" + "".join(rows))
    return "hour"


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms (min {min(values):.0f}, max {max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="page loads (default 5)")
    parser.add_argument("--model", type=Path, default=None, help="a model folder: its timeline is computed too")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the chromium to drive")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from harcnn.labelling.decimate import envelope
    from harcnn.labelling.server import make_server
    from harcnn.labelling.store import LabelFolder
    from harcnn.labelling.timelines import ModelTimelines

    print(f"CPU: {cpu_name()}; Python {platform.python_version()}; {args.repeats} page loads")
    with tempfile.TemporaryDirectory(prefix="harcnn-label-bench-") as scratch:
        folder = Path(scratch)
        name = write_hour(folder)
        size = (folder / "hour.csv").stat().st_size
        began = time.perf_counter()
        loaded = LabelFolder(folder).load(name)
        print(f"server: reading the one-hour CSV ({size / 1e6:.1f} MB, {len(loaded.times)} samples, "
              f"{len(loaded.channels)} channels): {time.perf_counter() - began:.2f} s")
        timings = []
        for _ in range(20):
            began = time.perf_counter()
            data = envelope(loaded.times, loaded.values, loaded.start, loaded.end, 1200)
            timings.append(1000 * (time.perf_counter() - began))
        import json

        print(f"server: min/max of the whole hour for 1200 pixels: {median_ms(timings)}, "
              f"{len(data['x'])} points per channel, {len(json.dumps(data)) / 1e3:.0f} kB of JSON")

        model = None
        if args.model is not None:
            from harcnn.serving.artifact import load_model

            model = load_model(args.model)
        server, sock, url = make_server(LabelFolder(folder), ModelTimelines(model), port=0)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        fresh, again, paint, scripts, zoom_in, zoom_out = [], [], [], [], [], []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                kept = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                for i in range(2 * args.repeats):  # first in new browser profiles, then visits again in one
                    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True) \
                        if i < args.repeats else kept
                    page = context.new_page()
                    page.goto(f"{url}#{quote(name)}")
                    page.wait_for_function("window.harcnnLabel && harcnnLabel.app.firstSignalsAt !== null",
                                           timeout=120_000)
                    (fresh if i < args.repeats else again).append(page.evaluate("harcnnLabel.app.firstSignalsAt"))
                    paint.append(page.evaluate(
                        "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN"))
                    scripts.append(page.evaluate(  # the deferred scripts (plotly.min.js, app.js) have run
                        "performance.getEntriesByType('navigation')[0].domContentLoadedEventStart"))
                    for target, out in (("[1800, 1860]", zoom_in), ("[0, 3600]", zoom_out)):
                        out.append(page.evaluate(f"""async () => {{
                            const began = performance.now();
                            const drawn = harcnnLabel.settled();
                            harcnnLabel.setView(...{target});
                            await drawn;
                            await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
                            return performance.now() - began;
                        }}"""))
                    if model is not None:
                        page.wait_for_function("harcnnLabel.app.pred !== null", timeout=300_000)
                    page.close()
                    if context is not kept:
                        context.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    print(f"first signals drawn, the first visit (the server reads the CSV): {fresh[0]:.0f} ms")
    if len(fresh) > 1:
        print(f"first signals drawn, first visits (new browser profiles): {median_ms(fresh[1:])}")
    print(f"first signals drawn, visits again (plotly.min.js cached by the browser): {median_ms(again)}")
    print(f"first contentful paint: {median_ms(paint)}; plotly.min.js and app.js loaded and run: "
          f"{median_ms(scripts)}")
    print(f"zoom to one minute: {median_ms(zoom_in)}; back to the whole hour: {median_ms(zoom_out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
