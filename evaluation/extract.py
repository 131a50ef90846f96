"""python -m evaluation.extract: a backbone's features and ImageNet logits for a manifest, to HDF5.

    python -m evaluation.extract --manifest out/embedded/manifest.jsonl --backbone efficientnet-lite1 --out feats.h5
    python -m evaluation.extract --manifest M --backbone vgg19 --layer fc7 --weights vgg19.pth --out fc7.h5
    python -m evaluation.extract --manifest M --backbone efficientnet-lite2 --tta flip --out lite2-flip.h5
    torchrun --nproc-per-node 8 -m evaluation.extract --manifest M --backbone efficientnet-lite1 --out feats.h5
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m evaluation.extract ...

``--tta flip`` averages each image's features (and logits) with its mirror's. ``--normalize``
feeds the network another normalisation than its own (``imagenet`` mean/std, or ``lite``:
(x - 127) / 128), to check which one a model was trained with; the file's attrs record both.

Each image is read once (an image in two classes gives two rows with the same
features). Images that cannot be decoded are skipped and listed in ``<out stem>.rejected.jsonl``.
Unlabelled rows (``datasets.build --keep-unmatched``: ``class_index`` null) are extracted like any
other, with label ``evaluation.features.UNLABELLED`` (-1) and wnid and label name "".
On a GPU it runs in bfloat16 autocast (``--amp``) with channels_last.

Resuming, and what a kill loses: the manifest's images (in order, each once) are cut into fixed
blocks of ``--shard-size`` images (default 8 batches' worth), and each block is computed in
batches that start at the block's first image. A finished block is written to
``.<out>.parts/<job>/shard-<start>-<stop>.npz`` (features, logits, done/bad flags, errors) under
a temporary name, fsync'ed, then renamed, so a shard on disk is always whole. Running the same
command again (same backbone, layer, weights, ``--tta``, normalisation, images and shard size:
the ``<job>`` folder's name) keeps every shard that reads back whole, logs how many images were
already done, and computes only the missing blocks: a kill, even SIGKILL or a power cut, loses at
most the one unfinished block of each process, and the result is bit for bit an uninterrupted
run's with the same batch size (a block is always the same batches). A shard that does not read
back (truncated, damaged) is logged by name and only its block is redone; another job's shards
are removed with a warning. When every block is done they are merged into ``--out`` (written
whole under a temporary name, then renamed), the rejected list is written and the shards removed.

Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK in the environment; env:// rendezvous) process r
computes the blocks b with b % WORLD_SIZE == r, on cuda:LOCAL_RANK (nccl) or on the CPU (gloo),
writing its own shards; after a barrier rank 0 merges them into one file whose rows are a
single process's (same order, same values for the same batch size and device kind), and every
process exits 0 once that file exists. Several nodes need ``--out`` on a filesystem they all share.
A killed torchrun job resumes the same way, with any number of processes (the blocks do not
depend on it). Called as a function (``extract``) it is one process, whatever the environment.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets.manifest import read_manifest, write_jsonl
from scraping.cli import UsageError, add_common_arguments, at_least, fail, setup_logging, usage
from training.backbones import (DEFAULT_BACKBONE, DEFAULT_LAYERS, NORMALIZATIONS, WeightsUnavailable, create_backbone,
                                normalization_name, renormalized)
from training.engine import amp_dtype
from training.images import ImageFiles, collate_skipping_bad
from training.runtime import check_device, keep_freed_memory, resolve_device
from training.runtime import init_distributed as runtime_init_distributed

from .checkpoints import backbone_and_weights, check_layer, checkpoint_settings
from .features import image_rows, read_features, write_features
from .reuse import check_same, gather, manifest_rows_set, read_rows
from .shards import (IMAGENET_CLASSES, Shard, ShardError, block_batches, fingerprint, image_blocks, job_folder,
                     partial_path, read_shard, rejected_path, shard_path, write_shard)

logger = logging.getLogger(__name__)

PROG = "evaluation.extract"
AMP = ("auto", "bf16", "fp16", "off")  # --amp: training.finetune's choices (training.engine.amp_dtype)
SHARD_BATCHES = 8  # the default shard: this many batches' worth of images
# a rank waits at the barriers for the slowest one and for rank 0's merge; torchrun stops them all if one dies
DIST_TIMEOUT = timedelta(hours=24)


@dataclass
class ExtractConfig:
    manifest: Path
    out: Path
    backbone: str = DEFAULT_BACKBONE
    layer: str | None = None  # the backbone's default when None
    weights: str | None = None  # a path, "random", or None for the pretrained default
    batch_size: int | None = None  # None: 256 on a GPU, 64 on CPU
    workers: int | None = None  # None: all cores but one on a GPU (shared by a node's ranks), 1 on CPU
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"...
    amp: str = "auto"  # autocast: "auto" (bf16 on CUDA, off on CPU), "bf16", "fp16" or "off", as training.finetune
    tta: str = "none"  # "flip": the mean of the image's and its mirror's features and logits
    normalize: str | None = None  # "lite" or "imagenet"; None: the backbone's own
    shard_size: int | None = None  # images per shard (a block of the image list); None: SHARD_BATCHES batches
    stop_after: int | None = None  # stop after this many batches, leaving the shards (tests, timing)
    reuse: Path | None = None  # a features file of the same network: its images are copied (evaluation.reuse)


# torchrun


@dataclass
class Ranks:
    """This process's place among torchrun's processes; rank 0 of 1 without torchrun."""
    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier(device_ids=[self.local_rank] if self.device.type == "cuda" else None)

    def total(self, *counts: int) -> list[int]:
        """Each count summed over the processes (a barrier too)."""
        if self.world == 1:
            return list(counts)
        t = torch.tensor(counts, dtype=torch.int64, device=self.device)
        dist.all_reduce(t)
        return [int(c) for c in t.tolist()]

    def check_same(self, value: str, what: str) -> None:
        """Every process must see the same job (manifest, images, weights)."""
        if self.world > 1:
            seen: list = [None] * self.world
            dist.all_gather_object(seen, value)
            if len(set(seen)) > 1:
                raise ValueError(f"the {self.world} processes see different {what}: each needs the same files")

    def from_main(self, obj):
        """Rank 0's ``obj`` on every process (the others wait here until rank 0 has it)."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str) -> Ranks:
    """torchrun's environment (training.runtime.init_distributed), with a long timeout for the barriers."""
    p = runtime_init_distributed(device, DIST_TIMEOUT)
    return Ranks(p.device, p.rank, p.world, p.local_rank, p.local_world)


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


# one job: the images, the network, the partition


@dataclass
class Job:
    rows: list[dict]
    ids: list[str]  # each image once, in manifest order
    paths: list[str]
    batch_size: int = 64
    shard_size: int = 512
    workers: int = 1
    fingerprint: str = ""
    folder: Path = field(default_factory=Path)

    @property
    def blocks(self) -> list[tuple[int, int]]:
        return image_blocks(len(self.ids), self.shard_size)

    def shard(self, block: tuple[int, int]) -> Path:
        return shard_path(self.folder, *block)


def read_job(manifest: Path) -> Job:
    rows = read_manifest(manifest)
    if not rows:
        raise ValueError(f"{manifest}: no rows")
    first: dict[str, dict] = {}
    for r in rows:
        first.setdefault(r["id"], r)
    ids = list(first)
    return Job(rows, ids, [str(first[i]["filepath"]) for i in ids])


def load_backbone(cfg: ExtractConfig, device: torch.device):
    check_tta(cfg.tta)  # before the network loads
    backbone = create_backbone(cfg.backbone, cfg.layer, cfg.weights).to(device)
    backbone = backbone.to(memory_format=torch.channels_last)  # faster convolutions on CPU too
    backbone.preprocessing = renormalized(backbone.preprocessing, cfg.normalize)
    return backbone


def plan_job(cfg: ExtractConfig, ranks: Ranks, backbone) -> Job:
    """The images and how they are cut: batch, shard size, workers, the job's fingerprint and folder."""
    job = read_job(cfg.manifest)
    cuda = ranks.device.type == "cuda"
    job.batch_size = cfg.batch_size or (256 if cuda else 64)
    job.shard_size = cfg.shard_size or SHARD_BATCHES * job.batch_size
    image_blocks(len(job.ids), job.shard_size)  # a bad --shard-size fails here, before any work
    cores = max(1, (os.cpu_count() or 2) - 1)
    job.workers = cfg.workers if cfg.workers is not None else (max(1, cores // ranks.local_world) if cuda else 1)
    prep = asdict(backbone.preprocessing)
    job.fingerprint = fingerprint({**backbone.describe(), "tta": cfg.tta}, prep, job.ids)
    job.folder = job_folder(cfg.out, job.fingerprint, job.shard_size)
    return job


def prepare_folder(out: Path, folder: Path) -> None:
    """This job's shard folder; another job's (or an older version's partial file) removed with a warning."""
    legacy = out.with_name(f".{out.name}.partial")
    if legacy.exists():
        logger.warning("%s is an older version's partial file: starting over", legacy)
        legacy.unlink()
    parts = folder.parent
    if parts.exists() and not parts.is_dir():
        parts.unlink()
    for other in sorted(parts.iterdir()) if parts.is_dir() else ():
        if other != folder:
            logger.warning("%s belongs to another extraction (backbone, weights, images or shard size differ): "
                           "starting over", other)
            if other.is_dir():
                shutil.rmtree(other)
            else:
                other.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for tmp in folder.glob(".*.tmp"):  # a shard being written when the run was killed
        tmp.unlink()


def finished_blocks(job: Job, mine: list[tuple[int, int]], dim: int) -> set[tuple[int, int]]:
    """The blocks of ``mine`` whose shard reads back whole; a damaged one is logged by name, removed and redone."""
    present = set(os.listdir(job.folder))
    done = set()
    for block in mine:
        path = job.shard(block)
        if path.name not in present:
            continue
        try:
            read_shard(path, job.fingerprint, *block, dim)
        except ShardError as err:
            logger.warning("%s: redoing its %d images", err, block[1] - block[0])
            path.unlink(missing_ok=True)
            continue
        done.add(block)
    return done


# computing the missing blocks


def _forward(backbone, x: torch.Tensor, device: torch.device, cfg: ExtractConfig) -> tuple[np.ndarray, np.ndarray]:
    dtype = amp_dtype(cfg.amp, device)
    # workers stop at uint8; normalising on the device moves a quarter of the bytes
    x = backbone.preprocessing.normalize(x.to(device, non_blocking=True))
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        feats, logits = forward_batch(backbone, x, cfg.tta)
    return feats.float().cpu().numpy(), logits.float().cpu().numpy()


def compute_blocks(cfg: ExtractConfig, job: Job, backbone, todo: list[tuple[int, int]],
                   ranks: Ranks) -> tuple[int, bool]:
    """Compute the blocks ``todo``, each one's shard written as soon as it is whole; (images computed, stopped)."""
    batches = [b for block in todo for b in block_batches(*block, job.batch_size)]
    loader = DataLoader(
        ImageFiles(job.paths, backbone.preprocessing, normalize=False), batch_sampler=batches,
        num_workers=job.workers, collate_fn=collate_skipping_bad, pin_memory=ranks.device.type == "cuda",
    )
    blocks = iter(todo)
    shard = None
    processed = 0
    bar = tqdm(loader, total=len(batches), desc=f"extract {backbone.name}/{backbone.layer}", unit=" batch",
               disable=None if ranks.main else True)
    for step, (images, x, bad) in enumerate(bar):
        if shard is None:
            shard = Shard.empty(*next(blocks), backbone.feature_dim)
        for k, err in bad:
            shard.reject(k, err)
            logger.warning("skipped %s: %s", job.paths[k], err)
        if x is not None:
            feats, logits = _forward(backbone, x, ranks.device, cfg)
            shard.put(images.numpy(), feats, logits)
            processed += len(images)
        if shard.finished:
            write_shard(job.folder, shard, job.fingerprint)
            shard = None
        if cfg.stop_after is not None and step + 1 >= cfg.stop_after and step + 1 < len(batches):
            return processed, True
    return processed, False


# merging the shards into the features file (rank 0)


def _merge_error(err: ShardError, path: Path) -> ValueError:
    path.unlink(missing_ok=True)
    return ValueError(f"{err}; removed it: run the same command again to redo its images")


def read_flags(job: Job, dim: int) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(done, bad, {image: error}) of every image, from the shards' small arrays."""
    done, bad = np.zeros(len(job.ids), bool), np.zeros(len(job.ids), bool)
    errors = {}
    for a, z in job.blocks:
        try:
            shard = read_shard(job.shard((a, z)), job.fingerprint, a, z, dim, flags_only=True)
        except ShardError as err:
            raise _merge_error(err, job.shard((a, z))) from None
        done[a:z], bad[a:z] = shard.done, shard.bad
        errors.update({a + int(j): shard.errors[j] for j in np.flatnonzero(shard.bad)})
    return done, bad, errors


def gather_rows(job: Job, take: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits of each row (``take``: its image), filled one shard at a time (bounded memory)."""
    feats = np.empty((len(take), dim), np.float32)
    logits = np.empty((len(take), IMAGENET_CLASSES), np.float32)
    order = np.argsort(take, kind="stable")
    ordered = take[order]
    for a, z in job.blocks:
        lo, hi = np.searchsorted(ordered, [a, z])
        if lo == hi:
            continue
        try:
            shard = read_shard(job.shard((a, z)), job.fingerprint, a, z, dim)
        except ShardError as err:
            raise _merge_error(err, job.shard((a, z))) from None
        rows, local = order[lo:hi], ordered[lo:hi] - a
        feats[rows], logits[rows] = shard.features[local], shard.logits[local]
    return feats, logits


def _subset_name(manifest: Path) -> str:
    summary_file = manifest.with_name("summary.json")
    subset = None
    if summary_file.exists():
        try:
            subset = json.loads(summary_file.read_text()).get("subset")
        except ValueError:
            subset = None
    return f"{manifest.parent.name} ({subset})" if subset else manifest.parent.name


def file_attrs(cfg: ExtractConfig, backbone, ranks: Ranks, done: np.ndarray, bad: np.ndarray) -> dict:
    trained = checkpoint_settings(cfg.weights)  # read once: {} for anything but our checkpoints
    return {
        **backbone.describe(),
        "preprocessing": asdict(backbone.preprocessing),
        "normalize": normalization_name(backbone.preprocessing),
        # evaluation.svm --holdout-style may hold out only this style of a fine-tuned net's features
        "trained_without_style": str(trained.get("holdout_style") or ""),
        # the manifest the checkpoint trained on: another than this one's means adapted (training.adapt)
        "trained_on": str(trained.get("data") or ""),
        "tta": cfg.tta,
        "manifest": str(cfg.manifest),
        # the report's column title: which build, and which subset of it
        "subset": _subset_name(cfg.manifest),
        "num_classes_head": backbone.num_classes,
        # a fine-tuned head's classes (ILSVRC indices, in head order); evaluation.head scores them
        "head_classes": json.dumps([] if getattr(backbone, "imagenet_index", None) is None
                                   else backbone.imagenet_index.cpu().tolist()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch_version": torch.__version__,
        "device": str(ranks.device),
        "autocast": str(amp_dtype(cfg.amp, ranks.device) or "off").removeprefix("torch."),  # --amp, resolved
        "processes": ranks.world,
        "images": int(done.sum()),
        "bad_images": int(bad.sum()),
    }


def merge(cfg: ExtractConfig, job: Job, backbone, ranks: Ranks) -> dict:
    """Every shard into ``cfg.out`` (atomic), the rejected list beside it, the shards removed; the counts."""
    dim = backbone.feature_dim
    done, bad, errors = read_flags(job, dim)
    row_image = {iid: k for k, iid in enumerate(job.ids)}
    keep = [r for r in job.rows if done[row_image[r["id"]]]]
    feats, logits = gather_rows(job, np.asarray([row_image[r["id"]] for r in keep], dtype=np.int64), dim)
    fs = manifest_rows_set(keep, feats, logits, file_attrs(cfg, backbone, ranks, done, bad))
    write_features(cfg.out, fs)
    rejected = [{"id": job.ids[k], "filepath": job.paths[k], "reason": errors[k]} for k in np.flatnonzero(bad)]
    write_jsonl(rejected_path(cfg.out), rejected)
    shutil.rmtree(partial_path(cfg.out))
    return {"rows": len(keep), "images": int(done.sum()), "bad_images": len(rejected)}


# the run


def _resume(cfg: ExtractConfig, job: Job, ranks: Ranks, dim: int) -> list[tuple[int, int]]:
    """This process's blocks still to compute; rank 0 logs how many images all the processes had done."""
    if ranks.main:
        prepare_folder(cfg.out, job.folder)
    ranks.barrier()
    job.folder.mkdir(parents=True, exist_ok=True)
    mine = job.blocks[ranks.rank::ranks.world]
    finished = finished_blocks(job, mine, dim)
    images, shards = ranks.total(sum(z - a for a, z in finished), len(finished))
    if images and ranks.main:
        logger.info("resuming: %d of %d images already done (%d shards)", images, len(job.ids), shards)
    return [b for b in mine if b not in finished]


def extract(cfg: ExtractConfig, ranks: Ranks | None = None) -> dict:
    """Run (or resume) one extraction; return a summary. Raises ValueError on bad input.

    ``ranks`` (``init_distributed`` under torchrun) shares the blocks out between the processes; rank 0
    merges, and every process returns rank 0's summary (``processed_now`` summed over them)."""
    ranks = ranks or Ranks(resolve_device(cfg.device))
    if ranks.device.type == "cpu":
        keep_freed_memory()
    backbone = load_backbone(cfg, ranks.device)
    job = plan_job(cfg, ranks, backbone)
    ranks.check_same(job.fingerprint, "images or network")
    todo = _resume(cfg, job, ranks, backbone.feature_dim)
    start = time.perf_counter()
    processed, stopped = compute_blocks(cfg, job, backbone, todo, ranks)
    elapsed = time.perf_counter() - start
    if stopped:
        return {"complete": False, "processed": processed, "partial": str(partial_path(cfg.out))}
    (processed,) = ranks.total(processed)  # every shard is on disk past this point
    counts = merge(cfg, job, backbone, ranks) if ranks.main else None
    counts = ranks.from_main(counts)  # no process returns before the file exists
    return {"complete": True, **counts, "processed_now": processed, "seconds": round(elapsed, 2),
            "images_per_s": round(processed / elapsed, 1) if processed and elapsed > 0 else None,
            "out": str(cfg.out), "shards": len(job.blocks), "processes": ranks.world, **backbone.describe()}


def extract_reusing(cfg: ExtractConfig, ranks: Ranks | None = None) -> dict:
    """``extract`` for ``cfg`` with ``reuse`` set: the images that file holds are copied (``evaluation.reuse``), the
    rest extracted in a folder of their own beside ``cfg.out`` (resumable), then removed."""
    start = time.perf_counter()
    old = read_features(cfg.reuse)
    backbone = load_backbone(cfg, torch.device("cpu"))
    check_same(old.attrs, {**backbone.describe(), "tta": cfg.tta,
                           "normalize": normalization_name(backbone.preprocessing)}, Path(cfg.reuse))
    rows = read_manifest(cfg.manifest)
    if not rows:
        raise ValueError(f"{cfg.manifest}: no rows")
    have = image_rows(old)
    missing = [r for r in rows if r["id"] not in have]
    new, errors, part = None, {}, cfg.out.with_name(f".{cfg.out.name}.missing")
    if missing:
        logger.info("%d of %d images are not in %s: extracting them", len({r["id"] for r in missing}),
                    len({r["id"] for r in rows}), cfg.reuse)
        write_jsonl(part / "manifest.jsonl", missing)
        extract(replace(cfg, manifest=part / "manifest.jsonl", out=part / "features.h5", reuse=None), ranks)
        new = read_features(part / "features.h5")
        errors = {r["id"]: r["reason"] for r in read_rows(rejected_path(part / "features.h5"))}
    keep, features, logits = gather(rows, old, new)
    images = len({r["id"] for r in keep})
    attrs = {**old.attrs, "manifest": str(cfg.manifest), "subset": _subset_name(Path(cfg.manifest)),
             "reused_from": str(cfg.reuse), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "images": images}
    write_features(cfg.out, manifest_rows_set(keep, features, logits, attrs))
    kept = {r["id"] for r in keep}
    bad = {r["id"]: r for r in rows if r["id"] not in kept}
    write_jsonl(rejected_path(cfg.out), [{"id": i, "filepath": r["filepath"], "reason": errors.get(i, "not extracted")}
                                         for i, r in bad.items()])
    shutil.rmtree(part, ignore_errors=True)
    return {"complete": True, "rows": len(keep), "images": images, "bad_images": len(bad),
            "reused": len({r["id"] for r in rows if r["id"] in have}), "processed_now": len(image_rows(new)) if new is not None else 0,
            "seconds": round(time.perf_counter() - start, 2), "images_per_s": None, "out": str(cfg.out),
            **backbone.describe()}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Extract backbone features and ImageNet logits to HDF5.", add_help=add_help)
    p.add_argument("--manifest", type=Path, required=True, help="manifest.jsonl from datasets.build")
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, metavar="NAME|CHECKPOINT",
                   help=f"network: {', '.join(sorted(DEFAULT_LAYERS))} (default %(default)s: the best whose "
                   "weights ship offline), or a checkpoint of training.finetune or training.adapt (its network "
                   "with its weights)")
    p.add_argument("--layer", default=None, help="feature layer (vgg19: fc6, fc7, fc8, fc6_pre, fc7_pre; default fc7)")
    p.add_argument("--weights", default=None,
                   help="state dict or checkpoint to load; 'random' for an untrained net (default: pretrained)")
    p.add_argument("--out", type=Path, required=True, help="output .h5 file")
    p.add_argument("--batch-size", type=int, default=None, help="default 64 on CPU, 256 on GPU")
    p.add_argument("--shard-size", type=int, default=None,
                   help=f"images per shard of finished work, the most a kill loses per process (default "
                   f"{SHARD_BATCHES} batches; a resume needs the same value to reuse the shards)")
    p.add_argument("--workers", type=int, default=None,
                   help="image-decoding processes (default: 1 on CPU, where the network needs the cores; "
                   "on a GPU all cores but one, shared by the node's processes)")
    p.add_argument("--device", default="auto",
                   help="auto, cpu, cuda or cuda:N (under torchrun: cuda:LOCAL_RANK unless cpu)")
    p.add_argument("--amp", choices=AMP, default="auto",
                   help="autocast precision, as training.finetune's (default auto: bf16 on CUDA, off on CPU)")
    p.add_argument("--tta", choices=TTA, default="none",
                   help="test-time augmentation: flip averages the image's and its mirror's features (2x the cost)")
    p.add_argument("--reuse", type=Path, default=None, metavar="FEATURES",
                   help="copy the features of images this file (same network) already holds; extract only the rest")
    p.add_argument("--normalize", choices=sorted(NORMALIZATIONS), default=None,
                   help="input normalisation (default: the backbone's own; Lite: (x-127)/128, VGG: imagenet)")
    return add_common_arguments(p)


def config_from_args(args: argparse.Namespace) -> ExtractConfig:
    """The run's settings; a UsageError for a value that cannot work, a ValueError for an input file that is not
    there or a ``--device`` this machine lacks (training.runtime.DeviceUnavailable): all before anything is written."""
    backbone, weights = backbone_and_weights(args.backbone, args.weights)
    check_layer(backbone, args.layer)
    for flag, value, low in (("--batch-size", args.batch_size, 1), ("--shard-size", args.shard_size, 1),
                             ("--workers", args.workers, 0)):
        at_least(value, low, flag)
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder: give the features file to write, "
                         f"e.g. {args.out / 'features.h5'}")
    if args.out.resolve() in {args.manifest.resolve(), *([args.reuse.resolve()] if args.reuse else [])}:
        raise UsageError(f"--out {args.out} is an input: choose another file, nothing is overwritten")
    check_device(args.device)
    for flag, path in (("--manifest", args.manifest), ("--reuse", args.reuse)):
        if path is not None and not path.is_file():
            raise ValueError(f"{flag} {path}: no such file")
    return ExtractConfig(
        manifest=args.manifest, out=args.out, backbone=backbone, layer=args.layer, weights=weights,
        batch_size=args.batch_size, workers=args.workers, device=args.device, amp=args.amp,
        tta=args.tta, normalize=args.normalize, shard_size=args.shard_size, reuse=args.reuse,
    )


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        cfg = config_from_args(args)
    except UsageError as err:
        return usage(PROG, err)
    except ValueError as err:  # a missing input, training.runtime.DeviceUnavailable: cuda without CUDA
        return fail(PROG, err)
    ranks = init_distributed(cfg.device)
    if not ranks.main and not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        summary = extract_reusing(cfg, ranks) if cfg.reuse is not None else extract(cfg, ranks)
    except (ValueError, OSError, WeightsUnavailable) as err:
        return fail(PROG + (f" (rank {ranks.rank})" if ranks.world > 1 else ""), err)
    finally:
        ranks.close()
    if not ranks.main:
        return 0
    rate = f", {summary['images_per_s']} img/s" if summary["images_per_s"] else ""
    if "reused" in summary:
        rate += f", {summary['reused']} images reused from {cfg.reuse}"
    print(f"{summary['out']}: {summary['rows']} rows, {summary['images']} images, {summary['bad_images']} skipped "
          f"({summary['backbone']}/{summary['layer']}, {summary['seconds']} s{rate})")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
