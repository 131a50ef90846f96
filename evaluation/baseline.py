"""python -m evaluation.baseline: the pretrained network as it is, on drawings (the thesis's "base architecture").

    python -m evaluation.baseline --features feats.h5 --out results/

ImageNet-1000-way softmax over the features file's logits: top-1, top-5 and the mean
cross-entropy of the true class, globally, per class, per style and per source, for
each split and for all rows. Per-sample predictions go to results/predictions.h5.
Unlabelled rows (label -1, no class) are left out and counted (meta ``unlabelled_rows_ignored``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from scraping.cli import UsageError, add_common_arguments, fail, setup_logging, usage

from .features import ROW_CHUNK, FeatureSet, ignored_unlabelled, labelled_rows, read_features
from .metrics import format_global, from_ranks, log_softmax, topk, true_rank
from .options import new_folder
from .results import write_method

logger = logging.getLogger(__name__)
PROG = "evaluation.baseline"
METHOD = "baseline"


def groups_of(fs: FeatureSet) -> dict[str, np.ndarray | None]:
    return {"per_class": fs.wnids if fs.wnids is not None else fs.labels.astype(str),
            "per_style": fs.styles, "per_source": fs.sources}


def scored_rows(logits: np.ndarray, labels: np.ndarray, chunk: int = ROW_CHUNK):
    """(cross-entropy, true-class rank, top-5, float16 probabilities) of every row, ``chunk`` rows at a time:
    the float64 softmax and the sort indices of one chunk are in memory at once, not of all rows."""
    n = len(labels)
    ce, rank = np.empty(n, dtype=np.float64), np.empty(n, dtype=np.int64)
    top5, probs = np.empty((n, min(5, logits.shape[1])), dtype=np.int64), np.empty(logits.shape, dtype=np.float16)
    for start in range(0, n, chunk):
        part, y = logits[start:start + chunk], labels[start:start + chunk]
        logp = log_softmax(part)
        ce[start:start + len(y)] = -logp[np.arange(len(y)), y]
        rank[start:start + len(y)] = true_rank(part, y)
        top5[start:start + len(y)] = topk(part, 5)
        probs[start:start + len(y)] = np.exp(logp, out=logp)
    return ce, rank, top5, probs


def baseline(fs: FeatureSet) -> tuple[dict, dict[str, np.ndarray]]:
    """(metrics by split, per-sample predictions) from the 1000-way logits."""
    if fs.logits is None or fs.logits.shape[1] != 1000:
        raise ValueError(f"{fs.attrs.get('backbone', 'this backbone')} has no 1000-way ImageNet head in this file")
    ce, rank, top5, probs = scored_rows(fs.logits, fs.labels)
    metrics = {}
    groups = groups_of(fs)
    for split in ("train", "val", "all"):
        mask = np.ones(len(fs), dtype=bool) if split == "all" else fs.splits == split
        if mask.any():
            metrics[split] = from_ranks(rank[mask], cross_entropies=ce[mask],
                                        groups={k: None if v is None else v[mask] for k, v in groups.items()})
    predictions = {
        "ids": fs.ids, "splits": fs.splits, "labels": fs.labels, "pred": top5[:, 0], "top5": top5, "scores": probs,
        "true_rank": rank, "cross_entropy": ce.astype(np.float32), "classes": np.arange(1000),
    }
    return metrics, predictions


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Top-1/top-5/cross-entropy of the pretrained ImageNet head.",
                                add_help=add_help)
    p.add_argument("--features", type=Path, required=True, help="features file from evaluation.extract")
    p.add_argument("--out", type=Path, required=True, help="results folder (shared with evaluation.svm)")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        new_folder(args.out)
    except UsageError as err:
        return usage(PROG, err)
    try:
        fs, unlabelled = labelled_rows(read_features(args.features, features=False))
        if unlabelled:
            logger.info(ignored_unlabelled(unlabelled))
        if not len(fs):
            raise ValueError("no labelled rows (every row is unlabelled)")
        metrics, predictions = baseline(fs)
    except (ValueError, OSError) as err:
        return fail(PROG, f"{args.features}: {err}" if str(args.features) not in str(err) else err)
    meta = {"features": str(args.features), "backbone": fs.attrs.get("backbone"), "layer": fs.attrs.get("layer"),
            "subset": fs.subset_name}
    if unlabelled:
        meta["unlabelled_rows_ignored"] = unlabelled
    write_method(args.out, METHOD, metrics, predictions, meta)
    for split, m in metrics.items():
        g = m["global"]
        print(format_global("baseline", split, g))
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'predictions.h5'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
