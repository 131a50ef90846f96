"""The curator's time, measured on the judged fixture: kept labels, suggestions and the label check's workload.

    python benchmarks/curation_quality.py --verified out/embedded-verified/manifest.jsonl \
        --dataset out/embedded-curated/manifest.jsonl --suggest out/embedded-curated/suggest
    python benchmarks/curation_quality.py ... --before OLD_VERIFIED --before-suggest OLD_SUGGEST   # a before column
    python benchmarks/curation_quality.py --ablations out/embedded   # each evidence of evaluation.verify alone

On ``tests/fixtures/labels/judged_curation.jsonl`` (its README: 600 drawings judged by eye, drawn at random
before anything was tuned), by default its ``holdout`` half, which no setting was chosen on:

* **Kept labels**, on part ``L`` (name matches, uniform): precision and the share of right labels kept, where a
  label is kept when the verified manifest still gives the image that class. Unclear ones are left out.
* **Suggestions**, on the judged drawings the dataset (``--dataset``: the manifest ``evaluation.suggest`` ran on)
  holds unlabelled: of those whose picture shows one of its classes, how many get it as the suggestion
  (coverage), and how many suggestions are right (precision), against what ``suggest.json`` promised; and each
  pool's estimated share of other objects against the share the judged drawings show.
* **Workload** of the dataset's "label check" view (unsure and rejected labels, grouped by mapping): its
  drawings and mappings, and the decisions a curator needs: one per mapping, plus the exceptions (drawings
  whose truth is not their mapping's majority), estimated at the rate the judged drawings in the view show.

``--ablations OUT`` reruns ``evaluation.verify`` on ``OUT/manifest.jsonl`` and its features with each piece of
evidence alone and all together (about 30 s each on 2 cores) and prints AUC, precision and right labels kept.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.judged import FIXTURE  # noqa: E402
from datasets.manifest import iter_jsonl  # noqa: E402

HALVES = ("tune", "holdout", "all")


def judged(half: str) -> list[dict]:
    return [r for _, r in iter_jsonl(FIXTURE) if half == "all" or r["half"] == half]


def checks_of(verified: Path) -> tuple[set, dict]:
    """(kept (image, wnid) pairs, the label_check of every (image, name class) pair) of a verified manifest."""
    kept, checks = set(), {}
    for _, r in iter_jsonl(verified):
        check = r.get("label_check")
        wnid = r.get("wnid") or r.get("rejected_wnid")
        if r.get("wnid"):
            kept.add((r["id"], r["wnid"]))
        if check and wnid:
            checks[(r["id"], wnid)] = check
            for other in check.get("rejected_candidates") or []:
                checks[(r["id"], other)] = {**check, "score": -99.0}
    return kept, checks


def auc(scores: list[float], right: list[bool]) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(right, scores)) if 0 < sum(right) < len(right) else None


def label_figures(verified: Path, rows: list[dict]) -> dict:
    kept, checks = checks_of(verified)
    rows = [r for r in rows if r["part"] == "L" and r["verdict"] in ("right", "wrong")]
    right = [r for r in rows if r["verdict"] == "right"]
    kept_right = sum((r["id"], r["wnid"]) in kept for r in right)
    kept_wrong = sum((r["id"], r["wnid"]) in kept for r in rows if r["verdict"] == "wrong")
    scored = [r for r in rows if (r["id"], r["wnid"]) in checks]
    return {"judged": len(rows), "right": len(right), "kept_right": kept_right, "kept_wrong": kept_wrong,
            "precision": kept_right / max(kept_right + kept_wrong, 1), "right_kept": kept_right / max(len(right), 1),
            "auc": auc([checks[(r["id"], r["wnid"])]["score"] for r in scored],
                       [r["verdict"] == "right" for r in scored])}


def suggestion_figures(dataset: Path, suggest: Path, rows: list[dict]) -> dict:
    """Coverage and precision of the suggestions on the judged drawings the dataset holds unlabelled."""
    manifest = [r for _, r in iter_jsonl(dataset)]
    classes = {r["wnid"] for r in manifest if r.get("wnid")}
    unlabelled = {r["id"]: r for r in manifest if not r.get("wnid")}
    lines = {line["id"]: line for _, line in iter_jsonl(suggest / "suggestions.jsonl")}
    summary = json.loads((suggest / "suggest.json").read_text())
    keys = ("judged", "known", "suggested", "right", "known_given")
    pools = {"named": dict.fromkeys(keys, 0), "open": dict.fromkeys(keys, 0)}
    for j in rows:
        if j["id"] not in unlabelled or j["shows"] == "unclear" or j["id"] not in lines:
            continue
        pool = pools["named" if unlabelled[j["id"]].get("rejected_wnid") else "open"]
        known = bool(set(j["truth"]) & classes)
        made = lines[j["id"]]["suggestion"]
        pool["judged"] += 1
        pool["known"] += known
        pool["suggested"] += made is not None
        pool["right"] += made is not None and made in j["truth"]
        pool["known_given"] += known and made in j["truth"]
    out = {}
    for name, c in pools.items():
        est = (summary.get("pools") or {}).get(name) or {}
        out[name] = {**c, "promised": (est.get("estimated") or {}).get("precision"), "open_share": est.get("open_share"),
                     "true_open_share": 1 - c["known"] / c["judged"] if c["judged"] else None}
    total = {k: pools["named"][k] + pools["open"][k] for k in keys}
    out["all"] = {**total, "coverage": total["known_given"] / max(total["known"], 1),
                  "precision": total["right"] / total["suggested"] if total["suggested"] else None,
                  "promised": summary.get("estimated", {}).get("precision")}
    return out


def workload(dataset: Path, rows: list[dict]) -> dict:
    """The label check view of a dataset manifest: drawings, mappings, estimated decisions."""
    truth = {(r["id"], r["wnid"]): r["verdict"] for r in rows if r["verdict"] in ("right", "wrong")}
    groups: dict[tuple, list[str]] = defaultdict(list)
    for _, r in iter_jsonl(dataset):
        check = r.get("label_check") or {}
        if check.get("verdict") in ("unsure", "rejected"):
            wnid = r.get("wnid") or r.get("rejected_wnid")
            groups[(check.get("mapping_text") or f"{r.get('lemma')} → {wnid}", wnid)].append(
                truth.get((r["id"], wnid)))
    drawings = sum(len(g) for g in groups.values())
    judged_n = minority = 0
    for verdicts in groups.values():
        seen = Counter(v for v in verdicts if v)
        judged_n += sum(seen.values())
        minority += sum(seen.values()) - max(seen.values(), default=0)
    rate = minority / judged_n if judged_n else 0.0
    exceptions = rate * drawings
    return {"drawings": drawings, "mappings": len(groups), "mappings_3plus": sum(len(g) >= 3 for g in groups.values()),
            "judged_in_view": judged_n, "exception_rate": rate, "exceptions": exceptions,
            "decisions": len(groups) + exceptions, "per_drawing": (len(groups) + exceptions) / max(drawings, 1)}


def ablation_runs(out: Path):
    """evaluation.verify with each piece of evidence alone and together: yields (name, its verified manifest),
    each alive until the next (benchmarks/doc_figures.py --ablations scores them too)."""
    from evaluation.judge import EVIDENCE
    from evaluation.verify import get_args_parser, main

    features = sorted(out.glob("features-*.h5"))[0]
    settings = [("picture only", "")] + [(e, e) for e in EVIDENCE] + [("all", ",".join(EVIDENCE))]
    with tempfile.TemporaryDirectory() as tmp:
        for name, evidence in settings:
            folder = Path(tmp) / name.replace(" ", "-")
            args = ["--manifest", str(out / "manifest.jsonl"), "--features", str(features), "--out", str(folder),
                    "--no-clip", "--no-rules", "--evidence", evidence, "--table-rows", "1"]
            main(get_args_parser().parse_args(args))
            yield name, folder / "manifest.jsonl"


def ablations(out: Path) -> None:
    """evaluation.verify with each piece of evidence alone and together, scored on both halves."""
    print(f"{'evidence':<16} " + " ".join(f"{h + ': AUC  P     R':>24}" for h in ("tune", "holdout")))
    for name, manifest in ablation_runs(out):
        cells = []
        for half in ("tune", "holdout"):
            f = label_figures(manifest, judged(half))
            cells.append(f"{f['auc']:.3f} {f['precision']:.3f} {f['right_kept']:.3f}")
        print(f"{name:<16} " + " ".join(f"{c:>24}" for c in cells), flush=True)


def fmt(x, pct=True) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def report(args: argparse.Namespace) -> None:
    rows = judged(args.half)
    columns = [("before", args.before, args.before_dataset or args.dataset, args.before_suggest),
               ("now", args.verified, args.dataset, args.suggest)]
    columns = [c for c in columns if c[1]]
    print(f"judged fixture {FIXTURE.name}, half: {args.half} ({len(rows)} drawings)")
    for name, verified, dataset, suggest in columns:
        f = label_figures(verified, rows)
        print(f"[{name}] kept labels (part L, {f['judged']} judged, {f['right']} right): precision "
              f"{fmt(f['precision'])} ({f['kept_wrong']} wrong kept), right labels kept {fmt(f['right_kept'])} "
              f"({f['kept_right']}), AUC {fmt(f['auc'], False)}")
        if dataset and suggest:
            s = suggestion_figures(dataset, suggest, rows)
            a = s["all"]
            print(f"[{name}] suggestions on {a['judged']} judged unlabelled drawings of the dataset, {a['known']} of a "
                  f"class in it: {a['known_given']} given it (coverage {fmt(a['coverage'])}); {a['suggested']} "
                  f"suggested, {a['right']} right (precision {fmt(a['precision'])})")
            for pool in ("named", "open"):
                p = s[pool]
                print(f"    {pool:<5} pool: {p['judged']} judged, {p['known']} of a known class; {p['suggested']} "
                      f"suggested, {p['right']} right (promised {fmt(p['promised'])}); other objects: estimated "
                      f"{fmt(p['open_share'])}, judged {fmt(p['true_open_share'])}")
        if dataset:
            w = workload(dataset, rows)
            print(f"[{name}] label check view: {w['drawings']} drawings in {w['mappings']} mappings "
                  f"({w['mappings_3plus']} of 3+); exceptions {fmt(w['exception_rate'])} of the {w['judged_in_view']} "
                  f"judged in it -> about {w['decisions']:.0f} decisions, {w['per_drawing']:.3f} per drawing")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--verified", type=Path, help="manifest.jsonl of evaluation.verify")
    p.add_argument("--dataset", type=Path, help="the manifest evaluation.suggest ran on (make demo: the curated set)")
    p.add_argument("--suggest", type=Path, help="evaluation.suggest's output folder")
    p.add_argument("--before", type=Path, help="an earlier verified manifest, for a before column")
    p.add_argument("--before-dataset", type=Path, help="the earlier dataset manifest")
    p.add_argument("--before-suggest", type=Path, help="the earlier suggest folder")
    p.add_argument("--half", choices=HALVES, default="holdout", help="the fixture's half (default %(default)s)")
    p.add_argument("--ablations", type=Path, metavar="OUT", help="rerun verify per evidence on OUT/manifest.jsonl")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.ablations:
        ablations(args.ablations)
        return 0
    if not args.verified or not args.verified.is_file():
        print(f"curation_quality: --verified: no manifest at {args.verified} (run make demo)", file=sys.stderr)
        return 2
    report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
