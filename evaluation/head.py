"""python -m evaluation.head: a fine-tuned network's own head as a method, beside the baseline and the SVM.

    python -m evaluation.head --features RUN/features-efficientnet-lite0-best.h5 --out RUN/results

``training.finetune`` trains a new head on the manifest's classes, and ``evaluation.extract
--weights best.pt`` writes its logits in place among the 1000 (the other classes at a floor);
the file's ``head_classes`` attribute lists the trained ones. This method is the softmax over
those classes only: top-1, top-5 and the cross-entropy of the true class, per split, class,
style and source, written as method ``head`` (``--method NAME`` for another) of the results
folder, like ``evaluation.svm``'s methods. Rows of classes the head was not trained on cannot
be predicted: they are counted and left out, as the SVM leaves out unseen classes.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np

from scraping.cli import UsageError, add_common_arguments, fail, setup_logging, usage

from .features import FeatureSet, ignored_unlabelled, labelled_rows, read_features
from .metrics import format_global, log_softmax
from .options import new_folder
from .results import write_method
from .classify.scoring import class_names, scored_results

logger = logging.getLogger(__name__)
PROG = "evaluation.head"
METHOD = "head"
METHOD_NAME = re.compile(r"[A-Za-z0-9.+-][A-Za-z0-9_.+-]*")
OTHERS = {"baseline": "evaluation.baseline", "svm": "evaluation.svm", "logistic": "evaluation.svm"}


def head_classes(fs: FeatureSet, path: Path | str = "features") -> np.ndarray:
    """The ILSVRC indices the file's fine-tuned head scores, in head order; an error if it has none."""
    raw = fs.attrs.get("head_classes")
    classes = json.loads(raw) if isinstance(raw, str) else list(raw if raw is not None else [])
    if not classes:
        raise ValueError(f"{path}: not extracted from a fine-tuned head (no head_classes; the pretrained "
                         "1000-way head is evaluation.baseline's)")
    if fs.logits is None or fs.logits.shape[1] != 1000:
        raise ValueError(f"{path}: no 1000-wide logits to read the head's classes from")
    return np.asarray(classes, dtype=np.int64)


def head_method(fs: FeatureSet, path: Path | str = "features") -> tuple[dict, dict, dict]:
    """(metrics by split, predictions, unseen rows per split) of the softmax over the head's classes."""
    trained = head_classes(fs, path)
    order = np.argsort(trained)
    classes = trained[order]  # ascending ILSVRC order, as the SVM's classes
    known = np.flatnonzero(np.isin(fs.labels, classes))
    logits = fs.logits[known][:, classes].astype(np.float64)
    logp = log_softmax(logits)
    metrics, predictions, unseen = scored_results(fs, known, logits, logp, classes, class_names(fs, classes))
    metrics["_info"] = {"classes": classes.tolist(), "features": str(path), "backbone": fs.attrs.get("backbone"),
                        "layer": "head", "weights": fs.attrs.get("weights"), "val_rows_unseen_class":
                        unseen.get("val", 0), "rows_unseen_class": unseen}
    return metrics, predictions, unseen


def run_head(features: Path, out: Path, method: str = METHOD) -> dict:
    """Score the head on a features file and add it to ``out``; return its val (or train) figures."""
    fs, unlabelled = labelled_rows(read_features(features))
    if unlabelled:
        logger.info(ignored_unlabelled(unlabelled))
    if not len(fs):
        raise ValueError(f"{features}: no labelled rows (every row is unlabelled)")
    metrics, predictions, unseen = head_method(fs, features)
    if unseen.get("val"):
        logger.warning("%d val rows are of classes the head was not trained on; they are left out", unseen["val"])
    meta = {"features": str(features), "backbone": fs.attrs.get("backbone"), "subset": fs.subset_name}
    write_method(out, method, metrics, predictions, meta)
    return {"method": method, **{s: metrics[s]["global"] for s in ("train", "val") if s in metrics}}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="A fine-tuned network's own head, scored like the other methods.",
                                add_help=add_help)
    p.add_argument("--features", type=Path, required=True, help="features extracted from a fine-tuned best.pt")
    p.add_argument("--out", type=Path, required=True, help="results folder (shared with evaluation.svm)")
    p.add_argument("--method", default=METHOD, help="method name in the results (default %(default)s)")
    return add_common_arguments(p)


def check_method(name: str) -> str:
    """``--method``: a name of its own (letters, digits, ``_.+-``), not another command's method."""
    if not METHOD_NAME.fullmatch(name):
        raise UsageError(f"--method {name!r}: use letters, digits and _ . + - only, not starting with _")
    if name in OTHERS:
        raise UsageError(f"--method {name} holds {OTHERS[name]}'s results: choose another name")
    return name


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        check_method(args.method)
        new_folder(args.out)
    except UsageError as err:
        return usage(PROG, err)
    try:
        summary = run_head(args.features, args.out, args.method)
    except (ValueError, OSError) as err:
        return fail(PROG, err)
    for split in ("train", "val"):
        g = summary.get(split)
        if g:
            print(format_global(summary["method"], split, g))
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'predictions.h5'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
