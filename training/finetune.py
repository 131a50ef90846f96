"""python -m training.finetune: retrain a backbone on a manifest's train split, as the thesis retrained VGG-19.

    python -m training.finetune --manifest out/openclipart/manifest.jsonl --out runs/vgg19 --epochs 239
    python -m training.finetune --manifest M --out runs/lite --backbone efficientnet-lite0 --recipe finetune --epochs 5
    torchrun --nproc-per-node 8 -m training.finetune --manifest M --out runs/vgg19-ddp
    python -m training.finetune --resume runs/vgg19          # after a crash or kill -9: continues exactly
    python -m training.finetune --epochs 239                 # in a workspace: its dataset as curated now

With no ``--manifest`` and no ``--out`` it trains on the workspace's dataset (``training.plan``:
exported as curated now, or the latest export where FiftyOne is absent) in a new folder
``runs/NNN-<backbone>-<recipe>/``. At the end (unless ``--no-evaluate``) it evaluates the run
and writes it back onto that dataset (``training.workflow``, with ``evaluation.runs`` and
``curation.writeback``): the extraction from ``best.pt``, the fine-tuned head as a method, the SVM
on its features, each written back compared with the best method before; ``--resume`` continues an
interrupted evaluation too.

Each epoch ends with a checkpoint (``last.pt``, and ``best.pt`` by validation loss), a
line in ``log.jsonl`` and ``summary.csv``, and TensorBoard events; ``curves.png`` is drawn
at the end (the epoch loop's pieces are in ``training.engine``, the run's settings in
``training.settings``). The recipe (training/recipes.py) decides which layers are re-initialised,
kept or frozen, and each group's learning rate. SGD with momentum, the learning rate
divided by 10 when the validation loss stops falling, early stopping after ``--patience``
epochs without improvement, log-softmax with NLL: the thesis's Caffe solver.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from datasets.manifest import read_manifest
from scraping.cli import UsageError, add_common_arguments, check_folder, fail, setup_logging, usage
from scraping.files import atomic_write_text

from . import checkpoint
from .backbones import DEFAULT_LAYERS, WeightsUnavailable, create_backbone
from .curves import plot_curves
from .data import (
    Augment,
    Data,
    EpochSampler,
    LabelledImages,
    ShardSampler,
    class_list,
    draw_seed,
    holdout_rows,
    labelled_manifest_rows,
    train_transform,
)
from .engine import (
    Context,
    RunLog,
    amp_dtype,
    epoch_line,
    evaluate,
    init_distributed,
    make_loader,
    oom_advice,
    train_one_epoch,
)
from .recipes import RECIPES, Recipe, apply_recipe, format_table, frozen_modules, param_groups
from .runtime import check_device, keep_freed_memory
from .settings import FinetuneConfig, check_args, config_from_args, resumed_config
from .workflow import evaluate_and_write_back, extract_only, prepare_run

logger = logging.getLogger(__name__)
PROG = "training.finetune"


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



def probe_head(backbone, data: Data, device: torch.device) -> None:
    """The new head fitted as a linear probe on the train split's centre crops (recipe ``drawings``)."""
    from .probe import init_head_from_probe

    plain = LabelledImages(data.train.paths, data.train.targets,
                           lambda: backbone.preprocessing.transform(normalize=False), seed=data.train.seed)
    init_head_from_probe(backbone, plain, device)



@dataclass
class Session:
    """One process's training run: built by :func:`run`'s set-up steps, advanced by its epochs."""
    cfg: FinetuneConfig
    ctx: Context
    data: Data
    backbone: torch.nn.Module
    recipe: Recipe
    table: list  # the recipe's per-layer table (training.recipes.format_table)
    model: torch.nn.Module | None = None  # the backbone, wrapped for DDP and compiled where asked
    optimizer: torch.optim.Optimizer | None = None
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
    scaler: torch.amp.GradScaler | None = None
    dtype: torch.dtype | None = None
    frozen: list = field(default_factory=list)
    lr_scale: float = 1.0
    stopping: dict = field(default_factory=lambda: {"best_loss": math.inf, "best_epoch": 0, "bad_epochs": 0,
                                                     "stopped": False})
    history: list[dict] = field(default_factory=list)
    start_epoch: int = 0
    step: int = 0
    sampler: EpochSampler | None = None
    train_loader: DataLoader | None = None
    val_loader: DataLoader | None = None
    log: RunLog | None = None

    @property
    def out(self) -> Path:
        return Path(self.cfg.out)


def set_up(cfg: FinetuneConfig) -> Context:
    """This process's place among torchrun's, and the run's determinism."""
    ctx = init_distributed(cfg.device)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not cfg.deterministic
    if ctx.device.type == "cpu":
        keep_freed_memory()
    return ctx


def read_rows(cfg: FinetuneConfig, resume: dict | None) -> list[dict]:
    """The manifest's labelled rows; a resumed run's classes must be the checkpoint's."""
    rows = labelled_manifest_rows(read_manifest(cfg.data), cfg.data)
    if resume is not None and [c["wnid"] for c in class_list(rows)] != [c["wnid"] for c in resume["classes"]]:
        raise ValueError(f"{cfg.data}: its classes differ from the checkpoint's; a resumed run needs the same data")
    return rows


def make_model(cfg: FinetuneConfig, ctx: Context, rows: list[dict], resuming: bool) -> Session:
    """The network on its device, with its data (a new head fitted as a probe where the recipe asks)."""
    backbone, recipe, table = build_model(cfg, class_list(rows), resuming=resuming)
    data = read_data(cfg, rows, backbone.preprocessing)
    backbone = backbone.to(ctx.device)
    if cfg.channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    if not resuming and cfg.head_init == "probe" and not cfg.keep_imagenet_head and ctx.main:
        probe_head(backbone, data, ctx.device)  # under DDP, rank 0's weights are broadcast
    return Session(cfg, ctx, data, backbone, recipe, table)


def make_optimiser(s: Session) -> None:
    """SGD over the recipe's parameter groups, the plateau schedule, and the loss scaler of fp16."""
    cfg, ctx = s.cfg, s.ctx
    s.frozen = frozen_modules(s.backbone, s.recipe)
    s.lr_scale = ctx.world if cfg.lr_scaling == "linear" else 1.0
    groups = param_groups(s.backbone, s.recipe, weight_decay=cfg.weight_decay, lr_scale=s.lr_scale)
    if not groups:
        raise ValueError(f"recipe {s.recipe.name} trains nothing")
    s.optimizer = torch.optim.SGD(groups, lr=0.0, momentum=cfg.momentum)
    s.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(s.optimizer, mode="min", factor=cfg.lr_factor,
                                                             patience=cfg.lr_patience)
    s.dtype = amp_dtype(cfg.amp, ctx.device)
    s.scaler = torch.amp.GradScaler(ctx.device.type, enabled=s.dtype is torch.float16)


def restore(s: Session, resume: dict) -> None:
    """A resumed run's weights, optimiser, schedule, random state, history and place."""
    s.backbone.load_state_dict(resume["model"])
    s.optimizer.load_state_dict(resume["optimizer"])
    s.scheduler.load_state_dict(resume["scheduler"])
    if resume.get("scaler"):
        s.scaler.load_state_dict(resume["scaler"])
    checkpoint.set_rng_state(resume["rng"])
    s.stopping, s.history = resume["early_stopping"], resume["history"]
    s.start_epoch, s.step = resume["epoch"], resume["step"]


def make_loaders(s: Session) -> None:
    """The model as trained (DDP, torch.compile), the epoch sampler and the loaders."""
    cfg, ctx = s.cfg, s.ctx
    s.model = s.backbone
    if ctx.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        s.model = DistributedDataParallel(s.backbone,
                                          device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None)
    if cfg.compile:
        s.model = torch.compile(s.model)
    samples = cfg.steps_per_epoch * cfg.batch_size * ctx.world if cfg.steps_per_epoch else None
    s.sampler = EpochSampler(len(s.data.train), seed=cfg.seed, rank=ctx.rank, world=ctx.world,
                             samples_per_epoch=samples)
    s.train_loader = make_loader(s.data.train, s.sampler, ctx, cfg.batch_size,
                                 drop_last=len(s.sampler) >= cfg.batch_size, workers=cfg.workers)
    s.val_loader = (make_loader(s.data.val, ShardSampler(len(s.data.val), ctx.rank, ctx.world), ctx,
                                cfg.batch_size * 2, drop_last=False, workers=cfg.workers)
                    if s.data.val is not None else None)


def start_log(s: Session, resume: dict | None) -> None:
    """The main process writes args.json, says what it trains, and opens the run's log files."""
    cfg, ctx, data = s.cfg, s.ctx, s.data
    if ctx.main:
        s.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(s.out / "args.json", json.dumps(asdict(cfg), indent=2) + "\n")
        logger.info(format_table(s.table, s.recipe))
        logger.info("%s: %d train and %d val images in %d classes; %s process(es) x batch %d = effective batch %d; "
                    "learning rates x%g (%s scaling); %d optimizer steps per epoch%s; device %s, amp %s",
                    cfg.data, len(data.train), len(data.val) if data.val else 0, len(data.classes), ctx.world,
                    cfg.batch_size, cfg.batch_size * ctx.world, s.lr_scale, cfg.lr_scaling, len(s.train_loader),
                    f" (--steps-per-epoch {cfg.steps_per_epoch})" if cfg.steps_per_epoch else " (one pass)",
                    ctx.device, s.dtype or "off")
        s.log = RunLog(s.out, cfg.tensorboard, s.step if resume is not None else None)
        if resume is not None:
            logger.info("resuming after epoch %d (step %d) from %s", s.start_epoch, s.step, s.out / "last.pt")
    if resume is not None and resume.get("world_size", 1) != ctx.world:
        logger.warning("the run was trained by %d process(es) and resumes in %d: its sample order changes "
                       "from here on (the learning rates stay as saved)", resume.get("world_size", 1), ctx.world)
    if ctx.main:
        checkpoint.remove_stale(s.out)


def unreadable_reporter(s: Session):
    """``on_bad(split)``: a callback that logs each unreadable image of the split once (main process)."""
    reported: set[tuple[str, int]] = set()

    def on_bad(split):
        def report(bad):
            for i, err in bad:
                if (split, i) not in reported and s.ctx.main:
                    logger.warning("skipped unreadable %s image %s: %s", split,
                                   (s.data.train if split == "train" else s.data.val).paths[i], err)
                reported.add((split, i))
        return report
    return on_bad


def early_stopping(stopping: dict, monitor: float, epoch: int, patience: int) -> bool:
    """Update ``stopping`` with the epoch's monitored loss; True where it is the best yet."""
    improved = monitor < stopping["best_loss"]
    if improved:
        stopping.update(best_loss=monitor, best_epoch=epoch + 1, bad_epochs=0)
    else:
        stopping["bad_epochs"] += 1
        stopping["stopped"] = patience > 0 and stopping["bad_epochs"] >= patience
    return improved


def one_epoch(s: Session, epoch: int, on_bad) -> dict:
    """Train one epoch and evaluate; return its record for the history (``best``: a new best val loss)."""
    cfg, ctx, prep = s.cfg, s.ctx, s.backbone.preprocessing
    # dropout's generator: a function of (seed, epoch, rank), so resuming and DDP need no shared state
    torch.manual_seed(draw_seed(cfg.seed, (epoch + 1) * 1_000_003 + ctx.rank))
    s.sampler.set_epoch(epoch)
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(ctx.device)
    t0 = time.perf_counter()
    train = train_one_epoch(s.model, s.train_loader, s.optimizer, s.scaler, ctx, prep, s.dtype, s.frozen,
                            channels_last=cfg.channels_last, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                            on_bad=on_bad("train"), label_smoothing=cfg.label_smoothing)
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    train_s = time.perf_counter() - t0
    s.step += len(s.train_loader)
    val = (evaluate(s.model, s.val_loader, ctx, prep, s.dtype, channels_last=cfg.channels_last,
                    on_bad=on_bad("val")) if s.val_loader is not None else {})
    monitor = val.get("loss") if val.get("loss") is not None else train["loss"]
    lrs = {g["name"]: g["lr"] for g in s.optimizer.param_groups if not g["name"].endswith("/no_decay")}
    s.scheduler.step(monitor)
    improved = early_stopping(s.stopping, monitor, epoch, cfg.patience)
    return {"epoch": epoch + 1, "step": s.step,
            **{f"train_{k}": train[k] for k in ("loss", "top1", "top5")},
            **{f"val_{k}": val.get(k) for k in ("loss", "top1", "top5")},
            "lr": lrs, "epoch_s": round(time.perf_counter() - t0, 3),
            "images_per_s": round(train["images"] / train_s, 1) if train_s > 0 else None,
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated(ctx.device) / 2**30, 2)
            if ctx.device.type == "cuda" else None,
            "best": improved}


def end_epoch(s: Session, epoch: int, record: dict) -> None:
    """The main process's checkpoint (every ``--checkpoint-every`` epochs, a new best, the last), log and line."""
    cfg = s.cfg
    save = (record["best"] or s.stopping["stopped"] or epoch + 1 == cfg.epochs
            or (epoch + 1) % max(1, cfg.checkpoint_every) == 0)
    if not s.ctx.main:
        return
    if save:
        t_save = time.perf_counter()
        checkpoint.save({"model": s.backbone.state_dict(), "optimizer": s.optimizer.state_dict(),
                         "scheduler": s.scheduler.state_dict(),
                         "scaler": s.scaler.state_dict() if s.scaler.is_enabled() else None,
                         "rng": checkpoint.rng_state(), "early_stopping": s.stopping, "history": s.history,
                         "epoch": epoch + 1, "step": s.step, "args": asdict(cfg), "classes": s.data.classes,
                         "recipe": s.recipe.name, "world_size": s.ctx.world}, s.out, best=record["best"])
        saved_s = time.perf_counter() - t_save
    s.log.write(s.history)
    logger.info(epoch_line(record, cfg.epochs) + (f"; checkpoint {saved_s:.1f} s" if save else ""))
    if s.stopping["stopped"]:
        logger.info("early stop: no better validation loss for %d epochs (best: epoch %d)",
                    cfg.patience, s.stopping["best_epoch"])


def train_epochs(s: Session) -> None:
    """The epochs left, until ``--epochs`` or early stopping; out of GPU memory is a MemoryError with advice."""
    on_bad = unreadable_reporter(s)
    try:
        for epoch in range(s.start_epoch, s.cfg.epochs):
            if s.stopping["stopped"]:
                break
            record = one_epoch(s, epoch, on_bad)
            s.history.append(record)
            end_epoch(s, epoch, record)
    except torch.cuda.OutOfMemoryError:
        raise MemoryError(oom_advice(s.cfg.batch_size, s.ctx.device)) from None
    finally:
        if s.log is not None:
            s.log.close()


def finish(s: Session, seconds: float | None) -> dict:
    """The run's summary (``seconds`` None: nothing was left to train), its curves, and the process group's end."""
    summary = {"epochs": len(s.history), "best_epoch": s.stopping["best_epoch"], "out": str(s.out),
               "stopped_early": s.stopping["stopped"], "world_size": s.ctx.world}
    if seconds is None:
        summary["final"] = None
    else:
        summary.update(best_loss=s.stopping["best_loss"], seconds=round(seconds, 1),
                       final=s.history[-1] if s.history else None)
        if s.ctx.main and s.history:
            plot_curves(s.history, s.out / "curves.png", f"{s.cfg.backbone}, recipe {s.recipe.name}: "
                        f"{Path(s.cfg.data).parent.name} ({len(s.data.classes)} classes)")
    if s.ctx.world > 1:
        if seconds is not None:
            dist.barrier()
        dist.destroy_process_group()
    return summary


def run(cfg: FinetuneConfig, resume: dict | None = None) -> dict:
    """Train (or continue) one run; return the final summary. Only rank 0 writes."""
    ctx = set_up(cfg)
    s = make_model(cfg, ctx, read_rows(cfg, resume), resuming=resume is not None)
    make_optimiser(s)
    if resume is not None:
        restore(s, resume)
        if s.stopping["stopped"] or s.start_epoch >= cfg.epochs:
            return finish(s, None)
    make_loaders(s)
    start_log(s, resume)
    started = time.perf_counter()
    train_epochs(s)
    return finish(s, time.perf_counter() - started)



def _data_arguments(g) -> None:
    """The run's data, folder, network and recipe."""
    g.add_argument("--manifest", type=Path, help="manifest.jsonl from datasets.build or curation.export (default: the "
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


def _optimisation_arguments(g) -> None:
    """Epochs, batch, learning rates and their schedule, early stopping, seed."""
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


def _augmentation_arguments(g) -> None:
    """The training images' augmentation, label smoothing, the new head's start, a held-out style."""
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


def _speed_arguments(g) -> None:
    """Processes, precision, memory layout, compilation, device, event files, checkpoint frequency."""
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


def _evaluation_arguments(g) -> None:
    """What happens after training: the evaluation and write-back, or the extraction alone."""
    g.add_argument("--no-evaluate", action="store_true",
                   help="stop after training: no extraction, head and SVM results, nor write-back (the commands "
                   "are printed)")
    g.add_argument("--extract", action="store_true",
                   help="with --no-evaluate: still run evaluation.extract on best.pt")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Fine-tune a backbone on a clip-art manifest (the thesis's VGG-19 "
                                "retraining).", add_help=add_help)
    for title, add in (("data and run", _data_arguments),
                       ("optimisation", _optimisation_arguments),
                       ("augmentation", _augmentation_arguments),
                       ("speed", _speed_arguments),
                       ("evaluation", _evaluation_arguments)):
        add(p.add_argument_group(title))
    return add_common_arguments(p)


def preflight_weights(cfg: FinetuneConfig) -> None:
    """Load the starting weights once before a workspace run exports anything: a missing file fails first."""
    if cfg.weights != "random" and RECIPES[cfg.recipe].needs_pretrained():
        create_backbone(cfg.backbone, weights=cfg.weights,
                        **({"batch_norm": True} if RECIPES[cfg.recipe].batch_norm else {}))


def new_config(args: argparse.Namespace) -> FinetuneConfig:
    """A new run's settings; its data and folder from the workspace where the options leave them out."""
    cfg = config_from_args(args)
    if args.out is not None and (args.out / "last.pt").exists():
        raise ValueError(f"{args.out} already holds a run (last.pt): pass --resume {args.out} to continue it, "
                         f"or choose another --out")
    check_folder(args.out, error=ValueError)
    if args.manifest is None or args.out is None:  # the plan writes a run folder: check what it needs first
        if args.manifest is not None:
            rows = labelled_manifest_rows(read_manifest(args.manifest), args.manifest)
            if args.holdout_style is not None:
                holdout_rows(rows, args.holdout_style, str(args.manifest))
        preflight_weights(cfg)
        plan = prepare_run(args.workspace, args.manifest, args.out, cfg.backbone, cfg.recipe)
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



def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    if int(os.environ.get("RANK", "0")) != 0:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        check_args(args, vars(get_args_parser().parse_args([])))
        check_device(args.device)
        resume = None
        if args.resume is not None:
            cfg, resume = resumed_config(args)
            check_device(cfg.device)  # the run's own, where --device is not given anew
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
    except UsageError as err:
        return usage(PROG, err)
    except (ValueError, OSError, MemoryError, WeightsUnavailable, checkpoint.CheckpointError) as err:
        return fail(PROG, err)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))

