"""Top-k, true-class rank and cross-entropy from score matrices: arrays in, arrays or dicts out.

``scores`` is (N, C) with higher meaning more likely (logits, probabilities or SVM
decision values); ``targets`` is (N,) column indices of the true class.
"""
from __future__ import annotations

import numpy as np


def percent(x: float | None) -> str:
    """A share as the commands print it: "77.1%", or "n/a" for None."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


def true_rank(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0 when the true class scores highest; the number of classes scoring strictly above it.

    Ties count in the model's favour, as in ``torch.topk``-style accuracy up to tie order.
    """
    scores = np.asarray(scores)
    true = scores[np.arange(len(scores)), targets]
    return (scores > true[:, None]).sum(axis=1)


def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, k) column indices of the k best scores, best first."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-sample -log softmax(logits)[target], computed stably."""
    return -log_softmax(logits)[np.arange(len(targets)), targets]


def summarize(rank: np.ndarray, ce: np.ndarray | None = None) -> dict:
    """{"n", "top1", "top5", "cross_entropy"} for a set of samples (None where undefined)."""
    n = int(len(rank))
    return {
        "n": n,
        "top1": float(np.mean(rank < 1)) if n else None,
        "top5": float(np.mean(rank < 5)) if n else None,
        "cross_entropy": float(np.mean(ce)) if ce is not None and n else None,
    }


def format_global(method: str, split: str, g: dict) -> str:
    """One split's ``summarize`` figures as the commands print them."""
    return (f"{method} {split:5s} n={g['n']:5d}  top-1 {100 * g['top1']:5.1f}%  top-5 {100 * g['top5']:5.1f}%  "
            f"cross-entropy {g['cross_entropy']:.3f}")


def grouped(rank: np.ndarray, keys: np.ndarray, ce: np.ndarray | None = None) -> dict[str, dict]:
    """``summarize`` per distinct key (class wnid, style, source), keys sorted; one pass, however many keys."""
    keys = np.asarray(keys)
    if not len(keys):
        return {}
    names, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.ravel()
    n = np.bincount(inverse, minlength=len(names))
    top1 = np.bincount(inverse, weights=rank < 1, minlength=len(names))
    top5 = np.bincount(inverse, weights=rank < 5, minlength=len(names))
    ce_sum = None if ce is None else np.bincount(inverse, weights=np.asarray(ce, dtype=np.float64),
                                                 minlength=len(names))
    return {str(name): {"n": int(n[i]), "top1": float(top1[i] / n[i]), "top5": float(top5[i] / n[i]),
                        "cross_entropy": None if ce_sum is None else float(ce_sum[i] / n[i])}
            for i, name in enumerate(names.tolist())}


def from_ranks(rank: np.ndarray, *, cross_entropies: np.ndarray | None = None,
               groups: dict[str, np.ndarray] | None = None) -> dict:
    """``evaluate``'s dict from true-class ranks already computed."""
    out = {"global": summarize(rank, cross_entropies)}
    for name, keys in (groups or {}).items():
        if keys is not None:
            out[name] = grouped(rank, keys, cross_entropies)
    return out


def evaluate(
    scores: np.ndarray,
    targets: np.ndarray,
    *,
    cross_entropies: np.ndarray | None = None,
    groups: dict[str, np.ndarray] | None = None,
) -> dict:
    """Global metrics, plus one block per grouping (e.g. ``{"per_class": wnids, "per_style": styles}``)."""
    return from_ranks(true_rank(scores, targets), cross_entropies=cross_entropies, groups=groups)
