"""harcnn tune: the search space, pruning, resuming after kill -9, the outputs (needs Optuna)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from harcnn.cli import main  # noqa: E402
from harcnn.core.errors import HarcnnError  # noqa: E402
from harcnn.data import load_dataset, load_uci_har  # noqa: E402
from harcnn.experiments import executors  # noqa: E402
from harcnn.experiments.executors import InProcessExecutor  # noqa: E402
from harcnn.experiments.pruning import MedianPruning, median_thresholds  # noqa: E402
from harcnn.experiments.space import parse_space  # noqa: E402
from harcnn.experiments.store import ResultStore  # noqa: E402
from harcnn.experiments.tune import OPTUNA_DB, STUDY_NAME, Pruning, run_tune  # noqa: E402
from harcnn.models.config import Config  # noqa: E402

TINY = ("[settings]\nfilters = 4\ndense_units = 8\nepochs = 2\n"
        "[space]\nlearning_rate = {low = 1e-4, high = 1e-1, log = true}\n")


def load(folder):
    return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{folder / OPTUNA_DB}")


def learnable_windows(path, subjects=6, per_class=4, classes=3):
    """A .npz whose classes differ by a channel offset: any working network learns it in a few epochs."""
    rng = np.random.default_rng(0)
    y = np.tile(np.repeat(np.arange(classes), per_class), subjects)
    subject = np.repeat(np.arange(1, subjects + 1), classes * per_class)
    X = rng.normal(0, 0.3, (len(y), 32, 3)).astype(np.float32)
    X[np.arange(len(y)), :, y] += 2.0
    np.savez(path, X=X, y=y, subject=subject, sampling_rate=50.0)
    return path


# ------------------------------------------------------------------------------------------ the space


def test_space_choices_ranges_and_model_tables():
    space = parse_space({"model": ["cnn", "hybrid"], "lr": {"low": 1e-4, "high": 1e-2, "log": True},
                         "epochs": {"low": 10, "high": 30, "step": 5}, "standardize": [True, False],
                         "dropout": {"low": 0.1, "high": 0.6}, "hybrid": {"blocks": {"low": 2, "high": 4}},
                         "cnn": {"dropout": [0.5]}},
                        {"weight_decay": "0"}, {"epochs": "3"})
    assert space.models == ("cnn", "hybrid") and space.fixed == {"weight_decay": 0.0, "epochs": 3}
    by_name = {d.name: d for d in space.dimensions}
    assert "epochs" not in by_name  # fixed on the command line
    assert by_name["learning_rate"].log and not by_name["learning_rate"].integer
    assert by_name["hybrid.blocks"].integer and by_name["hybrid.blocks"].model == "hybrid"
    assert [d.name for d in space.for_model("cnn")] == ["learning_rate", "standardize", "cnn.dropout"]
    assert [d.name for d in space.for_model("hybrid")] == ["learning_rate", "standardize", "dropout", "hybrid.blocks"]
    study = optuna.create_study()
    study.enqueue_trial({"model": "hybrid"})
    trial = study.ask()
    config = space.sample(trial)
    assert config.model == "hybrid" and 2 <= config.blocks <= 4 and config.epochs == 3
    assert set(trial.params) == {"model", "learning_rate", "standardize", "dropout", "hybrid.blocks"}


@pytest.mark.parametrize("text,message", [
    ("[settings]\nepochs = 2\n", "needs a [space] table"),
    ("[space]\nepochs = [2, 3]\n[grid]\nfilters = [8, 16]\n", "space.toml: a [grid] table is for 'harcnn study custom "
                                                           "--config"),
    ("[space\n", "is not valid"),
    ("[space]\nepochs = {low = 0, high = 3}\n", "[space] epochs: setting epochs=0 is not allowed"),
    ("[space]\nepochs = {low = 1.5, high = 3}\n", "epochs takes an integer"),
    ("[space]\nepochs = {low = 5, high = 2}\n", "low 5 is above high 2"),
    ("[space]\nlearning_rate = {low = 0, high = 1, log = true}\n", "learning_rate takes a number in (0, 10]"),
    ("[space]\nlr_schedule = {low = 1, high = 2}\n", "give a list of choices, not a range"),
    ("[space]\nepochs = 5\n", "a single value belongs in [settings]"),
    ("[space]\nepochs = {low = 1, hi = 2}\n", "a range takes low and high"),
    ("[space]\nbogus = [1, 2]\n", "unknown setting 'bogus'"),
    ("[space]\nmodel = [\"cnn\", \"nope\"]\n", "'nope' is not a registered model"),
    ("[space]\ndropout = [0.2, 1.5]\n", "dropout takes a number in [0, 1)"),
    ("[space]\nepochs = [2, 3]\n[space.lstm]\nhidden = [8]\n", "[space.lstm] is for a model that is not a candidate"),
    ("[space]\nvalidation_subjects = [1, 2]\n", "validation_subjects cannot be searched"),
    ("[settings]\nearly_stopping = 3\n[space]\nepochs = [2, 3]\n", "early_stopping cannot be used"),
    ("[settings]\nepochs = 2\n[space]\nepochs = [2, 3]\n", "both fixed ([settings]) and searched"),
    ("[space]\nmodel = [\"deepcnn\"]\n[space.deepcnn]\nblocks = {low = 2, high = 9}\n", "cannot build deepcnn"),
])
def test_bad_space_files_give_one_clear_error_before_training(capsys, uci_folder, tmp_path, monkeypatch, text,
                                                               message):
    monkeypatch.setattr(executors, "run_trials", lambda *a, **k: pytest.fail("trained"))
    path = tmp_path / "space.toml"
    path.write_text(text)
    code = main(["tune", "--space", str(path), "--data", str(uci_folder), "--out", str(tmp_path / "t"), "--quiet",
                 "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("text,argv,message", [
    ("[space]\nepochs = {low = 0, high = 3}\nlearning_rate = [0.01, 0.02]\n", ["--epochs", "2"],
     "space.toml: [space] epochs: setting epochs=0 is not allowed"),
    ("[space]\nmodel = [\"cnn\", \"hybrid\"]\nepochs = [1, 2]\n[space.hybrid]\nblocks = {low = 0, high = 3}\n",
     ["--model", "cnn"], "space.toml: [space.hybrid] blocks: setting blocks=0 is not allowed"),
    ("[space]\nmodel = [\"cnn\", \"nope\"]\nepochs = [1, 2]\n", ["--model", "cnn"], "'nope' is not a registered model"),
    ("[settings]\nfilters = 0\n[space]\nepochs = [1, 2]\n", ["--filters", "8"], "space.toml: setting filters=0"),
])
def test_space_values_that_the_command_line_overrides_are_checked_too(capsys, tmp_path, text, argv, message):
    path = tmp_path / "space.toml"
    path.write_text(text)
    code = main(["tune", "--space", str(path), "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "t"),
                 "--quiet", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["--cv", "subjects:2"], "tests once, on one test split"),
    (["--inner-cv", "official"], "is not an inner protocol"),
    (["--inner-cv", "subjects:2", "--validation-subjects", "1"], "not both"),
    (["--address", "auto"], "--address joins a Ray cluster"),
])
def test_bad_search_options_are_clear_errors(capsys, uci_folder, tmp_path, argv, message):
    path = tmp_path / "space.toml"
    path.write_text(TINY)
    code = main(["tune", "--space", str(path), "--data", str(uci_folder), "--out", str(tmp_path / "t"), "--quiet",
                 "--workers", "1", *argv])
    assert code == 2 and message in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ pruning


def test_median_thresholds_need_enough_trials_per_epoch():
    curves = [[0.2, 0.5, 0.7], [0.4, 0.6], [0.3, 0.9, 0.8]]
    assert median_thresholds(curves, 3) == {0: 0.3, 1: 0.6}
    assert median_thresholds(curves, 1)[2] == 0.75
    assert median_thresholds([], 1) == {}


def test_the_pruning_callback_stops_a_fit_below_the_median_after_warmup(uci_folder):
    from harcnn.training.fit import fit_networks

    dataset = load_uci_har(uci_folder)
    config = Config.from_flat({"epochs": 6, "filters": 4, "dense_units": 8})
    train, validation = dataset.subset(dataset.subject != 5), dataset.subset(dataset.subject == 5)
    fitted = fit_networks(config, train, [1, 2], validation=validation,
                          callbacks=[MedianPruning({e: 1.01 for e in range(6)}, warmup=2)])
    assert list(fitted.history.stopped_epoch) == [2, 2]  # epochs 0 and 1 are the warm-up
    assert fitted.validation_subjects == [5] and fitted.history.val_accuracy.shape == (2, 3)
    fitted = fit_networks(config, train, [1], validation=validation,
                          callbacks=[MedianPruning({e: -1.0 for e in range(6)}, warmup=0)])
    assert list(fitted.history.stopped_epoch) == [5]  # never below the median: trains to the end
    with pytest.raises(HarcnnError, match="validation_subjects must be 0"):
        fit_networks(config.replace(validation_subjects=1), train, [1], validation=validation)


def test_a_trial_that_cannot_learn_is_pruned_early(tmp_path):
    """Two good trials complete; a learning rate of 10 (the highest allowed) cannot learn: pruned after warm-up."""
    dataset = load_dataset(learnable_windows(tmp_path / "w.npz"))
    space = parse_space({"learning_rate": {"low": 1e-3, "high": 10, "log": True}},
                        {"filters": 8, "dense_units": 16, "epochs": 6})
    folder = tmp_path / "t"
    folder.mkdir()
    study = optuna.create_study(study_name=STUDY_NAME, storage=f"sqlite:///{folder / OPTUNA_DB}", direction="maximize")
    for lr in (0.01, 0.02, 10.0):  # queued trials run first, as a user may queue them
        study.enqueue_trial({"learning_rate": lr})
    result = run_tune(dataset, space, folder, protocol="holdout:2", inner="subjects:2", trials=3, parallel=1,
                      pruning=Pruning(warmup=2, startup=2), final_repeats=0, executor=InProcessExecutor(),
                      progress=False, log=lambda _: None)
    trials = load(folder).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert min(t.value for t in trials[:2]) > 0.8  # chance: 1/3
    assert trials[2].user_attrs["pruned_epoch"] == 3 and trials[2].user_attrs["pruned_fold"] == "inner1"
    assert max(trials[2].intermediate_values) == 2  # epochs 0, 1, 2 reported
    assert result.counts == {"COMPLETE": 2, "PRUNED": 1} and result.best["number"] in (0, 1)
    rows = (folder / "trials.csv").read_text().splitlines()
    assert rows[3].startswith("2,PRUNED,") and ",3,inner1," in rows[3]


# ------------------------------------------------------------------------------------------ resume after kill -9


KILLED_SEARCH = textwrap.dedent("""
    import os, signal, sys
    from harcnn.cli import main
    from harcnn.experiments import executors
    calls, original = [], executors.run_trials
    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of a trial (its second fold)
        return original(*args, **kwargs)
    executors.run_trials = crash
    main(sys.argv[2:])
""")


def test_tune_killed_with_kill_9_resumes_with_no_trial_lost_or_repeated(uci_folder, tmp_path, monkeypatch, capsys):
    space = tmp_path / "space.toml"
    space.write_text(TINY)
    folder = tmp_path / "t"
    argv = ["tune", "--space", str(space), "--data", str(uci_folder), "--out", str(folder), "--trials", "4",
            "--inner-cv", "subjects:2", "--final-repeats", "1", "--workers", "1", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", KILLED_SEARCH, "4", *argv], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    before = load(folder).trials
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]
    assert len(ResultStore(folder).records()) == 3  # trial 0's two folds and trial 1's first

    trained = []
    original = executors.run_trials
    monkeypatch.setattr(executors, "run_trials", lambda *a, **k: trained.append(a[1].fold.name) or original(*a, **k))
    assert main(argv) == 0, capsys.readouterr().err
    assert "trials 1 were running when the last run stopped" in capsys.readouterr().out
    trials = load(folder).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
    rerun = trials[2]
    assert rerun.user_attrs["rerun_of"] == 1 and rerun.params == before[1].params
    assert rerun.user_attrs["reused_folds"] == 1
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    assert len({t.params["learning_rate"] for t in finished}) == len(finished) == 4  # none lost, none twice
    assert trained[0] == "inner2" and len(trained) == 1 + 2 * 2 + 1  # the rerun's missing fold, 2 new trials, final
    keys = [(r.config_id, r.fold, r.repeat) for r in ResultStore(folder).records()]
    assert len(keys) == len(set(keys)) == 8
    summary = json.loads((folder / "tune.json").read_text())
    assert summary["counts"] == {"COMPLETE": 4, "FAIL": 1} and summary["rerun_after_kill"] == [1]
    assert main(argv) == 0  # finished: nothing is trained again
    assert len(load(folder).trials) == 5 and len(trained) == 6


# ------------------------------------------------------------------------------------------ outputs, parallel


def test_tune_in_parallel_on_worker_processes_writes_its_report(capsys, uci_folder, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("settings:\n  filters: 4\n  dense_units: 8\nspace:\n  model: [cnn, deepcnn]\n"
                     "  epochs: {low: 1, high: 2}\n  deepcnn:\n    blocks: [1, 2]\n")
    folder = tmp_path / "t"
    code = main(["tune", "--space", str(space), "--data", str(uci_folder), "--out", str(folder), "--trials", "4",
                 "--parallel", "2", "--inner-cv", "subjects:2", "--final-repeats", "1", "--workers", "2", "--quiet",
                 "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0 and "Best: trial" in out and "Test split, once (1 fresh training)" in out
    summary = json.loads((folder / "tune.json").read_text())
    assert summary["parallel"] == 2 and summary["objective"] == "--inner-cv subjects:2"
    assert sum(summary["counts"].values()) == 4 and summary["final"]["repeats"] == 1
    assert summary["final"]["seed"] != 3 and len(summary["final"]["scores"]) == 1
    assert summary["best"]["value"] == max(t["value"] for t in summary["trials"] if t["state"] == "COMPLETE")
    for name in ("trials.csv", "history.png", "intermediate.png", "report.html", "final/report.html",
                 "final/results.sqlite"):
        assert (folder / name).stat().st_size > 0, name
    html = (folder / "report.html").read_text()
    assert "The test split, once" in html and "data:image/png;base64" in html
    final = ResultStore(folder / "final").records()
    assert {r.fold for r in final} == {"official"} and len(final) == 1  # tested on the test split, once
    inner = ResultStore(folder).records()
    assert {r.fold for r in inner} == {"inner1", "inner2"}  # the search never saw the test subjects
    assert main(["report", str(folder)]) == 0
