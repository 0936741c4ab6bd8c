"""Repeated evaluation by protocol, job planning, and behaviour unchanged by the engine redesign."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_uci_har_tree

from harcnn.data import load_uci_har
from harcnn.data.splits import Protocol
from harcnn.experiments import evaluate
from harcnn.models.config import Config


def test_batched_and_one_by_one_repeats_agree(uci_folder):
    dataset = load_uci_har(uci_folder)
    config = Config.from_flat({"filters": 4, "epochs": 2})
    together = evaluate(dataset, config, repeats=3, seed=1)
    alone = evaluate(dataset, config, repeats=3, seed=1, models_per_batch=1)
    np.testing.assert_allclose(together.scores, alone.scores)
    assert [t.seed for t in together.trials] == [t.seed for t in alone.trials]


def test_trial_holds_metrics(uci_folder):
    dataset = load_uci_har(uci_folder)
    result = evaluate(dataset, Config.from_flat({"filters": 4, "epochs": 1}), repeats=1)
    trial = result.trials[0]
    assert np.sum(trial.confusion) == len(dataset.test) and trial.fold == "official" and trial.epochs == 1
    assert set(trial.per_class) == set(dataset.class_names)
    assert set(trial.per_subject) == {str(s) for s in np.unique(dataset.test.subject)}
    assert len(trial.history["loss"]) == 1 and trial.data == dataset.fingerprint
    assert result.summary_line().startswith("Accuracy: ")


def test_per_class_metrics_match_scikit_learn():
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    from harcnn.core.metrics import macro_f1, per_class_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))  # class 3 is never predicted
    ours = per_class_metrics(y, predicted, ["a", "b", "c", "d"])
    expected = precision_recall_fscore_support(y, predicted, labels=range(4), zero_division=0)
    for key, values in zip(("precision", "recall", "f1", "support"), expected):
        np.testing.assert_allclose([ours[c][key] for c in "abcd"], values)
    assert macro_f1(y, predicted, 4) == pytest.approx(f1_score(y, predicted, labels=range(4), average="macro",
                                                                zero_division=0))


def test_validation_accuracy_is_the_kept_epochs(uci_folder):
    dataset = load_uci_har(uci_folder)
    config = Config.from_flat({"filters": 4, "epochs": 6, "validation_subjects": 1, "early_stopping": 1,
                               "learning_rate": 0.05})
    for trial in evaluate(dataset, config, repeats=2).trials:
        best = int(np.argmin(trial.history["val_loss"]))  # the restored epoch: the first lowest loss
        assert trial.val_accuracy == trial.history["val_accuracy"][best]
        assert trial.epochs == len(trial.history["val_loss"]) == min(best + 2, 6)  # 1 epoch of patience


def test_validation_subjects_are_held_out_whole(uci_folder):
    from harcnn.training.fit import fit_networks

    dataset = load_uci_har(uci_folder)
    config = Config.from_flat({"validation_subjects": 1, "standardize": True, "filters": 4, "epochs": 1})
    fitted = fit_networks(config, dataset.train, [1])
    held = fitted.validation_subjects
    assert len(held) == 1
    assert fitted.train_windows == int(np.sum(~np.isin(dataset.train.subject, held)))


def test_config_ids_are_equal_for_equal_values_written_differently():
    base = Config()
    assert Config.from_flat({"model": "cnn", "kernel": 3}).config_id == base.config_id
    assert Config.from_flat({"weight_decay": 0}).config_id == Config.from_flat({"weight_decay": 0.0}).config_id \
        == base.config_id
    assert Config.from_flat({"standardize": "yes", "epochs": "10", "learning_rate": "1e-3"}).config_id == \
        Config.from_flat({"standardize": True}).config_id
    assert Config.from_flat({"model": "multihead", "kernel_sizes": "3,5,11"}).config_id == \
        Config.from_flat({"model": "multihead", "kernel_sizes": [3, 5, 11]}).config_id == Config("multihead").config_id
    assert Config.from_flat({"filters": 32}).config_id != base.config_id
    assert base.to_flat()["filters"] == 64


def test_job_plan_balances_workers_and_starts_with_the_biggest():
    from harcnn.data.uci_har import SPEC
    from harcnn.experiments.executors import plan_jobs

    small, big = Config.from_flat({"filters": 8}), Config.from_flat({"filters": 256})
    fold = Protocol("official").folds(np.array([1, 2]), np.array(["train", "test"]))[0]
    seeds = list(range(10))
    jobs = plan_jobs([("small", small, fold, seeds, seeds), ("big", big, fold, seeds, seeds)], SPEC, None, 2)
    assert [j.label for j in jobs] == ["big", "big", "small"]  # big alone is more than a worker's share
    assert sorted(r for j in jobs if j.label == "big" for r in j.repeats) == seeds
    one = plan_jobs([("small", small, fold, [3, 4], [3, 4])], SPEC, None, 1)
    assert [(j.repeats, j.seeds) for j in one] == [((3, 4), (3, 4))]
    assert [j.size for j in plan_jobs([("s", small, fold, seeds[:5], seeds[:5])], SPEC, 2, 2)] == [2, 2, 1]


@pytest.mark.parametrize("text,folds", [("subjects:3", 3), ("loso", 5), ("holdout:2", 1), ("official", 1)])
def test_protocols_never_split_a_subject(uci_folder, text, folds):
    dataset = load_uci_har(uci_folder)
    made = Protocol.parse(text).folds(dataset.subject, dataset.split)
    assert len(made) == folds and str(Protocol.parse(text)) == text
    for fold in made:
        assert not set(dataset.subject[fold.train]) & set(dataset.subject[fold.test])
        assert len(fold.train) + len(fold.test) == len(dataset)
    if folds > 1:  # every window is tested exactly once
        assert sorted(np.concatenate([f.test for f in made]).tolist()) == list(range(len(dataset)))


def test_cross_validation_reports_folds_and_subjects(uci_folder):
    dataset = load_uci_har(uci_folder)
    result = evaluate(dataset, Config.from_flat({"filters": 4, "dense_units": 8, "epochs": 1}), protocol="subjects:2",
                      repeats=2, seed=3)
    assert len(result.trials) == 4 and len(result.per_fold()) == 2
    assert set(result.per_subject()) == {str(s) for s in np.unique(dataset.subject)}
    assert result.ensemble_accuracy is not None and "over 2 folds x 2 repeats" in result.summary_line()
    seeds = {(t.fold, t.repeat): t.seed for t in result.trials}
    assert len(set(seeds.values())) == 4  # every (fold, repeat) its own network


#: bfloat16 keeps 8 significant bits: one rounding is up to 2^-9 relative, and CPUs with AVX-512 BF16 or AMX
#: run bf16 convolutions on other kernels (other rounding and summation order) than AVX2 ones, which
#: emulate them. Two bf16 ulps (2^-7) bound what that moves in a loss or a probability sum after an epoch;
#: a test window whose top two probabilities are that close may change its prediction.
BF16_RTOL = 2.0 ** -7


def test_same_seeds_give_the_same_trials_as_before_the_engine_redesign():
    """Scores, losses and validation accuracies recorded with harcnn before the redesign (torch 2.13.0 CPU,
    one thread): the same seeds still give the same trials. fp32 is compared to float rounding on every
    CPU kind; bf16 (whose kernels differ between CPU kinds) within its own rounding, :data:`BF16_RTOL`."""
    reference = json.loads((Path(__file__).parent / "reference_trials.json").read_text())
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        made = reference["dataset"]
        dataset = load_uci_har(make_uci_har_tree(root, n_train=made["n_train"], n_test=made["n_test"],
                                                 seed=made["seed"]), cache_dir=Path(root) / "c", progress=False)
        for name, case in reference["trials"].items():
            per_batch = 1 if name.endswith("alone") else None
            result = evaluate(dataset, Config.from_flat(case["flat"]), repeats=reference["repeats"],
                              seed=reference["seed"], models_per_batch=per_batch)
            bf16 = case["flat"].get("precision") == "bf16"
            rtol = BF16_RTOL if bf16 else 1e-5
            one_window = 1.0 / made["n_test"] + 1e-9 if bf16 else 1e-7
            assert [t.seed for t in result.trials] == case["seeds"], name
            np.testing.assert_allclose([t.test_accuracy for t in result.trials], case["test_accuracy"], rtol=0,
                                       atol=one_window, err_msg=name)
            for trial, loss in zip(result.trials, case["loss"]):
                np.testing.assert_allclose(trial.history["loss"], loss, rtol=rtol, err_msg=name)
            assert [t.val_accuracy for t in result.trials] == pytest.approx(case["val_accuracy"], abs=1e-6), name
            np.testing.assert_allclose([float(np.float64(t.test_proba).sum(axis=0)[0]) for t in result.trials],
                                       case["proba_sum"], rtol=BF16_RTOL if bf16 else 1e-4, err_msg=name)
