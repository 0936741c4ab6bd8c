"""Saved models: save/reload is exact, the recorded scores reproduce, broken artifacts fail clearly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import make_uci_har_tree, train_on

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.data import load_uci_har
from harcnn.serving.artifact import CONFIG_FILE, WEIGHTS_FILE, load_model

TINY = {"filters": 4, "dense_units": 8, "epochs": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifact")
    folder = make_uci_har_tree(root, n_train=24, n_test=12, seed=3)
    return folder, load_uci_har(folder, cache_dir=root / "cache", progress=False)


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    """An ensemble of 2 standardized members, saved; and the in-memory model it came from."""
    _, dataset = tiny
    trained = train_on(dataset, {**TINY, "standardize": True}, repeats=2, seed=7)
    path = trained.save(tmp_path_factory.mktemp("saved") / "model")
    return trained, path


def copy_artifact(saved, tmp_path):
    return shutil.copytree(saved[1], tmp_path / "model")


def test_reload_predicts_bit_for_bit(saved, tiny):
    trained, path = saved
    _, dataset = tiny
    back = load_model(path)
    for key, value in trained.model.state_dict().items():
        assert torch.equal(value, back.model.state_dict()[key])
    X = np.concatenate([dataset.test.X, dataset.train.X])
    assert np.array_equal(trained.predict_proba_members(X), back.predict_proba_members(X))
    assert np.array_equal(trained.predict_proba(X), back.predict_proba(X))
    assert np.array_equal(back.predict(X), trained.predict(X))
    assert back.recipe == trained.recipe and back.n_models == 2 and back.spec == trained.spec
    assert back.class_names == dataset.class_names and back.channel_names == dataset.channel_names
    assert np.array_equal(back.standardizer.mean_, trained.standardizer.mean_)
    assert np.array_equal(back.standardizer.scale_, trained.standardizer.scale_)
    np.testing.assert_allclose(back.predict_proba(X).sum(axis=1), 1.0, atol=1e-5)


def test_saved_scores_reproduce_on_the_test_windows(saved, tiny):
    _, path = saved
    _, dataset = tiny
    back = load_model(path)
    scores = back.scores
    assert back.score(dataset.test.X, dataset.test.y) == scores["test_accuracy"]
    members = back.predict_proba_members(dataset.test.X).argmax(axis=2)
    assert [float((m == dataset.test.y).mean()) for m in members] == scores["member_test_accuracy"]
    assert scores["test_windows"] == len(dataset.test)


def test_member_i_is_evaluate_repeat_i(tiny):
    """Seeding as 'harcnn evaluate': a 1-member model with seed s equals member 0 of the ensemble."""
    _, dataset = tiny
    single = train_on(dataset, TINY, repeats=1, seed=3)
    pair = train_on(dataset, TINY, repeats=2, seed=3)
    np.testing.assert_allclose(single.predict_proba(dataset.test.X),
                               pair.predict_proba_members(dataset.test.X)[0], atol=1e-6)


def test_config_json_describes_everything(saved):
    trained, path = saved
    meta = json.loads((path / CONFIG_FILE).read_text())
    assert meta["format"] == "harcnn-model" and meta["format_version"] == 3 and meta["model"]["n_models"] == 2
    assert meta["training"]["config"] == trained.recipe and len(meta["training"]["config_id"]) == 12
    assert meta["training"]["config"]["standardize"] is True and meta["model"]["params"]["filters"] == 4
    assert meta["model"]["inputs"] == {"window": 128, "n_channels": 9, "n_classes": 6}
    assert meta["training"]["data"]["fingerprint"] and meta["training"]["seeds"] == trained.seeds
    assert len(meta["preprocessing"]["standardizer"]["mean"]) == 9
    assert meta["input"]["classes"][0] == "WALKING" and meta["input"]["channels"][0] == "total_acc_x"
    assert meta["input"]["window"] == 128 and meta["input"]["sampling_rate"] == 50.0
    assert meta["input"]["units"][:3] == ["g", "g", "g"]
    assert meta["input"]["preprocessing"]["sensors"] == ["acc", "gyro"]
    assert {"harcnn", "torch"} <= set(meta["versions"]) and meta["created"]
    assert len(meta["scores"]["member_test_accuracy"]) == 2 and "test_accuracy" in meta["scores"]
    assert len(meta["weights"]["sha256"]) == 64 and meta["weights"]["bytes"] == (path / WEIGHTS_FILE).stat().st_size
    assert (path / WEIGHTS_FILE).read_bytes()[8:9] == b"{"  # safetensors: a length, then a JSON header


def test_cli_train_saves_a_loadable_model(capsys, uci_folder, tmp_path):
    out = tmp_path / "cnn"
    code = main(["train", "--data", str(uci_folder), "--filters", "4", "--dense-units", "8", "--epochs", "1",
                 "--kernel-size", "5", "--save", str(out), "--quiet"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "Test accuracy:" in printed and f"Saved to {out}" in printed
    back = load_model(out)
    assert back.n_models == 1 and back.standardizer is None
    assert back.recipe["kernel_size"] == 5 and back.model.hparams["kernel_size"] == 5
    assert back.score(load_uci_har(uci_folder, progress=False).test.X,
                      load_uci_har(uci_folder, progress=False).test.y) == back.scores["test_accuracy"]
    # an existing folder is not replaced without --force
    code = main(["train", "--data", str(uci_folder), "--filters", "4", "--epochs", "1", "--save", str(out), "--quiet"])
    assert code == 2 and "--force" in capsys.readouterr().err


def test_save_is_atomic(saved, tmp_path, monkeypatch):
    import harcnn.core.outputs as outputs

    trained, _ = saved
    target = tmp_path / "model"

    def crash(new, target):
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "replace_folder", crash)
    with pytest.raises(OSError):
        trained.save(target)
    assert not target.exists() and list(tmp_path.iterdir()) == []  # no half artifact, no temp folder
    monkeypatch.undo()
    trained.save(target)
    with pytest.raises(HarcnnError, match="a model folder harcnn wrote is already there: choose another path, or "
                                          "pass overwrite=True to replace it"):
        trained.save(target)
    trained.save(target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    (target / "notes.txt").write_text("mine")  # a file of the user's: the folder is no longer harcnn's alone
    with pytest.raises(HarcnnError, match="also holds notes.txt, which harcnn did not write"):
        trained.save(target, overwrite=True)
    assert (target / "notes.txt").read_text() == "mine"
    load_model(target)


def _edit_config(path, change):
    meta = json.loads((path / CONFIG_FILE).read_text())
    change(meta)
    (path / CONFIG_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize("breakage,message", [
    (lambda p: shutil.rmtree(p), "no such model folder"),
    (lambda p: (p / CONFIG_FILE).unlink(), "missing config.json"),
    (lambda p: (p / WEIGHTS_FILE).unlink(), "missing weights file"),
    (lambda p: (p / CONFIG_FILE).write_text('{"format": "harcnn-model", '), "not valid JSON"),
    (lambda p: (p / CONFIG_FILE).write_text('{"hello": 1}'), "not a harcnn model description"),
    (lambda p: _edit_config(p, lambda m: m.update(format_version=99)), "newer harcnn"),
    (lambda p: _edit_config(p, lambda m: m.update(format_version=1)), "saved by an older harcnn"),
    (lambda p: _edit_config(p, lambda m: m.pop("input")), "incomplete or malformed"),
    (lambda p: _edit_config(p, lambda m: m["input"].update(classes=["a", "b"])), "input spec says"),
    (lambda p: _edit_config(p, lambda m: m["model"].update(name="lstm9")), "unknown model 'lstm9'"),
    (lambda p: _edit_config(p, lambda m: m["model"]["params"].update(filters=8)),
     r"conv1.bias has shape \[2, 4\], expected \[2, 8\]"),
    (lambda p: _edit_config(p, lambda m: m["model"].update(n_models=3)),
     "does not fit the model described in config.json"),
    (lambda p: _edit_config(p, lambda m: m["model"]["params"].update(bogus=1)), "has no setting 'bogus'"),
    (lambda p: _edit_config(p, lambda m: m["model"]["params"].update(dropout=2)), "dropout takes a number in"),
    (lambda p: _edit_config(p, lambda m: m["preprocessing"]["standardizer"].update(scale=[0.0] * 9)),
     "malformed standardizer"),
    (lambda p: (p / WEIGHTS_FILE).write_bytes((p / WEIGHTS_FILE).read_bytes()[:-10] + b"\0" * 10),
     "SHA-256 does not match"),
])
def test_broken_artifacts_give_clear_errors(saved, tmp_path, breakage, message):
    path = copy_artifact(saved, tmp_path)
    breakage(path)
    with pytest.raises(HarcnnError, match=message):
        load_model(path)


def test_a_tensor_of_another_dtype_is_named(saved, tmp_path):
    import hashlib

    from safetensors.torch import load_file, save_file

    path = copy_artifact(saved, tmp_path)
    state = load_file(path / WEIGHTS_FILE)
    state["conv1.weight"] = state["conv1.weight"].double()
    save_file(state, path / WEIGHTS_FILE)
    _edit_config(path, lambda m: m["weights"].update(
        sha256=hashlib.sha256((path / WEIGHTS_FILE).read_bytes()).hexdigest()))
    with pytest.raises(HarcnnError, match="conv1.weight is float64, expected float32.*another harcnn version"):
        load_model(path)


def test_corrupt_weights_with_a_matching_hash(saved, tmp_path):
    import hashlib

    path = copy_artifact(saved, tmp_path)
    garbage = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"
    (path / WEIGHTS_FILE).write_bytes(garbage)
    _edit_config(path, lambda m: m["weights"].update(sha256=hashlib.sha256(garbage).hexdigest()))
    with pytest.raises(HarcnnError, match="not a readable safetensors file"):
        load_model(path)


def test_a_file_is_not_a_model_folder(tmp_path, capsys):
    file = tmp_path / "model.pt"
    file.write_bytes(b"\x80\x04")
    with pytest.raises(HarcnnError, match="not a model folder"):
        load_model(file)
    code = main(["predict", str(tmp_path / "nothing"), str(file)])
    err = capsys.readouterr().err
    assert code == 2 and "no such model folder" in err and len(err.strip().splitlines()) == 1


def test_wrong_window_shapes_are_rejected(saved):
    trained, _ = saved
    with pytest.raises(HarcnnError, match=r"windows must have shape \[n, 128, 9\]"):
        trained.predict_proba(np.zeros((3, 64, 9), dtype=np.float32))
    bad = np.zeros((2, 128, 9), dtype=np.float32)
    bad[1, 5, 2] = np.nan
    with pytest.raises(HarcnnError, match="NaN"):
        trained.predict(bad)


def test_a_model_saved_by_the_previous_format_still_loads(saved, tmp_path, tiny):
    """Format 2 (models trained on UCI HAR before any dataset could be used) is read as format 3."""
    trained, _ = saved
    _, dataset = tiny
    path = copy_artifact(saved, tmp_path)
    meta = json.loads((path / CONFIG_FILE).read_text())
    old = {
        "format": "harcnn-model", "format_version": 2, "created": meta["created"],
        "model": {"name": "cnn", "n_models": 2, "params": {**meta["model"]["params"], "n_channels": 9, "n_classes": 6,
                                                          "window": 128}},
        "n_models": 2, "config": meta["training"]["config"], "seeds": meta["training"]["seeds"],
        "preprocessing": meta["preprocessing"], "class_names": meta["input"]["classes"],
        "input": {"window": 128, "step": 64, "channels": meta["input"]["channels"], "sampling_rate": 50.0,
                  "units": {"total_acc": "g", "body_acc": "g", "body_gyro": "rad/s"}},
        "scores": meta["scores"], "versions": meta["versions"], "weights": meta["weights"],
    }
    (path / CONFIG_FILE).write_text(json.dumps(old))
    back = load_model(path)
    assert back.spec.units == trained.spec.units and back.spec.preprocessing == trained.spec.preprocessing
    assert np.array_equal(back.predict_proba(dataset.test.X), trained.predict_proba(dataset.test.X))
