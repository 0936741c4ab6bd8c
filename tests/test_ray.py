"""The Ray executor on a real local Ray runtime (2 CPUs, one per module: Ray starts slowly)."""

import functools
import os
import signal
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from harcnn.data import load_uci_har  # noqa: E402
from harcnn.experiments import evaluate  # noqa: E402
from harcnn.experiments.executors import InProcessExecutor, ProcessExecutor  # noqa: E402
from harcnn.experiments.ray_executor import RayExecutor  # noqa: E402
from harcnn.experiments.store import ResultStore  # noqa: E402
from harcnn.experiments.study import grid_study, run_study  # noqa: E402
from harcnn.experiments.trials import run_trials  # noqa: E402
from harcnn.models.config import Config  # noqa: E402
from harcnn.training.callbacks import Callback  # noqa: E402

pytestmark = pytest.mark.ray

FAST = {"epochs": 2, "filters": 4, "dense_units": 8}
QUIET = dict(progress=False, log=lambda _: None)


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fault below runs in Ray's workers
    yield
    ray.shutdown()


def trial_keys(records):
    return sorted((r.config_id, r.fold, r.repeat, r.seed) for r in records)


def scores(records):
    return [r.test_accuracy for r in sorted(records, key=lambda r: (r.config_id, r.fold, r.repeat))]


def test_a_study_on_ray_gives_the_same_trials_as_on_local_processes(ray_runtime, uci_folder, tmp_path):
    dataset = load_uci_har(uci_folder)
    spec = grid_study({"kernel_size": [3, 5]}, settings=FAST)
    executor = RayExecutor()
    assert executor.workers == 2 and executor.resources.cpus == 1 and executor.resources.gpus == 0
    on_ray = run_study(dataset, spec, tmp_path / "ray", protocol="subjects:2", repeats=2, executor=executor, **QUIET)
    local = run_study(dataset, spec, tmp_path / "local", protocol="subjects:2", repeats=2,
                      executor=ProcessExecutor(workers=2), **QUIET)
    assert trial_keys(on_ray.records) == trial_keys(local.records) and len(on_ray.records) == 8
    np.testing.assert_allclose(scores(on_ray.records), scores(local.records), atol=1e-9)
    executor.close()
    assert ray.is_initialized()  # the runtime was not started by the executor: left running


def test_progress_over_the_cluster_counts_every_trial_once(ray_runtime, uci_folder):
    seen = []
    result = evaluate(load_uci_har(uci_folder), Config.from_flat({**FAST, "epochs": 3}), protocol="subjects:2",
                      repeats=2, models_per_batch=1, executor=RayExecutor(), on_progress=seen.append)
    assert len(result.trials) == 4
    assert seen == sorted(seen) and seen[-1] == pytest.approx(4.0)


class _DieOnce(Callback):
    """Kills its Ray worker in the middle of training, the first time any job gets here (a marker file)."""

    def __init__(self, marker: str):
        self.marker = marker

    def on_step_end(self, trainer, step):
        if step == 2:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)


def _dying_job(marker, dataset, job, **kwargs):
    return run_trials(dataset, job, callbacks=[_DieOnce(marker)], **kwargs)


def test_a_ray_worker_killed_mid_study_loses_nothing_and_stores_nothing_twice(ray_runtime, uci_folder, tmp_path,
                                                                               monkeypatch):
    added = []
    original = ResultStore.add
    monkeypatch.setattr(ResultStore, "add", lambda self, record: added.append(original(self, record)) or added[-1])
    marker = tmp_path / "killed"
    executor = RayExecutor(run_job=functools.partial(_dying_job, str(marker)))
    spec = grid_study({"kernel_size": [3, 5]}, settings=FAST)
    result = run_study(load_uci_har(uci_folder), spec, tmp_path / "s", protocol="subjects:2", repeats=2,
                       models_per_batch=1, executor=executor, **QUIET)
    assert marker.read_text() != str(os.getpid())  # a worker died, not this process
    keys = [(r.config_id, r.fold, r.repeat) for r in ResultStore(tmp_path / "s").records()]
    assert len(keys) == len(set(keys)) == 8 and len(result.records) == 8
    assert added == [True] * 8  # the driver stored every job's trials once


def test_tune_on_ray_gives_the_search_of_one_process_and_runs_trials_in_parallel(ray_runtime, uci_folder, tmp_path):
    optuna = pytest.importorskip("optuna")
    from harcnn.experiments.space import parse_space
    from harcnn.experiments.tune import OPTUNA_DB, STUDY_NAME, run_tune

    dataset = load_uci_har(uci_folder)
    space = parse_space({"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}, "kernel_size": [3, 5]}, FAST)
    options = dict(inner="subjects:2", trials=2, final_repeats=0, **QUIET)

    def search(folder, executor, parallel):
        run_tune(dataset, space, folder, executor=executor, parallel=parallel, **options)
        return optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{folder / OPTUNA_DB}").trials

    on_ray = search(tmp_path / "ray", RayExecutor(), 1)
    alone = search(tmp_path / "one", InProcessExecutor(), 1)
    assert [(t.params, t.state.name) for t in on_ray] == [(t.params, t.state.name) for t in alone]
    np.testing.assert_allclose([t.value for t in on_ray], [t.value for t in alone], atol=1e-9)
    parallel = search(tmp_path / "parallel", RayExecutor(), 2)
    assert [t.state.name for t in parallel] == ["COMPLETE"] * 2
    keys = [(r.config_id, r.fold, r.repeat) for r in ResultStore(tmp_path / "parallel").records()]
    assert len(keys) == len(set(keys)) == 4
