"""python -m evaluation.verify: check every name match against the picture.

    python -m evaluation.verify --manifest out/embedded/manifest.jsonl --out out/embedded-verified
    python -m evaluation.verify --manifest M --out DIR --features M_DIR/features-efficientnet-lite1.h5
    python -m evaluation.verify --manifest M --out DIR --backbone efficientnet-lite1 efficientnet-lite2

A name match says a file *may* show a class; the network says whether it looks like one. Three
levels are judged (mapping, phrase, file), with two pieces of evidence:

* **The picture** (``class_ranks``): the ImageNet head's log-probabilities, standardised per class
  over the dataset's own images (median and MAD), so that a class the network gives every drawing
  ("envelope", "Band Aid" for flat icons) counts for nothing; then the rank of the matched class
  among the 1000 for this image (0 = the class stands out most). Several backbones are averaged.
* **The word** (``datasets.match.sense_share``): how often WordNet's tagged corpus uses the word
  in the class's sense: "head" is a promontory once in 288, "bubble" a soap bubble 7 times in 10.

**The mapping** (lemma -> class, over all its files) is supported when
``share ** prior_weight / typical_rank >= 1 / mapping_rank``, with the typical rank the geometric mean
of its files' (rank + 1): heads never look like promontories, e-mail icons never like chain mail.
Every file of a supported mapping is accepted; one whose picture shows no sign of the class (rank
``unsure_rank`` or worse, below the median drawing) is ``unsure`` and keeps its label for a person to
check. A *phrase* of a supported mapping (the content word before the match, with ``phrase_min_files``
files or more: "oil drum", "speech balloon", "information desk") is judged the same way on its own files,
and where it is not supported its files are judged as those of an unsupported mapping. **A file** of an
unsupported mapping (or phrase) is accepted only when its own picture says so
(``share / (rank + 1) >= 1 / file_rank``: a soap bubble among chat bubbles), else rejected.
``label_check.score`` is the margin of the evidence that decided, in natural-log units: >= 0 accepted
(``phrase`` names the phrase where one decided; ``mapping_score`` is then the phrase's margin).

Measured on the judged sample of the embedded library (``tests/fixtures/labels``, 320 files judged
right or wrong; ``benchmarks/label_precision.py``), with EfficientNet-Lite1: the class's own rank
separates right from wrong files with AUC 0.83, the mapping's typical rank with 0.91, both with the
sense share 0.95. The rank of the class's WordNet or weight-space neighbourhood did no better
(0.78-0.85), per-style normalisation worse, Lite0+1+2 averaged no better than Lite1 alone. The
defaults (1.5, 200, 20) trade precision against the drawings kept: 96.1% precision keeping 84.1% of
the right labels; phrases take it to 97.2% keeping 83.1%. A quasi-curated set of the library's own
right mappings (993 files, mostly emoji and icons) loses 2.7% of them (27 files; 1.4% to the mapping
rule alone).

Writes ``OUT/manifest.jsonl``: the same rows, each labelled row with ``label_check`` (``verdict``:
accepted, rejected or unsure; ``reason``; ``score``; ``mapping_score``, the mapping's margin). A
rejected row keeps its class in ``rejected_label`` / ``rejected_wnid`` / ``rejected_class_index`` and
becomes unlabelled (``label``, ``wnid``, ``class_index`` null), so ``evaluation.suggest`` may propose a
class for it; where another class of the same image is kept, the rejected row is dropped and named in
the kept row's ``label_check.rejected_candidates``. Rows that had no label keep ``label_check`` null.
CLIP's zero-shot log-probabilities over the 1000 classes join the backbones' logits where open_clip
weights are on disk (``--clip-model``, ``--clip-weights``; never downloaded, ``--no-clip`` to skip).
Also ``OUT/mappings.csv`` (lemma, class, files, verdicts, evidence: for people to read, worst first)
and ``OUT/summary.json``. Without ``--features``, the features are extracted into
``OUT/features-<backbone>.h5`` (resumable, as ``evaluation.extract``).
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from datasets.manifest import atomic_write_text, read_manifest, relative_filepath, write_json, write_jsonl
from datasets.lexicon import stop_words
from datasets.match import name_stem, sense_share, split_words
from training.backbones import DEFAULT_BACKBONE, DEFAULT_LAYERS, WeightsUnavailable

from .features import FeatureSet, image_rows, read_features
from .metrics import log_softmax
from .zeroshot import ClipConfig, add_clip_arguments

logger = logging.getLogger(__name__)

VERDICTS = ("accepted", "unsure", "rejected")
ROW_CHUNK = 4096  # images per block when ranking


@dataclass
class VerifyConfig:
    prior_weight: float = 1.5  # the exponent of the sense share in the mapping's evidence
    mapping_rank: float = 200.0  # a mapping is supported when share**prior_weight / typical rank >= 1/this
    file_rank: float = 20.0  # a file of an unsupported mapping is accepted when share / (rank+1) >= 1/this
    unsure_rank: int = 500  # a file of a supported mapping ranked this or worse is "unsure"
    phrase_min_files: int = 3  # a phrase of a supported mapping with this many files is judged on its own
    norm_sample: int = 20_000  # images the per-class median and MAD are taken over (a seeded sample above)
    seed: int = 0


def class_ranks(logit_sets: list[np.ndarray], images: np.ndarray, classes: np.ndarray, *,
                sample: int = 20_000, seed: int = 0) -> np.ndarray:
    """Rank (0 = first) of class ``classes[k]`` among the 1000 for image ``images[k]``.

    ``logit_sets`` are the backbones' logits of the dataset's distinct images (each (N, 1000), rows
    aligned). Log-probabilities are standardised per class by their median and MAD over the images
    (a seeded sample of ``sample`` of them above that) and summed over the backbones; ties count in the
    class's favour."""
    n = len(logit_sets[0])
    pick = np.arange(n) if n <= sample else np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    stats = []
    for logits in logit_sets:
        ref = log_softmax(logits[pick])
        med = np.median(ref, axis=0)
        stats.append((med, np.median(np.abs(ref - med), axis=0) + 1e-6))
    ranks = np.empty(len(images), dtype=np.int64)
    for start in range(0, len(images), ROW_CHUNK):
        rows = images[start:start + ROW_CHUNK]
        z = sum((log_softmax(logits[rows]) - med) / mad for logits, (med, mad) in zip(logit_sets, stats))
        true = z[np.arange(len(rows)), classes[start:start + ROW_CHUNK]]
        ranks[start:start + len(rows)] = (z > true[:, None]).sum(axis=1)
    return ranks


def image_logits(sets: list[FeatureSet], names: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """(the images every features file holds, each file's logits of them, one row an image)."""
    firsts = []
    for fs, name in zip(sets, names, strict=True):
        if fs.logits is None or fs.logits.shape[1] != 1000:
            raise ValueError(f"{name}: no 1000-way ImageNet logits (a fine-tuned head cannot verify ImageNet classes)")
        firsts.append(image_rows(fs))
    ids = [i for i in firsts[0] if all(i in f for f in firsts[1:])]
    return ids, [fs.logits[[f[i] for i in ids]] for fs, f in zip(sets, firsts)]


@dataclass
class Mapping:
    lemma: str
    wnid: str
    label: str
    lang: str
    rows: list[int]  # manifest row numbers
    share: float  # sense share of the lemma for the class
    typical_rank: float  # geometric mean of the files' (rank + 1)
    margin: float  # log evidence minus log threshold: >= 0 supported

    @property
    def supported(self) -> bool:
        return self.margin >= 0


def mappings_of(rows: list[dict], ranks: dict[int, int], cfg: VerifyConfig) -> list[Mapping]:
    """The (lemma, class) mappings of the labelled rows that have a picture rank."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.get("wnid") and i in ranks:
            groups[(row.get("lemma") or row["label"], row["wnid"], row.get("lang") or "eng")].append(i)
    out = []
    for (lemma, wnid, lang), members in groups.items():
        first = rows[members[0]]
        share = min(max(sense_share(lemma, wnid, lang, first.get("sense_rank")), 1e-3), 1.0)
        log_typical = float(np.mean([math.log1p(ranks[i]) for i in members]))
        margin = cfg.prior_weight * math.log(share) - log_typical + math.log(cfg.mapping_rank)
        out.append(Mapping(lemma, wnid, first["label"], lang, members, share, math.exp(log_typical), margin))
    return out


def judge_file(m: Mapping, rank: int, cfg: VerifyConfig) -> dict:
    """The ``label_check`` of one file of mapping ``m`` whose picture ranks the class ``rank``."""
    own = math.log(m.share) - math.log1p(rank) + math.log(cfg.file_rank)
    where = f"'{m.lemma}' -> {m.label}"
    evidence = (f"the files of {where} rank the class {m.typical_rank:.0f} of 1000 typically, sense share "
                f"{m.share:.3g}; this picture ranks it {rank + 1}")
    if m.supported:
        verdict = "unsure" if rank + 1 >= cfg.unsure_rank else "accepted"
        reason = (f"{evidence}: the mapping is supported" +
                  (", but this picture shows no sign of the class" if verdict == "unsure" else ""))
        score = max(m.margin, own)
    elif own >= 0:
        verdict, reason, score = "accepted", f"{evidence}: the mapping is not supported, this picture is", own
    else:
        verdict, reason, score = "rejected", f"{evidence}: neither the mapping nor this picture is supported", max(m.margin, own)
    return {"verdict": verdict, "reason": reason, "score": round(float(score), 4),
            "mapping_score": round(float(m.margin), 4)}


def phrase_of(row: dict, stop: frozenset[str]) -> str | None:
    """The content word right before the matched words in the file's title or name: "oil" of ``oil-drum``,
    "speech" of ``speech-balloon``; None when they come first."""
    matched = list(row.get("matched_words") or [])
    for text in (row.get("title"), name_stem(row.get("original_name") or "").split(":")[-1]):
        words = split_words(text or "")
        for k in range(len(words) - len(matched) + 1):
            if matched and words[k:k + len(matched)] == matched:
                before = [w for w in words[:k] if w not in stop]
                return before[-1] if before else None
    return None


def phrases_of(rows: list[dict], m: Mapping, ranks: dict[int, int], cfg: VerifyConfig) -> list[Mapping]:
    """The phrases of a supported mapping ("oil drum" within "drum") with ``phrase_min_files`` files or more,
    each judged as a mapping of its own."""
    groups: dict[str, list[int]] = defaultdict(list)
    stop = stop_words()
    for i in m.rows:
        word = phrase_of(rows[i], stop)
        if word:
            groups[word].append(i)
    out = []
    for word, members in sorted(groups.items()):
        if len(members) >= cfg.phrase_min_files and len(members) < len(m.rows):
            log_typical = float(np.mean([math.log1p(ranks[i]) for i in members]))
            margin = cfg.prior_weight * math.log(m.share) - log_typical + math.log(cfg.mapping_rank)
            out.append(Mapping(f"{word} {m.lemma}", m.wnid, m.label, m.lang, members, m.share,
                               math.exp(log_typical), margin))
    return out


def judge(rows: list[dict], ranks: dict[int, int], cfg: VerifyConfig) -> tuple[list[dict | None], list[Mapping]]:
    """(``label_check`` of every row, None where it has no label; the mappings). A file of a supported mapping
    is judged by its phrase where the phrase is not supported ("oil drum"), else by its mapping."""
    checks: list[dict | None] = [None] * len(rows)
    maps = mappings_of(rows, ranks, cfg)
    for m in maps:
        for i in m.rows:
            checks[i] = judge_file(m, ranks[i], cfg)
        for phrase in (phrases_of(rows, m, ranks, cfg) if m.supported else []):
            if not phrase.supported:
                for i in phrase.rows:
                    checks[i] = dict(judge_file(phrase, ranks[i], cfg), phrase=phrase.lemma)
    for i, row in enumerate(rows):
        if row.get("wnid") and checks[i] is None:
            checks[i] = {"verdict": "unsure", "reason": "no picture evidence: the image could not be read",
                         "score": 0.0, "mapping_score": 0.0}
    return checks, maps


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


def mapping_table(maps: list[Mapping], checks: list[dict | None]) -> list[dict]:
    """One row per mapping, the least supported first."""
    table = []
    for m in sorted(maps, key=lambda m: (m.margin, m.lemma, m.wnid)):
        counts = Counter(checks[i]["verdict"] for i in m.rows)
        table.append({"lemma": m.lemma, "lang": m.lang, "class": m.label, "wnid": m.wnid, "files": len(m.rows),
                      **{v: counts.get(v, 0) for v in VERDICTS},
                      "verdict": "supported" if m.supported else "not supported",
                      "sense_share": round(m.share, 4), "typical_rank": round(m.typical_rank, 1),
                      "mapping_score": round(m.margin, 3)})
    return table


def table_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    if table:
        writer = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    return buf.getvalue()


def verify_rows(rows: list[dict], sets: list[FeatureSet], names: list[str],
                cfg: VerifyConfig) -> tuple[list[dict | None], list[Mapping]]:
    """Judge the labelled rows of a manifest against the features files of its images; a labelled image
    the files lack (undecodable, left out by the extraction) is "unsure"."""
    ids, logits = image_logits(sets, names)
    position = {image: k for k, image in enumerate(ids)}
    todo = [i for i, r in enumerate(rows) if r.get("wnid") and r["id"] in position]
    missing = {r["id"] for r in rows if r.get("wnid") and r["id"] not in position}
    if missing:
        logger.warning("%d labelled image(s) have no features (e.g. %s): marked unsure", len(missing), min(missing))
    ranks = class_ranks(logits, np.asarray([position[rows[i]["id"]] for i in todo], dtype=np.int64),
                        np.asarray([rows[i]["class_index"] for i in todo], dtype=np.int64),
                        sample=cfg.norm_sample, seed=cfg.seed) if todo else []
    return judge(rows, dict(zip(todo, (int(r) for r in ranks))), cfg)


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


def summarize(rows: list[dict], out_rows: list[dict], checks: list[dict | None], maps: list[Mapping],
              names: list[str], cfg: VerifyConfig, manifest: Path) -> dict:
    verdicts = Counter(c["verdict"] for c in checks if c)
    return {"manifest": str(manifest), "features": names, "config": asdict(cfg), "rows_in": len(rows),
            "rows_out": len(out_rows), "labelled_rows": sum(verdicts.values()),
            "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
            "mappings": len(maps), "mappings_supported": sum(m.supported for m in maps),
            "images_labelled_out": len({r["id"] for r in out_rows if r.get("wnid")}),
            "classes_out": len({r["wnid"] for r in out_rows if r.get("wnid")}),
            "unlabelled_rows_out": sum(1 for r in out_rows if not r.get("wnid"))}


def verify(manifest: Path, out: Path, cfg: VerifyConfig, *, features: list[Path] | None = None,
           backbones: list[str] | None = None, device: str = "auto", batch_size: int | None = None,
           clip: ClipConfig | None = None) -> dict:
    """Run the stage: read, judge, write OUT/manifest.jsonl, mappings.csv and summary.json; return the summary.
    ``clip`` adds CLIP's zero-shot logits where its weights are on disk (None: not tried)."""
    rows = read_manifest(manifest)
    if not any(r.get("wnid") for r in rows):
        raise ValueError(f"{manifest}: no labelled rows to verify")
    sets, names = feature_sets(manifest, out, list(features or []), list(backbones or [DEFAULT_BACKBONE]),
                               device, batch_size)
    clip_set, clip_info = clip_logits(rows, clip)
    if clip_set is not None:
        sets, names = sets + [clip_set], names + [f"CLIP {clip_info['model']}"]
    checks, maps = verify_rows(rows, sets, names, cfg)
    out_rows = verified_rows(rows, checks, out)
    table = mapping_table(maps, checks)
    summary = {**summarize(rows, out_rows, checks, maps, names, cfg, manifest), "clip": clip_info}
    write_jsonl(out / "manifest.jsonl", out_rows)
    atomic_write_text(out / "mappings.csv", table_csv(table))
    write_json(out / "summary.json", summary)
    return {**summary, "table": table}


def print_summary(s: dict, out: Path, rows: int = 15) -> None:
    v = s["verdicts"]
    clip = s.get("clip") or {}
    print(f"clip: {clip.get('model')} ({clip.get('weights')})" if clip.get("status") == "done"
          else f"clip: skipped: {clip.get('reason')}")
    print(f"{s['labelled_rows']:,} labelled rows: {v['accepted']:,} accepted, {v['unsure']:,} unsure, "
          f"{v['rejected']:,} rejected; {s['mappings_supported']} of {s['mappings']} mappings supported")
    print(f"kept: {s['images_labelled_out']:,} labelled images in {s['classes_out']} classes, "
          f"{s['unlabelled_rows_out']:,} unlabelled rows")
    if rows:
        print(f"\n  the least supported mappings (all in {out / 'mappings.csv'}):")
        print(f"  {'lemma':<18} {'class':<24} {'files':>5} {'kept':>5} {'share':>7} {'rank':>6}  verdict")
        for t in s["table"][:rows]:
            print(f"  {t['lemma'][:18]:<18} {t['class'][:24]:<24} {t['files']:5d} {t['accepted'] + t['unsure']:5d} "
                  f"{t['sense_share']:7.3g} {t['typical_rank']:6.0f}  {t['verdict']}")
    print(f"\nwrote {out / 'manifest.jsonl'}, {out / 'mappings.csv'} and {out / 'summary.json'}")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Check every name match of a manifest against the picture.",
                                add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--out", type=Path, required=True, help="output folder (manifest.jsonl, mappings.csv, summary.json)")
    p.add_argument("--features", type=Path, nargs="+", default=None,
                   help="features files of the manifest's images (evaluation.extract), averaged; default: extract")
    p.add_argument("--backbone", nargs="+", default=[DEFAULT_BACKBONE], choices=sorted(DEFAULT_LAYERS),
                   help="without --features: the backbone(s) to extract with (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=None, help="extraction batch size")
    d = VerifyConfig()
    for name, what in (("prior_weight", "exponent of the sense share in the mapping's evidence"),
                       ("mapping_rank", "a mapping is supported when share**w / its files' typical rank >= 1/this"),
                       ("file_rank", "a file of an unsupported mapping is kept when share / its rank >= 1/this"),
                       ("unsure_rank", "a file of a supported mapping ranked this or worse is unsure")):
        default = getattr(d, name)
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default,
                       help=f"{what} (default %(default)s)")
    p.add_argument("--table-rows", type=int, default=15, help="mappings printed, least supported first")
    add_clip_arguments(p.add_argument_group("CLIP, one more set of logits where its weights are on disk"))
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = VerifyConfig(prior_weight=args.prior_weight, mapping_rank=args.mapping_rank, file_rank=args.file_rank,
                       unsure_rank=args.unsure_rank)
    try:
        if args.out.resolve() == args.manifest.resolve().parent:
            raise ValueError(f"--out {args.out} is the manifest's own folder: choose another, nothing is overwritten")
        if args.clip_weights and not Path(args.clip_weights).is_file():
            raise ValueError(f"--clip-weights {args.clip_weights}: no such file")
        clip = None if args.no_clip else ClipConfig(model=args.clip_model, pretrained=args.clip_pretrained,
                                                    weights=args.clip_weights, template=args.clip_template,
                                                    batch_size=args.clip_batch_size, device=args.device)
        summary = verify(args.manifest, args.out, cfg, features=args.features, backbones=args.backbone,
                         device=args.device, batch_size=args.batch_size, clip=clip)
    except (ValueError, OSError, WeightsUnavailable) as err:
        print(f"evaluation.verify: {err}", file=sys.stderr)
        return 2
    print_summary(summary, args.out, args.table_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
