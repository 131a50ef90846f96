"""python -m datasets.build: clip-art file names -> a labelled, split dataset of ILSVRC classes.

    python -m datasets.build --source embedded --out out/embedded
    python -m datasets.build --source openclipart,tuxpaint --out out/drawn --min-images 25 --single-word
    python -m datasets.build --from ~/clipart ~/more-clipart --out out/mine --layout tree
    python -m datasets.build --source embedded --out out/pool --keep-unmatched --unmatched-limit 1000

Writes OUT/manifest.jsonl (one row per image and class), OUT/classes.json,
OUT/summary.json, OUT/rejected.jsonl and OUT/unmatched.jsonl; renders SVGs into
OUT/renders/<size>/ (or --render-cache) once and reuses them on the next run.
Nothing outside OUT and the render cache is written; a build that keeps no image writes nothing and
exits 1, each file's reason logged.

A name the matcher settled among several candidates (``harp``: harp, not harmonica;
see ``datasets.match``) gives one row, ``ambiguous: false``, with every candidate
wnid in ``candidates`` and the rule in ``resolved_by`` (null elsewhere).

``--keep-unmatched`` also keeps the files whose names match no class, as one
unlabelled row each (``label``, ``wnid``, ``class_index``, ``lemma``, ``lang`` and
``sense_rank`` null, ``matched_words`` and ``candidates`` empty): an open pool to
label by hand, checked, rendered and split like every other image. They come after
the labelled rows, pass every class filter, and go under OUT/{train,val}/_unlabelled/
in ``--layout tree``. A file byte-identical to a matched one is that labelled image.
``--unmatched-limit N`` keeps N of them, the first by SHA-1 of (source, name): the
same files on every run, and a larger N keeps a superset (at most N rows: a broken one
goes to rejected.jsonl, a copy of a labelled image joins it). unmatched.jsonl still
lists every unmatched name.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from multiprocessing import Pool
from pathlib import Path

from tqdm import tqdm

from scraping.cli import (TABLE_ROWS, UsageError, add_common_arguments, check_folder, default_workers,
                         fail, setup_logging, usage)
from scraping.sources import Source, SourceFile, available, create_source, embedded

from .images import (
    MAX_NAME_LENGTH,
    BadImage,
    ImageInfo,
    file_problem,
    name_problem,
    prepare_image,
)
from .manifest import relative_filepath, safe_text, write_json, write_jsonl
from .match import DEFAULT_LANGUAGES, MODES, Match, Matcher, MatchResult
from .splits import assign_split
from .subsets import resolve_classes, select
from .tables import class_table, dataset_counts, write_tree
from .vocabulary import Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)


@dataclass
class BuildConfig:
    out: Path  # output folder; the only place the build writes
    mode: str = "strict"  # "strict" or "thesis" (Algorithm 1)
    languages: tuple[str, ...] = DEFAULT_LANGUAGES  # strict: other languages read through OMW, by precedence
    render_size: int = 256  # longer side of SVG renders, px
    val_fraction: float = 0.2
    seed: int = 0  # split seed
    classes: list[str] = field(default_factory=list)  # keep only these (names, wnids or indices)
    min_images: int = 0  # keep classes with at least this many images
    single_word: bool = False  # thesis rule: one-word, unshared class names, no ambiguous images
    max_sense_rank: int | None = None  # strict: drop rows whose class is a rarer sense of the word
    layout: str = "flat"  # "tree" also links OUT/{train,val}/<class>/
    workers: int = field(default_factory=default_workers)
    max_name_length: int = MAX_NAME_LENGTH
    render_cache: Path | None = None  # shared render folder; default OUT/renders
    keep_unmatched: bool = False  # also keep files whose names match no class, as unlabelled rows
    unmatched_limit: int | None = None  # with keep_unmatched: at most this many, a stable hash sample


META_FIELDS = ("license_url", "author", "author_url", "title", "keywords")  # kept where the source has them


@dataclass
class Candidate:
    file: SourceFile
    result: MatchResult


def _reject(f: SourceFile, reason: str) -> dict:
    return {"path": safe_text(str(f.path)), "original_name": safe_text(f.original_name), "source": f.source, "reason": reason}


def scan(sources: list[Source], matcher: Matcher, *, max_name_length: int = MAX_NAME_LENGTH,
         pool: list[Candidate] | None = None):
    """Match every file's name; return (candidates, unmatched rows, rejected rows, files seen).

    Files that match nothing are also appended to ``pool`` where one is given.
    """
    candidates, unmatched, rejected = [], [], []
    seen = 0
    for source in sources:
        for f in tqdm(source.files(), desc=f"match {source.name}", unit=" files", leave=False, disable=None):
            seen += 1
            reason = name_problem(f.original_name, max_name_length) or (
                file_problem(f.path) if f.data is None else (None if f.data else "empty SVG document")
            )
            if reason:
                rejected.append(_reject(f, reason))
                continue
            result = matcher.match(f.text, f.noise)
            if result.matches:
                candidates.append(Candidate(f, result))
            else:
                unmatched.append({"original_name": f.original_name, "source": f.source, "tokens": list(result.tokens)})
                if pool is not None:
                    pool.append(Candidate(f, result))
    return candidates, unmatched, rejected, seen


def sample_unmatched(pool: list[Candidate], limit: int | None) -> list[Candidate]:
    """The first ``limit`` files (all for None) by SHA-1 of (source, original name).

    The order depends on the names alone, so a rerun keeps the same files and a larger
    limit keeps a superset of a smaller one's.
    """
    def key(c: Candidate) -> tuple[str, str]:
        name = f"{c.file.source}\0{c.file.original_name}".encode("utf-8", "surrogateescape")
        return hashlib.sha1(name).hexdigest(), str(c.file.path)

    ordered = sorted(pool, key=key)
    return ordered if limit is None else ordered[:limit]


def _prepare_one(task):
    i, path, render_dir, size, data = task
    try:
        return i, prepare_image(path, render_dir, size, data)
    except BadImage as err:
        return i, str(err)


def prepare(candidates: list[Candidate], render_dir: Path, size: int, workers: int):
    """Hash, decode or render every candidate in parallel; return ({i: ImageInfo}, rejected rows)."""
    tasks = [(i, c.file.path, render_dir, size, c.file.data) for i, c in enumerate(candidates)]
    infos: dict[int, ImageInfo] = {}
    rejected = []
    bar = tqdm(total=len(tasks), desc="check/render", unit=" img", leave=False, disable=None)
    results = map(_prepare_one, tasks)
    pool = Pool(workers) if workers > 1 and len(tasks) > 8 else None
    if pool is not None:
        results = pool.imap_unordered(_prepare_one, tasks, chunksize=4)
    try:
        for i, out in results:
            if isinstance(out, ImageInfo):
                infos[i] = out
            else:
                rejected.append(_reject(candidates[i].file, out))
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    rejected.sort(key=lambda r: r["path"])
    return infos, rejected


def image_labels(results: list[MatchResult]) -> tuple[list[Match], list[str], str | None]:
    """The classes of one image from its files' match results.

    Returns (the chosen matches by class index, every candidate wnid sorted, the rule
    that set candidates aside or None); no matches means an unlabelled image.
    """
    chosen: dict[str, Match] = {}
    every: set[str] = set()
    rules = []
    for result in results:
        for m in result.matches:
            chosen.setdefault(m.wnid, m)
        every.update(m.wnid for m in result.candidates)
        if result.resolved_by:
            rules.append(result.resolved_by)
    resolved_by = rules[0] if rules and len(every) > len(chosen) else None
    return sorted(chosen.values(), key=lambda m: m.class_index), sorted(every), resolved_by


def image_row(image_id: str, info: ImageInfo, f: SourceFile, split: str, m: Match | None, cfg: BuildConfig) -> dict:
    """One manifest row: image ``image_id`` from file ``f`` in class ``m`` (None: unlabelled)."""
    meta = f.meta
    return {
        "id": image_id,
        "filepath": relative_filepath(info.filepath, cfg.out),
        "original_name": f.original_name,
        "label": m.label if m else None,
        "wnid": m.wnid if m else None,
        "class_index": m.class_index if m else None,
        "split": split,
        "matched_words": list(m.tokens) if m else [],
        "lemma": m.lemma if m else None,
        "lang": m.lang if m else None,
        "sense_rank": m.sense_rank if m else None,
        "ambiguous": False,
        "candidates": [],
        "resolved_by": None,
        "source": f.source,
        "style": meta.get("style"),
        "set": meta.get("set"),
        "license": meta.get("license") or "unknown",
        "width": info.width,
        "height": info.height,
        **{k: meta[k] for k in META_FIELDS if meta.get(k)},
    }


def make_rows(candidates: list[Candidate], infos: dict[int, ImageInfo], cfg: BuildConfig) -> tuple[list[dict], int]:
    """One row per (image, class), or one unlabelled row for an image that matched nothing.

    Byte-identical files become one image, labelled if any of them matched (it is
    named after the first that did); return (rows: labelled by class, then unlabelled
    by name; duplicates merged).
    """
    by_id: dict[str, list[int]] = {}
    for i in sorted(infos):
        by_id.setdefault(infos[i].id, []).append(i)
    rows = []
    for image_id, members in by_id.items():
        matches, every, resolved_by = image_labels([candidates[i].result for i in members])
        first = next((i for i in members if candidates[i].result.matches), members[0])
        split = assign_split(image_id, val_fraction=cfg.val_fraction, seed=cfg.seed)
        duplicates = [candidates[i].file.original_name for i in members if i != first]
        for m in matches or [None]:
            row = image_row(image_id, infos[first], candidates[first].file, split, m, cfg)
            if m is not None:
                row.update(ambiguous=len(matches) > 1, candidates=every, resolved_by=resolved_by)
            if duplicates:
                row["duplicates"] = duplicates
            rows.append(row)
    rows.sort(key=lambda r: (r["class_index"] is None, r["class_index"] or 0, r["original_name"], r["id"]))
    return rows, sum(len(m) - 1 for m in by_id.values())


class NothingKept(ValueError):
    """A build that would keep no image: nothing is written, and the message says why and what to do."""


def check_config(cfg: BuildConfig, vocab: Vocabulary) -> None:
    """A UsageError naming the option for a value out of range or a combination that cannot work."""
    if cfg.unmatched_limit is not None and not cfg.keep_unmatched:
        raise UsageError("--unmatched-limit (unmatched_limit) only applies with --keep-unmatched (keep_unmatched)")
    for option, value, low in (("--unmatched-limit", cfg.unmatched_limit, 0), ("--min-images", cfg.min_images, 0),
                               ("--max-sense-rank", cfg.max_sense_rank, 0), ("--render-size", cfg.render_size, 1),
                               ("--workers", cfg.workers, 1), ("--max-name-length", cfg.max_name_length, 1)):
        if value is not None and value < low:
            raise UsageError(f"{option} must be {low} or more, got {value}")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}")
    if cfg.mode not in MODES:
        raise UsageError(f"--mode {cfg.mode}: choose from {', '.join(MODES)}")
    resolve_classes(cfg.classes, vocab)
    if cfg.mode == "strict" and cfg.languages:
        from .lexicon import omw_languages

        have = omw_languages()
        unknown = [lang for lang in cfg.languages if lang not in have]
        if unknown:
            raise UsageError(f"--languages: no Open Multilingual Wordnet for {', '.join(unknown)}; have: "
                             f"{', '.join(have)} ('' for English only)")
    check_folder(cfg.out)
    check_folder(cfg.render_cache, "--render-cache")


def nothing_kept(sources: list[Source], seen: int, rejected: list[dict], unmatched: list[dict],
                 matched: int, cfg: BuildConfig) -> NothingKept:
    """Log why each file was left out (the first 20 of each kind), and the one-line error that points there."""
    for rows, what in ((rejected, "rejected"), (unmatched, "name matches no ILSVRC class")):
        for r in rows[:20]:
            logger.warning("%s: %s", r.get("path") or r["original_name"], r.get("reason") or what)
        if len(rows) > 20:
            logger.warning("... and %d more files %s", len(rows) - 20, what)
    names = ", ".join(f"{s.name} ({s.root})" if getattr(s, "root", None) else s.name for s in sources) or "no source"
    if matched:
        why = (f"{matched} images matched a class, but the selection (--classes, --min-images, --single-word, "
               "--max-sense-rank) left none: relax it")
    else:
        why = (f"{seen} files seen, {len(rejected)} rejected, {len(unmatched)} whose name matches no ILSVRC class "
               "(each is logged above): give image files named after a class (python -m datasets.vocabulary NAME "
               "looks one up)")
    return NothingKept(f"no image kept from {names}: {why}; nothing was written to {cfg.out}")


def build(sources: list[Source], cfg: BuildConfig, vocab: Vocabulary | None = None) -> dict:
    """Run the whole build; return the summary that is also written to OUT/summary.json. A build that keeps no
    image raises NothingKept and writes nothing (a folder OUT it made for renders is removed)."""
    start = time.time()
    vocab = vocab or load_vocabulary()
    check_config(cfg, vocab)
    matcher = Matcher(vocab, cfg.mode, languages=tuple(cfg.languages))
    made_out = not cfg.out.exists()
    pool: list[Candidate] | None = [] if cfg.keep_unmatched else None
    candidates, unmatched, rejected, seen = scan(sources, matcher, max_name_length=cfg.max_name_length, pool=pool)
    kept = sample_unmatched(pool, cfg.unmatched_limit) if pool is not None else []
    render_dir = (cfg.render_cache or cfg.out / "renders") / str(cfg.render_size)
    infos, bad = prepare(candidates + kept, render_dir, cfg.render_size, cfg.workers)
    rejected += bad
    for r in rejected:
        logger.debug("rejected %s: %s", r["path"], r["reason"])
    all_rows, duplicates = make_rows(candidates + kept, infos, cfg)
    rows, subset = select(all_rows, vocab, classes=cfg.classes, min_images=cfg.min_images,
                          single_word=cfg.single_word, max_sense_rank=cfg.max_sense_rank)
    if not rows:
        if made_out and cfg.out.is_dir():
            shutil.rmtree(cfg.out)  # only this build's renders are in it
        raise nothing_kept(sources, seen, rejected, unmatched, len({r["id"] for r in all_rows}), cfg)

    write_jsonl(cfg.out / "manifest.jsonl", rows)
    write_jsonl(cfg.out / "rejected.jsonl", rejected)
    write_jsonl(cfg.out / "unmatched.jsonl", unmatched)
    table = class_table(rows, vocab)
    classes = sorted(table, key=lambda c: c["class_index"])
    lemmas = {c["wnid"]: list(vocab.by_wnid(c["wnid"]).lemmas) for c in classes}
    write_json(cfg.out / "classes.json", [{"index": i, **c, "lemmas": lemmas[c["wnid"]]} for i, c in enumerate(classes)])
    if cfg.layout == "tree":
        write_tree(rows, cfg.out, vocab)
    summary = build_summary(sources, cfg, (seen, candidates, unmatched, kept, rejected, duplicates), all_rows, rows,
                            table, subset)
    summary["elapsed_s"] = round(time.time() - start, 1)
    write_json(cfg.out / "summary.json", summary)
    return summary


def build_summary(sources: list[Source], cfg: BuildConfig, scanned: tuple, all_rows: list[dict], rows: list[dict],
                  table: list[dict], subset: str) -> dict:
    """What the build did: ``scanned`` is (files seen, candidates, unmatched, unmatched kept, rejected, merged)."""
    seen, candidates, unmatched, kept, rejected, duplicates = scanned
    return {
        "subset": subset,
        "mode": cfg.mode,
        "sources": [s.name for s in sources],
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "files_seen": seen,
        "files_matched": len(candidates),
        "files_unmatched": len(unmatched),
        "files_unmatched_kept": len(kept),
        "files_rejected": len(rejected),
        "rejected_reasons": dict(Counter(r["reason"].split(":")[0] for r in rejected).most_common()),
        "exact_duplicates_merged": duplicates,
        "images_matched": len({r["id"] for r in all_rows if r["wnid"] is not None}),
        "classes_matched": len({r["wnid"] for r in all_rows if r["wnid"] is not None}),
        **dataset_counts(rows, table),
    }


def format_summary(summary: dict, out: Path, rows_shown: int = TABLE_ROWS) -> str:
    s = summary
    reasons = ", ".join(f"{k}: {v}" for k, v in s["rejected_reasons"].items())
    lines = [
        f"{s['subset']} subset, {s['mode']} matching, from {', '.join(s['sources'])}",
        f"  files: {s['files_seen']} seen, {s['files_matched']} matched, {s['files_unmatched']} unmatched, "
        f"{s['files_rejected']} rejected" + (f" ({reasons})" if reasons else ""),
        f"  matched before selection: {s['images_matched']} images in {s['classes_matched']} classes",
        f"  dataset: {s['images']} images, {s['classes']} classes, {s['rows']} image-class rows, "
        f"{s['ambiguous_images']} ambiguous; train {s['splits'].get('train', 0)}, val {s['splits'].get('val', 0)}",
        *(["  settled among shared names: " + ", ".join(f"{n} by {rule}" for rule, n in s["resolved_images"].items())
           + " (one row each; the other classes are in candidates)"] if s.get("resolved_images") else []),
        *([f"  open pool: {s['unlabelled_images']} unlabelled images (label null) of {s['files_unmatched_kept']} "
           "unmatched files kept; in the images above, in no class"] if s["config"]["keep_unmatched"] else []),
        f"  {s['exact_duplicates_merged']} byte-identical files merged"
        + (f"; {s['commonest_sense_rows']} rows use the matched word's commonest WordNet sense "
           "(review the rest by sense_rank: 'head' -> promontory is 15)" if s["mode"] == "strict" else ""),
        "",
        f"  {'source':16} {'style':22} {'images':>7} {'classes':>8}",
        *(f"  {t['source']:16} {t['style'][:22]:22} {t['images']:7d} {t['classes']:8d}" for t in s["per_style"]),
        "",
        f"  {'class':32} {'wnid':10} {'train':>6} {'val':>5} {'total':>6}",
    ]
    shown = s["per_class"] if rows_shown <= 0 else s["per_class"][:rows_shown]
    lines += [f"  {c['label'][:32]:32} {c['wnid']:10} {c['train']:6d} {c['val']:5d} {c['total']:6d}" for c in shown]
    if len(shown) < len(s["per_class"]):
        more = len(s["per_class"]) - len(shown)
        lines.append(f"  ... and {more} more classes (--table-rows 0 shows all; all are in summary.json)")
    lines += [
        "",
        f"  manifest  {out / 'manifest.jsonl'}",
        f"  classes   {out / 'classes.json'}",
        f"  summary   {out / 'summary.json'}",
        f"  rejected  {out / 'rejected.jsonl'}",
        f"  unmatched {out / 'unmatched.jsonl'}",
    ]
    return "\n".join(lines)


def parse_sources(spec: str | None, folders: list[Path]) -> list[Source]:
    """``--source a,b=ROOT`` plus ``--from DIR`` -> sources; ROOT overrides a source's default folder.

    ``embedded`` stands for every source of the offline library. An unknown name is a UsageError; a missing
    folder a FileNotFoundError.
    """
    items = [(name.strip(), root) for name, _, root in (i.partition("=") for i in (spec or "").split(",") if i)]
    unknown = [name for name, _ in items if name != "embedded" and name not in available()]
    if unknown:
        raise UsageError(f"--source {', '.join(unknown)}: unknown; choose from embedded, {', '.join(available())}")
    sources = []
    for name, root in items:
        if name == "embedded" and not root:
            sources += [create_source(n) for n in embedded() if n not in {s.name for s in sources}]
        else:
            sources.append(create_source(name, **({"root": root} if root else {})))
    # a folder written by scraping.crawl is read through its manifest (names and titles), any other by file names
    from scraping.sources.store import is_store

    sources += [create_source("store" if is_store(d) else "dir", root=d) for d in folders]
    return sources


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Build a labelled ILSVRC-class dataset from clip-art file names.", add_help=add_help)
    g = p.add_argument_group("inputs")
    g.add_argument("--source", help="comma-separated sources, each NAME or NAME=ROOT; 'embedded' is the whole "
                   f"offline library ({', '.join(embedded())}); available: {', '.join(available())}")
    g.add_argument("--from", dest="folders", type=Path, action="extend", nargs="+", default=[], metavar="DIR",
                   help="folder trees of images, matched by file name (repeatable)")
    g.add_argument("--out", type=Path, required=True, help="output folder")
    g = p.add_argument_group("matching and selection")
    g.add_argument("--mode", choices=MODES, default="strict", help="strict lemma matching (default) or the thesis's Algorithm 1")
    g.add_argument("--languages", default=",".join(DEFAULT_LANGUAGES),
                   help="strict: other languages to read names in through the Open Multilingual Wordnet, "
                   "first wins (default %(default)s; '' for English only)")
    g.add_argument("--classes", default="", help="keep only these classes: comma-separated names, wnids or indices")
    g.add_argument("--min-images", type=int, default=0, help="keep classes with at least N images (the thesis used 25)")
    g.add_argument("--single-word", action="store_true", help="keep one-word, unshared class names and unambiguous images")
    g.add_argument("--max-sense-rank", type=int, default=None,
                   help="strict: drop rows whose class is not among the matched word's N+1 commonest WordNet senses")
    g.add_argument("--keep-unmatched", action="store_true",
                   help="also keep files whose names match no class, as unlabelled rows (label null): an open pool "
                   "rendered and split like the rest, untouched by the class filters")
    g.add_argument("--unmatched-limit", type=int, default=None, metavar="N",
                   help="with --keep-unmatched: keep N of them, the same N on every run (the first by SHA-1 of "
                   "source and name; a larger N keeps a superset)")
    g = p.add_argument_group("split and output")
    g.add_argument("--val-fraction", type=float, default=0.2, help="share of images in val (default 0.2)")
    g.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    g.add_argument("--layout", choices=("flat", "tree"), default="flat", help="tree also writes OUT/{train,val}/<class>/ links")
    g.add_argument("--render-size", type=int, default=256, help="longer side of SVG renders in px (default 256)")
    g.add_argument("--render-cache", type=Path, default=None,
                   help="share SVG renders between builds in this folder (default: OUT/renders)")
    g.add_argument("--workers", type=int, default=None,
                   help="processes for decoding and rendering (default: the cores this process may use, at most 8)")
    g.add_argument("--max-name-length", type=int, default=MAX_NAME_LENGTH, help="reject longer file names")
    g.add_argument("--table-rows", type=int, default=TABLE_ROWS,
                   help="classes shown in the printed table (default %(default)s; 0: all)")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        if not args.source and not args.folders:
            raise UsageError("give --source NAME and/or --from DIR")
        if args.table_rows < 0:
            raise UsageError(f"--table-rows must be 0 (all) or more, got {args.table_rows}")
        cfg = BuildConfig(
            out=args.out, mode=args.mode, languages=tuple(x.strip() for x in args.languages.split(",") if x.strip()),
            max_sense_rank=args.max_sense_rank, render_size=args.render_size, val_fraction=args.val_fraction,
            seed=args.seed, classes=[c for c in args.classes.split(",") if c.strip()], min_images=args.min_images,
            single_word=args.single_word, layout=args.layout,
            workers=default_workers() if args.workers is None else args.workers,
            max_name_length=args.max_name_length, render_cache=args.render_cache, keep_unmatched=args.keep_unmatched,
            unmatched_limit=args.unmatched_limit)
        check_config(cfg, load_vocabulary())  # every usage error before a source is opened
        summary = build(parse_sources(args.source, args.folders), cfg)
    except UsageError as err:
        return usage("datasets.build", err)
    except (KeyError, IndexError):  # a bug, not bad input: its traceback
        raise
    except (ValueError, OSError, LookupError) as err:  # a missing folder, corpora missing, no image kept
        return fail("datasets.build", err)
    print(format_summary(summary, args.out, args.table_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
