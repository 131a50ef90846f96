"""The evidence ``evaluation.verify`` weighs for each name match, beyond the word: arrays in, arrays out.

* **The picture** (:func:`class_ranks`): the rank of the matched class among the 1000 ImageNet classes for
  the image, twice: on log-probabilities standardised per class over the dataset's own images (median and
  MAD: a class the network gives every flat icon, "envelope", counts for nothing) and on the raw
  log-probabilities (a class that is rarely given at all, "loudspeaker", stands out less once standardised).
  :func:`null_ranks` ranks other classes on the same pictures: how a class ranks where it is not shown.
* **The icon set's category** (:func:`category_codes`): Iconify's categories ("Interface Essential", "Mail")
  and OpenClipart's folders, as keywords of the files. A category whose other files' labels the first stage
  mostly rejected makes a label less likely right: an icon in "Files & Folders" is rarely a fruit.
* **The head noun** (:func:`head_codes`, ``datasets.names.head_noun``): the matched word only modifies the
  object the name is about (``desk_lamp`` -> desk).
* **A classifier learned from the dataset** (:func:`classifier_support`): logistic regression on the
  drawings' features, trained on the labels the first stage accepted (and the curator's accepted mappings),
  cross-fitted so that no drawing vouches for itself; it gives each labelled row the probability of its
  class.
"""
from __future__ import annotations

import logging

import numpy as np

from datasets.names import head_noun

from .metrics import log_softmax

logger = logging.getLogger(__name__)

ROW_CHUNK = 4096  # images per block when ranking
CATEGORY_BINS = (0.25, 0.5, 0.75)  # kept-share bins of a category; one more code for "no category"
MIN_CATEGORY_FILES = 5  # a category with fewer other labelled files says nothing
CLASSIFIER_DIMS = 128  # PCA dimensions before the logistic regression: 22 s against 70 s, the same AUC (0.87)
CLASSIFIER_C = 0.1


def class_statistics(logit_sets: list[np.ndarray], *, sample: int = 20_000, seed: int = 0) -> list[tuple]:
    """Each logit set's per-class median and MAD of the log-probabilities (over a seeded sample of images)."""
    n = len(logit_sets[0])
    pick = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    stats = []
    for logits in logit_sets:
        ref = log_softmax(logits[pick])
        med = np.median(ref, axis=0)
        stats.append((med, np.median(np.abs(ref - med), axis=0) + 1e-6))
    return stats


def class_ranks(logit_sets: list[np.ndarray], images: np.ndarray, classes: np.ndarray, *,
                sample: int = 20_000, seed: int = 0, stats: list[tuple] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(standardised rank, raw rank) (0 = first) of class ``classes[k]`` among the 1000 for image ``images[k]``.

    ``logit_sets`` are the backbones' logits of the dataset's distinct images (each (N, 1000), rows aligned);
    several backbones are summed. Ties count in the class's favour."""
    stats = stats or class_statistics(logit_sets, sample=sample, seed=seed)
    std = np.empty(len(images), dtype=np.int64)
    raw = np.empty(len(images), dtype=np.int64)
    for start in range(0, len(images), ROW_CHUNK):
        rows = images[start:start + ROW_CHUNK]
        cols = classes[start:start + ROW_CHUNK]
        logp = [log_softmax(logits[rows]) for logits in logit_sets]
        z = sum((lp - med) / mad for lp, (med, mad) in zip(logp, stats))
        total = sum(logp)
        at = np.arange(len(rows))
        std[start:start + len(rows)] = (z > z[at, cols][:, None]).sum(axis=1)
        raw[start:start + len(rows)] = (total > total[at, cols][:, None]).sum(axis=1)
    return std, raw


def null_ranks(logit_sets: list[np.ndarray], images: np.ndarray, classes: np.ndarray, own: np.ndarray, *,
               per_image: int = 4, seed: int = 0, stats: list[tuple] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of ``per_image`` random classes of ``classes`` other than the image's own (``own``), on each of
    ``images``: how a class ranks on a picture that does not show it."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(classes, size=(len(images), per_image))
    keep = pick != np.asarray(own)[:, None]
    img = np.repeat(np.asarray(images), per_image)[keep.ravel()]
    return class_ranks(logit_sets, img, pick.ravel()[keep.ravel()], stats=stats)


def category_codes(rows: list[dict], kept: np.ndarray) -> tuple[np.ndarray, dict]:
    """Per row, the code of its least trusted category: the first stage's kept share among the *other*
    labelled files of that category (Laplace-smoothed), binned by ``CATEGORY_BINS``; ``len(CATEGORY_BINS) + 1``
    for a row with no category of ``MIN_CATEGORY_FILES`` other files. Also {category: (files, kept)}."""
    files: dict[str, int] = {}
    kept_n: dict[str, int] = {}
    for row, k in zip(rows, kept, strict=True):
        for c in set(row.get("keywords") or []):
            files[c] = files.get(c, 0) + 1
            kept_n[c] = kept_n.get(c, 0) + int(k)
    none = len(CATEGORY_BINS) + 1
    codes = np.full(len(rows), none, dtype=np.int64)
    for i, (row, k) in enumerate(zip(rows, kept, strict=True)):
        shares = [(kept_n[c] - int(k) + 1) / (files[c] - 1 + 2) for c in set(row.get("keywords") or [])
                  if files[c] - 1 >= MIN_CATEGORY_FILES]
        if shares:
            codes[i] = int(np.searchsorted(CATEGORY_BINS, min(shares), side="right"))
    return codes, {c: (files[c], kept_n[c]) for c in files}


def head_codes(rows: list[dict]) -> tuple[np.ndarray, list[str | None]]:
    """Per row 1 where the matched words only modify another object noun of the name, else 0; and that noun."""
    heads = [head_noun(r) for r in rows]
    return np.asarray([h is not None for h in heads], dtype=np.int64), heads


def classifier_support(features: np.ndarray, labels: np.ndarray, train: np.ndarray, image_ids: np.ndarray, *,
                       folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold probability of each row's own class (``labels``, -1 for none) under a classifier trained on
    the rows ``train`` marks; 0 where the class has no two training images.

    Images are split into ``folds`` folds (stratified by class where they are trained on); the model of fold
    ``f`` is trained on the training rows of the other folds and scores every row of fold ``f``, so a drawing
    never vouches for itself, nor does a copy of it in another class."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .classify.folds import stratified_folds

    out = np.zeros(len(labels))
    counts = np.bincount(labels[train & (labels >= 0)], minlength=1000)
    usable = train & (labels >= 0) & (counts[np.maximum(labels, 0)] >= 2)
    if len(np.unique(labels[usable])) < 2:
        return out
    names, first, inverse = np.unique(np.asarray(image_ids).astype(str), return_index=True, return_inverse=True)
    strata = np.where(usable[first], labels[first], -1 - (np.arange(len(first)) % folds))
    image_fold, n_folds = stratified_folds(strata, folds, seed, scorable=np.ones(len(first), dtype=bool))
    fold = image_fold[inverse]
    dims = min(CLASSIFIER_DIMS, features.shape[1], int(usable.sum()) - 1)
    for f in range(n_folds):
        fit_rows = usable & (fold != f)
        if len(np.unique(labels[fit_rows])) < 2:
            continue
        model = make_pipeline(StandardScaler(), PCA(dims, random_state=seed),
                              LogisticRegression(C=CLASSIFIER_C, max_iter=500))
        model.fit(features[fit_rows], labels[fit_rows])
        score = np.flatnonzero((fold == f) & (labels >= 0))
        proba = model.predict_proba(features[score])
        column = {c: j for j, c in enumerate(model.classes_)}
        at = np.asarray([column.get(int(c), -1) for c in labels[score]])
        out[score] = np.where(at >= 0, proba[np.arange(len(score)), np.maximum(at, 0)], 0.0)
    return out
