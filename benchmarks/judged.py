"""The curation fixture: a judged sample of the embedded library's name matches, rejected labels and unmatched files.

    python benchmarks/judged.py --draw out/embedded                 # print the draw (ids, parts) as JSON Lines
    python benchmarks/judged.py --sheets out/embedded --out sheets/ # contact sheets of the draw, for judging

``tests/fixtures/labels/judged_curation.jsonl`` (how it was drawn and judged: the README beside it) holds,
for each drawn drawing, what its picture shows: the ILSVRC-2012 classes (``truth``, wnids; empty for none of
the 1000) and, for a drawing whose name gave a class, whether that class is right (``verdict``). Three parts,
drawn at random from one ``make demo`` (``DRAW_COMMIT``) before anything was tuned on them:

* ``L``: name matches, uniform over the labelled, unambiguous rows of the build (whatever verify said);
* ``R``: more of the labels ``evaluation.verify`` rejected, uniform over them;
* ``U``: files whose names match no class, uniform over the build's open pool.

Each drawing is in the ``tune`` or the ``holdout`` half by a hash of its id (:func:`half`): figures reported
as final are on ``holdout``, which nothing was tuned on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.manifest import iter_jsonl, read_manifest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "labels" / "judged_curation.jsonl"
OLD_FIXTURE = ROOT / "tests" / "fixtures" / "labels" / "judged_sample.jsonl"
DRAW_COMMIT = "aeaafe36da851c6b2ee7954ae67c123ceea1042c"  # make demo at this commit gave the population
DRAW_SEED = 33
PART_SIZES = {"L": 300, "R": 100, "U": 200}


def half(image_id: str) -> str:
    """``holdout`` or ``tune``, by the image id alone (a seeded hash): stable whatever else is drawn."""
    digit = int(hashlib.sha256(f"drawnet-holdout:{image_id}".encode()).hexdigest(), 16) % 2
    return "holdout" if digit else "tune"


def draw(build: list[dict], verified: list[dict], old_ids: set[str], sizes: dict = PART_SIZES,
         seed: int = DRAW_SEED) -> list[dict]:
    """The three parts, in draw order: (part, id, the name's class or None, the row)."""
    rng = random.Random(seed)
    labelled = sorted((r for r in build if r.get("wnid") and not r.get("ambiguous") and r["id"] not in old_ids),
                      key=lambda r: (r["id"], r["wnid"]))
    part_l = rng.sample(labelled, sizes["L"])
    taken = old_ids | {r["id"] for r in part_l}
    rejected = sorted((r for r in verified if r.get("rejected_wnid") and r["id"] not in taken),
                      key=lambda r: (r["id"], r["rejected_wnid"]))
    part_r = rng.sample(rejected, sizes["R"])
    taken |= {r["id"] for r in part_r}
    unmatched = sorted((r for r in build if not r.get("wnid") and r["id"] not in taken), key=lambda r: r["id"])
    part_u = rng.sample(unmatched, sizes["U"])
    out = []
    for part, rows in (("L", part_l), ("R", part_r), ("U", part_u)):
        for r in rows:
            wnid = r.get("wnid") or r.get("rejected_wnid")
            label = r.get("label") or r.get("rejected_label")
            out.append({"n": len(out), "part": part, "half": half(r["id"]), "id": r["id"],
                        "original_name": r["original_name"], "source": r["source"], "style": r.get("style"),
                        "label": label, "wnid": wnid, "lemma": r.get("lemma"), "filepath": r["filepath"]})
    return out


def draw_from(out: Path) -> list[dict]:
    """The draw from a ``make demo`` output prefix (``out/embedded``: its build and ``-verified`` manifests)."""
    build = read_manifest(out / "manifest.jsonl")
    verified = read_manifest(Path(f"{out}-verified") / "manifest.jsonl")
    old = {row["id"] for _, row in iter_jsonl(OLD_FIXTURE)}
    return draw(build, verified, old)


def contact_sheets(rows: list[dict], out: Path, per_sheet: int = 20, size: int = 200) -> list[Path]:
    """PNG sheets of ``per_sheet`` drawings on white, each captioned with its number, name and class."""
    from PIL import Image, ImageDraw

    from scraping.pixels import to_rgb

    out.mkdir(parents=True, exist_ok=True)
    cols, cap = 5, 34
    paths = []
    for start in range(0, len(rows), per_sheet):
        chunk = rows[start:start + per_sheet]
        sheet = Image.new("RGB", (cols * size, ((len(chunk) + cols - 1) // cols) * (size + cap)), "white")
        pen = ImageDraw.Draw(sheet)
        for k, r in enumerate(chunk):
            x, y = (k % cols) * size, (k // cols) * (size + cap)
            with Image.open(r["filepath"]) as im:
                im = to_rgb(im)
                im.thumbnail((size - 8, size - 8))
                sheet.paste(im, (x + (size - im.width) // 2, y + (size - im.height) // 2))
            pen.rectangle([x, y, x + size - 1, y + size + cap - 1], outline=(200, 200, 200))
            name = r["original_name"].split(":")[-1].rsplit("/", 1)[-1][:30]
            pen.text((x + 3, y + size), f"{r['n']} {name}", fill="black")
            pen.text((x + 3, y + size + 14), f"  {r['label'] or '-'}", fill=(180, 0, 0))
        path = out / f"sheet-{start // per_sheet:03d}.png"
        sheet.save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--draw", type=Path, metavar="OUT", help="print the draw from make demo's OUT (out/embedded)")
    p.add_argument("--sheets", type=Path, metavar="OUT", help="contact sheets of the draw from OUT")
    p.add_argument("--out", type=Path, default=Path("judged-sheets"), help="folder for --sheets")
    args = p.parse_args(argv)
    if args.draw:
        for row in draw_from(args.draw):
            print(json.dumps(row))
    elif args.sheets:
        paths = contact_sheets(draw_from(args.sheets), args.out)
        print(f"{len(paths)} sheets in {args.out}")
    else:
        p.error("give --draw OUT or --sheets OUT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
