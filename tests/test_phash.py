"""scraping.phash: every pair of perceptual hashes within a distance, and each hash's first earlier near one."""
import numpy as np
import pytest

from scraping.phash import first_near, phash_bits, phash_pairs, same_key_pairs


def test_phash_pairs_are_every_pair_within_the_distance():
    bits = phash_bits(["ffff0000ffff0000", "ffff0000ffff0001", "0000ffff0000ffff", "ffff0000ffff000f"])
    assert bits.shape == (4, 64)
    assert phash_pairs(bits, 1).tolist() == [[0, 1]]
    assert phash_pairs(bits, 4).tolist() == [[0, 1], [0, 3], [1, 3]]
    # families of near hashes (a few bits flipped), identical ones, and unrelated ones: the pigeonhole search finds
    # exactly what comparing every pair finds, whatever the distance and hash length
    rng = np.random.default_rng(3)
    for nbits in (16, 64, 256):
        bits = np.repeat(rng.integers(0, 2, (30, nbits)).astype(bool), 4, axis=0)
        bits ^= rng.random(bits.shape) < 1.5 / nbits  # about 1.5 bits flipped per copy
        bits[7] = bits[3]
        differ = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
        for distance in (0, 1, 3, 4, 7, nbits):
            brute = np.argwhere(np.triu(differ <= distance, 1))
            assert phash_pairs(bits, distance).tolist() == brute.tolist(), (nbits, distance)
        assert len(phash_pairs(bits, 4)) > len(phash_pairs(bits, 0)) > 0  # the data has near and equal hashes
    with pytest.raises(ValueError, match="--phash-distance 256 links over 5 pairs"):
        phash_pairs(bits[:10], 256, max_pairs=5)


def test_same_key_pairs_in_chunks():
    keys = np.array([3, 1, 3, 2, 3, 1, 7])
    pairs = sorted(tuple(p) for i, j in same_key_pairs(keys, chunk=1) for p in zip(i.tolist(), j.tolist()))
    assert pairs == [(0, 2), (0, 4), (1, 5), (2, 4)]


def test_first_near_is_the_first_earlier_hash_within_the_distance():
    from benchmarks.phash_bench import loop_first_near, planted_hashes

    hexes = ["ffff0000ffff0000", "0000ffff0000ffff", "ffff0000ffff0001", "0000ffff0000ffff", "ffff0000ffff000f"]
    assert first_near(phash_bits(hexes), 1).tolist() == [-1, -1, 0, 1, -1]
    assert first_near(phash_bits(hexes), 3).tolist() == [-1, -1, 0, 1, 2]  # 3 bits from 2, 4 from 0
    assert first_near(phash_bits(hexes), 4).tolist() == [-1, -1, 0, 1, 0]
    assert first_near(phash_bits(hexes[:1]), 4).tolist() == [-1] and len(first_near(phash_bits([]), 4)) == 0
    # what the old all-pairs loop of scraping.store found, on near copies, repeats and unrelated hashes
    for seed, distance in ((0, 0), (1, 4), (2, 9), (3, 64)):
        hexes = planted_hashes(400, 0.3, seed)
        expected = loop_first_near(hexes, distance)
        assert first_near(phash_bits(hexes), distance).tolist() == expected.tolist(), (seed, distance)
        assert (expected >= 0).sum() > (0 if distance < 64 else 398)
