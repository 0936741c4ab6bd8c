import numpy as np
import pytest
from test_training import toy_problem

from harcnn.core.errors import HarcnnError
from harcnn.serving.estimator import HARClassifier

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
    with pytest.raises(HarcnnError, match="epochs takes an integer from 1 to 10000"):
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
    from harcnn.cli import main
    from harcnn.data import load_dataset
    from harcnn.data.example import write_example_recordings
    from harcnn.serving.artifact import load_model

    data = load_dataset(write_example_recordings(tmp_path / "example", people=3, recordings_per_person=1))
    clf = HARClassifier(**SMALL, epochs=1, random_state=0, input_spec=data.spec).fit(data.X, data.y)
    assert list(clf.classes_) == sorted(set(data.y.tolist()))  # scikit-learn's rule: the labels as given
    clf.save(tmp_path / "model")
    assert load_model(tmp_path / "model").class_names == data.class_names
    assert main(["predict", str(tmp_path / "model"), str(tmp_path / "example"), "--out", str(tmp_path / "p.csv"),
                 "--no-plot"]) == 0, capsys.readouterr().err


# ------------------------------------------------------------------------------ scikit-learn's estimator checks

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

_CHANNELS_NOT_COLUMNS = ("n_features_in_ counts the channels of windows [n, T, C]; a 2-D X is windows [n, T] of one "
                         "channel, so its columns are time steps, not features")
#: The checks a classifier of windows cannot pass, and why.
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in": _CHANNELS_NOT_COLUMNS,
    "check_n_features_in_after_fitting": _CHANNELS_NOT_COLUMNS,
    "check_dtype_object": "a value of X that is not a number is a ValueError (harcnn's DataError: bad data), not "
                          "the TypeError numpy raises (numbers stored as objects are read, see "
                          "test_windows_of_one_channel_and_objects_that_are_numbers)",
}
#: Small and fast, and it learns scikit-learn's blobs; kernel and pooling 1: its 2-D X may have one column.
CHECKED = HARClassifier(filters=4, kernel_size=1, pool_size=1, dense_units=8, epochs=3, learning_rate=0.03,
                        random_state=0)


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_errors_are_value_errors_and_predicting_before_fit_is_not_fitted():
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from harcnn.core.errors import DataError
    from harcnn.core.settings import SettingError

    X, y = toy_problem(32)
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        HARClassifier().predict(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(HARClassifier())
    with pytest.raises(HarcnnError):  # and still a HarcnnError, as before
        HARClassifier().predict_proba(X)
    for bad, message in [(dict(epochs=0), "epochs takes an integer"), (dict(dropout=2), "dropout takes a number")]:
        with pytest.raises(ValueError, match=message) as error:
            HARClassifier(**bad).fit(X, y)
        assert isinstance(error.value, SettingError)
    for X_bad, y_bad, message in [
        (X, y[:5], "one label per window"),
        (X, None, "requires y to be passed"),
        (X, np.linspace(0, 1, 32), "y holds continuous values"),
        (X, np.zeros(32), "y holds 1 class"),
        (X[0, 0], y[:1], "Reshape your data"),
        (X.astype(complex), y, "Complex data not supported"),
        (np.where(np.arange(32)[:, None, None] == 3, np.nan, X), y, "NaN"),
    ]:
        with pytest.raises(ValueError, match=message) as error:
            HARClassifier(**SMALL, epochs=1).fit(X_bad, y_bad)
        assert isinstance(error.value, DataError)


def test_windows_of_one_channel_and_objects_that_are_numbers():
    X, y = toy_problem(64)
    one = X[:, :, 0]  # [n, T]: windows of one channel
    clf = HARClassifier(**SMALL, epochs=1, random_state=0).fit(one, y)
    assert clf.n_features_in_ == 1 and clf.predict(one).shape == (64,)
    np.testing.assert_array_equal(clf.predict_proba(one), clf.predict_proba(one[:, :, None]))
    with pytest.raises(ValueError, match="X has 3 channels; the classifier was fitted on 1"):
        clf.predict(X)
    objects = HARClassifier(**SMALL, epochs=1, random_state=0).fit(one.astype(object), y)
    np.testing.assert_array_equal(objects.predict_proba(one), clf.predict_proba(one))


def test_importing_harcnn_and_its_errors_imports_no_scikit_learn():
    import subprocess
    import sys

    code = "import sys, harcnn, harcnn.core.errors, harcnn.core.settings; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr
