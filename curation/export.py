"""python -m curation.export: the curated dataset as a manifest and a class tree, for training and extraction.

    python -m curation.export --out out/curated            # the workspace's dataset
    python -m curation.export --out out/curated --accepted-only --drop-ambiguous

Writes ``OUT/manifest.jsonl`` (one row per sample, with its curated class; rejected
samples left out), ``OUT/classes.json``, ``OUT/summary.json`` and ``OUT/{train,val}/<class>/``
links; unlabelled samples (no class yet, ``datasets.build --keep-unmatched``) are left out
and counted. A row keeps every field of its manifest row (licence, author...) and adds
``review``; a moved sample also records ``original_wnid``. The manifest is what
``evaluation.extract`` and training read.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from datasets.tables import class_table, write_tree
from datasets.manifest import ManifestError, read_manifest, relative_filepath, write_json, write_jsonl
from datasets.vocabulary import Vocabulary, load_vocabulary

from scraping.cli import add_common_arguments, setup_logging

from .database import add_dataset_arguments, dataset_and_uri, existing_dataset, exit_code
from .state import KEY

logger = logging.getLogger(__name__)
PROG = "curation.export"
FIELDS = (KEY, "filepath", "wnid", "class_index", "split", "review", "ambiguous", "candidates", "original_name",
          "source", "style", "collection", "license", "matched_words", "lemma", "lang", "sense_rank")


def curated_rows(samples: list[dict], manifest_rows: dict[str, dict], vocab: Vocabulary, *,
                 accepted_only: bool = False, drop_ambiguous: bool = False) -> tuple[list[dict], Counter]:
    """Manifest rows for the samples to export, and a count of those left out, by reason."""
    rows, left_out = [], Counter()
    for s in samples:
        review = s.get("review")
        if s.get("wnid") is None:
            left_out["unlabelled"] += 1  # no class yet: accept a suggestion or move it to one first
            continue
        if review == "rejected":
            left_out["rejected"] += 1
            continue
        if accepted_only and review != "accepted":
            left_out["not accepted"] += 1
            continue
        if drop_ambiguous and (review == "ambiguous" or (review is None and s.get("ambiguous"))):
            left_out["ambiguous"] += 1
            continue
        base = manifest_rows.get(s[KEY]) or {
            "id": s[KEY], "set": s.get("collection"),
            **{k: s.get(k) for k in FIELDS if k not in (KEY, "collection", "review")}}
        row = {**base, "wnid": s["wnid"], "class_index": s["class_index"], "label": vocab.by_wnid(s["wnid"]).name,
               "split": s["split"], "filepath": s["filepath"], "review": review}
        if base.get("wnid") != s["wnid"]:
            row["original_wnid"] = base.get("wnid")
        if review == "ambiguous":
            row["ambiguous"] = True
        rows.append(row)
    return rows, left_out


def first_rows(manifests: list[str]) -> dict[str, dict]:
    """Each image's first row in the dataset's manifests (its ground truth at load); missing files are skipped."""
    rows: dict[str, dict] = {}
    for path in manifests:
        try:
            for r in read_manifest(path):
                rows.setdefault(r["id"], r)
        except (OSError, ManifestError) as err:
            logger.warning("%s: cannot read (%s); its samples are exported from the dataset's fields", path, err)
    return rows


def export(dataset_name: str, out: Path, *, database_uri: str | None = None, accepted_only: bool = False,
           drop_ambiguous: bool = False, layout_tree: bool = True) -> dict:
    """Write the curated manifest (and tree) of a dataset; return the summary also written to OUT/summary.json."""
    dataset = existing_dataset(dataset_name, database_uri)
    vocab = load_vocabulary()
    samples = [dict(zip(FIELDS, values)) for values in zip(*dataset.values(list(FIELDS)))]
    rows, left_out = curated_rows(samples, first_rows(dataset.info.get("manifests") or []), vocab,
                                  accepted_only=accepted_only, drop_ambiguous=drop_ambiguous)
    if not rows:  # nothing to train on: fail before the folder is made, rather than write an empty manifest
        why = ", ".join(f"{n} {reason}" for reason, n in left_out.items()) or "it has no samples"
        raise ValueError(f"dataset {dataset_name!r}: no sample left to export (left out: {why})")
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        r["filepath"] = relative_filepath(Path(r["filepath"]), out)
    write_jsonl(out / "manifest.jsonl", rows)
    table = class_table(rows, vocab)
    write_json(out / "classes.json", sorted(table, key=lambda c: c["class_index"]))
    if layout_tree:
        write_tree(rows, out, vocab)
    summary = {
        "dataset": dataset_name, "images": len(rows), "classes": len(table),
        "left_out": dict(left_out), "reviews": dict(Counter(str(r["review"]) for r in rows)),
        "moved": sum(1 for r in rows if "original_wnid" in r), "splits": dict(Counter(r["split"] for r in rows)),
        "accepted_only": accepted_only, "drop_ambiguous": drop_ambiguous,
    }
    write_json(out / "summary.json", summary)
    return summary


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Export the curated dataset as a manifest and a class tree.",
                                add_help=add_help)
    add_dataset_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--accepted-only", action="store_true", help="only samples a curator accepted (or moved)")
    p.add_argument("--drop-ambiguous", action="store_true",
                   help="leave out samples marked ambiguous, and unreviewed ones whose name matched several classes")
    p.add_argument("--no-tree", action="store_true", help="skip the OUT/{train,val}/<class>/ links")
    add_common_arguments(p)
    return p


def main(args: argparse.Namespace) -> int:
    from evaluation.options import new_folder

    setup_logging(args)
    try:
        new_folder(args.out)  # a file there: bad usage, before the dataset is read
        name, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        s = export(name, args.out, database_uri=uri, accepted_only=args.accepted_only,
                   drop_ambiguous=args.drop_ambiguous, layout_tree=not args.no_tree)
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code(PROG, err)
    left = ", ".join(f"{n} {why}" for why, n in s["left_out"].items()) or "none"
    print(f"{args.out / 'manifest.jsonl'}: {s['images']} images in {s['classes']} classes "
          f"({s['moved']} moved; left out: {left})")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
