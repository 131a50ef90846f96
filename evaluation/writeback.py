"""python -m evaluation.writeback: one method's results back onto the FiftyOne dataset, evaluated, with views.

    python -m evaluation.writeback --dataset drawnet --results results/ --method baseline --name baseline_effl0
    python -m evaluation.writeback --dataset drawnet --results results/ --method svm --compare baseline_effl0
    python -m evaluation.writeback --run runs/003-vgg19-optimal      # a training.finetune run, trained elsewhere

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
ground-truth label (not read from metrics.json, whose classes are the manifest's), into
``dataset.info["per_class_metrics"][N][split][label] = {n, top1, top5, cross_entropy}`` (splits
and "all"). Saved views, a fixed few per name whatever the number of classes: "N: failures",
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
comparisons), never another name's; ``dataset.info["writeback"][N]`` records what it owns.
Writes are bulk: one update per sample for all its fields, the saved views in one insert. The
(N, K) scores are read and scored ``SCORE_CHUNK`` rows at a time and written ``WRITE_CHUNK``
samples at a time, so memory stays flat as N grows: 0.53, 0.57 and 0.70 GB peak at 10,000,
30,000 and 100,000 samples x 1000 classes, where reading every logit took 0.58, 1.19 and 3.3 GB.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from curation.database import fiftyone_module
from curation.state import class_label
from curation.views import delete_views, save_views
from datasets.vocabulary import Vocabulary, load_vocabulary

from .features import row_blocks
from .metrics import log_softmax, percent
from .results import METRICS, PREDICTIONS, read_metrics

logger = logging.getLogger(__name__)

TOPK = 5
WRITE_CHUNK = 5000  # samples per bulk write: bounds the memory of the serialised updates
SCORE_CHUNK = 4096  # prediction rows read and scored at a time: bounds the memory of the (N, K) scores
KEEP_LOGITS = TOPK + 1  # logits a stored Classification keeps exactly: the top-5 and the current class
ALL = "all"
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
REGISTRY = "writeback"  # dataset.info key: what each name owns
PER_CLASS = "per_class_metrics"
PRED_KEYS = ("ids", "splits", "labels", "pred", "scores", "true_rank", "cross_entropy", "classes")


@dataclass
class WritebackConfig:
    dataset: str  # FiftyOne dataset name
    results: Path  # folder with metrics.json and predictions.h5
    method: str | None = None  # method in the results; None: the only one there
    name: str | None = None  # field / eval-key prefix; None: <method>_<backbone>
    split: str = "val"  # samples evaluated and shown in views: a split name or "all"
    compare: str | None = None  # an already written-back name to compare ranks with
    database_uri: str | None = None


# ---------------------------------------------------------------- names


def validate_name(name: str) -> str:
    """A usable field prefix: a letter, then letters, digits and underscores (no dots, no '$', no leading '_')."""
    if not NAME_RE.match(name or ""):
        raise ValueError(f"--name {name!r}: use a letter followed by letters, digits or '_' (it becomes field names)")
    return name


def default_name(method: str, backbone: str | None) -> str:
    """``<method>_<backbone>`` made field-safe: ``svm`` on ``efficientnet-lite0`` -> ``svm_efficientnet_lite0``."""
    parts = [p for p in (method, backbone) if p]
    name = "_".join(re.sub(r"[^0-9A-Za-z]+", "_", str(p)).strip("_").lower() for p in parts)
    return name if NAME_RE.match(name) else f"m_{name}"


def owned_fields(name: str) -> list[str]:
    """The sample fields a run under ``name`` writes (eval fields and comparisons aside)."""
    return [name, f"{name}_rank", f"{name}_ce", f"{name}_class_top1", f"{name}_class_top5", f"{name}_class_ce"]


def eval_keys(name: str) -> tuple[str, str]:
    return f"{name}_top1", f"{name}_top5"


def compare_field(name: str, other: str) -> str:
    return f"{name}_vs_{other}"


def failure_view_name(name: str) -> str:
    return f"{name}: failures"


def compare_view_names(name: str, other: str) -> tuple[str, str]:
    return f"{name} vs {other}: improved", f"{name} vs {other}: worsened"


def owns_view(view_name: str, name: str) -> bool:
    """Names have no spaces, colons or parentheses, so these patterns cannot match another name's views.
    The last pattern is the per-class views of earlier versions, removed when their name is written again."""
    return (view_name.startswith((f"{name}: ", f"{name} vs ")) or view_name.endswith(f" failures ({name})"))


# ---------------------------------------------------------------- results folder


def available_methods(results: Path) -> list[str]:
    """Methods that have predictions in ``results``; a missing or unreadable file is an error naming it."""
    import h5py

    path = Path(results) / PREDICTIONS
    if not path.is_file():
        raise ValueError(f"{path}: no such predictions file (run evaluation.baseline or evaluation.svm first)")
    try:
        with h5py.File(path, "r") as f:
            return sorted(f)
    except OSError as err:
        raise ValueError(f"{path}: not a readable predictions file ({err})") from None


def pick_method(results: Path, method: str | None) -> str:
    methods = available_methods(results)
    path = Path(results) / PREDICTIONS
    if method is None:
        if len(methods) != 1:
            raise ValueError(f"{path}: {len(methods)} methods ({', '.join(methods) or 'none'}); pick one with --method")
        return methods[0]
    if method not in methods:
        raise ValueError(f"{path}: no method {method!r}; has {', '.join(methods) or 'none'}")
    return method


def load_method(results: Path, method: str) -> tuple[dict[str, np.ndarray], dict]:
    """(predictions, info): the method's per-row arrays, checked for shape, and its backbone/layer from metrics.json.

    The (N, K) scores stay in the file (``pred["scores_shape"]`` is their shape): :func:`score_blocks`
    reads them a block at a time, so that memory does not grow with N x K.
    """
    import h5py

    path = Path(results) / PREDICTIONS
    pred: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        if method not in f:
            raise ValueError(f"{path}: no predictions for method {method!r}; has {', '.join(f)}")
        group = f[method]
        missing = [k for k in PRED_KEYS if k not in group]
        if missing:
            raise ValueError(f"{path}: method {method!r} lacks {', '.join(missing)}")
        for key in PRED_KEYS:
            if key != "scores":
                value = group[key][...]
                pred[key] = (np.asarray([v.decode() if isinstance(v, bytes) else v for v in value], dtype=object)
                             if value.dtype == object else value)
        pred["scores_shape"] = tuple(group["scores"].shape)
    n, k = len(pred["ids"]), len(pred["classes"])
    if pred["scores_shape"] != (n, k):
        raise ValueError(f"{path}: method {method!r} has scores {pred['scores_shape']}, expected ({n}, {k})")
    if not np.isin(pred["pred"], pred["classes"]).all():
        raise ValueError(f"{path}: method {method!r} predicts classes that are not among its 'classes'")
    data = read_metrics(results)
    method_info = data["methods"].get(method, {}).get("_info", {})
    meta = data.get("meta", {})
    info = {key: method_info.get(key) or meta.get(key) for key in ("backbone", "layer", "features")}
    info["metrics"] = str(Path(results) / METRICS)
    return pred, info


def score_blocks(path: Path, method: str, rows: np.ndarray, chunk: int | None = None):
    """Yield ``(positions, scores)``: the positions in ``rows`` whose prediction row lies in the next block of at
    most ``chunk`` (default ``SCORE_CHUNK``) consecutive rows of the file, and those rows' scores (float32,
    (len(positions), K)); :func:`evaluation.features.row_blocks`, so the memory is one block whatever the rows.
    """
    import h5py

    with h5py.File(path, "r") as f:
        for positions, scores in row_blocks(f[method]["scores"], rows, chunk or SCORE_CHUNK):
            yield positions, np.asarray(scores, dtype=np.float32)


# ---------------------------------------------------------------- pure core


def is_probabilities(scores: np.ndarray) -> bool:
    """Rows that are probabilities: non-negative, summing to one (the baseline's float16 softmax)."""
    scores = np.asarray(scores, dtype=np.float32)
    return bool(len(scores) and scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-2))


def method_logits(scores: np.ndarray, probabilities: bool | None = None) -> tuple[np.ndarray, bool]:
    """(logits, were_probabilities): probabilities become log-probabilities, other scores stay as they are.

    The baseline stores softmax probabilities as float16 (rows non-negative, summing to 1); their
    log is a valid logit vector, with zeros floored at float16's smallest subnormal. SVM decision
    values and logistic log-probabilities are used as they are. ``probabilities`` decides for a block
    of rows what :func:`is_probabilities` said of all of them (None: decide from these rows).
    """
    scores = np.asarray(scores, dtype=np.float32)
    if probabilities is None:
        probabilities = is_probabilities(scores)
    if probabilities:
        floor = np.float32(np.finfo(np.float16).smallest_subnormal)
        return np.log(np.maximum(scores, floor)), True
    return scores, False


def softmax_at(logits: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """softmax(logits)[i, columns[i]] per row, stably."""
    return np.exp(log_softmax(logits)[np.arange(len(logits)), columns])


def choose_rows(pred_ids: np.ndarray, pred_labels: np.ndarray, sample_ids: list, sample_classes: list) -> np.ndarray:
    """Per sample, its prediction row: the one whose label is the sample's class index, else its first; -1 if none."""
    rows_of: dict[str, list[int]] = {}
    for i, key in enumerate(pred_ids.tolist()):
        rows_of.setdefault(key, []).append(i)
    out = np.full(len(sample_ids), -1, dtype=np.int64)
    for j, (key, cls) in enumerate(zip(sample_ids, sample_classes)):
        rows = rows_of.get(key)
        if rows:
            out[j] = next((r for r in rows if pred_labels[r] == cls), rows[0])
    return out


def compact_logits(logits: np.ndarray, target: np.ndarray, keep: int = KEEP_LOGITS):
    """What the stored Classification keeps of each row of ``logits`` (M, K): ``(columns, values, filler)``.

    ``columns`` (M, keep) are the row's ``keep - 1`` best columns and the current class's ``target``
    (the next best where the target is among them, or is -1), ``values`` their logits (float32), and
    ``filler`` (M,) the log-mean-exp of every other logit. A vector with the kept values in place and
    the filler elsewhere (:func:`expand_logits`) has the same softmax at every kept column and the
    same top-(keep - 1) classes, so FiftyOne's top-k evaluation (k = TOPK) gives what the full logits
    give, for ~120 bytes a sample instead of 4 bytes per class. With K <= keep every logit is kept.
    """
    logits = np.asarray(logits, dtype=np.float32)
    m, k = logits.shape
    if k <= keep:
        return np.tile(np.arange(k), (m, 1)), logits.copy(), np.zeros(m, dtype=np.float32)
    part = np.argpartition(-logits, keep - 1, axis=1)[:, :keep]
    vals = np.take_along_axis(logits, part, axis=1)
    missing = (target >= 0) & ~(part == np.asarray(target)[:, None]).any(axis=1)
    if missing.any():  # the current class is not among the best: it takes the place of the worst of them
        worst = vals[missing].argmin(axis=1)
        part[np.flatnonzero(missing), worst] = target[missing]
        vals = np.take_along_axis(logits, part, axis=1)
    rest = logits.astype(np.float64)
    np.put_along_axis(rest, part, -np.inf, axis=1)
    top = rest.max(axis=1, keepdims=True)
    filler = top[:, 0] + np.log(np.exp(rest - top).sum(axis=1)) - np.log(k - keep)
    return part, vals, filler.astype(np.float32)


def expand_logits(columns: np.ndarray, values: np.ndarray, filler: float, k: int) -> np.ndarray:
    """One row of :func:`compact_logits` as a K-long float32 logit vector."""
    out = np.full(k, filler, dtype=np.float32)
    out[columns] = values
    return out


def class_columns(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The score column of each ILSVRC index in ``values`` (-1 where the method has no such class)."""
    classes, values = np.asarray(classes, dtype=np.int64), np.asarray(values, dtype=np.int64)
    if not len(classes):
        return np.full(len(values), -1, dtype=np.int64)
    sorter = np.argsort(classes)
    at = np.clip(np.searchsorted(classes, values, sorter=sorter), 0, len(classes) - 1)
    col = sorter[at]
    return np.where(classes[col] == values, col, -1).astype(np.int64)


def block_results(scores: np.ndarray, pred: dict, rows: np.ndarray, target: np.ndarray, *, probabilities: bool,
                  has_ce: bool) -> dict:
    """:func:`sample_results` for one block: ``scores`` (M, K) of prediction ``rows`` (M,), current ``target``s."""
    logits, _ = method_logits(scores, probabilities)
    row_col = class_columns(pred["classes"], pred["labels"][rows])
    pred_col = class_columns(pred["classes"], pred["pred"][rows])
    rank = np.where(target >= 0, pred["true_rank"][rows], -1).astype(np.int64)
    ce = np.where(target >= 0, pred["cross_entropy"][rows], np.nan).astype(np.float64)
    moved = (target >= 0) & (row_col != target)  # curated into another class: score the current one
    if moved.any():
        m = np.flatnonzero(moved)
        true = logits[m, target[m]]
        rank[m] = (logits[m] > true[:, None]).sum(axis=1)
        ce[m] = -log_softmax(logits[m])[np.arange(len(m)), target[m]] if has_ce else np.nan
    columns, values, filler = compact_logits(logits, target)
    return {"pred": pred_col, "confidence": softmax_at(logits, pred_col), "rank": rank, "ce": ce,
            "columns": columns, "values": values, "filler": filler, "moved": moved}


def sample_results(pred: dict[str, np.ndarray], rows: np.ndarray, gt_labels: list, class_labels: list[str],
                   blocks) -> dict:
    """Prediction, confidence, rank and cross-entropy of the current label, for the samples with a row.

    ``rows`` (M,) are prediction rows, ``gt_labels`` (M,) the samples' current ground-truth labels,
    ``class_labels`` (K,) the label of each score column, and ``blocks`` a callable that yields
    ``(positions, scores)`` over ``rows`` (:func:`score_blocks`; called twice: first to tell
    probabilities from other scores). Returns arrays of length M: ``pred`` (column), ``confidence``,
    ``target`` (column of the current label, -1 if the method has no such class), ``rank`` (-1 where
    target is -1), ``ce`` (NaN where undefined), the compact logits (``columns``, ``values``,
    ``filler``: :func:`compact_logits`), and ``moved``, the number recomputed for a new class.
    """
    column = {label: i for i, label in enumerate(class_labels)}
    target = np.array([column.get(label, -1) for label in gt_labels], dtype=np.int64)
    has_ce = bool(np.isfinite(pred["cross_entropy"]).any())
    probabilities = len(rows) > 0 and all(is_probabilities(scores) for _, scores in blocks())
    m, keep = len(rows), min(KEEP_LOGITS, len(class_labels))
    out = {"pred": np.zeros(m, np.int64), "confidence": np.zeros(m), "rank": np.zeros(m, np.int64),
           "ce": np.zeros(m), "columns": np.zeros((m, keep), np.int64), "values": np.zeros((m, keep), np.float32),
           "filler": np.zeros(m, np.float32), "moved": np.zeros(m, bool)}
    for pos, scores in blocks():
        part = block_results(scores, pred, rows[pos], target[pos], probabilities=probabilities, has_ce=has_ce)
        for key, value in part.items():
            out[key][pos] = value
    out["target"], out["moved"] = target, int(out["moved"].sum())
    return out


def class_metrics(labels: np.ndarray, splits: np.ndarray, rank: np.ndarray, ce: np.ndarray, *,
                  k: int = TOPK) -> dict[str, dict[str, dict]]:
    """{split or "all": {label: {"n", "top1", "top5", "cross_entropy"}}} over the given samples.

    ``cross_entropy`` is the mean over the samples that have one, None where none has.
    """
    labels, splits = np.asarray(labels).astype(str), np.asarray(splits).astype(str)
    rank, ce = np.asarray(rank), np.asarray(ce, dtype=np.float64)
    out: dict[str, dict[str, dict]] = {}
    for split in [*sorted(set(splits.tolist())), ALL]:
        sel = slice(None) if split == ALL else splits == split
        keys, group = np.unique(labels[sel], return_inverse=True)
        n = np.bincount(group, minlength=len(keys))
        top1 = np.bincount(group, weights=rank[sel] < 1, minlength=len(keys)) / n
        topk = np.bincount(group, weights=rank[sel] < k, minlength=len(keys)) / n
        finite = np.isfinite(ce[sel])
        ce_n = np.bincount(group, weights=finite, minlength=len(keys))
        ce_sum = np.bincount(group, weights=np.where(finite, ce[sel], 0.0), minlength=len(keys))
        out[split] = {str(key): {"n": int(n[i]), "top1": float(top1[i]), f"top{k}": float(topk[i]),
                                 "cross_entropy": float(ce_sum[i] / ce_n[i]) if ce_n[i] else None}
                      for i, key in enumerate(keys)}
    return out


def rank_gain(this_rank: list, other_rank: list) -> list:
    """other - this per sample (> 0: this method ranks the true class higher); None unless both exist."""
    return [None if a is None or b is None else int(b) - int(a) for a, b in zip(this_rank, other_rank)]


# ---------------------------------------------------------------- FiftyOne


def _check_owned(dataset, name: str, fields: list[str]) -> None:
    """Refuse to overwrite a field or eval run that another name (or another tool) wrote."""
    registry = dataset.info.get(REGISTRY, {})
    mine = set(registry.get(name, {}).get("fields", [])) | set(registry.get(name, {}).get("eval_keys", []))
    schema = dataset.get_field_schema()
    for field in [*fields, *eval_keys(name)]:
        if field in schema and field not in mine:
            owner = next((n for n, r in registry.items() if field in r.get("fields", []) + r.get("eval_keys", [])),
                         None)
            by = f"written back under --name {owner}" if owner else "not written by evaluation.writeback"
            raise ValueError(f"dataset {dataset.name!r}: field {field!r} already exists ({by}); choose another --name")
    for key in eval_keys(name):
        if dataset.has_evaluation(key) and key not in mine:
            raise ValueError(f"dataset {dataset.name!r}: evaluation {key!r} already exists and is not {name}'s; "
                             "choose another --name")


def field_specs(fo, name: str, compare: str | None = None) -> dict[str, tuple]:
    """The fields a run writes, with their types (declared before the bulk writes)."""
    specs = {name: (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification}),
             f"{name}_rank": (fo.IntField, {})}
    specs.update((f, (fo.FloatField, {})) for f in owned_fields(name)[2:])
    if compare:
        specs[compare_field(name, compare)] = (fo.IntField, {})
    return specs


def _claim(dataset, name: str, specs: dict[str, tuple]) -> None:
    """Record that ``name`` owns this run's fields before any is written: a run killed midway is then redone by
    the next, which would otherwise refuse fields it cannot tell from another tool's. The entry is marked
    ``incomplete`` until the run's summary replaces it."""
    dataset.reload()
    entry = dataset.info.setdefault(REGISTRY, {}).setdefault(name, {})
    entry["fields"] = sorted(set(entry.get("fields", [])) | set(specs))
    entry["eval_keys"] = sorted(set(entry.get("eval_keys", [])) | set(eval_keys(name)))
    entry["incomplete"] = True
    dataset.save()


def _reset(dataset, name: str, specs: dict[str, tuple]) -> None:
    """Empty what an earlier run under ``name`` wrote, and declare the fields this run writes.

    Saved views go in one bulk delete and fields are cleared rather than deleted and re-added:
    ``delete_saved_view`` and every schema change reload the dataset document with all its saved
    views (earlier versions saved one per class), seconds per call.
    """
    delete_views(dataset, lambda view_name: owns_view(view_name, name))
    for key in eval_keys(name):
        if dataset.has_evaluation(key):
            dataset.delete_evaluation(key)  # its per-sample field goes with it
    schema = dataset.get_field_schema()
    old = set(dataset.info.get(REGISTRY, {}).get(name, {}).get("fields", [])) | set(owned_fields(name))
    stale = sorted(f for f in old - set(specs) if f in schema)  # e.g. a comparison this run does not make
    if stale:
        dataset.delete_sample_fields(stale)
    kept = [f for f in specs if f in schema]
    if kept:
        dataset.clear_sample_fields(kept)
    for field, (ftype, kwargs) in specs.items():
        if field not in schema:
            dataset.add_sample_field(field, ftype, **kwargs)


def _write_samples(dataset, ids: list[str], label_field: str, labels, values: dict[str, list]) -> None:
    """Set ``label_field`` (an iterable of labels, one per id) and ``values`` ({field: one value per id}).

    One ``$set`` per sample for all of a run's fields, in chunks through ``Dataset._bulk_write``
    (FiftyOne's own batched writer, which also refreshes samples held in memory): ``set_values``
    makes one update per sample and field, and each costs about as much as the whole ``$set``
    (20,000 samples: ~8 s per scalar field). A label is a FiftyOne label (serialised by its
    ``to_mongo``) or the document that ``to_mongo`` would give (:func:`classification_docs`);
    the fields were declared beforehand. A test holds the result equal to what ``set_values`` writes.
    """
    from datetime import datetime, timezone

    from bson import ObjectId
    from pymongo import UpdateOne

    now = datetime.now(timezone.utc).replace(tzinfo=None)  # FiftyOne stores naive UTC
    labels = iter(labels)
    bar = tqdm(total=len(ids), desc=f"{label_field}: writing", unit=" samples", disable=None, leave=False)
    for lo in range(0, len(ids), WRITE_CHUNK):
        chunk = ids[lo:lo + WRITE_CHUNK]
        ops = []
        for j, sample_id in enumerate(chunk, start=lo):
            label = next(labels)
            update = {label_field: label if isinstance(label, dict) else label.to_mongo(), "last_modified_at": now}
            update.update((field, column[j]) for field, column in values.items())
            ops.append(UpdateOne({"_id": ObjectId(sample_id)}, {"$set": update}))
        dataset._bulk_write(ops, ids=chunk)
        bar.update(len(chunk))
    bar.close()


class _VectorBytes:
    """``fiftyone.core.utils.serialize_numpy_array`` for many vectors of one length and dtype: the .npy
    header is made once (``np.save`` formats it anew for every vector, ~0.1 ms); a test holds the bytes equal."""

    def __init__(self, k: int, dtype=np.float32):
        import io

        with io.BytesIO() as f:
            np.save(f, np.zeros(k, dtype=dtype), allow_pickle=False)
            raw = f.getvalue()
        self.header = raw[:len(raw) - k * np.dtype(dtype).itemsize]
        self.shape, self.dtype = (k,), np.dtype(dtype)

    def __call__(self, vector: np.ndarray) -> bytes:
        import zlib

        vector = np.ascontiguousarray(vector, dtype=self.dtype)
        if vector.shape != self.shape:
            raise ValueError(f"expected a vector of shape {self.shape}, got {vector.shape}")
        return zlib.compress(self.header + vector.tobytes())


def classification_docs(labels: list[str], res: dict, k: int):
    """The stored ``fo.Classification`` of each sample of :func:`sample_results`, as the document its ``to_mongo``
    gives: label, confidence and the K-long logits of :func:`compact_logits` (compressed .npy bytes)."""
    from bson import Binary, ObjectId

    serialise = _VectorBytes(k)
    for p, conf, cols, vals, filler in zip(res["pred"].tolist(), res["confidence"].tolist(), res["columns"],
                                           res["values"], res["filler"].tolist()):
        yield {"_id": ObjectId(), "_cls": "Classification", "tags": [], "label": labels[p], "confidence": conf,
               "logits": Binary(serialise(expand_logits(cols, vals, filler, k)))}


def _share_true(view, field: str) -> float | None:
    """Share of samples whose boolean ``field`` is true (MongoDB's $avg skips booleans)."""
    counts = view.count_values(field)
    n = counts.get(True, 0) + counts.get(False, 0)
    return counts.get(True, 0) / n if n else None


def split_accuracy(res: dict, mask: np.ndarray) -> tuple[float | None, float | None]:
    """Top-1 and top-k accuracy of the samples in ``mask`` whose label the method knows, from
    :func:`sample_results`: the predicted class is the current one, the current class ranks below k.
    For a split outside ``--split``: what an unstored FiftyOne evaluation gives (up to ties of scores),
    without reading every sample's logits back."""
    sel = mask & (res["target"] >= 0)
    if not sel.any():
        return None, None
    return float((res["pred"][sel] == res["target"][sel]).mean()), float((res["rank"][sel] < TOPK).mean())


def _method_labels(cfg: WritebackConfig, vocab: Vocabulary | None) -> tuple[str, dict, dict, str, list[str]]:
    """(method, predictions, info, name, the label of each score column), checked before the dataset is opened."""
    path = Path(cfg.results) / PREDICTIONS
    method = pick_method(cfg.results, cfg.method)
    pred, info = load_method(cfg.results, method)
    name = validate_name(cfg.name or default_name(method, info.get("backbone")))
    if cfg.compare is not None:
        validate_name(cfg.compare)
        if cfg.compare == name:
            raise ValueError(f"--compare {cfg.compare}: cannot compare {name} with itself")
    vocab = vocab or load_vocabulary()
    classes = np.asarray(pred["classes"], dtype=np.int64)
    if len(classes) and (classes.min() < 0 or classes.max() >= len(vocab)):
        raise ValueError(f"{path}: method {method!r} has classes outside 0..{len(vocab) - 1}")
    return method, pred, info, name, [class_label(vocab, vocab[int(c)].wnid) for c in classes]


def _open_dataset(fo, cfg: WritebackConfig, name: str):
    """The dataset, once this name may write to it and ``--compare`` names written-back results."""
    if not fo.dataset_exists(cfg.dataset):
        raise ValueError(f"no FiftyOne dataset {cfg.dataset!r} (load one with python -m curation.load)")
    dataset = fo.load_dataset(cfg.dataset)
    registry = dataset.info.get(REGISTRY, {})
    gain_field = compare_field(name, cfg.compare) if cfg.compare else None
    _check_owned(dataset, name, owned_fields(name) + ([gain_field] if gain_field else []))
    if cfg.compare and (cfg.compare not in registry or f"{cfg.compare}_rank" not in dataset.get_field_schema()):
        raise ValueError(f"--compare {cfg.compare}: dataset {cfg.dataset!r} has no written-back results of that name "
                         f"(has {', '.join(sorted(registry)) or 'none'})")
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
    """The per-sample fields besides the Classification, one list per field (``_write_samples`` writes them)."""
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


def _evaluate(fo, dataset, name: str, split: str, labels: list[str], res: dict) -> tuple[int, dict]:
    """FiftyOne's evaluations on the chosen split, among the labels the method can predict; (samples evaluated,
    {split: (top-1, top-5)}): the stored runs' for the evaluated split(s), :func:`split_accuracy` for the others."""
    F = fo.ViewField
    predictable = dataset.exists(name).match(F("ground_truth.label").is_in(labels))
    evaluated = predictable if split == ALL else predictable.match(F("split") == split)
    key1, key5 = eval_keys(name)
    n = len(evaluated)
    logger.info("%s: evaluating %d samples of split %s", name, n, split)
    evaluated.evaluate_classifications(name, gt_field="ground_truth", eval_key=key1, classes=labels)
    evaluated.evaluate_classifications(name, gt_field="ground_truth", eval_key=key5, method="top-k", k=TOPK,
                                       classes=labels)
    accuracy = {}
    for s in sorted(set(res["splits"][res["ok"]].tolist())):
        if split in (ALL, s):
            part = predictable.match(F("split") == s)
            accuracy[s] = (_share_true(part, key1), _share_true(part, key5))  # the stored runs' per-sample results
        else:
            accuracy[s] = split_accuracy(res, res["splits"] == s)
    return n, accuracy


def _views(fo, dataset, name: str, compare: str | None, has_ce: bool) -> tuple[dict, dict | None, int]:
    """(saved views by name, the comparison's counts or None, the number of failures).

    The top-1 failures, worst first: one view whatever the number of classes. Saved views select
    by the eval field, which only evaluated samples have (short stages, no class list).
    """
    F = fo.ViewField
    key1 = eval_keys(name)[0]
    order = [(f"{name}_ce", -1), (f"{name}_rank", -1)] if has_ce else [(f"{name}_rank", -1)]
    failures = dataset.exists(key1).match(~F(key1))
    views = {failure_view_name(name): failures.sort_by(order, create_index=False)}
    compared = None
    if compare:
        gain_field = compare_field(name, compare)
        both = dataset.exists(key1).exists(gain_field)
        improved, worsened = compare_view_names(name, compare)
        views[improved] = both.match(F(gain_field) > 0).sort_by(gain_field, reverse=True, create_index=False)
        views[worsened] = both.match(F(gain_field) < 0).sort_by(gain_field, create_index=False)
        compared = {"other": compare, "field": gain_field, "improved": len(both.match(F(gain_field) > 0)),
                    "worsened": len(both.match(F(gain_field) < 0)), "samples": len(both)}
    return views, compared, len(failures)


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
    _claim(dataset, name, specs)
    _reset(dataset, name, specs)
    _write_samples(dataset, res["ids"], name, classification_docs(labels, res, len(labels)), values)
    n_evaluated, accuracy = _evaluate(fo, dataset, name, cfg.split, labels, res)
    views, compared, n_failures = _views(fo, dataset, name, cfg.compare, bool(np.isfinite(res["ce"]).any()))
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
    dataset.reload()  # keep info that another process (the curation) wrote meanwhile
    dataset.info.setdefault(PER_CLASS, {})[name] = per_class
    dataset.info.setdefault(REGISTRY, {})[name] = {**summary, "view_names": saved}
    dataset.save()
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
    lines.append(f"  {s['views']} saved views; per-class figures in dataset.info['{PER_CLASS}']['{s['name']}'] "
                 f"({s['seconds']} s)")
    return "\n".join(lines)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write a method's predictions, evaluations and failure views to FiftyOne.",
                                add_help=add_help)
    p.add_argument("--run", type=Path, default=None, metavar="RUN_DIR",
                   help="a training.finetune run: write back its head and its SVM, compared with the best name "
                   "before (what the run does itself where FiftyOne is installed)")
    p.add_argument("--dataset", default=None,
                   help="FiftyOne dataset (default: the run's, else the workspace's current one)")
    p.add_argument("--workspace", type=Path, default=None,
                   help="workspace folder (default: $DRAWNET_WORKSPACE, else the current folder)")
    p.add_argument("--results", type=Path, default=None, help="results folder (metrics.json, predictions.h5)")
    p.add_argument("--method", default=None,
                   help="method in the results (default: the only one); 'suggest' for an evaluation.suggest folder")
    p.add_argument("--name", default=None,
                   help="field / eval-key prefix (default <method>_<backbone>); letters, digits, '_'")
    p.add_argument("--split", default="val",
                   help="split evaluated under the eval keys and shown in views, or 'all' (default %(default)s)")
    p.add_argument("--compare", default=None, metavar="OTHER_NAME",
                   help="an already written-back name: add the rank change per sample and improved/worsened views")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: FiftyOne's own, or FIFTYONE_DATABASE_URI)")
    return p


def app_hint(dataset: str) -> str:
    from curation.database import app_url

    return f"see it in the App: python -m curation.app  ({app_url('127.0.0.1', 5151, dataset)})"


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
    from training.plan import read_source

    from .runs import METHODS, method_names, read_state, save_state

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
    other = best_before(ds.info.get("writeback", {}), set(names.values()), set(ds.get_field_schema()))
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
    from curation.suggestions import format_summary as format_suggestions
    from curation.suggestions import write_suggestions

    fo = fiftyone_module(database_uri)
    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset named {dataset_name!r} (load it with python -m curation.load)")
    summary = write_suggestions(fo.load_dataset(dataset_name), folder)
    print(format_suggestions(summary))
    print(app_hint(dataset_name))
    return 0


def main(args: argparse.Namespace) -> int:
    from datasets.workspace import WorkspaceError, open_workspace

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.run is not None:
            summaries = write_back_run(args.run, dataset=args.dataset, database_uri=args.database_uri)
        else:
            if args.results is None:
                raise ValueError("give --results RESULTS_DIR (with --method), or --run RUN_DIR")
            dataset = args.dataset or open_workspace(args.workspace, option_hint="--dataset NAME").dataset
            if args.method == "suggest":
                return write_back_suggestions(dataset, args.results, args.database_uri)
            cfg = WritebackConfig(dataset=dataset, results=args.results, method=args.method, name=args.name,
                                  split=args.split, compare=args.compare, database_uri=args.database_uri)
            summaries = [write_back(cfg)]
    except (ValueError, OSError, WorkspaceError) as err:
        print(f"evaluation.writeback: {err}", file=sys.stderr)
        return 2
    for summary in summaries:
        print(format_summary(summary))
    print(app_hint(summaries[-1]["dataset"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
