"""python -m evaluation.extract: a backbone's features and ImageNet logits for a manifest, to HDF5.

    python -m evaluation.extract --manifest out/embedded/manifest.jsonl --backbone efficientnet-lite1 --out feats.h5
    python -m evaluation.extract --manifest M --backbone vgg19 --layer fc7 --weights vgg19.pth --out fc7.h5
    python -m evaluation.extract --manifest M --backbone efficientnet-lite2 --tta flip --out lite2-flip.h5

``--tta flip`` averages each image's features (and logits) with its mirror's. ``--normalize``
feeds the network another normalisation than its own (``imagenet`` mean/std, or ``lite``:
(x - 127) / 128), to check which one a model was trained with; the file's attrs record both.

Each image is read once (an image in two classes gives two rows with the same
features). Work goes into ``.<out>.partial`` as it is done, so an interrupted run
resumes where it stopped; the final file appears whole, by rename. Images that
cannot be decoded are skipped and listed in ``<out stem>.rejected.jsonl``. Unlabelled rows
(``datasets.build --keep-unmatched``: ``class_index`` null) are extracted like any other, with
label ``evaluation.features.UNLABELLED`` (-1) and wnid and label name "".
On a GPU it runs in bfloat16 autocast with channels_last.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets.manifest import read_manifest, write_jsonl
from training.backbones import (DEFAULT_BACKBONE, DEFAULT_LAYERS, NORMALIZATIONS, WeightsUnavailable, create_backbone,
                                normalization_name, renormalized)
from training.images import ImageFiles, collate_skipping_bad
from training.runtime import keep_freed_memory

from .features import UNLABELLED, FeatureSet, write_features

logger = logging.getLogger(__name__)


@dataclass
class ExtractConfig:
    manifest: Path
    out: Path
    backbone: str = DEFAULT_BACKBONE
    layer: str | None = None  # the backbone's default when None
    weights: str | None = None  # a path, "random", or None for the pretrained default
    batch_size: int | None = None  # None: 256 on a GPU, 64 on CPU
    workers: int | None = None  # None: all cores but one on a GPU, 1 on CPU (the network needs the cores)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"...
    amp: bool = True  # bfloat16 autocast, on CUDA only
    tta: str = "none"  # "flip": the mean of the image's and its mirror's features and logits
    normalize: str | None = None  # "lite" or "imagenet"; None: the backbone's own
    flush_every: int = 20  # batches between flushes of the partial file
    stop_after: int | None = None  # stop after this many batches, leaving the partial file (tests, timing)


def partial_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def rejected_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejected.jsonl")


def _fingerprint(describe: dict, preprocessing: dict, ids: list[str]) -> str:
    blob = json.dumps([describe, preprocessing, ids], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _open_partial(path: Path, fingerprint: str, n: int, dim: int, logits: int):
    """The partial file for this exact job, created or reopened; one for another job is replaced."""
    import h5py

    if path.exists():
        try:
            f = h5py.File(path, "a")
            if f.attrs.get("fingerprint") == fingerprint:
                return f
            f.close()
            logger.warning("%s belongs to another extraction (backbone, weights or images differ): starting over", path)
        except OSError:
            logger.warning("%s is unreadable (killed mid-write?): starting over", path)
        path.unlink()
    f = h5py.File(path, "w")
    f.attrs["fingerprint"] = fingerprint
    chunk = (min(n, 256), dim)
    f.create_dataset("features", (n, dim), dtype="f4", chunks=chunk)
    f.create_dataset("logits", (n, logits), dtype="f4", chunks=(min(n, 256), logits))
    f.create_dataset("done", (n,), dtype=bool)
    f.create_dataset("bad", (n,), dtype=bool)
    f.create_dataset("errors", (n,), dtype=h5py.string_dtype())
    return f


TTA = ("none", "flip")


def check_tta(tta: str) -> None:
    if tta not in TTA:
        raise ValueError(f"unknown --tta {tta!r}; choose from {', '.join(TTA)}")


def forward_batch(backbone, x: torch.Tensor, tta: str = "none") -> tuple[torch.Tensor, torch.Tensor]:
    """(features, ImageNet-order logits) of a normalised batch; ``tta="flip"`` averages the image's and its
    horizontal mirror's (one forward pass of both, stacked)."""
    check_tta(tta)
    if tta == "flip":
        feats, logits = backbone(torch.cat([x, x.flip(-1)]))
        n = len(x)
        feats, logits = (feats[:n] + feats[n:]) / 2, (logits[:n] + logits[n:]) / 2
    else:
        feats, logits = backbone(x)
    return feats, backbone.imagenet_logits(logits)  # a fine-tuned head's classes among the 1000


def trained_without_style(weights: str | None) -> str:
    """The style a fine-tuned checkpoint was trained without (``training.finetune --holdout-style``), or ""."""
    if not weights or weights == "random" or not Path(weights).is_file():
        return ""
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a plain state dict that is not ours, or unreadable: create_backbone says so
        return ""
    args = obj.get("args") if isinstance(obj, dict) else None
    return str((args or {}).get("holdout_style") or "")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def extract(cfg: ExtractConfig) -> dict:
    """Run (or resume) one extraction; return a summary. Raises ValueError on bad input."""
    rows = read_manifest(cfg.manifest)
    if not rows:
        raise ValueError(f"{cfg.manifest}: no rows")
    image_ids = list(dict.fromkeys(r["id"] for r in rows))
    first = {}
    for r in rows:
        first.setdefault(r["id"], r)
    paths = [str(first[i]["filepath"]) for i in image_ids]

    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    batch_size = cfg.batch_size or (256 if cuda else 64)
    workers = cfg.workers if cfg.workers is not None else (max(1, (os.cpu_count() or 2) - 1) if cuda else 1)
    if not cuda:
        keep_freed_memory()
    check_tta(cfg.tta)  # before the network loads
    backbone = create_backbone(cfg.backbone, cfg.layer, cfg.weights).to(device)
    backbone = backbone.to(memory_format=torch.channels_last)  # faster convolutions on CPU too
    backbone.preprocessing = renormalized(backbone.preprocessing, cfg.normalize)
    prep = asdict(backbone.preprocessing)
    fingerprint = _fingerprint({**backbone.describe(), "tta": cfg.tta}, prep, image_ids)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(cfg.out)
    f = _open_partial(part, fingerprint, len(image_ids), backbone.feature_dim, 1000)
    start = time.perf_counter()
    try:
        done = f["done"][...] | f["bad"][...]
        todo = np.flatnonzero(~done)
        if len(todo) < len(image_ids):
            logger.info("resuming: %d of %d images already done", len(image_ids) - len(todo), len(image_ids))
        loader = DataLoader(
            # workers stop at uint8; normalising on the device moves a quarter of the bytes
            ImageFiles([paths[i] for i in todo], backbone.preprocessing, normalize=False),
            batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_skipping_bad,
            pin_memory=cuda, persistent_workers=False,
        )
        processed = 0
        bar = tqdm(loader, desc=f"extract {backbone.name}/{backbone.layer}", unit=" batch", disable=None)
        for step, (local, x, bad) in enumerate(bar):
            for j, err in bad:
                k = int(todo[j])
                f["bad"][k], f["errors"][k] = True, err
                logger.warning("skipped %s: %s", paths[k], err)
            if x is not None:
                idx = todo[local.numpy()]  # ascending: the loader keeps order
                x = backbone.preprocessing.normalize(x.to(device, non_blocking=True))
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda and cfg.amp):
                    feats, logits = forward_batch(backbone, x, cfg.tta)
                # a run of consecutive images is one slice write; h5py's point selection is slow
                where = slice(int(idx[0]), int(idx[-1]) + 1) if idx[-1] - idx[0] + 1 == len(idx) else idx
                f["features"][where] = feats.float().cpu().numpy()
                f["logits"][where] = logits.float().cpu().numpy()
                f["done"][where] = True
                processed += len(idx)
            if (step + 1) % cfg.flush_every == 0:
                f.flush()
            if cfg.stop_after is not None and step + 1 >= cfg.stop_after:
                f.flush()
                return {"complete": False, "processed": processed, "partial": str(part)}
        elapsed = time.perf_counter() - start

        ok = f["done"][...]
        bad_mask = f["bad"][...]
        errors = f["errors"][...]
        row_image = {iid: k for k, iid in enumerate(image_ids)}
        keep = [r for r in rows if ok[row_image[r["id"]]]]
        take = np.asarray([row_image[r["id"]] for r in keep], dtype=np.int64)
        order = np.argsort(take, kind="stable")  # h5py reads need ascending indices
        feats = np.empty((len(take), backbone.feature_dim), dtype=np.float32)
        logits = np.empty((len(take), 1000), dtype=np.float32)
        if len(take):
            uniq, inverse = np.unique(take[order], return_inverse=True)
            feats[order] = f["features"][uniq][inverse]
            logits[order] = f["logits"][uniq][inverse]
    finally:
        f.close()

    def col(key, default=""):
        return np.asarray([str(r.get(key) if r.get(key) is not None else default) for r in keep], dtype=object)

    summary_file = cfg.manifest.with_name("summary.json")
    subset = None
    if summary_file.exists():
        try:
            subset = json.loads(summary_file.read_text()).get("subset")
        except ValueError:
            subset = None
    attrs = {
        **backbone.describe(),
        "preprocessing": prep,
        "normalize": normalization_name(backbone.preprocessing),
        # evaluation.svm --holdout-style may hold out only this style of a fine-tuned net's features
        "trained_without_style": trained_without_style(cfg.weights),
        "tta": cfg.tta,
        "manifest": str(cfg.manifest),
        # the report's column title: which build, and which subset of it
        "subset": f"{cfg.manifest.parent.name} ({subset})" if subset else cfg.manifest.parent.name,
        "num_classes_head": backbone.num_classes,
        # a fine-tuned head's classes (ILSVRC indices, in head order); evaluation.head scores them
        "head_classes": json.dumps([] if getattr(backbone, "imagenet_index", None) is None
                                   else backbone.imagenet_index.cpu().tolist()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch_version": torch.__version__,
        "device": str(device),
        "images": int(ok.sum()),
        "bad_images": int(bad_mask.sum()),
    }
    fs = FeatureSet(
        features=feats, labels=np.asarray([UNLABELLED if r.get("class_index") is None else r["class_index"]
                                           for r in keep], dtype=np.int64), ids=col("id"),
        splits=col("split"), logits=logits, wnids=col("wnid"), label_names=col("label"), styles=col("style"),
        sources=col("source"), filepaths=col("filepath"), attrs=attrs,
    )
    write_features(cfg.out, fs)
    rejected = [{"id": image_ids[k], "filepath": paths[k], "reason": errors[k].decode() if isinstance(errors[k], bytes)
                 else str(errors[k])} for k in np.flatnonzero(bad_mask)]
    write_jsonl(rejected_path(cfg.out), rejected)
    part.unlink()
    return {"complete": True, "rows": len(keep), "images": int(ok.sum()), "bad_images": len(rejected),
            "processed_now": processed, "seconds": round(elapsed, 2),
            "images_per_s": round(processed / elapsed, 1) if processed and elapsed > 0 else None,
            "out": str(cfg.out), **backbone.describe()}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Extract backbone features and ImageNet logits to HDF5.", add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=sorted(DEFAULT_LAYERS),
                   help="network (default %(default)s: the best whose weights ship offline)")
    p.add_argument("--layer", default=None, help="feature layer (vgg19: fc6, fc7, fc8, fc6_pre, fc7_pre; default fc7)")
    p.add_argument("--weights", default=None,
                   help="state dict or checkpoint to load; 'random' for an untrained net (default: pretrained)")
    p.add_argument("--out", type=Path, required=True, help="output .h5 file")
    p.add_argument("--batch-size", type=int, default=None, help="default 64 on CPU, 256 on GPU")
    p.add_argument("--workers", type=int, default=None,
                   help="image-decoding processes (default: 1 on CPU, where the network needs the cores; "
                   "all cores but one on a GPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--no-amp", action="store_true", help="no bfloat16 autocast on GPU")
    p.add_argument("--tta", choices=TTA, default="none",
                   help="test-time augmentation: flip averages the image's and its mirror's features (2x the cost)")
    p.add_argument("--normalize", choices=sorted(NORMALIZATIONS), default=None,
                   help="input normalisation (default: the backbone's own; Lite: (x-127)/128, VGG: imagenet)")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = ExtractConfig(
        manifest=args.manifest, out=args.out, backbone=args.backbone, layer=args.layer, weights=args.weights,
        batch_size=args.batch_size, workers=args.workers, device=args.device, amp=not args.no_amp,
        tta=args.tta, normalize=args.normalize,
    )
    try:
        summary = extract(cfg)
    except (ValueError, OSError, WeightsUnavailable) as err:
        print(f"evaluation.extract: {err}", file=sys.stderr)
        return 2
    rate = f", {summary['images_per_s']} img/s" if summary["images_per_s"] else ""
    print(f"{summary['out']}: {summary['rows']} rows, {summary['images']} images, {summary['bad_images']} skipped "
          f"({summary['backbone']}/{summary['layer']}, {summary['seconds']} s{rate})")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
