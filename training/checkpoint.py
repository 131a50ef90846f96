"""Training checkpoints: written whole or not at all, and refused with a clear message when damaged.

A run folder holds ``last.pt`` (the latest epoch) and ``best.pt``, a hard link to the
checkpoint of the best epoch so far (no second copy on disk). Both are replaced by
rename, so a process killed at any moment leaves the previous complete checkpoint.
Everything in a checkpoint loads with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from scraping.files import atomic_path, fsync_dir

FORMAT = "drawnet-finetune/1"
REQUIRED = ("format", "model", "optimizer", "scheduler", "epoch", "step", "args", "rng", "early_stopping", "history")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not ours; the message names the file."""


def save(state: dict, folder: Path, *, best: bool) -> Path:
    """Write ``folder/last.pt`` atomically; with ``best``, point ``best.pt`` at it too."""
    folder.mkdir(parents=True, exist_ok=True)
    last = folder / "last.pt"
    with atomic_path(last, durable=True) as tmp, open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **state}, f)
    if best:
        link = folder / f".best.pt.{os.getpid()}.tmp"
        link.unlink(missing_ok=True)
        try:
            os.link(last, link)
        except OSError:  # a file system without hard links: a copy
            import shutil

            shutil.copyfile(last, link)
        os.replace(link, folder / "best.pt")
    fsync_dir(folder)
    return last


def remove_stale(folder: Path) -> list[Path]:
    """Temporary files of a process killed mid-write (checkpoints, logs, plots): never complete, never
    read, and removed when the run starts again."""
    stale = [p for pattern in (".*.tmp", ".*.tmp.png") for p in folder.glob(pattern) if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load(path: Path) -> dict:
    """A complete checkpoint of ours, or CheckpointError saying what is wrong with which file."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint there (a run folder holds last.pt once an epoch has finished)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle errors, foreign objects: all mean "not usable"
        raise CheckpointError(f"{path}: not a complete checkpoint ({type(err).__name__}: {str(err)[:200]}); "
                              f"it may have been cut short or damaged. best.pt in the same folder, unless it is a "
                              f"hard link to this file (the last epoch was the best), is an earlier one") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a training checkpoint of training.finetune (format "
                              f"{ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r}); "
                              f"a plain state dict goes to --weights instead")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return ckpt


def rng_state() -> dict:
    """Every generator a training step may draw from, in weights_only-loadable form."""
    version, state, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                      "cached": float(cached)},
            "python": [version, list(state), gauss]}


def set_rng_state(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])
    n = rng["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
