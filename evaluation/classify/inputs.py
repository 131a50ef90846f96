"""The features file(s) a run reads, checked: one file or several of the same images joined side by side, the
unlabelled rows set aside, the ``meta`` that results record about them, and whether a saved model fits them."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..features import (
    FeatureSet,
    feature_parts,
    ignored_unlabelled,
    is_fine_tuned,
    join_features,
    labelled_rows,
    read_features,
)
from .models import plain

logger = logging.getLogger(__name__)


def load_features(path: Path) -> FeatureSet:
    """One features file without its logits; no rows or a non-finite feature is an error naming it."""
    if not path.is_file():
        raise ValueError(f"{path}: no such features file")
    fs = read_features(path, logits=False)  # the (N, 1000) logits are not used here
    if fs.features.ndim != 2 or len(fs) == 0:
        raise ValueError(f"{path}: no feature rows")
    bad = int((~np.isfinite(fs.features).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{path}: {bad} row(s) have NaN or infinite features")
    return fs


def as_paths(features: Path | str | list) -> list[Path]:
    """``--features`` as a list: one path or several."""
    return [Path(p) for p in features] if isinstance(features, (list, tuple)) else [Path(features)]


def paths_label(features: Path | str | list) -> str:
    """The features file(s) as error messages name them."""
    return " + ".join(str(p) for p in as_paths(features))


def load_inputs(features: Path | str | list) -> FeatureSet:
    """One features file, or several of the same images joined side by side (:func:`join_features`)."""
    paths = as_paths(features)
    sets = [load_features(p) for p in paths]
    return sets[0] if len(sets) == 1 else join_features(sets, [str(p) for p in paths])


def labelled_inputs(features: Path | str | list) -> FeatureSet:
    """:func:`load_inputs` without the unlabelled rows, logged and counted in ``attrs["unlabelled_rows_ignored"]``
    (:func:`features_meta` records it); no labelled row at all is an error naming the file(s)."""
    fs, dropped = labelled_rows(load_inputs(features))
    if dropped:
        logger.info(ignored_unlabelled(dropped))
        fs.attrs["unlabelled_rows_ignored"] = dropped
    if not len(fs):
        raise ValueError(f"{paths_label(features)}: no labelled rows ({dropped} unlabelled)")
    return fs


def features_meta(fs: FeatureSet, features: Path | str | list) -> dict:
    """metrics.json's ``meta``: which file(s), backbone, layer and subset, and how they were extracted."""
    paths = as_paths(features)
    meta = {"features": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
            "backbone": fs.attrs.get("backbone"), "layer": fs.attrs.get("layer"), "subset": fs.subset_name,
            "fine_tuned": is_fine_tuned(fs.attrs), "tta": str(fs.attrs.get("tta") or "none")}
    parts = feature_parts(fs.attrs)
    if any(p["adapted"] for p in parts):  # only then: older metrics.json and holdout.json metas stay equal
        meta["adapted"] = [bool(p["adapted"]) for p in parts] if len(parts) > 1 else True
    if fs.attrs.get("normalize") is not None:
        meta["normalize"] = plain(fs.attrs["normalize"])
    if fs.attrs.get("unlabelled_rows_ignored"):  # only then: an older holdout.json's meta stays equal
        meta["unlabelled_rows_ignored"] = int(fs.attrs["unlabelled_rows_ignored"])
    return meta


def check_compatible(bundle: dict, fs: FeatureSet, model_path: Path, features_path: Path | str) -> None:
    """A model only applies to features of its own width, and of its own backbone and layer where both are known."""
    dim = fs.features.shape[1]
    if bundle.get("feature_dim") is not None and int(bundle["feature_dim"]) != dim:
        raise ValueError(f"feature dimension mismatch: model {model_path} expects {bundle['feature_dim']}, "
                         f"features {features_path} have {dim}")
    for key in ("backbone", "layer"):
        saved, here = bundle.get(key), fs.attrs.get(key)
        if saved is not None and here is not None and str(saved) != str(here):
            raise ValueError(f"{key} mismatch: model {model_path} was trained on {key} {saved!r}, "
                             f"features {features_path} have {key} {here!r}")
