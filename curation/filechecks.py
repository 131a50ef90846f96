"""File checks for curation.hygiene: each file's sha256, perceptual hash, size and blank fraction, or why it
cannot be read; then which files are tiny, blank or unreadable."""
from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import numpy as np

POOL_MIN_FILES = 2000  # fewer files are read in this process: spawning workers (~1.5 s of imports each) costs more


def blank_fraction(rgb: np.ndarray, tolerance: int = 8) -> float:
    """Share of the pixels of ``rgb`` (H, W, 3 uint8) within ``tolerance`` of its most common colour."""
    pixels = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    if not len(pixels):
        return 1.0
    packed = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    mode = int(values[np.argmax(counts)])
    dominant = np.array([(mode >> 16) & 255, (mode >> 8) & 255, mode & 255])
    low, high = np.clip(dominant - tolerance, 0, 255), np.clip(dominant + tolerance, 0, 255)
    near = np.ones(len(pixels), dtype=bool)
    for channel in range(3):  # |pixel - dominant| <= tolerance, channel by channel in uint8: 6x faster than int16
        column = pixels[:, channel]
        near &= (column >= low[channel]) & (column <= high[channel])
    return float(near.mean())


def inspect_image(path: str, *, hash_size: int = 8, tolerance: int = 8) -> dict:
    """Facts about one file: sha256 of its bytes, phash, size and blank fraction; ``error`` if it cannot be read.

    The image is read as a network sees it (``scraping.pixels.load_rgb``: RGB, transparency on white).
    """
    import imagehash

    from scraping.pixels import load_rgb

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return {"error": f"{type(err).__name__}: {err}"[:300]}
    facts = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        img = load_rgb(io.BytesIO(data))  # type: ignore[arg-type]  # PIL opens file objects too
    except Exception as err:  # PIL raises many types for bad files
        return {**facts, "error": f"{type(err).__name__}: {err}"[:300]}
    facts.update(width=img.width, height=img.height, phash=str(imagehash.phash(img, hash_size=hash_size)),
                 blank_fraction=blank_fraction(np.asarray(img), tolerance))
    return facts


def inspect_files(paths: list[str], *, hash_size: int = 8, tolerance: int = 8, workers: int = 1,
                  min_pool: int = POOL_MIN_FILES) -> list[dict]:
    """:func:`inspect_image` of every path, in order; by ``workers`` processes when there are ``min_pool`` or more.

    Workers are spawned, not forked: a fork would copy the caller's MongoDB client and its threads.
    """
    from tqdm import tqdm

    work = functools.partial(inspect_image, hash_size=hash_size, tolerance=tolerance)
    bar = {"total": len(paths), "desc": "files", "unit": "img", "disable": None}
    if workers <= 1 or len(paths) < max(min_pool, 2):
        return [work(p) for p in tqdm(paths, **bar)]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(work, paths, chunksize=32), **bar))


def file_flags(facts: list[dict], *, blank_from: float, tiny_side: int) -> tuple[np.ndarray, np.ndarray, list,
                                                                                  np.ndarray]:
    """(readable, blank, shorter side or None, tiny) per file, from :func:`inspect_image`'s facts: blank from a
    blank fraction of ``blank_from``, tiny below ``tiny_side`` px."""
    readable = np.array(["error" not in f for f in facts], dtype=bool)
    blank = np.array([f.get("blank_fraction", 0.0) >= blank_from for f in facts], dtype=bool)
    min_side = [min(f["width"], f["height"]) if "width" in f else None for f in facts]
    tiny = np.array([s is not None and s < tiny_side for s in min_side], dtype=bool)
    return readable, blank, min_side, tiny
