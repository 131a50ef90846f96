"""The store's near-duplicate marking: scraping.phash.first_near next to the loop it replaced, in one run.

    python benchmarks/phash_bench.py                        # 20,000 hashes, 10% planted near copies
    python benchmarks/phash_bench.py --hashes 50000 --distance 6

Random 64-bit hashes, a share of them copies of earlier ones with a few bits flipped (the near
duplicates), and some exact repeats. Ours is ``scraping.phash.first_near`` (multi-index hashing, as
``scraping.store.write_manifest`` calls it); the peer is the loop ``write_manifest`` ran before: each
hash XORed with every earlier one, bits counted, the first within the distance kept. Both must give
the same answer, which is checked.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scraping.phash import first_near, phash_bits  # noqa: E402


def loop_first_near(hexes: list[str], distance: int) -> np.ndarray:
    """The old ``write_manifest`` pairing: for each hash, the first earlier one within ``distance`` bits, or -1."""
    hashes = np.array([int(h, 16) for h in hexes], dtype=np.uint64)
    out = np.full(len(hashes), -1, dtype=np.int64)
    for i in range(1, len(hashes)):
        bits = np.unpackbits((hashes[:i] ^ hashes[i]).view(np.uint8).reshape(i, 8), axis=1).sum(axis=1)
        close = np.flatnonzero(bits <= distance)
        if len(close):
            out[i] = close[0]
    return out


def planted_hashes(n: int, near_share: float, seed: int) -> list[str]:
    """``n`` hex hashes: random ones, a ``near_share`` of them earlier ones with 1-4 bits flipped, 1% repeats."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + rng.integers(
        0, 2, size=n).astype(np.uint64)
    for i in np.flatnonzero(rng.random(n) < near_share):
        if i:
            flips = rng.choice(64, size=int(rng.integers(1, 5)), replace=False)
            values[i] = values[rng.integers(0, i)] ^ np.uint64(sum(1 << int(b) for b in flips))
    for i in np.flatnonzero(rng.random(n) < 0.01):
        if i:
            values[i] = values[rng.integers(0, i)]
    return [f"{int(v):016x}" for v in values]


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="scraping.phash.first_near against the all-pairs loop.", add_help=add_help)
    p.add_argument("--hashes", type=int, default=20_000, help="hashes (default %(default)s)")
    p.add_argument("--near-share", type=float, default=0.1, help="share planted as near copies (default %(default)s)")
    p.add_argument("--distance", type=int, default=4, help="most differing bits (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    return p


def timed(fn, *args):
    """(what ``fn(*args)`` returns, seconds it took)."""
    start = time.perf_counter()
    return fn(*args), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    hexes = planted_hashes(args.hashes, args.near_share, args.seed)
    ours, new = timed(lambda: first_near(phash_bits(hexes), args.distance))
    peer, old = timed(loop_first_near, hexes, args.distance)
    if not np.array_equal(ours, peer):
        print(f"MISMATCH: {int((ours != peer).sum())} hashes differ", file=sys.stderr)
        return 1
    print(f"{args.hashes} 64-bit hashes, distance {args.distance}: {int((ours >= 0).sum())} with an earlier near one "
          f"(same answer both ways)")
    rows = [("scraping.phash.first_near (multi-index)", new, ""),
            ("all-pairs loop (old write_manifest)", old, f"  ratio {old / new:.1f}x")]
    for name, seconds, ratio in rows:
        print(f"{name:<44} {seconds:8.3f} s{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
