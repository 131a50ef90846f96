"""python -m training.finetune: retrain a backbone on a manifest's train split, as the thesis retrained VGG-19.

    python -m training.finetune --data out/openclipart/manifest.jsonl --out runs/vgg19 --epochs 239
    python -m training.finetune --data M --out runs/lite --backbone efficientnet-lite0 --recipe finetune --epochs 5
    torchrun --nproc-per-node 8 -m training.finetune --data M --out runs/vgg19-ddp
    python -m training.finetune --resume runs/vgg19          # after a crash or kill -9: continues exactly
    python -m training.finetune --epochs 239                 # in a workspace: its dataset as curated now

With no ``--data`` and no ``--out`` it trains on the workspace's dataset (``training.plan``:
exported as curated now, or the latest export where FiftyOne is absent) in a new folder
``runs/NNN-<backbone>-<recipe>/``. At the end (unless ``--no-evaluate``) it evaluates the run
and writes it back onto that dataset (``evaluation.runs``): the extraction from ``best.pt``,
the fine-tuned head as a method, the SVM on its features, each written back compared with the
best method before; ``--resume`` continues an interrupted evaluation too.

Each epoch ends with a checkpoint (``last.pt``, and ``best.pt`` by validation loss), a
line in ``log.jsonl`` and ``summary.csv``, and TensorBoard events; ``curves.png`` is drawn
at the end. The recipe (training/recipes.py) decides which layers are re-initialised,
kept or frozen, and each group's learning rate. SGD with momentum, the learning rate
divided by 10 when the validation loss stops falling, early stopping after ``--patience``
epochs without improvement, log-softmax with NLL: the thesis's Caffe solver.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets.manifest import atomic_write_text, read_manifest

from . import checkpoint
from .backbones import DEFAULT_LAYERS, WeightsUnavailable, create_backbone
from .curves import plot_curves
from .data import Augment, EpochSampler, LabelledImages, ShardSampler, collate, draw_seed, train_transform
from .recipes import RECIPES, apply_recipe, format_table, frozen_modules, param_groups
from .runtime import init_distributed as runtime_init_distributed
from .runtime import keep_freed_memory

logger = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    data: str  # manifest.jsonl (datasets.build or curation.export)
    out: str  # run folder: checkpoints, logs, plots
    backbone: str = "vgg19"
    recipe: str = "optimal"
    weights: str | None = None  # pretrained default when None; a path; "random"
    keep_imagenet_head: bool = False  # train the 1000-way head on ILSVRC indices, as the thesis did
    epochs: int = 239
    steps_per_epoch: int | None = None  # None: an epoch is one pass over the train split
    batch_size: int = 64  # per process
    lr: dict[str, float] = field(default_factory=dict)  # per-group overrides of the recipe's rates
    lr_scaling: str = "linear"  # "linear": rates times the number of processes; "none"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_factor: float = 0.1  # the learning rate's decay when the validation loss stops falling...
    lr_patience: int = 1  # ...for this many epochs
    patience: int = 3  # early stopping: epochs without a better validation loss; 0 never stops
    seed: int = 0
    deterministic: bool = False
    augment: dict = field(default_factory=lambda: asdict(Augment()))
    label_smoothing: float = 0.0  # of the training loss (the recipe's by default on the command line)
    head_init: str = "random"  # "probe": a new head starts as a linear probe of the frozen features
    holdout_style: str | None = None  # rows of this drawing style are left out of train and val
    workers: int | None = None  # None: 1 on CPU, the process's share of the cores on a GPU
    amp: str = "auto"  # auto (bf16 on CUDA), bf16, fp16, off
    channels_last: bool = True
    compile: bool = False
    device: str = "auto"
    tensorboard: bool = True
    checkpoint_every: int = 1  # epochs between checkpoints; a new best and the last epoch are always saved
    extract: bool = False  # with evaluate off: run evaluation.extract on best.pt at the end
    evaluate: bool = True  # at the end: extract, head, SVM, and the write-back of a workspace run


@dataclass
class Data:
    classes: list[dict]  # [{"wnid", "label", "class_index"}] in head order
    train: LabelledImages
    val: LabelledImages | None


def labelled_manifest_rows(rows: list[dict], data) -> list[dict]:
    """The rows with a class: those of ``datasets.build --keep-unmatched`` with ``wnid`` null are left out, and
    counted in a logged line; none left is an error naming the manifest."""
    kept = [r for r in rows if r.get("wnid") is not None]
    if len(kept) < len(rows):
        logger.info("%s: skipped %s unlabelled rows (no class; python -m evaluation.suggest proposes labels for "
                    "them)", data, f"{len(rows) - len(kept):,}")
    if not kept:
        raise ValueError(f"{data}: no rows" + (f" with a class ({len(rows)} unlabelled)" if rows else ""))
    return kept


def class_list(rows: list[dict]) -> list[dict]:
    """The manifest's classes in ILSVRC order: the new head's order."""
    classes = {}
    for r in rows:
        classes.setdefault(r["wnid"], {"wnid": r["wnid"], "label": r["label"], "class_index": int(r["class_index"])})
    return sorted(classes.values(), key=lambda c: c["class_index"])


def read_data(cfg: FinetuneConfig, rows: list[dict], prep) -> Data:
    ordered = class_list(rows)
    target = {c["wnid"]: (c["class_index"] if cfg.keep_imagenet_head else k) for k, c in enumerate(ordered)}
    if cfg.holdout_style is not None:
        rows = holdout_rows(rows, cfg.holdout_style, cfg.data)
    splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "val")}
    if not splits["train"]:
        raise ValueError(f"{cfg.data}: no rows with split 'train'")
    aug = Augment(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.augment.items()})

    def dataset(split, factory):
        return LabelledImages([r["filepath"] for r in splits[split]], [target[r["wnid"]] for r in splits[split]],
                              factory, seed=cfg.seed)

    return Data(ordered, dataset("train", lambda: train_transform(prep, aug)),
                dataset("val", lambda: prep.transform(normalize=False)) if splits["val"] else None)


def holdout_rows(rows: list[dict], style: str, data: str) -> list[dict]:
    """The rows of every other style: a run for ``evaluation.svm --holdout-style`` never sees ``style``."""
    styles = sorted({str(r.get("style")) for r in rows})
    if style not in styles:
        raise ValueError(f"{data}: no rows of style {style!r} to hold out; its styles: {', '.join(styles)}")
    kept = [r for r in rows if str(r.get("style")) != style]
    logger.info("holding out style %s: %d of %d rows left out of train and val", style, len(rows) - len(kept),
                len(rows))
    return kept


def build_model(cfg: FinetuneConfig, classes: list[dict], resuming: bool = False):
    """(backbone, recipe, per-layer table rows). Resuming builds the structure only: the
    checkpoint holds the weights, so pretrained ones need not be present."""
    recipe = RECIPES[cfg.recipe]
    recipe = replace(recipe, lr={**recipe.lr, **cfg.lr})
    options = {}
    if recipe.batch_norm and cfg.backbone != "vgg19_bn":
        if cfg.backbone != "vgg19":
            raise ValueError(f"recipe {recipe.name} puts batch norm into VGG-19; {cfg.backbone} cannot take it")
        options["batch_norm"] = True
    weights = cfg.weights
    if weights == "random" and recipe.needs_pretrained() and not resuming:
        logger.warning("--weights random with recipe %s: the layers it keeps start untrained (fit for timing only)",
                       recipe.name)
    if resuming or (weights is None and not recipe.needs_pretrained()):
        weights = "random"  # nothing pretrained survives the recipe: read no weights
    torch.manual_seed(cfg.seed)  # a random network's initial weights...
    backbone = create_backbone(cfg.backbone, weights=weights, **options)
    torch.manual_seed(cfg.seed)  # ...and re-initialisation both follow --seed (tiny seeds itself)
    if not cfg.keep_imagenet_head:
        backbone.replace_head([c["class_index"] for c in classes])
    rows = apply_recipe(backbone, recipe)
    return backbone, recipe, rows


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # noqa: RUF009 (immutable)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(t)
        return t


def init_distributed(device: str) -> Context:
    """torchrun's environment (training.runtime.init_distributed), or one process."""
    p = runtime_init_distributed(device)
    return Context(p.rank, p.world, p.local_rank, p.device)


def amp_dtype(cfg: FinetuneConfig, device: torch.device) -> torch.dtype | None:
    mode = cfg.amp if cfg.amp != "auto" else ("bf16" if device.type == "cuda" else "off")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[mode]


def _accuracy_counts(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hit = top == y[:, None]
    return hit[:, 0].sum(), hit.any(dim=1).sum()


def _totals(ctx: Context, sums: torch.Tensor) -> dict:
    loss, top1, top5, n = ctx.all_sum(sums).tolist()
    return {"loss": loss / n if n else None, "top1": top1 / n if n else None, "top5": top5 / n if n else None,
            "images": int(n)}


def _device_batches(loader, ctx: Context, prep, channels_last: bool, on_bad=None):
    """(images, targets) on the device, normalised there; unreadable images reported and left out."""
    for x, y, _, bad in loader:
        if bad and on_bad:
            on_bad(bad)
        if x is None:
            continue
        x = prep.normalize(x.to(ctx.device, non_blocking=True))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, y.to(ctx.device, non_blocking=True)


def _sums(loss_sum: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(summed loss, top-1 hits, top-5 hits, images) of one batch, kept on the device: no sync per step."""
    c1, c5 = _accuracy_counts(logits, y)
    return torch.stack([loss_sum.double(), c1.double(), c5.double(),
                        torch.tensor(len(y), dtype=torch.float64, device=y.device)])


def train_one_epoch(model, loader, optimizer, scaler, ctx: Context, prep, dtype, frozen, *, channels_last: bool,
                    desc: str, on_bad=None, label_smoothing: float = 0.0) -> dict:
    model.train()
    for m in frozen:
        m.eval()  # batch norm statistics of frozen layers stay as they were
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)
    bar = tqdm(loader, desc=desc, unit=" batch", disable=None if ctx.main else True, leave=False)
    for x, y in _device_batches(bar, ctx, prep, channels_last, on_bad):
        with torch.autocast(ctx.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)[1]
        # the thesis's log-softmax + NLL, with label smoothing where the recipe asks for it
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            sums += _sums(loss.detach() * len(y), logits.detach(), y)
    return _totals(ctx, sums)


@torch.inference_mode()
def evaluate(model, loader, ctx: Context, prep, dtype, *, channels_last: bool, on_bad=None) -> dict:
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)
    for x, y in _device_batches(loader, ctx, prep, channels_last, on_bad):
        with torch.autocast(ctx.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)[1]
        sums += _sums(F.nll_loss(F.log_softmax(logits.float(), dim=1), y, reduction="sum"), logits, y)
    return _totals(ctx, sums)


class RunLog:
    """log.jsonl, summary.csv and TensorBoard for the main process; rewritten from the history, so a
    resumed run's files hold each epoch exactly once."""

    COLUMNS = ("epoch", "step", "train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5",
               "lr", "epoch_s", "images_per_s", "peak_gpu_gib", "best")

    def __init__(self, out: Path, tensorboard: bool, resume_step: int | None):
        self.out, self.tb = out, None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed: no event files (pip install tensorboard)")
            else:  # purge_step drops events a killed run wrote after its last checkpoint
                self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step)

    def write(self, history: list[dict]) -> None:
        atomic_write_text(self.out / "log.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.COLUMNS, extrasaction="ignore")
        w.writeheader()
        for h in history:
            w.writerow({**h, "lr": " ".join(f"{k}={v:.3g}" for k, v in h["lr"].items())})
        atomic_write_text(self.out / "summary.csv", buf.getvalue())
        if self.tb is not None:
            h = history[-1]
            for k in ("train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5", "images_per_s"):
                if h.get(k) is not None:
                    self.tb.add_scalar(k.replace("_", "/", 1), h[k], h["step"])
            for group, lr in h["lr"].items():
                self.tb.add_scalar(f"lr/{group}", lr, h["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _loader(dataset, sampler, cfg: FinetuneConfig, ctx: Context, batch_size: int, drop_last: bool) -> DataLoader:
    cuda = ctx.device.type == "cuda"
    workers = cfg.workers
    if workers is None:
        per_process = (os.cpu_count() or 2) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        workers = max(1, per_process - 1) if cuda else 1
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=cuda, persistent_workers=workers > 0, drop_last=drop_last)


def oom_advice(batch_size: int, device: torch.device) -> str:
    total = torch.cuda.get_device_properties(device).total_memory / 2**30 if device.type == "cuda" else 0
    smaller = max(1, batch_size // 2)
    return (f"out of GPU memory at --batch-size {batch_size} per process ({total:.0f} GiB on {device}); "
            f"try --batch-size {smaller} (the learning rates stay as set; --lr-* to adjust); bf16 autocast and "
            f"channels_last also save memory, if --amp off or --no-channels-last turned them off")


def probe_head(backbone, data: Data, device: torch.device) -> None:
    """The new head fitted as a linear probe on the train split's centre crops (recipe ``drawings``)."""
    from .probe import init_head_from_probe

    plain = LabelledImages(data.train.paths, data.train.targets,
                           lambda: backbone.preprocessing.transform(normalize=False), seed=data.train.seed)
    init_head_from_probe(backbone, plain, device)


def run(cfg: FinetuneConfig, resume: dict | None = None) -> dict:
    """Train (or continue) one run; return the final summary. Only rank 0 writes."""
    ctx = init_distributed(cfg.device)
    out = Path(cfg.out)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not cfg.deterministic
    if ctx.device.type == "cpu":
        keep_freed_memory()

    rows = labelled_manifest_rows(read_manifest(cfg.data), cfg.data)
    classes = class_list(rows)
    if resume is not None and [c["wnid"] for c in classes] != [c["wnid"] for c in resume["classes"]]:
        raise ValueError(f"{cfg.data}: its classes differ from the checkpoint's; a resumed run needs the same data")
    backbone, recipe, table = build_model(cfg, classes, resuming=resume is not None)
    data = read_data(cfg, rows, backbone.preprocessing)
    backbone = backbone.to(ctx.device)
    if cfg.channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    if resume is None and cfg.head_init == "probe" and not cfg.keep_imagenet_head and ctx.main:
        probe_head(backbone, data, ctx.device)  # under DDP, rank 0's weights are broadcast
    frozen = frozen_modules(backbone, recipe)
    lr_scale = ctx.world if cfg.lr_scaling == "linear" else 1.0
    groups = param_groups(backbone, recipe, weight_decay=cfg.weight_decay, lr_scale=lr_scale)
    if not groups:
        raise ValueError(f"recipe {recipe.name} trains nothing")
    optimizer = torch.optim.SGD(groups, lr=0.0, momentum=cfg.momentum)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.lr_factor,
                                                           patience=cfg.lr_patience)
    dtype = amp_dtype(cfg, ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=dtype is torch.float16)
    stopping = {"best_loss": math.inf, "best_epoch": 0, "bad_epochs": 0, "stopped": False}
    history: list[dict] = []
    start_epoch, step = 0, 0
    if resume is not None:
        backbone.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        if resume.get("scaler"):
            scaler.load_state_dict(resume["scaler"])
        checkpoint.set_rng_state(resume["rng"])
        stopping, history = resume["early_stopping"], resume["history"]
        start_epoch, step = resume["epoch"], resume["step"]
        if stopping["stopped"] or start_epoch >= cfg.epochs:
            if ctx.world > 1:
                dist.destroy_process_group()
            return {"final": None, "epochs": len(history), "best_epoch": stopping["best_epoch"], "out": str(out),
                    "stopped_early": stopping["stopped"], "world_size": ctx.world}

    model = backbone
    if ctx.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(backbone, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)

    samples = cfg.steps_per_epoch * cfg.batch_size * ctx.world if cfg.steps_per_epoch else None
    sampler = EpochSampler(len(data.train), seed=cfg.seed, rank=ctx.rank, world=ctx.world, samples_per_epoch=samples)
    train_loader = _loader(data.train, sampler, cfg, ctx, cfg.batch_size,
                           drop_last=len(sampler) >= cfg.batch_size)
    val_loader = (_loader(data.val, ShardSampler(len(data.val), ctx.rank, ctx.world), cfg, ctx, cfg.batch_size * 2,
                          drop_last=False) if data.val is not None else None)
    reported: set[tuple[str, int]] = set()

    def on_bad(split):
        def report(bad):
            for i, err in bad:
                if (split, i) not in reported and ctx.main:
                    logger.warning("skipped unreadable %s image %s: %s", split,
                                   (data.train if split == "train" else data.val).paths[i], err)
                reported.add((split, i))
        return report

    log = None
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "args.json", json.dumps(asdict(cfg), indent=2) + "\n")
        logger.info(format_table(table, recipe))
        steps = len(train_loader)
        logger.info("%s: %d train and %d val images in %d classes; %s process(es) x batch %d = effective batch %d; "
                    "learning rates x%g (%s scaling); %d optimizer steps per epoch%s; device %s, amp %s",
                    cfg.data, len(data.train), len(data.val) if data.val else 0, len(data.classes), ctx.world,
                    cfg.batch_size, cfg.batch_size * ctx.world, lr_scale, cfg.lr_scaling, steps,
                    f" (--steps-per-epoch {cfg.steps_per_epoch})" if cfg.steps_per_epoch else " (one pass)",
                    ctx.device, dtype or "off")
        log = RunLog(out, cfg.tensorboard, step if resume is not None else None)
        if resume is not None:
            logger.info("resuming after epoch %d (step %d) from %s", start_epoch, step, out / "last.pt")

    if resume is not None and resume.get("world_size", 1) != ctx.world:
        logger.warning("the run was trained by %d process(es) and resumes in %d: its sample order changes "
                       "from here on (the learning rates stay as saved)", resume.get("world_size", 1), ctx.world)
    if ctx.main:
        checkpoint.remove_stale(out)
    started = time.perf_counter()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            if stopping["stopped"]:
                break
            # dropout's generator: a function of (seed, epoch, rank), so resuming and DDP need no shared state
            torch.manual_seed(draw_seed(cfg.seed, (epoch + 1) * 1_000_003 + ctx.rank))
            sampler.set_epoch(epoch)
            if ctx.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(ctx.device)
            t0 = time.perf_counter()
            train = train_one_epoch(model, train_loader, optimizer, scaler, ctx, backbone.preprocessing, dtype, frozen,
                                    channels_last=cfg.channels_last, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                                    on_bad=on_bad("train"), label_smoothing=cfg.label_smoothing)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)
            train_s = time.perf_counter() - t0
            step += len(train_loader)
            val = (evaluate(model, val_loader, ctx, backbone.preprocessing, dtype, channels_last=cfg.channels_last,
                            on_bad=on_bad("val")) if val_loader is not None else {})
            monitor = val.get("loss") if val.get("loss") is not None else train["loss"]
            lrs = {g["name"]: g["lr"] for g in optimizer.param_groups if not g["name"].endswith("/no_decay")}
            scheduler.step(monitor)
            improved = monitor < stopping["best_loss"]
            if improved:
                stopping.update(best_loss=monitor, best_epoch=epoch + 1, bad_epochs=0)
            else:
                stopping["bad_epochs"] += 1
                stopping["stopped"] = cfg.patience > 0 and stopping["bad_epochs"] >= cfg.patience
            record = {"epoch": epoch + 1, "step": step,
                      **{f"train_{k}": train[k] for k in ("loss", "top1", "top5")},
                      **{f"val_{k}": val.get(k) for k in ("loss", "top1", "top5")},
                      "lr": lrs, "epoch_s": round(time.perf_counter() - t0, 3),
                      "images_per_s": round(train["images"] / train_s, 1) if train_s > 0 else None,
                      "peak_gpu_gib": round(torch.cuda.max_memory_allocated(ctx.device) / 2**30, 2)
                      if ctx.device.type == "cuda" else None,
                      "best": improved}
            history.append(record)
            save = (improved or stopping["stopped"] or epoch + 1 == cfg.epochs
                    or (epoch + 1) % max(1, cfg.checkpoint_every) == 0)
            if ctx.main and save:
                t_save = time.perf_counter()
                checkpoint.save({"model": backbone.state_dict(), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(),
                                 "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                                 "rng": checkpoint.rng_state(), "early_stopping": stopping, "history": history,
                                 "epoch": epoch + 1, "step": step, "args": asdict(cfg), "classes": data.classes,
                                 "recipe": recipe.name, "world_size": ctx.world}, out, best=improved)
                saved_s = time.perf_counter() - t_save
            if ctx.main:
                log.write(history)
                logger.info(_epoch_line(record, cfg.epochs) + (f"; checkpoint {saved_s:.1f} s" if save else ""))
                if stopping["stopped"]:
                    logger.info("early stop: no better validation loss for %d epochs (best: epoch %d)",
                                cfg.patience, stopping["best_epoch"])
    except torch.cuda.OutOfMemoryError:
        raise MemoryError(oom_advice(cfg.batch_size, ctx.device)) from None
    finally:
        if log is not None:
            log.close()
    summary = {"epochs": len(history), "best_epoch": stopping["best_epoch"], "best_loss": stopping["best_loss"],
               "stopped_early": stopping["stopped"], "seconds": round(time.perf_counter() - started, 1),
               "final": history[-1] if history else None, "out": str(out), "world_size": ctx.world}
    if ctx.main and history:
        plot_curves(history, out / "curves.png",
                    f"{cfg.backbone}, recipe {recipe.name}: {Path(cfg.data).parent.name} ({len(data.classes)} classes)")
    if ctx.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def _epoch_line(h: dict, epochs: int) -> str:
    def pct(v):
        return f"{100 * v:5.1f}%" if v is not None else "   - "

    val = f"val loss {h['val_loss']:.3f} top-1 {pct(h['val_top1'])} top-5 {pct(h['val_top5'])}" \
        if h["val_loss"] is not None else "no val split"
    mem = f", peak {h['peak_gpu_gib']} GiB" if h["peak_gpu_gib"] is not None else ""
    lr = " ".join(f"{k}={v:.0e}" for k, v in h["lr"].items())
    return (f"epoch {h['epoch']}/{epochs} step {h['step']}: train loss {h['train_loss']:.3f} top-1 "
            f"{pct(h['train_top1'])}; {val}; lr {lr}; {h['epoch_s']:.1f} s, {h['images_per_s']} img/s{mem}"
            f"{' *best*' if h['best'] else ''}")


def extract_best(cfg: FinetuneConfig) -> tuple[list[str], Path, str]:
    """The evaluation.extract command for best.pt, its output, and the backbone name that reads it back."""
    out = Path(cfg.out)
    features = out / f"features-{cfg.backbone}-best.h5"
    name = "vgg19_bn" if RECIPES[cfg.recipe].batch_norm else cfg.backbone
    cmd = [sys.executable, "-m", "evaluation.extract", "--manifest", cfg.data, "--backbone", name,
           "--weights", str(out / "best.pt"), "--out", str(features)]
    return cmd, features, name


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Fine-tune a backbone on a clip-art manifest (the thesis's VGG-19 "
                                "retraining).", add_help=add_help)
    g = p.add_argument_group("data and run")
    g.add_argument("--data", type=Path, help="manifest.jsonl from datasets.build or curation.export (default: the "
                   "workspace's dataset as curated now)")
    g.add_argument("--out", type=Path, help="run folder for checkpoints, logs and plots (default: a new "
                   "WORKSPACE/runs/NNN-<backbone>-<recipe>/)")
    g.add_argument("--workspace", type=Path, default=None,
                   help="workspace folder (default: $DRAWNET_WORKSPACE, else the current folder)")
    g.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last checkpoint, with its own settings "
                   "(--epochs, --workers, --device, --compile, --extract may be given anew)")
    g.add_argument("--backbone", default="vgg19", choices=sorted(DEFAULT_LAYERS), help="network (default vgg19)")
    g.add_argument("--weights", default=None, help="pretrained weights: a state dict or checkpoint path, or "
                   "'random' (default: the backbone's ImageNet weights)")
    g.add_argument("--recipe", default="optimal", choices=list(RECIPES),
                   help="which layers to re-initialise, keep or freeze (training/recipes.py; default optimal)")
    g.add_argument("--keep-imagenet-head", action="store_true",
                   help="train the 1000-way ImageNet head on the ILSVRC indices instead of a new head")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=None, help="at most this many epochs (default 239, the thesis's)")
    g.add_argument("--steps-per-epoch", type=int, default=None,
                   help="fixed-length epochs of N optimizer steps, as the thesis's Caffe solver counted them "
                   "(default: one pass over the train split)")
    g.add_argument("--batch-size", type=int, default=64, help="images per step and process (default 64)")
    for group in ("low", "high", "classifier", "head"):
        g.add_argument(f"--lr-{group}", type=float, default=None, help=f"learning rate of the {group} layers "
                       "(default: the recipe's)")
    g.add_argument("--lr-scaling", choices=("linear", "none"), default="linear",
                   help="under torchrun, multiply the rates by the number of processes (default linear)")
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=5e-4, help="on weights, not on biases or norms")
    g.add_argument("--lr-factor", type=float, default=0.1, help="learning-rate decay on a plateau (default 0.1)")
    g.add_argument("--lr-patience", type=int, default=1, help="epochs without a better val loss before decaying")
    g.add_argument("--patience", type=int, default=3,
                   help="stop after N epochs without a better val loss (default 3, the thesis's; 0: never)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels only (slower on a GPU; CPU runs are deterministic anyway)")
    g = p.add_argument_group("augmentation")
    g.add_argument("--crop-scale", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="random resized crop's area range (default 0.35 1)")
    g.add_argument("--hflip", type=float, default=None, help="flip probability (default 0.5)")
    g.add_argument("--jitter", type=float, default=None,
                   help="brightness/contrast/saturation jitter (default 0.2; 0 for none)")
    g.add_argument("--hue", type=float, default=None,
                   help="hue jitter (default 0: on CPU it triples the cost of an image)")
    g.add_argument("--style", type=float, default=None,
                   help="probability of each drawing-style change: palette, line weight, fill (default: the "
                   "recipe's; 0.5 for drawings, else 0)")
    g.add_argument("--label-smoothing", type=float, default=None, help="of the training loss (default: the recipe's)")
    g.add_argument("--head-init", choices=("random", "probe"), default=None,
                   help="a new head's start: random, or a linear probe of the frozen features (default: the "
                   "recipe's)")
    g.add_argument("--holdout-style", default=None, metavar="STYLE",
                   help="leave this drawing style out of train and val (for evaluation.svm --holdout-style STYLE)")
    g = p.add_argument_group("speed")
    g.add_argument("--workers", type=int, default=None, help="image-decoding processes per training process")
    g.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto",
                   help="autocast precision (default: bf16 on CUDA, off on CPU)")
    g.add_argument("--no-channels-last", action="store_true", help="keep the NCHW memory layout")
    g.add_argument("--compile", action="store_true", help="torch.compile the network (minutes of warm-up)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (torchrun picks per process)")
    g.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard event files")
    g.add_argument("--checkpoint-every", type=int, default=1, metavar="N",
                   help="write last.pt every N epochs (default 1); a new best and the last epoch are always "
                   "written. A resumed run restarts after the last one written")
    g = p.add_argument_group("evaluation")
    g.add_argument("--no-evaluate", action="store_true",
                   help="stop after training: no extraction, head and SVM results, nor write-back (the commands "
                   "are printed)")
    g.add_argument("--extract", action="store_true",
                   help="with --no-evaluate: still run evaluation.extract on best.pt")
    return p


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """The run's settings; ``data`` and ``out`` stay empty where the workspace is to give them (``training.plan``)."""
    lr = {g: getattr(args, f"lr_{g}") for g in ("low", "high", "classifier", "head")
          if getattr(args, f"lr_{g}") is not None}
    recipe = RECIPES[args.recipe]
    given = {"scale": tuple(args.crop_scale) if args.crop_scale else None, "hflip": args.hflip,
             "jitter": args.jitter, "hue": args.hue, "style": args.style}
    aug = asdict(Augment(**{**recipe.augment, **{k: v for k, v in given.items() if v is not None}}))
    return FinetuneConfig(
        data=str(args.data or ""), out=str(args.out or ""), backbone=args.backbone, recipe=args.recipe, weights=args.weights,
        keep_imagenet_head=args.keep_imagenet_head, epochs=args.epochs if args.epochs is not None else 239,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size, lr=lr, lr_scaling=args.lr_scaling,
        momentum=args.momentum, weight_decay=args.weight_decay, lr_factor=args.lr_factor,
        lr_patience=args.lr_patience, patience=args.patience, seed=args.seed, deterministic=args.deterministic,
        augment=aug, label_smoothing=recipe.label_smoothing if args.label_smoothing is None else args.label_smoothing,
        head_init=args.head_init or recipe.head_init, holdout_style=args.holdout_style, workers=args.workers,
        amp=args.amp, channels_last=not args.no_channels_last,
        compile=args.compile, device=args.device, tensorboard=not args.no_tensorboard,
        checkpoint_every=args.checkpoint_every, extract=args.extract, evaluate=not args.no_evaluate)


def resumed_config(args: argparse.Namespace) -> tuple[FinetuneConfig, dict]:
    """The run's own settings from its checkpoint, with the few that may change on resume."""
    resume = checkpoint.load(args.resume)
    known = {f.name for f in fields(FinetuneConfig)}
    cfg = FinetuneConfig(**{k: v for k, v in resume["args"].items() if k in known})
    cfg.out = str(args.resume if args.resume.is_dir() else args.resume.parent)
    if args.epochs is not None:
        cfg.epochs = args.epochs
    # speed settings may change on resume; the results do not depend on them
    if args.workers is not None:
        cfg.workers = args.workers
    if args.device != "auto":
        cfg.device = args.device
    cfg.compile = cfg.compile or args.compile
    cfg.extract = args.extract or cfg.extract
    cfg.evaluate = cfg.evaluate and not args.no_evaluate
    return cfg, resume


def preflight_weights(cfg: FinetuneConfig) -> None:
    """Load the starting weights once before a workspace run exports anything: a missing file fails first."""
    if cfg.weights != "random" and RECIPES[cfg.recipe].needs_pretrained():
        create_backbone(cfg.backbone, weights=cfg.weights,
                        **({"batch_norm": True} if RECIPES[cfg.recipe].batch_norm else {}))


def new_config(args: argparse.Namespace) -> FinetuneConfig:
    """A new run's settings; its data and folder from the workspace where the options leave them out."""
    from .plan import plan_run

    cfg = config_from_args(args)
    if args.out is not None and (args.out / "last.pt").exists():
        raise ValueError(f"{args.out} already holds a run (last.pt): pass --resume {args.out} to continue it, "
                         f"or choose another --out")
    if args.data is None or args.out is None:
        preflight_weights(cfg)
        plan = plan_run(args.workspace, args.data, args.out, cfg.backbone, cfg.recipe)
        cfg.data, cfg.out = str(plan.data), str(plan.out)
        logger.info("run folder %s; data %s (%s)", plan.out, plan.data, plan.source["kind"])
    return cfg


def print_summary(cfg: FinetuneConfig, summary: dict) -> None:
    if summary["final"] is None:
        how = "stopped early" if summary["stopped_early"] else "--epochs N continues it"
        print(f"{cfg.out}: nothing to do: the run had finished after {summary['epochs']} epochs "
              f"(best epoch {summary['best_epoch']}; {how})")
    else:
        print(f"{cfg.out}: {summary['epochs']} epochs, best epoch {summary['best_epoch']} (val loss "
              f"{summary['best_loss']:.4f}){', stopped early' if summary['stopped_early'] else ''}; "
              f"{summary['seconds']} s this session")


def extract_only(cfg: FinetuneConfig) -> None:
    """With --no-evaluate: extract if asked, and print the commands that evaluate the run."""
    cmd, features, name = extract_best(cfg)
    if cfg.extract:
        import gc

        from evaluation.extract import ExtractConfig, extract

        gc.collect()  # shut the training loaders' persistent workers down before extraction forks its own

        done = extract(ExtractConfig(manifest=Path(cfg.data), out=features, backbone=name,
                                     weights=str(Path(cfg.out) / "best.pt"), device=cfg.device))
        print(f"{done['out']}: {done['rows']} rows of best.pt's {done['layer']} features")
    else:
        print("next: python " + " ".join(cmd[1:]))
    print(f"then: python -m evaluation.svm --features {features} --out {Path(cfg.out) / 'results'}")


def _pct(g: dict | None) -> str:
    return "n/a" if not g else f"top-1 {100 * g['top1']:.1f}% / top-5 {100 * g['top5']:.1f}% (n={g['n']})"


def evaluate_and_write_back(cfg: FinetuneConfig) -> None:
    """The run's evaluation (what is not done yet), then its write-back where FiftyOne and a dataset are."""
    import gc

    from evaluation.runs import evaluate_run

    from .plan import fiftyone_available, read_source

    out = Path(cfg.out)
    gc.collect()  # shut the training loaders' persistent workers down before extraction forks its own
    state = evaluate_run(out, manifest=cfg.data, backbone=extract_best(cfg)[2], device=cfg.device)
    print(f"val, the fine-tuned head: {_pct(state['head'].get('val'))}; SVM on its features: "
          f"{_pct(state['svm']['svm'].get('val'))}  (results in {out / 'results'})")
    dataset = read_source(out).get("dataset")
    if not dataset:
        print(f"to see it in the App: python -m curation.writeback --run {out} --dataset NAME")
        return
    if not fiftyone_available():
        print(f"FiftyOne is not installed here: the results stay in {out}. Where the dataset lives, run:\n"
              f"  python -m curation.writeback --run {out}")
        return
    from curation.writeback import app_hint, format_summary, write_back_run

    for summary in write_back_run(out):
        print(format_summary(summary))
    print(app_hint(dataset))


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        resume = None
        if args.resume is not None:
            cfg, resume = resumed_config(args)
        else:
            cfg = new_config(args)
        summary = run(cfg, resume)
        if int(os.environ.get("RANK", "0")) != 0:
            return 0
        print_summary(cfg, summary)
        if cfg.evaluate:
            evaluate_and_write_back(cfg)
        else:
            extract_only(cfg)
    except (ValueError, OSError, WeightsUnavailable, checkpoint.CheckpointError) as err:
        print(f"training.finetune: {err}", file=sys.stderr)
        return 2
    except MemoryError as err:
        print(f"training.finetune: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
