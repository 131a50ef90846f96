"""python -m curation.hygiene: duplicates, train/val leaks, tiny or blank files and likely mislabels, as tags, fields.

    python -m curation.hygiene --dataset drawnet --features out/feats/drawnet_lite0.h5
    python -m curation.hygiene --dataset drawnet --features F --near-threshold 0.05 --phash-distance 6 --no-clip
    python -m curation.hygiene --dataset drawnet --features F --clip-model ViT-B-32 --clip-weights clip.bin

Nothing is deleted: each finding is a tag or a field, for review in the App. A run first
clears what the last one wrote (its tags and fields, and the ``mistakenness`` brain run that
earlier versions registered) and never touches any other tag (``train``/``val``, curation tags) or field.

    tag          fields
    dup:exact    exact_group (sha256 of the file's bytes), exact_duplicates (the other samples' image_ids)
    dup:near     near_group (image_id of the group's representative file), near_group_size (samples),
                 near_duplicates (image_ids of the files linked directly, nearest first), near_by (the
                 detectors that linked the group: "embedding", "phash")
    leak         leak_with: image_ids in the other split that are its file's duplicates, linked directly
                 to its file, or in its near group (those linked directly first)
    tiny         min_side (set on every readable sample): shorter side below --tiny-side
    blank        blank_fraction (every readable sample): share of pixels of the dominant colour, on white
    unreadable   file_error
                 phash (hex), cv_prediction, mistakenness, clip_prediction, clip_agreement

Duplicates are found between files, not samples: samples with the same bytes are one file (an
exact group). Two files are linked when their features file rows are within ``--near-threshold``
cosine distance after centring on the mean of the rows compared (fiftyone-brain's
``compute_near_duplicates`` metric), or when their ``imagehash.phash`` differ in at most
``--phash-distance`` bits; both find every such pair, exactly (phash: multi-index hashing;
features: blocks of rows compared in a 33-dim projection that can only shrink distances, the full
rows deciding, in memory bounded by the block; that screen is the one quadratic cost, about a
million pairs per 5 ms here). Links do not chain into groups: the file with the most links (then the
smallest image_id) represents a group, the other files it links join it, and so on down the files not
yet linked to a representative; each linked file then joins the representative it is nearest to
(distance as a share of its detector's threshold), and a representative left alone joins the group
of its nearest linked file. A group is thus a representative and files within one or two links of it:
a series of gradually edited drawings is several groups, not one. Blank and unreadable files take
part in exact duplicates only: every blank image looks like every other. Id lists keep at most 25
ids; the group id finds all. More than 20,000,000 links of one detector stop the run with an error
naming the threshold to lower.

Likely mislabels: out-of-fold class probabilities over the samples' CURRENT ``ground_truth``
labels (after curation), with ``review == "rejected"`` samples left out, become ``cv_prediction``
(label and confidence) and ``mistakenness`` (higher = more likely mislabelled), fiftyone-brain's
classification mistakenness with ``use_logits=True``: ``(m * exp(-entropy(p)) + 1) / 2``, m = -1
when the predicted class is the label, else 1, computed here for all samples at once and written
with ``set_values`` (the brain saved sample by sample, ~120 samples/s, from 1000-wide logits stored on
every prediction; neither is needed, and no brain run is registered). Up to ``--exact-rows``
samples the probabilities are ``evaluation.svm.cross_validated_probabilities`` (an SVM on an exact
kernel: rows^2 floats per fold, time rows^2 x classes); above, ``evaluation.svm.cross_validated_linear``
(a shrunk linear discriminant, linear in the rows, the same folds and temperature scaling).
``dataset.info["hygiene"]["mislabels"]["method"]`` and the printed summary say which ran, and why.

With open_clip weights on disk (``--clip-weights``, or open_clip's / Hugging Face's cache; never
downloaded), zero-shot CLIP over the dataset's classes adds ``clip_prediction`` and
``clip_agreement`` (CLIP's probability of the sample's label); without them CLIP is skipped and the
summary says where weights were looked for. The summary (counts, seconds per step) is printed and
stored in ``dataset.info["hygiene"]``. From 2,000 files on, ``--workers`` processes read them.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import io
import logging
import math
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from evaluation.zeroshot import (
    ClipConfig,
    add_clip_arguments,
    clip_similarities,
    find_clip_weights,
    label_prompts,
    zero_shot,
)

from .database import fiftyone_module
from .views import save_curation_views

logger = logging.getLogger(__name__)

KEY = "image_id"
TAGS = ("dup:exact", "dup:near", "leak", "tiny", "blank", "unreadable")
MISTAKENNESS = "mistakenness"  # the "to review" view sorts by this field: keep the name
PREDICTION = "cv_prediction"
SPLITS = ("train", "val")
LISTED = 25  # most image ids kept in one sample's list field: a group of hundreds would repeat them on every member
MAX_PAIRS = 20_000_000  # links of one detector, at most (16 bytes each): a looser threshold is an error, not a swap
# embedding pairs are screened in this many principal directions (+1: the rest's length): 32 passed 0.02% of the
# pairs of real 1280-dim features (0.015% with 128), for a third of 128's multiply-adds
PROJECTION_DIMS = 32
BLOCK = 2048  # rows x rows of projected features compared at a time (16 MB of float32)
CANDIDATES = 2_000_000  # phash candidate pairs checked at a time
POOL_MIN_FILES = 2000  # fewer files are read in this process: spawning workers (~1.5 s of imports each) costs more


@dataclass
class HygieneConfig:
    # cosine distance of feature rows, at most. efficientnet-lite0 pooled features of OpenClipart renders: under 0.02
    # recoloured or retouched copies of one drawing, from 0.03 different drawings of a series (brain's 0.2: all)
    near_threshold: float = 0.02
    # differing bits of 64 between perceptual hashes, at most: recolourings of a drawing up to 4, unrelated from 6
    phash_distance: int = 4
    hash_size: int = 8  # phash side: hash_size**2 bits
    tiny_side: int = 32  # shorter side (px) below which a file is tiny
    # share of the pixels of one colour (on white) from which a file is blank: at 0.994 a 256 px render has under
    # ~300 px of drawing (a speck on a page); thin line art stays below it
    blank_fraction: float = 0.994
    blank_tolerance: int = 8  # per-channel difference (0..255) still counted as that colour
    workers: int = 2  # processes reading the files
    mislabels: bool = True  # cross-validated classifier + mistakenness
    # samples up to which the exact-kernel SVM scores them; above, the linear model. The kernel is rows^2 float64
    # per fold, two folds at once with --jobs 2: 10,000 rows peaked at 1.5 GB. One-vs-rest time grows as
    # rows^2 x classes: 5,000 rows of 1,000 classes took 190 s here, and 9,755 rows of 996 classes 1,018 s
    # (benchmarks/scale_bench.py at 10,000 drawings, other work on both cores)
    exact_rows: int = 5_000
    folds: int = 5
    seed: int = 0
    kernel: str = "rbf"
    C: float = 1.0
    jobs: int = -1  # parallel folds (processes) of the exact SVM
    clip: bool = True  # zero-shot CLIP when weights are on disk
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"  # open_clip tag whose cached weights are looked for
    clip_weights: str | None = None  # a weights file, instead of the caches
    clip_template: str = "a drawing of a {}"
    clip_batch_size: int = 64
    device: str = "auto"


# ---------------------------------------------------------------- pure parts: files


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

    The image is read as a network sees it (``datasets.images.load_rgb``: RGB, transparency on white).
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


# ---------------------------------------------------------------- pure parts: near-duplicate pairs


def phash_bits(hexes: list[str]) -> np.ndarray:
    """Hex perceptual hashes (all of one length) as a boolean (N, bits) array."""
    if not hexes:
        return np.zeros((0, 0), dtype=bool)
    raw = np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=np.uint8).reshape(len(hexes), -1)
    return np.unpackbits(raw, axis=1).astype(bool)


def _words(bits: np.ndarray) -> np.ndarray:
    """Boolean (N, bits) rows as (N, W) uint64 words, zero-padded: XOR and popcount give Hamming distances."""
    packed = np.packbits(bits, axis=1)
    pad = -packed.shape[1] % 8
    packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def _block_keys(block: np.ndarray) -> np.ndarray:
    """A bucket number per row of a boolean (N, b) block: equal blocks, equal numbers."""
    packed = np.ascontiguousarray(np.packbits(block, axis=1))
    return np.unique(packed.view(f"V{packed.shape[1]}").ravel(), return_inverse=True)[1].ravel()


def same_key_pairs(keys: np.ndarray, chunk: int = CANDIDATES):
    """Every index pair (i < j) with ``keys[i] == keys[j]``, as (i, j) arrays, about ``chunk`` pairs at a time."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    n = len(k)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, n])
    run = np.repeat(np.arange(len(starts)), sizes)
    later = sizes[run] - 1 - (np.arange(n) - starts[run])  # partners after each position in its run
    ends = np.cumsum(later)
    cuts = np.unique(np.searchsorted(ends, np.arange(chunk, int(ends[-1]) if n else 0, chunk), side="left"))
    for lo, hi in zip(np.r_[0, cuts + 1], np.r_[cuts + 1, n]):
        counts = later[lo:hi]
        total = int(counts.sum())
        if not total:
            continue
        left = np.repeat(np.arange(lo, hi), counts)
        step = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        a, b = order[left], order[left + step]
        yield np.minimum(a, b), np.maximum(a, b)


def _pairs_array(codes: list[np.ndarray], n: int) -> np.ndarray:
    """Unique (i, j) pairs, sorted, from ``i * n + j`` codes."""
    code = np.unique(np.concatenate(codes)) if codes else np.zeros(0, dtype=np.int64)
    return np.stack([code // n, code % n], axis=1).astype(np.int64) if len(code) else np.zeros((0, 2), np.int64)


def phash_pairs(bits: np.ndarray, max_distance: int, *, max_pairs: int = MAX_PAIRS) -> np.ndarray:
    """Index pairs (i < j) whose hashes differ in at most ``max_distance`` bits, as a sorted (M, 2) array.

    Exact, without comparing every pair (pigeonhole, "multi-index hashing"): split the bits into
    ``max_distance + 1`` blocks; two hashes within ``max_distance`` bits agree exactly on at least one of
    them, so only hashes that share a block's value are compared. More than ``max_pairs`` pairs is a
    ValueError (``--phash-distance`` too loose for the data).
    """
    bits = np.asarray(bits, dtype=bool)
    n, nbits = bits.shape if bits.ndim == 2 else (0, 0)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    words = _words(bits)
    if max_distance >= nbits:  # every pair: one block of no bits
        blocks = [np.zeros(n, dtype=np.int64)]
    else:
        edges = np.linspace(0, nbits, max_distance + 2).round().astype(int)
        blocks = [_block_keys(bits[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]
    codes, found = [], 0
    for keys in blocks:
        for i, j in same_key_pairs(keys):
            near = np.bitwise_count(words[i] ^ words[j]).sum(axis=1, dtype=np.int64) <= max_distance
            codes.append(i[near] * n + j[near])
            found += int(near.sum())
            if found > len(blocks) * max_pairs:  # a pair is found once per block it agrees on
                break
    pairs = _pairs_array(codes, n)
    if len(pairs) > max_pairs or found > len(blocks) * max_pairs:
        raise ValueError(f"--phash-distance {max_distance} links over {max_pairs:,} pairs of files; lower it")
    return pairs


def _unit_rows(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``features[rows]`` centred on their mean and scaled to unit length (rows all equal to the mean stay 0),
    float32, computed in chunks."""
    mean = np.zeros(features.shape[1])
    for start in range(0, len(rows), 8192):
        mean += np.asarray(features[rows[start : start + 8192]], dtype=np.float64).sum(axis=0)
    mean /= max(len(rows), 1)
    out = np.empty((len(rows), features.shape[1]), dtype=np.float32)
    for start in range(0, len(rows), 8192):
        x = np.asarray(features[rows[start : start + 8192]], dtype=np.float64) - mean
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + 8192] = x / np.where(norm > 0, norm, 1.0)
    return out


def _top_directions(sample: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(D, k) orthonormal columns spanning about the top ``k`` principal directions of ``sample``'s rows
    (subspace iteration on its Gram matrix; widest first). Any orthonormal basis keeps :func:`_screen` exact;
    the better it fits, the fewer pairs pass."""
    gram = sample.T @ sample
    q = np.random.default_rng(seed).normal(size=(gram.shape[0], k))
    for _ in range(4):
        q = np.linalg.qr(gram @ q)[0]
    vectors = np.linalg.eigh(q.T @ gram @ q)[1][:, ::-1]
    return q @ vectors


def _screen(unit: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """Unit rows whose dot products are at least ``unit``'s, widest direction first: the top ``dims`` principal
    directions of a sample of rows, P, and the length of the rest, ||P'(x - y)||^2 + (|Rx| - |Ry|)^2 <=
    ||x - y||^2 for unit rows x, y; with ``dims + 1`` dimensions or fewer, all principal directions (a rotation)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    sample = unit[np.sort(rng.choice(len(unit), size=min(len(unit), 20_000), replace=False))].astype(np.float64)
    with threadpool_limits(1):  # small LAPACK calls: threads waiting on each other took 3-8x longer on 2 busy cores
        if unit.shape[1] <= dims + 1:
            return unit @ np.linalg.eigh(sample.T @ sample)[1][:, ::-1].astype(np.float32)
        basis = _top_directions(sample, dims, seed).astype(np.float32)
    low = (unit @ basis).astype(np.float64)
    length = np.einsum("ij,ij->i", unit, unit, dtype=np.float64)
    rest = np.sqrt(np.maximum(length - (low ** 2).sum(axis=1), 0.0))
    return np.hstack([low, rest[:, None]]).astype(np.float32)


def _cosine_distances(unit: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """1 - unit[i] . unit[j] for each pair, in float64, a chunk of pairs at a time."""
    out = np.empty(len(i))
    for s in range(0, len(i), chunk):
        out[s : s + chunk] = 1.0 - np.einsum("ij,ij->i", unit[i[s : s + chunk]], unit[j[s : s + chunk]],
                                             dtype=np.float64)
    return out


def embedding_pairs(features: np.ndarray, threshold: float, *, rows: np.ndarray | None = None,
                    dims: int = PROJECTION_DIMS, max_pairs: int = MAX_PAIRS, seed: int = 0) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """Index pairs (i < j, positions in ``rows``) within cosine distance ``threshold`` of each other after centring
    on the mean row (fiftyone-brain's near-duplicate metric), and their distances; sorted.

    Exact and in bounded memory: blocks of rows, sorted along the widest direction, are compared in a
    (dims + 1)-dim screen (:func:`_screen`) that can only shrink distances, each block only with the rows
    within reach along that direction; the pairs the screen passes are measured on the full rows. The screen
    is still quadratic (about half the pairs of real features, dims + 1 multiply-adds each, in BLAS), the full rows
    linear. More than ``max_pairs`` pairs is a ValueError (``--near-threshold`` too loose for the data).
    """
    rows = np.arange(len(features)) if rows is None else np.asarray(rows, dtype=np.int64)
    n = len(rows)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    unit = _unit_rows(features, rows)
    screen = _screen(unit, dims, seed)
    order = np.argsort(screen[:, 0], kind="stable")
    screen = screen[order]
    floor = 1.0 - threshold - 1e-4  # slack for the float32 rounding of the screen's dot products
    reach = float(np.sqrt(2.0 * (1.0 - floor))) + 1e-6  # |z1 - w1| <= ||z - w||, = sqrt(2 - 2 z.w) for unit rows
    found, dist, count = [], [], 0
    for a in range(0, n, BLOCK):
        stop = int(np.searchsorted(screen[:, 0], screen[min(a + BLOCK, n) - 1, 0] + reach, side="right"))
        for b in range(a, stop, BLOCK):
            hit = screen[a : a + BLOCK] @ screen[b : min(b + BLOCK, stop)].T >= np.float32(floor)
            if not hit.any():  # most blocks: a 2-D nonzero would cost more than the product
                continue
            flat = np.flatnonzero(hit)
            i, j = flat // hit.shape[1] + a, flat % hit.shape[1] + b
            i, j = order[i[i < j]], order[j[i < j]]
            i, j = np.minimum(i, j), np.maximum(i, j)
            d = _cosine_distances(unit, i, j)
            near = d <= threshold
            found.append(i[near] * n + j[near])
            dist.append(d[near])
            count += int(near.sum())
            if count > max_pairs:
                raise ValueError(f"--near-threshold {threshold} links over {max_pairs:,} pairs of files; lower it")
    code, dist = np.concatenate(found or [np.zeros(0, np.int64)]), np.concatenate(dist or [np.zeros(0)])
    order = np.argsort(code)
    return np.stack([code[order] // n, code[order] % n], axis=1).astype(np.int64), dist[order]


# ---------------------------------------------------------------- pure parts: groups


def _first_of_each(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions in ``order`` (a sort by ``keys`` first) where a new key starts."""
    k = keys[order]
    return order[np.r_[True, k[1:] != k[:-1]]] if len(k) else order


def star_groups(n: int, pairs: np.ndarray, closeness: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """The representative of each of ``n`` nodes linked by ``pairs`` (M, 2), or -1 for a node without links.

    Links do not chain: in order of most links, then lowest ``rank``, a node not yet linked to a representative
    becomes one (a greedy maximal independent set, as fiftyone-brain keeps "unique" samples); each other linked
    node joins the linked representative with the lowest ``closeness`` (then ``rank``); a representative that
    nobody joined joins the group of its nearest linked node. Every member is thus linked to its group's
    representative, or to a node that is.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    closeness = np.asarray(closeness, dtype=np.float64).reshape(-1)
    group = np.full(n, -1, dtype=np.int64)
    if not len(pairs):
        return group
    src, dst = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    close = np.r_[closeness, closeness]
    order = np.argsort(src, kind="stable")
    src, dst, close = src[order], dst[order], close[order]
    ptr = np.searchsorted(src, np.arange(n + 1))
    degree = np.diff(ptr)
    leader, covered = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for v in np.lexsort((rank, -degree)).tolist():
        if degree[v] == 0:
            break
        if not covered[v]:
            leader[v] = covered[v] = True
            covered[dst[ptr[v] : ptr[v + 1]]] = True
    group[leader] = np.flatnonzero(leader)
    join = ~leader[src] & leader[dst]
    nearest = _first_of_each(src[join], np.lexsort((rank[dst[join]], close[join], src[join])))
    group[src[join][nearest]] = dst[join][nearest]
    joined = np.bincount(group[~leader & (group >= 0)], minlength=n)
    alone = leader & (joined == 0)
    move = alone[src]
    nearest = _first_of_each(src[move], np.lexsort((rank[dst[move]], close[move], src[move])))
    group[src[move][nearest]] = group[dst[move][nearest]]
    return group


def _file_links(node: np.ndarray, near_pairs: dict, closeness: dict, files: int) -> tuple:
    """Links between different files from sample index pairs: (lo, hi, closeness, detector bit mask), one per
    pair of files, the lowest closeness and every detector that linked them."""
    lo, hi, close, bit = [], [], [], []
    for k, (name, p) in enumerate(near_pairs.items()):
        p = np.asarray(p, dtype=np.int64).reshape(-1, 2)
        c = np.asarray(closeness.get(name, np.zeros(len(p))), dtype=np.float64).reshape(-1)
        a, b = node[p[:, 0]], node[p[:, 1]]
        ok = (a >= 0) & (b >= 0) & (a != b)  # a link between identical files adds nothing
        lo.append(np.minimum(a, b)[ok])
        hi.append(np.maximum(a, b)[ok])
        close.append(c[ok])
        bit.append(np.full(int(ok.sum()), 1 << k, dtype=np.int64))
    if not lo:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    code = np.concatenate(lo) * files + np.concatenate(hi)
    uniq, inverse = np.unique(code, return_inverse=True)
    best = np.full(len(uniq), np.inf)
    np.minimum.at(best, inverse, np.concatenate(close))
    mask = np.zeros(len(uniq), dtype=np.int64)
    np.bitwise_or.at(mask, inverse, np.concatenate(bit))
    return uniq // files, uniq % files, best, mask


def _files_of(digests: list[str | None]) -> tuple[np.ndarray, list[list[int]]]:
    """(file number of each sample or -1 without a digest, the samples of each file in index order)."""
    number: dict[str, int] = {}
    node = np.array([-1 if d is None else number.setdefault(d, len(number)) for d in digests], dtype=np.int64)
    members: list[list[int]] = [[] for _ in number]
    for i, v in enumerate(node.tolist()):
        if v >= 0:
            members[v].append(i)
    return node, members


def duplicate_groups(image_ids: list[str], digests: list[str | None], splits: list[str | None],
                     near_pairs: dict[str, np.ndarray], *, closeness: dict[str, np.ndarray] | None = None,
                     listed: int = LISTED) -> dict:
    """Exact and near duplicate groups and train/val leaks, per sample (lists aligned with ``image_ids``).

    ``digests`` are sha256s of the files (None: unreadable): equal digests are one file, an exact group.
    ``near_pairs`` maps a detector name to the sample index pairs it linked, ``closeness`` (optional) to each
    link's distance as a share of that detector's threshold. Files form groups by :func:`star_groups` (the
    representative: most links, then the smallest image_id); a sample leaks when a sample in the other split
    is its file's duplicate, linked directly to its file, or in its near group. Id lists keep at most
    ``listed`` entries; the group id finds all members.
    """
    n = len(image_ids)
    node, members = _files_of(digests)
    lo, hi, close, mask = _file_links(node, near_pairs, closeness or {}, len(members))
    first = [min(image_ids[i] for i in m) for m in members]
    rank = np.empty(len(members), dtype=np.int64)
    rank[np.argsort(np.array(first, dtype=object), kind="stable")] = np.arange(len(members))
    group = star_groups(len(members), np.stack([lo, hi], axis=1), close, rank)
    adjacent: list[list[tuple[float, int]]] = [[] for _ in members]
    for a, b, c in zip(lo.tolist(), hi.tolist(), close.tolist()):
        adjacent[a].append((c, b))
        adjacent[b].append((c, a))
    fields = ("exact_group", "exact_duplicates", "near_group", "near_group_size", "near_duplicates", "near_by",
              "leak_with")
    out: dict = {k: [None] * n for k in fields}
    for m in members:
        if len(m) > 1:
            for i in m:
                out["exact_group"][i] = digests[i]
                out["exact_duplicates"][i] = [image_ids[j] for j in m if j != i][:listed]
    near_groups = _near_fields(out, members, group, adjacent, (lo, hi, mask), list(near_pairs), first, image_ids,
                               listed)
    leak_groups = _leak_fields(out, members, group, adjacent, splits, image_ids, listed)
    out["counts"] = {
        "exact_groups": sum(len(m) > 1 for m in members), "exact_samples": sum(len(m) for m in members if len(m) > 1),
        "near_groups": near_groups, "near_samples": sum(x is not None for x in out["near_group"]),
        "largest_near_group": max((x for x in out["near_group_size"] if x is not None), default=0),
        "leak_groups": leak_groups, "leak_samples": sum(x is not None for x in out["leak_with"]),
        **{f"near_pairs_{name}": len(np.asarray(p).reshape(-1, 2)) for name, p in near_pairs.items()},
    }
    return out


def _near_fields(out: dict, members: list, group: np.ndarray, adjacent: list, links: tuple, names: list,
                 first: list, image_ids: list, listed: int) -> int:
    """Fill near_group, near_group_size, near_by and near_duplicates; return the number of near groups."""
    lo, hi, mask = links
    inside = (group[lo] >= 0) & (group[lo] == group[hi])
    detectors = np.zeros(len(members), dtype=np.int64)
    np.bitwise_or.at(detectors, group[lo][inside], mask[inside])
    nodes_of: dict[int, list[int]] = {}
    for v, g in enumerate(group.tolist()):
        if g >= 0:
            nodes_of.setdefault(g, []).append(v)
    for g, nodes in nodes_of.items():
        size = sum(len(members[v]) for v in nodes)
        by = [name for k, name in enumerate(names) if detectors[g] >> k & 1]
        for v in nodes:
            linked = [image_ids[j] for _, u in sorted(adjacent[v], key=lambda cu: (cu[0], first[cu[1]]))
                      for j in sorted(members[u], key=lambda j: image_ids[j])][:listed]
            for i in members[v]:
                out["near_group"][i], out["near_group_size"][i] = first[g], size
                out["near_by"][i], out["near_duplicates"][i] = by, linked
    return len(nodes_of)


def _leak_fields(out: dict, members: list, group: np.ndarray, adjacent: list, splits: list, image_ids: list,
                 listed: int) -> int:
    """Fill leak_with (samples in the other split: the file's duplicates and directly linked files first, then
    the near group's); return the number of groups (near, or exact outside one) with a leak."""
    in_group: dict[int, list[int]] = {}
    for v, g in enumerate(group.tolist()):
        if g >= 0:
            in_group.setdefault(g, []).append(v)
    leaking: set[tuple[str, int]] = set()
    for v, m in enumerate(members):
        direct = {v, *(u for _, u in adjacent[v])}
        pool = direct | set(in_group.get(int(group[v]), ()))
        if len(pool) == 1 and len(m) == 1:
            continue
        for split in {splits[i] for i in m} & set(SPLITS):
            other = [j for u in pool for j in members[u] if splits[j] in SPLITS and splits[j] != split]
            if not other:
                continue
            linked = {j for u in direct for j in members[u]}
            other.sort(key=lambda j: (j not in linked, image_ids[j]))
            leaking.add(("near", int(group[v])) if group[v] >= 0 else ("exact", v))
            for i in m:
                if splits[i] == split:
                    out["leak_with"][i] = [image_ids[j] for j in other][:listed]
    return len(leaking)


# ---------------------------------------------------------------- pure parts: mistakenness


def mistakenness(entropy: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """fiftyone-brain's classification mistakenness with ``use_logits=True``, for many samples at once:
    ``(m * exp(-entropy) + 1) / 2`` with m = -1 where the prediction is the label, else 1; ``entropy`` of the
    predicted probabilities, in nats. Near 1: a confident prediction of another class."""
    m = np.where(np.asarray(correct, dtype=bool), -1.0, 1.0)
    return (m * np.exp(-np.asarray(entropy, dtype=np.float64)) + 1.0) / 2.0


# ---------------------------------------------------------------- the dataset


def _features_by_sample(features_path: Path, image_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row of each sample in the features file or -1, the features): rows deduplicated by image id."""
    from evaluation.features import read_features, sample_rows

    if not Path(features_path).is_file():
        raise ValueError(f"{features_path}: no such features file")
    fs = read_features(features_path)
    rows = sample_rows(fs.ids, image_ids)
    if not (rows >= 0).any():
        raise ValueError(f"{features_path}: none of its image ids is in the dataset (wrong features file?)")
    finite = np.ones(len(fs.features), dtype=bool)
    for start in range(0, len(finite), 8192):  # no (N, D) temporary
        finite[start : start + 8192] = np.isfinite(fs.features[start : start + 8192]).all(axis=1)
    bad = (rows >= 0) & ~finite[np.maximum(rows, 0)]
    if bad.any():
        raise ValueError(f"{features_path}: {int(bad.sum())} row(s) have NaN or infinite features")
    return rows, fs.features


def clear_previous(fo, dataset) -> None:
    """Remove what an earlier run wrote: its tags, fields and (earlier versions) brain run; nothing else."""
    dataset.untag_samples(list(TAGS))
    if MISTAKENNESS in dataset.list_brain_runs():
        dataset.delete_brain_run(MISTAKENNESS)  # also deletes the field
    schema = dataset.get_field_schema()
    mine = [f for f in field_types(fo) if f in schema]
    if mine:
        dataset.delete_sample_fields(mine)


def field_types(fo) -> dict:
    """The sample fields this module writes."""
    strings = (fo.ListField, {"subfield": fo.StringField})
    classification = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification})
    return {
        "exact_group": fo.StringField, "exact_duplicates": strings, "near_group": fo.StringField,
        "near_group_size": fo.IntField, "near_duplicates": strings, "near_by": strings, "leak_with": strings,
        "phash": fo.StringField, "min_side": fo.IntField, "blank_fraction": fo.FloatField, "file_error": fo.StringField,
        PREDICTION: classification, MISTAKENNESS: fo.FloatField, "clip_prediction": classification,
        "clip_agreement": fo.FloatField,
    }


def _read(fo, dataset_name: str, features_path: Path) -> dict:
    """The dataset, its samples' ids, image ids, filepaths, splits, labels and reviews, and their features."""
    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset named {dataset_name!r}")
    dataset = fo.load_dataset(dataset_name)
    schema = dataset.get_field_schema()
    for field in (KEY, "split", "ground_truth"):
        if field not in schema:
            raise ValueError(f"dataset {dataset_name!r} has no field {field!r}; was it loaded by curation.load?")
    names = ("ids", "image_ids", "filepaths", "splits", "labels")
    data = dict(zip(names, dataset.values(["id", KEY, "filepath", "split", "ground_truth.label"])))
    data["reviews"] = dataset.values("review") if "review" in schema else [None] * len(data["ids"])  # none rejected
    data["rows"], data["features"] = _features_by_sample(features_path, data["image_ids"])
    return {"dataset": dataset, **data}


def _first_per_file(facts: list[dict], candidates: np.ndarray) -> np.ndarray:
    """The first of ``candidates`` (sample indices, ascending) of each distinct file (sha256)."""
    seen: set[str] = set()
    keep = []
    for i in candidates.tolist():
        if facts[i]["sha256"] not in seen:
            seen.add(facts[i]["sha256"])
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _embedding_links(facts: list[dict], usable: np.ndarray, rows: np.ndarray, features: np.ndarray,
                     cfg: HygieneConfig) -> tuple[np.ndarray, np.ndarray]:
    """Sample index pairs of files within ``near_threshold`` (one row per file), and their closeness."""
    reps = _first_per_file(facts, np.flatnonzero(usable & (rows >= 0)))
    pairs, dist = embedding_pairs(features, cfg.near_threshold, rows=rows[reps], seed=cfg.seed)
    share = dist / cfg.near_threshold if cfg.near_threshold > 0 else np.zeros(len(dist))
    return reps[pairs].reshape(-1, 2), share


def _phash_links(facts: list[dict], usable: np.ndarray, cfg: HygieneConfig) -> tuple[np.ndarray, np.ndarray]:
    """Sample index pairs of files within ``phash_distance`` bits (one hash per file), and their closeness."""
    reps = _first_per_file(facts, np.flatnonzero(usable))
    bits = phash_bits([facts[i]["phash"] for i in reps])
    pairs = phash_pairs(bits, cfg.phash_distance)
    differ = (bits[pairs[:, 0]] != bits[pairs[:, 1]]).sum(axis=1) if len(pairs) else np.zeros(0)
    return reps[pairs].reshape(-1, 2), differ / max(cfg.phash_distance, 1)


def _cv_scores(rows: np.ndarray, features: np.ndarray, labels: list, reviews: list, cfg: HygieneConfig) -> dict:
    """Out-of-fold top-1 of the scored samples: the exact-kernel SVM up to ``exact_rows`` of them, else the linear
    model. Returns the samples trained on, their labels, per sample the predicted column of ``classes`` (-1: not
    scored), its probability and the probabilities' entropy, and what was left out, and why."""
    from evaluation.classify.oof import cross_validated_linear

    rejected = np.array([r == "rejected" for r in reviews], dtype=bool)
    labelled = np.array([label is not None for label in labels], dtype=bool)
    train = np.flatnonzero((rows >= 0) & ~rejected & labelled)
    y = np.array([labels[i] for i in train], dtype=object)
    info = {"rejected": int(rejected.sum()), "no_features": int(((rows < 0) & ~rejected).sum()),
            "no_class": int((~labelled & ~rejected).sum()), "exact_rows": cfg.exact_rows}
    counts = Counter(y.tolist())
    out = {"train": train, "y": y, "info": info}
    if sum(1 for c in counts.values() if c >= 2) < 2:
        logger.warning("mislabels: fewer than 2 classes with 2+ samples; nothing to cross-validate")
        info["method"] = "none (fewer than 2 classes with 2+ samples)"
        return {**out, "best": np.full(len(y), -1), "confidence": None, "entropy": None, "classes": np.array([])}
    exact = len(y) <= cfg.exact_rows
    info["method"] = (f"{cfg.kernel} SVM, exact kernel ({len(y)} rows <= exact limit {cfg.exact_rows})" if exact
                      else f"linear: shrunk LDA ({len(y)} rows > exact limit {cfg.exact_rows})")
    logger.info("mislabels: %d-fold %s, %d classes (%d of them with 2+ samples)", cfg.folds, info["method"],
                len(counts), sum(1 for c in counts.values() if c >= 2))
    if exact:
        best, confidence, entropy, classes = _exact_top(features[rows[train]], y, cfg)
    else:
        best, confidence, entropy, classes, info["linear"] = cross_validated_linear(
            features[rows[train]], y, folds=cfg.folds, seed=cfg.seed)
    return {**out, "best": best, "confidence": confidence, "entropy": entropy, "classes": classes}


def _exact_top(X: np.ndarray, y: np.ndarray, cfg: HygieneConfig) -> tuple:
    """``evaluation.svm.cross_validated_probabilities``' top-1 (column or -1, probability, entropy) and classes."""
    from evaluation.classify.calibration import softmax_summary
    from evaluation.classify.oof import cross_validated_probabilities

    probs, classes = cross_validated_probabilities(X, y, folds=cfg.folds, seed=cfg.seed, kernel=cfg.kernel, C=cfg.C,
                                                   jobs=cfg.jobs)
    ok = ~np.isnan(probs).any(axis=1)
    best = np.full(len(y), -1, dtype=np.int64)
    confidence, entropy = np.full(len(y), np.nan), np.full(len(y), np.nan)
    if ok.any():
        # log-probabilities as logits, as the brain was given them: its softmax gives back these probabilities
        best[ok], confidence[ok], entropy[ok] = softmax_summary(np.log(np.clip(probs[ok], 1e-12, None)))
    return best, confidence, entropy, classes


def _prediction_fields(fo, n: int, cv: dict) -> tuple[list, list, dict]:
    """``cv_prediction`` and ``mistakenness`` per sample (None where not scored) and the counts for the summary."""
    train, y, best = cv["train"], cv["y"], cv["best"]
    scored = best >= 0
    predicted = np.where(scored, np.asarray(cv["classes"], dtype=object)[np.maximum(best, 0)] if len(cv["classes"])
                         else None, None)
    correct = scored & (predicted == y)
    predictions: list = [None] * n
    values: list = [None] * n
    if scored.any():
        score = mistakenness(cv["entropy"], correct)
        for k in np.flatnonzero(scored).tolist():
            predictions[train[k]] = fo.Classification(label=str(predicted[k]), confidence=float(cv["confidence"][k]))
            values[train[k]] = float(score[k])
    info = {**cv["info"], "scored": int(scored.sum()), "single_member_class": int(len(train) - scored.sum()),
            "predicted_other_class": int((scored & ~correct).sum()), "classes": len(cv["classes"])}
    return predictions, values, info


def _file_flags(facts: list[dict], cfg: HygieneConfig) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """(readable, blank, shorter side or None, tiny) per sample, from :func:`inspect_image`'s facts."""
    readable = np.array(["error" not in f for f in facts], dtype=bool)
    blank = np.array([f.get("blank_fraction", 0.0) >= cfg.blank_fraction for f in facts], dtype=bool)
    min_side = [min(f["width"], f["height"]) if "width" in f else None for f in facts]
    tiny = np.array([s is not None and s < cfg.tiny_side for s in min_side], dtype=bool)
    return readable, blank, min_side, tiny


def _write(fo, dataset, ids: list, values: dict, flags: dict) -> None:
    """Clear the last run's results, then write every field and tag."""
    clear_previous(fo, dataset)
    for field, spec in field_types(fo).items():
        ftype, kwargs = spec if isinstance(spec, tuple) else (spec, {})
        dataset.add_sample_field(field, ftype, **kwargs)
    for field, vals in values.items():
        present = {i: v for i, v in zip(ids, vals) if v is not None}  # the fields were just cleared: None is absent
        if present:
            dataset.set_values(field, present, key_field="id")
    for tag, mask in flags.items():
        tagged = [i for i, m in zip(ids, mask) if m]
        if tagged:
            dataset.select(tagged).tag_samples(tag)


def run(dataset_name: str, features_path: Path, cfg: HygieneConfig, *, database_uri: str | None = None) -> dict:
    """Every check on the dataset; results are written only once all of them are computed. Returns the summary."""
    fo = fiftyone_module(database_uri)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 2)
        clock = now

    d = _read(fo, dataset_name, features_path)
    ids, rows = d["ids"], d["rows"]
    lap("read")
    facts = inspect_files(d["filepaths"], hash_size=cfg.hash_size, tolerance=cfg.blank_tolerance, workers=cfg.workers)
    readable, blank, min_side, tiny = _file_flags(facts, cfg)
    lap("files")
    usable = readable & ~blank  # blank and unreadable files only as exact duplicates
    near, closeness = {}, {}
    near["embedding"], closeness["embedding"] = _embedding_links(facts, usable, rows, d["features"], cfg)
    lap("near_embedding")
    near["phash"], closeness["phash"] = _phash_links(facts, usable, cfg)
    groups = duplicate_groups(d["image_ids"], [f.get("sha256") for f in facts], d["splits"], near, closeness=closeness)
    lap("phash_and_groups")
    cv = _cv_scores(rows, d["features"], d["labels"], d["reviews"], cfg) if cfg.mislabels else None
    lap("cv_svm")
    predictions, mistaken, mislabel_info = _prediction_fields(fo, len(ids), cv) if cv else ([None] * len(ids),
                                                                                            [None] * len(ids), {})
    lap("mistakenness")
    clip_info, clip_pred, clip_agree = _clip(fo, d["filepaths"], d["labels"], cfg)
    lap("clip")
    values = {**{k: groups[k] for k in ("exact_group", "exact_duplicates", "near_group", "near_group_size",
                                        "near_duplicates", "near_by", "leak_with")},
              "phash": [f.get("phash") for f in facts], "min_side": min_side,
              "blank_fraction": [f.get("blank_fraction") for f in facts], "file_error": [f.get("error") for f in facts],
              PREDICTION: predictions, MISTAKENNESS: mistaken, "clip_prediction": clip_pred,
              "clip_agreement": clip_agree}
    flags = {"dup:exact": [g is not None for g in groups["exact_group"]],
             "dup:near": [g is not None for g in groups["near_group"]],
             "leak": [g is not None for g in groups["leak_with"]], "tiny": tiny, "blank": blank,
             "unreadable": ~readable}
    _write(fo, d["dataset"], ids, values, flags)
    lap("write")
    summary = {"samples": len(ids), "with_features": int((rows >= 0).sum()),
               "counts": {**{tag: int(np.sum(mask)) for tag, mask in flags.items()}, **groups["counts"]},
               "mislabels": {"enabled": cfg.mislabels, **mislabel_info}, "clip": clip_info, "config": asdict(cfg),
               "features": str(features_path), "seconds": timings, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    d["dataset"].info["hygiene"] = summary
    d["dataset"].save()
    save_curation_views(d["dataset"])  # "to review" now sorts by mistakenness
    return summary


def clip_config(cfg: HygieneConfig) -> ClipConfig:
    return ClipConfig(model=cfg.clip_model, pretrained=cfg.clip_pretrained, weights=cfg.clip_weights,
                      template=cfg.clip_template, batch_size=cfg.clip_batch_size, device=cfg.device)


def _clip(fo, filepaths: list[str], labels: list, cfg: HygieneConfig) -> tuple[dict, list, list]:
    """CLIP's prediction and agreement per sample, or a skip with where weights were looked for."""
    n = len(filepaths)
    if not cfg.clip:
        return {"status": "skipped", "reason": "--no-clip"}, [None] * n, [None] * n
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: open_clip would fetch a missing tokenizer
    weights, looked = find_clip_weights(cfg.clip_model, cfg.clip_pretrained, cfg.clip_weights)
    if weights is None:
        reason = f"no weights for {cfg.clip_model} ({cfg.clip_pretrained}) on disk; looked in: {'; '.join(looked)}"
        return {"status": "skipped", "reason": reason, "looked": looked}, [None] * n, [None] * n
    classes = sorted({label for label in labels if label is not None})
    prompts = label_prompts(classes, cfg.clip_template)
    try:
        sims, scale = clip_similarities(filepaths, prompts, clip_config(cfg), weights)
    except Exception as err:  # a corrupt or mismatched weights file: skip CLIP, keep the other findings
        reason = f"{weights}: could not load {cfg.clip_model} ({type(err).__name__}: {err})"[:500]
        return {"status": "skipped", "reason": reason, "looked": looked}, [None] * n, [None] * n
    column = {c: k for k, c in enumerate(classes)}
    given = np.array([column.get(label, -1) for label in labels], dtype=np.int64)
    probs, agreement = zero_shot(np.nan_to_num(sims, nan=0.0), given, logit_scale=scale)
    ok = ~np.isnan(sims).any(axis=1)
    preds: list = [None] * n
    agree: list = [None] * n
    for i in np.flatnonzero(ok):
        best = int(np.argmax(probs[i]))
        preds[i] = fo.Classification(label=classes[best], confidence=float(probs[i, best]))
        agree[i] = None if math.isnan(agreement[i]) else float(agreement[i])
    info = {"status": "done", "model": cfg.clip_model, "weights": weights, "prompt": cfg.clip_template,
            "classes": len(classes), "scored": int(ok.sum()), "logit_scale": scale,
            "agree_top1": int(sum(1 for i in np.flatnonzero(ok) if given[i] == int(np.argmax(probs[i]))))}
    return info, preds, agree


# ---------------------------------------------------------------- CLI


def format_summary(summary: dict) -> str:
    c = summary["counts"]
    lines = [f"{summary['samples']} samples ({summary['with_features']} with features)",
             f"  exact duplicates: {c['exact_samples']} samples in {c['exact_groups']} groups (tag dup:exact)",
             (f"  near duplicates:  {c['near_samples']} samples in {c['near_groups']} groups, the largest "
              f"{c['largest_near_group']} (tag dup:near; links: {c['near_pairs_embedding']} by embedding, "
              f"{c['near_pairs_phash']} by phash)"),
             f"  train/val leaks:  {c['leak_samples']} samples in {c['leak_groups']} groups (tag leak)",
             f"  tiny: {c['tiny']}   blank: {c['blank']}   unreadable: {c['unreadable']}"]
    m = summary["mislabels"]
    if m.get("enabled"):
        lines.append(f"  mislabels: {m.get('method', '?')}")
        lines.append(f"    {m.get('scored', 0)} scored ({MISTAKENNESS}), {m.get('predicted_other_class', 0)}"
                     f" predicted as another class; left out: {m.get('rejected', 0)} rejected, "
                     f"{m.get('single_member_class', 0)} in single-sample classes, {m.get('no_features', 0)} without "
                     f"features")
    else:
        lines.append("  mislabels: skipped (--no-mislabels)")
    clip = summary["clip"]
    if clip["status"] == "done":
        lines.append(f"  clip: {clip['scored']} scored (clip_agreement), {clip['agree_top1']} with CLIP's top class "
                     f"= the label ({clip['model']}, {clip['weights']})")
    else:
        lines.append(f"  clip: skipped: {clip['reason']}")
    lines.append("  seconds: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()))
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace) -> HygieneConfig:
    if not 0 <= args.near_threshold <= 2:
        raise ValueError(f"--near-threshold is a cosine distance in [0, 2], got {args.near_threshold}")
    if not 0 <= args.phash_distance <= args.hash_size ** 2:
        raise ValueError(f"--phash-distance must be in 0..{args.hash_size ** 2}, got {args.phash_distance}")
    if not 0 < args.blank_fraction <= 1:
        raise ValueError(f"--blank-fraction must be in (0, 1], got {args.blank_fraction}")
    if args.folds < 2:
        raise ValueError(f"--folds must be at least 2, got {args.folds}")
    if args.exact_rows < 0:
        raise ValueError(f"--exact-rows must be 0 or more, got {args.exact_rows}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.clip_weights is not None and not Path(args.clip_weights).is_file():
        raise ValueError(f"--clip-weights {args.clip_weights}: no such file")
    return HygieneConfig(
        near_threshold=args.near_threshold, phash_distance=args.phash_distance, hash_size=args.hash_size,
        tiny_side=args.tiny_side, blank_fraction=args.blank_fraction, blank_tolerance=args.blank_tolerance,
        workers=args.workers, mislabels=not args.no_mislabels, exact_rows=args.exact_rows, folds=args.folds,
        seed=args.seed, kernel=args.kernel, C=args.C, jobs=args.jobs, clip=not args.no_clip, clip_model=args.clip_model,
        clip_pretrained=args.clip_pretrained, clip_weights=args.clip_weights, clip_template=args.clip_template,
        clip_batch_size=args.batch_size, device=args.device,
    )


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    d = HygieneConfig()
    p = argparse.ArgumentParser(description="Tag duplicates, train/val leaks, tiny/blank files and likely mislabels.",
                                add_help=add_help)
    p.add_argument("--dataset", required=True, help="FiftyOne dataset (from curation.load)")
    p.add_argument("--features", type=Path, required=True, help="features file (evaluation.extract) of its images")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: FiftyOne's own, or FIFTYONE_DATABASE_URI)")
    g = p.add_argument_group("thresholds")
    g.add_argument("--near-threshold", type=float, default=d.near_threshold,
                   help="cosine distance of features below which images are near duplicates (default %(default)s)")
    g.add_argument("--phash-distance", type=int, default=d.phash_distance,
                   help="most differing phash bits for near duplicates (default %(default)s of 64)")
    g.add_argument("--hash-size", type=int, default=d.hash_size, help="phash side, bits = side^2 (default %(default)s)")
    g.add_argument("--tiny-side", type=int, default=d.tiny_side,
                   help="shorter side in px below which a file is tiny (default %(default)s)")
    g.add_argument("--blank-fraction", type=float, default=d.blank_fraction,
                   help="share of pixels of one colour from which a file is blank (default %(default)s)")
    g.add_argument("--blank-tolerance", type=int, default=d.blank_tolerance,
                   help="channel difference still counted as that colour (default %(default)s)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="processes reading the files (default %(default)s)")
    g = p.add_argument_group("likely mislabels (cross-validated classifier, mistakenness)")
    g.add_argument("--no-mislabels", action="store_true", help="skip the classifier and mistakenness")
    g.add_argument("--exact-rows", type=int, default=d.exact_rows,
                   help="samples up to which an exact-kernel SVM scores them (rows^2 memory and time); above, a "
                        "linear model, linear in the samples (default %(default)s)")
    g.add_argument("--folds", type=int, default=d.folds, help="cross-validation folds (default %(default)s)")
    g.add_argument("--seed", type=int, default=d.seed, help="fold seed (default %(default)s)")
    g.add_argument("--kernel", default=d.kernel, choices=("rbf", "linear"),
                   help="exact SVM's kernel (default %(default)s)")
    g.add_argument("--C", dest="C", type=float, default=d.C, help="exact SVM's C (default %(default)s)")
    g.add_argument("--jobs", type=int, default=d.jobs, help="exact SVM's parallel folds (default -1: all cores)")
    g = p.add_argument_group("CLIP zero-shot agreement (only with weights already on disk)")
    add_clip_arguments(g, batch_flag="--batch-size")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = config_from_args(args)
        summary = run(args.dataset, args.features, cfg, database_uri=args.database_uri)
    except (ValueError, OSError) as err:
        print(f"curation.hygiene: {err}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
