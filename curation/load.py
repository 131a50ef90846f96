"""python -m curation.load: a manifest into a persistent FiftyOne dataset, one sample per image.

    python -m curation.load --manifest out/embedded/manifest.jsonl --dataset drawnet
    python -m curation.load --manifest M --dataset team-set --database-uri mongodb://db:27017

Each sample has a ``ground_truth`` Classification, the ILSVRC ``wnid`` and
``class_index``, ``split`` (also as a tag), where it came from (``source``, ``style``,
``collection``, ``license``, ``original_name``), how the name matched (``matched_words``,
``lemma``, ``lang``, ``sense_rank``) and, for an image that matched several classes,
``ambiguous`` with every ``candidates`` wnid and label. Samples are keyed by
``image_id``, the file's sha256: loading again adds only new images and never
touches a sample that is already there, so curation done in the App survives.
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

from .database import fiftyone_module

logger = logging.getLogger(__name__)
KEY = "image_id"


def class_label(vocab: Vocabulary, wnid: str) -> str:
    """The class's name, with its wnid where two classes share it ("crane (n03126707)")."""
    cls = vocab.by_wnid(wnid)
    return cls.name if vocab.is_unique_name(cls) else f"{cls.name} ({wnid})"


def group_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """Manifest rows by image id, in manifest order: an image in two classes has two rows."""
    images: dict[str, list[dict]] = {}
    for r in rows:
        images.setdefault(r["id"], []).append(r)
    return images


def sample_fields(rows: list[dict], vocab: Vocabulary) -> dict:
    """The fields of one sample, from its manifest rows (the first row is its ground truth)."""
    first = rows[0]
    wnids = list(dict.fromkeys([r["wnid"] for r in rows] + list(first.get("candidates") or [])))
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
        "ambiguous": bool(first.get("ambiguous")) or len(wnids) > 1,
        "candidates": wnids,
        "candidate_labels": [class_label(vocab, w) for w in wnids],
    }


def load(manifest: Path, dataset_name: str, *, database_uri: str | None = None, vocab: Vocabulary | None = None,
         batch_size: int = 2000) -> dict:
    """Create or extend the dataset; return counts. Existing samples are left exactly as they are."""
    fo = fiftyone_module(database_uri)
    vocab = vocab or load_vocabulary()
    start = time.perf_counter()
    images = group_rows(read_manifest(manifest))
    if fo.dataset_exists(dataset_name):
        dataset = fo.load_dataset(dataset_name)
        present = set(dataset.distinct(KEY)) if len(dataset) else set()
    else:
        dataset = fo.Dataset(dataset_name, persistent=True)
        dataset.add_sample_field(KEY, fo.StringField)
        dataset.create_index(KEY, unique=True)  # a second copy of an image cannot sneak in
        present = set()
    dataset.info.setdefault("manifests", [])
    if str(manifest) not in dataset.info["manifests"]:
        dataset.info["manifests"].append(str(manifest))
    todo = [rows for image_id, rows in images.items() if image_id not in present]
    added = 0
    for i in range(0, len(todo), batch_size):
        samples = []
        for rows in todo[i : i + batch_size]:
            first = rows[0]
            path = str(first["filepath"])
            fields = sample_fields(rows, vocab)
            sample = fo.Sample(filepath=path, tags=[first["split"]], **fields)
            sample["ground_truth"] = fo.Classification(label=class_label(vocab, first["wnid"]))
            if first.get("width") and first.get("height"):
                try:
                    size = os.path.getsize(path)
                except OSError:
                    size = None  # a missing file still gets a sample: the App shows it as missing
                sample["metadata"] = fo.ImageMetadata(
                    width=first["width"], height=first["height"], size_bytes=size,
                    mime_type=mimetypes.guess_type(path)[0], num_channels=None,
                )
            samples.append(sample)
        # the first batch declares the schema; later ones only add rows of the same shape
        first_batch = i == 0 and not present
        dataset.add_samples(samples, expand_schema=first_batch, validate=first_batch, progress=False)
        added += len(samples)
        logger.info("added %d of %d new samples", added, len(todo))
    dataset.save()
    return {"dataset": dataset_name, "added": added, "kept": len(images) - len(todo), "samples": len(dataset),
            "seconds": round(time.perf_counter() - start, 2)}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Load a manifest into a persistent FiftyOne dataset.", add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--dataset", required=True, help="FiftyOne dataset name (created, or extended)")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: FiftyOne's own, or FIFTYONE_DATABASE_URI)")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = load(args.manifest, args.dataset, database_uri=args.database_uri)
    except (ValueError, OSError) as err:
        print(f"curation.load: {err}", file=sys.stderr)
        return 2
    print(f"{summary['dataset']}: {summary['added']} samples added, {summary['kept']} already there (kept as they "
          f"are); {summary['samples']} in all ({summary['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
