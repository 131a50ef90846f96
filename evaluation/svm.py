"""python -m evaluation.svm: fc7-style features + SVM, the thesis's Tables 5.1/5.2 (Zaragoza 2016), with scikit-learn.

    python -m evaluation.svm --features out/feats/drawn_alexnet_fc7.h5 --out results/drawn
    python -m evaluation.svm --features feats.h5 --out results/ --protocol thesis --multiclass ovo
    python -m evaluation.svm --features other.h5 --out results/other --model results/drawn/svm.joblib
    python -m evaluation.svm --features lite0.h5 lite2.h5 --out results/lite0+lite2
    python -m evaluation.svm --features feats.h5 --out results/drawn --holdout-style all

Trains on the rows of split "train" (parameters chosen by grid search), evaluates on "val"
(and reports "train" too). Classes are the ILSVRC indices present in train; val rows of any
other class cannot be predicted and are only counted (``_info.val_rows_unseen_class``).

Protocols: ``cv`` (default) is stratified k-fold on train; ``thesis`` holds out 20% of train
(stratified, seeded) to choose the parameters, then refits on all of train, as the thesis did.

The default grid (rbf and linear, C in 0.1/1/10, gamma "scale" = 1/D on standardised
features) is 6 candidates x 5 folds. One-vs-rest SVC costs about rows^2 x dims x classes:
one fit on 3200 rows x 1280 dims x 50 classes took ~195 s (rbf) and ~60 s (linear) on one
core, so 4000 train rows take ~70 min with --jobs 1 and ~35 min with --jobs 2 on two cores;
2400 rows about a third of that. The thesis's wider search is

    --kernel rbf,linear,sigmoid,poly --C 0.1,1,10,100 --gamma scale,0.0001,0.001,0.01 --degree 2,3

(over 50 candidates: budget ~10x the default, or use --protocol thesis, one fit per candidate
instead of five; --multiclass ovo fitted the same 3200 rows in 8 s instead of ~190 s).

Many rows (``--solver``, default ``auto``): the exact SVC's cost grows with train rows^1.4-1.7 x
classes (one-vs-rest on 8,000 rows x 1280 dims x 1000 classes: 92 CPU-min per rbf fit, 34 per
linear fit, and the default grid is 31 fits; at 24,000 rows 10 h per rbf fit), so above
``--exact-rows`` train rows (default 5,000) the run switches to ``approx`` and says so (a
printed line, ``meta["solver"]`` and each method's ``_info["solver"]``/``["solver_note"]``):
the SVM becomes a one-vs-rest least-squares SVM (:class:`LeastSquaresSVM`: ridge regression on
+1/-1 class targets, all classes in one solve) on the standardised features ("linear") or on a
``--components``-landmark Nystroem map (rbf, poly, sigmoid), the same grid of kernels, C and
gamma chosen by the same cross-validation from one pass of statistics per kernel, and the
logistic regression's C is chosen on a stratified sample of ``--exact-rows`` rows, then
refitted on every train row. Cost and memory grow linearly with the rows (100,000 rows x 1280
dims x 1000 classes: 5 CPU-min, 7.5 min on two busy cores, 2.4 GB peak); ``--solver exact``
forces the thesis's SVC.

Writes into OUT: metrics.json and predictions.h5 (methods "svm" and "logistic", see
evaluation.results), svm.joblib / logistic.joblib (the refitted pipeline and its classes;
``--model`` re-applies one to another features file) and svm_cv.csv / logistic_cv.csv
(the grid-search table). metrics.json's ``meta`` records the features file(s), backbone,
layer, subset, ``fine_tuned`` (the file has a fine-tuned head's ``head_classes``), ``tta``
and, where the file has it, ``normalize``.

Several ``--features`` files of the same images (e.g. two backbones) are joined row by row on
(image id, label) and their features concatenated (:func:`evaluation.features.join_features`);
backbone and layer read "a+b". ``--model`` applies a saved model to the joined features too.

``--holdout-style S`` (a style, a comma-separated list, or ``all``) measures cross-style
generalisation instead of the run above: for each held-out style, both methods are fitted on
the train rows of every other style (same grid search) and tested on every row of that style,
train and val alike. Only OUT/holdout.json is written, after each style, so a rerun with the
same features and grid skips the styles already done:

    {"meta": {...metrics.json's meta..., "config": {the grid and protocol}},
     "styles": {S: {"svm": {"top1", "top5", "n", "best_params"}, "logistic": {...},
                    "train_rows": N, "rows": N, "rows_unseen_class": N}}}

``n`` counts the style's rows of classes the models were trained on; the others are counted
in ``rows_unseen_class``. ``all`` takes every style with ``--holdout-min-rows`` rows or more
and at least 2 classes.

Unlabelled rows (label -1: files whose names matched no class) are left out of every run,
training and scoring alike; the count is logged and kept in meta as ``unlabelled_rows_ignored``.
``python -m evaluation.suggest`` proposes classes for them.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from scraping.cli import UsageError, add_common_arguments, at_least, fail, setup_logging, usage
from scraping.files import atomic_write_text

from .classify.config import APPROX_COMPONENTS, EXACT_MAX_ROWS, GAMMA_NAMES, KERNELS, SOLVERS, SVMConfig
from .classify.holdout import HOLDOUT_FILE, HOLDOUT_MIN_ROWS, run_holdout
from .classify.inputs import check_compatible, features_meta, labelled_inputs, paths_label
from .classify.lssvm import LeastSquaresSVM  # noqa: F401  (approximate models saved before issue 26 name it here)
from .classify.models import short_params
from .classify.persist import load_model, save_model
from .classify.scoring import SPLIT_ORDER, class_names, evaluate_model
from .classify.search import cv_table, method_search, methods_of, solver_note, svm_solver
from .classify.stats import KernelMap  # noqa: F401  (the same, for their kernel maps)
from .features import FeatureSet
from .metrics import percent
from .options import jobs, new_folder, positive_floats, random_seed
from .results import write_method

logger = logging.getLogger(__name__)
PROG = "evaluation.svm"


# ---------------------------------------------------------------- commands


def fit_method(method: str, fs: FeatureSet, train: FeatureSet, features_path: Path | list, out: Path,
               cfg: SVMConfig) -> dict:
    """Grid-search one method on train, evaluate it on every split, write its results; return a summary."""
    start = time.time()
    search = method_search(method, train.features, train.labels, cfg)
    elapsed = time.time() - start
    model = search.best_estimator_
    classes = np.asarray(model.classes_, dtype=np.int64)
    names = class_names(fs, classes)
    metrics, predictions, unseen = evaluate_model(model, fs, classes, names)
    best = short_params(search.best_params_)
    backbone, layer = fs.attrs.get("backbone"), fs.attrs.get("layer")
    meta = features_meta(fs, features_path)
    note = solver_note(method, search.solver_, len(train), cfg, search.cv_rows_)
    meta["solver"] = search.solver_
    metrics["_info"] = {
        "best_params": best,
        "cv_best_score": float(search.best_score_),
        "protocol": cfg.protocol,
        "cv_splits": int(search.n_splits_),
        "multiclass": ("multinomial" if method != "svm" else "ovr-least-squares" if search.solver_ == "approx"
                       else cfg.multiclass),
        "candidates": len(search.cv_results_["params"]),
        "fit_seconds": round(elapsed, 1),
        "solver": search.solver_, "solver_note": note, "cv_rows": int(search.cv_rows_),
        **_common_info(classes, meta["features"], backbone, layer, unseen),
    }
    write_method(out, method, metrics, predictions, meta)
    save_model(out / f"{method}.joblib", {
        "model": model, "classes": classes, "names": names, "best_params": best,
        "cv_best_score": float(search.best_score_), "protocol": cfg.protocol,
        "backbone": backbone, "layer": layer, "feature_dim": int(train.features.shape[1]),
        "features": meta["features"], "method": method,
    })
    atomic_write_text(out / f"{method}_cv.csv", cv_table(search))
    return {"method": method, "best_params": best, "cv_best_score": float(search.best_score_),
            "val": metrics.get("val", {}).get("global"), "fit_seconds": elapsed, "solver": search.solver_,
            "solver_note": note}


def _common_info(classes: np.ndarray, features: str | list, backbone, layer, unseen: dict) -> dict:
    """The ``_info`` entries a trained and a re-applied model share."""
    return {"classes": classes.tolist(), "features": features, "backbone": backbone, "layer": layer,
            "val_rows_unseen_class": unseen.get("val", 0), "rows_unseen_class": unseen}


def train_and_evaluate(features_path: Path | list[Path], out: Path, cfg: SVMConfig) -> list[dict]:
    """The whole command without a saved model: SVM (and logistic) on train, metrics on every split.

    ``features_path`` is one features file or a list of them (joined by image id).
    """
    fs = labelled_inputs(features_path)
    label = paths_label(features_path)
    present = set(fs.splits.tolist())
    for split in SPLIT_ORDER:
        if split not in present:
            raise ValueError(f"{label}: no rows with split {split!r} (splits: {', '.join(sorted(present))})")
    train = fs.split("train")
    classes = np.unique(train.labels)
    val_labels = fs.labels[fs.splits == "val"]
    unseen = int((~np.isin(val_labels, classes)).sum())
    if unseen:
        missing = ", ".join(map(str, np.unique(val_labels[~np.isin(val_labels, classes)])))
        logger.warning("%d of %d val rows are of classes with no train rows (%s); they are left out of the metrics",
                       unseen, len(val_labels), missing)
    logger.info("%s: %d train rows, %d val rows, %d classes, %d dims", label, len(train), len(val_labels),
                len(classes), fs.features.shape[1])
    if svm_solver(cfg, len(train)) == "approx":
        logger.warning(solver_note("svm", "approx", len(train), cfg))
    try:
        return [fit_method(m, fs, train, features_path, out, cfg) for m in methods_of(cfg)]
    except ValueError as err:  # too few rows to cross-validate, and the like: say which file
        raise ValueError(f"{label}: {err}") from None


def apply_saved(model_path: Path, features_path: Path | list[Path], out: Path) -> list[dict]:
    """Re-apply a saved model to a features file (or several, joined); results go under the model file's stem.

    The model file is a pickle: load only ones you wrote.
    """
    bundle = load_model(model_path)
    fs = labelled_inputs(features_path)
    check_compatible(bundle, fs, model_path, paths_label(features_path))
    classes = np.asarray(bundle["classes"], dtype=np.int64)
    names = class_names(fs, classes, fallback=bundle.get("names"))
    metrics, predictions, unseen = evaluate_model(bundle["model"], fs, classes, names)
    if unseen.get("val"):
        logger.warning("%d val rows are of classes the model never saw; they are left out of the metrics",
                       unseen["val"])
    backbone, layer = fs.attrs.get("backbone"), fs.attrs.get("layer")
    meta = features_meta(fs, features_path)
    metrics["_info"] = {
        "model": str(model_path),
        "trained_on": bundle.get("features"),
        "best_params": bundle.get("best_params"),
        "cv_best_score": bundle.get("cv_best_score"),
        "protocol": bundle.get("protocol"),
        **_common_info(classes, meta["features"], backbone, layer, unseen),
    }
    method = model_path.stem
    write_method(out, method, metrics, predictions, meta)
    return [{"method": method, "best_params": bundle.get("best_params"), "cv_best_score": bundle.get("cv_best_score"),
             "val": metrics.get("val", {}).get("global"), "fit_seconds": None}]


# ---------------------------------------------------------------- printing


def format_holdout(summary: dict, out: Path) -> str:
    lines = []
    for style, r in summary["styles"].items():
        cells = [f"{m} top-1 {percent(r[m]['top1'])} top-5 {percent(r[m]['top5'])} (n={r[m]['n']})"
                 for m in ("svm", "logistic") if m in r]
        lines.append(f"{style:16} " + "  ".join(cells) + f"  trained on {r['train_rows']} rows")
    lines += [f"skipped {note}" for note in summary["skipped"]]
    lines.append(f"  results in {out / HOLDOUT_FILE}")
    return "\n".join(lines)


def format_summary(summary: list[dict], out: Path) -> str:
    lines = []
    for s in summary:
        params = ", ".join(f"{k}={v}" for k, v in (s["best_params"] or {}).items())
        val = s["val"] or {}
        cv = "n/a" if s["cv_best_score"] is None else f"{100 * s['cv_best_score']:.1f}%"
        lines.append(f"{s['method']:9} val top-1 {percent(val.get('top1'))}  top-5 {percent(val.get('top5'))}  "
                     f"(n={val.get('n', 0)})  CV {cv}  best: {params}")
        if s.get("solver") == "approx":
            lines.append(f"  {s['solver_note']}")
    lines.append(f"  results in {out}")
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI


def _gammas(text: str) -> tuple[str | float, ...]:
    out: list[str | float] = []
    for x in (x.strip() for x in text.split(",")):
        if not x:
            continue
        if x in GAMMA_NAMES:
            out.append(x)
        else:
            out.extend(positive_floats(x, "--gamma"))
    if not out:
        raise UsageError("--gamma: give at least one value ('scale', 'auto' or a positive number)")
    return tuple(out)


def config_from_args(args: argparse.Namespace) -> SVMConfig:
    """The grid, protocol and solver; a UsageError (exit 2) for a value that cannot work, before anything runs."""
    kernels = tuple(k.strip() for k in args.kernel.split(",") if k.strip())
    bad = [k for k in kernels if k not in KERNELS]
    if not kernels or bad:
        raise UsageError(f"--kernel: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(KERNELS)}")
    try:
        degree = tuple(int(d) for d in args.degree.split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--degree: expected comma-separated integers, got {args.degree!r}") from None
    if not degree or any(d < 1 for d in degree):
        raise UsageError(f"--degree: expected integers >= 1, got {args.degree!r}")
    for flag, value, low in (("--folds", args.folds, 2), ("--exact-rows", args.exact_rows, 2),
                             ("--components", args.components, 1), ("--holdout-min-rows", args.holdout_min_rows, 1)):
        at_least(value, low, flag)
    if args.holdout_style is not None:
        if args.model is not None:
            raise UsageError("--holdout-style fits its own models; it cannot be used with --model")
        if not any(x.strip() for x in args.holdout_style.split(",")):
            raise UsageError(f"--holdout-style: give a style, a comma-separated list or 'all', "
                             f"got {args.holdout_style!r}")
    new_folder(args.out)
    return SVMConfig(
        protocol=args.protocol, folds=args.folds, kernels=kernels, C=positive_floats(args.C, "--C"),
        gamma=_gammas(args.gamma), degree=degree, multiclass=args.multiclass, seed=random_seed(args.seed),
        jobs=jobs(args.jobs), logistic=not args.no_logistic, solver=args.solver,
        logistic_C=positive_floats(args.logistic_C, "--logistic-C"), exact_max_rows=args.exact_rows,
        components=args.components,
    )


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Features + SVM (and a logistic-regression baseline) on a features file.",
                                add_help=add_help)
    p.add_argument("--features", type=Path, action="extend", nargs="+", required=True, metavar="FEATURES",
                   help="HDF5 features file(s) written by evaluation.extract; several (--features A B) join the "
                        "backbones' features of the same images")
    p.add_argument("--out", type=Path, required=True, help="results folder (metrics.json, predictions.h5, models)")
    p.add_argument("--model", type=Path, default=None,
                   help="apply this saved model (e.g. OUT/svm.joblib) instead of training; results under its file stem")
    g = p.add_argument_group("parameter search")
    g.add_argument("--protocol", choices=("cv", "thesis"), default="cv",
                   help="cv: stratified k-fold on train (default); thesis: 20%% of train held out, then refit on all")
    g.add_argument("--folds", type=int, default=5, help="k for --protocol cv (default 5; fewer if a class is smaller)")
    g.add_argument("--kernel", default="rbf,linear",
                   help=f"the grid's kernels, comma-separated, from {','.join(KERNELS)} (default %(default)s)")
    g.add_argument("--C", dest="C", default="0.1,1,10", help="SVM C values, comma-separated (default %(default)s)")
    g.add_argument("--gamma", default="scale",
                   help="rbf/sigmoid/poly gamma values: numbers, 'scale' or 'auto' (default %(default)s)")
    g.add_argument("--degree", default="3", help="poly degrees, comma-separated (default %(default)s)")
    g.add_argument("--multiclass", choices=("ovr", "ovo"), default="ovr",
                   help="ovr: one SVC per class, the thesis's one-vs-rest (default); ovo: libsvm's pairwise SVC")
    g.add_argument("--logistic-C", default="0.01,0.1,1", help="logistic-regression C values (default %(default)s)")
    g.add_argument("--no-logistic", action="store_true", help="skip the logistic-regression baseline")
    g.add_argument("--seed", type=int, default=0, help="fold / hold-out seed (default 0)")
    g.add_argument("--jobs", type=int, default=-1, help="parallel fits in the grid search (default -1: all cores)")
    s = p.add_argument_group("many rows")
    s.add_argument("--solver", choices=SOLVERS, default="auto",
                   help="exact: SVC (cost grows with train rows^2 x classes); approx: a one-vs-rest least-squares "
                        "SVM, kernels through a Nystroem map, and the logistic regression's C chosen on a stratified "
                        "sample of --exact-rows rows (cost linear in the rows); auto (default): exact up to "
                        "--exact-rows train rows")
    s.add_argument("--exact-rows", type=int, default=EXACT_MAX_ROWS,
                   help="--solver auto: the most train rows fitted exactly (default %(default)s)")
    s.add_argument("--components", type=int, default=APPROX_COMPONENTS,
                   help="Nystroem landmarks of the approximate rbf/poly/sigmoid kernels (default %(default)s)")
    h = p.add_argument_group("cross-style hold-out")
    h.add_argument("--holdout-style", default=None, metavar="S",
                   help="instead of the normal run, fit without style S and test on all of S's rows; S is a style, "
                        "a comma-separated list or 'all'; writes only OUT/holdout.json (resumable)")
    h.add_argument("--holdout-min-rows", type=int, default=HOLDOUT_MIN_ROWS,
                   help="with --holdout-style all, skip styles with fewer rows (default %(default)s)")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    features = args.features[0] if len(args.features) == 1 else args.features
    try:
        cfg = config_from_args(args)
    except UsageError as err:
        return usage(PROG, err)
    try:
        if args.holdout_style is not None:
            held = run_holdout(features, args.out, cfg, args.holdout_style, args.holdout_min_rows)
            print(format_holdout(held, args.out))
            return 0
        if args.model is not None:
            summary = apply_saved(args.model, features, args.out)
        else:
            summary = train_and_evaluate(features, args.out, cfg)
    except (ValueError, OSError) as err:  # an unreadable, unsuitable or mismatched file, a style it does not have
        return fail(PROG, err)
    print(format_summary(summary, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
