"""python -m curation.load: a manifest into a persistent FiftyOne dataset, one sample per image.

    python -m curation.load --manifest out/embedded/manifest.jsonl --dataset drawnet-demo
    python -m curation.load --manifest out/more/manifest.jsonl      # into the workspace's current dataset
    python -m curation.load --manifest M --dataset team-set --database-uri mongodb://db:27017
    python -m curation.load --manifest M --dataset drawnet-demo --workspace ~/work/drawings

Each sample has a ``ground_truth`` Classification, the ILSVRC ``wnid`` and
``class_index``, ``split`` (also as a tag), where it came from (``source``, ``style``,
``collection``, ``license``, ``original_name``), how the name matched (``matched_words``,
``lemma``, ``lang``, ``sense_rank``) and, for an image that matched several classes,
``ambiguous`` with every ``candidates`` wnid and label (and ``resolved_by`` where the
matcher chose one of several). A file whose name matched no class (``datasets.build
--keep-unmatched``) is a sample without ``ground_truth``, ``wnid`` or ``class_index``, in the
saved view "unlabelled"; ``evaluation.suggest`` proposes classes for it. A manifest verified by
``evaluation.verify`` also gives ``label_check`` (verdict, reason, score, mapping_score) and, for a
label it rejected, ``rejected_label`` and ``rejected_wnid`` on a sample left unlabelled: the saved
view "label check" lists them for a curator to confirm (``curation.actions.confirm_rejected``) or
leave. Such a sample also gets its mapping (``curation.mappings``): ``label_check.mapping`` (derived from
the row's lemma and class where an older manifest lacks it) and, as text, the field ``mapping``
("speaker → loudspeaker"), which the App filters and groups by. Samples are keyed by
``image_id``, the file's sha256: loading again adds only new images and never
touches a sample that is already there, so curation done in the App survives.
It also saves the curation views (``curation.views``) and records where the
curation log is kept (``curation.log``) and where decisions on whole mappings are kept as rules
(``dataset.info["mapping_rules"]``: the command gives the workspace's ``mappings.jsonl``). The command then
makes the dataset the workspace's current one (``datasets.workspace``: ``--workspace DIR``, else
``$DRAWNET_WORKSPACE``, else the current folder), so that ``python -m curation.app`` and
``python -m training.finetune`` need no name or path after it. With no ``--dataset`` it loads into
the workspace's current dataset (a new manifest's images join it).
"""
from __future__ import annotations

import argparse
import logging
import mimetypes
import os
import sys
import time
from pathlib import Path

from datasets.manifest import read_manifest
from datasets.vocabulary import Vocabulary, load_vocabulary
from datasets.rules import mapping_text
from datasets.workspace import FILE, read_workspace, record_dataset, rules_path, workspace_root
from scraping.cli import UsageError, add_common_arguments, setup_logging

from .database import exit_code, fiftyone_module
from .log import default_log_path
from .log import rules_path as default_rules_path
from .mappings import DECISION, FIELD, mapping_of
from .state import KEY, REFUSED, class_label

logger = logging.getLogger(__name__)
PROG = "curation.load"
__all__ = ["KEY", "class_label", "load", "sample_document", "sample_fields"]


def group_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """Manifest rows by image id, in manifest order: an image in two classes has two rows."""
    images: dict[str, list[dict]] = {}
    for r in rows:
        images.setdefault(r["id"], []).append(r)
    return images


def sample_fields(rows: list[dict], vocab: Vocabulary) -> dict:
    """The fields of one sample, from its manifest rows (the first row is its ground truth)."""
    first = rows[0]
    wnids = [w for w in dict.fromkeys([r["wnid"] for r in rows] + list(first.get("candidates") or [])) if w]
    check, mapping = first.get("label_check"), mapping_of(first)
    if mapping:
        check = {**check, "mapping": mapping,
                 "mapping_text": mapping_text(mapping["lemma"], mapping["label"], mapping["phrase"])}
    return {
        KEY: first["id"],
        "wnid": first["wnid"],
        "class_index": first["class_index"],
        "split": first["split"],
        "source": first.get("source"),
        "style": first.get("style"),
        "collection": first.get("set"),  # the set it came from ("set" would shadow a Sample method)
        "license": first.get("license"),
        "original_name": first.get("original_name"),
        "matched_words": list(first.get("matched_words") or []),
        "lemma": first.get("lemma"),
        "lang": first.get("lang"),
        "sense_rank": first.get("sense_rank"),
        # a name the matcher resolved keeps its other candidates, but is not ambiguous (datasets.match)
        "ambiguous": bool(first.get("ambiguous")) or len({r["wnid"] for r in rows}) > 1,
        "candidates": wnids,
        "candidate_labels": [class_label(vocab, w) for w in wnids],
        "resolved_by": first.get("resolved_by"),
        # evaluation.verify: was the name's class checked against the picture, and what a rejection took away
        "label_check": check,
        "rejected_label": first.get("rejected_label"),
        "rejected_wnid": first.get("rejected_wnid"),
        FIELD: check["mapping_text"] if mapping else None,  # curation.mappings: "speaker → loudspeaker"
    }


def field_types(fo) -> dict:
    """The sample fields this module writes, declared up front so that raw inserts match the schema."""
    string, strings = fo.StringField, (fo.ListField, {"subfield": fo.StringField})
    return {
        KEY: string, "wnid": string, "class_index": fo.IntField, "split": string, "source": string,
        "style": string, "collection": string, "license": string, "original_name": string,
        "matched_words": strings, "lemma": string, "lang": string, "sense_rank": fo.IntField,
        "ambiguous": fo.BooleanField, "candidates": strings, "candidate_labels": strings,
        "resolved_by": string,  # datasets.match: why one of several candidate classes was chosen
        "label_check": fo.DictField,  # evaluation.verify: verdict, reason, score, mapping_score
        "rejected_label": string, "rejected_wnid": string,  # the class evaluation.verify rejected
        FIELD: string, DECISION: string,  # curation.mappings: the mapping as text; a decision on it as a whole
        "review": string,  # set by curation.actions: accepted, rejected or ambiguous
        REFUSED: strings,  # suggestions a curator refused (curation.actions.refuse_suggestions)
        "ground_truth": (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification}),
        # evaluation.suggest's class for an unlabelled sample (curation.suggestions); declared here so that
        # the saved view "suggestions to review" is valid before the first suggestions
        "suggestion": (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification}),
    }


def sample_document(rows: list[dict], vocab: Vocabulary) -> dict:
    """One image as the document FiftyOne stores, in ``Sample.from_dict`` form (unset fields left out)."""
    from bson import ObjectId

    first = rows[0]
    path = str(first["filepath"])
    doc = {"filepath": path, "tags": [first["split"]]}
    doc.update((k, v) for k, v in sample_fields(rows, vocab).items() if v is not None)
    if first["wnid"]:  # an unlabelled file (datasets.build --keep-unmatched) has no ground truth
        doc["ground_truth"] = {"_id": ObjectId(), "_cls": "Classification", "tags": [],
                               "label": class_label(vocab, first["wnid"])}
    if first.get("width") and first.get("height"):
        try:
            size = os.path.getsize(path)
        except OSError:
            size = None  # a missing file still gets a sample: the App shows it as missing
        meta = {"_cls": "ImageMetadata", "size_bytes": size, "mime_type": mimetypes.guess_type(path)[0],
                "width": first["width"], "height": first["height"]}
        doc["metadata"] = {k: v for k, v in meta.items() if v is not None}
    return doc


def insert_documents(dataset, docs: list[dict]) -> None:
    """Insert sample documents in one round trip, stamped as ``add_samples`` stamps them.

    Three private names of FiftyOne 1.22 (``Dataset._sample_collection``, ``Dataset._doc.id``,
    ``fiftyone.core.odm.sample._generate_rand``) kept for speed: ``benchmarks/load_bench.py`` loaded
    100,000 samples in 9.4 s this way and in 92.4 s (9.8x) with the public ``Dataset.add_samples(...,
    expand_schema=False, validate=False)``, which builds a mongoengine document per sample. The fields are
    declared beforehand (``field_types``) and a test checks that a sample inserted this way reads back
    exactly like one added through the API.
    """
    from datetime import datetime, timezone

    from bson import ObjectId
    from fiftyone.core.odm.sample import _generate_rand

    now = datetime.now(timezone.utc).replace(tzinfo=None)  # FiftyOne stores naive UTC
    for d in docs:
        d.update(_id=ObjectId(), _media_type="image", _rand=_generate_rand(), _dataset_id=dataset._doc.id,
                 created_at=now, last_modified_at=now)
    dataset._sample_collection.insert_many(docs, ordered=False)


def open_dataset(fo, name: str):
    """The named dataset, created persistent with its fields and a unique ``image_id`` index if new."""
    if fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
    else:
        dataset = fo.Dataset(name, persistent=True)
    schema = dataset.get_field_schema()
    for field, spec in field_types(fo).items():
        if field not in schema:
            ftype, kwargs = spec if isinstance(spec, tuple) else (spec, {})
            dataset.add_sample_field(field, ftype, **kwargs)
    if dataset.media_type is None:
        dataset.media_type = "image"  # what add_samples would set on the first image
    dataset.create_index(KEY, unique=True)  # a second copy of an image cannot sneak in
    return dataset


def load(manifest: Path, dataset_name: str, *, database_uri: str | None = None, vocab: Vocabulary | None = None,
         batch_size: int = 5000, curation_log: Path | None = None, mapping_rules: Path | None = None) -> dict:
    """Create or extend the dataset; return counts. Existing samples are left exactly as they are.

    ``curation_log`` is the JSON Lines file the curation is logged to (default: the
    dataset's, ``<manifest folder>/curation/<dataset>.jsonl``); see ``curation.log``.
    ``mapping_rules`` is the file that decisions on whole mappings are kept in as rules (default: the one
    recorded before, else ``<log folder>/<dataset>.mappings.jsonl``); see ``curation.mappings``.
    """
    from .views import save_curation_views

    fo = fiftyone_module(database_uri)
    vocab = vocab or load_vocabulary()
    start = time.perf_counter()
    images = group_rows(read_manifest(manifest))
    dataset = open_dataset(fo, dataset_name)
    present = set(dataset.distinct(KEY)) if len(dataset) else set()
    todo = [rows for image_id, rows in images.items() if image_id not in present]
    added = 0
    for i in range(0, len(todo), batch_size):
        try:
            docs = [sample_document(rows, vocab) for rows in todo[i : i + batch_size]]
        except ValueError as err:
            raise ValueError(f"{manifest}: {err}") from None
        insert_documents(dataset, docs)
        added += len(docs)
        logger.info("added %d of %d new samples", added, len(todo))
    manifests = dataset.info.setdefault("manifests", [])
    if str(Path(manifest).resolve()) not in manifests:
        manifests.append(str(Path(manifest).resolve()))  # absolute: curation.export reads it from anywhere
    if curation_log:
        dataset.info["curation_log"] = str(Path(curation_log).resolve())
    dataset.info.setdefault("curation_log", str(default_log_path(dataset).resolve()))
    if mapping_rules:
        dataset.info["mapping_rules"] = str(Path(mapping_rules).resolve())
    dataset.info.setdefault("mapping_rules", str(default_rules_path(dataset).resolve()))
    dataset.save()
    dataset.reload()
    save_curation_views(dataset)
    return {"dataset": dataset_name, "added": added, "kept": len(images) - len(todo), "samples": len(dataset),
            "seconds": round(time.perf_counter() - start, 2)}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Load a manifest into a persistent FiftyOne dataset.", add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--dataset", default=None,
                   help="FiftyOne dataset name, created or extended (default: the workspace's current one)")
    p.add_argument("--workspace", type=Path, default=None,
                   help="the workspace whose current dataset this becomes (default: $DRAWNET_WORKSPACE, else the "
                   "current folder)")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: the workspace's for its own dataset, else FiftyOne's own, or "
                   "FIFTYONE_DATABASE_URI)")
    p.add_argument("--curation-log", type=Path, default=None,
                   help="JSON Lines file the curation is logged to (default: MANIFEST_DIR/curation/DATASET.jsonl)")
    add_common_arguments(p)
    return p


def target_dataset(dataset: str | None, workspace: Path | None, database_uri: str | None) -> tuple[str, str | None]:
    """(dataset name, database URI) to load into: ``--dataset``, else the workspace's current dataset (and its
    database, unless ``--database-uri`` names one); a UsageError when there is none to reuse."""
    if dataset is not None:
        return dataset, database_uri
    root = workspace_root(workspace)
    ws = read_workspace(root)  # an unreadable file: a WorkspaceError (exit 1)
    if ws is None or not ws.dataset:
        raise UsageError(f"give --dataset NAME: {root} has no current dataset yet (no {FILE} naming one)")
    return ws.dataset, database_uri or ws.database_uri


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        name, uri = target_dataset(args.dataset, args.workspace, args.database_uri)
        if not args.manifest.is_file():
            raise FileNotFoundError(f"{args.manifest}: no such manifest (datasets.build writes one)")
        summary = load(args.manifest, name, database_uri=uri, curation_log=args.curation_log,
                       mapping_rules=rules_path(args.workspace))  # the workspace's file: record_dataset's ws.rules
        ws = record_dataset(args.workspace, name, args.manifest, uri)
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code(PROG, err)
    print(f"{summary['dataset']}: {summary['added']} samples added, {summary['kept']} already there (kept as they "
          f"are); {summary['samples']} in all ({summary['seconds']} s)")
    print(f"{ws.file}: {summary['dataset']} is this workspace's dataset (python -m curation.app opens it)")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
