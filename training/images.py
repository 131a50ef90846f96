"""Images as a network sees them: any file that PIL opens, as RGB on white, preprocessed.

Shared by feature extraction and fine-tuning. A file that cannot be decoded is not an
error for the run: the dataset yields ``None`` for it, with the reason, and the collate
function leaves it out of the batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from scraping.pixels import load_rgb  # noqa: F401  (the one conversion, here for training)


@dataclass(frozen=True)
class Preprocessing:
    size: int  # square input side, px
    resize: int  # shorter side before the centre crop (== size: no crop)
    mean: tuple[float, float, float]  # per channel, on [0, 1] pixels
    std: tuple[float, float, float]
    interpolation: str = "bilinear"  # or "bicubic"

    def transform(self, normalize: bool = True):
        """PIL image -> tensor; ``normalize=False`` stops at uint8, for ``normalize`` on the device."""
        from torchvision.transforms import InterpolationMode, v2

        steps = [
            v2.ToImage(),
            v2.Resize(self.resize, interpolation=InterpolationMode(self.interpolation), antialias=True),
            v2.CenterCrop(self.size),
        ]
        if normalize:
            steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(self.mean), list(self.std))]
        return v2.Compose(steps)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> normalised float32, where ``x`` is (a quarter of the bytes to move)."""
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x.float().div_(255) - mean).div_(std)


class ImageFiles(Dataset):
    """Preprocessed tensors for a list of image paths; yields ``(index, tensor or None, error)``."""

    def __init__(self, paths: Sequence[str | Path], preprocessing: Preprocessing, normalize: bool = True):
        self.paths = list(paths)
        self.preprocessing = preprocessing
        self.normalize = normalize
        self._transform = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        if self._transform is None:  # built in the worker: transforms need not pickle
            self._transform = self.preprocessing.transform(self.normalize)
        try:
            return i, self._transform(load_rgb(self.paths[i])), None
        except Exception as err:  # PIL raises many types for bad files; the run goes on
            return i, None, f"{type(err).__name__}: {err}"[:300]


def collate_skipping_bad(batch):
    """(indices, stacked tensor or None, [(index, error), ...]) with the unreadable images left out."""
    good = [(i, x) for i, x, err in batch if x is not None]
    bad = [(i, err) for i, x, err in batch if x is None]
    if not good:
        return torch.empty(0, dtype=torch.long), None, bad
    indices = torch.tensor([i for i, _ in good], dtype=torch.long)
    return indices, torch.stack([x for _, x in good]), bad
