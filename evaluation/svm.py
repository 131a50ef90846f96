"""python -m evaluation.svm: fc7-style features + SVM, the thesis's Tables 5.1/5.2 (Zaragoza 2016), with scikit-learn.

    python -m evaluation.svm --features out/feats/drawn_alexnet_fc7.h5 --out results/drawn
    python -m evaluation.svm --features feats.h5 --out results/ --protocol thesis --multiclass ovo
    python -m evaluation.svm --features other.h5 --out results/other --model results/drawn/svm.joblib
    python -m evaluation.svm --features lite0.h5 --features lite2.h5 --out results/lite0+lite2
    python -m evaluation.svm --features feats.h5 --out results/drawn --holdout-style all

Trains on the rows of split "train" (parameters chosen by grid search), evaluates on "val"
(and reports "train" too). Classes are the ILSVRC indices present in train; val rows of any
other class cannot be predicted and are only counted (``_info.val_rows_unseen_class``).

Protocols: ``cv`` (default) is stratified k-fold on train; ``thesis`` holds out 20% of train
(stratified, seeded) to choose the parameters, then refits on all of train, as the thesis did.

The default grid (rbf and linear, C in 0.1/1/10, gamma "scale" = 1/D on standardised
features) is 6 candidates x 5 folds. One-vs-rest SVC costs about rows^2 x dims x classes:
one fit on 3200 rows x 1280 dims x 50 classes took ~195 s (rbf) and ~60 s (linear) on one
core, so 4000 train rows take ~70 min with --jobs 1 and ~35 min with --jobs 2 on two cores;
2400 rows about a third of that. The thesis's wider search is

    --kernels rbf,linear,sigmoid,poly --C 0.1,1,10,100 --gamma scale,0.0001,0.001,0.01 --degree 2,3

(over 50 candidates: budget ~10x the default, or use --protocol thesis, one fit per candidate
instead of five; --multiclass ovo fitted the same 3200 rows in 8 s instead of ~190 s).

Many rows (``--solver``, default ``auto``): the exact SVC's cost grows with train rows^1.4-1.7 x
classes (one-vs-rest on 8,000 rows x 1280 dims x 1000 classes: 92 CPU-min per rbf fit, 34 per
linear fit, and the default grid is 31 fits; at 24,000 rows 10 h per rbf fit), so above
``--exact-max-rows`` train rows (default 5,000) the run switches to ``approx`` and says so (a
printed line, ``meta["solver"]`` and each method's ``_info["solver"]``/``["solver_note"]``):
the SVM becomes a one-vs-rest least-squares SVM (:class:`LeastSquaresSVM`: ridge regression on
+1/-1 class targets, all classes in one solve) on the standardised features ("linear") or on a
``--components``-landmark Nystroem map (rbf, poly, sigmoid), the same grid of kernels, C and
gamma chosen by the same cross-validation from one pass of statistics per kernel, and the
logistic regression's C is chosen on a stratified sample of ``--exact-max-rows`` rows, then
refitted on every train row. Cost and memory grow linearly with the rows (100,000 rows x 1280
dims x 1000 classes: 5 CPU-min, 7.5 min on two busy cores, 2.4 GB peak); ``--solver exact``
forces the thesis's SVC.

Writes into OUT: metrics.json and predictions.h5 (methods "svm" and "logistic", see
evaluation.results), svm.joblib / logistic.joblib (the refitted pipeline and its classes;
``--model`` re-applies one to another features file) and svm_cv.csv / logistic_cv.csv
(the grid-search table). metrics.json's ``meta`` records the features file(s), backbone,
layer, subset, ``fine_tuned`` (the file has a fine-tuned head's ``head_classes``), ``tta``
and, where the file has it, ``normalize``.

Several ``--features`` files of the same images (e.g. two backbones) are joined row by row on
(image id, label) and their features concatenated (:func:`evaluation.features.join_features`);
backbone and layer read "a+b". ``--model`` applies a saved model to the joined features too.

``--holdout-style S`` (a style, a comma-separated list, or ``all``) measures cross-style
generalisation instead of the run above: for each held-out style, both methods are fitted on
the train rows of every other style (same grid search) and tested on every row of that style,
train and val alike. Only OUT/holdout.json is written, after each style, so a rerun with the
same features and grid skips the styles already done:

    {"meta": {...metrics.json's meta..., "config": {the grid and protocol}},
     "styles": {S: {"svm": {"top1", "top5", "n", "best_params"}, "logistic": {...},
                    "train_rows": N, "rows": N, "rows_unseen_class": N}}}

``n`` counts the style's rows of classes the models were trained on; the others are counted
in ``rows_unseen_class``. ``all`` takes every style with ``--holdout-min-rows`` rows or more
and at least 2 classes.

Unlabelled rows (label -1: files whose names matched no class) are left out of every run,
training and scoring alike; the count is logged and kept in meta as ``unlabelled_rows_ignored``.
``python -m evaluation.suggest`` proposes classes for them.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from datasets.manifest import atomic_write_text

from .features import FeatureSet, ignored_unlabelled, join_features, labelled_rows, read_features
from .metrics import evaluate, percent, topk, true_rank
from .results import write_method

logger = logging.getLogger(__name__)

KERNELS = ("rbf", "linear", "sigmoid", "poly")
GAMMA_NAMES = ("scale", "auto")
HOLDOUT_FRACTION = 0.2  # thesis protocol: share of train held out to choose parameters
SPLIT_ORDER = ("train", "val")
HOLDOUT_FILE = "holdout.json"
HOLDOUT_MIN_ROWS = 20  # --holdout-style all: smaller styles are skipped
SOLVERS = ("auto", "exact", "approx")
EXACT_MAX_ROWS = 5_000  # --solver auto: more train rows than this get the approximate SVM (see svm_solver)
APPROX_COMPONENTS = 1024  # Nystroem landmarks of the approximate SVM's rbf, poly and sigmoid kernels
APPROX_CHUNK = 4096  # rows mapped and scored at a time by the approximate SVM: bounds its memory


@dataclass
class SVMConfig:
    protocol: str = "cv"  # "cv" (stratified k-fold on train) or "thesis" (20% hold-out)
    folds: int = 5
    kernels: tuple[str, ...] = ("rbf", "linear")
    C: tuple[float, ...] = (0.1, 1.0, 10.0)
    gamma: tuple[str | float, ...] = ("scale",)  # rbf, sigmoid, poly only; scale = 1/D on standardised features
    degree: tuple[int, ...] = (3,)  # poly only
    multiclass: str = "ovr"  # "ovr": one binary SVC per class (the thesis); "ovo": libsvm's pairwise SVC
    seed: int = 0
    jobs: int = -1  # parallel fits: all cores
    logistic: bool = True  # also fit the logistic-regression baseline
    logistic_C: tuple[float, ...] = (0.01, 0.1, 1.0)
    holdout: float = HOLDOUT_FRACTION
    solver: str = "auto"  # "exact": SVC; "approx": LeastSquaresSVM; "auto": exact up to exact_max_rows train rows
    exact_max_rows: int = EXACT_MAX_ROWS  # also the logistic regression's sample in the approximate run
    components: int = APPROX_COMPONENTS  # Nystroem landmarks of the approximate kernels


# ---------------------------------------------------------------- models and grids


def svm_pipeline(multiclass: str = "ovr"):
    """StandardScaler + SVC; the grid's parameter names depend on ``multiclass`` (see :func:`svm_grid`)."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if multiclass == "ovr":
        clf = OneVsRestClassifier(SVC(cache_size=500))
    elif multiclass == "ovo":
        clf = SVC(decision_function_shape="ovr", cache_size=500)
    else:
        raise ValueError(f"multiclass must be 'ovr' or 'ovo', got {multiclass!r}")
    return Pipeline([("scale", StandardScaler()), ("svm", clf)])


def svm_grid(cfg: SVMConfig) -> list[dict]:
    """One sub-grid per kernel: gamma only where the kernel uses it, degree only for poly."""
    prefix = "svm__estimator__" if cfg.multiclass == "ovr" else "svm__"
    grid = []
    for kernel in cfg.kernels:
        sub = {f"{prefix}kernel": [kernel], f"{prefix}C": list(cfg.C)}
        if kernel in ("rbf", "sigmoid", "poly"):
            sub[f"{prefix}gamma"] = list(cfg.gamma)
        if kernel == "poly":
            sub[f"{prefix}degree"] = list(cfg.degree)
        grid.append(sub)
    return grid


def logistic_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(max_iter=2000))])


def logistic_grid(cfg: SVMConfig) -> list[dict]:
    return [{"logistic__C": list(cfg.logistic_C)}]


def short_params(params: dict) -> dict:
    """``svm__estimator__C`` -> ``C``: the names a reader of metrics.json expects."""
    return {k.rsplit("__", 1)[-1]: _plain(v) for k, v in params.items()}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- cross-validation


def make_cv(y: np.ndarray, cfg: SVMConfig):
    """The splitter GridSearchCV uses on train: StratifiedKFold, or the thesis's PredefinedSplit hold-out.

    Classes with a single train row are kept: k-fold shrinks to the smallest class (at least 2
    folds), and the hold-out always leaves singletons on the fitting side.
    """
    from sklearn.model_selection import (
        PredefinedSplit,
        StratifiedKFold,
        train_test_split,
    )

    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"train has {len(classes)} class(es); an SVM needs at least 2")
    if cfg.protocol == "cv":
        n_splits = max(2, min(cfg.folds, int(counts.min())))
        if int((counts >= n_splits).sum()) < 2:
            raise ValueError(
                f"cannot cross-validate: {n_splits}-fold needs at least 2 classes with {n_splits}+ train rows, "
                f"but only {int((counts >= n_splits).sum())} of {len(classes)} classes have them"
            )
        if n_splits < cfg.folds:
            logger.warning("smallest train class has %d row(s): using %d folds instead of %d",
                           int(counts.min()), n_splits, cfg.folds)
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=cfg.seed)
    if cfg.protocol == "thesis":
        # Stratify among classes that can be split; a singleton can only be learnt from.
        eligible = np.flatnonzero(np.isin(y, classes[counts >= 2]))
        if len(np.unique(y[eligible])) < 2:
            raise ValueError("thesis protocol: need at least 2 classes with 2+ train rows to hold some out")
        try:
            _, held = train_test_split(eligible, test_size=cfg.holdout, stratify=y[eligible], random_state=cfg.seed)
        except ValueError as err:
            raise ValueError(f"thesis protocol: cannot hold out {cfg.holdout:.0%} of train, stratified ({err})") \
                from None
        test_fold = np.full(len(y), -1)
        test_fold[held] = 0
        return PredefinedSplit(test_fold)
    raise ValueError(f"protocol must be 'cv' or 'thesis', got {cfg.protocol!r}")


def grid_search(estimator, grid: list[dict], X: np.ndarray, y: np.ndarray, cfg: SVMConfig, refit: bool = True):
    """Fit GridSearchCV (accuracy, refit on all of X unless ``refit`` is False) and return it."""
    from sklearn.model_selection import GridSearchCV

    cv = make_cv(y, cfg)
    n_candidates = sum(int(np.prod([len(v) for v in sub.values()])) for sub in grid)
    logger.info("%s: %d candidates x %d split(s) = %d fits%s", estimator.steps[-1][0], n_candidates,
                cv.get_n_splits(), n_candidates * cv.get_n_splits(),
                f", then a refit on all {len(y)} train rows" if refit else f" on {len(y)} rows")
    search = GridSearchCV(estimator, grid, scoring="accuracy", cv=cv, refit=refit, n_jobs=cfg.jobs)
    search.fit(X, y)
    return search


def cv_table(search) -> str:
    """``cv_results_`` as CSV: rank, mean/std validation accuracy, fit time, then the parameters."""
    res = search.cv_results_
    names = sorted({k for p in res["params"] for k in short_params(p)}, key=lambda n: (n != "kernel", n))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank_test_score", "mean_test_score", "std_test_score", "mean_fit_time", *names])
    for i in np.argsort(res["rank_test_score"], kind="stable"):
        p = short_params(res["params"][i])
        w.writerow([int(res["rank_test_score"][i]), f"{res['mean_test_score'][i]:.6f}",
                    f"{res['std_test_score'][i]:.6f}", f"{res['mean_fit_time'][i]:.3f}",
                    *(p.get(n, "") for n in names)])
    return buf.getvalue()


# ---------------------------------------------------------------- out-of-fold probabilities


def kernel_rows(kernel: str = "rbf"):
    """A transformer from X to its kernel with the rows it was fitted on, for ``SVC(kernel="precomputed")``.

    One-vs-rest SVC has libsvm evaluate the kernel again for every class, without BLAS: 3,000 rows x
    1,280 dims x 216 classes took over 100 s per fit here. The Gram matrix computed once per fit gives
    the same model (rbf ``gamma="scale"``: 1 / (dims x variance of the fitted X)) in seconds; it needs
    rows^2 floats of memory.
    """
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.metrics.pairwise import linear_kernel, rbf_kernel

    class KernelRows(TransformerMixin, BaseEstimator):
        def __init__(self, kernel: str = "rbf"):
            self.kernel = kernel

        def fit(self, X, y=None):
            self.X_fit_ = np.asarray(X, dtype=np.float64)
            var = float(self.X_fit_.var())
            self.gamma_ = 1.0 / (self.X_fit_.shape[1] * var) if var > 0 else 1.0
            return self

        def transform(self, X):
            if self.kernel == "linear":
                return linear_kernel(X, self.X_fit_)
            return rbf_kernel(X, self.X_fit_, gamma=self.gamma_)

    if kernel not in ("rbf", "linear"):
        raise ValueError(f"kernel must be 'rbf' or 'linear', got {kernel!r}")
    return KernelRows(kernel)


def precomputed_svm(kernel: str = "rbf", C: float = 1.0):
    """:func:`svm_pipeline`'s model (standardised features, one-vs-rest SVC) with the kernel computed once per
    fit (:func:`kernel_rows`)."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return Pipeline([("scale", StandardScaler()), ("kernel", kernel_rows(kernel)),
                     ("svm", OneVsRestClassifier(SVC(kernel="precomputed", C=C)))])


def cross_validated_probabilities(features: np.ndarray, labels: np.ndarray, *, folds: int = 5, seed: int = 0,
                                  kernel: str = "rbf", C: float = 1.0,
                                  jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold class probabilities: every row is scored by an SVM that never saw it.

    The SVM is :func:`svm_pipeline`'s (standardised features, one-vs-rest SVC, rbf with
    ``gamma="scale"`` or linear, ``C``), with the kernel computed once per fold (:func:`kernel_rows`).

    Returns ``(probs, classes)``: ``probs`` is float64 of shape ``(N, K)``, each scored row summing to 1,
    columns in the order of ``classes`` (the sorted labels that could be scored, shape ``(K,)``).

    Rows of a class with a single member cannot be held out and still have their class learnt: they
    are left out of training and get a row of NaN, and their class is not a column. Classes with 2 to
    ``folds - 1`` members need no special care: stratified k-fold spreads their rows over distinct
    folds, so every training fold keeps at least one (scikit-learn's warning about it is silenced).
    ``folds`` shrinks to the largest class when even that is smaller.

    The probabilities are the out-of-fold decision values (``cross_val_predict``) calibrated by
    temperature scaling, ``softmax(beta * scores)`` with ``beta`` minimising the log loss of those same
    out-of-fold values: the fit of scikit-learn's ``CalibratedClassifierCV(method="temperature")``, done
    on the given scores because that class wants an estimator to re-run. One parameter for all rows
    barely learns any row's own label, and it costs one SVM fit per fold, where ``SVC(probability=True)``
    (deprecated in scikit-learn 1.9) ran an internal 5-fold Platt scaling in every fit.
    """
    import warnings

    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax, softmax
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X = np.asarray(features)
    y = np.asarray(labels)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"features must be (N, D) with one label per row; got {X.shape} and {y.shape}")
    values, counts = np.unique(y, return_counts=True)
    classes = values[counts >= 2]
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes with 2+ rows to cross-validate, got {len(classes)}")
    rows = np.flatnonzero(np.isin(y, classes))
    target = np.searchsorted(classes, y[rows])
    n_splits = max(2, min(folds, int(counts.max())))
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    model = precomputed_svm(kernel, C)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        scores = cross_val_predict(model, X[rows], target, cv=cv, method="decision_function", n_jobs=jobs)
    if scores.ndim == 1:  # two classes: the score of the second only
        scores = np.stack([-scores, scores], axis=1)
    picked = (np.arange(len(rows)), target)

    def log_loss(log_beta: float) -> float:
        return -float(log_softmax(np.exp(log_beta) * scores, axis=1)[picked].mean())

    beta = np.exp(minimize_scalar(log_loss, bounds=(-10.0, 10.0), method="bounded").x)
    probs = np.full((len(y), len(classes)), np.nan)
    probs[rows] = softmax(beta * scores, axis=1)
    return probs, classes


# ---------------------------------------------------------------- out-of-fold linear scores, for many rows

LINEAR_CHUNK = 4096  # rows standardised at a time (float64): memory stays bounded whatever the row count
TEMPERATURE_ROWS = 20_000  # out-of-fold rows the temperature is fitted on (a seeded sample when there are more)


def fit_temperature(scores: np.ndarray, target: np.ndarray) -> float:
    """``beta`` minimising the mean log loss of ``softmax(beta * scores)`` at ``target`` (temperature scaling,
    as :func:`cross_validated_probabilities` does)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    picked = (np.arange(len(target)), target)

    def log_loss(log_beta: float) -> float:
        return -float(log_softmax(np.exp(log_beta) * scores, axis=1)[picked].mean())

    return float(np.exp(minimize_scalar(log_loss, bounds=(-10.0, 10.0), method="bounded").x))


def softmax_summary(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(argmax, its softmax probability, the softmax's entropy in nats) of each row of ``logits`` (N, K)."""
    z = np.asarray(logits, dtype=np.float64)
    best = np.argmax(z, axis=1)
    z = z - z[np.arange(len(z)), best][:, None]
    e = np.exp(z)
    total = e.sum(axis=1)
    entropy = np.log(total) - (e * z).sum(axis=1) / total
    return best, 1.0 / total, np.maximum(entropy, 0.0)


def linear_folds(labels: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes with 2+ rows, column of each row or -1, fold of each row or -1): the split of
    :func:`cross_validated_probabilities` (stratified, shuffled, ``folds`` shrunk to the largest class)."""
    import warnings

    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    values, counts = np.unique(y, return_counts=True)
    classes = values[counts >= 2]
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes with 2+ rows to cross-validate, got {len(classes)}")
    rows = np.flatnonzero(np.isin(y, classes))
    target = np.full(len(y), -1, dtype=np.int64)
    target[rows] = np.searchsorted(classes, y[rows])
    fold = np.full(len(y), -1, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=max(2, min(folds, int(counts.max()))), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for f, (_, held) in enumerate(splitter.split(np.zeros((len(rows), 1)), target[rows])):
            fold[rows[held]] = f
    return classes, target, fold


def _chunks(rows: np.ndarray, size: int = LINEAR_CHUNK):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _standardised(X: np.ndarray, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (np.asarray(X[rows], dtype=np.float64) - mean) / scale


def fold_statistics(X: np.ndarray, target: np.ndarray, fold: np.ndarray, n_classes: int) -> dict:
    """One pass over the scored rows (``fold >= 0``), chunk by chunk: the standardisation (mean, scale), and per
    fold the Gram matrix ``X'X``, the class sums and counts of the standardised rows, all float64."""
    from scipy.sparse import csr_matrix

    rows = np.flatnonzero(fold >= 0)
    n_folds, dims = int(fold.max()) + 1, X.shape[1]
    total, squares = np.zeros(dims), np.zeros(dims)
    for chunk in _chunks(rows):
        x = np.asarray(X[chunk], dtype=np.float64)
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
    mean = total / len(rows)
    std = np.sqrt(np.maximum(squares / len(rows) - mean * mean, 0.0))
    scale = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
    gram = np.zeros((n_folds, dims, dims))
    sums = np.zeros((n_folds, n_classes, dims))
    counts = np.zeros((n_folds, n_classes))
    for f in range(n_folds):
        for chunk in _chunks(np.flatnonzero(fold == f)):
            x = _standardised(X, chunk, mean, scale)
            gram[f] += x.T @ x
            onehot = csr_matrix((np.ones(len(chunk)), (target[chunk], np.arange(len(chunk)))),
                                shape=(n_classes, len(chunk)))
            sums[f] += onehot @ x
            counts[f] += np.bincount(target[chunk], minlength=n_classes)
    return {"mean": mean, "scale": scale, "gram": gram, "sums": sums, "counts": counts}


def within_class_shrinkage(X: np.ndarray, target: np.ndarray, fold: np.ndarray, stats: dict) -> float:
    """Ledoit-Wolf shrinkage (``sklearn.covariance.ledoit_wolf_shrinkage``) of the rows centred on their class
    means, over all scored rows; a second pass, for the sum of the rows' fourth powers."""
    counts = stats["counts"].sum(axis=0)
    sums = stats["sums"].sum(axis=0)
    means = sums / np.maximum(counts, 1)[:, None]
    scatter = stats["gram"].sum(axis=0) - sums.T @ means  # sum over rows of c c', c = row - its class mean
    n, dims = int(counts.sum()), scatter.shape[0]
    if dims == 1:
        return 0.0
    fourth = 0.0
    for chunk in _chunks(np.flatnonzero(fold >= 0)):
        c = _standardised(X, chunk, stats["mean"], stats["scale"]) - means[target[chunk]]
        fourth += float(((c * c).sum(axis=1) ** 2).sum())
    trace = float(np.trace(scatter)) / n  # of the empirical covariance
    mu = trace / dims
    delta_ = float((scatter ** 2).sum()) / n ** 2
    delta = (delta_ - 2.0 * mu * trace + dims * mu ** 2) / dims
    beta = min((fourth / n - delta_) / (dims * n), delta)
    return 0.0 if beta <= 0 else float(beta / delta)


def shrunk_lda(gram: np.ndarray, sums: np.ndarray, counts: np.ndarray,
               shrinkage: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear discriminant analysis from the sufficient statistics of its training rows: the Gram matrix
    ``X'X`` (D, D), class sums (K, D) and counts (K,). The pooled within-class covariance ``S`` is shrunk to
    ``(1 - shrinkage) S + shrinkage (trace(S) / D) I``; returns ``(W (D, K), b (K,))``, scores ``X W + b``:
    ``mean_k' S^-1 x - mean_k' S^-1 mean_k / 2 + log prior_k``."""
    from scipy.linalg import cho_factor, cho_solve

    n = float(counts.sum())
    means = sums / np.maximum(counts, 1)[:, None]
    cov = (gram - sums.T @ means) / n
    dims = cov.shape[0]
    level = float(np.trace(cov)) / dims
    shrinkage = max(float(shrinkage), 1e-6)
    cov = (1.0 - shrinkage) * cov + shrinkage * (level if level > 0 else 1.0) * np.eye(dims)
    W = cho_solve(cho_factor(cov), means.T)
    with np.errstate(divide="ignore"):
        b = -0.5 * np.einsum("kd,dk->k", means, W) + np.log(counts / n)
    return W, b


def cross_validated_linear(features: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Out-of-fold top-1 predictions of a linear model, for more rows than :func:`cross_validated_probabilities`
    can take (its kernel is rows^2 floats per fold).

    The model is a shrunk linear discriminant analysis (:func:`shrunk_lda`) on standardised features: one
    pass over the rows gives every fold's sufficient statistics, a fold's model is the totals less that fold's
    (the same split as :func:`cross_validated_probabilities`), so the cost is ``rows x dims^2 + rows x dims x
    classes`` and memory ``folds x classes x dims`` floats plus a chunk of rows, whatever the row count.
    One-vs-rest linear SVMs or multinomial logistic regression would need a thousand fits, or a thousand-column
    iterative fit, per fold at 1,000 classes. Scores become probabilities by temperature scaling, as there,
    ``beta`` fitted on at most ``TEMPERATURE_ROWS`` out-of-fold rows (a seeded sample).

    Returns ``(best, confidence, entropy, classes, info)``: per row the column of ``classes`` (sorted labels
    with 2+ rows) it is predicted as, that probability and the entropy of its probabilities; rows of a
    single-member class get -1, NaN, NaN. ``info`` has the shrinkage, ``beta`` and the folds.
    """
    X = np.asarray(features)
    y = np.asarray(labels)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"features must be (N, D) with one label per row; got {X.shape} and {y.shape}")
    classes, target, fold = linear_folds(y, folds, seed)
    stats = fold_statistics(X, target, fold, len(classes))
    shrinkage = within_class_shrinkage(X, target, fold, stats)
    totals = {k: stats[k].sum(axis=0) for k in ("gram", "sums", "counts")}
    models = [shrunk_lda(totals["gram"] - stats["gram"][f], totals["sums"] - stats["sums"][f],
                         totals["counts"] - stats["counts"][f], shrinkage) for f in range(len(stats["gram"]))]
    rows = np.flatnonzero(fold >= 0)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rows, size=min(len(rows), TEMPERATURE_ROWS), replace=False))
    beta = fit_temperature(_oof_scores(X, sample, fold, models, stats), target[sample])
    best = np.full(len(y), -1, dtype=np.int64)
    confidence = np.full(len(y), np.nan)
    entropy = np.full(len(y), np.nan)
    for chunk in _chunks(rows):
        best[chunk], confidence[chunk], entropy[chunk] = softmax_summary(
            beta * _oof_scores(X, chunk, fold, models, stats))
    info = {"shrinkage": round(shrinkage, 6), "beta": round(beta, 6), "folds": len(models)}
    return best, confidence, entropy, classes, info


def _oof_scores(X: np.ndarray, rows: np.ndarray, fold: np.ndarray, models: list, stats: dict) -> np.ndarray:
    """Scores (len(rows), K) of ``rows``, each by the model of the folds it was not in."""
    out = np.empty((len(rows), models[0][1].shape[0]))
    for f, (W, b) in enumerate(models):
        take = np.flatnonzero(fold[rows] == f)
        for part in _chunks(take):
            out[part] = _standardised(X, rows[part], stats["mean"], stats["scale"]) @ W + b
    return out


# ---------------------------------------------------------------- scoring


def class_scores(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores (N, K), log-probabilities or None): decision values for the SVM, log-probabilities for logistic."""
    if method_kind(model) == "logistic":
        logp = model.predict_log_proba(X)
        return logp, logp
    scores = model.decision_function(X)
    if scores.ndim == 1:  # two classes: sklearn gives the score of classes_[1] only
        scores = np.stack([-scores, scores], axis=1)
    return scores, None


def chunked_scores(model, X: np.ndarray, chunk: int = APPROX_CHUNK) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`class_scores` of ``X`` a chunk of rows at a time: the model's temporaries stay a chunk's size."""
    scores, logp = None, None
    for start in range(0, len(X), chunk):
        s, lp = class_scores(model, X[start : start + chunk])
        if scores is None:
            scores = np.empty((len(X), s.shape[1]), dtype=s.dtype)
            logp = scores if lp is not None else None
        scores[start : start + len(s)] = s
    return scores, logp


def method_kind(model) -> str:
    return "logistic" if "logistic" in getattr(model, "named_steps", {}) else "svm"


def class_names(fs: FeatureSet, classes: np.ndarray, fallback: list[str] | None = None) -> list[str]:
    """A readable name per class: label_names, else wnids, else the saved names, else the index."""
    names = []
    for i, c in enumerate(classes):
        rows = np.flatnonzero(fs.labels == c)
        name = None
        for col in (fs.label_names, fs.wnids):
            if name is None and col is not None and len(rows):
                name = str(col[rows[0]])
        if name is None and fallback is not None:
            name = fallback[i]
        names.append(name if name is not None else str(int(c)))
    return names


def split_names(fs: FeatureSet) -> list[str]:
    present = set(fs.splits.tolist())
    return [s for s in SPLIT_ORDER if s in present] + sorted(present - set(SPLIT_ORDER))


def evaluate_model(model, fs: FeatureSet, classes: np.ndarray, names: list[str]) -> tuple[dict, dict, dict]:
    """Score every split of ``fs`` with ``model``: (metrics by split, predictions, unseen rows per split).

    Rows whose label is not among ``classes`` cannot be right or wrong; they are left out and counted.
    """
    classes = np.asarray(classes, dtype=np.int64)
    known = np.flatnonzero(np.isin(fs.labels, classes))
    if len(known):
        scores, logp = chunked_scores(model, fs.features if len(known) == len(fs) else fs.features[known])
    else:
        scores, logp = np.zeros((0, len(classes))), None
    return scored_results(fs, known, scores, logp, classes, names)


def scored_results(fs: FeatureSet, rows: np.ndarray, scores: np.ndarray, logp: np.ndarray | None,
                   classes: np.ndarray, names: list[str]) -> tuple[dict, dict, dict]:
    """(metrics by split, predictions, unseen rows per split) from a method's ``scores`` (len(rows), K).

    ``rows`` are the rows of ``fs`` whose label is among ``classes``; ``logp``, where the method has
    them, are log-probabilities (for the cross-entropy). Shared by every method scored from features.
    """
    from sklearn.metrics import confusion_matrix

    classes = np.asarray(classes, dtype=np.int64)
    known = np.zeros(len(fs.labels), dtype=bool)
    known[rows] = True
    unseen = {s: int(((fs.splits == s) & ~known).sum()) for s in split_names(fs)}
    sub = replace(fs, features=np.empty((len(fs), 0), np.float32), logits=None).subset(rows)  # no feature copy
    k = len(classes)
    targets = np.searchsorted(classes, sub.labels)
    ce = None if logp is None else -logp[np.arange(len(targets)), targets]
    ranks = np.zeros(len(rows), dtype=np.int64)
    top5 = np.full((len(rows), 5), -1, dtype=np.int64)
    for start in range(0, len(rows), APPROX_CHUNK):  # ranks and top-5 a chunk at a time: (N, K) temporaries
        part = slice(start, start + APPROX_CHUNK)
        ranks[part] = true_rank(scores[part], targets[part])
        top5[part, : min(5, k)] = classes[topk(scores[part], 5)]
    pred = top5[:, 0]

    metrics = {}
    for s in split_names(fs):
        m = sub.splits == s
        per_class = sub.wnids if sub.wnids is not None else sub.labels.astype(str)
        groups = {"per_class": per_class, "per_style": sub.styles, "per_source": sub.sources}
        metrics[s] = evaluate(scores[m], targets[m], cross_entropies=None if ce is None else ce[m],
                              groups={g: (None if keys is None else keys[m]) for g, keys in groups.items()})
        if s == "val":
            cm = confusion_matrix(sub.labels[m], pred[m], labels=classes) if m.any() else np.zeros((k, k), int)
            metrics[s]["confusion"] = {"labels": classes.tolist(), "names": list(names), "matrix": cm.tolist()}
    predictions = {
        "ids": sub.ids,
        "splits": sub.splits,
        "labels": sub.labels,
        "pred": pred,
        "top5": top5,
        "scores": scores.astype(np.float32),
        "true_rank": ranks.astype(np.int64),
        "cross_entropy": (np.full(len(rows), np.nan) if ce is None else ce).astype(np.float32),
        "classes": classes,
    }
    return metrics, predictions, unseen


# ---------------------------------------------------------------- many rows: the approximate SVM


def svm_solver(cfg: SVMConfig, train_rows: int) -> str:
    """"exact" (scikit-learn's SVC, whose cost grows with rows^2 x classes) or "approx" (:class:`LeastSquaresSVM`,
    rows x features^2): ``cfg.solver``, where "auto" is exact up to ``cfg.exact_max_rows`` train rows."""
    if cfg.solver not in SOLVERS:
        raise ValueError(f"--solver must be one of {', '.join(SOLVERS)}, got {cfg.solver!r}")
    if cfg.solver != "auto":
        return cfg.solver
    return "exact" if train_rows <= cfg.exact_max_rows else "approx"


def solver_note(method: str, solver: str, train_rows: int, cfg: SVMConfig, cv_rows: int | None = None) -> str:
    """The line that says how a method was fitted, printed and kept in metrics.json (``_info["solver_note"]``)."""
    if solver == "exact":
        return f"{method}: exact ({train_rows:,} train rows)"
    why = (f"{train_rows:,} train rows > --exact-max-rows {cfg.exact_max_rows:,}" if cfg.solver == "auto"
           else "--solver approx")
    if method == "svm":
        return (f"svm: approximate ({why}): one-vs-rest least-squares SVM, kernels other than linear through a "
                f"{cfg.components}-landmark Nystroem map, C/kernel chosen by the same cross-validation")
    return (f"logistic: C chosen on a stratified sample of {cv_rows:,} of the {train_rows:,} train rows ({why}), "
            "then refitted on all of them")


def _row_chunks(n: int, size: int = APPROX_CHUNK):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


class KernelMap:
    """Standardisation, then the identity ("linear") or a Nystroem approximation of an rbf, poly or sigmoid
    kernel: ``k(x, landmarks) @ normalization.T``, as ``sklearn.kernel_approximation.Nystroem``. A chunk at a time."""

    def __init__(self, mean, scale, kernel: str = "linear", params: dict | None = None, landmarks=None,
                 normalization=None):
        self.mean, self.scale, self.kernel = mean, scale, kernel
        self.params, self.landmarks, self.normalization = params or {}, landmarks, normalization

    @property
    def dims(self) -> int:
        return len(self.mean) if self.kernel == "linear" else len(self.normalization)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from sklearn.metrics.pairwise import pairwise_kernels

        x = ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)
        if self.kernel == "linear":
            return x
        k = pairwise_kernels(x, self.landmarks, metric=self.kernel, filter_params=True, **self.params)
        return (k @ self.normalization.T).astype(np.float32)


def standardisation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, scale, varying columns) of ``X``, a chunk at a time in float64; scale 1 where a column is constant
    (as ``StandardScaler``)."""
    total, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for part in _row_chunks(len(X)):
        x = np.asarray(X[part], dtype=np.float64)
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
    mean = total / len(X)
    var = np.maximum(squares / len(X) - mean * mean, 0.0)
    varying = var > 1e-12 * np.maximum(mean * mean, 1.0)
    return mean, np.where(varying, np.sqrt(var), 1.0), int(varying.sum())


def kernel_map(X: np.ndarray, standard: tuple, kernel: str, params: dict, components: int, seed: int) -> KernelMap:
    """The :class:`KernelMap` of one grid candidate: ``components`` landmark rows drawn with ``seed`` (no labels
    used); ``gamma="scale"`` is 1 / (dims x variance of the standardised X) as SVC's (1 / the varying columns),
    ``"auto"`` 1 / dims. ``standard`` is :func:`standardisation`'s."""
    mean, scale, varying = standard
    if kernel == "linear":
        return KernelMap(mean, scale)
    gamma = params.get("gamma", "scale")
    if gamma == "scale":
        gamma = 1.0 / max(varying, 1)
    elif gamma == "auto":
        gamma = 1.0 / X.shape[1]
    rows = np.sort(np.random.default_rng(seed).choice(len(X), size=min(components, len(X)), replace=False))
    landmarks = ((np.asarray(X[rows], dtype=np.float64) - mean) / scale).astype(np.float32)
    kw = {"gamma": float(gamma), "degree": int(params.get("degree", 3)), "coef0": 0.0}
    from sklearn.metrics.pairwise import pairwise_kernels

    inner = pairwise_kernels(landmarks, metric=kernel, filter_params=True, **kw).astype(np.float64)
    with _one_blas_thread():
        if kernel == "sigmoid":  # not positive semi-definite: sklearn's Nystroem, by SVD
            u, s, vt = np.linalg.svd(inner)
        else:  # rbf and poly are: the same normalisation by the (faster) symmetric eigendecomposition
            s, u = np.linalg.eigh(inner)
            vt = u.T
        normalization = (u / np.sqrt(np.maximum(s, 1e-12))) @ vt
    return KernelMap(mean, scale, kernel, kw, landmarks, normalization.astype(np.float32))


def map_statistics(X: np.ndarray, fmap: KernelMap, codes: np.ndarray, bucket: np.ndarray, n_classes: int) -> dict:
    """One pass over the rows of ``X``, a chunk at a time: per bucket (a CV fold's held-out rows, or the last
    bucket, rows never held out) the Gram matrix ``Z'Z``, the column sums, class sums (K, m), row and class
    counts of the mapped rows ``Z``, float64."""
    from scipy.sparse import csr_matrix

    n_buckets, m = int(bucket.max()) + 1, fmap.dims
    stats = {"gram": np.zeros((n_buckets, m, m)), "sum": np.zeros((n_buckets, m)),
             "class_sums": np.zeros((n_buckets, n_classes, m)), "counts": np.zeros((n_buckets, n_classes))}
    for part in _row_chunks(len(X)):
        z, b, c = fmap(X[part]), bucket[part], codes[part]
        for f in np.unique(b):
            take = b == f
            zf, cf = z[take], c[take]
            stats["gram"][f] += zf.T @ zf
            stats["sum"][f] += zf.sum(axis=0, dtype=np.float64)
            onehot = csr_matrix((np.ones(len(cf), np.float32), (cf, np.arange(len(cf)))), shape=(n_classes, len(cf)))
            stats["class_sums"][f] += onehot @ zf
            stats["counts"][f] += np.bincount(cf, minlength=n_classes)
    return stats


def least_squares_ovr(gram: np.ndarray, col_sum: np.ndarray, class_sums: np.ndarray, counts: np.ndarray,
                      Cs: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One-vs-rest least-squares SVMs from the statistics of their training rows, one ``(W (m, K), b (K,))`` per C.

    Each class's scores ``z W + b`` fit targets +1 (the class) and -1 (the rest) by ridge regression with an
    intercept, ``min |y - Z w - b|^2 + |w|^2 / C``: the least-squares SVM (Suykens & Vandewalle 1999) in its
    primal form: a Cholesky solve of the centred Gram matrix plus ``I / C`` per C (several times faster
    than one eigendecomposition for all of them at these sizes).
    """
    from scipy.linalg import cho_factor, cho_solve

    n = float(counts.sum())
    mu = col_sum / n
    centred = gram - n * np.outer(mu, mu)
    targets = 2.0 * (class_sums - counts[:, None] * mu).T  # Z_c' Y for Y in {-1, +1}
    ybar = (2.0 * counts - n) / n
    out = []
    with _one_blas_thread():
        for C in Cs:
            W = cho_solve(cho_factor(centred + np.eye(len(centred)) / float(C)), targets)
            out.append((W, ybar - mu @ W))
    return out


def _one_blas_thread():
    """LAPACK factorisations of ~1000 x 1000 matrices on one thread: OpenBLAS's threads wait for each other
    by spinning, and on two cores shared with other work a Cholesky took 1.5 s on two threads, 0.07 s on one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


class LeastSquaresSVM:
    """A fitted one-vs-rest least-squares SVM on a :class:`KernelMap`; ``decision_function`` scores rows a chunk
    at a time (float32), ``classes_`` as scikit-learn's."""

    def __init__(self, fmap: KernelMap, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray):
        self.map, self.classes_ = fmap, np.asarray(classes)
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        out = np.empty((len(X), len(self.classes_)), dtype=np.float32)
        for part in _row_chunks(len(X)):
            out[part] = self.map(X[part]) @ self.coef_ + self.intercept_
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]


def _fold_correct(X: np.ndarray, fmap: KernelMap, codes: np.ndarray, fold: np.ndarray, models: list) -> np.ndarray:
    """(folds, Cs) counts of held-out rows each fold's model of each C puts in their class (top-1)."""
    correct = np.zeros((len(models), len(models[0])))
    for part in _row_chunks(len(X)):
        z, f_of, c = fmap(X[part]), fold[part], codes[part]
        for f in np.unique(f_of[f_of < len(models)]):
            take = f_of == f
            for j, (W, b) in enumerate(models[f]):
                scores = z[take] @ W.astype(np.float32) + b.astype(np.float32)
                correct[f, j] += int((scores.argmax(axis=1) == c[take]).sum())
    return correct


def approx_maps(cfg: SVMConfig) -> list[tuple[str, dict]]:
    """The grid's kernel maps: (kernel, {"gamma", "degree"} where the kernel has them), in the grid's order."""
    maps = []
    for kernel in cfg.kernels:
        if kernel == "linear":
            maps.append((kernel, {}))
        elif kernel == "poly":
            maps.extend((kernel, {"gamma": g, "degree": d}) for g in cfg.gamma for d in cfg.degree)
        else:
            maps.extend((kernel, {"gamma": g}) for g in cfg.gamma)
    return maps


def _cv_folds(y: np.ndarray, cfg: SVMConfig) -> tuple[np.ndarray, int]:
    """(each row's held-out fold under :func:`make_cv`'s splitter, the number of folds); rows never held out
    (the thesis protocol's fitting side) get the number of folds."""
    cv = make_cv(y, cfg)
    fold = np.full(len(y), -1, dtype=np.int64)
    n_folds = 0
    for f, (_, held) in enumerate(cv.split(np.zeros((len(y), 1)), y)):
        fold[held] = f
        n_folds = f + 1
    fold[fold < 0] = n_folds
    return fold, n_folds


def approx_svm_search(X: np.ndarray, y: np.ndarray, cfg: SVMConfig):
    """The grid search of :func:`grid_search` for :class:`LeastSquaresSVM`, at a cost linear in the rows.

    The folds are :func:`make_cv`'s. Per kernel map, one pass gathers every fold's statistics and a
    second scores each fold's held-out rows with the model of the other folds, for every C; the refit on
    all rows is the totals' model. The standardisation and the Nystroem landmarks come from all the rows
    given (no labels involved), not fold by fold. Returns what :func:`fit_method` reads of a
    ``GridSearchCV``: ``cv_results_``, ``best_params_``, ``best_score_``, ``best_estimator_``, ``n_splits_``.
    """
    from types import SimpleNamespace

    from scipy.stats import rankdata

    classes, codes = np.unique(y, return_inverse=True)
    fold, n_folds = _cv_folds(y, cfg)
    standard = standardisation(X)
    logger.info("svm (approximate): %d kernel map(s) x %d C x %d split(s) on %d train rows, %d classes",
                len(approx_maps(cfg)), len(cfg.C), n_folds, len(y), len(classes))
    params, scores, seconds, fitted = [], [], [], []
    for kernel, kw in approx_maps(cfg):
        start = time.perf_counter()
        fmap = kernel_map(X, standard, kernel, kw, cfg.components, cfg.seed)
        stats = map_statistics(X, fmap, codes, fold, len(classes))
        total = {k: v.sum(axis=0) for k, v in stats.items()}
        models = [least_squares_ovr(*(total[k] - stats[k][f] for k in ("gram", "sum", "class_sums", "counts")),
                                    cfg.C) for f in range(n_folds)]
        held = np.bincount(fold, minlength=n_folds + 1)[:n_folds]
        accuracy = _fold_correct(X, fmap, codes, fold, models) / held[:, None]
        fitted.append((fmap, total))
        for j, C in enumerate(cfg.C):
            params.append({"svm__kernel": kernel, "svm__C": C, **{f"svm__{k}": v for k, v in kw.items()}})
            scores.append(accuracy[:, j])
        seconds.extend([(time.perf_counter() - start) / (len(cfg.C) * n_folds)] * len(cfg.C))
    scores = np.array(scores)
    mean = scores.mean(axis=1)
    best = int(np.argmax(mean))
    fmap, total = fitted[best // len(cfg.C)]
    W, b = least_squares_ovr(total["gram"], total["sum"], total["class_sums"], total["counts"],
                             (params[best]["svm__C"],))[0]
    results = {"params": params, "mean_test_score": mean, "std_test_score": scores.std(axis=1),
               "rank_test_score": rankdata(-mean, method="min").astype(np.int64), "mean_fit_time": np.array(seconds)}
    return SimpleNamespace(cv_results_=results, best_params_=params[best], best_score_=float(mean[best]),
                           best_estimator_=LeastSquaresSVM(fmap, W, b, classes), n_splits_=n_folds)


def stratified_sample(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted rows of a seeded sample of about ``size`` rows, each class in proportion and with at least
    2 rows (all of a class with fewer), so that the sample can still be cross-validated."""
    y = np.asarray(y)
    if len(y) <= size:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = np.minimum(counts, np.maximum(2, np.floor(counts * size / len(y)).astype(np.int64)))
    order = np.lexsort((rng.random(len(y)), codes))  # by class, shuffled within a class
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y)) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.flatnonzero(position < quota[codes])


def sampled_search(estimator, grid: list[dict], X: np.ndarray, y: np.ndarray, cfg: SVMConfig):
    """:func:`grid_search` on :func:`stratified_sample`'s ``cfg.exact_max_rows`` rows of (X, y), whose cost does
    not grow with the rows, then the best parameters refitted on all of them (one fit: the cost of one
    iteration grows with rows x features x classes); ``cv_rows_`` says how many rows chose them."""
    from sklearn.base import clone

    rows = stratified_sample(y, cfg.exact_max_rows, cfg.seed)
    search = grid_search(estimator, grid, X[rows], y[rows], cfg, refit=False)
    logger.info("%s: refitting C=%s on all %d train rows", estimator.steps[-1][0],
                short_params(search.best_params_).get("C"), len(y))
    search.best_estimator_ = clone(estimator).set_params(**search.best_params_).fit(X, y)
    search.cv_rows_ = len(rows)
    return search


# ---------------------------------------------------------------- persistence


def save_model(path: Path, bundle: dict) -> None:
    """joblib-dump ``bundle`` via a temporary file and a rename, so a crash never leaves half a model."""
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    joblib.dump(bundle, tmp)
    os.replace(tmp, path)


def load_model(path: Path) -> dict:
    import joblib

    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    try:
        bundle = joblib.load(path)
    except Exception as err:  # pickle and joblib raise many kinds on a bad file
        raise ValueError(f"{path}: not a readable model file ({type(err).__name__}: {err})") from None
    if not isinstance(bundle, dict) or "model" not in bundle or "classes" not in bundle:
        raise ValueError(f"{path}: not a model written by evaluation.svm (no 'model'/'classes')")
    return bundle


def check_compatible(bundle: dict, fs: FeatureSet, model_path: Path, features_path: Path | str) -> None:
    """A model only applies to features of its own width, and of its own backbone and layer where both are known."""
    dim = fs.features.shape[1]
    if bundle.get("feature_dim") is not None and int(bundle["feature_dim"]) != dim:
        raise ValueError(f"feature dimension mismatch: model {model_path} expects {bundle['feature_dim']}, "
                         f"features {features_path} have {dim}")
    for key in ("backbone", "layer"):
        saved, here = bundle.get(key), fs.attrs.get(key)
        if saved is not None and here is not None and str(saved) != str(here):
            raise ValueError(f"{key} mismatch: model {model_path} was trained on {key} {saved!r}, "
                             f"features {features_path} have {key} {here!r}")


# ---------------------------------------------------------------- commands


def load_features(path: Path) -> FeatureSet:
    if not path.is_file():
        raise ValueError(f"{path}: no such features file")
    fs = read_features(path, logits=False)  # the (N, 1000) logits are not used here
    if fs.features.ndim != 2 or len(fs) == 0:
        raise ValueError(f"{path}: no feature rows")
    bad = int((~np.isfinite(fs.features).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} row(s) have NaN or infinite features")
    return fs


def as_paths(features: Path | str | list) -> list[Path]:
    """``--features`` as a list: one path or several."""
    return [Path(p) for p in features] if isinstance(features, (list, tuple)) else [Path(features)]


def paths_label(features: Path | str | list) -> str:
    """The features file(s) as error messages name them."""
    return " + ".join(str(p) for p in as_paths(features))


def load_inputs(features: Path | str | list) -> FeatureSet:
    """One features file, or several of the same images joined side by side (:func:`join_features`)."""
    paths = as_paths(features)
    sets = [load_features(p) for p in paths]
    return sets[0] if len(sets) == 1 else join_features(sets, [str(p) for p in paths])


def labelled_inputs(features: Path | str | list) -> FeatureSet:
    """:func:`load_inputs` without the unlabelled rows, logged and counted in ``attrs["unlabelled_rows_ignored"]``
    (:func:`features_meta` records it); no labelled row at all is an error naming the file(s)."""
    fs, dropped = labelled_rows(load_inputs(features))
    if dropped:
        logger.info(ignored_unlabelled(dropped))
        fs.attrs["unlabelled_rows_ignored"] = dropped
    if not len(fs):
        raise ValueError(f"{paths_label(features)}: no labelled rows ({dropped} unlabelled)")
    return fs


def is_fine_tuned(attrs: dict) -> bool:
    """True when the features came from a fine-tuned checkpoint: ``head_classes`` is a non-empty JSON list."""
    raw = attrs.get("head_classes")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return False
    return isinstance(raw, (list, tuple, np.ndarray)) and len(raw) > 0


def features_meta(fs: FeatureSet, features: Path | str | list) -> dict:
    """metrics.json's ``meta``: which file(s), backbone, layer and subset, and how they were extracted."""
    paths = as_paths(features)
    meta = {"features": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
            "backbone": fs.attrs.get("backbone"), "layer": fs.attrs.get("layer"), "subset": fs.subset_name,
            "fine_tuned": is_fine_tuned(fs.attrs), "tta": str(fs.attrs.get("tta") or "none")}
    if fs.attrs.get("normalize") is not None:
        meta["normalize"] = _plain(fs.attrs["normalize"])
    if fs.attrs.get("unlabelled_rows_ignored"):  # only then: an older holdout.json's meta stays equal
        meta["unlabelled_rows_ignored"] = int(fs.attrs["unlabelled_rows_ignored"])
    return meta


def method_search(method: str, X: np.ndarray, y: np.ndarray, cfg: SVMConfig):
    """The fitted grid search of ``method`` ("svm" or "logistic") on (X, y), by :func:`svm_solver`'s solver:
    exact, SVC and logistic regression on every row; approximate, :func:`approx_svm_search` and the logistic
    regression's C chosen on :func:`stratified_sample`'s rows. ``solver_`` and ``cv_rows_`` say which and how many
    rows chose the parameters."""
    solver = svm_solver(cfg, len(y))
    if method == "svm" and solver == "approx":
        search = approx_svm_search(X, y, cfg)
    elif method == "svm":
        search = grid_search(svm_pipeline(cfg.multiclass), svm_grid(cfg), X, y, cfg)
    elif solver == "approx":
        search = sampled_search(logistic_pipeline(), logistic_grid(cfg), X, y, cfg)
    else:
        search = grid_search(logistic_pipeline(), logistic_grid(cfg), X, y, cfg)
    search.solver_ = solver
    search.cv_rows_ = getattr(search, "cv_rows_", len(y))
    return search


def methods_of(cfg: SVMConfig) -> list[str]:
    return ["svm"] + (["logistic"] if cfg.logistic else [])


def fit_method(method: str, fs: FeatureSet, train: FeatureSet, features_path: Path | list, out: Path,
               cfg: SVMConfig) -> dict:
    """Grid-search one method on train, evaluate it on every split, write its results; return a summary."""
    start = time.time()
    search = method_search(method, train.features, train.labels, cfg)
    elapsed = time.time() - start
    model = search.best_estimator_
    classes = np.asarray(model.classes_, dtype=np.int64)
    names = class_names(fs, classes)
    metrics, predictions, unseen = evaluate_model(model, fs, classes, names)
    best = short_params(search.best_params_)
    backbone, layer = fs.attrs.get("backbone"), fs.attrs.get("layer")
    meta = features_meta(fs, features_path)
    note = solver_note(method, search.solver_, len(train), cfg, search.cv_rows_)
    meta["solver"] = search.solver_
    metrics["_info"] = {
        "best_params": best,
        "cv_best_score": float(search.best_score_),
        "protocol": cfg.protocol,
        "cv_splits": int(search.n_splits_),
        "multiclass": ("multinomial" if method != "svm" else "ovr-least-squares" if search.solver_ == "approx"
                       else cfg.multiclass),
        "candidates": len(search.cv_results_["params"]),
        "fit_seconds": round(elapsed, 1),
        "solver": search.solver_, "solver_note": note, "cv_rows": int(search.cv_rows_),
        **_common_info(classes, meta["features"], backbone, layer, unseen),
    }
    write_method(out, method, metrics, predictions, meta)
    save_model(out / f"{method}.joblib", {
        "model": model, "classes": classes, "names": names, "best_params": best,
        "cv_best_score": float(search.best_score_), "protocol": cfg.protocol,
        "backbone": backbone, "layer": layer, "feature_dim": int(train.features.shape[1]),
        "features": meta["features"], "method": method,
    })
    atomic_write_text(out / f"{method}_cv.csv", cv_table(search))
    return {"method": method, "best_params": best, "cv_best_score": float(search.best_score_),
            "val": metrics.get("val", {}).get("global"), "fit_seconds": elapsed, "solver": search.solver_,
            "solver_note": note}


def _common_info(classes: np.ndarray, features: str | list, backbone, layer, unseen: dict) -> dict:
    """The ``_info`` entries a trained and a re-applied model share."""
    return {"classes": classes.tolist(), "features": features, "backbone": backbone, "layer": layer,
            "val_rows_unseen_class": unseen.get("val", 0), "rows_unseen_class": unseen}


def train_and_evaluate(features_path: Path | list[Path], out: Path, cfg: SVMConfig) -> list[dict]:
    """The whole command without a saved model: SVM (and logistic) on train, metrics on every split.

    ``features_path`` is one features file or a list of them (joined by image id).
    """
    fs = labelled_inputs(features_path)
    label = paths_label(features_path)
    present = set(fs.splits.tolist())
    for split in SPLIT_ORDER:
        if split not in present:
            raise ValueError(f"{label}: no rows with split {split!r} (splits: {', '.join(sorted(present))})")
    train = fs.split("train")
    classes = np.unique(train.labels)
    val_labels = fs.labels[fs.splits == "val"]
    unseen = int((~np.isin(val_labels, classes)).sum())
    if unseen:
        missing = ", ".join(map(str, np.unique(val_labels[~np.isin(val_labels, classes)])))
        logger.warning("%d of %d val rows are of classes with no train rows (%s); they are left out of the metrics",
                       unseen, len(val_labels), missing)
    logger.info("%s: %d train rows, %d val rows, %d classes, %d dims", label, len(train), len(val_labels),
                len(classes), fs.features.shape[1])
    if svm_solver(cfg, len(train)) == "approx":
        logger.warning(solver_note("svm", "approx", len(train), cfg))
    try:
        return [fit_method(m, fs, train, features_path, out, cfg) for m in methods_of(cfg)]
    except ValueError as err:  # too few rows to cross-validate, and the like: say which file
        raise ValueError(f"{label}: {err}") from None


def apply_saved(model_path: Path, features_path: Path | list[Path], out: Path) -> list[dict]:
    """Re-apply a saved model to a features file (or several, joined); results go under the model file's stem.

    The model file is a pickle: load only ones you wrote.
    """
    bundle = load_model(model_path)
    fs = labelled_inputs(features_path)
    check_compatible(bundle, fs, model_path, paths_label(features_path))
    classes = np.asarray(bundle["classes"], dtype=np.int64)
    names = class_names(fs, classes, fallback=bundle.get("names"))
    metrics, predictions, unseen = evaluate_model(bundle["model"], fs, classes, names)
    if unseen.get("val"):
        logger.warning("%d val rows are of classes the model never saw; they are left out of the metrics",
                       unseen["val"])
    backbone, layer = fs.attrs.get("backbone"), fs.attrs.get("layer")
    meta = features_meta(fs, features_path)
    metrics["_info"] = {
        "model": str(model_path),
        "trained_on": bundle.get("features"),
        "best_params": bundle.get("best_params"),
        "cv_best_score": bundle.get("cv_best_score"),
        "protocol": bundle.get("protocol"),
        **_common_info(classes, meta["features"], backbone, layer, unseen),
    }
    method = model_path.stem
    write_method(out, method, metrics, predictions, meta)
    return [{"method": method, "best_params": bundle.get("best_params"), "cv_best_score": bundle.get("cv_best_score"),
             "val": metrics.get("val", {}).get("global"), "fit_seconds": None}]


# ---------------------------------------------------------------- cross-style hold-out


def holdout_style(fs: FeatureSet, style: str, cfg: SVMConfig) -> dict:
    """Fit each method on the train rows of every style but ``style``; test on all rows of ``style``.

    Returns ``{method: {"top1", "top5", "n", "best_params"}, "train_rows", "rows", "rows_unseen_class"}``;
    rows of ``style`` whose class no training row has cannot be scored and are only counted.
    """
    if fs.styles is None:
        raise ValueError("no styles in the features file; cannot hold one out")
    held = fs.styles == style
    train = fs.subset((fs.splits == "train") & ~held)
    test = fs.subset(held)
    result: dict = {}
    for method in methods_of(cfg):
        search = method_search(method, train.features, train.labels, cfg)
        model = search.best_estimator_
        classes = np.asarray(model.classes_, dtype=np.int64)
        known = np.isin(test.labels, classes)
        scores = chunked_scores(model, test.features[known])[0] if known.any() else np.zeros((0, len(classes)))
        g = evaluate(scores, np.searchsorted(classes, test.labels[known]))["global"]
        result[method] = {"top1": g["top1"], "top5": g["top5"], "n": g["n"],
                          "best_params": short_params(search.best_params_), "solver": search.solver_}
    result.update(train_rows=len(train), rows=len(test), rows_unseen_class=int(len(test) - result["svm"]["n"]))
    return result


def holdout_styles(fs: FeatureSet, spec: str, min_rows: int = HOLDOUT_MIN_ROWS) -> tuple[list[str], list[str]]:
    """(styles to hold out, notes on the skipped ones) for ``--holdout-style`` (names, or ``all``)."""
    if fs.styles is None:
        raise ValueError("no styles in the features file; cannot hold one out")
    known = sorted(set(fs.styles.tolist()))
    if spec.strip() == "all":
        chosen, skipped = [], []
        for style in known:
            rows = fs.styles == style
            n, k = int(rows.sum()), len(np.unique(fs.labels[rows]))
            if n >= min_rows and k >= 2:
                chosen.append(style)
            else:
                skipped.append(f"{style} ({n} rows, {k} class(es); need {min_rows}+ rows and 2+ classes)")
        return chosen, skipped
    names = list(dict.fromkeys(x.strip() for x in spec.split(",") if x.strip()))
    unknown = [x for x in names if x not in known]
    if not names or unknown:
        raise ValueError(f"--holdout-style: unknown style(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"the features have: {', '.join(known)}")
    return names, []


def unseen_styles(fs: FeatureSet, styles: list[str], skipped: list[str]) -> tuple[list[str], list[str]]:
    """A fine-tuned net's features hold out only the style its fine-tune never saw (its attr
    ``trained_without_style``): on any other, the net was trained on the test rows."""
    if not is_fine_tuned(fs.attrs):
        return styles, skipped
    unseen = str(fs.attrs.get("trained_without_style") or "")
    if not unseen:
        raise ValueError("these features come from a fine-tune that saw every style, so no style is held out "
                         "from it; fine-tune with training.finetune --holdout-style S, then hold out S here")
    seen = [s for s in styles if s != unseen]
    if unseen not in styles:
        raise ValueError(f"these features come from a fine-tune that saw every style but {unseen!r}; only that "
                         f"style can be held out from them")
    return [unseen], skipped + [f"{s} (the fine-tune saw it)" for s in seen]


def holdout_config(cfg: SVMConfig) -> dict:
    """The settings a hold-out result depends on (not ``jobs``), as JSON would store them; the solver's
    settings only where they are not the defaults, so that holdout.json files from before them stay valid."""
    config = asdict(cfg)
    config.pop("jobs")
    for key, default in (("solver", "auto"), ("exact_max_rows", EXACT_MAX_ROWS), ("components", APPROX_COMPONENTS)):
        if config[key] == default:
            config.pop(key)
    return json.loads(json.dumps(config))


def read_holdout(out: Path, meta: dict) -> dict:
    """OUT/holdout.json when it was made with ``meta``, else a fresh one; a corrupt file is an error."""
    path = out / HOLDOUT_FILE
    fresh = {"meta": meta, "styles": {}}
    if not path.exists():
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); remove it to start over") from None
    if not isinstance(data, dict) or not isinstance(data.get("styles"), dict):
        raise ValueError(f"{path}: not a hold-out file (no 'styles'); remove it to start over")
    if data.get("meta") != meta:
        logger.warning("%s: made from other features or settings; starting over", path)
        return fresh
    return data


def run_holdout(features_path: Path | list[Path], out: Path, cfg: SVMConfig, spec: str,
                min_rows: int = HOLDOUT_MIN_ROWS) -> dict:
    """Hold out each chosen style in turn, writing OUT/holdout.json after each; styles already there are kept."""
    from tqdm import tqdm

    fs = labelled_inputs(features_path)
    label = paths_label(features_path)
    try:
        styles, skipped = holdout_styles(fs, spec, min_rows)
        styles, skipped = unseen_styles(fs, styles, skipped)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    for note in skipped:
        logger.warning("holdout: skipping style %s", note)
    meta = json.loads(json.dumps({**features_meta(fs, features_path), "config": holdout_config(cfg)}))
    data = read_holdout(out, meta)
    for style in tqdm(styles, desc="hold out styles", unit=" style", disable=None):
        if style in data["styles"]:
            logger.info("holdout: %s already done", style)
            continue
        try:
            data["styles"][style] = holdout_style(fs, style, cfg)
        except ValueError as err:  # too few rows to cross-validate without this style, and the like
            raise ValueError(f"{label}: holding out style {style!r}: {err}") from None
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / HOLDOUT_FILE, json.dumps(data, indent=1) + "\n")
    return {"styles": {s: data["styles"][s] for s in styles}, "skipped": skipped}


def format_holdout(summary: dict, out: Path) -> str:
    lines = []
    for style, r in summary["styles"].items():
        cells = [f"{m} top-1 {percent(r[m]['top1'])} top-5 {percent(r[m]['top5'])} (n={r[m]['n']})"
                 for m in ("svm", "logistic") if m in r]
        lines.append(f"{style:16} " + "  ".join(cells) + f"  trained on {r['train_rows']} rows")
    lines += [f"skipped {note}" for note in summary["skipped"]]
    lines.append(f"  results in {out / HOLDOUT_FILE}")
    return "\n".join(lines)


def format_summary(summary: list[dict], out: Path) -> str:
    lines = []
    for s in summary:
        params = ", ".join(f"{k}={v}" for k, v in (s["best_params"] or {}).items())
        val = s["val"] or {}
        cv = "n/a" if s["cv_best_score"] is None else f"{100 * s['cv_best_score']:.1f}%"
        lines.append(f"{s['method']:9} val top-1 {percent(val.get('top1'))}  top-5 {percent(val.get('top5'))}  "
                     f"(n={val.get('n', 0)})  CV {cv}  best: {params}")
        if s.get("solver") == "approx":
            lines.append(f"  {s['solver_note']}")
    lines.append(f"  results in {out}")
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{flag}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"{flag}: expected positive numbers, got {text!r}")
    return values


def _gammas(text: str) -> tuple[str | float, ...]:
    out: list[str | float] = []
    for x in (x.strip() for x in text.split(",")):
        if not x:
            continue
        if x in GAMMA_NAMES:
            out.append(x)
        else:
            out.extend(_floats(x, "--gamma"))
    if not out:
        raise ValueError("--gamma: give at least one value ('scale', 'auto' or a positive number)")
    return tuple(out)


def config_from_args(args: argparse.Namespace) -> SVMConfig:
    kernels = tuple(k.strip() for k in args.kernels.split(",") if k.strip())
    bad = [k for k in kernels if k not in KERNELS]
    if not kernels or bad:
        raise ValueError(f"--kernels: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(KERNELS)}")
    try:
        degree = tuple(int(d) for d in args.degree.split(",") if d.strip())
    except ValueError:
        raise ValueError(f"--degree: expected comma-separated integers, got {args.degree!r}") from None
    if not degree or any(d < 1 for d in degree):
        raise ValueError(f"--degree: expected integers >= 1, got {args.degree!r}")
    if args.folds < 2:
        raise ValueError(f"--folds must be at least 2, got {args.folds}")
    return SVMConfig(
        protocol=args.protocol, folds=args.folds, kernels=kernels, C=_floats(args.C, "--C"), gamma=_gammas(args.gamma),
        degree=degree, multiclass=args.multiclass, seed=args.seed, jobs=args.jobs, logistic=not args.no_logistic,
        logistic_C=_floats(args.logistic_C, "--logistic-C"), solver=args.solver,
        exact_max_rows=_at_least(args.exact_max_rows, 2, "--exact-max-rows"),
        components=_at_least(args.components, 1, "--components"),
    )


def _at_least(value: int, low: int, flag: str) -> int:
    if value < low:
        raise ValueError(f"{flag} must be at least {low}, got {value}")
    return value


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Features + SVM (and a logistic-regression baseline) on a features file.",
                                add_help=add_help)
    p.add_argument("--features", type=Path, action="append", required=True,
                   help="HDF5 features file written by evaluation.extract; repeat to join several backbones' "
                        "features of the same images")
    p.add_argument("--out", type=Path, required=True, help="results folder (metrics.json, predictions.h5, models)")
    p.add_argument("--model", type=Path, default=None,
                   help="apply this saved model (e.g. OUT/svm.joblib) instead of training; results under its file stem")
    g = p.add_argument_group("parameter search")
    g.add_argument("--protocol", choices=("cv", "thesis"), default="cv",
                   help="cv: stratified k-fold on train (default); thesis: 20%% of train held out, then refit on all")
    g.add_argument("--folds", type=int, default=5, help="k for --protocol cv (default 5; fewer if a class is smaller)")
    g.add_argument("--kernels", default="rbf,linear",
                   help=f"comma-separated, from {','.join(KERNELS)} (default %(default)s)")
    g.add_argument("--C", dest="C", default="0.1,1,10", help="SVM C values (default %(default)s)")
    g.add_argument("--gamma", default="scale",
                   help="rbf/sigmoid/poly gamma values: numbers, 'scale' or 'auto' (default %(default)s)")
    g.add_argument("--degree", default="3", help="poly degrees, comma-separated (default %(default)s)")
    g.add_argument("--multiclass", choices=("ovr", "ovo"), default="ovr",
                   help="ovr: one SVC per class, the thesis's one-vs-rest (default); ovo: libsvm's pairwise SVC")
    g.add_argument("--logistic-C", default="0.01,0.1,1", help="logistic-regression C values (default %(default)s)")
    g.add_argument("--no-logistic", action="store_true", help="skip the logistic-regression baseline")
    g.add_argument("--seed", type=int, default=0, help="fold / hold-out seed (default 0)")
    g.add_argument("--jobs", type=int, default=-1, help="parallel fits in the grid search (default -1: all cores)")
    s = p.add_argument_group("many rows")
    s.add_argument("--solver", choices=SOLVERS, default="auto",
                   help="exact: SVC (cost grows with train rows^2 x classes); approx: a one-vs-rest least-squares "
                        "SVM, kernels through a Nystroem map, and the logistic regression's C chosen on a stratified "
                        "sample of --exact-max-rows rows (cost linear in the rows); auto (default): exact up to "
                        "--exact-max-rows train rows")
    s.add_argument("--exact-max-rows", type=int, default=EXACT_MAX_ROWS,
                   help="--solver auto: the most train rows fitted exactly (default %(default)s)")
    s.add_argument("--components", type=int, default=APPROX_COMPONENTS,
                   help="Nystroem landmarks of the approximate rbf/poly/sigmoid kernels (default %(default)s)")
    h = p.add_argument_group("cross-style hold-out")
    h.add_argument("--holdout-style", default=None, metavar="S",
                   help="instead of the normal run, fit without style S and test on all of S's rows; S is a style, "
                        "a comma-separated list or 'all'; writes only OUT/holdout.json (resumable)")
    h.add_argument("--holdout-min-rows", type=int, default=HOLDOUT_MIN_ROWS,
                   help="with --holdout-style all, skip styles with fewer rows (default %(default)s)")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    features = args.features[0] if len(args.features) == 1 else args.features
    try:
        if args.holdout_style is not None:
            if args.model is not None:
                raise ValueError("--holdout-style fits its own models; it cannot be used with --model")
            held = run_holdout(features, args.out, config_from_args(args), args.holdout_style, args.holdout_min_rows)
            print(format_holdout(held, args.out))
            return 0
        if args.model is not None:
            summary = apply_saved(args.model, features, args.out)
        else:
            summary = train_and_evaluate(features, args.out, config_from_args(args))
    except ValueError as err:  # bad flags, an unreadable, unsuitable or mismatched features or model file
        print(f"evaluation.svm: {err}", file=sys.stderr)
        return 2
    print(format_summary(summary, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
