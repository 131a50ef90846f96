"""Label precision on the judged sample: strict matching alone against matching plus verification.

    python benchmarks/label_precision.py --verified out/embedded-verified/manifest.jsonl
    python benchmarks/label_precision.py --draw out/embedded/manifest.jsonl     # redraw the sample's ids

The judged sample (``tests/fixtures/labels/judged_sample.jsonl``, how it was drawn and judged in its
README) gives, for 330 drawings of the embedded library, the class strict matching gave them and
whether the picture shows it. For each method the benchmark counts, over the drawings judged right or
wrong (unclear ones are left out): the labels it keeps, their precision, the share of the right labels
it keeps, and the drawings it rejects. A label is kept when the verified manifest still gives that
image that class (accepted or unsure); the middle row is the verifier's input, the build with names
read as compounds and abbreviations (found through ``OUT/summary.json``).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.manifest import iter_jsonl, read_manifest  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "labels" / "judged_sample.jsonl"
DRAW_SEED, DRAW_SIZE = 25, 330


def draw(rows: list[dict], n: int = DRAW_SIZE, seed: int = DRAW_SEED) -> list[dict]:
    """The sample as it was drawn: ``n`` of the labelled, unambiguous rows, sorted by id, by ``random.Random(seed)``."""
    pool = sorted((r for r in rows if r.get("wnid") and not r.get("ambiguous")), key=lambda r: r["id"])
    return random.Random(seed).sample(pool, min(n, len(pool)))


def kept_labels(manifest: Path) -> set[tuple[str, str]]:
    """(image id, wnid) of every labelled row of a manifest."""
    return {(r["id"], r["wnid"]) for _, r in iter_jsonl(manifest) if r.get("wnid")}


def score(judged: list[dict], kept: set[tuple[str, str]] | None) -> dict:
    """Counts over the drawings judged right or wrong; ``kept`` None keeps every judged label."""
    right = wrong = kept_right = kept_wrong = 0
    for j in judged:
        if j["verdict"] not in ("right", "wrong"):
            continue
        keep = kept is None or (j["id"], j["wnid"]) in kept
        if j["verdict"] == "right":
            right += 1
            kept_right += keep
        else:
            wrong += 1
            kept_wrong += keep
    kept_n = kept_right + kept_wrong
    return {"kept": kept_n, "kept_right": kept_right, "kept_wrong": kept_wrong,
            "precision": kept_right / kept_n if kept_n else float("nan"),
            "right_kept": kept_right / right if right else float("nan"), "rejected": right + wrong - kept_n}


def report(judged: list[dict], verified: Path) -> tuple[list[tuple[str, dict]], str]:
    rows = [("strict matching (as judged)", score(judged, None))]
    summary = verified.parent / "summary.json"
    if summary.is_file():
        source = Path(json.loads(summary.read_text())["manifest"])
        if source.is_file():
            rows.append(("names read as written (verifier's input)", score(judged, kept_labels(source))))
    final = score(judged, kept_labels(verified))
    rows.append(("matching + evaluation.verify", final))
    line = (f"labels: precision {final['precision']:.3f} keeping {final['right_kept']:.3f} of right labels "
            f"(strict alone: precision {rows[0][1]['precision']:.3f})")
    return rows, line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--verified", type=Path, help="manifest.jsonl written by evaluation.verify")
    p.add_argument("--fixture", type=Path, default=FIXTURE, help="judged sample (default: the project's)")
    p.add_argument("--draw", type=Path, metavar="MANIFEST", help="print the ids the draw picks from MANIFEST")
    args = p.parse_args(argv)
    if args.draw:
        for r in draw(read_manifest(args.draw)):
            print(r["id"], r["wnid"], r["original_name"])
        return 0
    if not args.verified or not args.verified.is_file():
        p.error(f"--verified: no manifest at {args.verified} (run python -m evaluation.verify, or make demo)")
    judged = [row for _, row in iter_jsonl(args.fixture)]
    rows, line = report(judged, args.verified)
    print(f"judged sample: {args.fixture} ({len(judged)} drawings, "
          f"{sum(j['verdict'] == 'right' for j in judged)} right, {sum(j['verdict'] == 'wrong' for j in judged)} wrong)")
    print(f"{'method':<42} {'kept':>5} {'right':>6} {'wrong':>6} {'precision':>10} {'right kept':>11} {'rejected':>9}")
    for name, s in rows:
        print(f"{name:<42} {s['kept']:5d} {s['kept_right']:6d} {s['kept_wrong']:6d} {s['precision']:10.1%} "
              f"{s['right_kept']:11.1%} {s['rejected']:9d}")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
