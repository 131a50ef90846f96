"""python -m curation.writeback: one method's results back onto the FiftyOne dataset, evaluated, with views.

    python -m curation.writeback --results results/ --method baseline --name baseline_effl0   # workspace's dataset
    python -m curation.writeback --results results/ --method svm --compare baseline_effl0
    python -m curation.writeback --run runs/003-vgg19-optimal      # a training.finetune run, trained elsewhere
    python -m curation.writeback --delete svm_efficientnet_lite0   # a name and all it owns

Reads a results folder (evaluation.baseline / evaluation.svm: metrics.json + predictions.h5)
and writes, under ``--name`` N (default ``<method>_<backbone>``), on every sample with a
prediction row:

    N                fo.Classification(label, confidence, logits); logits follow the method's classes, compact
                     (below)
    N_rank           rank of the sample's current class (0 = top-1), None where the method cannot predict it
    N_ce             cross-entropy of the current class; None for methods without one (SVM decision values)
    N_class_top1/_class_top5/_class_ce   the figures of the sample's class in its split (see per-class below)
    N_top1, N_top5   FiftyOne's evaluation fields (eval keys of the same names), on the evaluated split
    N_vs_O           with ``--compare O``: O's rank minus N's (> 0: N ranks the true class higher)

Rows are per manifest row: an image in two classes has two rows; the one whose label is the
sample's current ``class_index`` is used, else the first. Rank and cross-entropy always refer to
the current ``ground_truth.label``: where curation moved a sample to another class, they are
recomputed from the row's scores (for the baseline from its float16 probabilities).

Confidence is the softmax of the logits at the predicted class: the probability itself for the
baseline (its logits are stored as log-probabilities, floored at float16's smallest subnormal)
and for logistic regression (log-probabilities), a softmax over decision values for the SVM (a
ranking score, not calibrated). FiftyOne's top-k evaluation computes the same softmax.

The stored logits are compact: a sample's 5 best classes and its current class keep their logits,
every other class gets the log-mean-exp of theirs. The softmax of each kept class is unchanged and
so are the top-5 classes, which is all that FiftyOne's top-k evaluation and the App use (the App
shows no logits; the Model Evaluation panel reads the evaluation runs), and they compress to ~120
bytes a sample instead of 4 KB at 1000 classes (~400 MB per name at 100,000 samples). A method's
full scores stay in its predictions.h5.

Evaluations (``evaluate_classifications``: simple under ``N_top1``, top-k with k=5 under
``N_top5``) run on the samples of ``--split`` (default val: the held-out split; ``all`` for every
split) whose current label is among the method's classes; other labels cannot be predicted and
are counted, not evaluated. The summary prints FiftyOne's top-1/top-5 for the evaluated split(s),
and for the other splits the same figures from the written ranks (the predicted class is the
current one; the current class ranks below 5), without reading every sample back.

Per-class figures are recomputed from the written rank and cross-entropy, grouped by the current
ground-truth label (not read from metrics.json, whose classes are the manifest's), into the
name's run (below): ``dataset.get_run_info("writeback_N").config.per_class[split][label] = {n, top1, top5,
cross_entropy}`` (splits and "all"). Saved views, a fixed few per name whatever the number of classes: "N: failures",
the top-1 failures of the evaluated split, worst first (cross-entropy descending, then rank;
rank alone for the SVM), and with ``--compare O`` "N vs O: improved" / "N vs O: worsened", by
the size of the rank change. One class's failures are the Model Evaluation panel's (click the
class, or a cell of its confusion-matrix row) or the failures view filtered by ``ground_truth``
in the sidebar; earlier versions' per-class views ("<label> failures (N)") are removed.

``--method suggest`` writes ``evaluation.suggest``'s folder (``--results DIR``: suggestions.jsonl
and suggest.json) onto the unlabelled samples as a ``suggestion`` Classification, for the
saved view "suggestions to review" (``curation.suggestions``); suggestions a curator refused
are never written again.

``--run RUN_DIR`` writes back a ``training.finetune`` run (``evaluation.runs``): its own head
and the SVM on its features, onto the dataset it was trained from, each compared with the name
that had the best val top-1 before.

Each run first empties what an earlier run under the same name wrote (fields, eval runs, views,
comparisons), never another name's; the custom run ``writeback_N`` in FiftyOne's run registry records what
it owns, its summary and its per-class figures (``curation.writeback_fields``; ``dataset.list_runs()``), and
``--delete N`` removes them all.
Writes are bulk: one update per sample for all its fields, the saved views in one insert. The
(N, K) scores are read and scored ``SCORE_CHUNK`` rows at a time and written ``WRITE_CHUNK``
samples at a time, so memory stays flat as N grows: 0.53, 0.57 and 0.70 GB peak at 10,000,
30,000 and 100,000 samples x 1000 classes, where reading every logit took 0.58, 1.19 and 3.3 GB.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from datasets.vocabulary import Vocabulary, load_vocabulary
from evaluation.metrics import percent
from evaluation.results import PREDICTIONS
from evaluation.scores import (
    ALL,
    TOPK,
    choose_rows,
    class_metrics,
    load_method,
    pick_method,
    rank_gain,
    sample_results,
    score_blocks,
)

from scraping.cli import UsageError, add_common_arguments, setup_logging

from .database import add_dataset_arguments, dataset_and_uri, exit_code, fiftyone_module
from .failures import evaluate, failure_views
from .views import save_views
from .writeback_fields import (
    check_owned,
    claim,
    classification_docs,
    compare_field,
    default_name,
    delete_name,
    eval_keys,
    field_specs,
    owned_fields,
    record,
    registry,
    reset,
    run_key,
    validate_name,
    write_samples,
)

logger = logging.getLogger(__name__)
PROG = "curation.writeback"


@dataclass
class WritebackConfig:
    dataset: str  # FiftyOne dataset name
    results: Path  # folder with metrics.json and predictions.h5
    method: str | None = None  # method in the results; None: the only one there
    name: str | None = None  # field / eval-key prefix; None: <method>_<backbone>
    split: str = "val"  # samples evaluated and shown in views: a split name or "all"
    compare: str | None = None  # an already written-back name to compare ranks with
    database_uri: str | None = None


def _method_labels(cfg: WritebackConfig, vocab: Vocabulary | None) -> tuple[str, dict, dict, str, list[str]]:
    """(method, predictions, info, name, the label of each score column), checked before the dataset is opened."""
    path = Path(cfg.results) / PREDICTIONS
    method = pick_method(cfg.results, cfg.method)
    pred, info = load_method(cfg.results, method)
    name = validate_name(cfg.name or default_name(method, info.get("backbone")))
    if cfg.compare is not None:
        validate_name(cfg.compare, "--compare")
        if cfg.compare == name:
            raise ValueError(f"--compare {cfg.compare}: cannot compare {name} with itself")
    vocab = vocab or load_vocabulary()
    classes = np.asarray(pred["classes"], dtype=np.int64)
    if len(classes) and (classes.min() < 0 or classes.max() >= len(vocab)):
        raise ValueError(f"{path}: method {method!r} has classes outside 0..{len(vocab) - 1}")
    return method, pred, info, name, [vocab.label(vocab[int(c)]) for c in classes]


def _open_dataset(fo, cfg: WritebackConfig, name: str):
    """The dataset, once this name may write to it and ``--compare`` names written-back results."""
    if not fo.dataset_exists(cfg.dataset):
        raise ValueError(f"no FiftyOne dataset {cfg.dataset!r} (load one with python -m curation.load)")
    dataset = fo.load_dataset(cfg.dataset)
    names = registry(dataset)
    gain_field = compare_field(name, cfg.compare) if cfg.compare else None
    check_owned(dataset, name, owned_fields(name) + ([gain_field] if gain_field else []))
    if cfg.compare and (cfg.compare not in names or f"{cfg.compare}_rank" not in dataset.get_field_schema()):
        raise ValueError(f"--compare {cfg.compare}: dataset {cfg.dataset!r} has no written-back results of that name "
                         f"(has {', '.join(sorted(names)) or 'none'})")
    return dataset


def _score_samples(dataset, cfg: WritebackConfig, method: str, pred: dict, labels: list[str]) -> dict:
    """Read the dataset once and score its samples: everything after this is numpy until the bulk writes."""
    path = Path(cfg.results) / PREDICTIONS
    sample_ids, image_ids, class_index, gt, split = dataset.values(
        ["id", "image_id", "class_index", "ground_truth.label", "split"])
    rows = choose_rows(pred["ids"], pred["labels"], image_ids, class_index)
    have = np.flatnonzero(rows >= 0)
    if not len(have):
        raise ValueError(f"{path}: none of the {len(set(pred['ids'].tolist()))} image ids "
                         f"of method {method!r} is in dataset {cfg.dataset!r}")
    gts = [gt[j] for j in have]
    splits = np.array([split[j] for j in have], dtype=object)
    res = sample_results(pred, rows[have], gts, labels, lambda: score_blocks(path, method, rows[have]))
    ok = res["target"] >= 0
    if not (ok & ((splits == cfg.split) | (cfg.split == ALL))).any():
        raise ValueError(f"{path}: no sample of split {cfg.split!r} with a prediction of a "
                         f"class the method knows (splits: {', '.join(sorted(set(splits.tolist())))}); try --split all")
    res.update(all_ids=sample_ids, ids=[sample_ids[j] for j in have], gts=gts, splits=splits, ok=ok,
               ids_not_in_dataset=len(set(pred["ids"].tolist()) - set(image_ids)))
    return res


def _sample_values(dataset, name: str, compare: str | None, res: dict, per_class: dict) -> dict[str, list]:
    """The per-sample fields besides the Classification, one list per field (``write_samples`` writes them)."""
    rank = [int(r) if r >= 0 else None for r in res["rank"].tolist()]
    splits, gts, ok = res["splits"], res["gts"], res["ok"]
    values = {
        f"{name}_rank": rank,
        f"{name}_ce": [float(c) if np.isfinite(c) else None for c in res["ce"].tolist()],
        **{field: [per_class[s][g][key] if known else None for s, g, known in zip(splits, gts, ok)]
           for key, field in (("top1", f"{name}_class_top1"), (f"top{TOPK}", f"{name}_class_top5"),
                              ("cross_entropy", f"{name}_class_ce"))},
    }
    if compare:
        other_rank = dict(zip(res["all_ids"], dataset.values(f"{compare}_rank")))
        values[compare_field(name, compare)] = rank_gain(rank, [other_rank[i] for i in res["ids"]])
    return values


def write_back(cfg: WritebackConfig, vocab: Vocabulary | None = None) -> dict:
    """The whole command: validate everything, then clear this name's old results and write the new ones."""
    start = time.perf_counter()
    method, pred, info, name, labels = _method_labels(cfg, vocab)
    fo = fiftyone_module(cfg.database_uri)
    dataset = _open_dataset(fo, cfg, name)
    res = _score_samples(dataset, cfg, method, pred, labels)
    ok = res["ok"]
    per_class = class_metrics(np.array(res["gts"], dtype=object)[ok], res["splits"][ok], res["rank"][ok],
                              res["ce"][ok])
    values = _sample_values(dataset, name, cfg.compare, res, per_class)

    # Everything is checked: from here on the dataset changes.
    specs = field_specs(fo, name, cfg.compare)
    claim(dataset, name, specs)
    reset(dataset, name, specs)
    write_samples(dataset, res["ids"], name, classification_docs(labels, res, len(labels)), values)
    n_evaluated, accuracy = evaluate(fo, dataset, name, cfg.split, labels, res)
    views, compared, n_failures = failure_views(fo, dataset, name, cfg.compare, bool(np.isfinite(res["ce"]).any()))
    saved = save_views(dataset, views)

    summary = {
        "name": name, "method": method, "dataset": cfg.dataset, "results": str(cfg.results), "split": cfg.split,
        "backbone": info.get("backbone"), "layer": info.get("layer"), "classes": len(labels),
        "written": len(res["ids"]), "without_prediction": len(res["all_ids"]) - len(res["ids"]),
        "ids_not_in_dataset": res["ids_not_in_dataset"], "unpredictable": int((~ok).sum()),
        "recomputed_for_new_class": res["moved"], "evaluated": n_evaluated,
        "accuracy": {s: {"top1": a, f"top{TOPK}": b} for s, (a, b) in accuracy.items()},
        "views": len(saved), "views_skipped": len(views) - len(saved), "compare": compared,
        "eval_keys": list(eval_keys(name)), "fields": list(specs), "failures": n_failures,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    record(dataset, summary, view_names=saved, per_class=per_class)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary


# ---------------------------------------------------------------- CLI


def format_summary(s: dict) -> str:
    lines = [(f"{s['name']} ({s['method']}, {s['classes']} classes) -> dataset {s['dataset']}: "
              f"{s['written']} samples written, {s['without_prediction']} without a prediction row, "
              f"{s['ids_not_in_dataset']} prediction ids not in the dataset")]
    if s["unpredictable"]:
        lines.append(f"  {s['unpredictable']} samples have a label outside the method's classes: not evaluated")
    for split, a in s["accuracy"].items():
        stored = " (eval keys " + ", ".join(s["eval_keys"]) + ")" if s["split"] in (ALL, split) else ""
        lines.append(f"  {split:5s} top-1 {percent(a['top1'])}  top-{TOPK} {percent(a[f'top{TOPK}'])}{stored}")
    if s["compare"]:
        c = s["compare"]
        lines.append(f"  vs {c['other']}: {c['improved']} improved, {c['worsened']} worsened of {c['samples']} "
                     f"(field {c['field']})")
    if s["views_skipped"]:
        lines.append(f"  {s['views_skipped']} views not saved: their URL names are taken by other views")
    lines.append(f"  {s['views']} saved views; per-class figures in run {run_key(s['name'])} "
                 f"(dataset.get_run_info('{run_key(s['name'])}').config.per_class) ({s['seconds']} s)")
    return "\n".join(lines)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write a method's predictions, evaluations and failure views to FiftyOne.",
                                add_help=add_help)
    p.add_argument("--run", type=Path, default=None, metavar="RUN_DIR",
                   help="a training.finetune run: write back its head and its SVM, compared with the best name "
                   "before (what the run does itself where FiftyOne is installed); its dataset unless --dataset")
    add_dataset_arguments(p)
    p.add_argument("--results", type=Path, default=None, help="results folder (metrics.json, predictions.h5)")
    p.add_argument("--method", default=None,
                   help="method in the results (default: the only one); 'suggest' for an evaluation.suggest folder")
    p.add_argument("--name", default=None,
                   help="field / eval-key prefix (default <method>_<backbone>); letters, digits, '_'")
    p.add_argument("--split", default="val",
                   help="split evaluated under the eval keys and shown in views, or 'all' (default %(default)s)")
    p.add_argument("--compare", default=None, metavar="OTHER_NAME",
                   help="an already written-back name: add the rank change per sample and improved/worsened views")
    p.add_argument("--delete", default=None, metavar="NAME",
                   help="remove a written-back name from the dataset: its fields, evaluations, saved views and run")
    add_common_arguments(p)
    return p


def check_usage(args: argparse.Namespace) -> None:
    """One of --results, --run and --delete, with only the options it takes, and names that can be field
    names: a UsageError (exit 2) otherwise, before anything is read or written."""
    modes = [flag for flag, value in (("--results", args.results), ("--run", args.run), ("--delete", args.delete))
             if value is not None]
    if not modes:
        raise UsageError("give --results RESULTS_DIR (with --method), --run RUN_DIR or --delete NAME")
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} do different things: give one of them")
    ignored = [flag for flag, value in (("--method", args.method), ("--name", args.name), ("--compare", args.compare),
                                        ("--split", None if args.split == "val" else args.split)) if value is not None]
    if ignored and modes[0] != "--results":
        raise UsageError(f"{modes[0]} takes no {', '.join(ignored)} (they go with --results)")
    if args.method == "suggest" and (args.name or args.compare):
        raise UsageError("--method suggest writes the field 'suggestion': it takes no --name or --compare")
    for option in ("name", "compare", "delete"):
        if getattr(args, option) is not None:
            validate_name(getattr(args, option), f"--{option}")
    if args.name is not None and args.name == args.compare:
        raise UsageError(f"--compare {args.compare}: cannot compare {args.name} with itself")
    if not args.split:
        raise UsageError("--split: give a split name, or 'all'")


def app_hint(dataset: str) -> str:
    from .database import app_url

    return f"see it in the App: drawnet app  ({app_url('127.0.0.1', 5151, dataset)})"


# ---------------------------------------------------------------- a training.finetune run


def best_before(registry: dict, exclude: set[str], schema: set[str]) -> str | None:
    """The written-back name with the highest val top-1 (then top-5), among those still on the dataset."""
    def score(name):
        val = (registry[name].get("accuracy") or {}).get("val") or {}
        return (val.get("top1") if val.get("top1") is not None else -1.0,
                val.get("top5") if val.get("top5") is not None else -1.0)

    candidates = [n for n in registry if n not in exclude and f"{n}_rank" in schema and score(n)[0] >= 0]
    return max(candidates, key=score, default=None)


def write_back_run(run: Path, *, dataset: str | None = None, database_uri: str | None = None) -> list[dict]:
    """Write the run's two methods back onto its dataset; return the write-back summaries."""
    from evaluation.runs import METHODS, method_names, read_state, save_state
    from training.plan import read_source

    run = Path(run)
    state = read_state(run)
    missing = [s for s in ("extract", "head", "svm") if s not in state]
    if missing:
        raise ValueError(f"{run}: not evaluated yet ({', '.join(missing)} missing): run "
                         f"python -m training.finetune --resume {run}")
    source = read_source(run)
    dataset = dataset or source.get("dataset")
    if not dataset:
        raise ValueError(f"{run}: trained on a manifest of its own, not on a workspace's dataset: give --dataset NAME")
    uri = database_uri or source.get("database_uri")
    fo = fiftyone_module(uri)
    if not fo.dataset_exists(dataset):
        raise ValueError(f"no FiftyOne dataset {dataset!r} here (the run was trained on it): load it with "
                         "python -m curation.load, or give --dataset NAME")
    names = method_names(run)
    ds = fo.load_dataset(dataset)
    other = best_before(registry(ds), set(names.values()), set(ds.get_field_schema()))
    summaries = []
    for method in METHODS:
        summaries.append(write_back(WritebackConfig(dataset=dataset, results=run / "results", method=method,
                                                    name=names[method], compare=other, database_uri=uri)))
    state = read_state(run)
    state["writeback"] = {"dataset": dataset, "compared_with": other, "names": names,
                          "val": {s["name"]: s["accuracy"].get("val") for s in summaries}}
    save_state(run, state)
    return summaries


def write_back_suggestions(dataset_name: str, folder: Path, database_uri: str | None = None) -> int:
    """--method suggest: evaluation.suggest's folder onto the dataset's unlabelled samples (curation.suggestions)."""
    from .suggestions import format_summary as format_suggestions
    from .suggestions import write_suggestions

    fo = fiftyone_module(database_uri)
    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset named {dataset_name!r} (load it with python -m curation.load)")
    summary = write_suggestions(fo.load_dataset(dataset_name), folder)
    print(format_suggestions(summary))
    print(app_hint(dataset_name))
    return 0


def delete_written_back(dataset_name: str, name: str, database_uri: str | None = None) -> int:
    """--delete NAME: the name's fields, evaluations, saved views and run leave the dataset."""
    fo = fiftyone_module(database_uri)
    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset named {dataset_name!r} (load it with python -m curation.load)")
    fields = delete_name(fo.load_dataset(dataset_name), name)
    print(f"{name}: deleted from dataset {dataset_name} ({len(fields)} fields, its evaluations, saved views and "
          f"run {run_key(name)})")
    return 0


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        check_usage(args)
        if args.run is not None:
            summaries = write_back_run(args.run, dataset=args.dataset, database_uri=args.database_uri)
        else:
            dataset, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
            if args.delete is not None:
                return delete_written_back(dataset, args.delete, uri)
            if args.method == "suggest":
                return write_back_suggestions(dataset, args.results, uri)
            cfg = WritebackConfig(dataset=dataset, results=args.results, method=args.method, name=args.name,
                                  split=args.split, compare=args.compare, database_uri=uri)
            summaries = [write_back(cfg)]
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code(PROG, err)
    for summary in summaries:
        print(format_summary(summary))
    print(app_hint(summaries[-1]["dataset"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
