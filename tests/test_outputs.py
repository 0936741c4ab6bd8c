"""Nothing the user has is ever lost: every output location is checked before the work, an output is never
an input (nor inside or around one), and only what harcnn wrote is ever replaced, with --force.

Each case runs the command line on the example folder and a tiny model, and checks that the command was
refused with one line (exit 2, no traceback) and that every input is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harcnn.cli import main
from harcnn.core.errors import HarcnnError

TINY = ["--epochs", "1", "--filters", "4", "--dense-units", "8", "--quiet"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    """Run a command that must be refused: exit 2, one line, no traceback; returns the line."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def hashes(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under ``roots`` (files or folders)."""
    found = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The example folder ``recs`` and a tiny model ``m`` trained on it (shared: the tests never change them)."""
    root = tmp_path_factory.mktemp("outputs")
    assert main(["data", "example", str(root / "recs")]) == 0
    assert main(["train", "--data", str(root / "recs"), *TINY, "--save", str(root / "m")]) == 0
    return root


@pytest.fixture
def ws(workspace, tmp_path, monkeypatch):
    """The workspace's inputs, with the current folder a fresh one; asserts afterwards that no input changed."""
    monkeypatch.chdir(tmp_path)
    before = hashes(workspace / "recs", workspace / "m")
    yield workspace
    assert hashes(workspace / "recs", workspace / "m") == before


def recording(ws: Path) -> Path:
    return ws / "recs" / "person2" / "rec1.csv"


# ------------------------------------------------------------------------------------- outputs that are inputs


def test_predict_never_writes_over_the_recording(capsys, ws):
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", recording(ws))
    assert f"--out {recording(ws)} is the input {recording(ws)} (INPUT)" in line and "choose another --out" in line


def test_predict_never_writes_into_the_model(capsys, ws):
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", ws / "m" / "config.json")
    assert f"lies inside the input {ws / 'm'} (DIR, the model folder)" in line
    line = refused(capsys, "predict", ws / "m", recording(ws), "--plot", ws / "m" / "plot.png", "--force")
    assert "--plot" in line and "lies inside the input" in line


def test_train_force_never_deletes_the_data(capsys, ws):
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", ws / "recs", "--force")
    assert f"--save {ws / 'recs'} is the input {ws / 'recs'} (--data)" in line
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", ws / "recs" / "model")
    assert "lies inside the input" in line and "(--data)" in line


def test_a_folder_holding_an_input_is_never_replaced(capsys, ws, tmp_path):
    outer = tmp_path / "outer"
    shutil.copytree(ws / "m", outer)  # a model folder harcnn wrote...
    shutil.copytree(ws / "recs", outer / "recs")  # ...that now holds the data too
    before = hashes(outer)
    line = refused(capsys, "train", "--data", outer / "recs", *TINY, "--save", outer, "--force")
    assert f"holds the input {outer / 'recs'} (--data)" in line
    assert hashes(outer) == before


def test_evaluate_never_writes_into_the_data(capsys, ws):
    for out in (ws / "recs", ws / "recs" / "run"):
        line = refused(capsys, "evaluate", "--data", ws / "recs", "--cv", "holdout:1", "--repeats", 1, *TINY,
                       "--out", out)
        assert "(--data)" in line and "choose another --out" in line


def test_other_inputs_are_protected_too(capsys, ws, tmp_path):
    labels = tmp_path / "segments.csv"
    shutil.copy(ws / "recs" / "labels.csv", labels)
    config = tmp_path / "settings.toml"
    config.write_text("[settings]\nepochs = 1\n")
    before = hashes(labels, config)
    line = refused(capsys, "predict", ws / "m", recording(ws), "--labels", labels, "--out", labels)
    assert "(--labels)" in line
    line = refused(capsys, "train", "--data", ws / "recs", "--labels", labels, *TINY, "--save", labels)
    assert "(--labels)" in line
    line = refused(capsys, "train", "--data", ws / "recs", "--config", config, *TINY, "--save", config)
    assert "(--config)" in line
    line = refused(capsys, "train", "--data", ws / "recs", "--timeline-data", tmp_path, *TINY, "--save",
                   tmp_path / "m")
    assert "(--timeline-data)" in line
    line = refused(capsys, "features", "--data", ws / "recs", "--out", ws / "recs" / "features.json")
    assert "(--data)" in line
    assert hashes(labels, config) == before
    pytest.importorskip("onnx")
    line = refused(capsys, "export", ws / "m", "--onnx", ws / "m" / "model.onnx")
    assert "(DIR, the model folder)" in line


def test_studies_and_searches_never_go_inside_the_data(capsys, ws, tmp_path):
    line = refused(capsys, "study", "custom", "--grid", "kernel_size=3", "--data", ws / "recs", "--cv", "holdout:1",
                   "--out", ws / "recs")
    assert f"--out {ws / 'recs' / 'custom'} lies inside the input" in line
    line = refused(capsys, "leaderboard", "--models", "cnn", "--data", ws / "recs", "--cv", "holdout:1", "--out",
                   ws / "recs" / "board")
    assert "lies inside the input" in line
    space = tmp_path / "space.toml"
    space.write_text("[space]\nfilters = [4, 8]\n")
    pytest.importorskip("optuna")
    line = refused(capsys, "tune", "--space", space, "--data", ws / "recs", "--cv", "holdout:1", "--out", space)
    assert "(--space)" in line


def test_paths_are_compared_resolved(capsys, ws, tmp_path, monkeypatch):
    link = tmp_path / "link"
    link.symlink_to(ws / "recs", target_is_directory=True)
    line = refused(capsys, "evaluate", "--data", ws / "recs", "--cv", "holdout:1", *TINY, "--out", link / "run")
    assert "lies inside the input" in line
    monkeypatch.chdir(ws / "recs" / "person2")
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", "../person2/./rec1.csv")
    assert "is the input" in line
    line = refused(capsys, "train", "--data", "..", *TINY, "--save", "../../recs/", "--force")
    assert "is the input .. (--data)" in line


# ------------------------------------------------------------------------------------- existing outputs


def test_an_earlier_model_is_replaced_only_with_force(capsys, ws, tmp_path):
    shutil.copytree(ws / "m", tmp_path / "model")
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", tmp_path / "model")
    assert line.endswith("a model folder harcnn wrote is already there: choose another --save, or pass --force to "
                         "replace it")
    code, out, err = run(capsys, "train", "--data", ws / "recs", *TINY, "--save", tmp_path / "model", "--force")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left behind


def test_force_never_replaces_what_harcnn_did_not_write(capsys, ws, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    tables = tmp_path / "tables.csv"
    tables.write_text("a,b\n1,2\n")
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n not harcnn's")
    before = hashes(tmp_path)
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", mine, "--force")
    assert "exists and is not an empty folder or a model folder harcnn wrote, so harcnn leaves it as it is" in line
    line = refused(capsys, "evaluate", "--data", ws / "recs", "--cv", "holdout:1", *TINY, "--out", mine, "--force")
    assert "is not an empty folder or a results folder harcnn wrote" in line
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", tables, "--force")
    assert "is not a predictions file harcnn wrote" in line
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", tmp_path / "p.csv", "--plot", figure, "--force")
    assert "--plot" in line and "is not a figure harcnn wrote" in line
    line = refused(capsys, "features", "--data", ws / "recs", "--out", tables, "--force")
    assert "is not a feature baseline results file harcnn wrote" in line
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "notes.txt").write_text("x")
    line = refused(capsys, "study", "custom", "--grid", "kernel_size=3", "--data", ws / "recs", "--out", tmp_path,
                   "--repeats", 1)
    assert "is not an empty folder or a study folder harcnn wrote" in line
    line = refused(capsys, "leaderboard", "--models", "cnn", "--data", ws / "recs", "--out", mine)
    assert "is not an empty folder or a study folder harcnn wrote" in line
    (tmp_path / "custom" / "notes.txt").unlink()
    (tmp_path / "custom").rmdir()
    assert hashes(tmp_path) == before


def test_a_model_folder_with_the_users_files_is_not_replaced(capsys, ws, tmp_path):
    shutil.copytree(ws / "m", tmp_path / "model")
    (tmp_path / "model" / "README.txt").write_text("trained on Monday")
    before = hashes(tmp_path)
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", tmp_path / "model", "--force")
    assert "a model folder harcnn wrote, but it also holds README.txt, which harcnn did not write" in line
    assert hashes(tmp_path) == before


def test_predictions_are_replaced_only_with_force(capsys, ws, tmp_path):
    out = tmp_path / "p.json"
    code, _, err = run(capsys, "predict", ws / "m", recording(ws), "--out", out, "--labels", ws / "recs" / "labels.csv")
    assert code == 0, err
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["p.json", "p_scores.json", "p_segments.json", "p_timeline.png"]
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", out)
    assert line.endswith("a predictions file harcnn wrote is already there: choose another --out, or pass --force "
                         "to replace it")
    code, _, err = run(capsys, "predict", ws / "m", recording(ws), "--out", out, "--labels", ws / "recs" / "labels.csv",
                       "--force")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == written


def test_two_outputs_of_one_command_never_collide(capsys, ws, tmp_path):
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", tmp_path / "p.csv", "--plot",
                   tmp_path / "p_segments.csv")
    assert "is also where --out goes" in line


def test_an_earlier_results_folder_is_replaced_only_with_force(capsys, ws, tmp_path):
    argv = ["evaluate", "--data", ws / "recs", "--cv", "holdout:1", "--repeats", 1, *TINY, "--workers", 1,
            "--out", tmp_path / "run"]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    before = hashes(tmp_path)
    line = refused(capsys, *argv)
    assert line.endswith("a results folder harcnn wrote is already there: choose another --out, or pass --force to "
                         "replace it")
    assert hashes(tmp_path) == before
    code, out, err = run(capsys, *argv, "--force")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "results.json", "scores.csv",
                                                                       "test_probabilities.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_export_replaces_only_its_own_onnx_files(capsys, ws, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    assert run(capsys, "export", ws / "m", "--onnx", out, "--int8")[0] == 0
    line = refused(capsys, "export", ws / "m", "--onnx", out, "--int8")
    assert "an ONNX model harcnn wrote is already there: choose another --onnx, or pass --force" in line
    assert run(capsys, "export", ws / "m", "--onnx", out, "--int8", "--force")[0] == 0
    other = tmp_path / "other.onnx"
    other.write_bytes(b"someone else's model")
    line = refused(capsys, "export", ws / "m", "--onnx", other, "--force")
    assert "is not an ONNX model harcnn wrote" in line and other.read_bytes() == b"someone else's model"


def test_studies_resume_and_report_redraws_only_its_own_page(capsys, ws, tmp_path):
    argv = ["study", "custom", "--grid", "kernel_size=3", "--data", ws / "recs", "--cv", "holdout:1", *TINY,
            "--workers", 1, "--out", tmp_path]
    assert run(capsys, *argv, "--repeats", 1)[0] == 0
    code, out, err = run(capsys, *argv, "--repeats", 2)
    assert code == 0, err
    assert "resuming, 1 of 2 trials already done" in out + err
    assert run(capsys, "report", tmp_path / "custom")[0] == 0
    (tmp_path / "custom" / "report.html").write_text("<html>my own notes</html>")
    line = refused(capsys, "report", tmp_path / "custom")
    assert "report.html: exists and is not a report page harcnn wrote" in line
    assert (tmp_path / "custom" / "report.html").read_text() == "<html>my own notes</html>"


def test_the_example_folder_is_written_only_into_a_new_or_empty_folder(capsys, ws, tmp_path):
    line = refused(capsys, "data", "example", ws / "recs")
    assert line == f"harcnn: error: {ws / 'recs'}: exists and is not empty: choose another FOLDER"
    (tmp_path / "empty").mkdir()
    assert run(capsys, "data", "example", tmp_path / "empty")[0] == 0
    assert (tmp_path / "empty" / "labels.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


# ------------------------------------------------------------------------------------- the Python API


def test_python_messages_name_python_arguments(ws, tmp_path):
    from harcnn import Config, HARClassifier, evaluate, load_dataset, load_model

    model = load_model(ws / "m")
    with pytest.raises(HarcnnError, match=r"a model folder harcnn wrote is already there: choose another path, or "
                                          r"pass overwrite=True to replace it$"):
        model.save(ws / "m")
    with pytest.raises(HarcnnError, match="is not an empty folder or a model folder harcnn wrote"):
        model.save(ws / "recs", overwrite=True)
    data = load_dataset(ws / "recs")
    clf = HARClassifier("cnn", epochs=1, filters=4, dense_units=8, random_state=0, input_spec=data.spec)
    clf.fit(data.X[:64], data.y[:64])
    with pytest.raises(HarcnnError, match="pass overwrite=True to replace it") as error:
        clf.save(ws / "m")
    assert "--" not in str(error.value)
    clf.save(tmp_path / "clf")
    clf.save(tmp_path / "clf", overwrite=True)
    result = evaluate(data, Config.from_flat({"epochs": 1, "filters": 4, "dense_units": 8}), protocol="holdout:1",
                      repeats=1)
    result.save(tmp_path / "run")
    with pytest.raises(HarcnnError, match="pass overwrite=True to replace it"):
        result.save(tmp_path / "run")
    result.save(tmp_path / "run", overwrite=True)


# ------------------------------------------------------------------------------ unusable locations, before the work


def test_an_unusable_location_fails_before_the_work(capsys, ws, tmp_path):
    blocker = tmp_path / "some_file"
    blocker.write_text("x")
    line = refused(capsys, "evaluate", "--data", ws / "recs", "--cv", "holdout:1", *TINY, "--out", blocker / "run")
    assert line == (f"harcnn: error: --out {blocker / 'run'}: {blocker} is a file, not a folder: choose another --out")
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", blocker / "a" / "b")
    assert f"{blocker} is a file, not a folder: choose another --save" in line
    line = refused(capsys, "train", "--data", ws / "recs", *TINY, "--save", blocker, "--force")
    assert line.endswith("is a file, and a model folder is needed here: choose another --save")
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", blocker / "p.csv")
    assert "is a file, not a folder: choose another --out" in line
    (tmp_path / "p.csv").mkdir()
    line = refused(capsys, "predict", ws / "m", recording(ws), "--out", tmp_path / "p.csv")
    assert "is a folder, and a predictions file (a file) is needed here" in line
    line = refused(capsys, "data", "example", blocker / "x")
    assert "is a file, not a folder: choose another FOLDER" in line
    line = refused(capsys, "data", "download", "--cache-dir", blocker)
    assert line.endswith("is a file, and a cache folder is needed here: choose another --cache-dir")
    pytest.importorskip("onnx")
    line = refused(capsys, "export", ws / "m", "--onnx", blocker / "m.onnx")
    assert "is a file, not a folder: choose another --onnx" in line


def test_a_folder_without_write_permission_fails_before_training(capsys, ws, tmp_path, monkeypatch):
    import harcnn.core.outputs

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:  # a real read-only folder (root writes everywhere)
        locked.chmod(0o555)
    else:
        access = os.access
        monkeypatch.setattr(harcnn.core.outputs.os, "access",
                            lambda path, mode: Path(path) != locked and access(path, mode))
    try:
        code, out, err = run(capsys, "train", "--data", ws / "recs", *TINY, "--save", locked / "m")
    finally:
        locked.chmod(0o755)
    assert code == 2 and "Training" not in out and "Traceback" not in err
    assert err.strip() == f"harcnn: error: --save {locked / 'm'}: cannot write in {locked} (permission denied): " \
                          "choose another --save"


def test_a_closed_pipe_ends_quietly_and_the_outputs_are_written(ws, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = (f"{sys.executable} -m harcnn predict {ws / 'm'} {recording(ws)} --out {tmp_path / 'p.csv'} "
               f"| head -c 1; exit ${{PIPESTATUS[0]}}")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stderr == "" and len(done.stdout) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p_segments.csv", "p_timeline.png"]
