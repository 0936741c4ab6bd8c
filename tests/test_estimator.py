import numpy as np
import pytest

from harcnn.serving.estimator import HARClassifier
from harcnn.core.errors import HarcnnError
from test_training import toy_problem

SMALL = {"filters": 8, "dense_units": 16}


def test_fit_predict_score_with_string_labels():
    X, y = toy_problem(300)
    names = np.array(["sit", "stand", "walk"])
    clf = HARClassifier(**SMALL, n_models=2, epochs=8, batch_size=16, random_state=0)
    assert clf.fit(X, names[y]) is clf
    X_test, y_test = toy_problem(100, seed=1)
    assert clf.score(X_test, names[y_test]) > 0.9
    assert set(clf.predict(X_test)) <= set(names)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (100, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert list(clf.classes_) == list(names) and clf.n_features_in_ == 3
    assert clf.history_.loss.shape == (2, 8)
    assert clf.model_.spec.classes == ("sit", "stand", "walk") and clf.model_.spec.sampling_rate is None


def test_random_state_makes_fits_reproducible():
    X, y = toy_problem(64)
    a = HARClassifier(**SMALL, epochs=1, random_state=3).fit(X, y).predict_proba(X)
    b = HARClassifier(**SMALL, epochs=1, random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_standardize_is_fitted_on_training_data():
    X, y = toy_problem(64)
    clf = HARClassifier(**SMALL, epochs=1, standardize=True, random_state=0).fit(X * 5 + 3, y)
    standardizer = clf.model_.standardizer
    assert standardizer.mean_.shape == (3,)
    # windows of unknown step: no overlap assumed, every sample counts
    assert np.allclose(standardizer.mean_, (X * 5 + 3).reshape(-1, 3).mean(0), atol=1e-5)


def test_params_and_errors():
    clf = HARClassifier(epochs=3)
    assert clf.get_params()["epochs"] == 3
    assert clf.set_params(epochs=4).epochs == 4
    with pytest.raises(ValueError, match="Invalid parameter 'epoch'"):
        clf.set_params(epoch=4)
    with pytest.raises(HarcnnError, match="epochs takes an integer >= 1"):
        HARClassifier(epochs=0).fit(*toy_problem(8))
    with pytest.raises(HarcnnError, match="unknown setting 'width' for model 'cnn'"):
        HARClassifier(width=1.0).fit(*toy_problem(8))
    with pytest.raises(HarcnnError, match="not fitted"):
        clf.predict(np.zeros((2, 32, 3), np.float32))
    X, y = toy_problem(32)
    with pytest.raises(HarcnnError, match="one label per window"):
        clf.fit(X, y[:5])
    fitted = HARClassifier(**SMALL, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(HarcnnError, match="fitted on 3"):
        fitted.predict(np.zeros((2, 32, 4), np.float32))


def test_scikit_learn_clone_grid_search_and_group_cross_validation():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

    X, y = toy_problem(96)
    groups = np.repeat(np.arange(6), 16)  # six "subjects"
    clf = HARClassifier(**SMALL, epochs=2, batch_size=16, random_state=0)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy is not clf
    scores = cross_val_score(clf, X, y, groups=groups, cv=GroupKFold(3))
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(clf, {"filters": [4, 8], "learning_rate": [1e-3, 3e-3]}, cv=GroupKFold(2))
    search.fit(X, y, groups=groups)
    assert set(search.best_params_) == {"filters", "learning_rate"} and len(search.cv_results_["params"]) == 4


def test_every_setting_is_a_parameter_and_the_best_recipe_is_reachable():
    from harcnn.core.settings import SHARED

    params = HARClassifier().get_params()
    assert set(SHARED) <= set(params) and {"filters", "kernel_sizes", "width", "hidden"} <= set(params)
    recipe = HARClassifier("hybrid", standardize=True, epochs=30, lr_schedule="cosine", augment_rotate=90,
                           precision="bf16", validation_subjects=5).config()
    assert recipe.model == "hybrid" and recipe.augment_rotate == 90.0 and recipe.validation_subjects == 5


def test_validation_subjects_need_groups():
    X, y = toy_problem(64)
    with pytest.raises(HarcnnError, match="groups=subjects"):
        HARClassifier(**SMALL, epochs=1, validation_subjects=1).fit(X, y)
    clf = HARClassifier(**SMALL, epochs=2, validation_subjects=1, early_stopping=1, random_state=0)
    clf.fit(X, y, groups=np.repeat(np.arange(4), 16))
    assert clf.history_.val_accuracy is not None


def test_a_fitted_estimator_saves_a_model_that_harcnn_predict_reads(tmp_path, capsys):
    from harcnn.cli import main

    X, y = toy_problem(64)
    names = np.array(["sit", "stand", "walk"])
    clf = HARClassifier(**SMALL, epochs=1, random_state=0).fit(X, names[y])
    clf.save(tmp_path / "model")
    np.save(tmp_path / "windows.npy", X[:10])
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "windows.npy"), "--out",
                 str(tmp_path / "p.csv"), "--no-plot"]) == 0, capsys.readouterr().err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0].startswith("window,activity,confidence") and len(rows) == 11
    predicted = [row.split(",")[1] for row in rows[1:]]
    assert predicted == list(clf.predict(X[:10]))


def test_a_dataset_spec_names_the_classes_of_index_labels(tmp_path, capsys):
    """The README flow: ``fit(data.X, data.y)`` with ``input_spec=data.spec`` saves a model whose classes
    are the dataset's names, so ``harcnn predict`` reads that dataset back."""
    from harcnn.serving.artifact import load_model
    from harcnn.cli import main
    from harcnn.data import load_dataset
    from harcnn.data.example import write_example_recordings

    data = load_dataset(write_example_recordings(tmp_path / "example", people=3, recordings_per_person=1))
    clf = HARClassifier(**SMALL, epochs=1, random_state=0, input_spec=data.spec).fit(data.X, data.y)
    assert list(clf.classes_) == sorted(set(data.y.tolist()))  # scikit-learn's rule: the labels as given
    clf.save(tmp_path / "model")
    assert load_model(tmp_path / "model").class_names == data.class_names
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "example"), "--out", str(tmp_path / "p.csv"),
                 "--no-plot"]) == 0, capsys.readouterr().err
