"""Choose which classes of a matched dataset to keep: ``noisy``, ``noisy-K`` or a named list.

    python -m datasets.subsets --manifest out/embedded-verified/manifest.jsonl --out out/thesis \
        --min-images 25 --single-word --max-sense-rank 1

``datasets.build`` applies ``select`` while it builds; ``python -m datasets.subsets`` applies it to a
manifest already built, or verified by ``evaluation.verify`` (its rejected labels are unlabelled rows,
and ``--verdicts`` says which verified labels count), without matching or rendering again.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scraping.cli import TABLE_ROWS, UsageError, add_common_arguments, check_folder, fail, setup_logging, usage

from .vocabulary import ImageNetClass, Vocabulary, load_vocabulary


def is_single_word(cls: ImageNetClass, vocab: Vocabulary) -> bool:
    """The thesis's rule: a one-word primary name that no other class shares."""
    return re.fullmatch(r"[^\W\d_]+", cls.name) is not None and vocab.is_unique_name(cls)


def resolve_classes(names: list[str], vocab: Vocabulary) -> list[ImageNetClass]:
    """Classes for user-given names, wnids or indices; an unknown one is an error naming it."""
    out: dict[str, ImageNetClass] = {}
    unknown = []
    for name in names:
        found = vocab.resolve(name)
        if not found:
            unknown.append(name)
        for cls in found:
            out[cls.wnid] = cls
    if unknown:
        raise UsageError(f"--classes: no ILSVRC-2012 class named {', '.join(map(repr, unknown))}; "
                         "python -m datasets.vocabulary NAME looks one up")
    return list(out.values())


def select(
    rows: list[dict],
    vocab: Vocabulary,
    *,
    classes: list[str] | None = None,
    min_images: int = 0,
    single_word: bool = False,
    max_sense_rank: int | None = None,
) -> tuple[list[dict], str]:
    """Filter manifest rows; return them with the subset's name.

    ``single_word`` also drops ambiguous images, as the thesis kept only unambiguous
    ones (an image the matcher settled among shared names is not ambiguous);
    ``max_sense_rank`` drops rows whose class is a rarer WordNet sense of the
    matched word ("head" -> promontory is 15); ``min_images`` counts distinct images
    per class after the other filters. Unlabelled rows (``wnid`` null, from
    ``--keep-unmatched``) are the open pool: every filter keeps them, and they count
    toward no class.
    """
    name = "noisy"
    keep = [r for r in rows if r["wnid"] is not None]
    if max_sense_rank is not None:
        keep = [r for r in keep if r.get("sense_rank") is not None and r["sense_rank"] <= max_sense_rank]
    if classes:
        wanted = {c.wnid for c in resolve_classes(classes, vocab)}
        keep = [r for r in keep if r["wnid"] in wanted]
        name = "selected"
    if single_word:
        keep = [r for r in keep if not r["ambiguous"] and is_single_word(vocab.by_wnid(r["wnid"]), vocab)]
    if min_images > 0:
        counts = Counter(r["wnid"] for r in keep)
        keep = [r for r in keep if counts[r["wnid"]] >= min_images]
        name = f"{name}-{min_images}"
    kept = {id(r) for r in keep}
    return [r for r in rows if r["wnid"] is None or id(r) in kept], name


@dataclass
class SubsetConfig:
    out: Path  # output folder
    classes: list[str] = field(default_factory=list)  # keep only these (names, wnids or indices)
    min_images: int = 0  # classes with at least this many images (after the other filters)
    single_word: bool = False
    max_sense_rank: int | None = None
    sources: list[str] = field(default_factory=list)  # keep only rows of these sources
    verdicts: tuple[str, ...] = ("accepted", "unsure")  # evaluation.verify verdicts a labelled row needs
    unlabelled: int | None = 0  # unlabelled rows kept: 0 none, None all, N a stable sample
    layout: str = "flat"


def stable_sample(rows: list[dict], limit: int | None) -> list[dict]:
    """The first ``limit`` rows (all for None) by SHA-1 of the image id: a larger limit keeps a superset."""
    ordered = sorted(rows, key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())
    return ordered if limit is None else ordered[:limit]


def subset_rows(rows: list[dict], vocab: Vocabulary, cfg: SubsetConfig) -> tuple[list[dict], str]:
    """A subset of a (verified) manifest's rows: labelled rows whose ``label_check`` verdict is wanted (rows with
    none, from an unverified build, pass), filtered as ``select`` does; then unlabelled rows: those a verifier
    rejected from a kept class (a curator may confirm them), the rest a stable sample of ``cfg.unlabelled``."""
    if cfg.sources:
        rows = [r for r in rows if r["source"] in cfg.sources]
    labelled = [r for r in rows if r["wnid"] is not None
                and (r.get("label_check") is None or r["label_check"]["verdict"] in cfg.verdicts)]
    chosen, name = select(labelled, vocab, classes=cfg.classes, min_images=cfg.min_images,
                          single_word=cfg.single_word, max_sense_rank=cfg.max_sense_rank)
    if any(r.get("label_check") for r in chosen):
        name = name.replace("noisy", "verified", 1)  # "verified-25": the thesis's noisy-25, checked by evaluation.verify
    kept_classes = {r["wnid"] for r in chosen}
    unlabelled = [r for r in rows if r["wnid"] is None]
    rejected = [r for r in unlabelled if r.get("rejected_wnid") in kept_classes]
    others = [r for r in unlabelled if r.get("rejected_wnid") not in kept_classes]
    pool = stable_sample(others, cfg.unlabelled) if cfg.unlabelled != 0 else []
    return chosen + rejected + pool, name


def write_subset(manifest: Path, cfg: SubsetConfig, vocab: Vocabulary | None = None) -> dict:
    """Read ``manifest``, write the subset's manifest.jsonl (paths relative to OUT), classes.json and summary.json."""
    from .manifest import read_manifest, relative_filepath, write_json, write_jsonl
    from .tables import class_table, dataset_counts, write_tree

    if Path(cfg.out).resolve() == Path(manifest).resolve().parent:
        raise UsageError(f"--out {cfg.out} is the manifest's own folder: choose another, nothing is overwritten")
    check_folder(cfg.out, error=ValueError)
    vocab = vocab or load_vocabulary()
    every = read_manifest(manifest)
    absent = [s for s in cfg.sources if s not in {r["source"] for r in every}]
    if absent:
        raise ValueError(f"--source {','.join(absent)}: no row of {manifest} comes from it; its sources: "
                         f"{', '.join(sorted({r['source'] for r in every}))}")
    rows, name = subset_rows(every, vocab, cfg)
    if not any(r["wnid"] for r in rows):
        raise ValueError(f"{manifest}: no labelled row passes the filters")
    out = Path(cfg.out)
    rows = [dict(r, filepath=relative_filepath(Path(r["filepath"]), out)) for r in rows]
    write_jsonl(out / "manifest.jsonl", rows)
    table = class_table(rows, vocab)
    classes = sorted(table, key=lambda c: c["class_index"])
    write_json(out / "classes.json", [{"index": i, **c, "lemmas": list(vocab.by_wnid(c["wnid"]).lemmas)}
                                      for i, c in enumerate(classes)])
    if cfg.layout == "tree":
        write_tree(rows, out, vocab)
    summary = {"subset": name, "from": str(manifest), "config": {k: (str(v) if isinstance(v, Path) else v)
                                                                  for k, v in asdict(cfg).items()},
               "rejected_rows_kept": sum(1 for r in rows if r.get("rejected_wnid")), **dataset_counts(rows, table)}
    write_json(out / "summary.json", summary)
    return summary


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="A subset of a built or verified manifest, without rebuilding.",
                                add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl (datasets.build or evaluation.verify)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--classes", default="", help="keep only these classes: comma-separated names, wnids or indices")
    p.add_argument("--min-images", type=int, default=0, help="keep classes with at least N images")
    p.add_argument("--single-word", action="store_true", help="one-word, unshared class names; no ambiguous images")
    p.add_argument("--max-sense-rank", type=int, default=None, help="drop rows whose class is a rarer sense of the word")
    p.add_argument("--source", default="", help="keep only these sources (comma-separated)")
    p.add_argument("--verdicts", default="accepted,unsure",
                   help="evaluation.verify verdicts a labelled row needs (default %(default)s)")
    p.add_argument("--unlabelled", default="0", metavar="N|all",
                   help="unlabelled rows to keep besides those rejected from a kept class: a stable sample of N, "
                   "or all (default 0)")
    p.add_argument("--layout", choices=("flat", "tree"), default="flat", help="tree also writes OUT/{train,val}/<class>/")
    p.add_argument("--table-rows", type=int, default=TABLE_ROWS,
                   help="classes shown in the printed table (default %(default)s; 0: all)")
    return add_common_arguments(p)


def subset_config(args: argparse.Namespace) -> SubsetConfig:
    """The subset's settings from the command line; a value out of range is a UsageError."""
    verdicts = tuple(v.strip() for v in args.verdicts.split(",") if v.strip())
    if not verdicts or not set(verdicts) <= {"accepted", "unsure", "rejected"}:
        raise UsageError(f"--verdicts: choose from accepted, unsure (and rejected), got {args.verdicts!r}")
    if args.unlabelled != "all" and not args.unlabelled.isdigit():
        raise UsageError(f"--unlabelled: a number or 'all', got {args.unlabelled!r}")
    for option, value in (("--min-images", args.min_images), ("--max-sense-rank", args.max_sense_rank),
                          ("--table-rows", args.table_rows)):
        if value is not None and value < 0:
            raise UsageError(f"{option} must be 0 or more, got {value}")
    return SubsetConfig(out=args.out, classes=[c for c in args.classes.split(",") if c.strip()],
                        min_images=args.min_images, single_word=args.single_word, max_sense_rank=args.max_sense_rank,
                        sources=[s.strip() for s in args.source.split(",") if s.strip()], verdicts=verdicts,
                        unlabelled=None if args.unlabelled == "all" else int(args.unlabelled), layout=args.layout)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        cfg = subset_config(args)
        resolve_classes(cfg.classes, load_vocabulary())
        s = write_subset(args.manifest, cfg)
    except UsageError as err:
        return usage("datasets.subsets", err)
    except (ValueError, OSError) as err:
        return fail("datasets.subsets", err)
    print(f"{s['subset']} subset of {args.manifest}: {s['images']} images ({s['unlabelled_images']} unlabelled, "
          f"{s['rejected_rows_kept']} of them rejected by evaluation.verify), {s['classes']} classes; "
          f"train {s['splits'].get('train', 0)}, val {s['splits'].get('val', 0)}")
    shown = s["per_class"] if args.table_rows <= 0 else s["per_class"][:args.table_rows]
    for c in shown:
        print(f"  {c['label'][:32]:32} {c['wnid']:10} {c['train']:6d} {c['val']:5d} {c['total']:6d}")
    print(f"wrote {args.out / 'manifest.jsonl'}, classes.json and summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
