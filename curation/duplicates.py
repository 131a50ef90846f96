"""Duplicate groups for curation.hygiene (pure numpy): links between files, by embedding and by perceptual hash,
made into exact and near groups, and the train/val leaks they show, as per-sample field values.

Duplicates are found between files, not samples: samples with the same bytes are one file (an exact group).
Links do not chain into groups (:func:`star_groups`): a group is a representative and files within one or
two links of it, so a series of gradually edited drawings is several groups, not one.
"""
from __future__ import annotations

import numpy as np

from scraping.phash import phash_bits, phash_pairs

from .embedding_pairs import embedding_pairs

SPLITS = ("train", "val")
LISTED = 25  # most image ids kept in one sample's list field: a group of hundreds would repeat them on every member
GROUP_FIELDS = ("exact_group", "exact_duplicates", "near_group", "near_group_size", "near_duplicates", "near_by",
                "leak_with")


def _first_per_file(digests: list, candidates: np.ndarray) -> np.ndarray:
    """The first of ``candidates`` (sample indices, ascending) of each distinct file (digest)."""
    seen: set[str] = set()
    keep = []
    for i in candidates.tolist():
        if digests[i] not in seen:
            seen.add(digests[i])
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def embedding_links(digests: list, usable: np.ndarray, rows: np.ndarray, features: np.ndarray, threshold: float,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sample index pairs of usable files whose feature rows (``features[rows[i]]``, -1: none; one row per file) are
    within cosine distance ``threshold``, and their closeness (distance as a share of the threshold)."""
    reps = _first_per_file(digests, np.flatnonzero(usable & (rows >= 0)))
    pairs, dist = embedding_pairs(features, threshold, rows=rows[reps], seed=seed)
    share = dist / threshold if threshold > 0 else np.zeros(len(dist))
    return reps[pairs].reshape(-1, 2), share


def phash_links(phashes: list, digests: list, usable: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample index pairs of usable files within ``max_distance`` bits of perceptual hash (one hash per file), and
    their closeness (differing bits as a share of ``max_distance``)."""
    reps = _first_per_file(digests, np.flatnonzero(usable))
    bits = phash_bits([phashes[i] for i in reps])
    pairs = phash_pairs(bits, max_distance)
    differ = (bits[pairs[:, 0]] != bits[pairs[:, 1]]).sum(axis=1) if len(pairs) else np.zeros(0)
    return reps[pairs].reshape(-1, 2), differ / max(max_distance, 1)


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
    out: dict = {k: [None] * n for k in GROUP_FIELDS}
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

