"""python -m evaluation.suggest: a class for each unlabelled drawing, or none ("none of the known classes").

    python -m evaluation.suggest --features feats.h5 --out suggest/
    python -m evaluation.suggest --features lite0.h5 --features lite2.h5 --out suggest/ --method svm
    python -m evaluation.suggest --features F --out D --refused refused.jsonl --precision 0.9 --max-other 0.05
    python -m curation.writeback --dataset drawnet --results D --method suggest   # then onto the FiftyOne dataset

The labelled rows of the features file (both splits: the curated classes) train a classifier;
every unlabelled row (label -1, ``datasets.build --keep-unmatched``) gets the class it most likely
shows, or none when the classifier is not sure enough for the target precision.

Classifier. ``logistic`` (default): multinomial logistic regression on standardised features, its
C chosen from ``--C`` (default 0.01,0.1,1) by the out-of-fold log loss after temperature scaling.
``svm``: evaluation.svm's one-vs-rest SVC with the kernel computed once per fit (``--kernel rbf``,
``--C 1``); its decision values become probabilities by temperature scaling, as in
``evaluation.svm.cross_validated_probabilities``. The final model is fitted on every labelled row.

Calibration. Out-of-fold scores: stratified ``--folds`` k-fold over labelled *images* (an image in
two classes is two rows, always on the same side), each image scored by a model that never saw
it. Temperature scaling: one parameter ``a`` in ``softmax(a * scores)`` minimising the log loss of
those scores, where an image counts as right when the prediction is any of its classes (so the log
loss takes the summed probability of its classes), against targets smoothed by Laplace's rule
(right with probability 1 - 1/(n+2)): with separable classes every out-of-fold image is right and
the plain log loss would drive every probability to 1. The summary gives the expected calibration
error (15 equal-width bins of the top probability) after and before scaling (before: the
classifier's own softmax; an SVM's softmax of its decision values). Images of a class with one
image cannot be held out without losing the class: they are always trained on, never scored.

CLIP. With open_clip weights on disk (evaluation.zeroshot; never downloaded), CLIP's zero-shot
log-probabilities over the known classes ("a drawing of a {name}") join in: log p = log p_clf +
w * log p_clip, renormalised, then temperature-scaled. ``w`` and the temperature are fitted together
on the out-of-fold scores by log loss (``w >= 0``; a CLIP that knows nothing gets ``w`` near 0).

Abstaining. The confidence score is the calibrated top probability (``--score msp``). The
threshold comes from two pools of out-of-fold scores: the known-class images (right when the top
class is one of theirs) and an "other" pool standing for drawings of things with no class:
the classes are split into ``--class-groups`` seeded groups, and each group's images are scored
by a model fitted on the other classes only (the same calibration applied), so any suggestion
there is wrong. Two bounds set the threshold, as issue 16's targets do ("95% precision at 50%
coverage, fewer than 10% of other-object drawings given a class"): the estimated precision
reaches ``--precision`` (0.95), and at most ``--max-other`` (0.10) of the other pool clears the
threshold. With ``s = --open-share``, the assumed share of other-object drawings among the
unlabelled files (unknown, so 0 by default: the precision is then that on drawings of the known
classes, and the other pool bounds the rest through ``--max-other``; 0.5 says half of them show
none of the known classes, which on the thesis subset cut the coverage to 9-25%),

    precision(t) = (1-s) right_known(t)/N_known / [(1-s) suggested_known(t)/N_known + s suggested_other(t)/N_other]

coverage(t) = suggested_known(t)/N_known (share of known-class drawings given a class),
other_suggested(t) = suggested_other(t)/N_other (share of other drawings wrongly given one), and
known_precision(t) (right among the known-class suggestions). The threshold is the smallest
observed confidence t with precision(t) >= ``--precision`` and precision(t') >= ``--precision`` at
every observed t' > t (a monotone, conservative choice), except that a t' with fewer than
1/(1 - target) known-class suggestions (20 at 95%) cannot veto: there a single other-pool image
decides, and its error still counts at every lower t. When no t qualifies, every row is abstained
on. The threshold is then raised, where needed, until at most ``--max-other`` of the other pool
clears it. (MSP is thresholded as -log(1 - p), so probabilities that round to 1.0 still rank.)
Choosing t and measuring precision on the same scores flatters it, so ``heldout`` cross-fits: the
known-class images are split in two random halves and the other pool in two halves of its class
groups, t is chosen on one half and measured on the other, both ways, and the two are averaged.

How far to trust it, measured on the thesis subset (EfficientNet-Lite1/Lite0, 31 classes) with
every val label hidden: with ``--open-share 0`` the logistic model's realised precision on those
drawings was 94.6% / 93.9% at 54% / 59% coverage (estimated 95.1%, 54% / 59%); the SVM's fell
3-6 points short (91.7% / 88.8%). With 8 whole classes hidden as well, standing for other
objects, the share of them given a class reached 1-4x the estimate (e.g. 4.3% against 1.6%): how
much an unseen class looks like a known one varies from class to class more than 31 classes in
5 groups can show, so ``estimated`` is a guide, not a guarantee, and ``heldout`` (which halves
the other pool by class group) shows part of that spread.

``--score max-logit`` thresholds the largest calibrated logit instead (Vaze et al. 2022, "Open-set
recognition: a good closed-set classifier is all you need"). It did not beat MSP here, so MSP is
the default and the threshold stays a probability. On seeded blobs (8 known and 8 unknown classes,
32 dims, share 0.5, 5 seeds) max-logit's realised precision on fresh data fell under the 95% target
(0.936-0.948 mean, against MSP's 0.97-0.98): logits, unlike calibrated probabilities, grow when the
final model is fitted on all rows instead of 4/5 of them. On the thesis subset's EfficientNet-Lite1
features (31 classes, logistic) it told known from left-out classes slightly better (AUROC 0.80 vs
0.77) but covered less at 95% precision (4% of known-class drawings vs 18% at share 0.5; 50% vs
63% at share 0). A k-nearest-neighbour cosine score did worse (AUROC 0.72).

Refusals. ``--refused FILE`` (JSONL: ``{"id": image_id, "wnid": wnid}`` per line) lists classes a
curator turned down for an image: they are never suggested for it nor listed in its top 5 (the
other probabilities are not renormalised: a refusal may as well mean "none of the classes").

Writes DIR/suggestions.jsonl, one line per unlabelled image (the first of its rows):
``{"id", "suggestion": wnid or null, "confidence": the suggested (else the top) class's calibrated
probability, "top5": [[wnid, probability], ...]}``, and DIR/suggest.json: ``meta``, ``classes``,
``threshold`` (null: abstain on all), ``estimated`` and ``heldout`` {precision, coverage,
other_suggested, known_precision}, ``calibration`` {ece, ece_before_scaling, temperature,
clip_weight, bins}, ``params`` and ``counts``. The core (:func:`suggest`) takes arrays and imports
neither FiftyOne nor torch.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from datasets.manifest import iter_jsonl, write_json, write_jsonl

from .features import UNLABELLED, FeatureSet
from .metrics import percent
from .zeroshot import add_clip_arguments

logger = logging.getLogger(__name__)

METHODS = ("logistic", "svm")
SCORES = ("msp", "max-logit")
DEFAULT_C = {"logistic": (0.01, 0.1, 1.0), "svm": (1.0,)}
ECE_BINS = 15
SUGGESTIONS = "suggestions.jsonl"
SUMMARY = "suggest.json"


@dataclass
class SuggestConfig:
    method: str = "logistic"  # "logistic" (multinomial) or "svm" (one-vs-rest SVC)
    C: tuple[float, ...] | None = None  # candidates, chosen by out-of-fold log loss; None: DEFAULT_C[method]
    kernel: str = "rbf"  # svm only: "rbf" or "linear"
    folds: int = 5  # stratified k-fold over labelled images: the out-of-fold scores
    class_groups: int = 5  # leave-classes-out groups: the "other" pool
    precision: float = 0.95  # target precision of the suggestions
    open_share: float = 0.0  # assumed share of unlabelled drawings showing none of the known classes
    max_other: float | None = 0.10  # most of the other pool that may be given a class; None: no bound
    score: str = "msp"  # the thresholded confidence: "msp" (top probability) or "max-logit"
    seed: int = 0
    jobs: int = 1  # parallel fits (processes); -1: all cores

    def check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if self.folds < 2 or self.class_groups < 2:
            raise ValueError(f"folds and class groups must be at least 2, got {self.folds} and {self.class_groups}")
        if not 0 < self.precision < 1 or not 0 <= self.open_share < 1:
            raise ValueError(f"precision must be in (0, 1) and open share in [0, 1), got {self.precision} and "
                             f"{self.open_share}")
        if self.max_other is not None and not 0 <= self.max_other <= 1:
            raise ValueError(f"max other must be in [0, 1], got {self.max_other}")
        if self.C is not None and (not self.C or min(self.C) <= 0):
            raise ValueError(f"C must be positive numbers, got {self.C}")


@dataclass
class Suggestions:
    """:func:`suggest`'s answer for the m scored rows; columns are ``classes``."""
    classes: np.ndarray  # (K,) the known classes (labels), sorted
    proba: np.ndarray  # (m, K) calibrated probabilities
    suggestion: np.ndarray  # (m,) the suggested class (label), or UNLABELLED (-1) to abstain
    confidence: np.ndarray  # (m,) the suggested class's probability, or the top allowed class's when abstaining
    top5: np.ndarray  # (m, 5) labels, best first, refused classes removed; -1 pads
    top5_proba: np.ndarray  # (m, 5) their probabilities; NaN pads
    threshold: float  # on the top probability (msp) or the top logit (max-logit); inf: abstain on everything
    report: dict = field(default_factory=dict)  # params, estimated, heldout, calibration, counts, warnings


# ---------------------------------------------------------------- labelled images


@dataclass
class Images:
    """The labelled rows grouped by image id."""
    classes: np.ndarray  # (K,) sorted labels
    image_of_row: np.ndarray  # (n_rows,) image index of each row
    first_row: np.ndarray  # (n_images,) the image's first row
    label_sets: np.ndarray  # (n_images, K) bool: the image's classes


def group_images(ids: np.ndarray, labels: np.ndarray) -> Images:
    classes = np.unique(labels)
    uniq, first_row, image_of_row = np.unique(np.asarray(ids).astype(str), return_index=True, return_inverse=True)
    sets = np.zeros((len(uniq), len(classes)), dtype=bool)
    sets[image_of_row, np.searchsorted(classes, labels)] = True
    return Images(classes, image_of_row, first_row, sets)


def check_images(images: Images) -> None:
    per_class = images.label_sets.sum(axis=0)
    if int((per_class >= 2).sum()) < 2:
        raise ValueError(f"need at least 2 classes with 2+ labelled images, got {int((per_class >= 2).sum())} "
                         f"({len(images.classes)} class(es), {len(images.first_row)} image(s))")


def image_folds(images: Images, folds: int, seed: int) -> tuple[np.ndarray, int]:
    """(fold of each image, -1: never held out, number of folds): stratified on the image's first class.

    An image with a class that has a single image is always trained on, so every fold keeps every class.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold

    per_class = images.label_sets.sum(axis=0)
    scorable = np.flatnonzero((images.label_sets & (per_class < 2)).sum(axis=1) == 0)
    first = images.label_sets[scorable].argmax(axis=1)
    n_splits = max(2, min(folds, int(np.bincount(first).max())))  # StratifiedKFold's limit: the largest class
    fold = np.full(len(images.first_row), -1)
    with warnings.catch_warnings():  # classes of 2..folds-1 images are spread over distinct folds: fine
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(scorable)), first)):
            fold[scorable[test]] = k
    return fold, n_splits


def class_groups(n_classes: int, groups: int, seed: int) -> list[np.ndarray]:
    """The class columns split into ``groups`` seeded groups (fewer when there are too few classes)."""
    order = np.random.default_rng(seed).permutation(n_classes)
    return [np.sort(g) for g in np.array_split(order, min(groups, n_classes))]


# ---------------------------------------------------------------- models and scores


def make_model(method: str, C: float, kernel: str = "rbf"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from .svm import precomputed_svm

    if method == "logistic":
        return Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(C=C, max_iter=2000))])
    return precomputed_svm(kernel, C)


def fit_scores(method: str, C: float, kernel: str, X_fit: np.ndarray, y_fit: np.ndarray, X_test: np.ndarray,
               columns: np.ndarray, limit_threads: bool = False) -> np.ndarray:
    """Decision scores (len(X_test), len(columns)) of a model fitted on (X_fit, y_fit).

    Logistic: its logits; SVM: its one-vs-rest decision values. A column the fit had no row of (a class all of
    whose images sit in the held-out part: rare) gets each row's lowest score.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1 if limit_threads else None):
        model = make_model(method, C, kernel).fit(X_fit, y_fit)
        raw = model.decision_function(X_test) if len(X_test) else np.zeros((0, len(model.classes_)))
    if raw.ndim == 1:  # two classes: the score of the second only
        raw = np.stack([-raw / 2, raw / 2], axis=1) if method == "logistic" else np.stack([-raw, raw], axis=1)
    scores = np.empty((len(X_test), len(columns)))
    scores[:] = raw.min(axis=1, keepdims=True) if raw.size else 0.0
    scores[:, np.searchsorted(columns, model.classes_)] = raw
    return scores


def run_fits(tasks: list[tuple], X: np.ndarray, y: np.ndarray, cfg: SuggestConfig, C_of: list[float],
             desc: str) -> list[np.ndarray]:
    """``fit_scores`` for each task (fit rows, test rows, columns), in parallel when ``cfg.jobs`` != 1."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    parallel = cfg.jobs != 1
    calls = (delayed(fit_scores)(cfg.method, C, cfg.kernel, X[fit], y[fit], X[test], cols, parallel)
             for (fit, test, cols), C in zip(tasks, C_of, strict=True))
    run = Parallel(n_jobs=cfg.jobs, return_as="generator")(calls)
    return list(tqdm(run, total=len(tasks), desc=desc, unit=" fit", disable=None))


def out_of_fold(X: np.ndarray, y: np.ndarray, images: Images, fold: np.ndarray, n_splits: int,
                Cs: tuple[float, ...], cfg: SuggestConfig) -> dict[float, np.ndarray]:
    """{C: (n_images, K) out-of-fold scores}; rows of never-held-out images stay NaN."""
    tasks, C_of = [], []
    for C in Cs:
        for k in range(n_splits):
            fit = np.flatnonzero(fold[images.image_of_row] != k)
            test = images.first_row[fold == k]
            tasks.append((fit, test, images.classes))
            C_of.append(C)
    scores = run_fits(tasks, X, y, cfg, C_of, "out-of-fold")
    out = {}
    for i, C in enumerate(Cs):
        S = np.full((len(images.first_row), len(images.classes)), np.nan)
        for k in range(n_splits):
            S[fold == k] = scores[i * n_splits + k]
        out[C] = S
    return out


def leave_classes_out(X: np.ndarray, y: np.ndarray, images: Images, groups: list[np.ndarray], C: float,
                      cfg: SuggestConfig) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """[(other images, kept class columns, their scores (n, kept))] per group: the group's images scored by a
    model fitted on the images of no class of the group. An image with classes both in and out is in neither."""
    tasks, plan = [], []
    for g in groups:
        in_group = images.label_sets[:, g].any(axis=1)
        all_in = ~np.delete(images.label_sets, g, axis=1).any(axis=1)
        others = np.flatnonzero(in_group & all_in)
        keep = np.setdiff1d(np.arange(len(images.classes)), g)
        fit = np.flatnonzero(~in_group[images.image_of_row])
        if len(others) and len(np.unique(y[fit])) >= 2:
            tasks.append((fit, images.first_row[others], images.classes[keep]))
            plan.append((others, keep))
    scores = run_fits(tasks, X, y, cfg, [C] * len(tasks), "leave classes out") if tasks else []
    return [(others, keep, S) for (others, keep), S in zip(plan, scores, strict=True)]


# ---------------------------------------------------------------- calibration


def log_probs(scores: np.ndarray, clip: np.ndarray | None, a: float, b: float) -> np.ndarray:
    """Calibrated log-probabilities: log_softmax(a * scores + b * clip); ``b / a`` is CLIP's weight w."""
    from scipy.special import log_softmax

    z = a * np.asarray(scores, dtype=np.float64)
    if clip is not None and b:
        z = z + b * clip
    return log_softmax(z, axis=1)


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
    """(a, b) minimising the out-of-fold (smoothed) log loss of softmax(a * scores + b * clip); b = 0 without
    CLIP."""
    from scipy.optimize import minimize, minimize_scalar

    if clip is None:
        res = minimize_scalar(lambda la: smoothed_log_loss(log_probs(scores, None, math.exp(la), 0.0), label_sets),
                              bounds=(-10.0, 10.0), method="bounded")
        return math.exp(res.x), 0.0

    def loss(p):
        return smoothed_log_loss(log_probs(scores, clip, math.exp(p[0]), p[1]), label_sets)

    a0, _ = fit_calibration(scores, None, label_sets)
    res = minimize(loss, x0=[math.log(a0), 0.0], bounds=[(-10.0, 10.0), (0.0, 20.0)], method="L-BFGS-B")
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


def calibrated_logits(scores: np.ndarray, clip: np.ndarray | None, a: float, b: float) -> np.ndarray:
    return a * scores + (b * clip if clip is not None and b else 0.0)


# ---------------------------------------------------------------- the threshold


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


def cross_fitted(known_conf: np.ndarray, known_ok: np.ndarray, other_conf: np.ndarray, cfg: SuggestConfig,
                 share: float, other_group: np.ndarray | None = None) -> dict:
    """``figures`` with the threshold chosen on one half of both pools and measured on the other, both ways,
    averaged (a figure undefined on one half, e.g. nothing suggested, is averaged over the other).

    The known-class images are halved at random; the other pool by its class groups (``other_group``: even
    and odd groups) where there are two or more, since unseen classes, not images, are what varies there.
    """
    rng = np.random.default_rng(cfg.seed + 1)
    half_k = rng.permutation(len(known_conf)) % 2
    if other_group is not None and len(np.unique(other_group)) >= 2:
        half_o = np.searchsorted(np.unique(other_group), other_group) % 2
    else:
        half_o = rng.permutation(len(other_conf)) % 2
    runs = []
    for h in (0, 1):
        a, b = half_k == h, half_o == h
        t = choose_threshold(known_conf[a], known_ok[a], other_conf[b], precision=cfg.precision, share=share,
                             max_other=cfg.max_other)
        runs.append(figures(t, known_conf[~a], known_ok[~a], other_conf[~b], share))
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


# ---------------------------------------------------------------- the core


def calibrate(X: np.ndarray, y: np.ndarray, images: Images, clip_img: np.ndarray | None, cfg: SuggestConfig) -> dict:
    """Out-of-fold scores for each C, the C of least calibrated log loss, and its calibration (a, b)."""
    fold, n_splits = image_folds(images, cfg.folds, cfg.seed)
    Cs = tuple(cfg.C or DEFAULT_C[cfg.method])
    oof = out_of_fold(X, y, images, fold, n_splits, Cs, cfg)
    scored = fold >= 0
    sets = images.label_sets[scored]
    losses = {}
    for C, S in oof.items():
        a, _ = fit_calibration(S[scored], None, sets)
        losses[C] = smoothed_log_loss(log_probs(S[scored], None, a, 0.0), sets)
    C = min(Cs, key=lambda c: losses[c])
    clip_s = None if clip_img is None else clip_img[scored]
    a, b = fit_calibration(oof[C][scored], clip_s, sets)
    return {"C": C, "losses": losses, "a": a, "b": b, "scored": scored, "scores": oof[C][scored], "clip": clip_s,
            "sets": sets, "n_splits": n_splits}


def known_pool(cal: dict, kind: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(confidence, right) of each out-of-fold scored image, and the calibration summary."""
    from scipy.special import log_softmax

    S, clip, sets = cal["scores"], cal["clip"], cal["sets"]
    rows = np.arange(len(S))
    logp = log_probs(S, clip, cal["a"], cal["b"])
    ok = sets[rows, logp.argmax(axis=1)]
    ece, bins = reliability(np.exp(logp.max(axis=1)), ok)
    raw = log_softmax(S, axis=1)  # before: the classifier's own softmax, without CLIP
    ece_before, _ = reliability(np.exp(raw.max(axis=1)), sets[rows, raw.argmax(axis=1)])
    info = {"ece": ece, "ece_before_scaling": ece_before, "temperature": 1 / cal["a"],
            "clip_weight": cal["b"] / cal["a"] if clip is not None else None,
            "log_loss": set_log_loss(logp, sets), "log_loss_before_scaling": set_log_loss(raw, sets),
            "accuracy": float(ok.mean()), "images": int(len(S)), "bins": bins}
    conf = confidence_score(logp, calibrated_logits(S, clip, cal["a"], cal["b"]), kind)
    return conf, ok, info


def other_pool(X: np.ndarray, y: np.ndarray, images: Images, cal: dict, clip_img: np.ndarray | None,
               cfg: SuggestConfig, warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(confidence of each image of the leave-classes-out pool, the class group it was left out with)."""
    from scipy.special import log_softmax

    k = len(images.classes)
    groups = class_groups(k, cfg.class_groups, cfg.seed)
    if len(groups) < cfg.class_groups:
        warnings.append(f"only {k} classes: {len(groups)} class groups instead of {cfg.class_groups}")
    pools = leave_classes_out(X, y, images, groups, cal["C"], cfg) if k >= 3 else []
    conf, group = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    for g, (others, keep, S) in enumerate(pools):
        clip = None if clip_img is None else log_softmax(clip_img[others][:, keep], axis=1)
        logp = log_probs(S, clip, cal["a"], cal["b"])
        conf.append(confidence_score(logp, calibrated_logits(S, clip, cal["a"], cal["b"]), cfg.score))
        group.append(np.full(len(others), g))
    if not pools:
        warnings.append(f"{k} classes: none can be left out to stand for other drawings; precision is estimated "
                        "on known-class drawings only (open share taken as 0)")
    return np.concatenate(conf), np.concatenate(group)


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


def _arrays(features, labels, ids, new_features, clip, clip_new) -> tuple:
    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    new = np.asarray(new_features, dtype=np.float64).reshape(-1, X.shape[1] if X.ndim == 2 else 0)
    if X.ndim != 2 or len(X) != len(y) or len(ids) != len(y):
        raise ValueError(f"features must be (N, D) with one label and id per row; got {X.shape}, {y.shape}, "
                         f"{len(ids)} ids")
    if not len(y) or (y < 0).any():
        raise ValueError("need labelled rows (labels >= 0) to learn from" if not len(y) else
                         f"{int((y < 0).sum())} training row(s) have no class (label < 0)")
    if (clip is None) != (clip_new is None):
        raise ValueError("give CLIP log-probabilities for both the labelled and the scored rows, or for neither")
    if clip is not None:  # an unreadable file (NaN): no opinion, a constant row
        clip, clip_new = (np.nan_to_num(np.asarray(c, dtype=np.float64), nan=0.0) for c in (clip, clip_new))
        k = len(np.unique(y))
        if clip.shape != (len(y), k) or clip_new.shape != (len(new), k):
            raise ValueError(f"CLIP log-probabilities must be ({len(y)}, {k}) and ({len(new)}, {k}); got "
                             f"{clip.shape} and {clip_new.shape}")
    return X, y, new, clip, clip_new


def suggest(features: np.ndarray, labels: np.ndarray, ids: np.ndarray, new_features: np.ndarray, *,
            clip: np.ndarray | None = None, clip_new: np.ndarray | None = None, exclude: dict | None = None,
            cfg: SuggestConfig | None = None) -> Suggestions:
    """A class, or none, for each row of ``new_features``, learnt from the labelled rows.

    Args:
        features, labels, ids: the labelled rows, (N, D), (N,) class labels >= 0, (N,) image ids (an image in
            two classes is two rows with the same id and features).
        new_features: (m, D) the rows to score.
        clip, clip_new: CLIP zero-shot log-probabilities over the sorted classes, (N, K) and (m, K), or None.
        exclude: {scored row: set of class labels} never to propose for that row.
        cfg: the method, calibration and threshold settings (:class:`SuggestConfig`).
    """
    cfg = cfg or SuggestConfig()
    cfg.check()
    X, y, new, clip, clip_new = _arrays(features, labels, ids, new_features, clip, clip_new)
    images = group_images(ids, y)
    check_images(images)
    warnings: list[str] = []
    clip_img = None if clip is None else clip[images.first_row]
    cal = calibrate(X, y, images, clip_img, cfg)
    known_conf, known_ok, calibration = known_pool(cal, cfg.score)
    other_conf, other_group = other_pool(X, y, images, cal, clip_img, cfg, warnings)
    share = cfg.open_share if len(other_conf) else 0.0
    t = choose_threshold(known_conf, known_ok, other_conf, precision=cfg.precision, share=share,
                         max_other=cfg.max_other)
    if math.isinf(t):
        warnings.append(f"no threshold reaches an estimated precision of {cfg.precision:.1%}: abstaining on every row")
    classes = images.classes
    S = fit_scores(cfg.method, cal["C"], cfg.kernel, X, y, new, classes) if len(new) else np.zeros((0, len(classes)))
    logp = log_probs(S, clip_new, cal["a"], cal["b"])
    z = calibrated_logits(S, clip_new, cal["a"], cal["b"])
    decided = decide(logp, z, exclusion_mask(exclude, len(new), classes), t, classes, cfg.score)
    suggested = decided[0] != UNLABELLED
    pool = pool_report(confidence_score(logp, z, cfg.score), t, known_conf, known_ok, other_conf)
    report = {
        "params": {"method": cfg.method, "C": cal["C"], "C_log_loss": {str(c): v for c, v in cal["losses"].items()},
                   **({"kernel": cfg.kernel} if cfg.method == "svm" else {}), "folds": cal["n_splits"],
                   "class_groups": len(np.unique(other_group)), "score": cfg.score, "open_share": share,
                   "max_other": cfg.max_other, "precision": cfg.precision, "seed": cfg.seed},
        "threshold": threshold_value(t, cfg.score),
        "estimated": figures(t, known_conf, known_ok, other_conf, share),
        "heldout": cross_fitted(known_conf, known_ok, other_conf, cfg, share, other_group),
        "pool": pool,
        "calibration": calibration,
        "counts": {"labelled_rows": len(y), "labelled_images": len(images.first_row), "classes": len(classes),
                   "scored_images": int(len(known_conf)), "other_pool_images": int(len(other_conf)),
                   "unlabelled": len(new), "suggested": int(suggested.sum()), "abstained": int((~suggested).sum()),
                   "per_class": {int(c): n for c, n in sorted(Counter(decided[0][suggested].tolist()).items())}},
        "warnings": warnings,
    }
    return Suggestions(classes, np.exp(logp), *decided, threshold=threshold_value(t, cfg.score) or math.inf,
                       report=report)


# ---------------------------------------------------------------- the command


def unlabelled_rows(fs: FeatureSet) -> np.ndarray:
    """The first row of each unlabelled image, in file order."""
    rows = np.flatnonzero(~fs.labelled)
    _, first = np.unique(fs.ids[rows].astype(str), return_index=True)
    return rows[np.sort(first)]


def class_table(fs: FeatureSet, classes: np.ndarray) -> list[dict]:
    """{"class_index", "wnid", "label"} per class column, from each class's first row."""
    table = []
    for c in classes:
        row = int(np.flatnonzero(fs.labels == c)[0])
        table.append({"class_index": int(c), "wnid": str(fs.wnids[row]) if fs.wnids is not None else "",
                      "label": str(fs.label_names[row]) if fs.label_names is not None else ""})
    return table


def read_refused(path: Path, new_ids: list[str], label_of: dict[str, int]) -> tuple[dict[int, set[int]], dict]:
    """``--refused``: {scored row: class labels never to propose} from ``{"id", "wnid"}`` lines (``label_of``:
    wnid -> class label).

    Lines for other images or unknown classes are counted, not errors; a bad line names file and line.
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such refusals file")
    row_of = {i: k for k, i in enumerate(new_ids)}
    exclude: dict[int, set[int]] = {}
    lines = applied = 0
    for lineno, obj in iter_jsonl(path):
        if not isinstance(obj.get("id"), str) or not isinstance(obj.get("wnid"), str):
            raise ValueError(f'{path}:{lineno}: expected {{"id": image id, "wnid": wnid}}, got {json.dumps(obj)[:120]}')
        lines += 1
        if obj["id"] in row_of and obj["wnid"] in label_of:
            exclude.setdefault(row_of[obj["id"]], set()).add(label_of[obj["wnid"]])
            applied += 1
    return exclude, {"file": str(path), "lines": lines, "applied": applied}


def clip_inputs(fs: FeatureSet, labelled: np.ndarray, new: np.ndarray, wnids: list[str],
                args: argparse.Namespace) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """CLIP log-probabilities of the labelled and the scored rows over the classes, or Nones and why not."""
    from .zeroshot import ClipConfig, clip_log_probs

    if args.no_clip:
        return None, None, {"status": "skipped", "reason": "--no-clip"}
    if fs.filepaths is None:
        return None, None, {"status": "skipped", "reason": "the features file has no filepaths"}
    rows = np.concatenate([labelled, new])
    files, inverse = np.unique(fs.filepaths[rows].astype(str), return_inverse=True)
    cfg = ClipConfig(model=args.clip_model, pretrained=args.clip_pretrained, weights=args.clip_weights,
                     template=args.clip_template, batch_size=args.clip_batch_size, device=args.device)
    logp, info = clip_log_probs(files.tolist(), wnids, cfg)
    if logp is None:
        return None, None, info
    logp = logp[inverse]
    return logp[: len(labelled)], logp[len(labelled):], info


def suggestion_lines(ids: list[str], result: Suggestions, wnid_of: dict[int, str]) -> list[dict]:
    lines = []
    for k, image_id in enumerate(ids):
        top5 = [[wnid_of[int(c)], round(float(p), 6)] for c, p in zip(result.top5[k], result.top5_proba[k],
                                                                       strict=True) if c != UNLABELLED]
        s = int(result.suggestion[k])
        lines.append({"id": image_id, "suggestion": wnid_of[s] if s != UNLABELLED else None,
                      "confidence": round(float(result.confidence[k]), 6), "top5": top5})
    return lines


def run(features: Path | list[Path], out: Path, cfg: SuggestConfig, args: argparse.Namespace) -> dict:
    """The whole command: read, suggest, write DIR/suggestions.jsonl and DIR/suggest.json; return the summary."""
    from .svm import features_meta, load_inputs, paths_label

    label = paths_label(features)
    fs = load_inputs(features)
    labelled, new = np.flatnonzero(fs.labelled), unlabelled_rows(fs)
    if not len(labelled):
        raise ValueError(f"{label}: no labelled rows ({len(fs)} unlabelled); nothing to learn classes from")
    classes = np.unique(fs.labels[labelled])
    table = class_table(fs, classes)
    wnids = [c["wnid"] for c in table]
    if not all(wnids):
        raise ValueError(f"{label}: labelled rows without a wnid (class {table[wnids.index('')]['class_index']}): "
                         "extract the features again with evaluation.extract")
    new_ids = [str(i) for i in fs.ids[new]]
    exclude, refused = (read_refused(args.refused, new_ids, {c["wnid"]: c["class_index"] for c in table})
                        if args.refused is not None else ({}, None))
    clip, clip_new, clip_info = clip_inputs(fs, labelled, new, wnids, args)
    logger.info("%s: %d labelled rows of %d classes, %d unlabelled images, %d dims", label, len(labelled),
                len(classes), len(new), fs.features.shape[1])
    try:
        result = suggest(fs.features[labelled], fs.labels[labelled], fs.ids[labelled], fs.features[new],
                         clip=clip, clip_new=clip_new, exclude=exclude, cfg=cfg)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    for warning in result.report["warnings"]:
        logger.warning("%s: %s", label, warning)
    wnid_of = {c["class_index"]: c["wnid"] for c in table}
    counts = result.report["counts"]
    counts["per_class"] = {wnid_of[c]: n for c, n in counts["per_class"].items()}
    meta = {**features_meta(fs, features), "config": asdict(cfg), "clip": clip_info, "refused": refused}
    summary = {"meta": meta, "classes": table, **result.report}
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / SUGGESTIONS, suggestion_lines(new_ids, result, wnid_of))
    write_json(out / SUMMARY, summary)
    return summary


def format_summary(summary: dict, out: Path) -> str:
    est, held, cal, c = summary["estimated"], summary["heldout"], summary["calibration"], summary["counts"]
    ece = f"ECE {percent(cal['ece'])} ({percent(cal['ece_before_scaling'])} before scaling)"
    t = summary["threshold"]
    if t is None:
        lines = [f"no threshold reaches {percent(summary['params']['precision'])} estimated precision: abstaining on "
                 f"every row; {ece}"]
    else:
        shown = f"{t:.3f}" if summary["params"]["score"] == "msp" else f"{t:.3f} (max logit)"
        lines = [f"threshold {shown}: estimated precision {percent(est['precision'])}, coverage {percent(est['coverage'])} "
                 f"of known-class drawings, {percent(est['other_suggested'])} of other drawings given a class "
                 f"(held out: {percent(held['precision'])} / {percent(held['coverage'])} / {percent(held['other_suggested'])}); "
                 f"{ece}"]
    pool = summary.get("pool") or {}
    if pool.get("estimated_open_share") is not None:
        lines.append(f"these unlabelled drawings: about {percent(pool['estimated_open_share'])} look like none of the "
                     f"known classes (estimated from their confidences); at that share expect "
                     f"{percent(pool['expected_precision'])} of the suggestions to be right (--open-share sets the share "
                     f"the threshold assumes)")
    clip = summary["meta"]["clip"]
    if clip["status"] == "done":
        lines.append(f"clip: {clip['model']} ({clip['weights']}), weight {cal['clip_weight']:.3f}")
    else:
        lines.append(f"clip: skipped: {clip['reason']}")
    if c["unlabelled"]:
        lines.append(f"{c['unlabelled']:,} unlabelled: {c['suggested']:,} suggested, {c['abstained']:,} abstained "
                     f"-> {out / SUGGESTIONS}")
    else:
        lines.append(f"no unlabelled rows: nothing to suggest; wrote an empty {out / SUGGESTIONS}")
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace) -> SuggestConfig:
    C = None
    if args.C is not None:
        try:
            C = tuple(float(x) for x in args.C.split(",") if x.strip())
        except ValueError:
            raise ValueError(f"--C: expected comma-separated numbers, got {args.C!r}") from None
    cfg = SuggestConfig(method=args.method, C=C, kernel=args.kernel, folds=args.folds, class_groups=args.class_groups,
                        precision=args.precision, open_share=args.open_share,
                        max_other=None if args.max_other < 0 else args.max_other, score=args.score, seed=args.seed,
                        jobs=args.jobs)
    try:
        cfg.check()
    except ValueError as err:
        raise ValueError(f"bad option: {err}") from None
    if args.clip_weights is not None and not Path(args.clip_weights).is_file():
        raise ValueError(f"--clip-weights {args.clip_weights}: no such file")
    return cfg


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    d = SuggestConfig()
    p = argparse.ArgumentParser(description="Suggest a known class, or none, for each unlabelled row of a features "
                                            "file.", add_help=add_help)
    p.add_argument("--features", type=Path, action="append", required=True,
                   help="features file from evaluation.extract; repeat to join several backbones of the same images")
    p.add_argument("--out", type=Path, required=True, help="folder for suggestions.jsonl and suggest.json")
    p.add_argument("--refused", type=Path, default=None,
                   help='JSONL of {"id": image id, "wnid": wnid} a curator refused: never suggested for that image')
    g = p.add_argument_group("classifier and calibration")
    g.add_argument("--method", choices=METHODS, default=d.method, help="default %(default)s")
    g.add_argument("--C", default=None, help="C candidates, comma-separated, chosen by out-of-fold log loss "
                                             "(default: logistic 0.01,0.1,1; svm 1)")
    g.add_argument("--kernel", choices=("rbf", "linear"), default=d.kernel, help="svm kernel (default %(default)s)")
    g.add_argument("--folds", type=int, default=d.folds, help="k-fold over labelled images (default %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="folds, class groups and halves (default %(default)s)")
    g.add_argument("--jobs", type=int, default=d.jobs, help="parallel fits (default %(default)s; -1: all cores)")
    g = p.add_argument_group("abstaining")
    g.add_argument("--precision", type=float, default=d.precision, help="target precision (default %(default)s)")
    g.add_argument("--open-share", type=float, default=d.open_share,
                   help="assumed share of unlabelled drawings showing none of the known classes, mixed into the "
                        "estimated precision; unknown, so 0 by default: precision on drawings of the known classes")
    g.add_argument("--max-other", type=float, default=d.max_other,
                   help="at most this share of other-object drawings (the left-out classes) may be given a class "
                        "(default %(default)s; -1: no bound)")
    g.add_argument("--class-groups", type=int, default=d.class_groups,
                   help="classes left out in turn to stand for other drawings (default %(default)s)")
    g.add_argument("--score", choices=SCORES, default=d.score,
                   help="thresholded confidence: msp (top probability, default) or max-logit")
    g = p.add_argument_group("CLIP zero-shot (only with weights already on disk)")
    add_clip_arguments(g)
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    features = args.features[0] if len(args.features) == 1 else args.features
    try:
        summary = run(features, args.out, config_from_args(args), args)
    except (ValueError, OSError) as err:  # bad flags, unreadable or unsuitable features, a bad refusals file
        print(f"evaluation.suggest: {err}", file=sys.stderr)
        return 2
    print(format_summary(summary, args.out))
    print(f"onto the dataset: python -m curation.writeback --dataset NAME --results {args.out} --method suggest")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
