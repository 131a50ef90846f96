"""Loading a manifest into FiftyOne: curation.load next to a per-sample loop, in one run.

    python benchmarks/load_bench.py [--samples 100000] [--peer-samples 5000]

Rows are synthetic (no image files: metadata comes from the manifest), on a throwaway
MongoDB. The peer is the loop a first script writes: ``dataset.add_sample`` per image.
It runs on the first --peer-samples rows and is scaled to the full count (printed as such).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.database import fiftyone_module, throwaway_mongod  # noqa: E402
from curation.load import class_label, load, sample_fields  # noqa: E402
from datasets.manifest import read_manifest, write_jsonl  # noqa: E402
from datasets.vocabulary import load_vocabulary  # noqa: E402


def synthetic_manifest(path: Path, n: int) -> None:
    vocab = load_vocabulary()
    rows = []
    for i in range(n):
        cls = vocab[i % 1000]
        rows.append({"id": f"{i:064x}", "filepath": f"/nonexistent/{i}.png", "original_name": f"{cls.name}_{i}.png",
                     "label": cls.name, "wnid": cls.wnid, "class_index": cls.index,
                     "split": "val" if i % 5 == 0 else "train", "matched_words": [cls.name], "lemma": cls.name,
                     "lang": "eng", "sense_rank": 0, "ambiguous": False, "candidates": [cls.wnid], "source": "bench",
                     "style": "synthetic", "set": "bench", "license": "CC0-1.0", "width": 256, "height": 256})
    write_jsonl(path, rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--peer-samples", type=int, default=5_000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, throwaway_mongod(tmp) as uri:
        fo = fiftyone_module(uri)
        manifest = Path(tmp) / "manifest.jsonl"
        synthetic_manifest(manifest, args.samples)
        summary = load(manifest, "bench-load")
        ours = summary["seconds"]
        vocab = load_vocabulary()
        rows = read_manifest(manifest)[: args.peer_samples]
        ds = fo.Dataset("bench-peer")
        start = time.perf_counter()
        for r in rows:
            s = fo.Sample(filepath=str(r["filepath"]), tags=[r["split"]], **sample_fields([r], vocab))
            s["ground_truth"] = fo.Classification(label=class_label(vocab, r["wnid"]))
            ds.add_sample(s)
        peer = (time.perf_counter() - start) * args.samples / len(rows)
    print(f"{args.samples} samples into FiftyOne {fo.__version__} (throwaway MongoDB)")
    print(f"  curation.load (batched)       {ours:7.1f} s  {args.samples / ours:8.0f} samples/s")
    print(f"  add_sample per image          {peer:7.1f} s  {args.samples / peer:8.0f} samples/s  "
          f"(timed on {len(rows)}, scaled)  ratio {peer / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
