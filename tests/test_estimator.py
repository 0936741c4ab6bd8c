import numpy as np
import pytest

from harcnn.estimator import HARClassifier
from harcnn.errors import HarcnnError
from test_training import toy_problem

SMALL = {"filters": 8, "dense_units": 16}


def test_fit_predict_score_with_string_labels():
    X, y = toy_problem(300)
    names = np.array(["sit", "stand", "walk"])
    clf = HARClassifier(model_params=SMALL, n_models=2, epochs=8, batch_size=16, random_state=0)
    assert clf.fit(X, names[y]) is clf
    X_test, y_test = toy_problem(100, seed=1)
    assert clf.score(X_test, names[y_test]) > 0.9
    assert set(clf.predict(X_test)) <= set(names)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (100, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert list(clf.classes_) == list(names) and clf.n_features_in_ == 3
    assert clf.history_.loss.shape == (2, 8)


def test_random_state_makes_fits_reproducible():
    X, y = toy_problem(64)
    a = HARClassifier(model_params=SMALL, epochs=1, random_state=3).fit(X, y).predict_proba(X)
    b = HARClassifier(model_params=SMALL, epochs=1, random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_standardize_is_fitted_on_training_data():
    X, y = toy_problem(64)
    clf = HARClassifier(model_params=SMALL, epochs=1, standardize=True, random_state=0).fit(X * 5 + 3, y)
    assert clf.standardizer_.mean_.shape == (3,)
    assert np.allclose(clf.standardizer_.mean_, (X[:, 16:] * 5 + 3).reshape(-1, 3).mean(0), atol=1e-5)


def test_params_and_errors():
    clf = HARClassifier(epochs=3)
    assert clf.get_params()["epochs"] == 3
    assert clf.set_params(epochs=4).epochs == 4
    with pytest.raises(HarcnnError, match="no parameter 'epoch'"):
        clf.set_params(epoch=4)
    with pytest.raises(HarcnnError, match="not fitted"):
        clf.predict(np.zeros((2, 32, 3), np.float32))
    X, y = toy_problem(32)
    with pytest.raises(HarcnnError, match="one label per window"):
        clf.fit(X, y[:5])
    fitted = HARClassifier(model_params=SMALL, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(HarcnnError, match="fitted on 3"):
        fitted.predict(np.zeros((2, 32, 4), np.float32))
