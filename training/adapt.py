"""python -m training.adapt: a backbone adapted to drawings, from every verified class of a library.

    python -m training.adapt --manifest out/embedded-verified/manifest.jsonl --backbone efficientnet-lite1 \\
        --out runs/adapt-lite1 [--exclude out/user/manifest.jsonl] [--holdout-style openclipart] [--epochs 30]
    python -m evaluation.extract --manifest YOUR/manifest.jsonl --backbone runs/adapt-lite1/best.pt --out adapted.h5

The network learns drawings from the library, and is then used frozen, as a feature extractor, on
a dataset it never saw. So that a measurement on the library's own val split stays fair, what it
trains on is chosen here, and written down next to the checkpoint (``adapt.json``):

1. the labelled rows of ``--manifest`` (verified labels: ``evaluation.verify``'s manifest);
2. less **every val row** of ``--manifest`` and every row of each ``--exclude`` manifest (a user's
   dataset, the thesis subset's val split): the same image id never trains;
3. less every train row whose perceptual hash is within ``--phash-distance`` bits of an excluded
   image (the same drawing re-saved, resized or recoloured under another id);
4. less classes with fewer than ``--min-images`` rows left;
5. a stratified ``--stop-fraction`` of what is left (seeded) becomes the run's own val split: it
   only stops the training early and lowers the learning rate, so no excluded image chooses
   the epoch either.

Then ``training.finetune`` trains it with the ``drawings`` recipe (a linear-probe head, the
upper layers fine-tuned, drawing-style augmentation) and no evaluation. The checkpoint is
``OUT/best.pt``; ``evaluation.extract --backbone OUT/best.pt`` reads its network from it. A
killed run continues where it stopped when the same command is given again.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets.manifest import read_manifest
from datasets.splits import split_score
from scraping.cli import UsageError, add_common_arguments, at_least, check_folder, fail, setup_logging, usage
from scraping.files import write_json, write_jsonl

logger = logging.getLogger(__name__)
PROG = "training.adapt"

RECIPE = "drawings"
STOP_SEED = 1  # the run's own val split is drawn with another seed than the library's split (0)


@dataclass
class AdaptConfig:
    manifest: Path
    out: Path
    exclude: list[Path] = field(default_factory=list)
    backbone: str = "efficientnet-lite1"
    min_images: int = 3
    stop_fraction: float = 0.1
    phash_distance: int = 4  # perceptual-hash bits; -1: no near-duplicate check
    holdout_style: str | None = None
    seed: int = 0


@dataclass
class Selection:
    rows: list[dict]  # the adaptation manifest's rows, split train / val (early stopping)
    counts: dict  # what was left out, and why


def excluded_rows(cfg: AdaptConfig, rows: list[dict]) -> list[dict]:
    """Every val row of ``--manifest`` and every row of the ``--exclude`` manifests, one per image id."""
    excluded = [r for r in rows if r.get("split") != "train"]
    for path in cfg.exclude:
        excluded += read_manifest(path)
    return list({r["id"]: r for r in excluded}.values())


def image_phash(path: str) -> str | None:
    import imagehash

    from scraping.pixels import load_rgb

    try:
        return str(imagehash.phash(load_rgb(path)))
    except (OSError, ValueError) as err:
        logger.warning("%s: no perceptual hash (%s); it is kept", path, err)
        return None


def near_excluded(train: list[dict], excluded: list[dict], distance: int) -> set[str]:
    """Ids of ``train`` rows within ``distance`` hash bits of an ``excluded`` row."""
    from tqdm import tqdm

    from scraping.phash import phash_bits, phash_pairs

    rows = [*train, *excluded]
    bar = tqdm(rows, desc="perceptual hashes", unit=" image", disable=None)
    hashes = [image_phash(r["filepath"]) for r in bar]
    known = [i for i, h in enumerate(hashes) if h]
    if len(known) < 2:
        return set()
    bits = phash_bits([f"{int(hashes[i], 16):016x}" for i in known])
    near = set()
    for a, b in phash_pairs(bits, distance).tolist():
        i, j = known[a], known[b]
        if (i < len(train)) != (j < len(train)):  # one side trains, the other is excluded
            near.add(rows[min(i, j)]["id"])
    return near


def stop_split(rows: list[dict], fraction: float, seed: int) -> list[dict]:
    """Each class's ``fraction`` of rows (rounded, at least one from a class of 1/fraction rows or more) as val."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_class[r["wnid"]].append(r)
    val: set[str] = set()
    for members in by_class.values():
        members.sort(key=lambda r: split_score(r["id"], seed))
        val.update(r["id"] for r in members[: int(len(members) * fraction + 0.5)])
    return [{**r, "split": "val" if r["id"] in val else "train"} for r in rows]


def select(cfg: AdaptConfig) -> Selection:
    rows = [r for r in read_manifest(cfg.manifest) if r.get("wnid") is not None]
    if not rows:
        raise ValueError(f"{cfg.manifest}: no labelled rows")
    excluded = excluded_rows(cfg, rows)
    out_ids = {r["id"] for r in excluded}
    train = [r for r in rows if r["id"] not in out_ids]
    near: set[str] = set()
    if cfg.phash_distance >= 0 and excluded:
        near = near_excluded(train, excluded, cfg.phash_distance)
        train = [r for r in train if r["id"] not in near]
    sizes = Counter(r["wnid"] for r in train)
    kept = [r for r in train if sizes[r["wnid"]] >= cfg.min_images]
    if not kept:
        raise ValueError(f"{cfg.manifest}: no class keeps {cfg.min_images}+ rows once the excluded images are out")
    if cfg.holdout_style is not None:
        from .data import holdout_rows

        holdout_rows(kept, cfg.holdout_style, str(cfg.manifest))  # a style the selection lacks: an error now
    counts = {"labelled": len(rows), "excluded_ids": len(out_ids), "excluded_rows": len(rows) - len(train) - len(near),
              "near_duplicates": len(near), "small_class_rows": len(train) - len(kept),
              "classes": len({r["wnid"] for r in kept}), "styles": len({str(r.get("style")) for r in kept})}
    split = stop_split(kept, cfg.stop_fraction, cfg.seed + STOP_SEED)
    counts["train"] = sum(r["split"] == "train" for r in split)
    counts["stop_val"] = len(split) - counts["train"]
    return Selection(split, counts)


def write_selection(cfg: AdaptConfig, sel: Selection) -> Path:
    """``OUT/adapt-manifest.jsonl`` and ``OUT/adapt.json``; a resumed run must find the same selection."""
    manifest = cfg.out / "adapt-manifest.jsonl"
    digest = hashlib.sha256("\n".join(f"{r['id']} {r['wnid']} {r['split']}" for r in sel.rows).encode()).hexdigest()
    record = cfg.out / "adapt.json"
    if (cfg.out / "last.pt").exists() and record.exists():
        before = json.loads(record.read_text()).get("selection_sha256")
        if before != digest:
            raise ValueError(f"{cfg.out}: the run was started on another selection of images (other --manifest, "
                             "--exclude or settings); choose another --out")
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(manifest, sel.rows)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    settings["exclude"] = [str(p) for p in cfg.exclude]
    write_json(record, {"settings": settings, "recipe": RECIPE, "counts": sel.counts, "selection_sha256": digest})
    return manifest


def check_config(cfg: AdaptConfig) -> None:
    """A UsageError for a value out of range (an --out that is a file: an OSError), before anything is read or
    written."""
    if not 0 < cfg.stop_fraction < 1:
        raise UsageError(f"--stop-fraction must be between 0 and 1 (both excluded), got {cfg.stop_fraction}")
    at_least(cfg.min_images, 1, "--min-images")
    if not -1 <= cfg.phash_distance <= 64:
        raise UsageError(f"--phash-distance must be -1 (no check) to 64 bits, got {cfg.phash_distance}")
    check_folder(cfg.out)


# training.finetune options that training.adapt sets itself: none may follow --
OWN = ("manifest", "out", "workspace", "resume", "backbone", "recipe", "seed", "holdout_style", "no_evaluate")


def finetune_argv(cfg: AdaptConfig, manifest: Path, extra: argparse.Namespace, argv: list[str]) -> list[str]:
    """training.finetune's command line: a new run, or the same run resumed (``argv``: the options after --,
    ``extra``: them parsed; a resumed run takes only the options that may change)."""
    if (cfg.out / "last.pt").exists():
        resume = ["--resume", str(cfg.out)]
        for key in ("epochs", "workers"):
            resume += [f"--{key}", str(getattr(extra, key))] if getattr(extra, key) is not None else []
        resume += ["--device", extra.device] if extra.device != "auto" else []
        return resume + ["--compile"] * extra.compile + ["--extract"] * extra.extract
    out = ["--manifest", str(manifest), "--out", str(cfg.out), "--backbone", cfg.backbone, "--recipe", RECIPE,
           "--seed", str(cfg.seed), "--no-evaluate", *argv]
    return out + (["--holdout-style", cfg.holdout_style] if cfg.holdout_style else [])


def finetune_args(cfg: AdaptConfig, argv: list[str], loud: list[str]) -> argparse.Namespace:
    """training.finetune's parsed and checked options, before anything is written (``loud``: -q or -v)."""
    from training import finetune

    from .runtime import check_device
    from .settings import check_args

    parser, given = finetune.get_args_parser(), finetune.get_args_parser()
    for action in given._actions:  # parsed with no defaults: the options named after --, whatever their value
        action.default = argparse.SUPPRESS
    clash = ["--" + k.replace("_", "-") for k in OWN if k in vars(given.parse_args(argv))]
    defaults = vars(parser.parse_args([]))
    extra = parser.parse_args(argv)
    if clash:
        raise UsageError(f"after --, leave out {', '.join(clash)}: training.adapt sets them (give --backbone, "
                         "--seed and --holdout-style before --)")
    args = parser.parse_args([*finetune_argv(cfg, cfg.out / "adapt-manifest.jsonl", extra, argv), *loud])
    check_args(args, defaults)
    check_device(args.device)
    return args


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    from .backbones import DEFAULT_LAYERS

    p = argparse.ArgumentParser(description="Fine-tune a backbone on every verified class of a library, keeping "
                                "val and excluded images out, for frozen features elsewhere.", add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="the library's verified manifest (evaluation.verify)")
    p.add_argument("--out", type=Path, required=True, help="run folder: best.pt, last.pt, adapt.json")
    p.add_argument("--exclude", type=Path, action="extend", nargs="+", default=[], metavar="MANIFEST",
                   help="keep every image of these manifests out of training too")
    p.add_argument("--backbone", default=AdaptConfig.backbone, choices=sorted(DEFAULT_LAYERS),
                   help="network (default %(default)s)")
    p.add_argument("--min-images", type=int, default=AdaptConfig.min_images,
                   help="a class trains with at least this many rows (default %(default)s)")
    p.add_argument("--stop-fraction", type=float, default=AdaptConfig.stop_fraction,
                   help="each class's share kept for early stopping (default %(default)s)")
    p.add_argument("--phash-distance", type=int, default=AdaptConfig.phash_distance,
                   help="perceptual-hash bits within which a train image counts as an excluded one's copy "
                   "(default %(default)s; -1: no check)")
    p.add_argument("--holdout-style", default=None, metavar="STYLE",
                   help="leave this style out too (for evaluation.svm --holdout-style STYLE)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("finetune", nargs=argparse.REMAINDER,
                   help="after --, options for training.finetune: --epochs, --batch-size, --device, --workers ...")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    from training import finetune

    setup_logging(args)
    cfg = AdaptConfig(manifest=args.manifest, out=args.out, exclude=list(args.exclude), backbone=args.backbone,
                      min_images=args.min_images, stop_fraction=args.stop_fraction,
                      phash_distance=args.phash_distance, holdout_style=args.holdout_style, seed=args.seed)
    loud = ["--quiet"] if args.quiet else ["--verbose"] if args.verbose else []
    try:
        check_config(cfg)
        ft_args = finetune_args(cfg, [a for a in args.finetune if a != "--"], loud)
        sel = select(cfg)
        write_selection(cfg, sel)
    except UsageError as err:
        return usage(PROG, err)
    except (ValueError, OSError) as err:
        return fail(PROG, err)
    c = sel.counts
    print(f"training.adapt: {c['train']} train and {c['stop_val']} early-stopping images, {c['classes']} classes, "
          f"{c['styles']} styles; left out {c['excluded_rows']} val/excluded rows and {c['near_duplicates']} near "
          f"copies of them ({cfg.out / 'adapt.json'})")
    code = finetune.main(ft_args)
    if code == 0:
        print(f"features: python -m evaluation.extract --manifest MANIFEST --backbone {cfg.out / 'best.pt'} "
              "--out adapted.h5")
    return code


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
