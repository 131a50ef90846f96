"""Rendering the embedded clip-art library, and building from it, timed in one run.

    python benchmarks/render_bench.py [--files 600] [--no-build]

1. Throughput: a fixed random sample of every SVG in the library (all sources, in
   proportion) rendered to 256 px PNG by the builder's pool (``datasets.build.prepare``,
   all cores), next to the same files rendered one by one by cairosvg, and by
   ``rsvg-convert`` (librsvg) where it is installed. The whole library's render time
   is extrapolated from the pool's rate and printed as such.
2. Build: ``python -m datasets.build --source embedded`` into a fresh folder (cold:
   every matched file is rendered), then again with the renders cached (warm); both
   as a user runs them, interpreter start and WordNet loading included.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.build import Candidate, prepare  # noqa: E402
from datasets.images import render_svg  # noqa: E402
from datasets.match import MatchResult  # noqa: E402
from scraping.sources import VECTOR_EXTENSIONS, create_source, embedded  # noqa: E402


def library_svgs() -> list:
    files = []
    for name in embedded():
        files += [f for f in create_source(name).files()
                  if f.data is not None or f.path.suffix.lower() in VECTOR_EXTENSIONS]
    return files


def svg_bytes(f) -> bytes:
    return f.data if f.data is not None else f.path.read_bytes()


def time_pool(sample, workers: int, size: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        candidates = [Candidate(f, MatchResult(())) for f in sample]
        start = time.perf_counter()
        infos, bad = prepare(candidates, Path(tmp), size, workers)
        return time.perf_counter() - start, len(infos)


def time_serial(sample, size: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for i, f in enumerate(sample):
            try:
                render_svg(svg_bytes(f), Path(tmp) / f"{i}.png", size)
            except Exception:  # a blank or broken drawing costs its time all the same
                pass
        return time.perf_counter() - start


def time_rsvg(sample, size: int) -> float | None:
    exe = shutil.which("rsvg-convert")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, f in enumerate(sample):  # inline drawings become files first, outside the timing
            p = Path(tmp) / f"{i}.svg"
            p.write_bytes(svg_bytes(f))
            paths.append(p)
        start = time.perf_counter()
        for p in paths:
            subprocess.run([exe, "-w", str(size), "-a", "-o", str(p.with_suffix(".png")), str(p)],
                           stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - start


def time_build(workers: int) -> tuple[float, float, dict]:
    """The CLI twice, as a user runs it: start-up and WordNet loading included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-W", "ignore", "-m", "datasets.build", "--source", "embedded", "--out", str(out),
               "--workers", str(workers)]
        times = []
        for _ in range(2):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
            times.append(time.perf_counter() - start)
        summary = json.loads((out / "summary.json").read_text())
        return times[0], times[1], summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=600, help="SVGs in the timed sample (0: the whole library)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--no-build", action="store_true", help="skip the cold and warm embedded builds")
    args = p.parse_args(argv)

    files = library_svgs()
    sample = files if args.files <= 0 else random.Random(0).sample(files, min(args.files, len(files)))
    print(f"library: {len(files)} SVG drawings; timing {len(sample)} of them at {args.size} px, "
          f"{args.workers} workers, {os.cpu_count()} cores")
    pool_s, ok = time_pool(sample, args.workers, args.size)
    serial_s = time_serial(sample, args.size)
    rsvg_s = time_rsvg(sample, args.size)
    rate = len(sample) / pool_s
    print(f"  drawnet prepare (pool)   {pool_s:7.1f} s  {rate:6.1f} files/s  ({ok} rendered, the rest blank or broken)")
    print(f"  cairosvg, one by one     {serial_s:7.1f} s  {len(sample) / serial_s:6.1f} files/s  "
          f"ratio {serial_s / pool_s:.2f}x")
    if rsvg_s is not None:
        print(f"  rsvg-convert, one by one {rsvg_s:7.1f} s  {len(sample) / rsvg_s:6.1f} files/s  "
              f"ratio {rsvg_s / pool_s:.2f}x")
    else:
        print("  rsvg-convert: not installed (Debian librsvg2-bin), peer skipped")
    if len(sample) < len(files):
        print(f"  whole library at the pool's rate: {len(files) / rate / 60:.1f} min (extrapolated)")
    if not args.no_build:
        cold, warm, summary = time_build(args.workers)
        print(f"build --source embedded: {summary['files_seen']} files, {summary['images']} images, "
              f"{summary['classes']} classes")
        print(f"  cold (renders everything matched) {cold:7.1f} s")
        print(f"  warm (renders cached)             {warm:7.1f} s  ratio {cold / warm:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
