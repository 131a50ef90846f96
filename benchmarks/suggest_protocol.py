"""Issue 16's measurement of evaluation.suggest on the embedded library: hidden names and an open pool.

    OUT=out/suggest-protocol
    python -m datasets.build --source embedded --min-images 25 --single-word --max-sense-rank 1 \
        --keep-unmatched --unmatched-limit 1000 --out $OUT/thesis-pool
    python -m evaluation.extract --manifest $OUT/thesis-pool/manifest.jsonl --backbone efficientnet-lite1 \
        --out $OUT/thesis-pool/features-efficientnet-lite1.h5
    python benchmarks/suggest_protocol.py --features $OUT/thesis-pool/features-efficientnet-lite1.h5 --out $OUT

1. The names of the val images of the thesis-rule subset are hidden (their rows become unlabelled):
   known-class drawings whose names say nothing.
2. The build's unlabelled rows (files whose names matched no class, a fixed sample of them) are the
   open pool: mostly drawings of other things, some of the known classes.
3. ``evaluation.suggest`` (the real command) fits on the train rows and scores both. Printed per
   features file and method: precision and coverage on the hidden-name images (a suggestion is right
   when it is the image's class), how many open-pool files get a suggestion, and per class how many new
   images the suggestions would add (hidden and open pool).
4. ``--judge N`` draws N random open-pool suggestions and writes OUT/<run>/judge.png (a numbered
   contact sheet, each drawing with its suggested class) and judge.json, for a person to mark right or
   wrong: no file name can tell whether an open-pool suggestion is right.

Each ``--features`` file is its own run; ``--join`` joins them into one (several backbones).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.features import UNLABELLED, read_features, write_features  # noqa: E402
from evaluation.metrics import percent as pct  # noqa: E402


def hide_val(path: Path, out: Path) -> tuple[Path, dict[str, set[str]], set[str]]:
    """A copy of ``path`` whose val rows are unlabelled; (its path, true wnids of each hidden image, pool ids).
    An image with several labels (several rows) keeps one unlabelled row, and a suggestion of any of them is right."""
    fs = read_features(path)
    pool = {str(i) for i, y in zip(fs.ids, fs.labels) if y == UNLABELLED}
    hidden = (fs.splits == "val") & (fs.labels != UNLABELLED)
    truth: dict[str, set[str]] = {}
    for i in np.flatnonzero(hidden):
        truth.setdefault(str(fs.ids[i]), set()).add(str(fs.wnids[i]))
    seen: set[str] = set()
    keep = [i for i in range(len(fs)) if not hidden[i] or not (str(fs.ids[i]) in seen or seen.add(str(fs.ids[i])))]
    fs, hidden = fs.subset(np.asarray(keep)), hidden[keep]
    fs.labels = np.where(hidden, UNLABELLED, fs.labels)
    fs.wnids = np.where(hidden, "", fs.wnids).astype(object)
    fs.label_names = np.where(hidden, "", fs.label_names).astype(object)
    target = out / f"{path.stem}-val-hidden.h5"
    out.mkdir(parents=True, exist_ok=True)
    write_features(target, fs)
    return target, truth, pool


def score(lines: list[dict], truth: dict[str, set[str]], pool: set[str]) -> dict:
    hidden = [x for x in lines if x["id"] in truth]
    given = [x for x in hidden if x["suggestion"] is not None]
    right = sum(x["suggestion"] in truth[x["id"]] for x in given)
    open_given = [x for x in lines if x["id"] in pool and x["suggestion"] is not None]
    per_class = Counter(x["suggestion"] for x in lines if x["suggestion"] is not None)
    return {"hidden": len(hidden), "hidden_suggested": len(given), "precision": right / len(given) if given else None,
            "coverage": len(given) / len(hidden) if hidden else None,
            "top1": sum(x["top5"][0][0] in truth[x["id"]] for x in hidden) / len(hidden) if hidden else None,
            "pool": len(pool), "pool_suggested": len(open_given),
            "new_per_class": dict(per_class.most_common()),
            "pool_per_class": dict(Counter(x["suggestion"] for x in open_given).most_common())}


def contact_sheet(items: list[dict], path: Path, cell: int = 160) -> None:
    """A numbered grid of the drawings with their suggested classes, for judging by eye."""
    from PIL import Image, ImageDraw

    cols = 10
    rows = (len(items) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell, rows * (cell + 28)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, item in enumerate(items):
        x, y = (k % cols) * cell, (k // cols) * (cell + 28)
        try:
            with Image.open(item["filepath"]) as im:
                im = im.convert("RGBA")
                im.thumbnail((cell - 8, cell - 8))
                back = Image.new("RGB", im.size, "white")
                back.paste(im, mask=im.split()[3])
                sheet.paste(back, (x + 4, y + 4))
        except OSError:
            draw.text((x + 8, y + 60), "unreadable", fill="red")
        draw.text((x + 4, y + cell), f"{k}: {item['label'][:22]}", fill="black")
    sheet.save(path)


def judge_sample(lines: list[dict], fs_path: Path, pool: set[str], names: dict[str, str], n: int, seed: int,
                 out: Path) -> None:
    fs = read_features(fs_path)
    files = {str(i): str(f) for i, f in zip(fs.ids, fs.filepaths)}
    given = [x for x in lines if x["id"] in pool and x["suggestion"] is not None]
    rng = np.random.default_rng(seed)
    picked = [given[k] for k in sorted(rng.choice(len(given), min(n, len(given)), replace=False))] if given else []
    items = [{"k": k, "id": x["id"], "filepath": files[x["id"]], "suggestion": x["suggestion"],
              "label": names.get(x["suggestion"], x["suggestion"]), "confidence": x["confidence"]}
             for k, x in enumerate(picked)]
    (out / "judge.json").write_text(json.dumps(items, indent=1) + "\n")
    if items:
        contact_sheet(items, out / "judge.png")


def run_one(files: list[Path], method: str, args) -> dict:
    hidden = [hide_val(f, args.out / "features") for f in files]
    truth, pool = hidden[0][1], hidden[0][2]
    name = "+".join(f.stem for f in files) + f"-{method}"
    out = args.out / name
    cmd = [sys.executable, "-m", "evaluation.suggest", "--out", str(out), "--method", method,
           "--precision", str(args.precision), *[a for h in hidden for a in ("--features", str(h[0]))], *args.extra]
    start = time.time()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ})
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)}\n{done.stderr}")
    lines = [json.loads(x) for x in (out / "suggestions.jsonl").read_text().splitlines() if x.strip()]
    summary = json.loads((out / "suggest.json").read_text())
    names = {c["wnid"]: c.get("label", c["wnid"]) for c in summary["classes"]} if summary["classes"] and \
        isinstance(summary["classes"][0], dict) else {}
    if args.judge:
        judge_sample(lines, hidden[0][0], pool, names, args.judge, args.seed, out)
    return {"run": name, "seconds": round(time.time() - start, 1), "threshold": summary["threshold"],
            "estimated": summary["estimated"], "heldout": summary["heldout"],
            "ece": summary["calibration"]["ece"], **score(lines, truth, pool), "printed": done.stdout.strip()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", type=Path, action="append", required=True)
    p.add_argument("--join", action="store_true", help="join the --features files into one run")
    p.add_argument("--methods", default="logistic,svm")
    p.add_argument("--precision", type=float, default=0.95)
    p.add_argument("--judge", type=int, default=50, help="random open-pool suggestions to judge by eye (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("extra", nargs="*", help="flags passed on to evaluation.suggest (after --)")
    args = p.parse_args()
    results = []
    for files in ([args.features] if args.join else [[f] for f in args.features]):
        for method in args.methods.split(","):
            r = run_one(files, method, args)
            results.append(r)
            e, h = r["estimated"], r["heldout"]
            print(f"{r['run']}: threshold {r['threshold']}, {r['seconds']} s\n"
                  f"  hidden names: precision {pct(r['precision'])}, coverage {pct(r['coverage'])} "
                  f"({r['hidden_suggested']} of {r['hidden']}; top-1 {pct(r['top1'])})\n"
                  f"  suggest's estimate: precision {pct(e['precision'])}, coverage {pct(e['coverage'])}, other "
                  f"given a class {pct(e['other_suggested'])}; held out {pct(h['precision'])} / {pct(h['coverage'])}"
                  f"; ECE {pct(r['ece'])}\n"
                  f"  open pool: {r['pool_suggested']} of {r['pool']} files suggested; per class "
                  f"{r['pool_per_class']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
