"""Pairs of feature rows within a cosine distance of each other, all of them, exactly, in bounded memory
(curation.hygiene's embedding detector of near duplicates; pure numpy).

The metric is fiftyone-brain's ``compute_near_duplicates``': cosine distance after centring on the mean of the
rows compared. Blocks of rows are compared in a 33-dim projection that can only shrink distances, the full rows
deciding; that screen is the one quadratic cost, about a million pairs per 5 ms here.
"""
from __future__ import annotations

import numpy as np

from scraping.phash import MAX_PAIRS

# embedding pairs are screened in this many principal directions (+1: the rest's length): 32 passed 0.02% of the
# pairs of real 1280-dim features (0.015% with 128), for a third of 128's multiply-adds
PROJECTION_DIMS = 32
BLOCK = 2048  # rows x rows of projected features compared at a time (16 MB of float32)


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

