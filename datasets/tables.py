"""The tables and the folder tree a dataset's outputs share: classes, styles and counts for
``classes.json`` / ``summary.json``, and the ``OUT/{train,val}/<class>/`` links. ``datasets.build``,
``datasets.subsets`` and ``curation.export`` write them from their rows."""
from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

from .vocabulary import Vocabulary


def class_table(rows: list[dict], vocab: Vocabulary) -> list[dict]:
    """Train, val and total rows per class; unlabelled rows are in no class."""
    counts = Counter((r["wnid"], r["split"]) for r in rows if r["wnid"] is not None)
    table = []
    for wnid in {wnid for wnid, _ in counts}:
        cls = vocab.by_wnid(wnid)
        train, val = counts[(wnid, "train")], counts[(wnid, "val")]
        table.append(
            {"label": cls.name, "wnid": wnid, "class_index": cls.index, "slug": vocab.slug(cls),
             "train": train, "val": val, "total": train + val}
        )
    return sorted(table, key=lambda c: (-c["total"], c["class_index"]))


def style_table(rows: list[dict]) -> list[dict]:
    """Images (labelled or not) and classes each source and style adds."""
    images: dict[tuple[str, str], set[str]] = {}
    classes: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        key = (r["source"], r["style"] or "")
        images.setdefault(key, set()).add(r["id"])
        classes.setdefault(key, set()).update([r["wnid"]] if r["wnid"] is not None else [])
    return [{"source": src, "style": style, "images": len(images[(src, style)]), "classes": len(classes[(src, style)])}
            for src, style in sorted(images)]


UNLABELLED_FOLDER = "_unlabelled"  # no class slug starts with "_"


def write_tree(rows: list[dict], out: Path, vocab: Vocabulary) -> None:
    """OUT/{train,val}/<class>/ of relative symlinks, swapped in whole for each split.

    Unlabelled rows (``--keep-unmatched``) go in OUT/{train,val}/_unlabelled/.
    """
    staging = out / ".tree.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for r in rows:
        src = (out / r["filepath"]).resolve()
        stem = re.sub(r"[^0-9A-Za-z]+", "_", Path(r["original_name"]).stem).strip("_")[:60]
        folder = Path(r["split"]) / (vocab.slug(vocab.by_wnid(r["wnid"])) if r["wnid"] else UNLABELLED_FOLDER)
        link = staging / folder / f"{r['id'][:12]}_{stem}{src.suffix}"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(src, out / folder))  # relative to where it will live
    for split in ("train", "val"):
        final = out / split
        shutil.rmtree(final, ignore_errors=True)
        if (staging / split).exists():
            os.replace(staging / split, final)
    shutil.rmtree(staging, ignore_errors=True)


def dataset_counts(rows: list[dict], table: list[dict]) -> dict:
    """The selected dataset's counts for the summary.

    ``images``, ``rows``, ``splits`` and ``per_style`` images count unlabelled rows
    (``--keep-unmatched``; one row per image, also counted in ``unlabelled_images``);
    ``classes``, ``per_class``, ``ambiguous_images``, ``resolved_images`` (per rule)
    and ``languages`` count labelled rows only.
    """
    images = {r["id"]: r for r in rows}
    labelled = [r for r in rows if r["wnid"] is not None]
    return {
        "images": len(images),
        "rows": len(rows),
        "unlabelled_images": len(rows) - len(labelled),
        "classes": len(table),
        "ambiguous_images": sum(1 for r in images.values() if r["ambiguous"]),
        "resolved_images": dict(Counter(r["resolved_by"] for r in images.values() if r["resolved_by"]).most_common()),
        "commonest_sense_rows": sum(1 for r in labelled if r["sense_rank"] == 0),
        "splits": dict(Counter(r["split"] for r in images.values())),
        "per_style": style_table(rows),
        "languages": dict(Counter(r["lang"] for r in labelled).most_common()),
        "per_class": table,
    }
