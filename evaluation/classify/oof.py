"""Out-of-fold scores: every row scored by a model that never saw it (``curation.hygiene``'s mislabel scores).

:func:`cross_validated_probabilities` fits the exact-kernel SVM per fold (rows^2 floats of memory);
:func:`cross_validated_linear` a shrunk LDA from one pass of statistics, for any number of rows. Both split
with ``classify.folds.class_folds`` and calibrate with ``classify.calibration.fit_temperature``.
"""
from __future__ import annotations

import numpy as np

from ..features import row_blocks
from .calibration import fit_temperature, softmax_summary
from .folds import class_folds
from .lda import fold_statistics, shrunk_lda, within_class_shrinkage
from .models import precomputed_svm
from .stats import CHUNK, KernelMap

TEMPERATURE_ROWS = 20_000  # out-of-fold rows the temperature is fitted on (a seeded sample when there are more)


def _checked(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(features), np.asarray(labels)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"features must be (N, D) with one label per row; got {X.shape} and {y.shape}")
    return X, y


def cross_validated_probabilities(features: np.ndarray, labels: np.ndarray, *, folds: int = 5, seed: int = 0,
                                  kernel: str = "rbf", C: float = 1.0,
                                  jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold class probabilities: every row is scored by an SVM that never saw it.

    The SVM is ``classify.models.svm_pipeline``'s (standardised features, one-vs-rest SVC, rbf with
    ``gamma="scale"`` or linear, ``C``), with the kernel computed once per fold (``precomputed_svm``).

    Returns ``(probs, classes)``: ``probs`` is float64 of shape ``(N, K)``, each scored row summing to 1,
    columns in the order of ``classes`` (the sorted labels that could be scored, shape ``(K,)``).

    Rows of a class with a single member cannot be held out and still have their class learnt: they
    are left out of training and get a row of NaN, and their class is not a column. Classes with 2 to
    ``folds - 1`` members need no special care: stratified k-fold spreads their rows over distinct
    folds, so every training fold keeps at least one. ``folds`` shrinks to the largest class when even
    that is smaller (``classify.folds.class_folds``).

    The probabilities are the out-of-fold decision values (``cross_val_predict``) calibrated by
    temperature scaling, ``softmax(beta * scores)`` with ``beta`` minimising the log loss of those same
    out-of-fold values (:func:`fit_temperature`). One parameter for all rows barely learns any row's own
    label, and it costs one SVM fit per fold, where ``SVC(probability=True)`` (deprecated in scikit-learn
    1.9) ran an internal 5-fold Platt scaling in every fit.
    """
    from scipy.special import softmax
    from sklearn.model_selection import PredefinedSplit, cross_val_predict

    X, y = _checked(features, labels)
    classes, target, fold = class_folds(y, folds, seed)
    rows = np.flatnonzero(fold >= 0)
    scores = cross_val_predict(precomputed_svm(kernel, C), X[rows], target[rows], cv=PredefinedSplit(fold[rows]),
                               method="decision_function", n_jobs=jobs)
    if scores.ndim == 1:  # two classes: the score of the second only
        scores = np.stack([-scores, scores], axis=1)
    beta = fit_temperature(scores, target[rows])
    probs = np.full((len(y), len(classes)), np.nan)
    probs[rows] = softmax(beta * scores, axis=1)
    return probs, classes


def cross_validated_linear(features: np.ndarray, labels: np.ndarray, *, folds: int = 5,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Out-of-fold top-1 predictions of a linear model, for more rows than :func:`cross_validated_probabilities`
    can take (its kernel is rows^2 floats per fold).

    The model is a shrunk linear discriminant analysis (``classify.lda.shrunk_lda``) on standardised features:
    one pass over the rows gives every fold's sufficient statistics, a fold's model is the totals less that
    fold's (the same split as :func:`cross_validated_probabilities`), so the cost is ``rows x dims^2 + rows x
    dims x classes`` and memory ``folds x classes x dims`` floats plus a chunk of rows, whatever the row count.
    One-vs-rest linear SVMs or multinomial logistic regression would need a thousand fits, or a thousand-column
    iterative fit, per fold at 1,000 classes. Scores become probabilities by temperature scaling, as there,
    ``beta`` fitted on at most ``TEMPERATURE_ROWS`` out-of-fold rows (a seeded sample).

    Returns ``(best, confidence, entropy, classes, info)``: per row the column of ``classes`` (sorted labels
    with 2+ rows) it is predicted as, that probability and the entropy of its probabilities; rows of a
    single-member class get -1, NaN, NaN. ``info`` has the shrinkage, ``beta`` and the folds.
    """
    X, y = _checked(features, labels)
    classes, target, fold = class_folds(y, folds, seed)
    stats = fold_statistics(X, target, fold, len(classes))
    shrinkage = within_class_shrinkage(X, target, fold, stats)
    totals = {k: stats[k].sum(axis=0) for k in ("gram", "sums", "counts")}
    models = [shrunk_lda(totals["gram"] - stats["gram"][f], totals["sums"] - stats["sums"][f],
                         totals["counts"] - stats["counts"][f], shrinkage) for f in range(len(stats["gram"]))]
    rows = np.flatnonzero(fold >= 0)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(rows, size=min(len(rows), TEMPERATURE_ROWS), replace=False))
    standard = KernelMap(stats["mean"], stats["scale"], dtype=np.float64)
    beta = fit_temperature(_oof_scores(X, sample, fold, models, standard), target[sample])
    best = np.full(len(y), -1, dtype=np.int64)
    confidence = np.full(len(y), np.nan)
    entropy = np.full(len(y), np.nan)
    for part in np.array_split(rows, max(1, -(-len(rows) // CHUNK))):
        best[part], confidence[part], entropy[part] = softmax_summary(
            beta * _oof_scores(X, part, fold, models, standard))
    info = {"shrinkage": round(shrinkage, 6), "beta": round(beta, 6), "folds": len(models)}
    return best, confidence, entropy, classes, info


def _oof_scores(X: np.ndarray, rows: np.ndarray, fold: np.ndarray, models: list, standard: KernelMap) -> np.ndarray:
    """Scores (len(rows), K) of ``rows``, each by the model of the folds it was not in."""
    out = np.empty((len(rows), models[0][1].shape[0]))
    for f, (W, b) in enumerate(models):
        take = np.flatnonzero(fold[rows] == f)
        for positions, values in row_blocks(X, rows[take], CHUNK):
            out[take[positions]] = standard(values) @ W + b
    return out
