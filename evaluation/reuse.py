"""``evaluation.extract --reuse FEATURES``: take the images another features file already holds.

A subset of a dataset (``datasets.subsets``) or its verified manifest (``evaluation.verify``) holds images
whose features were extracted once already, for the whole build. With ``--reuse`` their features and
logits are copied from that file, by image id, and only the images it lacks go through the network (an
extraction of their own, resumable as usual, in the output's ``.parts`` folder). The rows, labels,
splits and the rest come from the new manifest. The file must come from the same network: backbone,
layer, weights (sha256), test-time augmentation and input normalisation are checked, and a mismatch is
an error naming the attribute, before anything is computed.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from datasets.manifest import read_manifest, write_jsonl

from .features import UNLABELLED, FeatureSet, read_features, write_features

logger = logging.getLogger(__name__)

SAME = ("backbone", "layer", "weights_sha256", "tta", "normalize")  # attributes the two files must share


def check_same(attrs: dict, expected: dict, path: Path) -> None:
    for key in SAME:
        if str(attrs.get(key)) != str(expected.get(key)):
            raise ValueError(f"--reuse {path}: its {key} is {attrs.get(key)!r}, this extraction's is "
                             f"{expected.get(key)!r}: features of another network cannot be reused")


def image_index(fs: FeatureSet) -> dict[str, int]:
    first: dict[str, int] = {}
    for row, image in enumerate(fs.ids.tolist()):
        first.setdefault(image, row)
    return first


def manifest_rows_set(rows: list[dict], features: np.ndarray, logits: np.ndarray, attrs: dict) -> FeatureSet:
    """A FeatureSet of manifest ``rows`` (one row each; ``features``/``logits`` aligned with them)."""
    def col(key):
        return np.asarray([str(r.get(key)) if r.get(key) is not None else "" for r in rows], dtype=object)

    return FeatureSet(
        features=features, labels=np.asarray([UNLABELLED if r.get("class_index") is None else r["class_index"]
                                              for r in rows], dtype=np.int64),
        ids=col("id"), splits=col("split"), logits=logits, wnids=col("wnid"), label_names=col("label"),
        styles=col("style"), sources=col("source"), filepaths=col("filepath"), attrs=attrs)


def extract_missing(cfg, missing: list[dict], ranks) -> tuple[FeatureSet | None, dict[str, str]]:
    """Extract the images a reused file lacks, in a folder of their own beside ``cfg.out`` (resumable); their
    FeatureSet (None if there are none) and why any of them could not be read."""
    from .extract import extract, rejected_path

    if not missing:
        return None, {}
    part = cfg.out.with_name(f".{cfg.out.name}.missing")
    part.mkdir(parents=True, exist_ok=True)
    write_jsonl(part / "manifest.jsonl", missing)
    extract(replace(cfg, manifest=part / "manifest.jsonl", out=part / "features.h5", reuse=None), ranks)
    new = read_features(part / "features.h5")
    errors = {r["id"]: r["reason"] for r in read_manifest_rows(rejected_path(part / "features.h5"))}
    shutil.rmtree(part, ignore_errors=True)
    return new, errors


def read_manifest_rows(path: Path) -> list[dict]:
    from datasets.manifest import iter_jsonl

    return [row for _, row in iter_jsonl(path)] if path.is_file() else []


def extract_reusing(cfg, ranks=None) -> dict:
    """``evaluation.extract.extract`` for ``cfg`` (an ExtractConfig with ``reuse`` set), copying what it can."""
    from training.backbones import normalization_name
    from training.runtime import resolve_device

    from .extract import _subset_name, load_backbone, rejected_path

    start = time.perf_counter()
    reuse = Path(cfg.reuse)
    old = read_features(reuse)
    backbone = load_backbone(cfg, resolve_device("cpu"))
    check_same(old.attrs, {**backbone.describe(), "tta": cfg.tta,
                           "normalize": normalization_name(backbone.preprocessing)}, reuse)
    rows = read_manifest(cfg.manifest)
    if not rows:
        raise ValueError(f"{cfg.manifest}: no rows")
    have = image_index(old)
    missing = [r for r in rows if r["id"] not in have]
    if missing:
        logger.info("%d of %d images are not in %s: extracting them", len({r['id'] for r in missing}),
                    len({r['id'] for r in rows}), reuse)
    new, errors = extract_missing(cfg, missing, ranks)
    new_index = image_index(new) if new is not None else {}
    keep = [r for r in rows if r["id"] in have or r["id"] in new_index]
    take = [(old, have[r["id"]]) if r["id"] in have else (new, new_index[r["id"]]) for r in keep]
    dim = old.features.shape[1]
    features = np.stack([fs.features[i] for fs, i in take]) if take else np.zeros((0, dim), np.float32)
    logits = np.stack([fs.logits[i] for fs, i in take]) if take else np.zeros((0, 1000), np.float32)
    images = len({r["id"] for r in keep})
    attrs = {**old.attrs, "manifest": str(cfg.manifest), "subset": _subset_name(Path(cfg.manifest)),
             "reused_from": str(reuse), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "images": images}
    write_features(cfg.out, manifest_rows_set(keep, features.astype(np.float32), logits.astype(np.float32), attrs))
    bad = {r["id"]: r for r in rows if r["id"] not in have and r["id"] not in new_index}
    write_jsonl(rejected_path(cfg.out), [{"id": i, "filepath": r["filepath"], "reason": errors.get(i, "not extracted")}
                                         for i, r in bad.items()])
    return {"complete": True, "rows": len(keep), "images": images, "bad_images": len(bad),
            "reused": len({r["id"] for r in rows if r["id"] in have}), "processed_now": len(new_index),
            "seconds": round(time.perf_counter() - start, 2), "images_per_s": None, "out": str(cfg.out),
            **backbone.describe()}
