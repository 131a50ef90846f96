"""Choosing a method's parameters: scikit-learn's ``GridSearchCV`` on every train row (exact), on a stratified
sample (the logistic regression of a large run), or from one pass of statistics per kernel map (the
approximate SVM); and which of them a run uses (:func:`svm_solver`)."""
from __future__ import annotations

import csv
import io
import logging
import time
from types import SimpleNamespace

import numpy as np

from .config import SOLVERS, SVMConfig
from .folds import held_out_fold, make_cv
from .lssvm import LeastSquaresSVM, fold_correct, fold_models, least_squares_ovr
from .models import logistic_grid, logistic_pipeline, short_params, svm_grid, svm_pipeline
from .stats import bucket_statistics, kernel_map, standardisation

logger = logging.getLogger(__name__)


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


def approx_candidates(cfg: SVMConfig) -> list[LeastSquaresSVM]:
    """The grid's kernel maps as unfitted :class:`LeastSquaresSVM` (C set later), in the grid's order."""
    def model(kernel, **kw):
        return LeastSquaresSVM(kernel=kernel, n_components=cfg.components, random_state=cfg.seed, **kw)

    out = []
    for kernel in cfg.kernels:
        if kernel == "linear":
            out.append(model(kernel))
        elif kernel == "poly":
            out.extend(model(kernel, gamma=g, degree=d) for g in cfg.gamma for d in cfg.degree)
        else:
            out.extend(model(kernel, gamma=g) for g in cfg.gamma)
    return out


def approx_svm_search(X: np.ndarray, y: np.ndarray, cfg: SVMConfig):
    """The grid search of :func:`grid_search` for :class:`LeastSquaresSVM`, at a cost linear in the rows.

    The folds are :func:`make_cv`'s. Per kernel map, one pass gathers every fold's statistics and a
    second scores each fold's held-out rows with the model of the other folds, for every C; the refit on
    all rows is the totals' model. The standardisation and the Nystroem landmarks come from all the rows
    given (no labels involved), not fold by fold. Returns what ``evaluation.svm`` reads of a
    ``GridSearchCV``: ``cv_results_``, ``best_params_``, ``best_score_``, ``best_estimator_``, ``n_splits_``.

    ``GridSearchCV`` over the same estimator maps and solves again for every fold and C (15 times for 3 C x
    5 folds). Measured by ``benchmarks/classify_bench.py search`` (2 shared CPU cores, 20,000 rows x 512 dims x
    100 classes, linear and rbf with 256 landmarks, 3 C, 5 folds): the same parameters chosen, CV accuracies
    within 0.0001, 3.5 s here against 20.5 s (5.9x).
    """
    from scipy.stats import rankdata

    classes, codes = np.unique(y, return_inverse=True)
    fold, n_folds = held_out_fold(y, cfg)
    standard = standardisation(X)
    candidates = approx_candidates(cfg)
    logger.info("svm (approximate): %d kernel map(s) x %d C x %d split(s) on %d train rows, %d classes",
                len(candidates), len(cfg.C), n_folds, len(y), len(classes))
    params, scores, seconds, fitted = [], [], [], []
    for model in candidates:
        start = time.perf_counter()
        kw = model.kernel_params()
        fmap = kernel_map(X, standard, model.kernel, kw, cfg.components, cfg.seed)
        stats = bucket_statistics(X, fmap, codes, fold, len(classes))
        held = np.bincount(fold, minlength=n_folds + 1)[:n_folds]
        accuracy = fold_correct(X, fmap, codes, fold, fold_models(stats, n_folds, cfg.C)) / held[:, None]
        fitted.append((model, fmap, {k: v.sum(axis=0) for k, v in stats.items()}))
        for j, C in enumerate(cfg.C):
            params.append({"svm__kernel": model.kernel, "svm__C": C, **{f"svm__{k}": v for k, v in kw.items()}})
            scores.append(accuracy[:, j])
        seconds.extend([(time.perf_counter() - start) / (len(cfg.C) * n_folds)] * len(cfg.C))
    scores = np.array(scores)
    mean = scores.mean(axis=1)
    best = int(np.argmax(mean))
    model, fmap, total = fitted[best // len(cfg.C)]
    (W, b), = least_squares_ovr(total["gram"], total["sum"], total["class_sums"], total["counts"],
                                (params[best]["svm__C"],))
    results = {"params": params, "mean_test_score": mean, "std_test_score": scores.std(axis=1),
               "rank_test_score": rankdata(-mean, method="min").astype(np.int64), "mean_fit_time": np.array(seconds)}
    model.set_params(C=params[best]["svm__C"]).set_fitted(fmap, W, b, classes)
    return SimpleNamespace(cv_results_=results, best_params_=params[best], best_score_=float(mean[best]),
                           best_estimator_=model, n_splits_=n_folds)


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
    why = (f"{train_rows:,} train rows > --exact-rows {cfg.exact_max_rows:,}" if cfg.solver == "auto"
           else "--solver approx")
    if method == "svm":
        return (f"svm: approximate ({why}): one-vs-rest least-squares SVM, kernels other than linear through a "
                f"{cfg.components}-landmark Nystroem map, C/kernel chosen by the same cross-validation")
    return (f"logistic: C chosen on a stratified sample of {cv_rows:,} of the {train_rows:,} train rows ({why}), "
            "then refitted on all of them")


def methods_of(cfg: SVMConfig) -> list[str]:
    return ["svm"] + (["logistic"] if cfg.logistic else [])


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
