"""What a written-back name owns on a dataset, and how ``curation.writeback`` writes it.

A name N (``--name``) owns the sample fields :func:`owned_fields` (N itself, a ``fo.Classification``, and
N_rank, N_ce, N_class_top1/_class_top5/_class_ce), the evaluations :func:`eval_keys` (N_top1, N_top5), a
comparison field ``N_vs_O`` per ``--compare O`` and its saved views (``curation.failures``). FiftyOne's run
registry (``curation.runs``) records what it owns under the custom run ``writeback_N``, with the write-back's
summary and per-class figures::

    dataset.list_runs()                                            # [..., "writeback_svm_efficientnet_lite1"]
    dataset.get_run_info("writeback_svm_efficientnet_lite1").config.per_class["val"]["teapot"]

The run is recorded (``incomplete``) before any field is written: a write-back killed midway is redone by the
next, which would otherwise refuse fields it cannot tell from another tool's; another name's are never touched.
Writes are bulk: one update per sample for all its fields, ``WRITE_CHUNK`` samples at a time.
"""
from __future__ import annotations

import re

import numpy as np
from tqdm import tqdm

from evaluation.scores import expand_logits
from scraping.cli import UsageError

from .runs import record_run, run_config, runs_of
from .views import delete_views

METHOD = "writeback"  # the runs' method in FiftyOne's run registry
WRITE_CHUNK = 5000  # samples per bulk write: bounds the memory of the serialised updates
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


# ---------------------------------------------------------------- names


def validate_name(name: str, option: str = "--name") -> str:
    """A usable field prefix: a letter, then letters, digits and underscores (no dots, no '$', no leading '_');
    else a UsageError naming ``option``."""
    if not NAME_RE.match(name or ""):
        raise UsageError(f"{option} {name!r}: use a letter followed by letters, digits or '_' (it becomes field "
                         f"names)")
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


def run_key(name: str) -> str:
    """The name's custom run in FiftyOne's run registry."""
    return f"{METHOD}_{name}"


# ---------------------------------------------------------------- the run registry


def registry(dataset) -> dict[str, dict]:
    """{name: its record} for every written-back name: what it owns (``fields``, ``eval_keys``, ``view_names``),
    its summary and ``per_class`` figures, or ``incomplete`` for a write-back stopped midway."""
    return {config["name"]: config for config in runs_of(dataset, METHOD).values() if config.get("name")}


def record(dataset, summary: dict, **facts) -> None:
    """Record (or replace) the run of the write-back ``summary`` describes, with more ``facts``; the dataset is
    reloaded first, to keep what others wrote meanwhile. The summary's ``method`` (the results' method) is
    stored as ``results_method``: a run's ``method`` is FiftyOne's, here always ``writeback``."""
    facts = {**summary, **facts}
    facts["results_method"] = facts.pop("method", None)
    dataset.reload()
    record_run(dataset, run_key(facts["name"]), method=METHOD, **facts)


def check_owned(dataset, name: str, fields: list[str]) -> None:
    """Refuse to overwrite a field or eval run that another name (or another tool) wrote."""
    owners = registry(dataset)
    mine = set(owners.get(name, {}).get("fields", [])) | set(owners.get(name, {}).get("eval_keys", []))
    schema = dataset.get_field_schema()
    for field in [*fields, *eval_keys(name)]:
        if field in schema and field not in mine:
            owner = next((n for n, r in owners.items() if field in r.get("fields", []) + r.get("eval_keys", [])),
                         None)
            by = f"written back under --name {owner}" if owner else "not written by curation.writeback"
            raise ValueError(f"dataset {dataset.name!r}: field {field!r} already exists ({by}); choose another --name")
    for key in eval_keys(name):
        if dataset.has_evaluation(key) and key not in mine:
            raise ValueError(f"dataset {dataset.name!r}: evaluation {key!r} already exists and is not {name}'s; "
                             "choose another --name")


def claim(dataset, name: str, fields) -> None:
    """Record that ``name`` owns these fields (and what it owned before) before any is written, marked
    ``incomplete`` until the write-back's summary replaces the record."""
    dataset.reload()
    old = run_config(dataset, run_key(name)) or {}
    record_run(dataset, run_key(name), method=METHOD, name=name, incomplete=True,
               fields=sorted(set(old.get("fields", [])) | set(fields)),
               eval_keys=sorted(set(old.get("eval_keys", [])) | set(eval_keys(name))))


# ---------------------------------------------------------------- fields


def field_specs(fo, name: str, compare: str | None = None) -> dict[str, tuple]:
    """The fields a run writes, with their types (declared before the bulk writes)."""
    specs = {name: (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification}),
             f"{name}_rank": (fo.IntField, {})}
    specs.update((f, (fo.FloatField, {})) for f in owned_fields(name)[2:])
    if compare:
        specs[compare_field(name, compare)] = (fo.IntField, {})
    return specs


def _drop_views_and_evaluations(dataset, name: str) -> set[str]:
    """Delete the name's saved views (one bulk delete) and evaluations; return the fields it owned."""
    delete_views(dataset, lambda view_name: owns_view(view_name, name))
    for key in eval_keys(name):
        if dataset.has_evaluation(key):
            dataset.delete_evaluation(key)  # its per-sample field goes with it
    return set((registry(dataset).get(name) or {}).get("fields", [])) | set(owned_fields(name))


def reset(dataset, name: str, specs: dict[str, tuple]) -> None:
    """Empty what an earlier run under ``name`` wrote, and declare the fields this run writes.

    Saved views go in one bulk delete and fields are cleared rather than deleted and re-added:
    ``delete_saved_view`` and every schema change reload the dataset document with all its saved
    views (earlier versions saved one per class), seconds per call.
    """
    old = _drop_views_and_evaluations(dataset, name)
    schema = dataset.get_field_schema()
    stale = sorted(f for f in old - set(specs) if f in schema)  # e.g. a comparison this run does not make
    if stale:
        dataset.delete_sample_fields(stale)
    kept = [f for f in specs if f in schema]
    if kept:
        dataset.clear_sample_fields(kept)
    for field, (ftype, kwargs) in specs.items():
        if field not in schema:
            dataset.add_sample_field(field, ftype, **kwargs)


def delete_name(dataset, name: str) -> list[str]:
    """Remove everything a written-back name owns (fields, evaluations, saved views) and its run; return the
    fields deleted. A name that was never written back is an error naming the ones there are."""
    names = registry(dataset)
    if name not in names:
        raise ValueError(f"dataset {dataset.name!r} has no written-back results named {name!r} "
                         f"(has {', '.join(sorted(names)) or 'none'})")
    schema = dataset.get_field_schema()
    fields = sorted(f for f in _drop_views_and_evaluations(dataset, name) if f in schema)
    if fields:
        dataset.delete_sample_fields(fields)
    dataset.reload()
    dataset.delete_run(run_key(name))
    return fields


def write_samples(dataset, ids: list[str], label_field: str, labels, values: dict[str, list]) -> None:
    """Set ``label_field`` (an iterable of labels, one per id) and ``values`` ({field: one value per id}).

    One ``$set`` per sample for all of a run's fields, in chunks through ``Dataset._bulk_write``
    (FiftyOne's own batched writer, which also refreshes samples held in memory), a private method kept for
    speed: the public ``set_values`` makes one update per sample and field, and each costs about as much as
    the whole ``$set``. ``benchmarks/load_bench.py`` wrote a label and three numbers on 20,000 samples in
    2.4 s this way and in 5.7 s (2.4x) with ``set_values``; a write-back sets a label and five or six numbers.
    A label is a FiftyOne label (serialised by its ``to_mongo``) or the document that ``to_mongo`` would
    give (:func:`classification_docs`); the fields were declared beforehand. A test holds the result equal
    to what ``set_values`` writes.
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


class VectorBytes:
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
    """The stored ``fo.Classification`` of each sample of ``evaluation.scores.sample_results``, as the document
    its ``to_mongo`` gives: label, confidence and the K-long compact logits (compressed .npy bytes)."""
    from bson import Binary, ObjectId

    serialise = VectorBytes(k)
    for p, conf, cols, vals, filler in zip(res["pred"].tolist(), res["confidence"].tolist(), res["columns"],
                                           res["values"], res["filler"].tolist()):
        yield {"_id": ObjectId(), "_cls": "Classification", "tags": [], "label": labels[p], "confidence": conf,
               "logits": Binary(serialise(expand_logits(cols, vals, filler, k)))}
