"""The out-of-fold pools behind ``evaluation.suggest``: the labelled rows grouped by image, their folds, the
classifier fitted per fold (in parallel), each image's out-of-fold scores, the choice of C and the calibration
(``classify.calibration``) on them, and the two pools of confidences the threshold is chosen from: the
known-class images and the "other" pool (each class group's images scored by a model fitted without it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classify.calibration import (
    calibrated_logits,
    fit_calibration,
    log_probs,
    reliability,
    set_log_loss,
    smoothed_log_loss,
)
from .classify.folds import stratified_folds
from .classify.models import make_model
from .open_set import confidence_score


METHODS = ("logistic", "svm")
CROSS_FITS = ("images", "styles")
SCORES = ("msp", "max-logit")
DEFAULT_C = {"logistic": (0.01, 0.1, 1.0), "svm": (1.0,)}


@dataclass
class SuggestConfig:
    method: str = "logistic"  # "logistic" (multinomial) or "svm" (one-vs-rest SVC)
    C: tuple[float, ...] | None = None  # candidates, chosen by out-of-fold log loss; None: DEFAULT_C[method]
    kernel: str = "rbf"  # svm only: "rbf" or "linear"
    folds: int = 5  # stratified k-fold over labelled images: the out-of-fold scores
    # "styles": each fold holds out whole styles, as new clip-art is by other hands. benchmarks/suggest_styles.py
    # (8 styles of the curated set, frozen Lite1): realised 98.9% at 65.5% coverage, promised 95.8% / 49.6%;
    # "images" 99.1% / 65.6%, promised 97.4% / 56.3%: both hold, "styles" promises less, so "images" stays
    cross_fit: str = "images"
    class_groups: int = 5  # leave-classes-out groups: the "other" pool
    precision: float = 0.95  # target precision of the suggestions
    # share of unlabelled drawings showing none of the known classes; None: estimated from those drawings
    open_share: float | None = None
    max_other: float | None = 0.10  # most of the other pool that may be given a class; None: no bound
    score: str = "msp"  # the thresholded confidence: "msp" (top probability) or "max-logit"
    seed: int = 0
    jobs: int = -1  # parallel fits (processes); -1: all cores

    def check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.cross_fit not in CROSS_FITS:
            raise ValueError(f"cross fit must be one of {', '.join(CROSS_FITS)}, got {self.cross_fit!r}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if self.folds < 2 or self.class_groups < 2:
            raise ValueError(f"folds and class groups must be at least 2, got {self.folds} and {self.class_groups}")
        if not 0 < self.precision < 1 or not (self.open_share is None or 0 <= self.open_share < 1):
            raise ValueError(f"precision must be in (0, 1) and open share in [0, 1), got {self.precision} and "
                             f"{self.open_share}")
        if self.max_other is not None and not 0 <= self.max_other <= 1:
            raise ValueError(f"max other must be in [0, 1], got {self.max_other}")
        if self.C is not None and (not self.C or min(self.C) <= 0):
            raise ValueError(f"C must be positive numbers, got {self.C}")


# ---------------------------------------------------------------- labelled images


@dataclass
class Images:
    """The labelled rows grouped by image id."""
    classes: np.ndarray  # (K,) sorted labels
    image_of_row: np.ndarray  # (n_rows,) image index of each row
    first_row: np.ndarray  # (n_images,) the image's first row
    label_sets: np.ndarray  # (n_images, K) bool: the image's classes
    styles: np.ndarray | None = None  # (n_images,) the image's drawing style, when known


def group_images(ids: np.ndarray, labels: np.ndarray, styles: np.ndarray | None = None) -> Images:
    classes = np.unique(labels)
    uniq, first_row, image_of_row = np.unique(np.asarray(ids).astype(str), return_index=True, return_inverse=True)
    sets = np.zeros((len(uniq), len(classes)), dtype=bool)
    sets[image_of_row, np.searchsorted(classes, labels)] = True
    return Images(classes, image_of_row, first_row, sets,
                  None if styles is None else np.asarray(styles).astype(str)[first_row])


def check_images(images: Images) -> None:
    per_class = images.label_sets.sum(axis=0)
    if int((per_class >= 2).sum()) < 2:
        raise ValueError(f"need at least 2 classes with 2+ labelled images, got {int((per_class >= 2).sum())} "
                         f"({len(images.classes)} class(es), {len(images.first_row)} image(s))")


def image_folds(images: Images, folds: int, seed: int) -> tuple[np.ndarray, int]:
    """(fold of each image, -1: never held out, number of folds): ``classify.folds.stratified_folds`` of the
    images, stratified on each image's first class.

    An image with a class that has a single image is always trained on, so every fold keeps every class.
    """
    per_class = images.label_sets.sum(axis=0)
    scorable = (images.label_sets & (per_class < 2)).sum(axis=1) == 0
    return stratified_folds(images.label_sets.argmax(axis=1), folds, seed, scorable=scorable)


def style_folds(images: Images, folds: int, seed: int) -> tuple[np.ndarray, int]:
    """(fold of each image, number of folds): whole styles held out together, the styles dealt in a seeded order
    to the fold with the fewest images so far.

    Each image is then scored by a model that saw no drawing of its style: what a drawing by another hand
    meets. A class drawn in one style only is missing from its fold's training: its images there are wrong,
    as a new drawing of a class known from one set of icons may well be. Fewer than 2 styles: a ValueError.
    """
    names, style_of = np.unique(images.styles, return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"cross-fitting by style needs 2+ styles among the labelled images, got {len(names)}")
    n_splits = min(folds, len(names))
    sizes = np.bincount(style_of, minlength=len(names))
    load = np.zeros(n_splits, dtype=np.int64)
    fold_of_style = np.empty(len(names), dtype=np.int64)
    for s in np.random.default_rng(seed).permutation(len(names)):
        fold_of_style[s] = int(load.argmin())
        load[fold_of_style[s]] += sizes[s]
    return fold_of_style[style_of], n_splits


def class_groups(n_classes: int, groups: int, seed: int) -> list[np.ndarray]:
    """The class columns split into ``groups`` seeded groups (fewer when there are too few classes)."""
    order = np.random.default_rng(seed).permutation(n_classes)
    return [np.sort(g) for g in np.array_split(order, min(groups, n_classes))]


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


def calibrate(X: np.ndarray, y: np.ndarray, images: Images, clip_img: np.ndarray | None, cfg: SuggestConfig) -> dict:
    """Out-of-fold scores for each C, the C of least calibrated log loss, and its calibration (a, b)."""
    if cfg.cross_fit == "styles":
        fold, n_splits = style_folds(images, cfg.folds, cfg.seed)
    else:
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
