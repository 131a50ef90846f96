"""Unlabelled drawings whose file name gave a class that ``evaluation.verify`` rejected, for ``evaluation.suggest``.

Such a drawing is no "other object" by default: its name's class is a *candidate*, ranked against the
classifier's classes with the label model's probability that it is right as its prior (:func:`name_prior`,
Bayes' rule over a classifier trained with equal class weights). And the drawings with a rejected name are a
pool of their own: a third of them or more may show a known class where the files whose names matched
nothing mostly show other things, so each pool's share of other objects is estimated, and its threshold
chosen, apart (:func:`pool_threshold`, :func:`decide_pools`). Arrays in, arrays out; :func:`rejected_names`
reads the candidates from a manifest.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from scraping.files import iter_jsonl

from .features import UNLABELLED
from .open_set import choose_threshold, decide, estimate_open_share, figures, pool_report, threshold_value
from .suggest_pools import SuggestConfig


MAX_OPEN_SHARE = 0.99  # an estimated share above this is taken as this: precision(t) stays defined


def open_share(cfg: SuggestConfig, new_conf: np.ndarray, known_conf: np.ndarray, other_conf: np.ndarray) -> float:
    """The share of other-object drawings the threshold assumes: ``cfg.open_share``, or (None) the one the
    unlabelled rows' confidences show (:func:`estimate_open_share`; 0 without unlabelled rows or other pool)."""
    if not len(other_conf):
        return 0.0
    if cfg.open_share is not None:
        return cfg.open_share
    estimated = estimate_open_share(new_conf, known_conf, other_conf)
    return 0.0 if estimated is None else min(estimated, MAX_OPEN_SHARE)


def name_columns(names: np.ndarray | None, classes: np.ndarray, m: int) -> np.ndarray:
    """Each scored row's name class as a column of ``classes``, -1 for none or a class not among them."""
    if names is None:
        return np.full(m, -1, dtype=np.int64)
    names = np.asarray(names, dtype=np.int64)
    if len(names) != m:
        raise ValueError(f"names must give one class (or -1) per scored row: {len(names)} for {m} rows")
    at = np.searchsorted(classes, names)
    known = (names >= 0) & (at < len(classes)) & (classes[np.minimum(at, len(classes) - 1)] == names)
    return np.where(known, at, -1)


def name_prior(logp: np.ndarray, z: np.ndarray, named: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, ...]:
    """A named row's probabilities with its name's class (column ``named``, -1 for none) given the prior
    probability ``prior`` (the label model's posterior, ``evaluation.verify``) and the other classes the rest,
    evenly: Bayes' rule over a classifier trained with equal class weights. Unnamed rows unchanged."""
    from scipy.special import log_softmax

    rows = np.flatnonzero(named >= 0)
    if not len(rows):
        return logp, z
    k = logp.shape[1]
    p0 = np.clip(np.nan_to_num(prior[rows], nan=1.0 / k), 0.02, 0.98)
    shift = np.tile(np.log((1 - p0) / (k - 1) * k)[:, None], (1, k))
    shift[np.arange(len(rows)), named[rows]] = np.log(p0 * k)
    logp, z = logp.copy(), z.copy()
    logp[rows] = log_softmax(logp[rows] + shift, axis=1)
    z[rows] = z[rows] + shift
    return logp, z


def pool_threshold(cfg: SuggestConfig, conf: np.ndarray, known_conf: np.ndarray, known_ok: np.ndarray,
                   other_conf: np.ndarray, warnings: list[str], what: str) -> tuple[float, float]:
    """(threshold, the open share it assumed) for one pool of unlabelled rows."""
    share = open_share(cfg, conf, known_conf, other_conf)
    t = choose_threshold(known_conf, known_ok, other_conf, precision=cfg.precision, share=share,
                         max_other=cfg.max_other)
    if math.isinf(t) and len(conf):
        warnings.append(f"{what}: no threshold reaches an estimated precision of {cfg.precision:.1%}: abstaining "
                        f"on every one")
    return t, share


def decide_pools(logp, z, excluded, mask, thresholds, classes, kind) -> tuple[np.ndarray, ...]:
    """:func:`open_set.decide` with the unnamed rows' threshold, and the named rows' (``mask``) for them."""
    decided = decide(logp, z, excluded, thresholds[0], classes, kind)
    if mask.any():
        by_name = decide(logp[mask], z[mask], excluded[mask], thresholds[1], classes, kind)
        for part, named_part in zip(decided, by_name, strict=True):
            part[mask] = named_part
    return decided


def pools_report(new_conf, named_mask, thresholds, shares, known_conf, known_ok, other_conf, decided, cfg) -> dict:
    """Per pool (rows with a rejected name's class, rows without): open share, threshold, figures, counts."""
    out = {}
    for name, mask, t, share in (("named", named_mask, thresholds[1], shares[1]),
                                 ("open", ~named_mask, thresholds[0], shares[0])):
        out[name] = {"rows": int(mask.sum()), "suggested": int((decided[0][mask] != UNLABELLED).sum()),
                     "open_share": share, "threshold": threshold_value(t, cfg.score),
                     "estimated": figures(t, known_conf, known_ok, other_conf, share),
                     "pool": pool_report(new_conf[mask], t, known_conf, known_ok, other_conf)}
    return out


def rejected_names(manifest: Path | None, new_ids: list[str]) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """The class each scored image's name gave it that ``evaluation.verify`` rejected (-1 for none) and the label
    model's probability that it is right, from the manifest the features were extracted from; Nones without one."""
    if manifest is None or not Path(manifest).is_file():
        return None, None, {"manifest": None if manifest is None else str(manifest), "named": 0}
    found = {}
    for _, r in iter_jsonl(Path(manifest)):
        if r.get("rejected_class_index") is not None and not r.get("wnid"):
            posterior = ((r.get("label_check") or {}).get("evidence") or {}).get("posterior")
            found.setdefault(r["id"], (int(r["rejected_class_index"]), np.nan if posterior is None else posterior))
    names = np.asarray([found.get(i, (-1, np.nan))[0] for i in new_ids], dtype=np.int64)
    posterior = np.asarray([found.get(i, (-1, np.nan))[1] for i in new_ids], dtype=np.float64)
    return names, posterior, {"manifest": str(manifest), "named": int((names >= 0).sum())}
