"""python -m datasets.licenses: the attribution file a dataset's licences ask for.

    python -m datasets.licenses --manifest out/embedded/manifest.jsonl

Writes ATTRIBUTION.md next to the manifest (or ``--out``): one section per set with
its author, licence and link, what that licence asks of whoever shares the images,
and every file used. Images whose licence is unknown (a ``--from`` folder) are
listed apart, and the command exits 1 so a release script notices.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from scraping.cli import add_common_arguments, fail, setup_logging

from .manifest import atomic_write_text, read_manifest

# What each licence asks of someone who redistributes the images (renders included).
OBLIGATIONS = {
    "public domain": "No conditions; credit is a courtesy.",
    "CC0-1.0": "No conditions; credit is a courtesy.",
    "MIT": "Keep the copyright and permission notice with the images.",
    "Apache-2.0": "Keep the licence and any NOTICE text; say that the images were rendered from the originals.",
    "ISC": "Keep the copyright and permission notice with the images.",
    "BSD-3-Clause": "Keep the copyright notice, the conditions and the disclaimer.",
    "CC-BY-3.0": "Credit the author, link the licence and say that the images were changed (rendered).",
    "CC-BY-4.0": "Credit the author, link the licence and say that the images were changed (rendered).",
    "CC-BY-SA-3.0": "Credit, link, say they were changed, and share the images under the same licence.",
    "CC-BY-SA-4.0": "Credit, link, say they were changed, and share the images under the same licence.",
    "GPL-2.0-or-later": "Share the images under the GPL, with the source (the SVG or PNG files) available.",
    "OFL-1.1": "Keep the licence with the images; do not sell them on their own.",
}
UNKNOWN = "unknown"


def group_images(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(set, licence) -> {"rows": one row per image, ...}; an image in two classes counts once."""
    groups: dict[tuple[str, str], dict] = defaultdict(lambda: {"images": {}})
    for r in rows:
        key = (r.get("set") or r.get("source") or "unnamed", r.get("license") or UNKNOWN)
        groups[key]["images"].setdefault(r["id"], r)
    return dict(groups)


def render(rows: list[dict], manifest: Path) -> str:
    groups = group_images(rows)
    total = len({r["id"] for r in rows})
    lines = [
        "# Attribution",
        "",
        f"The {total} images of `{manifest}` come from the collections below. Vector drawings were",
        "rendered to PNG (a change, in the licences' terms); nothing else was altered.",
        "",
        "| set | licence | images |",
        "|---|---|---:|",
    ]
    lines += [f"| {s} | {lic} | {len(g['images'])} |" for (s, lic), g in sorted(groups.items())]
    for (set_name, licence), group in sorted(groups.items(), key=lambda kv: (kv[0][1] == UNKNOWN, kv[0])):
        images = sorted(group["images"].values(), key=lambda r: r["original_name"])
        first = images[0]
        authors = sorted({r["author"] for r in images if r.get("author")})
        lines += ["", f"## {set_name}", ""]
        if licence == UNKNOWN:
            lines.append("**Licence unknown.** Find out before sharing these images.")
        else:
            url = f" ({first['license_url']})" if first.get("license_url") else ""
            lines.append(f"- Licence: {licence}{url}")
            lines.append(f"- What it asks: {OBLIGATIONS.get(licence, 'read the licence text')}")
        if len(authors) == 1:
            link = f" ({first['author_url']})" if first.get("author_url") else ""
            lines.append(f"- Author: {authors[0]}{link}")
        elif authors:
            lines.append(f"- Authors: {len(authors)}, named per file below")
        lines += ["", "| file | class | author |", "|---|---|---|"]
        for r in images:
            author = r.get("author", "") if len(authors) > 1 else ""
            lines.append(f"| {_cell(r['original_name'])} | {_cell(r['label'])} | {_cell(author)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write the attribution file for a dataset's licences.", add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--out", type=Path, default=None, help="output file (default: ATTRIBUTION.md next to the manifest)")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    out = args.out or args.manifest.with_name("ATTRIBUTION.md")
    try:
        rows = read_manifest(args.manifest)
        if not rows:
            raise ValueError(f"{args.manifest}: no images, so nothing to attribute; build a dataset first "
                             "(python -m datasets.build)")
        if out.is_dir():
            raise IsADirectoryError(f"--out {out}: a folder; give the attribution file's path")
        atomic_write_text(out, render(rows, args.manifest))
    except (OSError, ValueError) as err:
        return fail("datasets.licenses", err)
    groups = group_images(rows)
    unknown = sum(len(g["images"]) for (_, lic), g in groups.items() if lic == UNKNOWN)
    print(f"wrote {out}: {len({r['id'] for r in rows})} images from {len(groups)} set/licence groups")
    if unknown:
        print(f"datasets.licenses: {unknown} images have no known licence; see {out}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
