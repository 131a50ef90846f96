"""python -m evaluation.suggest: a class for each unlabelled drawing, or none ("none of the known classes").

    python -m evaluation.suggest --features feats.h5 --out suggest/
    python -m evaluation.suggest --features lite0.h5 lite2.h5 --out suggest/ --method svm
    python -m evaluation.suggest --features F --out D --refused refused.jsonl --precision 0.9 --max-other 0.05
    python -m curation.writeback --dataset drawnet --results D --method suggest   # then onto the FiftyOne dataset

The labelled rows of the features file (both splits: the curated classes) train a classifier;
every unlabelled row (label -1, ``datasets.build --keep-unmatched``) gets the class it most likely
shows, or none when the classifier is not sure enough for the target precision.

Classifier. ``logistic`` (default): multinomial logistic regression on standardised features, its
C chosen from ``--C`` (default 0.01,0.1,1) by the out-of-fold log loss after temperature scaling.
``svm``: evaluation.svm's one-vs-rest SVC with the kernel computed once per fit (``--kernel rbf``,
``--C 1``); its decision values become probabilities by temperature scaling, as in
``evaluation.classify.oof.cross_validated_probabilities``. The final model is fitted on every labelled row.

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
threshold. With ``s = --open-share``, the share of other-object drawings among the unlabelled
files: by default (``auto``) the one their own confidences show (``open_set.estimate_open_share``:
their distribution fitted as a mix of the known-class and the other pool's, read high rather than
low where the other objects are unlike every class; at most 0.99); ``0`` gives the precision on
drawings of the known classes alone, the other pool bounding the rest through ``--max-other``
(the default before issue 27: on a pool of 80% other objects, blobs in tests/test_suggest.py,
it kept 67-80% where it promised 95%, and ``auto`` 95-100% at 3-58% coverage),

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
clip_weight, bins}, ``params`` and ``counts``. ``python -m curation.writeback --method suggest`` puts
them on a FiftyOne dataset (the command prints it). The core (:func:`suggest`) takes arrays and imports
neither FiftyOne nor torch; its out-of-fold pools are ``evaluation.suggest_pools``, its threshold and
decisions ``evaluation.open_set``.
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

from scraping.cli import UsageError, add_common_arguments, at_least, fail, setup_logging, usage
from scraping.files import iter_jsonl, write_json, write_jsonl

from .classify.calibration import calibrated_logits, log_probs
from .classify.inputs import features_meta, load_inputs, paths_label
from .features import UNLABELLED, FeatureSet, sample_rows
from .metrics import percent
from .named_pool import decide_pools, name_columns, name_prior, pool_threshold, pools_report, rejected_names
from .open_set import (
    confidence_score,
    cross_fitted,
    exclusion_mask,
    figures,
    pool_report,
    threshold_value,
)
from .suggest_pools import (
    CROSS_FITS,
    METHODS,
    SCORES,
    SuggestConfig,
    calibrate,
    check_images,
    fit_scores,
    group_images,
    known_pool,
    other_pool,
)
from .options import jobs, new_folder, one_kernel, positive_floats, random_seed
from .zeroshot import ClipConfig, add_clip_arguments, clip_config

logger = logging.getLogger(__name__)

PROG = "evaluation.suggest"
SUGGESTIONS = "suggestions.jsonl"
SUMMARY = "suggest.json"


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


# ---------------------------------------------------------------- the core


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


def new_scores(S: np.ndarray, clip_new: np.ndarray | None, cal: dict, classes: np.ndarray, names, name_posterior):
    """(calibrated log-probabilities, logits, named mask) of the scored rows, a rejected name's class weighed in."""
    named = name_columns(names, classes, len(S))
    prior = np.full(len(S), np.nan) if name_posterior is None else np.asarray(name_posterior, dtype=np.float64)
    logp, z = name_prior(log_probs(S, clip_new, cal["a"], cal["b"]), calibrated_logits(S, clip_new, cal["a"], cal["b"]),
                         named, prior)
    return logp, z, named >= 0


def params_report(cfg: SuggestConfig, cal: dict, other_group: np.ndarray, share: float) -> dict:
    return {"method": cfg.method, "C": cal["C"], "C_log_loss": {str(c): v for c, v in cal["losses"].items()},
            **({"kernel": cfg.kernel} if cfg.method == "svm" else {}), "folds": cal["n_splits"],
            "cross_fit": cfg.cross_fit, "class_groups": len(np.unique(other_group)), "score": cfg.score,
            "open_share": share, "open_share_from": "estimated" if cfg.open_share is None else "given",
            "max_other": cfg.max_other, "precision": cfg.precision, "seed": cfg.seed}


def suggest(features: np.ndarray, labels: np.ndarray, ids: np.ndarray, new_features: np.ndarray, *,
            clip: np.ndarray | None = None, clip_new: np.ndarray | None = None, exclude: dict | None = None,
            styles: np.ndarray | None = None, names: np.ndarray | None = None, name_posterior: np.ndarray | None = None,
            cfg: SuggestConfig | None = None) -> Suggestions:
    """A class, or none, for each row of ``new_features``, learnt from the labelled rows.

    Args:
        features, labels, ids: the labelled rows, (N, D), (N,) class labels >= 0, (N,) image ids (an image in
            two classes is two rows with the same id and features).
        new_features: (m, D) the rows to score.
        clip, clip_new: CLIP zero-shot log-probabilities over the sorted classes, (N, K) and (m, K), or None.
        exclude: {scored row: set of class labels} never to propose for that row.
        styles: (N,) the drawing style of each labelled row: needed by ``cfg.cross_fit == "styles"``.
        names: (m,) the class label a scored row's file name gave it and ``evaluation.verify`` rejected (-1 for
            none): a candidate, ranked against the classifier's classes with ``name_posterior`` (m,), the label
            model's probability that it is right. Named rows are a pool of their own: their share of other
            objects is estimated, and their threshold chosen, apart from the unnamed rows'.
        cfg: the method, calibration and threshold settings (:class:`SuggestConfig`).
    """
    cfg = cfg or SuggestConfig()
    cfg.check()
    X, y, new, clip, clip_new = _arrays(features, labels, ids, new_features, clip, clip_new)
    if cfg.cross_fit == "styles" and (styles is None or len(styles) != len(y)):
        raise ValueError("cross-fitting by style needs the style of every labelled row")
    images = group_images(ids, y, styles)
    check_images(images)
    warnings: list[str] = []
    clip_img = None if clip is None else clip[images.first_row]
    cal = calibrate(X, y, images, clip_img, cfg)
    known_conf, known_ok, calibration = known_pool(cal, cfg.score)
    other_conf, other_group = other_pool(X, y, images, cal, clip_img, cfg, warnings)
    classes = images.classes
    S = fit_scores(cfg.method, cal["C"], cfg.kernel, X, y, new, classes) if len(new) else np.zeros((0, len(classes)))
    logp, z, mask = new_scores(S, clip_new, cal, classes, names, name_posterior)
    new_conf = confidence_score(logp, z, cfg.score)
    t, share = pool_threshold(cfg, new_conf[~mask], known_conf, known_ok, other_conf, warnings, "unnamed rows")
    t_named, share_named = pool_threshold(cfg, new_conf[mask], known_conf, known_ok, other_conf, warnings,
                                          "rows with a rejected name")
    decided = decide_pools(logp, z, exclusion_mask(exclude, len(new), classes), mask, (t, t_named), classes,
                           cfg.score)
    suggested = decided[0] != UNLABELLED
    pool = pool_report(new_conf[~mask], t, known_conf, known_ok, other_conf)
    report = {
        "params": params_report(cfg, cal, other_group, share),
        "threshold": threshold_value(t, cfg.score),
        "estimated": figures(t, known_conf, known_ok, other_conf, share),
        "heldout": cross_fitted(known_conf, known_ok, other_conf, precision=cfg.precision, max_other=cfg.max_other,
                                share=share, seed=cfg.seed, other_group=other_group),
        "pool": pool,
        "pools": pools_report(new_conf, mask, (t, t_named), (share, share_named), known_conf, known_ok, other_conf,
                              decided, cfg),
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
    refusals = []
    for lineno, obj in iter_jsonl(path):
        if not isinstance(obj.get("id"), str) or not isinstance(obj.get("wnid"), str):
            raise ValueError(f'{path}:{lineno}: expected {{"id": image id, "wnid": wnid}}, got {json.dumps(obj)[:120]}')
        refusals.append((obj["id"], obj["wnid"]))
    exclude: dict[int, set[int]] = {}
    applied = 0
    rows = sample_rows(np.asarray(new_ids, dtype=object), [image for image, _ in refusals])
    for row, (_, wnid) in zip(rows.tolist(), refusals, strict=True):
        if row >= 0 and wnid in label_of:
            exclude.setdefault(row, set()).add(label_of[wnid])
            applied += 1
    return exclude, {"file": str(path), "lines": len(refusals), "applied": applied}


def clip_inputs(fs: FeatureSet, labelled: np.ndarray, new: np.ndarray, wnids: list[str],
                cfg: ClipConfig | None) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """CLIP log-probabilities of the labelled and the scored rows over the classes, or Nones and why not
    (``cfg`` None: ``--no-clip``)."""
    from .zeroshot import clip_log_probs

    if cfg is None:
        return None, None, {"status": "skipped", "reason": "--no-clip"}
    if fs.filepaths is None:
        return None, None, {"status": "skipped", "reason": "the features file has no filepaths"}
    rows = np.concatenate([labelled, new])
    files, inverse = np.unique(fs.filepaths[rows].astype(str), return_inverse=True)
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


def run(features: Path | list[Path], out: Path, cfg: SuggestConfig, args: argparse.Namespace,
        clip_cfg: ClipConfig | None = None) -> dict:
    """The whole command: read, suggest, write DIR/suggestions.jsonl and DIR/suggest.json; return the summary.
    ``args`` gives ``--refused`` and ``--manifest``; ``clip_cfg`` CLIP's settings (None: no CLIP)."""
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
    clip, clip_new, clip_info = clip_inputs(fs, labelled, new, wnids, clip_cfg)
    names, name_posterior, named = rejected_names(args.manifest or fs.attrs.get("manifest"), new_ids)
    logger.info("%s: %d labelled rows of %d classes, %d unlabelled images, %d dims", label, len(labelled),
                len(classes), len(new), fs.features.shape[1])
    try:
        result = suggest(fs.features[labelled], fs.labels[labelled], fs.ids[labelled], fs.features[new],
                         clip=clip, clip_new=clip_new, exclude=exclude, cfg=cfg, names=names,
                         name_posterior=name_posterior,
                         styles=None if fs.styles is None else fs.styles[labelled])
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    for warning in result.report["warnings"]:
        logger.warning("%s: %s", label, warning)
    wnid_of = {c["class_index"]: c["wnid"] for c in table}
    counts = result.report["counts"]
    counts["per_class"] = {wnid_of[c]: n for c, n in counts["per_class"].items()}
    meta = {**features_meta(fs, features), "config": asdict(cfg), "clip": clip_info, "refused": refused,
            "names": named}
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
                     f"{percent(pool['expected_precision'])} of the suggestions to be right"
                     + (" (the threshold assumed it)" if summary["params"].get("open_share_from") == "estimated" else
                        f" (the threshold assumed {percent(summary['params']['open_share'])}: --open-share)"))
    for name, what in (("named", "with a name's class evaluation.verify rejected (a candidate)"),
                       ("open", "whose name matched no class")):
        p = (summary.get("pools") or {}).get(name)
        if p and p["rows"]:
            t = "abstain on all" if p["threshold"] is None else f"threshold {p['threshold']:.3f}"
            lines.append(f"  {p['rows']:,} drawings {what}: about {percent(p['open_share'])} other objects; {t}, "
                         f"estimated precision {percent(p['estimated']['precision'])}: {p['suggested']:,} suggested")
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
    """The method, calibration and threshold settings; a UsageError (exit 2) for a value that cannot work."""
    at_least(args.folds, 2, "--folds")
    at_least(args.class_groups, 2, "--class-groups")
    if not 0 < args.precision < 1:
        raise UsageError(f"--precision must be between 0 and 1 (both excluded), got {args.precision}")
    if args.open_share is not None and not 0 <= args.open_share < 1:
        raise UsageError(f"--open-share must be in [0, 1), or auto; got {args.open_share}")
    if args.max_other != -1 and not 0 <= args.max_other <= 1:
        raise UsageError(f"--max-other must be in [0, 1], or -1 for no bound; got {args.max_other}")
    cfg = SuggestConfig(method=args.method, C=None if args.C is None else positive_floats(args.C, "--C"),
                        kernel=one_kernel(args.kernel), folds=args.folds, cross_fit=args.cross_fit,
                        class_groups=args.class_groups, precision=args.precision, open_share=args.open_share,
                        max_other=None if args.max_other == -1 else args.max_other, score=args.score,
                        seed=random_seed(args.seed),
                        jobs=jobs(args.jobs))
    try:
        cfg.check()
    except ValueError as err:
        raise UsageError(f"bad option: {err}") from None
    new_folder(args.out)
    return cfg


def open_share_arg(text: str) -> float | None:
    """``--open-share``: a number, or "auto" (None: estimated from the unlabelled rows)."""
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1) or 'auto', got {text!r}") from None


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    d = SuggestConfig()
    p = argparse.ArgumentParser(description="Suggest a known class, or none, for each unlabelled row of a features "
                                            "file.", add_help=add_help)
    p.add_argument("--features", type=Path, action="extend", nargs="+", required=True, metavar="FEATURES",
                   help="features file(s) from evaluation.extract; several (--features A B) join the backbones' "
                        "features of the same images")
    p.add_argument("--out", type=Path, required=True, help="folder for suggestions.jsonl and suggest.json")
    p.add_argument("--manifest", type=Path, default=None,
                   help="the manifest of the features' images, for the classes evaluation.verify rejected (default: "
                        "the one the features file names)")
    p.add_argument("--refused", type=Path, default=None,
                   help='JSONL of {"id": image id, "wnid": wnid} a curator refused: never suggested for that image')
    g = p.add_argument_group("classifier and calibration")
    g.add_argument("--method", choices=METHODS, default=d.method, help="default %(default)s")
    g.add_argument("--C", default=None, help="C candidates, comma-separated, chosen by out-of-fold log loss "
                                             "(default: logistic 0.01,0.1,1; svm 1)")
    g.add_argument("--kernel", default=d.kernel, help="svm kernel, one: rbf or linear (default %(default)s)")
    g.add_argument("--folds", type=int, default=d.folds, help="k-fold over labelled images (default %(default)s)")
    g.add_argument("--cross-fit", choices=CROSS_FITS, default=d.cross_fit,
                   help="what a fold holds out: images, or whole styles, so that the confidences and the threshold "
                   "are those of drawings by other hands (default %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="folds, class groups and halves (default %(default)s)")
    g.add_argument("--jobs", type=int, default=d.jobs, help="parallel fits (default %(default)s; -1: all cores)")
    g = p.add_argument_group("abstaining")
    g.add_argument("--precision", type=float, default=d.precision, help="target precision (default %(default)s)")
    g.add_argument("--open-share", type=open_share_arg, default="auto", metavar="S|auto",
                   help="share of unlabelled drawings showing none of the known classes, mixed into the estimated "
                        "precision (default auto: estimated from those drawings' confidences; 0: precision on "
                        "drawings of the known classes only)")
    g.add_argument("--max-other", type=float, default=d.max_other,
                   help="at most this share of other-object drawings (the left-out classes) may be given a class "
                        "(default %(default)s; -1: no bound)")
    g.add_argument("--class-groups", type=int, default=d.class_groups,
                   help="classes left out in turn to stand for other drawings (default %(default)s)")
    g.add_argument("--score", choices=SCORES, default=d.score,
                   help="thresholded confidence: msp (top probability, default) or max-logit")
    g = p.add_argument_group("CLIP zero-shot (only with weights already on disk)")
    add_clip_arguments(g)
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    features = args.features[0] if len(args.features) == 1 else args.features
    try:
        cfg, clip_cfg = config_from_args(args), clip_config(args)
        if args.manifest is not None and not args.manifest.is_file():
            raise ValueError(f"--manifest {args.manifest}: no such file")
    except UsageError as err:
        return usage(PROG, err)
    except ValueError as err:  # no such --manifest or --clip-weights file, no such --device
        return fail(PROG, err)
    try:
        summary = run(features, args.out, cfg, args, clip_cfg)
    except (ValueError, OSError) as err:  # unreadable or unsuitable features, a bad refusals file
        return fail(PROG, err)
    print(format_summary(summary, args.out))
    print(f"onto the dataset: python -m curation.writeback --dataset NAME --results {args.out} --method suggest")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
