"""Ensembles of repeats (saved probabilities), the leaderboard, the feature-baseline command and the
validation-only selection; all on the tiny generated dataset with tiny models."""

import csv
import json

import numpy as np
import pytest

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.core.metrics import accuracy
from harcnn.data import load_uci_har
from harcnn.data.splits import Protocol
from harcnn.experiments import TrialJob, evaluate, executors, run_trials
from harcnn.experiments.ensembles import load_probabilities, probability_path, save_probabilities
from harcnn.experiments.executors import InProcessExecutor
from harcnn.experiments.leaderboard import LEADERBOARD_COLUMNS, leaderboard_spec, run_leaderboard
from harcnn.experiments.selection import select_by_validation
from harcnn.experiments.store import ResultStore
from harcnn.experiments.study import grid_study, run_study
from harcnn.experiments.trials import Trial
from harcnn.models.config import Config
from harcnn.training.inference import average_probabilities

TINY = {"epochs": 1, "filters": 4}
TINY_MODELS = {"cnn": {"dense_units": 8}, "deepcnn": {"blocks": 1, "convs_per_block": 1}}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- ensembles --------------------------------------------------------------------------------


def ensemble_accuracy(probabilities, y) -> float:
    return accuracy(y, average_probabilities(probabilities).argmax(axis=1))


def test_ensemble_accuracy_matches_a_hand_computation():
    # 3 windows, 2 classes, 2 models. Model A: right, wrong, right. Model B: wrong, right, wrong
    # but confident on window 1 (index 1), unsure elsewhere.
    a = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.4, 0.6], [0.1, 0.9], [0.55, 0.45]])
    y = np.array([0, 1, 1])
    # averages: [0.65, 0.35] -> 0 (right), [0.35, 0.65] -> 1 (right), [0.375, 0.625] -> 1 (right)
    assert ensemble_accuracy([a, b], y) == 1.0
    assert ensemble_accuracy(np.stack([a, b]), y) == 1.0
    assert ensemble_accuracy(a, y) == pytest.approx(2 / 3)
    assert ensemble_accuracy([b], y) == pytest.approx(1 / 3)
    with pytest.raises(HarcnnError, match="shape"):
        average_probabilities([a, b[:2]])


def test_probabilities_are_saved_atomically_and_loaded(tmp_path):
    rng = np.random.default_rng(0)
    probas = rng.dirichlet(np.ones(6), size=(3, 5))  # [repeats, windows, classes], float64
    for r in (0, 2):  # repeat 1 is missing (a run killed before it)
        path = save_probabilities(tmp_path, "abc", "subject 12", r, probas[r])
        assert path == tmp_path / "probabilities" / f"abc-subject-12-r{r}.npy"
    names = sorted(p.name for p in (tmp_path / "probabilities").iterdir())
    assert names == ["abc-subject-12-r0.npy", "abc-subject-12-r2.npy"]
    found, loaded = load_probabilities(tmp_path, "abc", "subject 12", range(3))
    assert found == [0, 2] and loaded.dtype == np.float32 and loaded.shape == (2, 5, 6)
    np.testing.assert_allclose(loaded, probas[[0, 2]], rtol=1e-6)
    assert load_probabilities(tmp_path, "other", "subject 12", range(3)) == ([], None)
    assert load_probabilities(tmp_path, "abc", "official", range(3)) == ([], None)
    save_probabilities(tmp_path, "abc", "subject 12", 0, probas[1])  # a rerun overwrites
    np.testing.assert_allclose(load_probabilities(tmp_path, "abc", "subject 12", [0])[1][0], probas[1], rtol=1e-6)


def test_trials_carry_probabilities_but_results_json_does_not(uci_folder, tmp_path):
    dataset = load_uci_har(uci_folder)
    config = Config.from_flat({**TINY, "dense_units": 8})
    fold = Protocol("official").folds(dataset.subject, dataset.split)[0]
    outcomes = run_trials(dataset, TrialJob(config, "cnn", fold, (0, 1), (11, 12)))
    for outcome in outcomes:
        p = outcome.test_proba
        assert p.dtype == np.float32 and p.shape == (len(dataset.test), 6)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
        assert outcome.test_accuracy == pytest.approx(float((p.argmax(1) == dataset.test.y).mean()))
        assert "test_proba" not in outcome.to_dict()
    result = evaluate(dataset, config, repeats=2, seed=3)
    manual = ensemble_accuracy([t.test_proba for t in result.trials], dataset.test.y)
    assert result.ensemble_accuracy == manual
    result.save(tmp_path / "ev")
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["ensemble_accuracy"] == manual and "test_proba" not in saved["trials"][0]
    with np.load(tmp_path / "ev" / "test_probabilities.npz") as npz:
        assert npz["official"].shape == (2, len(dataset.test), 6)
        assert npz["official/index"].tolist() == np.flatnonzero(dataset.split == "test").tolist()


def test_evaluate_cli_prints_the_ensemble(capsys, uci_folder, tmp_path):
    code, out, err = run(capsys, "evaluate", "--data", uci_folder, "--repeats", 2, "--epochs", 1, "--filters", 4,
                         "--dense-units", 8, "--out", tmp_path / "e", "--quiet", "--workers", 1)
    assert code == 0, err
    assert "Ensemble of the 2 repeats (probabilities averaged): " in out
    assert json.loads((tmp_path / "e" / "results.json").read_text())["ensemble_accuracy"] is not None


def test_study_saves_probabilities_before_committing(uci_folder, tmp_path, monkeypatch):
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3, 5]}, settings={**TINY, "dense_units": 8})
    seen = []
    original = ResultStore.add

    def add(self, record):  # the file is already there when the row is committed
        seen.append(probability_path(self.folder, record.config_id, record.fold, record.repeat).is_file())
        return original(self, record)

    monkeypatch.setattr(ResultStore, "add", add)
    folder = tmp_path / "study"  # beside the data (tmp_path/data), never around it
    result = run_study(dataset, spec, folder, repeats=2, progress=False, log=lambda _: None,
                       executor=InProcessExecutor())
    assert seen == [True] * 4
    with open(folder / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        records = [r for r in result.records if r.label == row["label"]]
        _, probas = load_probabilities(folder, records[0].config_id, "official", [0, 1])
        assert row["ensemble_n"] == "2"
        assert float(row["ensemble_accuracy"]) == ensemble_accuracy(probas, dataset.test.y)


# -- selection ----------------------------------------------------------------------------------


def _record(label, repeat, val, test):
    return Trial(study="s", config={"model": "cnn", "label": label}, config_id=label, label=label, fold="official",
                 repeat=repeat, seed=repeat, test_accuracy=test, val_accuracy=val)


def test_selection_uses_validation_only():
    records = [_record("a", 0, 0.90, 0.99), _record("a", 1, 0.92, 0.99),
               _record("b", 0, 0.95, 0.80), _record("b", 1, 0.93, 0.82)]
    chosen = select_by_validation(records)
    assert chosen.label == "b" and chosen.val_mean == pytest.approx(0.94) and chosen.test_mean == pytest.approx(0.81)
    assert [label for label, *_ in chosen.ranking] == ["b", "a"]
    assert "Chosen on validation only" in chosen.describe()
    with pytest.raises(HarcnnError, match="validation subjects"):
        select_by_validation([_record("a", 0, None, 0.9)])


def test_study_select_val(capsys, uci_folder, tmp_path):
    code, out, err = run(capsys, "study", "custom", "--grid", "kernel=3,5", "--epochs", 1, "--filters", 4,
                         "--dense-units", 8, "--repeats", 1, "--validation-subjects", 1, "--select", "val",
                         "--data", uci_folder, "--out", tmp_path, "--quiet", "--workers", 1)
    assert code == 0, err
    assert "Chosen on validation only: kernel_size=" in out
    code, out, err = run(capsys, "study", "custom", "--grid", "kernel=3", "--select", "val", "--data", uci_folder,
                         "--out", tmp_path, "--quiet")
    assert code == 2 and "--validation-subjects N" in err


# -- leaderboard --------------------------------------------------------------------------------


def _leaderboard_argv(uci_folder, folder, *extra):
    return ["leaderboard", "--models", "cnn,deepcnn", "--repeats", 2, "--epochs", 1, "--filters", 4,
            "--model-set", "cnn:dense_units=8", "--model-set", "deepcnn:blocks=1", "--model-set",
            "deepcnn:convs_per_block=1", "--data", uci_folder, "--out", folder, "--quiet", "--workers", 1, *extra]


def test_leaderboard_cli_writes_tables_and_resumes(capsys, uci_folder, tmp_path, monkeypatch):
    folder = tmp_path / "board"
    code, out, err = run(capsys, *_leaderboard_argv(uci_folder, folder, "--validation-subjects", 1, "--baselines",
                                                    "logreg"))
    assert code == 0, err
    assert "| # | model |" in out and "Chosen on validation only:" in out
    with open(folder / "leaderboard.csv") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == LEADERBOARD_COLUMNS
        rows = list(reader)
    assert [r["kind"] for r in rows] == ["network", "network", "ensemble", "features"]
    assert {r["model"] for r in rows[:2]} == {"cnn", "deepcnn"}
    assert rows[2]["model"] == "ensemble: all models" and rows[3]["model"] == "logreg (raw features)"
    dataset = load_uci_har(uci_folder)
    for row in rows[:2]:
        assert row["repeats"] == "2" and int(row["parameters"]) > 0
        assert 0 <= float(row["accuracy_mean"]) <= 1 and row["val_accuracy_mean"] != ""
        assert float(row["latency_ms_per_window_batched"]) > 0 and float(row["latency_ms_single_window"]) > 0
        _, probas = load_probabilities(folder, row["config_id"], "official", [0, 1])
        assert float(row["ensemble_accuracy"]) == ensemble_accuracy(probas, dataset.test.y)
    cnn = next(r for r in rows if r["model"] == "cnn")
    assert cnn["settings"] == "filters=4 dense_units=8"
    assert float(rows[0]["accuracy_mean"]) >= float(rows[1]["accuracy_mean"])
    markdown = (folder / "leaderboard.md").read_text()
    assert "| # | model |" in markdown and "**Protocol.**" in markdown
    assert "whole training subjects held out" in markdown and "scored on its test subjects once" in markdown
    assert markdown.count("\n| ") == 1 + 4  # the separator line starts with '|---', then 4 rows
    html = (folder / "report.html").read_text()
    assert "<h2>Leaderboard</h2>" in html and "Leaderboard protocol" in html

    calls = []
    original = executors.run_trials
    monkeypatch.setattr(executors, "run_trials", lambda *a, **k: calls.append(a[1].config.model) or original(*a, **k))
    code, out, err = run(capsys, *_leaderboard_argv(uci_folder, folder, "--validation-subjects", 1, "--repeats", 3,
                                                    "--no-latency"))
    assert code == 0, err
    assert sorted(calls) == ["cnn", "deepcnn"]  # only the third repeat of each model is trained
    with open(folder / "leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["repeats"] for r in rows] == ["3", "3", "6"] and rows[0]["latency_ms_single_window"] == ""


def test_leaderboard_api_and_explicit_ensembles(uci_folder, tmp_path):
    dataset = load_uci_har(uci_folder)
    board = run_leaderboard(dataset, tmp_path / "board", models=["cnn", "deepcnn"], repeats=1, settings=TINY,
                            model_settings=TINY_MODELS, ensembles=[["cnn"], ["cnn", "deepcnn"]], latency=False,
                            executor=InProcessExecutor(), progress=False, log=lambda _: None)
    names = [row["model"] for row in board.rows]
    assert names[2:] == ["ensemble: cnn", "ensemble: all models"]
    cnn = next(row for row in board.rows if row["model"] == "cnn")
    assert board.rows[2]["accuracy_mean"] == cnn["ensemble_accuracy"]
    assert board.selection is None and "Validation accuracy is measured" not in board.markdown()


@pytest.mark.parametrize("argv,message", [
    (["--models", "cnn,nope"], "unknown model 'nope'"),
    (["--models", "cnn", "--width", "1"], "unknown setting 'width'"),
    (["--models", "cnn", "--model-set", "cnn:bogus=1"], "unknown setting 'bogus'"),
    (["--models", "cnn", "--model-set", "lstm:hidden=8"], "not among the leaderboard's models"),
    (["--models", "cnn", "--model-set", "cnn"], "MODEL:KEY=VALUE"),
    (["--models", "cnn", "--baselines", "forest"], "unknown classifier 'forest'"),
    (["--models", "cnn", "--validation-subjects", "half"], "validation_subjects takes an integer"),
    (["--models", "cnn", "--epochs", "0"], "epochs takes an integer from 1 to 10000"),
])
def test_leaderboard_errors_are_one_line(capsys, uci_folder, tmp_path, argv, message):
    code, out, err = run(capsys, "leaderboard", *argv, "--data", uci_folder, "--out", tmp_path / "board", "--quiet")
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_leaderboard_settings_reach_only_the_models_that_have_them():
    spec = leaderboard_spec(["cnn", "lstm"], {"filters": 4, "epochs": 2, "kernel": 5})
    configs = dict(spec.experiment_configs())
    assert configs["cnn"].model_params["filters"] == 4 and configs["cnn"].model_params["kernel_size"] == 5
    assert "filters" not in configs["lstm"].model_params and configs["lstm"].epochs == 2
    assert spec.baseline == "cnn"


# -- features -----------------------------------------------------------------------------------


def test_features_cli(capsys, uci_folder, tmp_path):
    code, out, err = run(capsys, "features", "--classifier", "all", "--data", uci_folder, "--out", tmp_path / "f.json")
    assert code == 0, err
    assert "linear_svm on 324 raw features" in out and "logreg on 324 raw features" in out
    assert out.count(" taken for ") == 4 and "macro-F1" in out
    assert len(json.loads((tmp_path / "f.json").read_text())) == 2


def test_features_cli_engineered_missing_is_one_line(capsys, uci_folder):
    (uci_folder / "test" / "X_test.txt").unlink()
    code, out, err = run(capsys, "features", "--feature-set", "engineered", "--data", uci_folder)
    assert code == 2 and "engineered features are unavailable" in err and len(err.strip().splitlines()) == 1


def test_reused_trials_bring_their_probabilities(uci_folder, tmp_path):
    dataset = load_uci_har(uci_folder)
    quiet = dict(progress=False, log=lambda _: None, executor=InProcessExecutor())
    settings = {**TINY, "dense_units": 8}
    run_study(dataset, grid_study({"kernel_size": [3]}, name="a", settings=settings), tmp_path / "a", repeats=2,
              **quiet)
    result = run_study(dataset, grid_study({"kernel_size": [3]}, name="b", settings=settings), tmp_path / "b",
                       repeats=2, reuse=[tmp_path / "a"], **quiet)
    config_id = result.records[0].config_id
    assert load_probabilities(tmp_path / "b", config_id, "official", [0, 1])[0] == [0, 1]
    with open(tmp_path / "b" / "summary.csv") as handle:
        assert next(csv.DictReader(handle))["ensemble_n"] == "2"
