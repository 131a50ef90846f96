"""``evaluation.extract --reuse FEATURES``: take the images another features file already holds.

A subset of a dataset (``datasets.subsets``) or its verified manifest (``evaluation.verify``) holds images
whose features were extracted once already, for the whole build. With ``--reuse`` their features and
logits are copied from that file, by image id, and only the images it lacks go through the network (an
extraction of their own, resumable as usual, in ``.<out>.missing/``). The rows, labels, splits and the
rest come from the new manifest. This module holds the pieces (checks, lookup, the rows' FeatureSet, which
``evaluation.extract``'s merge uses too); ``evaluation.extract.extract_reusing`` runs them. The file must come from the same network: backbone,
layer, weights (sha256), test-time augmentation and input normalisation are checked, and a mismatch is
an error naming the attribute, before anything is computed.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from datasets.manifest import iter_jsonl

from .features import UNLABELLED, FeatureSet, image_rows

logger = logging.getLogger(__name__)

SAME = ("backbone", "layer", "weights_sha256", "tta", "normalize")  # attributes the two files must share


def check_same(attrs: dict, expected: dict, path: Path) -> None:
    for key in SAME:
        if str(attrs.get(key)) != str(expected.get(key)):
            raise ValueError(f"--reuse {path}: its {key} is {attrs.get(key)!r}, this extraction's is "
                             f"{expected.get(key)!r}: features of another network cannot be reused")


def manifest_rows_set(rows: list[dict], features: np.ndarray, logits: np.ndarray, attrs: dict) -> FeatureSet:
    """A FeatureSet of manifest ``rows`` (one row each; ``features``/``logits`` aligned with them)."""
    def col(key):
        return np.asarray([str(r.get(key)) if r.get(key) is not None else "" for r in rows], dtype=object)

    return FeatureSet(
        features=features, labels=np.asarray([UNLABELLED if r.get("class_index") is None else r["class_index"]
                                              for r in rows], dtype=np.int64),
        ids=col("id"), splits=col("split"), logits=logits, wnids=col("wnid"), label_names=col("label"),
        styles=col("style"), sources=col("source"), filepaths=col("filepath"), attrs=attrs)


def read_rows(path: Path) -> list[dict]:
    """The rows of a JSON Lines file (a rejected list), or [] where there is none."""
    return [row for _, row in iter_jsonl(path)] if path.is_file() else []


def gather(rows: list[dict], old: FeatureSet, new: FeatureSet | None) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """(the rows either file holds, their features, their logits), the reused file first."""
    have, fresh = image_rows(old), image_rows(new) if new is not None else {}
    keep = [r for r in rows if r["id"] in have or r["id"] in fresh]
    take = [(old, have[r["id"]]) if r["id"] in have else (new, fresh[r["id"]]) for r in keep]
    dim = old.features.shape[1]
    features = np.stack([fs.features[i] for fs, i in take]) if take else np.zeros((0, dim), np.float32)
    logits = np.stack([fs.logits[i] for fs, i in take]) if take else np.zeros((0, 1000), np.float32)
    return keep, features.astype(np.float32), logits.astype(np.float32)
