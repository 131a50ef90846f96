"""Does evaluation.suggest keep its promised precision on drawings by other hands? Leave one style out.

    python benchmarks/suggest_styles.py --features out/embedded-curated/features-efficientnet-lite1.h5 \\
        [--features more.h5 ...] [--styles 8] [--other-classes 0.2] [--C 0.1]

New clip-art is drawn by other people than the library's sets, so a threshold fitted on images of
styles the model has seen may promise more than it keeps. For each of the ``--styles`` largest
styles S of a features file's labelled rows (verified labels):

- a seeded ``--other-classes`` share of the classes is taken out altogether: their drawings stand
  for "other objects" (any suggestion for them is wrong);
- ``evaluation.suggest``'s core fits on every labelled row of the other styles and known classes,
  and scores the drawings of S (of the known classes: realised precision and coverage) and the
  other objects' drawings of S (the share given a class);
- once with each ``--cross-fit``: ``images`` (folds of random images) and ``styles`` (folds of
  whole styles), and each ``--open-share`` value (``0``: the precision of known-class drawings
  alone; ``auto``: the share of other objects estimated from the scored drawings themselves).

Printed per setting: the promise (suggest's own estimate, averaged over S) beside what held on S
(pooled over S), and the ratio realised/promised. The same features, classes and seeds serve every
setting in this one run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.classify.inputs import load_inputs  # noqa: E402
from evaluation.metrics import percent as pct  # noqa: E402
from evaluation.suggest import open_share_arg, suggest  # noqa: E402
from evaluation.suggest_pools import CROSS_FITS, SuggestConfig  # noqa: E402


def first_rows(ids: np.ndarray) -> np.ndarray:
    """One row per image (the first), in file order."""
    _, first = np.unique(ids.astype(str), return_index=True)
    return np.sort(first)


def one_style(fs, style: str, other: set[int], cfg: SuggestConfig) -> dict:
    labelled = fs.labels >= 0
    in_style = fs.styles.astype(str) == style
    known = labelled & ~np.isin(fs.labels, list(other))
    fit = np.flatnonzero(known & ~in_style)
    rows_known, rows_other = np.flatnonzero(known & in_style), np.flatnonzero(labelled & in_style & ~known)
    test_known, test_other = rows_known[first_rows(fs.ids[rows_known])], rows_other[first_rows(fs.ids[rows_other])]
    test = np.concatenate([test_known, test_other])
    r = suggest(fs.features[fit], fs.labels[fit], fs.ids[fit], fs.features[test], styles=fs.styles[fit], cfg=cfg)
    given = r.suggestion != -1
    k = len(test_known)
    truth_ok = np.array([fs.labels[i] for i in test_known])
    # a known-class image may carry several classes (two rows): right when the suggestion is any of them
    ok = np.array([r.suggestion[j] in set(fs.labels[fs.ids == fs.ids[test_known[j]]].tolist()) for j in range(k)])
    return {"style": style, "known": k, "known_given": int(given[:k].sum()), "right": int((ok & given[:k]).sum()),
            "top1": float((r.suggestion[:k] == truth_ok).mean()) if k else None,
            "other": len(test_other), "other_given": int(given[k:].sum()), "estimated": r.report["estimated"]}


def summarise(rows: list[dict]) -> dict:
    given = sum(r["known_given"] for r in rows)
    known = sum(r["known"] for r in rows)
    other = sum(r["other"] for r in rows)
    est = [r["estimated"] for r in rows if r["estimated"]["precision"] is not None]
    mean = (lambda key: float(np.mean([e[key] for e in est])) if est else None)
    return {"precision": sum(r["right"] for r in rows) / given if given else None,
            "coverage": given / known if known else None,
            "other_given": sum(r["other_given"] for r in rows) / other if other else None,
            "promised_precision": mean("precision"), "promised_coverage": mean("coverage"),
            "promised_other": mean("other_suggested"), "known": known, "other": other}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", type=Path, action="append", required=True, help="repeat to join backbones")
    p.add_argument("--styles", type=int, default=8, help="the N styles with the most labelled images")
    p.add_argument("--other-classes", type=float, default=0.2, help="share of classes standing for other objects")
    p.add_argument("--C", type=float, default=0.1, help="logistic C (one value: the run stays short)")
    p.add_argument("--open-share", default="0,auto", help="suggest's --open-share values to compare (default "
                   "%(default)s)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    fs = load_inputs(args.features[0] if len(args.features) == 1 else args.features)
    if fs.styles is None:
        raise SystemExit("the features file has no styles")
    labelled = fs.labels >= 0
    names, counts = np.unique(fs.styles[labelled].astype(str), return_counts=True)
    styles = [str(s) for s in names[np.argsort(-counts, kind="stable")][: args.styles]]
    classes = np.unique(fs.labels[labelled])
    rng = np.random.default_rng(args.seed)
    other = set(rng.choice(classes, size=int(len(classes) * args.other_classes), replace=False).tolist())
    print(f"{len(classes)} classes ({len(other)} standing for other objects), styles: {', '.join(styles)}")
    for cross_fit, share in [(c, s) for s in args.open_share.split(",") for c in CROSS_FITS]:
        cfg = SuggestConfig(C=(args.C,), cross_fit=cross_fit, open_share=open_share_arg(share), seed=args.seed, jobs=1)
        start = time.time()
        rows = [one_style(fs, s, other, cfg) for s in styles]
        s = summarise(rows)
        print(f"cross-fit {cross_fit}, open share {share}: realised precision {pct(s['precision'])} at coverage "
              f"{pct(s['coverage'])}, "
              f"other objects given a class {pct(s['other_given'])} ({s['known']} known-class and {s['other']} "
              f"other drawings); promised {pct(s['promised_precision'])} / {pct(s['promised_coverage'])} / "
              f"{pct(s['promised_other'])}; realised/promised precision "
              f"{s['precision'] / s['promised_precision']:.3f}; {time.time() - start:.0f} s", flush=True)
        for r in rows:
            prec = r["right"] / r["known_given"] if r["known_given"] else None
            print(f"    {r['style']:<22} {r['right']:>4}/{r['known_given']:<4} right ({pct(prec)}), coverage "
                  f"{pct(r['known_given'] / r['known'] if r['known'] else None)}, other {r['other_given']}/{r['other']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
