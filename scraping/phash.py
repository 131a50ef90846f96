"""Perceptual hashes within a few bits of each other, found without comparing every pair (pure numpy).

``scraping.store`` marks each image's first earlier near duplicate in the manifest (:func:`first_near`);
``curation.hygiene`` links near-duplicate files (:func:`phash_pairs`). Both use multi-index hashing: split the
bits into ``max_distance + 1`` blocks; two hashes within ``max_distance`` bits agree exactly on at least one
block (pigeonhole), so only hashes that share a block's value are compared. Exact: it finds every pair that
comparing all pairs finds.
"""
from __future__ import annotations

import numpy as np

MAX_PAIRS = 20_000_000  # pairs found, at most (16 bytes each): a looser distance is an error, not a swap
CANDIDATES = 2_000_000  # candidate pairs checked at a time


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


def _block_rows(bits: np.ndarray, max_distance: int) -> list[np.ndarray]:
    """The bucket keys of each of the ``max_distance + 1`` blocks (one block of no bits: every pair)."""
    n, nbits = bits.shape
    if max_distance >= nbits:
        return [np.zeros(n, dtype=np.int64)]
    edges = np.linspace(0, nbits, max_distance + 2).round().astype(int)
    return [_block_keys(bits[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]


def near_chunks(bits: np.ndarray, max_distance: int):
    """Pairs (i < j) within ``max_distance`` bits, as (i, j) arrays a chunk at a time; a pair comes once per block
    it agrees on (so up to ``max_distance + 1`` times)."""
    words = _words(bits)
    for keys in _block_rows(bits, max_distance):
        for i, j in same_key_pairs(keys):
            near = np.bitwise_count(words[i] ^ words[j]).sum(axis=1, dtype=np.int64) <= max_distance
            yield i[near], j[near]


def phash_pairs(bits: np.ndarray, max_distance: int, *, max_pairs: int = MAX_PAIRS) -> np.ndarray:
    """Index pairs (i < j) whose hashes differ in at most ``max_distance`` bits, as a sorted (M, 2) array.

    More than ``max_pairs`` pairs is a ValueError (``--phash-distance`` too loose for the data).
    """
    bits = np.asarray(bits, dtype=bool)
    n, nbits = bits.shape if bits.ndim == 2 else (0, 0)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    blocks = 1 if max_distance >= nbits else max_distance + 1
    codes, found = [], 0
    for i, j in near_chunks(bits, max_distance):
        codes.append(i * n + j)
        found += len(i)
        if found > blocks * max_pairs:  # a pair is found once per block it agrees on
            break
    code = np.unique(np.concatenate(codes)) if codes else np.zeros(0, dtype=np.int64)
    if len(code) > max_pairs or found > blocks * max_pairs:
        raise ValueError(f"--phash-distance {max_distance} links over {max_pairs:,} pairs of files; lower it")
    return np.stack([code // n, code % n], axis=1).astype(np.int64) if len(code) else np.zeros((0, 2), np.int64)


def first_near(bits: np.ndarray, max_distance: int) -> np.ndarray:
    """For each hash, the smallest index of an earlier hash within ``max_distance`` bits, or -1.

    Equal hashes are compared once (as the first of them), so a store of many identical hashes (blank
    pages) costs no more than one; no pair list is kept, only a running minimum, so memory is linear.
    20,000 random 64-bit hashes, about 2,000 of them planted near copies and 200 repeats, distance 4:
    0.06 s, where the loop this replaced (each hash XORed with all earlier ones) took 9.1-9.4 s, about
    150x (``python benchmarks/phash_bench.py``, two runs on this 2-core machine; the loop is quadratic,
    so the ratio grows with N).
    """
    bits = np.asarray(bits, dtype=bool)
    n = len(bits)
    out = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return out
    _, first, inverse = np.unique(_words(bits), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    nearest = first.astype(np.int64).copy()  # smallest index within the distance of each distinct hash
    for i, j in near_chunks(bits[first], max_distance):
        np.minimum.at(nearest, j, first[i])
        np.minimum.at(nearest, i, first[j])
    candidate = nearest[inverse]
    earlier = candidate < np.arange(n)
    out[earlier] = candidate[earlier]
    return out
