"""curation.duplicates and curation.embedding_pairs: near pairs of feature rows, star groups, exact and near
duplicate groups and the train/val leaks they show (pure numpy)."""
import numpy as np
import pytest

from curation.duplicates import duplicate_groups, star_groups
from curation.embedding_pairs import embedding_pairs


def test_embedding_pairs_are_every_pair_within_the_cosine_distance():
    from sklearn.metrics.pairwise import cosine_distances

    rng = np.random.default_rng(4)
    for dims, screen in ((8, 32), (120, 16)):  # 8: rotated; 120: screened in 16 + 1 dims first
        base = rng.normal(size=(60, dims))
        X = np.repeat(base, 3, axis=0) + rng.normal(size=(180, dims)) * rng.choice([0.01, 0.1, 0.4], size=(180, 1))
        dist = cosine_distances(X - X.mean(axis=0))  # the brain's metric: centred rows
        for threshold in (0.0, 0.01, 0.05, 0.3):
            pairs, d = embedding_pairs(X.astype(np.float32), threshold, dims=screen)
            brute = {p for p in map(tuple, np.argwhere(np.triu(dist <= threshold, 1)).tolist())
                     if abs(dist[p] - threshold) > 1e-5}  # float32 rows: nothing on the boundary
            found = set(map(tuple, pairs.tolist()))
            assert brute <= found and all(abs(dist[p] - threshold) <= 1e-5 for p in found - brute), (dims, threshold)
            assert np.allclose(d, dist[pairs[:, 0], pairs[:, 1]], atol=1e-5)
        assert len(embedding_pairs(X, 0.05)[0]) > 10
    rows = rng.permutation(len(X))[:100]  # positions in rows; centred on those rows only
    assert np.array_equal(embedding_pairs(X, 0.05, rows=rows)[0], embedding_pairs(X[rows], 0.05)[0])
    with pytest.raises(ValueError, match="--near-threshold 2 links over 3 pairs"):
        embedding_pairs(X, 2, max_pairs=3)


def test_star_groups_do_not_chain():
    # a chain 0-1-2-3-4-5-6: transitive closure would make one group of 7
    chain = np.array([[i, i + 1] for i in range(6)])
    group = star_groups(8, chain, np.zeros(6), np.arange(8))
    assert group[7] == -1 and len(set(group[:7].tolist())) >= 2
    links = {frozenset(p) for p in chain.tolist()}
    for v in range(7):  # every member: its representative, linked to it, or linked to a file linked to it
        rep = int(group[v])
        assert rep == v or {v, rep} in links or any({v, u} in links and {u, rep} in links for u in range(7))
    # a hub represents the files it links; a file linked to two hubs joins the nearer one
    pairs = np.array([[0, 1], [0, 2], [0, 3], [4, 5], [4, 6], [3, 4]])
    close = np.array([0.1, 0.1, 0.9, 0.1, 0.1, 0.2])
    assert star_groups(7, pairs, close, np.arange(7)).tolist() == [0, 0, 0, 4, 4, 4, 4]
    # 1 and 2 are linked to 0 (the representative, lowest rank) and to 3 (another one, farther): 3 is left
    # alone, and joins the group of its nearest linked file
    pairs = np.array([[0, 1], [0, 2], [1, 3], [2, 3]])
    assert star_groups(4, pairs, np.array([0.1, 0.1, 0.5, 0.5]), np.arange(4)).tolist() == [0, 0, 0, 0]


def test_duplicate_groups_joins_exact_and_near_links_and_finds_leaks():
    ids = ["a", "b", "c", "d", "e"]
    digests = ["x", "x", "y", "z", None]
    out = duplicate_groups(ids, digests, ["train", "train", "val", "train", "val"],
                           {"embedding": np.array([[1, 2]]), "phash": np.zeros((0, 2))})
    assert out["exact_group"] == ["x", "x", None, None, None]
    assert out["exact_duplicates"][:2] == [["b"], ["a"]]
    assert out["near_group"] == ["a", "a", "a", None, None]  # a-b exact, b-c near: one group of two files
    assert out["near_group_size"][:3] == [3, 3, 3] and out["near_by"][2] == ["embedding"]
    assert out["near_duplicates"][:3] == [["c"], ["c"], ["a", "b"]]  # the files linked directly: a is b's file
    assert out["leak_with"] == [["c"], ["c"], ["a", "b"], None, None]
    assert out["counts"]["exact_groups"] == 1 and out["counts"]["leak_samples"] == 3
    splits = ["train", "train", "val", "train", "val"]
    capped = duplicate_groups(ids, digests, splits, {"phash": np.array([[1, 2]])}, listed=1)
    assert capped["leak_with"][2] == ["a"] and capped["near_by"][0] == ["phash"]


def test_duplicate_groups_are_stars_not_chains_and_leaks_follow_direct_links():
    # files 0-1-2-3-4 linked in a chain (distinct digests); 2 is val, the rest train
    ids = [f"{i}" for i in range(5)]
    chain = np.array([[0, 1], [1, 2], [2, 3], [3, 4]])
    out = duplicate_groups(ids, ids, ["train", "train", "val", "train", "train"], {"embedding": chain},
                           closeness={"embedding": np.array([0.1, 0.2, 0.9, 0.1])})
    assert out["counts"]["near_groups"] == 2 and max(out["near_group_size"]) < 5  # not the whole chain
    assert out["near_group"] == ["1", "1", "1", "3", "3"]  # 2 joins 1, the nearer of its representatives
    assert out["near_duplicates"][2] == ["1", "3"]  # nearest first, across groups
    assert out["leak_with"][2] == ["1", "3", "0"]  # both direct links, though 3 is in another group; then 0
    assert out["leak_with"][3] == ["2"] and out["leak_with"][4] is None
    assert out["counts"]["leak_groups"] == 2
