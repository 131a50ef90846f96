"""A training.finetune run's settings (``FinetuneConfig``): from the command line for a new run, from its
checkpoint for a resumed one (where only speed settings, ``--epochs`` and the evaluation may change).
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields

from scraping.cli import UsageError

from . import checkpoint
from .data import Augment
from .recipes import RECIPES


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



# the options a resumed run takes anew (its results do not depend on them); the rest are the checkpoint's
RESUMABLE = ("resume", "epochs", "workers", "device", "compile", "extract", "no_evaluate", "quiet", "verbose")
# option -> (lowest, highest) allowed, both included (None: no bound); a value outside is a usage error
RANGES = {"epochs": (1, None), "steps_per_epoch": (1, None), "batch_size": (1, None), "momentum": (0, None),
          "weight_decay": (0, None), "lr_patience": (0, None), "patience": (0, None), "hflip": (0, 1),
          "jitter": (0, None), "hue": (0, 0.5), "style": (0, 1), "workers": (0, None), "checkpoint_every": (1, None),
          **{f"lr_{g}": (0, None) for g in ("low", "high", "classifier", "head")}}


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_args(args: argparse.Namespace, defaults: dict) -> None:
    """A UsageError (exit 2) for a value out of range or options that cannot go together, before anything is
    written; ``defaults`` are the parser's, to tell which options a ``--resume`` was given."""
    if args.resume is not None:
        given = [_option(k) for k, v in vars(args).items() if k not in RESUMABLE and v != defaults.get(k)]
        if given:
            raise UsageError(f"--resume continues a run with its own settings: leave out {', '.join(given)} "
                             "(only --epochs, --workers, --device, --compile, --extract, --no-evaluate may change)")
    for dest, (low, high) in RANGES.items():
        value = getattr(args, dest)
        if value is not None and (value < low or (high is not None and value > high)):
            raise UsageError(f"{_option(dest)} must be at least {low}" + (f" and at most {high}" if high else "")
                             + f", got {value}")
    if not 0 < args.lr_factor < 1:
        raise UsageError(f"--lr-factor must be between 0 and 1 (both excluded), got {args.lr_factor}")
    if args.label_smoothing is not None and not 0 <= args.label_smoothing < 1:
        raise UsageError(f"--label-smoothing must be at least 0 and below 1, got {args.label_smoothing}")
    if args.crop_scale and not 0 < args.crop_scale[0] <= args.crop_scale[1] <= 1:
        raise UsageError(f"--crop-scale MIN MAX: 0 < MIN <= MAX <= 1, got {' '.join(map(str, args.crop_scale))}")
    if args.keep_imagenet_head and args.head_init == "probe":
        raise UsageError("--head-init probe fits a new head: it cannot go with --keep-imagenet-head")
    if args.resume is None and RECIPES[args.recipe].batch_norm and args.backbone not in ("vgg19", "vgg19_bn"):
        raise UsageError(f"--recipe {args.recipe} puts batch norm into VGG-19: it cannot go with --backbone "
                         f"{args.backbone}")


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """The run's settings; ``data`` and ``out`` stay empty where the workspace is to give them (``training.plan``)."""
    lr = {g: getattr(args, f"lr_{g}") for g in ("low", "high", "classifier", "head")
          if getattr(args, f"lr_{g}") is not None}
    recipe = RECIPES[args.recipe]
    given = {"scale": tuple(args.crop_scale) if args.crop_scale else None, "hflip": args.hflip,
             "jitter": args.jitter, "hue": args.hue, "style": args.style}
    aug = asdict(Augment(**{**recipe.augment, **{k: v for k, v in given.items() if v is not None}}))
    return FinetuneConfig(
        data=str(args.manifest or ""), out=str(args.out or ""), backbone=args.backbone, recipe=args.recipe, weights=args.weights,
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

