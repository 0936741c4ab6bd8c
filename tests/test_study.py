import json
import subprocess
import sys
import textwrap

import pytest

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.data import load_uci_har
from harcnn.experiments import executors
from harcnn.experiments.executors import InProcessExecutor, ProcessExecutor
from harcnn.experiments.store import ResultStore
from harcnn.experiments.study import BUILTIN_STUDIES, grid_study, load_study_file, run_study

FAST = {"epochs": 1, "filters": 4, "dense_units": 8}


def test_builtin_studies_reproduce_the_reference_grids():
    assert [label for label, _ in BUILTIN_STUDIES["filters"].configs] == \
        [f"filters={f}" for f in (8, 16, 32, 64, 128, 256)]
    assert [c["kernel_size"] for _, c in BUILTIN_STUDIES["kernels"].configs] == [2, 3, 5, 7, 11]
    assert BUILTIN_STUDIES["standardize"].baseline == "standardize=false"
    assert [c.model for _, c in BUILTIN_STUDIES["heads"].experiment_configs()] == ["cnn", "multihead"]


def test_grid_expands_to_all_combinations():
    spec = grid_study({"filters": [32, 128], "kernel_size": [5, 7], "standardize": [True]})
    assert [label for label, _ in spec.configs] == [
        "filters=32 kernel_size=5 standardize=true", "filters=32 kernel_size=7 standardize=true",
        "filters=128 kernel_size=5 standardize=true", "filters=128 kernel_size=7 standardize=true"]
    configs = spec.experiment_configs()
    assert len({c.config_id for _, c in configs}) == 4
    assert all(c.standardize for _, c in configs)


def test_study_file(tmp_path):
    path = tmp_path / "best.toml"
    path.write_text('name = "best"\nbaseline = "kernel_size=7"\n[grid]\nkernel_size = [5, 7]\n'
                    '[settings]\nstandardize = true\nfilters = 32\n')
    spec = load_study_file(path)
    assert spec.name == "best" and spec.baseline == "kernel_size=7"
    assert all(c.standardize and c.model_params["filters"] == 32 for _, c in spec.experiment_configs())
    path.write_text("[grid\n")
    with pytest.raises(HarcnnError, match="not valid"):
        load_study_file(path)
    with pytest.raises(HarcnnError, match="unknown setting 'bogus'"):
        grid_study({"bogus": [1]}).experiment_configs()


def test_study_writes_tables_figures_and_report(uci_folder, tmp_path):
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3, 5]}, name="k", settings=FAST)
    result = run_study(dataset, spec, tmp_path / "k", repeats=2, settings={"validation_subjects": 1},
                       progress=False, log=lambda _: None, executor=InProcessExecutor())
    folder = tmp_path / "k"
    assert len(result.records) == 4
    assert all(r.val_accuracy is not None and len(r.history["val_loss"]) == 1 for r in result.records)
    for name in ("summary.csv", "comparison.csv", "results.csv", "study.json", "report.html", "boxplot.png",
                 "histograms.png", "architecture_cnn.png", "learning_curves_one_run.png",
                 "confusion_baseline_counts.png", "confusion_baseline_normalized.png"):
        assert (folder / name).stat().st_size > 0, name
    pngs = sorted(folder.glob("*.png"))
    html = (folder / "report.html").read_text()
    assert html.count("data:image/png;base64") == len(pngs)
    assert (folder / "results.csv").read_text().count("\n") == 5
    assert result.summary_lines()[0].startswith("kernel_size=3: ")


def test_rerun_skips_finished_trials(uci_folder, tmp_path, monkeypatch):
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3]}, settings=FAST)
    folder = tmp_path / "study"  # beside the data (tmp_path/data), never around it
    run_study(dataset, spec, folder, repeats=2, progress=False, log=lambda _: None, executor=InProcessExecutor())
    calls = []
    original = executors.run_trials
    monkeypatch.setattr(executors, "run_trials", lambda *a, **k: calls.append(a[1].repeats) or original(*a, **k))
    result = run_study(dataset, spec, folder, repeats=3, progress=False, log=lambda _: None,
                       executor=InProcessExecutor())
    assert calls == [(2,)]  # only the new repeat is trained
    assert sorted(r.repeat for r in result.records) == [0, 1, 2]


def test_progress_counts_each_trial_once(uci_folder, tmp_path, monkeypatch):
    """The bar reaches the number of trials and never passes it, on a fresh run and on a resumed one."""
    from harcnn.core.progress import ProgressBar

    seen = []
    monkeypatch.setattr(ProgressBar, "update_to", lambda self, done: seen.append(done))
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3, 5]}, settings=FAST)
    for repeats in (1, 2):  # 2 trials, then 2 more on top of them (resumed)
        seen.clear()
        run_study(dataset, spec, tmp_path / "study", repeats=repeats, models_per_batch=1, progress=True,
                  log=lambda _: None, executor=InProcessExecutor())
        total = 2 * repeats
        assert seen and max(seen) <= total + 1e-9 and abs(seen[-1] - total) < 1e-9


CRASHING_RUN = textwrap.dedent("""
    import os, signal, sys
    from harcnn.data import load_uci_har
    from harcnn.experiments import executors
    from harcnn.experiments.study import grid_study, run_study
    calls = []
    original = executors.run_trials
    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # dies in the middle of a trial
        return original(*args, **kwargs)
    executors.run_trials = crash_on_third
    spec = grid_study({"kernel_size": [3, 5]}, settings={"epochs": 1, "filters": 4, "dense_units": 8})
    run_study(load_uci_har(sys.argv[1]), spec, sys.argv[2], repeats=2, models_per_batch=1, progress=False,
              executor=executors.InProcessExecutor())
""")


def test_resume_after_kill_9_loses_nothing_and_repeats_nothing(uci_folder, tmp_path):
    folder = tmp_path / "study"
    crashed = subprocess.run([sys.executable, "-c", CRASHING_RUN, str(uci_folder), str(folder)],
                             capture_output=True, text=True)
    assert crashed.returncode == -9, crashed.stderr
    assert len(ResultStore(folder).completed()) == 2  # the two trials before the crash are kept
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3, 5]}, settings=FAST)
    result = run_study(dataset, spec, folder, repeats=2, models_per_batch=1, progress=False, log=lambda _: None,
                       executor=InProcessExecutor())
    keys = [(r.config_id, r.fold, r.repeat) for r in result.records]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert len(ResultStore(folder).records()) == 4


def test_cli_custom_study_and_report(capsys, uci_folder, tmp_path):
    argv = ["study", "custom", "--grid", "filters=4,6", "kernel=3", "--epochs", "1", "--dense-units", "8",
            "--repeats", "2", "--data", str(uci_folder), "--out", str(tmp_path), "--quiet", "--workers", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "filters=4 kernel_size=3: " in out and "(+/-" in out
    assert main(["report", str(tmp_path / "custom")]) == 0
    assert json.loads((tmp_path / "custom" / "study.json").read_text())["repeats"] == 2


@pytest.mark.parametrize("argv,message", [
    (["study", "custom"], "needs --grid"),
    (["study", "filters", "--cv", "random:5"], "is not a protocol"),
    (["study", "custom", "--grid", "nope=1"], "unknown setting 'nope'"),
    (["study", "kernels", "--epochs", "2.5"], "epochs takes an integer"),
])
def test_cli_study_errors(capsys, uci_folder, argv, message):
    assert main(argv + ["--data", str(uci_folder), "--quiet"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv,text,message", [
    (["study", "filters", "--filters", "32"], None, "study 'filters' varies filters: a value given as an option or in "
                                                   "the --config file's [settings] would be ignored; leave it out"),
    (["study", "all", "--kernel-size", "5"], None, "study 'kernels' varies kernel_size"),
    (["study", "heads"], "[settings]\nmodel = 'lstm'\n", "study 'heads' varies model"),
    (["study", "custom", "--grid", "filters=8,16", "--filters", "4"], None, "study 'custom' varies filters"),
    (["study", "custom"], "name = 'b'\n[settings]\nfilters = 32\n[grid]\nfilters = [8, 16]\n",
     "study 'b' both fixes ([settings]) and varies ([grid]) filters: keep one"),
])
def test_a_setting_that_the_study_varies_cannot_also_be_fixed(capsys, tmp_path, argv, text, message):
    if text is not None:
        (tmp_path / "s.toml").write_text(text)
        argv = [*argv, "--config", str(tmp_path / "s.toml")]
    assert main([*argv, "--data", str(tmp_path / "nowhere"), "--quiet"]) == 2  # before the data is read
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(HarcnnError, match="both fixes"):
        grid_study({"kernel_size": [3, 5]}, settings={"kernel": 3})


def test_a_preset_may_set_what_a_study_varies(capsys, tmp_path):
    assert main(["study", "heads", "--preset", "best", "--data", str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err  # the preset's model gives way to the study's


def test_worker_processes_give_the_same_trials(uci_folder, tmp_path):
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3, 5]}, settings=FAST)
    a = run_study(dataset, spec, tmp_path / "a", repeats=2, progress=False, log=lambda _: None,
                  executor=InProcessExecutor())
    b = run_study(dataset, spec, tmp_path / "b", repeats=2, progress=False, log=lambda _: None,
                  executor=ProcessExecutor(workers=2))
    scores = lambda result: sorted((r.label, r.repeat, r.test_accuracy) for r in result.records)  # noqa: E731
    assert scores(a) == scores(b)


def test_identical_trials_are_reused_from_other_studies(uci_folder, tmp_path, monkeypatch):
    dataset = load_uci_har(uci_folder)
    quiet = dict(progress=False, log=lambda _: None, executor=InProcessExecutor())
    first = run_study(dataset, grid_study({"kernel_size": [3, 5]}, name="a", settings=FAST), tmp_path / "a",
                      repeats=2, **quiet)
    calls = []
    original = executors.run_trials
    monkeypatch.setattr(executors, "run_trials",
                        lambda *a, **k: calls.append(a[1].config.model_params) or original(*a, **k))
    second = run_study(dataset, grid_study({"kernel_size": [7, 3]}, name="b", settings=FAST), tmp_path / "b",
                       repeats=2, reuse=[tmp_path / "a", tmp_path / "missing"], **quiet)
    assert [params["kernel_size"] for params in calls] == [7]  # kernel 3 was copied, not trained
    copied = sorted((r.repeat, r.test_accuracy) for r in second.records if r.label == "kernel_size=3")
    assert copied == sorted((r.repeat, r.test_accuracy) for r in first.records if r.label == "kernel_size=3")
    assert all(r.study == "b" for r in second.records)


def test_trials_are_reused_only_from_studies_on_the_same_data(uci_folder, tmp_path, monkeypatch):
    from conftest import make_uci_har_tree

    quiet = dict(progress=False, log=lambda _: None, executor=InProcessExecutor())
    other = load_uci_har(make_uci_har_tree(tmp_path / "other", seed=9), cache_dir=tmp_path / "c")
    run_study(other, grid_study({"kernel_size": [3]}, name="a", settings=FAST), tmp_path / "a", repeats=1, **quiet)
    calls = []
    original = executors.run_trials
    monkeypatch.setattr(executors, "run_trials",
                        lambda *a, **k: calls.append(a[1].config.model_params) or original(*a, **k))
    run_study(load_uci_har(uci_folder), grid_study({"kernel_size": [3]}, name="b", settings=FAST), tmp_path / "b",
              repeats=1, reuse=[tmp_path / "a"], **quiet)
    assert [params["kernel_size"] for params in calls] == [3]  # trained: the trial in "a" is of other data


def test_a_study_folder_refuses_other_data_another_protocol_and_another_seed(uci_folder, tmp_path):
    from conftest import make_uci_har_tree

    quiet = dict(progress=False, log=lambda _: None, executor=InProcessExecutor())
    spec = grid_study({"kernel_size": [3]}, settings=FAST)
    run_study(load_uci_har(uci_folder), spec, tmp_path / "s", repeats=1, **quiet)
    other = load_uci_har(make_uci_har_tree(tmp_path / "other", seed=9), cache_dir=tmp_path / "c")
    with pytest.raises(HarcnnError, match="holds trials on other data .*choose another --out"):
        run_study(other, spec, tmp_path / "s", repeats=1, **quiet)
    with pytest.raises(HarcnnError, match="protocol --cv official, not --cv subjects:2"):
        run_study(load_uci_har(uci_folder), spec, tmp_path / "s", protocol="subjects:2", repeats=1, **quiet)
    with pytest.raises(HarcnnError, match="holds trials of --seed 0, not --seed 5"):
        run_study(load_uci_har(uci_folder), spec, tmp_path / "s", seed=5, repeats=1, **quiet)
    # the same study by cross-validation in a folder of its own: every (fold, repeat) once
    result = run_study(load_uci_har(uci_folder), spec, tmp_path / "cv", protocol="subjects:2", repeats=2, **quiet)
    assert sorted((r.fold, r.repeat) for r in result.records) == [("fold1", 0), ("fold1", 1), ("fold2", 0),
                                                                   ("fold2", 1)]
    assert json.loads((tmp_path / "cv" / "study.json").read_text())["protocol"] == "subjects:2"


def test_study_kernels_takes_the_training_options(capsys, uci_folder, tmp_path):
    code = main(["study", "kernels", "--epochs", "1", "--filters", "4", "--dense-units", "8", "--repeats", "1",
                 "--data", str(uci_folder), "--out", str(tmp_path), "--quiet", "--workers", "1"])
    assert code == 0, capsys.readouterr().err
    grid = json.loads((tmp_path / "kernels" / "study.json").read_text())["grid"]
    assert all(c["epochs"] == 1 and c["filters"] == 4 for c in grid.values()) and len(grid) == 5
