"""Stable train/val splits derived from content hashes.

Each image's split depends only on its sha256 and the seed, so adding files never
moves an existing file, byte-identical files always land together, and every class
gets the validation fraction in expectation (a stratified split in distribution).
"""
from __future__ import annotations

import hashlib


def split_score(image_id: str, seed: int = 0) -> float:
    """A uniform number in [0, 1) fixed by (seed, image id)."""
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(image_id: str, *, val_fraction: float = 0.2, seed: int = 0) -> str:
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    return "val" if split_score(image_id, seed) < val_fraction else "train"
