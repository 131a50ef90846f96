"""The pure side of the write-back: a method's predictions.h5, scored against each sample's current class.

``curation.writeback`` puts the results onto FiftyOne; everything here is numpy and h5py. A results folder
(evaluation.baseline / evaluation.svm: metrics.json + predictions.h5) holds one group per method with a row per
manifest row; :func:`choose_rows` picks each sample's row, :func:`sample_results` scores the rows against the
sample's current label (recomputing rank and cross-entropy from the row's scores where curation moved the
sample to another class), and :func:`compact_logits` keeps what a stored ``fo.Classification`` needs: a
sample's 5 best classes and its current class keep their logits, every other class gets the log-mean-exp of
theirs. The softmax of each kept class is unchanged and so are the top-5 classes, which is all that FiftyOne's
top-k evaluation and the App use, for ~120 bytes a sample instead of 4 KB at 1000 classes. The (N, K) scores
are read and scored ``SCORE_CHUNK`` rows at a time (:func:`score_blocks`), so memory stays flat as N grows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .features import row_blocks, sample_rows
from .metrics import log_softmax
from .results import METRICS, PREDICTIONS, read_metrics

TOPK = 5
SCORE_CHUNK = 4096  # prediction rows read and scored at a time: bounds the memory of the (N, K) scores
KEEP_LOGITS = TOPK + 1  # logits a stored Classification keeps exactly: the top-5 and the current class
ALL = "all"
PRED_KEYS = ("ids", "splits", "labels", "pred", "scores", "true_rank", "cross_entropy", "classes")


# ---------------------------------------------------------------- results folder


def available_methods(results: Path) -> list[str]:
    """Methods that have predictions in ``results``; a missing or unreadable file is an error naming it."""
    import h5py

    path = Path(results) / PREDICTIONS
    if not path.is_file():
        raise ValueError(f"{path}: no such predictions file (run evaluation.baseline or evaluation.svm first)")
    try:
        with h5py.File(path, "r") as f:
            return sorted(f)
    except OSError as err:
        raise ValueError(f"{path}: not a readable predictions file ({err})") from None


def pick_method(results: Path, method: str | None) -> str:
    methods = available_methods(results)
    path = Path(results) / PREDICTIONS
    if method is None:
        if len(methods) != 1:
            raise ValueError(f"{path}: {len(methods)} methods ({', '.join(methods) or 'none'}); pick one with --method")
        return methods[0]
    if method not in methods:
        raise ValueError(f"{path}: no method {method!r}; has {', '.join(methods) or 'none'}")
    return method


def load_method(results: Path, method: str) -> tuple[dict[str, np.ndarray], dict]:
    """(predictions, info): the method's per-row arrays, checked for shape, and its backbone/layer from metrics.json.

    The (N, K) scores stay in the file (``pred["scores_shape"]`` is their shape): :func:`score_blocks`
    reads them a block at a time, so that memory does not grow with N x K.
    """
    import h5py

    path = Path(results) / PREDICTIONS
    pred: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        if method not in f:
            raise ValueError(f"{path}: no predictions for method {method!r}; has {', '.join(f)}")
        group = f[method]
        missing = [k for k in PRED_KEYS if k not in group]
        if missing:
            raise ValueError(f"{path}: method {method!r} lacks {', '.join(missing)}")
        for key in PRED_KEYS:
            if key != "scores":
                value = group[key][...]
                pred[key] = (np.asarray([v.decode() if isinstance(v, bytes) else v for v in value], dtype=object)
                             if value.dtype == object else value)
        pred["scores_shape"] = tuple(group["scores"].shape)
    n, k = len(pred["ids"]), len(pred["classes"])
    if pred["scores_shape"] != (n, k):
        raise ValueError(f"{path}: method {method!r} has scores {pred['scores_shape']}, expected ({n}, {k})")
    if not np.isin(pred["pred"], pred["classes"]).all():
        raise ValueError(f"{path}: method {method!r} predicts classes that are not among its 'classes'")
    data = read_metrics(results)
    method_info = data["methods"].get(method, {}).get("_info", {})
    meta = data.get("meta", {})
    info = {key: method_info.get(key) or meta.get(key) for key in ("backbone", "layer", "features")}
    info["metrics"] = str(Path(results) / METRICS)
    return pred, info


def score_blocks(path: Path, method: str, rows: np.ndarray, chunk: int | None = None):
    """Yield ``(positions, scores)``: the positions in ``rows`` whose prediction row lies in the next block of at
    most ``chunk`` (default ``SCORE_CHUNK``) consecutive rows of the file, and those rows' scores (float32,
    (len(positions), K)); :func:`evaluation.features.row_blocks`, so the memory is one block whatever the rows.
    """
    import h5py

    with h5py.File(path, "r") as f:
        for positions, scores in row_blocks(f[method]["scores"], rows, chunk or SCORE_CHUNK):
            yield positions, np.asarray(scores, dtype=np.float32)


# ---------------------------------------------------------------- pure core


def is_probabilities(scores: np.ndarray) -> bool:
    """Rows that are probabilities: non-negative, summing to one (the baseline's float16 softmax)."""
    scores = np.asarray(scores, dtype=np.float32)
    return bool(len(scores) and scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-2))


def method_logits(scores: np.ndarray, probabilities: bool | None = None) -> tuple[np.ndarray, bool]:
    """(logits, were_probabilities): probabilities become log-probabilities, other scores stay as they are.

    The baseline stores softmax probabilities as float16 (rows non-negative, summing to 1); their
    log is a valid logit vector, with zeros floored at float16's smallest subnormal. SVM decision
    values and logistic log-probabilities are used as they are. ``probabilities`` decides for a block
    of rows what :func:`is_probabilities` said of all of them (None: decide from these rows).
    """
    scores = np.asarray(scores, dtype=np.float32)
    if probabilities is None:
        probabilities = is_probabilities(scores)
    if probabilities:
        floor = np.float32(np.finfo(np.float16).smallest_subnormal)
        return np.log(np.maximum(scores, floor)), True
    return scores, False


def softmax_at(logits: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """softmax(logits)[i, columns[i]] per row, stably."""
    return np.exp(log_softmax(logits)[np.arange(len(logits)), columns])




def choose_rows(pred_ids: np.ndarray, pred_labels: np.ndarray, sample_ids: list, sample_classes: list) -> np.ndarray:
    """Per sample, its prediction row: the one whose label is the sample's class index, else its first; -1 if none.

    Both are :func:`evaluation.features.sample_rows`: once keyed by (image id, label), then by image id alone."""
    pairs = [f"{i}\t{c}" for i, c in zip(np.asarray(pred_ids).tolist(), np.asarray(pred_labels).tolist())]
    own_class = sample_rows(np.asarray(pairs, dtype=object), [f"{i}\t{c}" for i, c in zip(sample_ids, sample_classes)])
    return np.where(own_class >= 0, own_class, sample_rows(pred_ids, sample_ids))


def compact_logits(logits: np.ndarray, target: np.ndarray, keep: int = KEEP_LOGITS):
    """What the stored Classification keeps of each row of ``logits`` (M, K): ``(columns, values, filler)``.

    ``columns`` (M, keep) are the row's ``keep - 1`` best columns and the current class's ``target``
    (the next best where the target is among them, or is -1), ``values`` their logits (float32), and
    ``filler`` (M,) the log-mean-exp of every other logit. A vector with the kept values in place and
    the filler elsewhere (:func:`expand_logits`) has the same softmax at every kept column and the
    same top-(keep - 1) classes, so FiftyOne's top-k evaluation (k = TOPK) gives what the full logits
    give, for ~120 bytes a sample instead of 4 bytes per class. With K <= keep every logit is kept.
    """
    logits = np.asarray(logits, dtype=np.float32)
    m, k = logits.shape
    if k <= keep:
        return np.tile(np.arange(k), (m, 1)), logits.copy(), np.zeros(m, dtype=np.float32)
    part = np.argpartition(-logits, keep - 1, axis=1)[:, :keep]
    vals = np.take_along_axis(logits, part, axis=1)
    missing = (target >= 0) & ~(part == np.asarray(target)[:, None]).any(axis=1)
    if missing.any():  # the current class is not among the best: it takes the place of the worst of them
        worst = vals[missing].argmin(axis=1)
        part[np.flatnonzero(missing), worst] = target[missing]
        vals = np.take_along_axis(logits, part, axis=1)
    rest = logits.astype(np.float64)
    np.put_along_axis(rest, part, -np.inf, axis=1)
    top = rest.max(axis=1, keepdims=True)
    filler = top[:, 0] + np.log(np.exp(rest - top).sum(axis=1)) - np.log(k - keep)
    return part, vals, filler.astype(np.float32)


def expand_logits(columns: np.ndarray, values: np.ndarray, filler: float, k: int) -> np.ndarray:
    """One row of :func:`compact_logits` as a K-long float32 logit vector."""
    out = np.full(k, filler, dtype=np.float32)
    out[columns] = values
    return out


def class_columns(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The score column of each ILSVRC index in ``values`` (-1 where the method has no such class)."""
    classes, values = np.asarray(classes, dtype=np.int64), np.asarray(values, dtype=np.int64)
    if not len(classes):
        return np.full(len(values), -1, dtype=np.int64)
    sorter = np.argsort(classes)
    at = np.clip(np.searchsorted(classes, values, sorter=sorter), 0, len(classes) - 1)
    col = sorter[at]
    return np.where(classes[col] == values, col, -1).astype(np.int64)


def block_results(scores: np.ndarray, pred: dict, rows: np.ndarray, target: np.ndarray, *, probabilities: bool,
                  has_ce: bool) -> dict:
    """:func:`sample_results` for one block: ``scores`` (M, K) of prediction ``rows`` (M,), current ``target``s."""
    logits, _ = method_logits(scores, probabilities)
    row_col = class_columns(pred["classes"], pred["labels"][rows])
    pred_col = class_columns(pred["classes"], pred["pred"][rows])
    rank = np.where(target >= 0, pred["true_rank"][rows], -1).astype(np.int64)
    ce = np.where(target >= 0, pred["cross_entropy"][rows], np.nan).astype(np.float64)
    moved = (target >= 0) & (row_col != target)  # curated into another class: score the current one
    if moved.any():
        m = np.flatnonzero(moved)
        true = logits[m, target[m]]
        rank[m] = (logits[m] > true[:, None]).sum(axis=1)
        ce[m] = -log_softmax(logits[m])[np.arange(len(m)), target[m]] if has_ce else np.nan
    columns, values, filler = compact_logits(logits, target)
    return {"pred": pred_col, "confidence": softmax_at(logits, pred_col), "rank": rank, "ce": ce,
            "columns": columns, "values": values, "filler": filler, "moved": moved}


def sample_results(pred: dict[str, np.ndarray], rows: np.ndarray, gt_labels: list, class_labels: list[str],
                   blocks) -> dict:
    """Prediction, confidence, rank and cross-entropy of the current label, for the samples with a row.

    ``rows`` (M,) are prediction rows, ``gt_labels`` (M,) the samples' current ground-truth labels,
    ``class_labels`` (K,) the label of each score column, and ``blocks`` a callable that yields
    ``(positions, scores)`` over ``rows`` (:func:`score_blocks`; called twice: first to tell
    probabilities from other scores). Returns arrays of length M: ``pred`` (column), ``confidence``,
    ``target`` (column of the current label, -1 if the method has no such class), ``rank`` (-1 where
    target is -1), ``ce`` (NaN where undefined), the compact logits (``columns``, ``values``,
    ``filler``: :func:`compact_logits`), and ``moved``, the number recomputed for a new class.
    """
    column = {label: i for i, label in enumerate(class_labels)}
    target = np.array([column.get(label, -1) for label in gt_labels], dtype=np.int64)
    has_ce = bool(np.isfinite(pred["cross_entropy"]).any())
    probabilities = len(rows) > 0 and all(is_probabilities(scores) for _, scores in blocks())
    m, keep = len(rows), min(KEEP_LOGITS, len(class_labels))
    out = {"pred": np.zeros(m, np.int64), "confidence": np.zeros(m), "rank": np.zeros(m, np.int64),
           "ce": np.zeros(m), "columns": np.zeros((m, keep), np.int64), "values": np.zeros((m, keep), np.float32),
           "filler": np.zeros(m, np.float32), "moved": np.zeros(m, bool)}
    for pos, scores in blocks():
        part = block_results(scores, pred, rows[pos], target[pos], probabilities=probabilities, has_ce=has_ce)
        for key, value in part.items():
            out[key][pos] = value
    out["target"], out["moved"] = target, int(out["moved"].sum())
    return out


def class_metrics(labels: np.ndarray, splits: np.ndarray, rank: np.ndarray, ce: np.ndarray, *,
                  k: int = TOPK) -> dict[str, dict[str, dict]]:
    """{split or "all": {label: {"n", "top1", "top5", "cross_entropy"}}} over the given samples.

    ``cross_entropy`` is the mean over the samples that have one, None where none has.
    """
    labels, splits = np.asarray(labels).astype(str), np.asarray(splits).astype(str)
    rank, ce = np.asarray(rank), np.asarray(ce, dtype=np.float64)
    out: dict[str, dict[str, dict]] = {}
    for split in [*sorted(set(splits.tolist())), ALL]:
        sel = slice(None) if split == ALL else splits == split
        keys, group = np.unique(labels[sel], return_inverse=True)
        n = np.bincount(group, minlength=len(keys))
        top1 = np.bincount(group, weights=rank[sel] < 1, minlength=len(keys)) / n
        topk = np.bincount(group, weights=rank[sel] < k, minlength=len(keys)) / n
        finite = np.isfinite(ce[sel])
        ce_n = np.bincount(group, weights=finite, minlength=len(keys))
        ce_sum = np.bincount(group, weights=np.where(finite, ce[sel], 0.0), minlength=len(keys))
        out[split] = {str(key): {"n": int(n[i]), "top1": float(top1[i]), f"top{k}": float(topk[i]),
                                 "cross_entropy": float(ce_sum[i] / ce_n[i]) if ce_n[i] else None}
                      for i, key in enumerate(keys)}
    return out


def rank_gain(this_rank: list, other_rank: list) -> list:
    """other - this per sample (> 0: this method ranks the true class higher); None unless both exist."""
    return [None if a is None or b is None else int(b) - int(a) for a, b in zip(this_rank, other_rank)]


def split_accuracy(res: dict, mask: np.ndarray) -> tuple[float | None, float | None]:
    """Top-1 and top-k accuracy of the samples in ``mask`` whose label the method knows, from
    :func:`sample_results`: the predicted class is the current one, the current class ranks below k.
    For a split outside ``--split``: what an unstored FiftyOne evaluation gives (up to ties of scores),
    without reading every sample's logits back."""
    sel = mask & (res["target"] >= 0)
    if not sel.any():
        return None, None
    return float((res["pred"][sel] == res["target"][sel]).mean()), float((res["rank"][sel] < TOPK).mean())
