"""The labelling app in a real browser: headless Debian chromium driven by Playwright for Python.

Skipped when Playwright or chromium is absent (.ci/run installs both). One test, kept short: it opens a
generated recording, creates and resizes a segment, labels it, accepts a stretch of the model's
timeline, saves, and checks labels.csv on disk; then a reload keeps an unsaved edit, and a save over
labels that changed elsewhere asks the user (409) before it writes.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("plotly")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip("no chromium (apt-get install chromium)", allow_module_level=True)

from harcnn.data.example import write_example_recordings  # noqa: E402
from harcnn.data.labels import read_labels_table  # noqa: E402
from harcnn.labelling.server import make_server  # noqa: E402
from harcnn.labelling.store import LabelFolder  # noqa: E402
from harcnn.labelling.timelines import ModelTimelines  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NAME = "person2/rec1"


@pytest.fixture
def app_url(tmp_path: Path):
    """The app over a generated folder (``NAME``'s rows removed from labels.csv) with a tiny model, served by
    uvicorn on a free port in a thread; yields ``(url, folder)``."""
    from harcnn.data.sources import load_dataset
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    folder = write_example_recordings(tmp_path / "recordings", people=2, recordings_per_person=1)
    model = train_model(Config.from_flat({"model": "cnn", "epochs": 1, "filters": 4}), load_dataset(folder), seed=0)
    lines = (folder / "labels.csv").read_text().splitlines(keepends=True)
    (folder / "labels.csv").write_text("".join(line for line in lines if not line.startswith(NAME)))
    server, sock, url = make_server(LabelFolder(folder), ModelTimelines(model), port=0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url, folder
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_label_a_recording_accept_the_model_and_save(app_url):
    url, folder = app_url
    other = read_labels_table(folder / "labels.csv")["person1/rec1"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: Playwright's waits evaluate strings, which the app's Content-Security-Policy forbids
            page = browser.new_page(viewport={"width": 1280, "height": 820}, bypass_csp=True)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}#{quote(NAME, safe='')}")
            page.wait_for_function("window.harcnnLabel && harcnnLabel.app.firstSignalsAt !== null")
            page.wait_for_function("harcnnLabel.app.pred !== null && harcnnLabel.app.pred.available")
            start = page.evaluate("harcnnLabel.app.rec.start")
            rows = {name: page.locator(f"#{name}").bounding_box() for name in ("labels-row", "prediction-row")}

            def x(t: float) -> float:  # seconds since the recording's start -> page pixel
                return rows["labels-row"]["x"] + page.evaluate(f"harcnnLabel.xOf({start + t})")

            def drag(row: str, t0: float, t1: float) -> None:
                y = rows[row]["y"] + rows[row]["height"] / 2
                page.mouse.move(x(t0), y)
                page.mouse.down()
                page.mouse.move(x(t1), y, steps=6)
                page.mouse.up()

            assert page.evaluate("harcnnLabel.app.segments.length") == 0
            drag("labels-row", 10, 20)  # create
            created = page.evaluate("harcnnLabel.app.segments")
            assert len(created) == 1 and created[0]["start"] == pytest.approx(start + 10, abs=0.5)
            drag("labels-row", 20, 30)  # move its end
            page.keyboard.press("2")  # the second label of the label set
            label = page.evaluate("harcnnLabel.app.labelSet[1]")
            count = "harcnnLabel.app.segments.length"
            page.mouse.click(x(15), rows["labels-row"]["y"] + 20)  # select it, the cursor at 15 s
            page.keyboard.press("s")  # split at the cursor
            assert page.evaluate(count) == 2
            page.keyboard.press("m")  # merge (the right part, with the one before it)
            assert page.evaluate(count) == 1
            page.keyboard.press("Control+z")
            assert page.evaluate(count) == 2
            page.keyboard.press("Control+Shift+z")
            assert page.evaluate(count) == 1
            page.mouse.click(x(15), rows["labels-row"]["y"] + 20)
            page.keyboard.press("Delete")
            assert page.evaluate(count) == 0
            page.keyboard.press("Control+z")
            assert page.evaluate(count) == 1
            drag("prediction-row", 60, 90)  # a stretch of the model's timeline ...
            page.keyboard.press("a")  # ... accepted
            segments = page.evaluate("harcnnLabel.app.segments")
            assert segments[0]["label"] == label and segments[0]["end"] == pytest.approx(start + 30, abs=0.5)
            classes = page.evaluate("harcnnLabel.app.pred.classes")
            accepted = segments[1:]
            assert accepted and all(s["label"] in classes for s in accepted)
            assert accepted[0]["start"] == pytest.approx(start + 60, abs=0.5)
            assert accepted[-1]["end"] == pytest.approx(start + 90, abs=0.5)
            page.keyboard.press("Control+s")
            page.wait_for_function("!harcnnLabel.app.dirty")
            table = read_labels_table(folder / "labels.csv")
            saved = table[NAME]
            assert [(a, b, c) for a, b, c in zip(saved.starts, saved.ends, saved.labels)] == [
                (s["start"], s["end"], s["label"]) for s in segments]
            assert table["person1/rec1"].starts.tolist() == other.starts.tolist()

            page.keyboard.press("Escape")  # an unsaved edit survives a reload (kept in the browser)
            drag("labels-row", 120, 130)
            assert page.evaluate("harcnnLabel.app.dirty")
            page.reload()
            page.wait_for_function("window.harcnnLabel && harcnnLabel.app.rec && harcnnLabel.app.dirty")
            assert len(page.evaluate("harcnnLabel.app.segments")) == len(segments) + 1
            assert "restored" in page.locator("#banner").inner_text()

            version = page.evaluate("harcnnLabel.app.version")  # another tab saves first ...
            reply = page.request.put(f"{url.split('?')[0]}api/labels?name={quote(NAME)}",
                                     headers={"X-Harcnn-Token": url.split("token=")[1], "If-Match": version},
                                     data={"segments": [{"start": start + 1, "end": start + 2, "label": "lying"}]})
            assert reply.status == 200
            page.keyboard.press("Control+s")  # ... so this save is refused and the user is asked
            page.wait_for_selector("#dialog[open]")
            assert "changed since" in page.locator("#dialog-text").inner_text()
            assert read_labels_table(folder / "labels.csv")[NAME].starts.tolist() == [start + 1]
            page.get_by_role("button", name="Save mine over them").click()
            page.wait_for_function("!harcnnLabel.app.dirty")
            assert len(read_labels_table(folder / "labels.csv")[NAME]) == len(segments) + 1
            assert not errors
        finally:
            browser.close()
