"""Team curation: actions per second with 1, 2 and 4 curators at once, and reading a 100,000-record log.

    python benchmarks/curation_bench.py [--curators 1,2,4] [--actions 100] [--records 100000] \
        [--before REV] [--json F]

Each curator is a process of its own (``tests/curation_worker.py``) acting at random on 1-4 of
the same 48 samples (a fifth of the actions undos), all on one test MongoDB, started together;
the figure is the records written per second of wall time. ``--before REV`` runs the same
workers on another commit's code (a git worktree), in the same run: before the team-curation
change, records were lost to the numbering race, which is counted too.

The log's cost is measured on a dataset whose store holds ``--records`` records: one
``CurationLog.records()`` and the undo's lookup of the caller's last action, against the
peer, the read that ``records()`` did before (``ExecutionStore.list_keys`` then one ``get``
per key).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLASSES = [(849, "n04398044", "teapot"), (879, "n04507155", "umbrella"), (587, "n03481172", "hammer")]


def write_manifest(folder: Path, n: int) -> Path:
    """``n`` tiny generated drawings over three classes, as datasets.build writes them."""
    from PIL import Image

    from datasets.manifest import write_jsonl

    rows = []
    for i in range(n):
        index, wnid, label = CLASSES[i % 3]
        path = folder / "img" / f"{label}{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (24, 16), (i % 256, (i // 256) % 256, 90)).save(path)
        rows.append({"id": f"{i:064x}", "filepath": str(path), "original_name": path.name, "label": label,
                     "wnid": wnid, "class_index": index, "split": "val" if i % 3 == 0 else "train",
                     "matched_words": [label], "lemma": label, "lang": "eng", "sense_rank": 0, "ambiguous": False,
                     "candidates": [wnid], "source": "dir", "style": "clipart", "set": "bench", "license": "CC0-1.0",
                     "width": 24, "height": 16})
    out = folder / "manifest.jsonl"
    write_jsonl(out, rows)
    return out


def run_curators(tree: Path, dataset: str, uri: str, ids_file: Path, curators: int, actions: int,
                 work: Path) -> dict:
    """``curators`` worker processes on ``tree``'s code, started together; records per second and records lost."""
    go = work / f"{dataset}.go"  # created once every worker has imported fiftyone and is ready
    procs, outs = [], []
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    for k in range(curators):
        out = work / f"{dataset}-{k}.json"
        cmd = [sys.executable, str(ROOT / "tests" / "curation_worker.py"), "--dataset", dataset, "--uri", uri,
               "--ids", str(ids_file), "--records", str(actions), "--seed", str(k), "--out", str(out),
               "--go", str(go)]
        procs.append(subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        outs.append(out)
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a curator failed to start:\n{p.communicate()[1][-3000:]}")
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=3600)
        if p.returncode:
            raise RuntimeError(f"a curator failed:\n{err[-3000:]}")
    done = [json.loads(o.read_text()) for o in outs]
    wall = max(d["seconds"] for d in done)
    written = sum(len(d["records"]) for d in done)
    return {"curators": curators, "records": written, "seconds": round(wall, 2),
            "per_second": round(written / wall, 1), "undo_refused": sum(d.get("undo_refused", 0) for d in done)}


def logged_records(fo, dataset: str) -> int:
    from curation.log import CurationLog

    return len(CurationLog(fo.load_dataset(dataset)).records())


def fill_log(fo, dataset, n: int, ids: list[str]) -> None:
    """``n`` plausible records (accept/move of 2 samples, by 4 curators) written straight into the store."""
    import fiftyone.core.odm as foo

    from curation.lock import utcnow
    from curation.log import COLLECTION, STORE, CurationLog, _key

    CurationLog(dataset)  # the store and the indexes
    coll = foo.get_db_conn()[COLLECTION]
    docs = []
    for seq in range(1, n + 1):
        pair = [ids[seq % len(ids)], ids[(seq * 7) % len(ids)]]
        value = {"id": f"{seq:032x}", "time": "2026-11-30T00:00:00+00:00", "user": f"u{seq % 4}",
                 "curator": f"user:u{seq % 4}", "host": "bench", "pid": 1, "action": "accept",
                 "image_ids": pair, "before": {i: [None, "n04398044", 849, "teapot"] for i in pair},
                 "dataset": dataset.name, "seq": seq}
        docs.append({"store_name": STORE, "key": _key(seq), "dataset_id": dataset._doc.id, "value": value,
                     "created_at": utcnow(), "updated_at": utcnow(), "expires_at": None, "policy": "persist"})
        if len(docs) == 10_000:
            coll.insert_many(docs, ordered=False)
            docs = []
    if docs:
        coll.insert_many(docs, ordered=False)


def time_reads(fo, dataset) -> dict:
    from fiftyone.operators.store import ExecutionStore

    from curation.curators import curator
    from curation.log import STORE, CurationLog

    log = CurationLog(dataset, curator=curator("u3"))
    t = time.perf_counter()
    n = len(log.records())
    ours = time.perf_counter() - t
    t = time.perf_counter()
    log.last_action(log.curator["curator"])
    last = time.perf_counter() - t
    store = ExecutionStore.create(STORE, dataset_id=dataset._doc.id)
    t = time.perf_counter()
    peer = [store.get(k) for k in sorted(store.list_keys()) if k[:1].isdigit()]  # records() before
    before = time.perf_counter() - t
    assert len(peer) == n
    return {"records": n, "records_s": round(ours, 2), "last_action_s": round(last, 4),
            "peer_records_s": round(before, 2), "ratio": round(before / max(ours, 1e-6), 1)}


def worktree(rev: str, work: Path) -> Path:
    path = work / f"tree-{rev.replace('/', '_')}"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--curators", default="1,2,4", help="comma-separated counts of curators at once")
    p.add_argument("--actions", type=int, default=100, help="records each curator writes")
    p.add_argument("--samples", type=int, default=48, help="the shared samples they act on")
    p.add_argument("--records", type=int, default=100_000, help="the log length whose reads are timed")
    p.add_argument("--before", default=None, metavar="REV", help="also run the curators on this commit's code")
    p.add_argument("--json", type=Path, default=None)
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    from curation.database import fiftyone_module, throwaway_mongod

    counts = [int(c) for c in args.curators.split(",")]
    work = Path(tempfile.mkdtemp(prefix="curation-bench-"))
    trees = {"now": ROOT}
    results: dict = {"throughput": {}, "reads": None}
    try:
        if args.before:
            trees["before"] = worktree(args.before, work)
        (work / "db").mkdir()
        with throwaway_mongod(work / "db") as uri:
            fo = fiftyone_module(uri)
            from curation.load import load

            manifest = write_manifest(work, args.samples)
            ids_file = work / "ids.json"
            for name, tree in trees.items():
                for c in counts:
                    dataset = f"bench-{name}-{c}"
                    load(manifest, dataset, curation_log=work / f"{dataset}.jsonl")
                    ids_file.write_text(json.dumps(fo.load_dataset(dataset).values("image_id")))
                    got = run_curators(tree, dataset, uri, ids_file, c, args.actions, work)
                    got["in_log"] = logged_records(fo, dataset)
                    got["lost"] = got["records"] - got["in_log"]
                    results["throughput"].setdefault(name, []).append(got)
                    print(f"{name:>6} {c} curator(s): {got['per_second']:6.1f} actions/s ({got['records']} in "
                          f"{got['seconds']} s), {got['lost']} records lost, {got['undo_refused']} undos refused",
                          flush=True)
            load(manifest, "bench-reads", curation_log=work / "reads.jsonl")
            dataset = fo.load_dataset("bench-reads")
            fill_log(fo, dataset, args.records, dataset.values("image_id"))
            results["reads"] = r = time_reads(fo, dataset)
            print(f"records() at {r['records']:,} records: {r['records_s']} s; before (list_keys + get per key): "
                  f"{r['peer_records_s']} s; ratio {r['ratio']}x; the caller's last action: {r['last_action_s']} s")
    finally:
        if "before" in trees:
            subprocess.run(["git", "worktree", "remove", "--force", str(trees["before"])], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    now = {t["curators"]: t["per_second"] for t in results["throughput"]["now"]}
    print(f"curation: {', '.join(f'{c} curators {v} actions/s' for c, v in now.items())}; records() at "
          f"{results['reads']['records']} records {results['reads']['records_s']} s against "
          f"{results['reads']['peer_records_s']} s before (x{results['reads']['ratio']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
