"""Open-set decisions for ``evaluation.suggest``: a class, or none ("none of the known classes").

From two pools of out-of-fold confidences, the known-class images (right when the top class is one of theirs)
and the "other" pool (images of classes left out of the fit, so any suggestion there is wrong), this chooses
the abstain threshold that reaches a target precision (:func:`choose_threshold`), estimates precision and
coverage at a threshold (:func:`figures`; cross-fitted in :func:`cross_fitted`) and the share of other-object
drawings among new rows (:func:`estimate_open_share`), and decides each new row (:func:`decide`). The rules
are spelt out in ``evaluation.suggest``'s docstring. Arrays in, arrays out.
"""
from __future__ import annotations

import math

import numpy as np

from .features import UNLABELLED


def class_score(logp: np.ndarray, z: np.ndarray | None, cols: np.ndarray, kind: str) -> np.ndarray:
    """The thresholded score of class ``cols[i]`` in row i: -log(1 - p) for msp (increasing in the probability p,
    without p rounding to a tie at 1.0), the calibrated logit for max-logit."""
    from scipy.special import logsumexp

    rows = np.arange(len(logp))
    if kind != "msp":
        return z[rows, cols]
    rest = logp.copy()
    rest[rows, cols] = -np.inf
    return -logsumexp(rest, axis=1)


def confidence_score(logp: np.ndarray, z: np.ndarray | None, kind: str) -> np.ndarray:
    """:func:`class_score` of each row's top class."""
    return class_score(logp, z, logp.argmax(axis=1), kind)


def threshold_value(t: float, kind: str) -> float | None:
    """The threshold as reported: a probability for msp, None for abstain-on-all."""
    return None if math.isinf(t) else (-math.expm1(-t) if kind == "msp" else t)


def precision_curve(known_conf: np.ndarray, known_ok: np.ndarray, other_conf: np.ndarray,
                    share: float) -> tuple[np.ndarray, np.ndarray]:
    """(candidate thresholds ascending, estimated precision when suggesting at conf >= each; NaN: none suggested)."""
    t = np.unique(np.concatenate([known_conf, other_conf]))
    order = np.argsort(known_conf, kind="stable")
    kc = known_conf[order]
    at = np.searchsorted(kc, t, side="left")
    right = np.concatenate([np.cumsum(known_ok[order][::-1])[::-1], [0]])[at] / len(kc)
    suggested = (len(kc) - at) / len(kc)
    other = (len(other_conf) - np.searchsorted(np.sort(other_conf), t, side="left")) / max(len(other_conf), 1)
    num = (1 - share) * right
    den = (1 - share) * suggested + share * other
    with np.errstate(invalid="ignore", divide="ignore"):
        return t, np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def min_support(precision: float) -> int:
    """Known-class suggestions a higher candidate threshold needs to veto a lower one: below 1 / (1 - target)
    (20 at 95%), a single other-pool image above them puts the estimate under the target whatever the rest."""
    return math.ceil(1 / (1 - precision) - 1e-9)


def choose_threshold(known_conf: np.ndarray, known_ok: np.ndarray, other_conf: np.ndarray, *, precision: float,
                     share: float, max_other: float | None = None) -> float:
    """The smallest candidate t with precision(t) >= ``precision`` and precision(t') >= ``precision`` at every
    candidate t' > t with :func:`min_support` known-class suggestions; inf if there is none.

    The monotone (conservative) rule, except that the few most confident images cannot veto alone: their
    errors still count in the precision at every lower threshold.
    """
    t, prec = precision_curve(known_conf, known_ok, other_conf, share)
    support = len(known_conf) - np.searchsorted(np.sort(known_conf), t, side="left")
    passing = np.isnan(prec) | (prec >= precision - 1e-12)
    vetoes = np.flatnonzero(~passing & (support >= min_support(precision)))
    start = vetoes[-1] + 1 if len(vetoes) else 0
    eligible = np.flatnonzero(passing[start:])
    if not len(eligible):
        return math.inf
    return max(float(t[start + eligible[0]]), other_bound(other_conf, max_other))


def estimate_open_share(new_conf: np.ndarray, known_conf: np.ndarray, other_conf: np.ndarray) -> float | None:
    """The share of unlabelled drawings that show none of the known classes, estimated from their confidences.

    The unlabelled confidences are taken as a mixture of the known-class and the other pool's
    (out-of-fold): ``F_new = (1 - s) F_known + s F_other``, the empirical CDFs compared at every pooled
    value; ``s`` is the least-squares fit, in [0, 1]. None without unlabelled rows or an other pool.
    Other objects unlike every known class score lower than the left-out classes do, so on such a pool
    this reads high rather than low.
    """
    if not len(new_conf) or not len(other_conf) or not len(known_conf):
        return None
    grid = np.unique(np.concatenate([new_conf, known_conf, other_conf]))

    def cdf(x):
        return np.searchsorted(np.sort(x), grid, side="right") / len(x)

    fk = cdf(known_conf)
    a, b = cdf(other_conf) - fk, cdf(new_conf) - fk
    denom = float((a * a).sum())
    return None if denom == 0 else float(np.clip((a * b).sum() / denom, 0.0, 1.0))


def other_bound(other_conf: np.ndarray, max_other: float | None) -> float:
    """The smallest threshold at which at most ``max_other`` of the other pool is given a class (-inf: no bound)."""
    if max_other is None or not len(other_conf):
        return -math.inf
    ranked = np.sort(other_conf)[::-1]
    allowed = int(math.floor(max_other * len(ranked) + 1e-9))  # other images that may clear the threshold
    return -math.inf if allowed >= len(ranked) else float(np.nextafter(ranked[allowed], math.inf))


def figures(t: float, known_conf: np.ndarray, known_ok: np.ndarray, other_conf: np.ndarray,
            share: float) -> dict:
    """precision (the mix of both pools), coverage, other_suggested and known_precision at threshold ``t``."""
    sk = known_conf >= t
    fk, fc = float(sk.mean()), float((sk & known_ok).mean())
    fo = float((other_conf >= t).mean()) if len(other_conf) else 0.0
    den = (1 - share) * fk + share * fo
    return {"precision": (1 - share) * fc / den if den > 0 else None, "coverage": fk,
            "other_suggested": fo if len(other_conf) else None,
            "known_precision": float((sk & known_ok).sum() / sk.sum()) if sk.any() else None}


def cross_fitted(known_conf: np.ndarray, known_ok: np.ndarray, other_conf: np.ndarray, *, precision: float,
                 max_other: float | None, share: float, seed: int, other_group: np.ndarray | None = None) -> dict:
    """``figures`` with the threshold chosen on one half of both pools and measured on the other, both ways,
    averaged (a figure undefined on one half, e.g. nothing suggested, is averaged over the other).

    The known-class images are halved at random; the other pool by its class groups (``other_group``: even
    and odd groups) where there are two or more, since unseen classes, not images, are what varies there.
    """
    rng = np.random.default_rng(seed + 1)
    half_k = rng.permutation(len(known_conf)) % 2
    if other_group is not None and len(np.unique(other_group)) >= 2:
        half_o = np.searchsorted(np.unique(other_group), other_group) % 2
    else:
        half_o = rng.permutation(len(other_conf)) % 2
    runs = []
    for h in (0, 1):
        a, b = half_k == h, half_o == h
        t = choose_threshold(known_conf[a], known_ok[a], other_conf[b], precision=precision, share=share,
                             max_other=max_other)
        runs.append(figures(t, known_conf[~a], known_ok[~a], other_conf[~b], share))
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def exclusion_mask(exclude: dict | None, m: int, classes: np.ndarray) -> np.ndarray:
    """(m, K) bool: the classes never to propose for each scored row (labels not among ``classes`` ignored)."""
    mask = np.zeros((m, len(classes)), dtype=bool)
    column = {int(c): k for k, c in enumerate(classes)}
    for row, labels in (exclude or {}).items():
        if not 0 <= int(row) < m:
            raise ValueError(f"exclude: row {row} out of range (0..{m - 1})")
        mask[int(row), [column[int(c)] for c in labels if int(c) in column]] = True
    return mask


def decide(logp: np.ndarray, z: np.ndarray, excluded: np.ndarray, threshold: float, classes: np.ndarray,
           kind: str) -> tuple[np.ndarray, ...]:
    """(suggestion, confidence, top5, top5_proba): the best allowed class when its score reaches ``threshold``."""
    proba = np.exp(logp)
    allowed = np.where(excluded, -1.0, proba)
    order = np.argsort(-allowed, axis=1, kind="stable")[:, :5]
    top_p = np.take_along_axis(allowed, order, axis=1)
    top5 = np.where(top_p >= 0, classes[order], UNLABELLED)
    top5_proba = np.where(top_p >= 0, top_p, np.nan)
    best = order[:, 0] if len(order) else np.zeros(0, dtype=np.int64)
    rows = np.arange(len(proba))
    score = class_score(logp, z, best, kind)
    ok = (~excluded[rows, best]) & (score >= threshold)
    suggestion = np.where(ok, classes[best], UNLABELLED) if len(rows) else np.zeros(0, dtype=np.int64)
    confidence = np.where(excluded[rows, best], 0.0, proba[rows, best])
    if top5.shape[1] < 5:  # fewer than 5 classes: pad
        pad = 5 - top5.shape[1]
        top5 = np.pad(top5, ((0, 0), (0, pad)), constant_values=UNLABELLED)
        top5_proba = np.pad(top5_proba, ((0, 0), (0, pad)), constant_values=np.nan)
    return suggestion.astype(np.int64), confidence, top5.astype(np.int64), top5_proba


def pool_report(new_conf: np.ndarray, t: float, known_conf: np.ndarray, known_ok: np.ndarray,
                other_conf: np.ndarray) -> dict:
    """What the unlabelled rows themselves say: their estimated share of other-object drawings
    (:func:`estimate_open_share`) and the precision to expect from the suggestions at that share."""
    share = estimate_open_share(new_conf, known_conf, other_conf)
    expected = None if share is None or math.isinf(t) else figures(t, known_conf, known_ok, other_conf,
                                                                   min(share, 1 - 1e-9))["precision"]
    return {"estimated_open_share": share, "expected_precision": expected}
