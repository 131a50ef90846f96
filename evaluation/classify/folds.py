"""Which rows are held out where: stratified k-fold that shrinks to the data and never holds out a singleton,
and the thesis's stratified hold-out. Every cross-validation of the project splits here.

A fold array gives each row (or image) the fold it is held out in, ``-1`` for never (always trained on):
scikit-learn's ``PredefinedSplit`` reads the same convention, so :func:`make_cv` hands ``GridSearchCV`` the very
splits that ``classify.oof``, ``classify.search`` and ``evaluation.suggest`` use.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from .config import SVMConfig

logger = logging.getLogger(__name__)


def stratified_folds(strata: np.ndarray, folds: int, seed: int, *, scorable: np.ndarray | None = None,
                     shrink: str = "largest") -> tuple[np.ndarray, int]:
    """(fold of each item, -1 where never held out; the number of folds): ``StratifiedKFold`` (shuffled, seeded)
    over the ``scorable`` items, stratified on ``strata``.

    ``scorable`` (a boolean mask) defaults to the items whose stratum has 2+ members: a singleton held out
    would leave its class out of training. The number of folds shrinks from ``folds`` to the size of the
    ``shrink`` ("largest" or "smallest") stratum among the scorable items, at least 2. With "largest", strata
    of 2 to k-1 members are spread over distinct folds, so every training side keeps at least one of them
    (scikit-learn's warning about it is silenced); "smallest" gives every fold every stratum.
    """
    strata = np.asarray(strata)
    values, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    if scorable is None:
        scorable = counts[inverse] >= 2
    rows = np.flatnonzero(scorable)
    sizes = np.unique(strata[rows], return_counts=True)[1]
    size = int(sizes.max() if shrink == "largest" else sizes.min()) if len(sizes) else 0
    n_splits = max(2, min(folds, size))
    fold = np.full(len(strata), -1, dtype=np.int64)
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for f, (_, held) in enumerate(splitter.split(np.zeros((len(rows), 1)), strata[rows])):
            fold[rows[held]] = f
    return fold, n_splits


def class_folds(labels: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes with 2+ rows, column of each row or -1, fold of each row or -1): :func:`stratified_folds` of the
    labels, for out-of-fold scores of every row whose class can be held out."""
    y = np.asarray(labels)
    values, counts = np.unique(y, return_counts=True)
    classes = values[counts >= 2]
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes with 2+ rows to cross-validate, got {len(classes)}")
    fold, _ = stratified_folds(y, folds, seed)
    target = np.full(len(y), -1, dtype=np.int64)
    rows = fold >= 0
    target[rows] = np.searchsorted(classes, y[rows])
    return classes, target, fold


def holdout_fold(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The thesis protocol: 0 for a stratified, seeded ``fraction`` of the rows of classes with 2+ rows, -1 for
    the rest (a singleton can only be learnt from)."""
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    eligible = np.flatnonzero(np.isin(y, classes[counts >= 2]))
    if len(np.unique(y[eligible])) < 2:
        raise ValueError("thesis protocol: need at least 2 classes with 2+ train rows to hold some out")
    try:
        _, held = train_test_split(eligible, test_size=fraction, stratify=y[eligible], random_state=seed)
    except ValueError as err:
        raise ValueError(f"thesis protocol: cannot hold out {fraction:.0%} of train, stratified ({err})") from None
    fold = np.full(len(y), -1)
    fold[held] = 0
    return fold


def make_cv(y: np.ndarray, cfg: SVMConfig):
    """The ``PredefinedSplit`` that GridSearchCV uses on train: k-fold (``cfg.protocol == "cv"``) or the thesis's
    hold-out (:func:`holdout_fold`).

    k-fold stratifies every row, singletons included, and shrinks to the smallest class (at least 2 folds):
    the split evaluation.svm has always used, so its figures stay comparable.
    """
    from sklearn.model_selection import PredefinedSplit

    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"train has {len(classes)} class(es); an SVM needs at least 2")
    if cfg.protocol == "thesis":
        return PredefinedSplit(holdout_fold(y, cfg.holdout, cfg.seed))
    if cfg.protocol != "cv":
        raise ValueError(f"protocol must be 'cv' or 'thesis', got {cfg.protocol!r}")
    n_splits = max(2, min(cfg.folds, int(counts.min())))
    if int((counts >= n_splits).sum()) < 2:
        raise ValueError(
            f"cannot cross-validate: {n_splits}-fold needs at least 2 classes with {n_splits}+ train rows, "
            f"but only {int((counts >= n_splits).sum())} of {len(classes)} classes have them"
        )
    if n_splits < cfg.folds:
        logger.warning("smallest train class has %d row(s): using %d folds instead of %d",
                       int(counts.min()), n_splits, cfg.folds)
    fold, _ = stratified_folds(y, cfg.folds, cfg.seed, scorable=np.ones(len(y), dtype=bool), shrink="smallest")
    return PredefinedSplit(fold)


def held_out_fold(y: np.ndarray, cfg: SVMConfig) -> tuple[np.ndarray, int]:
    """(each row's held-out fold under :func:`make_cv`, the number of folds); rows never held out (the thesis
    protocol's fitting side) get the number of folds, a last bucket of their own."""
    fold = make_cv(y, cfg).test_fold.astype(np.int64)
    n_folds = int(fold.max()) + 1
    fold[fold < 0] = n_folds
    return fold, n_folds
