"""The labelling app (harcnn label): its API through Starlette's test client, the folder store, the decimation,
the command line, and the round trip of the labels.csv it writes through harcnn's own commands.
The browser test is in test_labelling_browser.py."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2" if importlib.util.find_spec("httpx2") else "httpx")  # for Starlette's test client
pytest.importorskip("plotly")

from starlette.testclient import TestClient  # noqa: E402

from harcnn.cli import main  # noqa: E402
from harcnn.data.example import write_example_recordings  # noqa: E402
from harcnn.data.labels import read_labels_table  # noqa: E402
from harcnn.labelling.decimate import envelope  # noqa: E402
from harcnn.labelling.server import create_app  # noqa: E402
from harcnn.labelling.store import LabelFolder, version_of  # noqa: E402
from harcnn.labelling.timelines import BUILTIN, NO_MODEL_HINT, ModelTimelines  # noqa: E402

TOKEN = "test-token-123"
ONE_FILE = "person2/rec1"  # the example's one-file recording at 50 Hz (person1/rec1 is a folder of sensor files)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The example folder, small: 2 people, 1 recording each, and their labels.csv."""
    return write_example_recordings(tmp_path / "recordings", people=2, recordings_per_person=1)


def client_for(folder: Path, timelines: ModelTimelines | None = None, **options) -> TestClient:
    app = create_app(LabelFolder(folder), timelines or ModelTimelines(), TOKEN, **options)
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    client.cookies.set("harcnn-label", TOKEN)
    return client


def put_labels(client: TestClient, name: str, segments, version: str, **body):
    return client.put("/api/labels", params={"name": name}, json={"segments": segments, **body},
                      headers={"X-Harcnn-Token": TOKEN, "If-Match": f'"{version}"'})


def test_token_is_required_and_writes_need_the_header(folder):
    app = create_app(LabelFolder(folder), ModelTimelines(), TOKEN)
    bare = TestClient(app, base_url="http://127.0.0.1:8765")
    assert bare.get("/api/state").status_code == 403
    assert bare.get("/", params={"token": "wrong"}).status_code == 403
    assert bare.get("/api/state", params={"token": TOKEN}).status_code == 200
    first = bare.get("/", params={"token": TOKEN}, follow_redirects=False)  # the printed address
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = bare.get("/")  # now with the cookie
    assert page.status_code == 200 and TOKEN in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert bare.get("/static/plotly.min.js").status_code == 200
    version = bare.get("/api/recording", params={"name": ONE_FILE}).json()["version"]
    no_header = bare.put("/api/labels", params={"name": ONE_FILE}, json={"segments": []},
                         headers={"If-Match": version})  # the cookie alone does not allow a write
    assert no_header.status_code == 403 and "X-Harcnn-Token".lower() in no_header.json()["error"].lower()
    evil = TestClient(app, base_url="http://attacker.example:8765")  # a rebound name
    assert evil.get("/api/state", params={"token": TOKEN}).status_code == 403


def test_list_and_read_a_recording(folder):
    client = client_for(folder)
    state = client.get("/api/state").json()
    assert state["model"] == BUILTIN and state["hint"] is None and state["labels_error"] is None
    assert set(state["label_set"]) == {"walking", "standing", "sitting", "lying"}
    listed = {r["name"]: r for r in client.get("/api/recordings").json()["recordings"]}
    assert set(listed) == {"person1/rec1", ONE_FILE}
    truth = read_labels_table(folder / "labels.csv")
    assert listed[ONE_FILE]["labelled"] == pytest.approx(truth[ONE_FILE].duration, abs=1e-9)
    for name, item in listed.items():  # person1/rec1 starts 0.01 s after its first label: counted within it
        assert item["labelled"] == pytest.approx(truth[name].duration, abs=0.02)
        assert 0.8 < item["labelled"] / item["duration"] < 1
    rec = client.get("/api/recording", params={"name": ONE_FILE}).json()
    assert rec["rate"] == pytest.approx(50.0) and rec["sensors"] == ["acc", "gyro"]
    assert rec["channels"] == ["acc_x", "acc_y", "acc_z", "|acc|", "gyro_x", "gyro_y", "gyro_z", "|gyro|"]
    assert [(s["start"], s["end"], s["label"]) for s in rec["segments"]] == [
        (a, b, c) for a, b, c in zip(truth[ONE_FILE].starts, truth[ONE_FILE].ends, truth[ONE_FILE].labels)]
    assert rec["version"] == LabelFolder(folder).segments(ONE_FILE).version and rec["video"] is None
    assert not rec["from_column"]


def test_signals_are_min_max_per_bucket_and_raw_when_zoomed_in(folder):
    client = client_for(folder)
    loaded = LabelFolder(folder).load(ONE_FILE)
    whole = client.get("/api/signals", params={"name": ONE_FILE, "buckets": 300}).json()
    assert not whole["raw"] and len(whole["x"]) <= 2 * 300 < len(loaded.times)
    for c, values in enumerate(whole["y"]):  # the envelope holds every sample's extremes
        assert min(v for v in values if v is not None) == pytest.approx(loaded.values[:, c].min(), abs=1e-4)
        assert max(v for v in values if v is not None) == pytest.approx(loaded.values[:, c].max(), abs=1e-4)
    start = loaded.start + 10
    close = client.get("/api/signals", params={"name": ONE_FILE, "start": start, "end": start + 2,
                                               "buckets": 800}).json()
    inside = int(np.sum((loaded.times >= start) & (loaded.times <= start + 2)))
    assert close["raw"] and close["samples"] == len(close["x"]) == inside + 2  # and one beyond each edge
    assert close["x"][1] == pytest.approx(10.0, abs=1e-3)  # seconds since the recording's start
    bad = client.get("/api/signals", params={"name": ONE_FILE, "start": 5, "end": 1})
    assert bad.status_code == 422


def test_envelope_breaks_at_gaps_and_keeps_extremes():
    rng = np.random.default_rng(0)
    t = np.concatenate([np.arange(0, 100, 0.02), np.arange(130, 200, 0.02)])  # a 30 s gap
    v = rng.standard_normal((len(t), 2)).astype(np.float32)
    v[1234, 0], v[4321, 1] = 9.0, -9.0
    out = envelope(t, v, 0.0, 200.0, 400)
    assert not out["raw"] and out["x"].count(None) == 1
    assert max(x for x in out["y"][0] if x is not None) == pytest.approx(9.0)
    assert min(x for x in out["y"][1] if x is not None) == pytest.approx(-9.0)
    gap = out["x"].index(None)
    assert out["x"][gap - 1] < 100.5 and out["x"][gap + 1] > 129.5
    raw = envelope(t, v, 99.0, 131.0, 400)
    assert raw["raw"] and raw["x"].count(None) == 1 and raw["samples"] == np.sum((t >= 99) & (t <= 131)) + 2


def test_save_writes_the_table_harcnn_reads_and_keeps_a_backup(folder):
    client = client_for(folder)
    original = (folder / "labels.csv").read_bytes()
    other = read_labels_table(folder / "labels.csv")["person1/rec1"]
    version = client.get("/api/recording", params={"name": ONE_FILE}).json()["version"]
    segments = [{"start": 1.5, "end": 20.25, "label": "walking"}, {"start": 20.25, "end": 41.0, "label": "on stairs"}]
    reply = put_labels(client, ONE_FILE, segments, version)
    assert reply.status_code == 200, reply.text
    assert reply.json()["version"] == reply.headers["etag"].strip('"') != version
    assert reply.json()["backup"] == "labels.csv.bak"
    table = read_labels_table(folder / "labels.csv")
    assert table[ONE_FILE].starts.tolist() == [1.5, 20.25] and table[ONE_FILE].labels.tolist() == ["walking",
                                                                                                   "on stairs"]
    assert table["person1/rec1"].starts.tolist() == other.starts.tolist()  # other recordings' rows kept
    assert (folder / "labels.csv").read_text().splitlines()[0] == "recording,start,end,label"
    assert (folder / "labels.csv.bak").read_bytes() == original  # the user's file, before the first change
    settings = json.loads((folder / ".harcnn-label.json").read_text())
    assert len(settings["labels_sha256"]) == 64
    again = put_labels(client, ONE_FILE, segments[:1], reply.json()["version"])
    assert again.status_code == 200 and again.json()["backup"] is None  # it wrote the file it replaces
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("labels")) == ["labels.csv", "labels.csv.bak"]
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text() + "person1/rec1,200,201,lying\n")
    third = put_labels(client, ONE_FILE, segments, again.json()["version"])  # after an edit by hand: a new backup
    assert third.status_code == 200 and (folder / "labels.csv.bak-2").read_text().endswith("200,201,lying\n")
    assert (folder / "labels.csv.bak").read_bytes() == original
    emptied = put_labels(client, ONE_FILE, [], third.json()["version"])
    assert emptied.status_code == 200 and ONE_FILE not in read_labels_table(folder / "labels.csv")


def test_label_columns_are_shown_and_kept_when_labels_csv_is_first_written(folder):
    """A folder labelled by a per-sample column: once labels.csv exists, --data reads it instead, so the first
    save writes the other recordings' column labels into it too, and the folder reads the same."""
    from harcnn.data.sources import load_dataset

    table = read_labels_table(folder / "labels.csv")
    for name in ("a", "b"):  # two one-file recordings with a label column, from the example's signals
        lines = (folder / f"{ONE_FILE}.csv").read_text().splitlines()
        times = np.array([float(line.split(",")[0]) for line in lines[1:]])
        labels = [next((c for s, e, c in zip(table[ONE_FILE].starts, table[ONE_FILE].ends, table[ONE_FILE].labels)
                        if s <= t < e), "") for t in times]
        (folder / f"{name}.csv").write_text("\n".join([lines[0] + ",label"] + [
            f"{line},{label}" for line, label in zip(lines[1:], labels)]) + "\n")
    for person in folder.glob("person*"):
        shutil.rmtree(person)
    (folder / "labels.csv").unlink()
    before = load_dataset(folder)
    client = client_for(folder)
    listed = {r["name"]: r for r in client.get("/api/recordings").json()["recordings"]}
    assert listed["a"]["labelled"] == pytest.approx(table[ONE_FILE].duration, abs=0.05)
    rec = client.get("/api/recording", params={"name": "a"}).json()
    assert rec["from_column"] and [s["label"] for s in rec["segments"]] == table[ONE_FILE].labels.tolist()
    assert put_labels(client, "a", rec["segments"], rec["version"]).status_code == 200
    written = read_labels_table(folder / "labels.csv")
    assert set(written) == {"a", "b"} and len(written["b"]) == len(table[ONE_FILE])
    after = load_dataset(folder)
    assert np.array_equal(before.X, after.X) and np.array_equal(before.y, after.y)


def test_a_second_tab_is_refused_with_a_conflict_not_overwritten(folder):
    tab_a, tab_b = client_for(folder), client_for(folder)
    start = tab_a.get("/api/recording", params={"name": ONE_FILE}).json()["version"]
    assert tab_b.get("/api/recording", params={"name": ONE_FILE}).json()["version"] == start
    mine = [{"start": 3.0, "end": 9.0, "label": "walking"}]
    saved = put_labels(tab_a, ONE_FILE, mine, start)
    assert saved.status_code == 200
    before = (folder / "labels.csv").read_bytes()
    late = put_labels(tab_b, ONE_FILE, [{"start": 1.0, "end": 2.0, "label": "lying"}], start)
    assert late.status_code == 409
    body = late.json()
    assert body["conflict"] and body["version"] == saved.json()["version"] and body["segments"] == mine
    assert "changed since" in body["error"]
    assert (folder / "labels.csv").read_bytes() == before
    over = put_labels(tab_b, ONE_FILE, [{"start": 1.0, "end": 2.0, "label": "lying"}], body["version"])
    assert over.status_code == 200  # the user chose to save over them


def test_an_unreadable_labels_table_is_replaced_only_when_asked(folder):
    (folder / "labels.csv").write_text("recording,start,end,label\nperson1/rec1,5,4,walking\n")
    client = client_for(folder)
    assert "not after start" in client.get("/api/state").json()["labels_error"]
    rec = client.get("/api/recording", params={"name": ONE_FILE}).json()
    assert rec["segments"] == [] and rec["labels_error"]
    segments = [{"start": 3.0, "end": 9.0, "label": "walking"}]
    refused = put_labels(client, ONE_FILE, segments, rec["version"])
    assert refused.status_code == 409 and refused.json()["unreadable"]
    assert "5,4,walking" in (folder / "labels.csv").read_text()
    replaced = put_labels(client, ONE_FILE, segments, rec["version"], replace_unreadable=True)
    assert replaced.status_code == 200
    assert (folder / "labels.csv.bak").read_text().endswith("person1/rec1,5,4,walking\n")
    assert read_labels_table(folder / "labels.csv")[ONE_FILE].starts.tolist() == [3.0]


@pytest.mark.parametrize("segments, message", [
    ([{"start": 1, "end": 5, "label": "a"}, {"start": 4, "end": 8, "label": "b"}], "must not overlap"),
    ([{"start": 5, "end": 1, "label": "a"}], "start < end"),
    ([{"start": 1, "end": 5, "label": "walk, fast"}], "not allowed"),
    ([{"start": 1, "end": 5, "label": ""}], "non-empty"),
    ([{"start": 5000, "end": 5001, "label": "a"}], "holds no sample"),
    ([{"start": "x", "end": 5, "label": "a"}], "numbers"),
    ({"start": 1}, "must be a list"),
])
def test_bad_segments_are_refused_and_nothing_is_written(folder, segments, message):
    client = client_for(folder)
    before = (folder / "labels.csv").read_bytes()
    version = client.get("/api/recording", params={"name": ONE_FILE}).json()["version"]
    reply = put_labels(client, ONE_FILE, segments, version)
    assert reply.status_code == 422 and message in reply.json()["error"]
    assert (folder / "labels.csv").read_bytes() == before and not (folder / "labels.csv.bak").exists()


def test_only_the_folder_is_read_and_only_labels_csv_is_written(folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text((folder / f"{ONE_FILE}.csv").read_text())
    (outside / "clip.mp4").write_bytes(b"not yours")
    os.symlink(outside / "secret.csv", folder / "linked.csv")
    os.symlink(outside / "clip.mp4", folder / "person2" / "rec1.mp4")
    client = client_for(folder)
    names = [r["name"] for r in client.get("/api/recordings").json()["recordings"]]
    assert "linked" not in names and "linked: left out" in " ".join(client.get("/api/state").json()["notes"])
    for name in ("linked", "../outside/secret", str(outside / "secret"), "person2/../person2/rec1", ""):
        assert client.get("/api/recording", params={"name": name}).status_code == 404
    assert client.get("/api/video", params={"name": ONE_FILE}).status_code == 404  # the link leads outside
    assert client.get("/static/../store.py").status_code == 404
    (folder / "labels.csv").rename(outside / "labels.csv")
    os.symlink(outside / "labels.csv", folder / "labels.csv")
    reply = put_labels(client, ONE_FILE, [], version_of([]))
    assert reply.status_code in (409, 422)
    assert (outside / "labels.csv").read_text().startswith("recording,start,end,label\nperson1/rec1")
    assert sorted(p.name for p in outside.iterdir()) == ["clip.mp4", "labels.csv", "secret.csv"]


def test_oversized_requests_are_refused(folder):
    client = client_for(folder, max_body=1000)
    version = client.get("/api/recording", params={"name": ONE_FILE}).json()["version"]
    big = [{"start": float(i), "end": i + 0.5, "label": "walking"} for i in range(100)]
    assert put_labels(client, ONE_FILE, big, version).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"segments": ['
        for i in range(100):
            yield json.dumps({"start": i, "end": i + 0.5, "label": "walking"}).encode() + b","
        yield b"]}"

    chunked = client.put("/api/labels", params={"name": ONE_FILE}, content=chunks(),
                         headers={"X-Harcnn-Token": TOKEN, "If-Match": version, "Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert not (folder / "labels.csv.bak").exists()


def test_video_is_served_with_ranges_and_its_offset_is_saved(folder):
    (folder / "person2" / "rec1.mp4").write_bytes(bytes(range(256)) * 4)
    client = client_for(folder)
    rec = client.get("/api/recording", params={"name": ONE_FILE}).json()
    assert rec["video"] == "/api/video?name=person2/rec1" and rec["video_offset"] == 0.0
    part = client.get(rec["video"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == bytes(range(10, 20))
    saved = client.put("/api/video-offset", params={"name": ONE_FILE}, json={"offset": 2.5},
                       headers={"X-Harcnn-Token": TOKEN})
    assert saved.status_code == 200
    assert json.loads((folder / ".harcnn-label.json").read_text())["video_offsets"] == {ONE_FILE: 2.5}
    assert client.get("/api/recording", params={"name": ONE_FILE}).json()["video_offset"] == 2.5
    bad = client.put("/api/video-offset", params={"name": ONE_FILE}, json={"offset": "soon"},
                     headers={"X-Harcnn-Token": TOKEN})
    assert bad.status_code == 422
    listed = client.put("/api/label-set", json={"labels": ["running", "walking"]}, headers={"X-Harcnn-Token": TOKEN})
    assert listed.json()["label_set"][:3] == ["running", "walking", "lying"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A model trained for one epoch with 4 filters on the example folder (through harcnn's API)."""
    from harcnn.data.sources import load_dataset
    from harcnn.models.config import Config
    from harcnn.serving.train import train_model

    data = write_example_recordings(tmp_path_factory.mktemp("train") / "data", people=2, recordings_per_person=1)
    config = Config.from_flat({"model": "cnn", "epochs": 1, "filters": 4})
    return train_model(config, load_dataset(data), seed=0)


def test_the_model_row_and_the_hook_for_built_in_models(folder, tiny_model):
    none = ModelTimelines(None, choose=lambda recording: None)  # no model fits the recording
    plain = client_for(folder, none).get("/api/prediction", params={"name": ONE_FILE}).json()
    assert plain == {"name": ONE_FILE, "available": False, "hint": NO_MODEL_HINT}
    assert client_for(folder, none).get("/api/state").json()["hint"] == NO_MODEL_HINT
    built_in = client_for(folder).get("/api/prediction", params={"name": ONE_FILE}).json()
    assert built_in["available"] and built_in["model"].startswith("builtin:phone, ")  # the default: the built-in
    for timelines in (ModelTimelines(tiny_model), ModelTimelines(None, choose=lambda recording: tiny_model)):
        pred = client_for(folder, timelines).get("/api/prediction", params={"name": ONE_FILE}).json()
        assert pred["available"] and pred["classes"] == list(tiny_model.class_names)
        windows = pred["windows"]
        assert len(windows["start"]) == len(windows["label"]) == len(windows["confidence"]) > 50
        assert np.all(np.array(windows["end"][:-1]) == np.array(windows["start"][1:]))  # the windows tile time
        assert all(0 < c <= 1 for c in windows["confidence"])  # the HMM may decide a label below 1/n
    state = client_for(folder, ModelTimelines(tiny_model)).get("/api/state").json()
    assert state["model"] == tiny_model.describe() and state["hint"] is None


def test_saved_labels_train_evaluate_and_score_predictions_unchanged(folder, tmp_path, capsys):
    """The round trip: labels.csv written by the app is what --data and predict --labels read."""
    client = client_for(folder)
    truth = read_labels_table(folder / "labels.csv")[ONE_FILE]
    version = client.get("/api/recording", params={"name": ONE_FILE}).json()["version"]
    edited = [{"start": float(a) + 0.5, "end": float(b), "label": str(c)}
              for a, b, c in zip(truth.starts, truth.ends, truth.labels)]
    assert put_labels(client, ONE_FILE, edited, version).status_code == 200
    common = ["--data", str(folder), "--epochs", "1", "--filters", "4", "--quiet"]
    assert main(["evaluate", *common, "--cv", "subjects:2", "--repeats", "1", "--workers", "1",
                 "--out", str(tmp_path / "run")]) == 0
    assert main(["train", *common, "--save", str(tmp_path / "model")]) == 0
    out = tmp_path / "rec1.csv"
    assert main(["predict", str(tmp_path / "model"), str(folder / f"{ONE_FILE}.csv"), "--labels",
                 str(folder / "labels.csv"), "--out", str(out), "--no-plot"]) == 0
    scores = json.loads((tmp_path / "rec1_scores.json").read_text())
    assert scores["n_true_segments"] == len(edited)  # the segments as edited, read by predict --labels
    labelled = sum(s["end"] - s["start"] for s in edited)
    assert np.sum(scores["confusion_seconds"]) == pytest.approx(labelled, abs=1e-6)


def test_command_line_errors_are_one_line(folder, tmp_path, capsys):
    assert main(["label", str(tmp_path / "missing"), "--no-browser"]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "data.zip").write_bytes(b"PK")
    assert main(["label", str(tmp_path / "data.zip"), "--no-browser"]) == 2
    assert "unpack a zip first" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["label", str(tmp_path / "empty"), "--no-browser"]) == 2
    assert "no recordings" in capsys.readouterr().err
    assert main(["label", str(folder), "--no-browser", "--model", str(tmp_path / "nomodel")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harcnn: error:") and len(err.strip().splitlines()) == 1
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert main(["label", str(folder), "--no-browser", "--port", str(busy.getsockname()[1])]) == 2
    assert "choose another with --port" in capsys.readouterr().err
