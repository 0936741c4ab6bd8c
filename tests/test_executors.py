"""The executor seam: jobs submitted at any time, handed back once, dropped on cancel; clear messages
when Ray or Optuna are missing."""

import sys

import pytest

from harcnn.cli import main
from harcnn.core.errors import HarcnnError
from harcnn.data import load_uci_har
from harcnn.data.splits import Protocol
from harcnn.experiments.execution import make_executor
from harcnn.experiments.executors import InProcessExecutor, ProcessExecutor
from harcnn.experiments.trials import TrialJob
from harcnn.models.config import Config


def jobs(dataset, n):
    fold = Protocol("official").folds(dataset.subject, dataset.split)[0]
    config = Config.from_flat({"epochs": 1, "filters": 4, "dense_units": 8})
    return [TrialJob(config, f"job {i}", fold, (i,), (i,)) for i in range(n)]


@pytest.mark.parametrize("executor", [InProcessExecutor(), ProcessExecutor(workers=1)], ids=["in-process", "process"])
def test_a_job_queue_hands_every_job_back_once_and_drops_cancelled_ones(uci_folder, executor):
    dataset = load_uci_har(uci_folder)
    first, *others, last = jobs(dataset, 4)
    with executor.open(dataset) as queue:
        assert queue.completed(timeout=0) == []
        queue.submit(first)
        for job in others:
            queue.submit(job)
        queue.submit(last)
        assert queue.cancel(last) and len(queue) == 3  # not started yet: dropped
        back = []
        while len(queue):
            back += queue.completed(timeout=5)
        assert sorted(job.label for job, _ in back) == ["job 0", "job 1", "job 2"]
        assert all(len(trials) == 1 and trials[0].repeat == job.repeats[0] for job, trials in back)
        assert queue.completed(timeout=0) == [] and not queue.cancel(first)


def test_make_executor_chooses_local_processes_or_ray():
    assert isinstance(make_executor("cpu", 1), InProcessExecutor)
    on_gpu = make_executor("cuda", 2)
    assert isinstance(on_gpu, ProcessExecutor) and on_gpu.resources.gpus == 1 and on_gpu.device == "cuda"
    assert make_executor("cuda").resources.gpus == 1  # in-process by default on a GPU
    with pytest.raises(HarcnnError, match="--address joins a Ray cluster: add --executor ray"):
        make_executor("cpu", address="auto")


def test_missing_ray_and_optuna_are_clear_errors(capsys, uci_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    code = main(["evaluate", "--data", str(uci_folder), "--executor", "ray", "--repeats", "1", "--epochs", "1",
                 "--out", str(tmp_path / "e"), "--quiet"])
    assert code == 2 and "--executor ray needs Ray: pip install 'harcnn[ray]'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "optuna", None)
    space = tmp_path / "space.toml"
    space.write_text("[space]\nepochs = [1, 2]\n")
    code = main(["tune", "--space", str(space), "--data", str(uci_folder), "--quiet"])
    assert code == 2 and "harcnn tune needs Optuna: pip install 'harcnn[tune]'" in capsys.readouterr().err
