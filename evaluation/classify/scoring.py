"""A fitted model on a features file: its class scores a chunk of rows at a time, and a method's metrics and
predictions per split (shared by every method scored from features: ``evaluation.svm``, ``evaluation.head``)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..features import FeatureSet
from ..metrics import evaluate, topk, true_rank
from .models import method_kind
from .stats import CHUNK

SPLIT_ORDER = ("train", "val")


def class_scores(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(scores (N, K), log-probabilities or None): decision values for the SVM, log-probabilities for logistic."""
    if method_kind(model) == "logistic":
        logp = model.predict_log_proba(X)
        return logp, logp
    scores = model.decision_function(X)
    if scores.ndim == 1:  # two classes: sklearn gives the score of classes_[1] only
        scores = np.stack([-scores, scores], axis=1)
    return scores, None


def chunked_scores(model, X: np.ndarray, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`class_scores` of ``X`` a chunk of rows at a time: the model's temporaries stay a chunk's size."""
    scores, logp = None, None
    for start in range(0, len(X), chunk):
        s, lp = class_scores(model, X[start : start + chunk])
        if scores is None:
            scores = np.empty((len(X), s.shape[1]), dtype=s.dtype)
            logp = scores if lp is not None else None
        scores[start : start + len(s)] = s
    return scores, logp


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


def _ranks_and_top5(scores: np.ndarray, targets: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's true-class rank and its top-5 classes (-1 pads), a chunk at a time: (N, K) temporaries."""
    ranks = np.zeros(len(scores), dtype=np.int64)
    top5 = np.full((len(scores), 5), -1, dtype=np.int64)
    for start in range(0, len(scores), CHUNK):
        part = slice(start, start + CHUNK)
        ranks[part] = true_rank(scores[part], targets[part])
        top5[part, : min(5, len(classes))] = classes[topk(scores[part], 5)]
    return ranks, top5


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
    ranks, top5 = _ranks_and_top5(scores, targets, classes)
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
