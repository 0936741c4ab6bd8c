"""Fine-tuning (--init), self-supervised pretraining and the built-in models, on tiny generated recordings."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.core.provenance import config_id
from harcnn.data.example import write_example_recordings
from harcnn.data.sources import load_dataset
from harcnn.models.config import FINE_TUNING, Config
from harcnn.serving.artifact import load_model
from harcnn.serving.train import train_model

TINY = {"model": "cnn", "filters": 4, "dense_units": 8, "epochs": 1}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    return write_example_recordings(tmp_path_factory.mktemp("finetune") / "data", people=3, recordings_per_person=1)


@pytest.fixture(scope="module")
def dataset(recordings):
    return load_dataset(recordings)


@pytest.fixture(scope="module")
def base(dataset, tmp_path_factory):
    """A tiny standardized model of the example's 4 activities, saved."""
    trained = train_model(Config.from_flat({**TINY, "standardize": True}), dataset, seed=0)
    return trained.save(tmp_path_factory.mktemp("base") / "model")


def one_file_recording(folder):
    """A recording of the example folder that is one CSV file (time, acc and gyro columns)."""
    return next(p for p in sorted(folder.rglob("*.csv")) if "gyro_x" in p.read_text().split("\n", 1)[0])


def renamed(dataset, old: str, new: str):
    """``dataset`` with class ``old`` called ``new`` (a class the base model never saw)."""
    classes = tuple(new if c == old else c for c in dataset.class_names)
    return replace(dataset, spec=replace(dataset.spec, classes=classes))


def test_same_classes_start_exactly_where_the_model_was(base, dataset):
    config = Config.from_flat({"init": str(base), "epochs": 1, "learning_rate": 1e-12})
    assert config.model == "cnn" and config.filters == 4 and config.standardize  # adopted from the saved model
    tuned = train_model(config, dataset, seed=5)
    original = load_model(base)
    np.testing.assert_allclose(tuned.predict_proba(dataset.X), original.predict_proba(dataset.X), atol=1e-5)
    np.testing.assert_array_equal(tuned.standardizer.mean_, original.standardizer.mean_)  # reused, not refitted
    assert tuned.init["kept_classes"] == list(dataset.class_names)


def test_new_classes_get_new_head_columns_and_the_rest_is_kept(base, dataset, tmp_path):
    data = renamed(renamed(dataset, "walking", "running"), "lying", "Lying")  # Lying is lying; running is new
    config = Config.from_flat({"init": str(base), "epochs": 1, "freeze_epochs": 1})
    tuned = train_model(config, data, seed=1)
    original = load_model(base)
    old, new = original.model.state_dict(), tuned.model.state_dict()
    for key in old:  # frozen for the one epoch: the feature extractor is the saved one
        if not key.startswith("head."):
            assert torch.equal(old[key], new[key]), key
    assert tuned.class_names == data.class_names and tuned.init["kept_classes"] == ["Lying", "sitting", "standing"]
    columns = [data.class_names.index(c) for c in ("Lying", "sitting", "standing")]
    torch.testing.assert_close(new["head.weight"][..., columns], old["head.weight"][..., [0, 1, 2]], atol=0.05, rtol=0)
    path = tuned.save(tmp_path / "tuned")
    meta = json.loads((path / "config.json").read_text())
    assert meta["training"]["init"]["sha256"] == original.metadata["weights"]["sha256"]
    assert meta["training"]["config"]["init"] == str(base)


def test_the_schedule_lowers_the_pretrained_layers_learning_rate(base, dataset):
    tuned = train_model(Config.from_flat({"init": str(base), "epochs": 1, "pretrained_lr": 1e-6}), dataset, seed=2)
    old, new = load_model(base).model.state_dict(), tuned.model.state_dict()
    moved = {k: float((old[k] - new[k]).abs().max()) for k in old if k.endswith("weight")}
    assert moved["head.weight"] > 1e-3 and max(v for k, v in moved.items() if k != "head.weight") < 1e-5


def test_the_config_id_names_the_init_by_its_weights(base, tmp_path):
    plain = Config.from_flat({"model": "cnn"})
    flat = {k: v for k, v in plain.to_flat().items() if k not in FINE_TUNING}
    assert plain.config_id == config_id(flat)  # configurations without --init keep their ids
    moved = shutil.copytree(base, tmp_path / "elsewhere")
    a, b = (Config.from_flat({"init": str(p), "epochs": 2}) for p in (base, moved))
    assert a.config_id == b.config_id != plain.config_id  # the same weights anywhere: one id
    assert Config.from_flat({"init": str(base), "epochs": 3}).config_id != a.config_id


@pytest.mark.parametrize("options, message", [
    (["--rate", "25"], "load the data with --rate 50 --window 2.56"),
    (["--sensors", "acc"], "load the data with --sensors acc,gyro"),
    (["--gyro-drift", "0.1"], "preprocessing gyro_drift_cutoff_hz 0.1 (not None): load the data with no --gyro-drift"),
    (["--model", "deepcnn"], "is a cnn network: leave out --model"),
    (["--filters", "8"], "has filters=4, which fine-tuning cannot change: leave out --filters"),
    (["--no-standardize"], "standardizes its input, and its standardizer is reused: leave out --no-standardize"),
])
def test_what_cannot_start_from_the_model_is_one_clear_error(base, recordings, tmp_path, capsys, options, message):
    code = main(["train", "--data", str(recordings), "--init", str(base), "--save", str(tmp_path / "m"),
                 "--epochs", "1", "--quiet", *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and not (tmp_path / "m").exists()


def test_the_data_is_loaded_as_the_model_reads_it(base, recordings, tmp_path, capsys):
    """A model of 2 s windows at 25 Hz: the data is loaded so without being told."""
    data = load_dataset(recordings, sampling_rate=25, window_seconds=2.0)
    small = train_model(Config.from_flat(TINY), data, seed=0).save(tmp_path / "small")
    code = main(["train", "--data", str(recordings), "--init", str(small), "--save", str(tmp_path / "m"),
                 "--epochs", "1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "--rate 25 --window 2 --sensors acc,gyro" in out
    assert load_model(tmp_path / "m").spec.window == 50
    bad = main(["evaluate", "--data", str(recordings), "--init", str(tmp_path / "nothing"), "--epochs", "1",
                "--out", str(tmp_path / "e")])
    assert bad == 2 and "no such model folder" in capsys.readouterr().err


def test_every_training_command_takes_init(base, recordings, tmp_path, capsys):
    common = ["--data", str(recordings), "--init", str(base), "--epochs", "1", "--quiet", "--cv", "subjects:3"]
    assert main(["evaluate", *common, "--repeats", "1", "--out", str(tmp_path / "e")]) == 0
    record = json.loads((tmp_path / "e" / "config.json").read_text())
    assert record["config"]["init"] == str(base)
    assert main(["study", "custom", *common, "--grid", "learning_rate=0.001,0.0005", "--repeats", "1",
                 "--out", str(tmp_path / "s")]) == 0
    pytest.importorskip("optuna")
    space = tmp_path / "space.toml"
    space.write_text("[space]\nlearning_rate = {low = 1e-4, high = 1e-2, log = true}\n")
    tune = [arg if arg != "subjects:3" else "holdout:1" for arg in common]
    assert main(["tune", "--space", str(space), *tune, "--trials", "1", "--inner-cv", "holdout:1",
                 "--final-repeats", "1", "--out", str(tmp_path / "t")]) == 0
    capsys.readouterr()


def test_the_estimator_fine_tunes_and_adopts_the_input_spec(base, dataset):
    from harcnn.serving.estimator import HARClassifier

    labels = np.array(dataset.class_names)[dataset.y]
    labels = np.where(labels == "walking", "running", labels)
    clf = HARClassifier(init=str(base), epochs=1, random_state=0).fit(dataset.X, labels)
    assert clf.model_.spec.sampling_rate == 50 and clf.model_.spec.channels == dataset.spec.channels
    assert clf.model_.init["kept_classes"] == ["lying", "sitting", "standing"] and clf.config().model == "cnn"
    with pytest.raises(HarcnnError, match="filters=4"):
        HARClassifier(init=str(base), filters=16, epochs=1).fit(dataset.X, labels)


def test_pretext_tasks_transform_as_their_labels_say(dataset):
    from harcnn.data.pretext import PRETEXT_CLASSES, permute_chunks, pretext_dataset, time_warp

    assert PRETEXT_CLASSES[0] == "original" and PRETEXT_CLASSES[7] == "reversed+permuted+warped"
    windows = replace(dataset, y=np.zeros(len(dataset), np.int64), spec=replace(dataset.spec, classes=PRETEXT_CLASSES))
    data = pretext_dataset(windows, seed=3, copies=2)
    assert len(data) == 2 * len(windows) and set(np.unique(data.y)) == set(range(8))
    original = np.concatenate([windows.X] * 2)
    plain, reversed_only = data.y == 0, data.y == 4
    np.testing.assert_array_equal(data.X[plain], original[plain])
    np.testing.assert_array_equal(data.X[reversed_only], original[reversed_only][:, ::-1])
    rng = np.random.default_rng(0)
    window = np.arange(128, dtype=np.float32)[:, None].repeat(2, axis=1)
    permuted = permute_chunks(window, rng)
    assert sorted(permuted[:, 0]) == sorted(window[:, 0]) and not np.array_equal(permuted, window)
    warped = time_warp(window, rng)
    assert warped[0, 0] == 0 and warped[-1, 0] == pytest.approx(127) and np.all(np.diff(warped[:, 0]) > 0)


def test_a_tiny_pretrain_run_is_a_starting_point(recordings, tmp_path, capsys):
    args = ["pretrain", "--data", str(recordings), "--save", str(tmp_path / "ssl"), "--epochs", "1", "--filters", "4",
            "--dense-units", "8", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pretext accuracy" in out and f"--init {tmp_path / 'ssl'}" in out
    ssl = load_model(tmp_path / "ssl")
    assert len(ssl.class_names) == 8 and ssl.timeline == {}
    assert main(["train", "--data", str(recordings), "--init", str(tmp_path / "ssl"), "--save", str(tmp_path / "m"),
                 "--epochs", "1", "--quiet"]) == 0
    assert load_model(tmp_path / "m").init["kept_classes"] == []
    assert main(args) == 2 and "is already there" in capsys.readouterr().err  # never over an earlier output


# ------------------------------------------------------------------------------------------------ built-in models


def test_every_built_in_model_loads_with_its_card():
    from harcnn.models.saved import builtin_card, builtin_names

    names = builtin_names()
    assert {"phone", "phone-acc"} <= set(names)
    for name in names:
        model = load_model(f"builtin:{name}")
        card = builtin_card(name)
        assert model.builtin == name and model.describe().startswith(f"builtin:{name}, ")
        assert card["classes"] == list(model.class_names) and card["bytes"] < 5e6
        for key in ("summary", "data", "input", "placement", "accuracy", "protocol", "licences"):
            assert card.get(key), (name, key)
        assert "CC BY 4.0" in card["licences"]
    assert load_model("builtin:phone").spec.preprocessing["sensors"] == ["acc", "gyro"]
    assert load_model("builtin:phone-acc").spec.preprocessing["sensors"] == ["acc"]
    with pytest.raises(HarcnnError, match="no such built-in model"):
        load_model("builtin:watch")


def test_models_builtin_lists_the_cards(capsys):
    assert main(["models", "--builtin"]) == 0
    out = capsys.readouterr().out
    assert "builtin:phone:" in out and "builtin:phone-acc:" in out and "licences" in out
    assert main(["models", "--builtin", "watch"]) == 2


def test_predict_without_a_model_uses_the_built_in_that_fits(recordings, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(one_file_recording(recordings)), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "the built-in model builtin:phone," in out and "Wrote" in out


def test_an_accelerometer_recording_gets_phone_acc(recordings, tmp_path, capsys, monkeypatch):
    import csv

    monkeypatch.chdir(tmp_path)
    with open(one_file_recording(recordings), newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0]) if not name.startswith("gyro")]
    with open(tmp_path / "acc.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[row[i] for i in keep] for row in rows])
    assert main(["predict", str(tmp_path / "acc.csv"), "--no-plot"]) == 0
    assert "builtin:phone-acc," in capsys.readouterr().out
    windows = tmp_path / "w.npy"
    np.save(windows, np.zeros((2, 128, 9), np.float32))
    assert main(["predict", str(windows)]) == 2
    assert "give a model for windows and datasets" in capsys.readouterr().err
    assert main(["predict", "builtin:phone", str(tmp_path / "acc.csv"), "--no-plot", "--force"]) == 2
    assert "has no gyro data" in capsys.readouterr().err


def test_the_labelling_app_gets_the_built_in_model(recordings):
    from harcnn.labelling.timelines import ModelTimelines
    from harcnn.serving.builtin import builtin_model_for
    from harcnn.serving.predict import read_recording

    recording = read_recording(one_file_recording(recordings))
    assert builtin_model_for(recording).builtin == "phone"
    timeline = ModelTimelines().timeline("r", recording)
    assert timeline["available"] and timeline["model"].startswith("builtin:phone,")
