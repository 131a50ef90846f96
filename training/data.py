"""Training data from a manifest: its labelled rows and classes, augmented images, and an epoch order that
depends on the seed alone.

Every image a run draws has a draw number (its position in the run's stream of samples).
The shuffle of each pass and the augmentation of each draw are seeded by ``(seed, draw)``,
never by worker or process state, so a run resumed from an epoch's checkpoint, a run
with more or fewer workers and a run split over N processes all see the same batches.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler

from .images import Preprocessing, load_rgb

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Augment:
    scale: tuple[float, float] = (0.35, 1.0)  # RandomResizedCrop area range
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5  # probability
    jitter: float = 0.2  # brightness, contrast and saturation; 0 turns colour jitter off
    hue: float = 0.0  # off by default: on CPU it costs 3x the rest of the pipeline (RGB->HSV per image)
    style: float = 0.0  # probability of each drawing-style change (DrawingStyle): palette, line weight, fill


class DrawingStyle:
    """What varies between drawing styles of one object, each change applied with probability ``p``
    to a uint8 (3, H, W) image on white:

        palette      the colour channels permuted (a red fill becomes green or blue), or grey
        line weight  dark strokes thickened (a 3x3 minimum filter) or thinned (a 3x3 maximum filter)
        fill         flat fills made gradients (a linear ramp of darkening, in a random direction, on
                     the non-white pixels), or gradients made flat (posterised to 3 bits a channel)

    It draws from torch's global generator, which LabelledImages seeds per draw.
    """

    def __init__(self, p: float):
        self.p = p

    def _chance(self) -> bool:
        return bool(torch.rand(()) < self.p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._chance():
            x = self.palette(x)
        if self._chance():
            x = self.line_weight(x, thicker=bool(torch.rand(()) < 0.5))
        if self._chance():
            x = self.gradient_fill(x) if torch.rand(()) < 0.5 else self.flat_fill(x)
        return x

    @staticmethod
    def palette(x: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) < 0.25:
            grey = (x.float() * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
            return grey.round().clamp(0, 255).to(x.dtype).expand_as(x).contiguous()
        return x[torch.randperm(3)]

    @staticmethod
    def line_weight(x: torch.Tensor, thicker: bool) -> torch.Tensor:
        import torch.nn.functional as F

        y = x.float().unsqueeze(0)
        y = -F.max_pool2d(-y, 3, stride=1, padding=1) if thicker else F.max_pool2d(y, 3, stride=1, padding=1)
        return y.squeeze(0).to(x.dtype)

    @staticmethod
    def gradient_fill(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        angle = torch.rand(()) * 2 * math.pi
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        ramp = (xx * torch.cos(angle) + yy * torch.sin(angle)) / math.sqrt(2)  # -1..1 along the direction
        depth = 0.15 + 0.25 * torch.rand(())
        shade = 1 - depth * (ramp + 1) / 2
        ink = (x < 250).any(0, keepdim=True)  # the white background stays white
        return torch.where(ink, (x.float() * shade).round(), x.float()).clamp(0, 255).to(x.dtype)

    @staticmethod
    def flat_fill(x: torch.Tensor, bits: int = 3) -> torch.Tensor:
        step = 1 << (8 - bits)
        flat = (x.to(torch.int32) // step) * step + step // 2
        return torch.where(x >= 250, x.to(torch.int32), flat).to(x.dtype)


def train_transform(prep: Preprocessing, aug: Augment):
    """PIL image -> augmented uint8 tensor (normalised later, on the device)."""
    from torchvision.transforms import InterpolationMode, v2

    steps = [v2.ToImage(), v2.RandomResizedCrop(prep.size, scale=aug.scale, ratio=aug.ratio,
                                                 interpolation=InterpolationMode(prep.interpolation), antialias=True)]
    if aug.hflip:
        steps.append(v2.RandomHorizontalFlip(aug.hflip))
    if aug.jitter or aug.hue:
        steps.append(v2.ColorJitter(aug.jitter, aug.jitter, aug.jitter, aug.hue))
    if aug.style:
        steps.append(DrawingStyle(aug.style))
    return v2.Compose(steps)


def draw_seed(seed: int, draw: int) -> int:
    return (seed * 1_000_003 + draw) % (1 << 63)


class LabelledImages(Dataset):
    """``dataset[(index, draw)] -> (uint8 tensor or None, target, index, error)``; an unreadable file
    is not an error for the run: the collate function leaves it out and reports it."""

    def __init__(self, paths: Sequence[str | Path], targets: Sequence[int], transform_factory, seed: int = 0):
        self.paths, self.targets = list(paths), list(targets)
        self.transform_factory, self.seed = transform_factory, seed
        self._transform = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key):
        index, draw = key if isinstance(key, tuple) else (key, key)
        if self._transform is None:  # built in the worker: transforms need not pickle
            self._transform = self.transform_factory()
        try:
            image = load_rgb(self.paths[index])
            # fork: in the main process (workers=0) this must not disturb dropout's generator
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(draw_seed(self.seed, draw))
                x = self._transform(image)
            return x, self.targets[index], index, None
        except Exception as err:  # PIL raises many types for bad files
            return None, self.targets[index], index, f"{type(err).__name__}: {err}"[:300]


def collate(batch):
    """(images uint8 (B,3,H,W) or None, targets, indices, [(index, error)]) without unreadable images."""
    good = [b for b in batch if b[0] is not None]
    bad = [(b[2], b[3]) for b in batch if b[0] is None]
    if not good:
        return None, torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), bad
    return (torch.stack([b[0] for b in good]), torch.tensor([b[1] for b in good]),
            torch.tensor([b[2] for b in good]), bad)


class EpochSampler(Sampler):
    """This process's share of an epoch, as ``(index, draw)`` pairs.

    By default an epoch is one shuffled pass over the data, padded to a multiple of the
    number of processes as DistributedSampler does. With ``samples_per_epoch`` an epoch
    is that many draws from an endless stream of shuffled passes (the thesis's fixed-length
    epochs). Process ``rank`` takes every ``world``-th draw, so N processes with batch B draw
    the same samples per step as one process with batch N*B.
    """

    def __init__(self, n: int, *, seed: int = 0, rank: int = 0, world: int = 1, shuffle: bool = True,
                 samples_per_epoch: int | None = None):
        if n <= 0:
            raise ValueError("no samples to draw from")
        self.n, self.seed, self.rank, self.world, self.shuffle = n, seed, rank, world, shuffle
        self.fixed = samples_per_epoch
        self.per_epoch = math.ceil((samples_per_epoch or n) / world) * world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _pass(self, p: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + p))

    def draws(self) -> tuple[torch.Tensor, int]:
        """All processes' indices for this epoch, and the draw number of the first."""
        if self.fixed is None:
            order = self._pass(self.epoch)
            order = torch.cat([order] * math.ceil(self.per_epoch / self.n))[: self.per_epoch]
            return order, self.epoch * self.per_epoch
        start = self.epoch * self.per_epoch
        first, last = start // self.n, (start + self.per_epoch - 1) // self.n
        stream = torch.cat([self._pass(p) for p in range(first, last + 1)])
        offset = start - first * self.n
        return stream[offset: offset + self.per_epoch], start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order, start = self.draws()
        for k in range(self.rank, self.per_epoch, self.world):
            yield int(order[k]), start + k

    def __len__(self) -> int:
        return self.per_epoch // self.world


class ShardSampler(Sampler):
    """Every ``world``-th index from ``rank``, unpadded: evaluation counts each image once."""

    def __init__(self, n: int, rank: int = 0, world: int = 1):
        self.indices = list(range(rank, n, world))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


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


def holdout_rows(rows: list[dict], style: str, data: str) -> list[dict]:
    """The rows of every other style: a run for ``evaluation.svm --holdout-style`` never sees ``style``."""
    styles = sorted({str(r.get("style")) for r in rows})
    if style not in styles:
        raise ValueError(f"{data}: no rows of style {style!r} to hold out; its styles: {', '.join(styles)}")
    kept = [r for r in rows if str(r.get("style")) != style]
    logger.info("holding out style %s: %d of %d rows left out of train and val", style, len(rows) - len(kept),
                len(rows))
    return kept
