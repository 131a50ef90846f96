"""Likely mislabels for curation.hygiene: out-of-fold class probabilities over the samples' current labels,
fiftyone-brain's mistakenness computed from them, and CLIP's zero-shot agreement (pure numpy in and out; the
caller makes FiftyOne labels of the (label, confidence) pairs).

Mistakenness is the brain's classification mistakenness with ``use_logits=True``: ``(m * exp(-entropy(p)) + 1)
/ 2``, m = -1 when the predicted class is the label, else 1, for all samples at once (the brain saved sample by
sample, ~120 samples/s, from 1000-wide logits stored on every prediction; neither is needed). Up to
``exact_rows`` samples the probabilities are ``evaluation.classify.oof.cross_validated_probabilities`` (an SVM on an
exact kernel: rows^2 floats per fold, time rows^2 x classes); above, ``evaluation.classify.oof.cross_validated_linear``
(a shrunk linear discriminant, linear in the rows, the same folds and temperature scaling).
"""
from __future__ import annotations

import logging
import math
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from evaluation.zeroshot import ClipConfig, clip_similarities, find_clip_weights, label_prompts, zero_shot

logger = logging.getLogger(__name__)


@dataclass
class CrossValidation:
    """How the out-of-fold probabilities are made (``curation.hygiene``'s flags of the same names)."""
    exact_rows: int  # samples up to which the exact-kernel SVM scores them; above, the linear model
    folds: int
    seed: int
    kernel: str  # the exact SVM's kernel
    C: tuple[float, ...]  # its C candidates: several are chosen among by out-of-fold log loss (best_C)
    jobs: int  # parallel folds (processes) of the exact SVM


def mistakenness(entropy: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """fiftyone-brain's classification mistakenness with ``use_logits=True``, for many samples at once:
    ``(m * exp(-entropy) + 1) / 2`` with m = -1 where the prediction is the label, else 1; ``entropy`` of the
    predicted probabilities, in nats. Near 1: a confident prediction of another class."""
    m = np.where(np.asarray(correct, dtype=bool), -1.0, 1.0)
    return (m * np.exp(-np.asarray(entropy, dtype=np.float64)) + 1.0) / 2.0


def _top_of_folds(X: np.ndarray, y: np.ndarray, cv: CrossValidation, exact: bool) -> tuple:
    """Out-of-fold top-1 (column or -1, probability, entropy), the classes and the model's facts (the linear
    model's, or the exact SVM's choice of C among several): the exact-kernel SVM's probabilities or the linear
    model's. With :func:`best_C`, the one place that calls ``evaluation.classify``."""
    from evaluation.classify.calibration import softmax_summary
    from evaluation.classify.oof import cross_validated_linear

    if not exact:
        return cross_validated_linear(X, y, folds=cv.folds, seed=cv.seed)
    probs, classes, chosen = best_C(X, y, cv)
    ok = ~np.isnan(probs).any(axis=1)
    best = np.full(len(y), -1, dtype=np.int64)
    confidence, entropy = np.full(len(y), np.nan), np.full(len(y), np.nan)
    if ok.any():
        # log-probabilities as logits, as the brain was given them: its softmax gives back these probabilities
        best[ok], confidence[ok], entropy[ok] = softmax_summary(np.log(np.clip(probs[ok], 1e-12, None)))
    return best, confidence, entropy, classes, chosen


def best_C(X: np.ndarray, y: np.ndarray, cv: CrossValidation) -> tuple[np.ndarray, np.ndarray, dict | None]:
    """(out-of-fold probabilities, classes, {"C", "C_log_loss"} or None for one candidate) of the exact SVM with
    the C of ``cv.C`` whose temperature-scaled out-of-fold probabilities have the least log loss: the loss
    ``evaluation.suggest`` chooses its C by (``evaluation.classify.calibration.smoothed_log_loss``)."""
    from evaluation.classify.calibration import smoothed_log_loss
    from evaluation.classify.oof import cross_validated_probabilities

    runs, losses = {}, {}
    for C in cv.C:
        probs, classes = cross_validated_probabilities(X, y, folds=cv.folds, seed=cv.seed, kernel=cv.kernel, C=C,
                                                       jobs=cv.jobs)
        runs[C] = probs, classes
        if len(cv.C) > 1:
            ok = ~np.isnan(probs).any(axis=1)
            sets = np.asarray(y, dtype=object)[ok, None] == np.asarray(classes, dtype=object)[None, :]
            losses[C] = smoothed_log_loss(np.log(np.clip(probs[ok], 1e-300, None)), sets)
    C = min(losses, key=losses.get) if losses else cv.C[0]
    return (*runs[C], {"C": C, "C_log_loss": {str(c): v for c, v in losses.items()}} if losses else None)


def cv_scores(rows: np.ndarray, features: np.ndarray, labels: list, reviews: list, cv: CrossValidation) -> dict:
    """Out-of-fold top-1 of the scored samples (with a features row, a label, not ``review == "rejected"``): the
    exact-kernel SVM up to ``exact_rows`` of them, else the linear model. Returns the samples trained on, their
    labels, per sample the predicted column of ``classes`` (-1: not scored), its probability and the
    probabilities' entropy, and what was left out, and why."""
    rejected = np.array([r == "rejected" for r in reviews], dtype=bool)
    labelled = np.array([label is not None for label in labels], dtype=bool)
    train = np.flatnonzero((rows >= 0) & ~rejected & labelled)
    y = np.array([labels[i] for i in train], dtype=object)
    info = {"rejected": int(rejected.sum()), "no_features": int(((rows < 0) & ~rejected).sum()),
            "no_class": int((~labelled & ~rejected).sum()), "exact_rows": cv.exact_rows}
    counts = Counter(y.tolist())
    out = {"train": train, "y": y, "info": info}
    if sum(1 for c in counts.values() if c >= 2) < 2:
        logger.warning("mislabels: fewer than 2 classes with 2+ samples; nothing to cross-validate")
        info["method"] = "none (fewer than 2 classes with 2+ samples)"
        return {**out, "best": np.full(len(y), -1), "confidence": None, "entropy": None, "classes": np.array([])}
    exact = len(y) <= cv.exact_rows
    info["method"] = (f"{cv.kernel} SVM, exact kernel ({len(y)} rows <= exact limit {cv.exact_rows})" if exact
                      else f"linear: shrunk LDA ({len(y)} rows > exact limit {cv.exact_rows})")
    logger.info("mislabels: %d-fold %s, %d classes (%d of them with 2+ samples)", cv.folds, info["method"],
                len(counts), sum(1 for c in counts.values() if c >= 2))
    best, confidence, entropy, classes, facts = _top_of_folds(features[rows[train]], y, cv, exact)
    if facts is not None:
        info["linear" if not exact else "chosen"] = facts
    return {**out, "best": best, "confidence": confidence, "entropy": entropy, "classes": classes}


def prediction_values(n: int, cv: dict) -> tuple[list, list, dict]:
    """Per sample of ``n``, the cross-validated (label, confidence) and mistakenness (None where not scored), and
    the counts for the summary, from :func:`cv_scores`."""
    train, y, best = cv["train"], cv["y"], cv["best"]
    scored = best >= 0
    predicted = np.where(scored, np.asarray(cv["classes"], dtype=object)[np.maximum(best, 0)] if len(cv["classes"])
                         else None, None)
    correct = scored & (predicted == y)
    predictions: list = [None] * n
    values: list = [None] * n
    if scored.any():
        score = mistakenness(cv["entropy"], correct)
        for k in np.flatnonzero(scored).tolist():
            predictions[train[k]] = (str(predicted[k]), float(cv["confidence"][k]))
            values[train[k]] = float(score[k])
    info = {**cv["info"], "scored": int(scored.sum()), "single_member_class": int(len(train) - scored.sum()),
            "predicted_other_class": int((scored & ~correct).sum()), "classes": len(cv["classes"])}
    return predictions, values, info


def clip_scores(filepaths: list[str], labels: list, clip: ClipConfig) -> tuple[dict, list, list]:
    """CLIP's zero-shot (label, confidence) and agreement (its probability of the sample's label) per file, over
    the labels' classes, with open_clip weights on disk only (never downloaded); or a skip saying where weights
    were looked for. Returns (the summary's facts, predictions, agreements)."""
    n = len(filepaths)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: open_clip would fetch a missing tokenizer
    weights, looked = find_clip_weights(clip.model, clip.pretrained, clip.weights)
    if weights is None:
        reason = f"no weights for {clip.model} ({clip.pretrained}) on disk; looked in: {'; '.join(looked)}"
        return {"status": "skipped", "reason": reason, "looked": looked}, [None] * n, [None] * n
    classes = sorted({label for label in labels if label is not None})
    try:
        sims, scale = clip_similarities(filepaths, label_prompts(classes, clip.template), clip, weights)
    except Exception as err:  # a corrupt or mismatched weights file: skip CLIP, keep the other findings
        reason = f"{weights}: could not load {clip.model} ({type(err).__name__}: {err})"[:500]
        return {"status": "skipped", "reason": reason, "looked": looked}, [None] * n, [None] * n
    column = {c: k for k, c in enumerate(classes)}
    given = np.array([column.get(label, -1) for label in labels], dtype=np.int64)
    probs, agreement = zero_shot(np.nan_to_num(sims, nan=0.0), given, logit_scale=scale)
    ok = ~np.isnan(sims).any(axis=1)
    preds: list = [None] * n
    agree: list = [None] * n
    for i in np.flatnonzero(ok):
        best = int(np.argmax(probs[i]))
        preds[i] = (classes[best], float(probs[i, best]))
        agree[i] = None if math.isnan(agreement[i]) else float(agreement[i])
    info = {"status": "done", "model": clip.model, "weights": weights, "prompt": clip.template,
            "classes": len(classes), "scored": int(ok.sum()), "logit_scale": scale,
            "agree_top1": int(sum(1 for i in np.flatnonzero(ok) if given[i] == int(np.argmax(probs[i]))))}
    return info, preds, agree
