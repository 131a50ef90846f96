"""evaluation.classify's pieces on their own: the least-squares SVM as a scikit-learn estimator, the one folds
function, the temperature fit."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from evaluation.classify.calibration import fit_calibration, fit_temperature
from evaluation.classify.config import SVMConfig
from evaluation.classify.folds import class_folds, make_cv, stratified_folds
from evaluation.classify.lssvm import LeastSquaresSVM
from evaluation.classify.search import approx_svm_search


def blobs(seed=0, per_class=30, classes=4, dims=6, spread=1.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes) * 10 + 3, per_class)
    centres = rng.normal(size=(classes, dims)) * 4
    X = centres[np.searchsorted(np.unique(y), y)] + rng.normal(size=(len(y), dims)) * spread
    return X.astype(np.float32), y


# ---------------------------------------------------------------- the least-squares SVM


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
def test_least_squares_svm_in_a_pipeline_fits_and_predicts(kernel):
    X, y = blobs()
    model = Pipeline([("scale", StandardScaler()), ("svm", LeastSquaresSVM(kernel=kernel, C=1.0, n_components=40))])
    assert model.fit(X, y) is model
    svm = model.named_steps["svm"]
    assert svm.classes_.tolist() == [3, 13, 23, 33] and svm.coef_.shape[1] == 4 and svm.intercept_.shape == (4,)
    assert model.decision_function(X).shape == (len(X), 4)
    assert (model.predict(X) == y).mean() > 0.9 and model.score(X, y) > 0.9
    assert clone(svm).get_params() == svm.get_params() and not hasattr(clone(svm), "coef_")


def test_least_squares_svm_in_a_grid_search_and_the_search_from_statistics_agree():
    X, y = blobs(spread=3.0, seed=2)
    cfg = SVMConfig(kernels=("linear",), C=(0.01, 1.0, 100.0), folds=3)
    ours = approx_svm_search(X, y, cfg)
    peer = GridSearchCV(LeastSquaresSVM(), {"C": list(cfg.C)}, cv=make_cv(y, cfg)).fit(X, y)
    # linear: the standardisation is all that differs (all rows vs each fold's), so the accuracies nearly agree
    assert np.abs(ours.cv_results_["mean_test_score"] - peer.cv_results_["mean_test_score"]).max() <= 0.05
    refit = LeastSquaresSVM(C=ours.best_params_["svm__C"]).fit(X, y)  # the refit from the totals is a plain fit
    np.testing.assert_allclose(ours.best_estimator_.decision_function(X), refit.decision_function(X), atol=1e-4)


def test_a_model_pickled_before_it_was_an_estimator_still_loads():
    X, y = blobs()
    model = LeastSquaresSVM(kernel="rbf", n_components=20).fit(X, y)
    state = dict(model.__dict__)
    state["map"] = state.pop("map_")  # the attribute's old name
    for key in ("kernel", "C", "gamma", "degree", "n_components", "random_state"):
        state.pop(key)
    old = LeastSquaresSVM.__new__(LeastSquaresSVM)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.decision_function(X), model.decision_function(X))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.decision_function(X), model.decision_function(X))


# ---------------------------------------------------------------- folds


def test_one_folds_function_keeps_singletons_in_training_and_shrinks():
    y = np.array([5] * 12 + [7] * 3 + [9] * 2 + [11])
    fold, n = stratified_folds(y, 5, seed=0)
    assert n == 5  # the largest class has 12 rows
    assert fold[-1] == -1 and (fold[:-1] >= 0).all()  # the singleton is never held out
    for f in range(n):
        train = y[fold != f]
        assert set(train.tolist()) == {5, 7, 9, 11}  # every class keeps a training row in every fold
    assert np.array_equal(stratified_folds(y, 5, seed=0)[0], fold)
    assert not np.array_equal(stratified_folds(y, 5, seed=1)[0], fold)
    assert stratified_folds(y, 5, 0, shrink="smallest")[1] == 2  # the smallest class that can be held out: 2
    assert stratified_folds(np.array([1, 1, 2, 2]), 5, 0)[1] == 2  # at least 2 folds
    classes, target, fold2 = class_folds(y, 5, 0)
    assert classes.tolist() == [5, 7, 9] and target[-1] == -1 and np.array_equal(fold2, fold)
    with pytest.raises(ValueError, match="at least 2 classes with 2\\+ rows"):
        class_folds(np.array([1, 1, 2]), 5, 0)


def test_make_cv_gives_the_splits_of_stratified_k_fold():
    """GridSearchCV gets exactly the folds evaluation.svm always had: k shrunk to the smallest class."""
    y = np.repeat([1, 2, 3], [20, 9, 4])
    cv = make_cv(y, SVMConfig(folds=5, seed=3))
    ours = list(cv.split(np.zeros((len(y), 1)), y))
    theirs = list(StratifiedKFold(4, shuffle=True, random_state=3).split(np.zeros((len(y), 1)), y))
    assert len(ours) == 4
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs, strict=True):
        assert np.array_equal(a_train, b_train) and np.array_equal(a_test, b_test)


# ---------------------------------------------------------------- calibration


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20_000, 6)) * 2
    beta = 2.5
    p = np.exp(beta * scores)
    p /= p.sum(axis=1, keepdims=True)
    target = (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)  # drawn from softmax(beta * scores)
    assert fit_temperature(scores, target) == pytest.approx(beta, rel=0.03)
    sets = np.zeros_like(p, dtype=bool)
    sets[np.arange(len(p)), target] = True
    a, b = fit_calibration(scores, None, sets)  # suggest's loss: smoothed targets, the same optimiser
    assert a == pytest.approx(beta, rel=0.03) and b == 0.0
