import numpy as np

from harcnn.data import load_uci_har
from harcnn.experiments import ExperimentConfig, evaluate
from harcnn.experiments.trials import prepare_data


def test_batched_and_one_by_one_repeats_agree(uci_folder):
    dataset = load_uci_har(uci_folder)
    config = ExperimentConfig.from_flat({"filters": 4, "epochs": 2})
    together = evaluate(dataset, config, repeats=3, seed=1)
    alone = evaluate(dataset, config, repeats=3, seed=1, models_per_batch=1)
    np.testing.assert_allclose(together.scores, alone.scores)
    assert [o.seed for o in together.outcomes] == [o.seed for o in alone.outcomes]


def test_outcome_holds_metrics(uci_folder):
    dataset = load_uci_har(uci_folder)
    result = evaluate(dataset, ExperimentConfig.from_flat({"filters": 4, "epochs": 1}), repeats=1)
    outcome = result.outcomes[0]
    assert np.sum(outcome.confusion) == len(dataset.test)
    assert set(outcome.per_class) == set(dataset.class_names)
    assert len(outcome.history["loss"]) == 1
    assert result.summary_line().startswith("Accuracy: ")


def test_per_class_metrics_match_scikit_learn():
    from sklearn.metrics import precision_recall_fscore_support

    from harcnn.experiments.trials import per_class_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))  # class 3 is never predicted
    ours = per_class_metrics(y, predicted, ["a", "b", "c", "d"])
    expected = precision_recall_fscore_support(y, predicted, labels=range(4), zero_division=0)
    for key, values in zip(("precision", "recall", "f1", "support"), expected):
        np.testing.assert_allclose([ours[c][key] for c in "abcd"], values)


def test_validation_accuracy_is_the_kept_epochs(uci_folder):
    dataset = load_uci_har(uci_folder)
    config = ExperimentConfig.from_flat({"filters": 4, "epochs": 6, "validation_subjects": 1, "early_stopping": 1,
                                         "learning_rate": 0.05})
    for outcome in evaluate(dataset, config, repeats=2).outcomes:
        best = int(np.argmin(outcome.history["val_loss"]))  # the restored epoch: the first lowest loss
        assert outcome.val_accuracy == outcome.history["val_accuracy"][best]


def test_validation_subjects_are_held_out_whole(uci_folder):
    dataset = load_uci_har(uci_folder)
    config = ExperimentConfig.from_flat({"validation_subjects": 1, "standardize": True})
    data = prepare_data(dataset, config)
    held = data.validation_subject_ids
    assert len(held) == 1
    assert len(data.X_train) + len(data.validation[0]) == len(dataset.train)
    assert len(data.X_train) == int(np.sum(~np.isin(dataset.train.subject, held)))


def test_config_id_is_stable_and_complete():
    a = ExperimentConfig.from_flat({"model": "cnn", "kernel": 3})
    b = ExperimentConfig()
    assert a.config_id == b.config_id
    assert ExperimentConfig.from_flat({"filters": 32}).config_id != b.config_id
    assert a.to_flat()["filters"] == 64


def test_job_plan_balances_workers_and_starts_with_the_biggest():
    from harcnn.experiments.executors import plan_jobs

    small, big = ExperimentConfig.from_flat({"filters": 8}), ExperimentConfig.from_flat({"filters": 256})
    jobs = plan_jobs([("small", small, list(range(10))), ("big", big, list(range(10)))], list(range(10)), None, 2)
    assert [j.label for j in jobs] == ["big", "big", "small"]  # big alone is more than a worker's share
    assert sorted(r for j in jobs if j.label == "big" for r in j.repeats) == list(range(10))
    one = plan_jobs([("small", small, [3, 4])], [0, 1, 2, 3, 4], None, 1)
    assert [(j.repeats, j.seeds) for j in one] == [((3, 4), (3, 4))]
    assert [len(j.repeats) for j in plan_jobs([("s", small, list(range(5)))], list(range(5)), 2, 2)] == [2, 2, 1]
