"""Scores to probabilities: temperature scaling (one optimiser for every loss that calls it), the expected
calibration error, and the softmax summary (top class, its probability, the entropy) of a score matrix.

:func:`fit_temperature` is the fit of scikit-learn's ``CalibratedClassifierCV(method="temperature")``, done on
given scores because that class wants an estimator to re-run. ``evaluation.suggest`` fits its own loss
(any of an image's classes counts as right, Laplace-smoothed targets, and CLIP's weight beside the temperature:
:func:`fit_calibration`) with the same optimiser.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

ECE_BINS = 15
LOG_BETA_BOUNDS = (-10.0, 10.0)  # the temperature's search range, in log(1 / temperature)


def best_temperature(loss: Callable[[float], float]) -> float:
    """``beta`` (1 / temperature) in exp(-10)..exp(10) minimising ``loss(beta)``: a bounded search on log beta."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda log_beta: loss(np.exp(log_beta)), bounds=LOG_BETA_BOUNDS, method="bounded")
    return float(np.exp(res.x))


def fit_temperature(scores: np.ndarray, target: np.ndarray) -> float:
    """``beta`` minimising the mean log loss of ``softmax(beta * scores)`` at the columns ``target``."""
    from scipy.special import log_softmax

    picked = (np.arange(len(target)), target)
    return best_temperature(lambda beta: -float(log_softmax(beta * scores, axis=1)[picked].mean()))


def log_probs(scores: np.ndarray, clip: np.ndarray | None, a: float, b: float) -> np.ndarray:
    """Calibrated log-probabilities: log_softmax(a * scores + b * clip); ``b / a`` is CLIP's weight w."""
    from scipy.special import log_softmax

    z = a * np.asarray(scores, dtype=np.float64)
    if clip is not None and b:
        z = z + b * clip
    return log_softmax(z, axis=1)


def calibrated_logits(scores: np.ndarray, clip: np.ndarray | None, a: float, b: float) -> np.ndarray:
    return a * scores + (b * clip if clip is not None and b else 0.0)


def set_log_loss(logp: np.ndarray, label_sets: np.ndarray) -> float:
    """Mean -log of the probability of the image's classes (any of them counts as right)."""
    from scipy.special import logsumexp

    return -float(np.mean(logsumexp(np.where(label_sets, logp, -np.inf), axis=1)))


def smoothed_log_loss(logp: np.ndarray, label_sets: np.ndarray) -> float:
    """:func:`set_log_loss` against targets smoothed by Laplace's rule: right with probability 1 - 1/(n+2).

    With every out-of-fold image right (separable classes), the plain log loss falls for ever as the
    temperature goes to 0 and every probability to 1; these targets stop it where the confidence
    matches (n+1)/(n+2), what n right out of n supports. On other data the difference is negligible.
    """
    from scipy.special import logsumexp

    eps = 1.0 / (len(logp) + 2)
    right = logsumexp(np.where(label_sets, logp, -np.inf), axis=1)
    wrong = logsumexp(np.where(label_sets, -np.inf, logp), axis=1)
    wrong = np.where(label_sets.all(axis=1), 0.0, wrong)  # an image in every class cannot be wrong
    return -float(np.mean((1 - eps) * right + eps * wrong))


def fit_calibration(scores: np.ndarray, clip: np.ndarray | None, label_sets: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising the (smoothed) log loss of softmax(a * scores + b * clip) over image label sets;
    b = 0 without CLIP. ``a`` alone is :func:`best_temperature`'s; with CLIP, both by L-BFGS-B from there."""
    from scipy.optimize import minimize

    a0 = best_temperature(lambda a: smoothed_log_loss(log_probs(scores, None, a, 0.0), label_sets))
    if clip is None:
        return a0, 0.0

    def loss(p):
        return smoothed_log_loss(log_probs(scores, clip, math.exp(p[0]), p[1]), label_sets)

    res = minimize(loss, x0=[math.log(a0), 0.0], bounds=[LOG_BETA_BOUNDS, (0.0, 20.0)], method="L-BFGS-B")
    return math.exp(res.x[0]), float(res.x[1])


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> tuple[float, list[dict]]:
    """(expected calibration error, bins [{lo, hi, count, confidence, accuracy}]) over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for k in range(bins):
        m = which == k
        n = int(m.sum())
        mean_conf = float(conf[m].mean()) if n else None
        acc = float(correct[m].mean()) if n else None
        if n:
            ece += n / len(conf) * abs(mean_conf - acc)
        table.append({"lo": round(float(edges[k]), 4), "hi": round(float(edges[k + 1]), 4), "count": n,
                      "confidence": mean_conf, "accuracy": acc})
    return float(ece), table


def softmax_summary(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(argmax, its softmax probability, the softmax's entropy in nats) of each row of ``logits`` (N, K)."""
    z = np.asarray(logits, dtype=np.float64)
    best = np.argmax(z, axis=1)
    z = z - z[np.arange(len(z)), best][:, None]
    e = np.exp(z)
    total = e.sum(axis=1)
    entropy = np.log(total) - (e * z).sum(axis=1) / total
    return best, 1.0 / total, np.maximum(entropy, 0.0)
