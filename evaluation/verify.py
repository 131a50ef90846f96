"""python -m evaluation.verify: check every name match against the picture, and more evidence.

    python -m evaluation.verify --manifest out/embedded/manifest.jsonl --out out/embedded-verified
    python -m evaluation.verify --manifest M --out DIR --features M_DIR/features-efficientnet-lite1.h5
    python -m evaluation.verify --manifest M --out DIR --backbone efficientnet-lite1 efficientnet-lite2
    python -m evaluation.verify --manifest M --out DIR --features F --rules WORKSPACE/mappings.jsonl

A name match says a file *may* show a class; the evidence says whether it does. In named steps
(``evaluation.judge``):

1. **The first stage** (``evaluation.mappings``): each mapping (lemma -> class), phrase and file judged on
   the ImageNet head's rank of the class for the picture (standardised per class over the dataset's own
   images) and on how often WordNet's tagged corpus uses the word in the class's sense.
2. **More evidence** (``evaluation.evidence``): the same name in sibling styles (``datasets.names``: the
   concept ``otter`` in eight emoji styles), the head noun of the name (``desk_lamp`` is a lamp), the icon
   set's category, and a classifier learned from the labels the first stage kept (cross-fitted).
3. **The label model** (``evaluation.label_model``): a mixture fitted by EM on the dataset itself: each
   mapping is right for an estimated share of its concepts, a concept's files are right or wrong together,
   and the picture and each piece of evidence weigh in by how right and wrong files differ in them.
4. **The verdict** (``evaluation.verdicts``): a label the first stage kept stays unless the model is against
   it, a rejected one is kept where the model or the classifier vouch for it, and a curator's decision on a
   whole mapping (``datasets.rules``: ``WORKSPACE/mappings.jsonl``, written by the App) decides every file of
   that mapping, new ones included; ``label_check.reason`` says which.

Measured on ``tests/fixtures/labels/judged_curation.jsonl`` (``benchmarks/curation_quality.py``; figures in
docs/datasets.md): see the benchmark for precision, right labels kept and each evidence's AUC.

Writes ``OUT/manifest.jsonl``: the same rows, each labelled row with ``label_check`` (``verdict``:
accepted, rejected or unsure; ``reason``; ``score``, the decision's margin in log-odds, >= 0 where the label
is kept; ``mapping_score``, the mean margin of its mapping's (or phrase's) files, by which the App orders
them; ``mapping`` {lemma,
lang, wnid, label, phrase} and ``mapping_text`` ("speaker → loudspeaker"), what the App groups by and a
rule decides; ``stage1``; ``evidence``; ``rule`` where a curator's rule decided). A rejected row keeps its
class in ``rejected_label`` / ``rejected_wnid`` / ``rejected_class_index`` and becomes unlabelled
(``label``, ``wnid``, ``class_index`` null), so ``evaluation.suggest`` may propose a class for it; where
another class of the same image is kept, the rejected row is dropped and named in the kept row's
``label_check.rejected_candidates``. Rows that had no label keep ``label_check`` null. CLIP's zero-shot
log-probabilities over the 1000 classes join the backbones' logits where open_clip weights are on disk
(``--clip-model``, ``--clip-weights``; never downloaded, ``--no-clip`` to skip). Also ``OUT/mappings.csv``
(lemma, class, files, verdicts, evidence: for people to read, worst first) and ``OUT/summary.json``.
Without ``--features``, the features are extracted into ``OUT/features-<backbone>.h5`` (resumable, as
``evaluation.extract``).
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from datasets.manifest import atomic_write_text, read_manifest, relative_filepath, write_json, write_jsonl
from datasets.rules import read_rules
from datasets.workspace import rules_path
from scraping.cli import TABLE_ROWS, UsageError, add_common_arguments, at_least, fail, setup_logging, usage
from training.backbones import DEFAULT_BACKBONE, DEFAULT_LAYERS, WeightsUnavailable

from .features import FeatureSet, image_rows, read_features
from .judge import EVIDENCE, JudgeConfig, Judged, judge_rows
from .label_model import ModelConfig
from .mappings import StageConfig
from .options import new_folder, table_rows
from .verdicts import DecisionConfig, moved, verdict_counts
from .zeroshot import ClipConfig, add_clip_arguments, clip_config

logger = logging.getLogger(__name__)

PROG = "evaluation.verify"
VERDICTS = ("accepted", "unsure", "rejected")


def image_logits(sets: list[FeatureSet], names: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """(the images every features file holds, each file's logits of them, one row an image)."""
    firsts = []
    for fs, name in zip(sets, names, strict=True):
        if fs.logits is None or fs.logits.shape[1] != 1000:
            raise ValueError(f"{name}: no 1000-way ImageNet logits (a fine-tuned head cannot verify ImageNet classes)")
        firsts.append(image_rows(fs))
    ids = [i for i in firsts[0] if all(i in f for f in firsts[1:])]
    return ids, [fs.logits[[f[i] for i in ids]] for fs, f in zip(sets, firsts)]


def verified_rows(rows: list[dict], checks: list[dict | None], root: Path) -> list[dict]:
    """The output manifest: rejected labels become unlabelled rows, or are dropped where the image keeps
    another class; paths relative to ``root`` (the output folder) where they lie inside it."""
    kept_classes: dict[str, list[int]] = defaultdict(list)
    for i, (row, check) in enumerate(zip(rows, checks, strict=True)):
        if check and check["verdict"] != "rejected":
            kept_classes[row["id"]].append(i)
    rejected_of: dict[str, list[str]] = defaultdict(list)
    out, unlabelled_ids = [], set()
    for row, check in zip(rows, checks, strict=True):
        new = dict(row, filepath=relative_filepath(Path(row["filepath"]), root), label_check=check)
        if check and check["verdict"] == "rejected":
            if kept_classes[row["id"]]:
                rejected_of[row["id"]].append(row["wnid"])
                continue
            if row["id"] in unlabelled_ids:
                continue  # one unlabelled row an image
            unlabelled_ids.add(row["id"])
            new.update(rejected_label=row["label"], rejected_wnid=row["wnid"], rejected_class_index=row["class_index"],
                       label=None, wnid=None, class_index=None, ambiguous=False)
        out.append(new)
    for row in out:
        if row["id"] in rejected_of and row["label_check"]:
            row["label_check"] = dict(row["label_check"], rejected_candidates=rejected_of[row["id"]])
            row["ambiguous"] = len(kept_classes[row["id"]]) > 1
    return out


def table_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    if table:
        writer = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return buf.getvalue()


def feature_sets(manifest: Path, out: Path, features: list[Path], backbones: list[str], device: str,
                 batch_size: int | None) -> tuple[list[FeatureSet], list[str]]:
    """The given features files, or each backbone's, extracted from ``manifest`` into ``out`` (resumable)."""
    if not features:
        from .extract import ExtractConfig, extract

        out.mkdir(parents=True, exist_ok=True)
        for backbone in backbones:
            path = out / f"features-{backbone}.h5"
            if not path.exists():
                logger.info("extracting %s features of %s into %s", backbone, manifest, path)
                extract(ExtractConfig(manifest=manifest, out=path, backbone=backbone, device=device,
                                      batch_size=batch_size))
            features.append(path)
    return [read_features(p, features=False) for p in features], [str(p) for p in features]


def clip_logits(rows: list[dict], clip: ClipConfig | None) -> tuple[FeatureSet | None, dict]:
    """CLIP's zero-shot log-probabilities over the 1000 classes ("a drawing of a {name}") of the manifest's
    images, as one more set of logits, where open_clip weights are on disk (never downloaded); else (None, why)."""
    if clip is None:
        return None, {"status": "skipped", "reason": "--no-clip"}
    from datasets.vocabulary import load_vocabulary

    from .zeroshot import clip_log_probs

    paths = {r["id"]: r["filepath"] for r in rows if r.get("wnid")}
    logp, info = clip_log_probs(list(paths.values()), [c.wnid for c in load_vocabulary()], clip)
    if logp is None:
        return None, info
    logp = np.where(np.isnan(logp), -math.log(1000), logp)  # an unreadable file: no opinion
    fs = FeatureSet(features=np.zeros((len(paths), 0), np.float32), labels=np.full(len(paths), -1),
                    ids=np.asarray(list(paths), dtype=object), splits=np.asarray([""] * len(paths), dtype=object),
                    logits=logp.astype(np.float32))
    return fs, info


def mapping_table(judged: Judged) -> list[dict]:
    """One row per mapping, the least supported first (by the label model's estimated share of right drawings)."""
    table = []
    for m in judged.maps:
        counts = Counter(judged.checks[i]["verdict"] for i in m.rows)
        first = judged.checks[m.rows[0]]
        share = (first.get("evidence") or {}).get("mapping_share")
        table.append({"lemma": m.lemma, "lang": m.lang, "class": m.label, "wnid": m.wnid, "files": len(m.rows),
                      **{v: counts.get(v, 0) for v in VERDICTS},
                      "first_stage": "supported" if m.supported else "not supported",
                      "sense_share": round(m.share, 4), "typical_rank": round(m.typical_rank, 1),
                      "first_stage_score": round(m.margin, 3),
                      "estimated_right": None if share is None else round(share, 4),
                      "mapping_score": first.get("mapping_score")})
    return sorted(table, key=lambda t: (t["mapping_score"] if t["mapping_score"] is not None else math.inf,
                                        t["lemma"], t["wnid"]))


def position_of(sets: list[FeatureSet], names: list[str]) -> tuple[dict[str, int], list[np.ndarray]]:
    ids, logits = image_logits(sets, names)
    return {image: k for k, image in enumerate(ids)}, logits


def classifier_features(path: Path | None, position: dict[str, int]) -> np.ndarray | None:
    """The pooled features of the images of ``position``, in its order, from a features file (None: none)."""
    if path is None:
        return None
    fs = read_features(path, logits=False)
    if not fs.features.shape[1]:
        return None
    first = image_rows(fs)
    order = [first[i] for i in sorted(position, key=position.get)]
    return fs.features[order]


def summarize(rows: list[dict], out_rows: list[dict], judged: Judged, names: list[str], cfg: JudgeConfig,
              manifest: Path, rules: dict) -> dict:
    verdicts = verdict_counts(judged.checks)
    stage1 = Counter(c["stage1"]["verdict"] for c in judged.checks if c and "stage1" in c)
    return {"manifest": str(manifest), "features": names, "config": asdict(cfg), "rows_in": len(rows),
            "rows_out": len(out_rows), "labelled_rows": sum(verdicts.values()), "verdicts": verdicts,
            "first_stage_verdicts": {v: stage1.get(v, 0) for v in VERDICTS}, "moved": moved(judged.checks),
            "mappings": len(judged.maps), "mappings_supported": sum(m.supported for m in judged.maps),
            "rules": {"rules": len(rules), "rows_decided": judged.info.get("rules_applied", 0)},
            "model": {k: v for k, v in judged.info.items() if k != "rules_applied"},
            "images_labelled_out": len({r["id"] for r in out_rows if r.get("wnid")}),
            "classes_out": len({r["wnid"] for r in out_rows if r.get("wnid")}),
            "unlabelled_rows_out": sum(1 for r in out_rows if not r.get("wnid"))}


def verify(manifest: Path, out: Path, cfg: JudgeConfig, *, features: list[Path] | None = None,
           backbones: list[str] | None = None, device: str = "auto", batch_size: int | None = None,
           clip: ClipConfig | None = None, rules: Path | None = None) -> dict:
    """Run the stage: read, judge, write OUT/manifest.jsonl, mappings.csv and summary.json; return the summary.
    ``clip`` adds CLIP's zero-shot logits where its weights are on disk (None: not tried); ``rules`` is a
    curator's mappings file (``datasets.rules``; None: none)."""
    rows = read_manifest(manifest)
    if not any(r.get("wnid") for r in rows):
        raise ValueError(f"{manifest}: no labelled rows to verify")
    decided = read_rules(rules)
    sets, names = feature_sets(manifest, out, list(features or []), list(backbones or [DEFAULT_BACKBONE]),
                               device, batch_size)
    pooled = Path(names[0]) if "classifier" in cfg.evidence else None
    clip_set, clip_info = clip_logits(rows, clip)
    if clip_set is not None:
        sets, names = sets + [clip_set], names + [f"CLIP {clip_info['model']}"]
    position, logits = position_of(sets, names)
    missing = {r["id"] for r in rows if r.get("wnid") and r["id"] not in position}
    if missing:
        logger.warning("%d labelled image(s) have no features (e.g. %s): marked unsure", len(missing), min(missing))
    judged = judge_rows(rows, position, logits, cfg, rules=decided, features=classifier_features(pooled, position))
    out_rows = verified_rows(rows, judged.checks, out)
    table = mapping_table(judged)
    summary = {**summarize(rows, out_rows, judged, names, cfg, manifest, decided), "clip": clip_info,
               "rules_file": str(rules) if rules else None}
    write_jsonl(out / "manifest.jsonl", out_rows)
    atomic_write_text(out / "mappings.csv", table_csv(table))
    write_json(out / "summary.json", summary)
    return {**summary, "table": table}


def print_summary(s: dict, out: Path, rows: int = TABLE_ROWS) -> None:
    """The verdicts, and the ``rows`` least supported mappings (0: all)."""
    v, first, m = s["verdicts"], s["first_stage_verdicts"], s["moved"]
    clip = s.get("clip") or {}
    print(f"clip: {clip.get('model')} ({clip.get('weights')})" if clip.get("status") == "done"
          else f"clip: skipped: {clip.get('reason')}")
    print(f"{s['labelled_rows']:,} labelled rows: {v['accepted']:,} accepted, {v['unsure']:,} unsure, "
          f"{v['rejected']:,} rejected (first stage: {first['accepted']:,} / {first['unsure']:,} / "
          f"{first['rejected']:,}; {m['rescued']:,} rejected labels kept on more evidence, {m['demoted']:,} kept "
          f"ones rejected)")
    if s.get("rules_file"):
        print(f"curator's rules: {s['rules']['rules']} mapping decision(s) in {s['rules_file']} decided "
              f"{m['by_rule']:,} row(s)")
    print(f"kept: {s['images_labelled_out']:,} labelled images in {s['classes_out']} classes, "
          f"{s['unlabelled_rows_out']:,} unlabelled rows; evidence: {', '.join(s['model']['evidence']) or 'picture'}")
    if s["table"]:
        print(f"\n  the least supported mappings (all in {out / 'mappings.csv'}):")
        print(f"  {'lemma':<18} {'class':<24} {'files':>5} {'kept':>5} {'share':>7} {'rank':>6} {'right':>6}")
        for t in s["table"][:rows or None]:
            right = "-" if t["estimated_right"] is None else f"{t['estimated_right']:.0%}"
            print(f"  {t['lemma'][:18]:<18} {t['class'][:24]:<24} {t['files']:5d} {t['accepted'] + t['unsure']:5d} "
                  f"{t['sense_share']:7.3g} {t['typical_rank']:6.0f} {right:>6}")
    print(f"\nwrote {out / 'manifest.jsonl'}, {out / 'mappings.csv'} and {out / 'summary.json'}")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Check every name match of a manifest against the picture.",
                                add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--out", type=Path, required=True, help="output folder (manifest.jsonl, mappings.csv, summary.json)")
    p.add_argument("--features", type=Path, action="extend", nargs="+", default=None, metavar="FEATURES",
                   help="features files of the manifest's images (evaluation.extract), averaged; default: extract")
    p.add_argument("--backbone", action="extend", nargs="+", default=None, choices=sorted(DEFAULT_LAYERS),
                   metavar="NAME", help=f"without --features: the backbone(s) to extract with, from "
                   f"{', '.join(sorted(DEFAULT_LAYERS))} (default {DEFAULT_BACKBONE})")
    p.add_argument("--batch-size", type=int, default=None, help="extraction batch size")
    p.add_argument("--rules", type=Path, default=None,
                   help="a curator's mapping decisions (default: the workspace's mappings.jsonl, where there is one)")
    p.add_argument("--no-rules", action="store_true", help="ignore the curator's mapping decisions")
    p.add_argument("--evidence", default=",".join(EVIDENCE),
                   help="what the label model weighs besides the picture, comma-separated (default %(default)s; "
                        "'' for the picture alone)")
    d = StageConfig()
    for name, what in (("prior_weight", "exponent of the sense share in the mapping's evidence"),
                       ("mapping_rank", "a mapping is supported when share**w / its files' typical rank >= 1/this"),
                       ("file_rank", "a file of an unsupported mapping is kept when share / its rank >= 1/this"),
                       ("unsure_rank", "a file of a supported mapping ranked this or worse is unsure")):
        default = getattr(d, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default,
                       help=f"first stage: {what} (default %(default)s)")
    p.add_argument("--table-rows", type=int, default=TABLE_ROWS,
                   help="mappings printed, least supported first (default %(default)s; 0: all)")
    add_clip_arguments(p.add_argument_group("CLIP, one more set of logits where its weights are on disk"))
    return add_common_arguments(p)


def config_from_args(args: argparse.Namespace) -> JudgeConfig:
    """The judge's settings; a UsageError (exit 2) for a value or a pair of options that cannot work."""
    evidence = tuple(e.strip() for e in args.evidence.split(",") if e.strip())
    unknown = [e for e in evidence if e not in EVIDENCE]
    if unknown:
        raise UsageError(f"--evidence: unknown {', '.join(unknown)} (choose from {', '.join(EVIDENCE)})")
    for flag, value in (("--mapping-rank", args.mapping_rank), ("--file-rank", args.file_rank)):
        if not value > 0:
            raise UsageError(f"{flag} must be positive, got {value}")
    at_least(args.prior_weight, 0, "--prior-weight")
    at_least(args.unsure_rank, 1, "--unsure-rank")
    at_least(args.batch_size, 1, "--batch-size")
    table_rows(args.table_rows)
    if args.features and args.backbone:
        raise UsageError("--backbone chooses what to extract without --features: give one or the other")
    if args.rules is not None and args.no_rules:
        raise UsageError("--rules and --no-rules contradict each other: give one")
    if args.out.resolve() == args.manifest.resolve().parent:
        raise UsageError(f"--out {args.out} is the manifest's own folder: choose another, nothing is overwritten")
    new_folder(args.out)
    stage = StageConfig(prior_weight=args.prior_weight, mapping_rank=args.mapping_rank, file_rank=args.file_rank,
                        unsure_rank=args.unsure_rank)
    return JudgeConfig(stage=stage, model=ModelConfig(), decision=DecisionConfig(), evidence=evidence)


def rules_arg(args: argparse.Namespace) -> Path | None:
    """--rules, else the workspace's rules file where it exists; None with --no-rules."""
    if args.no_rules:
        return None
    if args.rules is not None:
        if not args.rules.is_file():  # a missing file: exit 1
            raise ValueError(f"--rules {args.rules}: no such file")
        return args.rules
    default = rules_path()
    return default if default.is_file() else None


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        cfg, clip = config_from_args(args), clip_config(args)
        rules = rules_arg(args)
    except UsageError as err:
        return usage(PROG, err)
    except ValueError as err:  # no such --rules or --clip-weights file, no such --device
        return fail(PROG, err)
    try:
        summary = verify(args.manifest, args.out, cfg, features=args.features,
                         backbones=args.backbone or [DEFAULT_BACKBONE], device=args.device,
                         batch_size=args.batch_size, clip=clip, rules=rules)
    except (ValueError, OSError, WeightsUnavailable) as err:
        return fail(PROG, err)
    print_summary(summary, args.out, args.table_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
