"""Crawl throughput: scraping.crawl next to a plain sequential requests loop, in one run.

    python benchmarks/crawl_bench.py                       # 8 local hosts x 150 images
    python benchmarks/crawl_bench.py --hosts 16 --images 200 --connections 32

Both sides download the same PNGs from several local servers (one port each on
127.0.0.1, so each counts as its own host). Ours is ``scraping.crawl --source urls``
with the per-host rate set high: robots.txt, redirect and address checks, magic-byte and
Pillow verification, perceptual hashes, the journal and atomic writes all included. The
peer is what a short script does: ``requests.get`` in a loop, each body written to a
file, with no checks. img2dataset's published figure (about 1,350 img/s on one machine,
no politeness) is the anchor the issue gives; it is not measured here.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scraping.crawl import CrawlConfig, crawl  # noqa: E402
from scraping.fetch import FetchConfig  # noqa: E402
from tests.sites import Site, png  # noqa: E402


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="scraping.crawl against a plain requests loop.", add_help=add_help)
    p.add_argument("--hosts", type=int, default=8, help="local servers (default 8)")
    p.add_argument("--images", type=int, default=150, help="images per host (default 150)")
    p.add_argument("--connections", type=int, default=16, help="crawl's concurrent downloads (default 16)")
    p.add_argument("--rate", type=float, default=1000.0, help="requests per second per host (default 1000)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    routes = {f"/img/{i}.png": png(i, (96, 96)) for i in range(args.images)}
    sites = [Site(routes) for _ in range(args.hosts)]
    for s in sites:
        s.__enter__()
    try:
        urls = [f"{s.url}/img/{i}.png" for i in range(args.images) for s in sites]
        n = len(urls)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            listing = tmp / "urls.txt"
            listing.write_text("\n".join(urls) + "\n")
            t0 = time.perf_counter()
            counts = crawl(CrawlConfig(source="urls", out=tmp / "store", urls_file=listing,
                                       connections=args.connections,
                                       fetch=FetchConfig(rate=args.rate, allow_private_hosts=True)))
            ours = time.perf_counter() - t0
            stored = sum(counts["by_state"]["image"].get(s, 0) for s in ("done",))

            plain = tmp / "plain"
            plain.mkdir()
            t0 = time.perf_counter()
            with requests.Session() as session:
                for k, url in enumerate(urls):
                    (plain / f"{k}.png").write_bytes(session.get(url, timeout=20).content)
            peer = time.perf_counter() - t0
    finally:
        for s in sites:
            s.__exit__(None, None, None)
    print(f"{n} images from {args.hosts} local hosts ({args.images} each, 96 px PNGs); {stored} stored by the crawl")
    print(f"{'scraping.crawl (' + str(args.connections) + ' connections, checks, journal)':<52} {ours:7.2f} s "
          f"{n / ours:8.1f} img/s")
    print(f"{'plain sequential requests loop':<52} {peer:7.2f} s {n / peer:8.1f} img/s  ratio {peer / ours:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
