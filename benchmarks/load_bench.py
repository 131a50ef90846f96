"""FiftyOne's private bulk calls in curation against the public API, in one run: curation.load, and the writes
of curation.writeback.

    python benchmarks/load_bench.py [--samples 100000] [--write-samples 20000] [--peer-samples 2000]

On a throwaway MongoDB, with synthetic rows (no image files: metadata comes from the manifest):

- ``curation.load`` as it is (``insert_documents``: one raw ``insert_many`` per batch into the dataset's
  sample collection) and the same ``load`` with that one function swapped for the public
  ``Dataset.add_samples(..., expand_schema=False, validate=False)`` of ``fo.Sample.from_dict`` samples;
  both end to end at ``--samples``, into two datasets;
- ``curation.writeback_fields.write_samples`` (one ``$set`` per sample for a label and three scalar fields,
  through ``Dataset._bulk_write``) against ``set_values`` per field, on ``--write-samples`` of them;
- the loop a first script writes, ``dataset.add_sample`` per image, on ``--peer-samples`` rows, scaled.

Each pair prints both figures and their ratio. The ``# figures:`` comments in curation.load and
curation.writeback_fields quote a run of this script.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import curation.load as curation_load  # noqa: E402
from curation.database import fiftyone_module, throwaway_mongod  # noqa: E402
from curation.load import class_label, load, sample_fields  # noqa: E402
from curation.writeback_fields import write_samples  # noqa: E402
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


def public_insert(dataset, docs: list[dict]) -> None:
    """What ``curation.load.insert_documents`` does, through the public API."""
    import fiftyone as fo

    dataset.add_samples([fo.Sample.from_dict(d) for d in docs], expand_schema=False, validate=False, progress=False)


def load_both_ways(manifest: Path) -> tuple[float, float]:
    """Seconds of curation.load as it is, and with its raw insert swapped for the public one."""
    private = load(manifest, "bench-load")["seconds"]
    kept = curation_load.insert_documents
    curation_load.insert_documents = public_insert
    try:
        public = load(manifest, "bench-load-public")["seconds"]
    finally:
        curation_load.insert_documents = kept
    return private, public


def writes_both_ways(fo, dataset, n: int) -> tuple[float, float]:
    """Seconds of write_samples (one $set per sample) and of set_values per field, for a label and three numbers."""
    ids = dataset.limit(n).values("id")
    for field in ("a", "b"):
        dataset.add_sample_field(f"{field}_pred", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
        for k in ("rank", "ce", "top1"):
            dataset.add_sample_field(f"{field}_{k}", fo.FloatField)
    numbers = {k: [float(i % 7) for i in range(len(ids))] for k in ("rank", "ce", "top1")}
    start = time.perf_counter()
    write_samples(dataset, ids, "a_pred", (fo.Classification(label="x", confidence=0.5) for _ in ids),
                  {f"a_{k}": v for k, v in numbers.items()})
    private = time.perf_counter() - start
    start = time.perf_counter()
    dataset.set_values("b_pred", dict(zip(ids, (fo.Classification(label="x", confidence=0.5) for _ in ids))),
                       key_field="id")
    for k, v in numbers.items():
        dataset.set_values(f"b_{k}", dict(zip(ids, v)), key_field="id")
    public = time.perf_counter() - start
    return private, public


def per_image_loop(fo, manifest: Path, n: int) -> tuple[float, int]:
    vocab = load_vocabulary()
    rows = read_manifest(manifest)[:n]
    ds = fo.Dataset("bench-peer")
    start = time.perf_counter()
    for r in rows:
        s = fo.Sample(filepath=str(r["filepath"]), tags=[r["split"]], **sample_fields([r], vocab))
        s["ground_truth"] = fo.Classification(label=class_label(vocab, r["wnid"]))
        ds.add_sample(s)
    return time.perf_counter() - start, len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--write-samples", type=int, default=20_000)
    p.add_argument("--peer-samples", type=int, default=2_000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, throwaway_mongod(tmp) as uri:
        fo = fiftyone_module(uri)
        manifest = Path(tmp) / "manifest.jsonl"
        synthetic_manifest(manifest, args.samples)
        private, public = load_both_ways(manifest)
        w_private, w_public = writes_both_ways(fo, fo.load_dataset("bench-load"), args.write_samples)
        peer, timed = per_image_loop(fo, manifest, args.peer_samples)
        peer *= args.samples / timed
    n, w = args.samples, args.write_samples
    print(f"{n} samples into FiftyOne {fo.__version__} (throwaway MongoDB)")
    print(f"  curation.load, raw insert_many (private)   {private:7.1f} s  {n / private:8.0f} samples/s")
    print(f"  curation.load, add_samples (public)        {public:7.1f} s  {n / public:8.0f} samples/s  "
          f"ratio {public / private:.1f}x")
    print(f"  add_sample per image                       {peer:7.1f} s  {n / peer:8.0f} samples/s  "
          f"(timed on {timed}, scaled)  ratio {peer / private:.1f}x")
    print(f"{w} samples x (a label + 3 numbers) written")
    print(f"  write_samples, _bulk_write (private)        {w_private:7.1f} s  {w / w_private:8.0f} samples/s")
    print(f"  set_values per field (public)              {w_public:7.1f} s  {w / w_public:8.0f} samples/s  "
          f"ratio {w_public / w_private:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
