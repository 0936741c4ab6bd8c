import json
import os
import subprocess
import sys

import pytest

from harcnn.cli import main
from harcnn.core.settings import parse_assignments


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_writes_results_and_prints_summary(capsys, uci_folder, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "evaluate", "--data", uci_folder, "--repeats", 2, "--epochs", 1,
                         "--filters", 8, "--kernel-size", 5, "--standardize", "--out", out_dir, "--quiet",
                         "--workers", 2)
    assert code == 0, err
    assert "repeat  1/2:" in out and "repeat  2/2:" in out
    assert "Accuracy: " in out and "(+/-" in out
    results = json.loads((out_dir / "results.json").read_text())
    assert results["repeats"] == 2 and len(results["scores"]) == 2
    config = json.loads((out_dir / "config.json").read_text())["config"]
    assert config["filters"] == 8 and config["kernel_size"] == 5 and config["standardize"] is True
    assert (out_dir / "scores.csv").read_text().count("\n") == 3
    assert results["data"]["name"] == "uci_har" and len(results["data"]["fingerprint"]) == 12


def test_evaluate_is_reproducible(capsys, uci_folder, tmp_path):
    for name in ("a", "b"):
        assert run(capsys, "evaluate", "--data", uci_folder, "--repeats", 2, "--epochs", 1, "--filters", 4,
                   "--seed", 5, "--models-per-batch", 1, "--out", tmp_path / name, "--quiet", "--workers", 1)[0] == 0
    a, b = (json.loads((tmp_path / n / "results.json").read_text())["scores"] for n in ("a", "b"))
    assert a == b


def test_multihead_and_extra_settings(capsys, uci_folder, tmp_path):
    code, out, err = run(capsys, "evaluate", "--data", uci_folder, "--model", "multihead", "--repeats", 1,
                         "--epochs", 1, "--filters", 4, "--kernel-sizes", "3,7", "--out", tmp_path / "m",
                         "--quiet", "--workers", 1)
    assert code == 0, err
    config = json.loads((tmp_path / "m" / "config.json").read_text())["config"]
    assert config["kernel_sizes"] == [3, 7]


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--model", "nope"], "unknown model 'nope'"),
    (["evaluate", "--width", "1.0"], "unknown setting 'width' for model 'cnn'"),
    (["study", "custom", "--grid", "oops"], "expected KEY=V1,V2"),
    (["evaluate", "--cv", "subjects:1"], "is not a protocol"),
    (["evaluate", "--cv", "subjects:9"], "cannot make 9 folds of 5 subjects"),
])
def test_bad_options_give_one_line_errors(capsys, uci_folder, argv, message):
    code, out, err = run(capsys, *argv, "--data", uci_folder, "--quiet")
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_data_is_a_clear_error(capsys, tmp_path):
    code, out, err = run(capsys, "data", "info", "--data", tmp_path / "missing.zip")
    assert code == 2 and "missing.zip" in err and "Traceback" not in err


def test_data_info(capsys, uci_zip):
    code, out, err = run(capsys, "data", "info", "--data", uci_zip)
    assert code == 0 and "WALKING" in out and "train" in out


def test_parse_assignments_keeps_text_for_the_settings_to_convert():
    assert parse_assignments(["a=1", "b-c=0.5", "kernel=3,5"]) == {"a": "1", "b_c": "0.5", "kernel_size": "3,5"}


def test_output_to_a_file_is_plain_lines(uci_folder, tmp_path):
    """Off a terminal, no redrawn progress bars: one line per finished trial or epoch."""
    import subprocess
    import sys

    with open(tmp_path / "log.txt", "w") as log:
        code = subprocess.run([sys.executable, "-m", "harcnn.cli", "evaluate", "--data", str(uci_folder), "--repeats",
                               "2", "--epochs", "2", "--filters", "4", "--workers", "1", "--out", str(tmp_path / "e")],
                              stdout=log, stderr=subprocess.STDOUT, timeout=300).returncode
        code_train = subprocess.run([sys.executable, "-m", "harcnn.cli", "train", "--data", str(uci_folder),
                                     "--epochs", "2", "--filters", "4", "--save", str(tmp_path / "m")],
                                    stdout=log, stderr=subprocess.STDOUT, timeout=300).returncode
    text = (tmp_path / "log.txt").read_text()
    assert code == 0 and code_train == 0, text
    assert "\r" not in text and "it/s" not in text
    assert text.count("repeat  1/2:") == 1 and text.count("training cnn: epoch 2/2") == 1


def test_a_single_job_runs_in_process_with_all_threads(uci_folder, tmp_path, monkeypatch):
    import torch

    from harcnn.experiments import executors
    from harcnn.experiments.execution import make_executor

    monkeypatch.setattr(executors, "ProcessPoolExecutor", lambda *a, **k: pytest.fail("started worker processes"))
    seen = []
    original = executors.run_trials
    monkeypatch.setattr(executors, "run_trials", lambda *a, **k: seen.append(torch.get_num_threads()) or
                        original(*a, **k))
    assert main(["evaluate", "--data", str(uci_folder), "--repeats", "1", "--epochs", "1", "--filters", "4",
                 "--workers", "2", "--out", str(tmp_path / "e"), "--quiet"]) == 0
    executor = make_executor("cpu", 2)
    assert seen == [executor.workers * executor.threads]


def test_command_line_sets_how_openmp_threads_wait_before_torch_loads(monkeypatch):
    from harcnn import cli

    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    cli.set_openmp_waits()
    assert os.environ["GOMP_SPINCOUNT"] == cli.OPENMP_SPIN_ROUNDS
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")  # the user's choice stays
    cli.set_openmp_waits()
    assert os.environ["GOMP_SPINCOUNT"] == "5"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # so does a waiting policy
    cli.set_openmp_waits()
    assert "GOMP_SPINCOUNT" not in os.environ
    # it works only before torch loads OpenMP: the command line imports torch after it
    code = "import sys, harcnn.cli; print('torch' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
