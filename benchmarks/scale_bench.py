"""Every stage at several sizes: wall time, peak memory and growth, with fiftyone-brain's and FiftyOne's peers.

    python benchmarks/scale_bench.py                                  # the smoke size: 2000 and 6000 drawings
    python benchmarks/scale_bench.py --samples 10000,30000,100000 --work /data/scale --keep

For each size N it generates N drawings (shapes in varied colours, named after the 1000
ILSVRC classes, with about 2% exact and 3% near duplicates) and runs the real stages on
them, each as its own process, as a user would: ``datasets.build --from``,
``evaluation.extract`` (the tiny random backbone, CPU), ``curation.load``, ``curation.embed``,
``curation.hygiene``, ``evaluation.baseline``, ``evaluation.svm``, ``curation.writeback``
for both, ``curation.export``, and the App: ``curation.app`` started and its first grid page
(the GraphQL query the grid sends) answered over HTTP. All sizes share one MongoDB.

Per stage and size: wall seconds, the peak RSS of the stage's processes (its tree, polled,
and its own ``ru_maxrss``) and of mongod (polled), and the growth between sizes: the
time ratio and the exponent ``log(t2/t1) / log(n2/n1)`` (1 = linear). Peers run in the
same session on the same data, each in its own process: FiftyOne's ``add_samples`` of the
manifest's samples (curation.load), brain ``compute_visualization`` with its defaults
(curation.embed) and brain ``compute_near_duplicates`` + ``compute_mistakenness`` with their
defaults (curation.hygiene). The last line is, exactly,

    scale: worst stage <name> grows x<ratio> from <n1> to <n2> samples; total <seconds> s at <n2>

where the worst stage has the largest growth exponent between two consecutive sizes,
the ratio is time(n2)/time(n1), and the total is the whole chain's at n2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
CHAIN = ("load", "embed", "hygiene", "baseline", "svm", "writeback baseline", "writeback svm", "export")
PEERS = {"load": "add_samples", "embed": "compute_visualization", "hygiene": "near_duplicates+mistakenness"}
EXACT_SHARE, NEAR_SHARE = 0.02, 0.03


# ---------------------------------------------------------------------------------------------------------------
# data


def _draw(rng: random.Random, size: int, shift: int = 0, tint: int = 0):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(2, 5)):
        colour = tuple(min(255, rng.randrange(256) + tint) for _ in range(3))
        x0, y0 = rng.randrange(size - 16) + shift, rng.randrange(size - 16) + shift
        x1, y1 = x0 + rng.randint(8, size // 2), y0 + rng.randint(8, size // 2)
        kind = rng.randrange(4)
        if kind == 0:
            d.ellipse((x0, y0, x1, y1), fill=colour, outline="black")
        elif kind == 1:
            d.rectangle((x0, y0, x1, y1), fill=colour, outline="black")
        elif kind == 2:
            d.polygon([(rng.randrange(size), rng.randrange(size)) for _ in range(rng.randint(3, 6))], fill=colour)
        else:
            d.line((x0, y0, x1, y1), fill=colour, width=rng.randint(2, 6))
    return img


def generate_drawings(folder: Path, n: int, *, classes: int = 1000, seed: int = 0, size: int = 96) -> dict:
    """N PNG drawings under folder/<k>/, named ``<class name>_<i>.png`` over ``classes`` of the 1000; some exact
    copies (same bytes, another name of the same class) and near copies (the same shapes shifted and tinted)."""
    from datasets.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    names = [c.name.replace(" ", "_").replace("'", "") for c in vocab][:: max(1, len(vocab) // classes)][:classes]
    rng = random.Random(seed)
    counts = {"drawings": 0, "exact": 0, "near": 0}
    previous: list[tuple[Path, int]] = []  # (file, the seed its shapes were drawn from)
    for i in range(n):
        cls = i % len(names)
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{names[cls]}_{i}.png"
        roll = rng.random()
        if previous and roll < EXACT_SHARE:
            src, _ = previous[rng.randrange(len(previous))]
            shutil.copyfile(src, path)
            counts["exact"] += 1
            continue
        if previous and roll < EXACT_SHARE + NEAR_SHARE:
            _, shapes = previous[rng.randrange(len(previous))]
            _draw(random.Random(shapes), size, shift=2, tint=12).save(path)
            counts["near"] += 1
            continue
        shapes = seed * 10_000_019 + i
        _draw(random.Random(shapes), size).save(path)
        previous.append((path, shapes))
        counts["drawings"] += 1
    return counts


# ---------------------------------------------------------------------------------------------------------------
# measuring one process


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def tree_rss_kb(pid: int) -> int:
    """The resident memory of a process and all its descendants, in kB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_kb(p)
        todo += _children(p)
    return total


class Peaks(threading.Thread):
    """Polls the RSS of a process tree and of mongod until stopped; keeps the maxima."""

    def __init__(self, pid: int, mongod: int | None, every: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.mongod, self.every = pid, mongod, every
        self.tree = self.db = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.tree = max(self.tree, tree_rss_kb(self.pid))
            if self.mongod:
                self.db = max(self.db, _rss_kb(self.mongod))
            self.done.wait(self.every)


@dataclass
class Measure:
    seconds: float
    rss_mb: float  # the stage's processes
    mongod_mb: float
    ok: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict)


def run_measured(cmd: list[str], *, env: dict, log: Path, mongod: int | None, until=None, timeout: float = 7200) -> Measure:
    """Run cmd to its end (or, with ``until(proc)``, until that returns a value, then stop it); measure it."""
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        peaks = Peaks(proc.pid, mongod)
        peaks.start()
        extra: dict = {}
        try:
            if until is not None:
                extra = until(proc) or {}
                seconds = time.perf_counter() - start - extra.get("overhead_s", 0.0)
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = start + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(0.05)
        finally:
            peaks.done.set()
            peaks.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if until is None:
        seconds = time.perf_counter() - start
    ok = until is not None and bool(extra) or until is None and proc.returncode == 0
    rss = max(peaks.tree, usage.ru_maxrss) / 1024
    note = "" if ok else f"failed (exit {proc.returncode}); see {log}"
    return Measure(round(seconds, 2), round(rss, 1), round(peaks.db / 1024, 1), ok, note, extra)


# ---------------------------------------------------------------------------------------------------------------
# the App's first page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PAGE_QUERY = """query FirstPage($dataset: String!, $view: BSONArray!) {
  samples(dataset: $dataset, view: $view, first: 20, filter: {}) {
    __typename
    ... on SampleItemStrConnection { edges { node { __typename ... on ImageSample { id sample } } } }
  }
}"""


def first_page(port: int, dataset: str, stages: list, timeout: float = 600) -> tuple[int, float]:
    """The grid's first page over HTTP: (samples on it, seconds the query took)."""
    body = json.dumps({"query": PAGE_QUERY, "variables": {"dataset": dataset, "view": stages}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = json.loads(resp.read())
    took = time.perf_counter() - t
    if data.get("errors"):
        raise RuntimeError(f"first page: {data['errors']}")
    return len(data["data"]["samples"]["edges"]), took


def app_until(port: int, dataset: str, log: Path, uri: str):
    """Waits for curation.app to say what it opened, then asks for that view's first page."""
    def until(proc) -> dict:
        deadline = time.time() + 900
        while time.time() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "The App is serving" in text:
                line = next(x for x in text.splitlines() if "The App is serving" in x)
                view = line.split(", view '", 1)[1].split("'", 1)[0] if ", view '" in line else None
                t = time.perf_counter()
                stages = opened_stages(uri, dataset, view)
                overhead = time.perf_counter() - t  # the bench's own query of the view: not the App's time
                for _ in range(600):  # the server answers a moment after the session starts
                    try:
                        n, took = first_page(port, dataset, stages)
                        return {"view": view, "tiles": n, "query_s": round(took, 3), "overhead_s": overhead}
                    except OSError:
                        time.sleep(0.2)
                return {}
            time.sleep(0.1)
        return {}
    return until


def opened_stages(uri: str, dataset: str, view: str | None) -> list:
    code = ("import json,sys;from curation.database import fiftyone_module;fo=fiftyone_module(sys.argv[1]);"
            "d=fo.load_dataset(sys.argv[2]);v=sys.argv[3];"
            "print(json.dumps(d.load_saved_view(v)._serialize() if v else []))")
    out = subprocess.run([sys.executable, "-c", code, uri, dataset, view or ""], cwd=ROOT, capture_output=True,
                         text=True, check=True, env=_env(uri))
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# peers: each runs in its own process (``--peer NAME``), on the data the stage had


def _env(uri: str) -> dict:
    return {**os.environ, "FIFTYONE_DATABASE_URI": uri, "FIFTYONE_DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT)}


def _peer_features(dataset, features: Path):
    from curation.embed import first_rows
    from evaluation.features import read_features

    fs = read_features(features)
    keep = first_rows(fs.ids)
    row = {str(fs.ids[k]): k for k in keep}
    ids, keys = dataset.values(["id", "image_id"])
    pairs = [(i, row[k]) for i, k in zip(ids, keys) if k in row]
    return [i for i, _ in pairs], fs.features[[r for _, r in pairs]]


def peer_add_samples(fo, args) -> None:
    from datasets.manifest import read_manifest

    peer = fo.Dataset(f"{args.dataset}-peer-add", overwrite=True)
    samples = [fo.Sample(filepath=str(Path(args.manifest).parent / r["filepath"]), image_id=r["id"], split=r["split"],
                         tags=[r["split"]], ground_truth=fo.Classification(label=r["label"]) if r["label"] else None)
               for r in read_manifest(Path(args.manifest))]
    peer.add_samples(samples)
    peer.delete()


def peer_compute_visualization(fo, args) -> None:
    import fiftyone.brain as fob

    dataset = fo.load_dataset(args.dataset)
    ids, X = _peer_features(dataset, Path(args.features))
    fob.compute_visualization(dataset.select(ids, ordered=True), embeddings=X, brain_key="peer_vis", seed=0)
    dataset.delete_brain_run("peer_vis")


def peer_near_duplicates(fo, args) -> None:
    import fiftyone.brain as fob

    dataset = fo.load_dataset(args.dataset)
    ids, X = _peer_features(dataset, Path(args.features))
    index = fob.compute_near_duplicates(dataset.select(ids, ordered=True), embeddings=X)
    print(f"peer near_duplicates: {len(index.duplicate_ids)} duplicates")


def peer_mistakenness(fo, args) -> None:
    import fiftyone.brain as fob

    dataset = fo.load_dataset(args.dataset)
    view = dataset.exists("cv_prediction")
    fob.compute_mistakenness(view, "cv_prediction", label_field="ground_truth", mistakenness_field="peer_mistakenness")
    dataset.delete_brain_run("peer_mistakenness")  # its key is the field's name; this also removes the field


PEER_RUNS = {"add_samples": peer_add_samples, "compute_visualization": peer_compute_visualization,
             "near_duplicates": peer_near_duplicates, "mistakenness": peer_mistakenness}


def run_peer(args) -> int:
    from curation.database import fiftyone_module

    PEER_RUNS[args.peer](fiftyone_module(args.uri), args)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# one size


def stage_commands(n: int, work: Path, dataset: str, port: int) -> dict[str, list[str]]:
    py = sys.executable
    b, feats, res = work / "build", work / "features-tiny.h5", work / "results"
    return {
        "build": [py, "-m", "datasets.build", "--from", str(work / "drawings"), "--out", str(b)],
        "extract": [py, "-m", "evaluation.extract", "--manifest", str(b / "manifest.jsonl"), "--backbone", "tiny",
                    "--weights", "random", "--device", "cpu", "--out", str(feats)],
        "load": [py, "-m", "curation.load", "--manifest", str(b / "manifest.jsonl"), "--dataset", dataset],
        "embed": [py, "-m", "curation.embed", "--dataset", dataset, "--features", str(feats)],
        "hygiene": [py, "-m", "curation.hygiene", "--dataset", dataset, "--features", str(feats), "--no-clip"],
        "baseline": [py, "-m", "evaluation.baseline", "--features", str(feats), "--out", str(res)],
        "svm": [py, "-m", "evaluation.svm", "--features", str(feats), "--out", str(res)],
        "writeback baseline": [py, "-m", "curation.writeback", "--dataset", dataset, "--results", str(res),
                               "--method", "baseline", "--name", "baseline_tiny"],
        "writeback svm": [py, "-m", "curation.writeback", "--dataset", dataset, "--results", str(res), "--method",
                          "svm", "--name", "svm_tiny", "--compare", "baseline_tiny"],
        "export": [py, "-m", "curation.export", "--dataset", dataset, "--out", str(work / "export")],
        "app": [py, "-m", "curation.app", "--dataset", dataset, "--port", str(port)],
    }


def peer_command(name: str, work: Path, dataset: str, uri: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--peer", name, "--dataset", dataset, "--uri", uri,
            "--manifest", str(work / "build" / "manifest.jsonl"), "--features", str(work / "features-tiny.h5")]


def bench_size(n: int, work: Path, uri: str, mongod: int | None, *, peers: bool, classes: int, seed: int) -> dict:
    """Every stage (then its peer) at size n; stops at the first stage that fails."""
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    t = time.perf_counter()
    made = generate_drawings(work / "drawings", n, classes=classes, seed=seed)
    print(f"\n== {n} drawings generated in {time.perf_counter() - t:.1f} s ({made})", flush=True)
    dataset, port, env = f"scale-{n}", _free_port(), _env(uri)
    stages: dict[str, Measure] = {}
    for name, cmd in stage_commands(n, work, dataset, port).items():
        log = logs / f"{name.replace(' ', '-')}.log"
        until = app_until(port, dataset, log, uri) if name == "app" else None
        m = run_measured(cmd, env=env, log=log, mongod=mongod, until=until)
        stages[name] = m
        extra = f"  {m.extra}" if m.extra else ""
        print(f"{n:>8}  {name:<20} {m.seconds:>9.1f} s  {m.rss_mb:>8.0f} MB  mongod {m.mongod_mb:>6.0f} MB"
              f"{extra}  {m.note}", flush=True)
        if not m.ok:
            print(_tail(log), flush=True)
            break
    found = {}
    if peers and all(m.ok for m in stages.values()):
        for stage, peer in PEERS.items():
            parts = [run_measured(peer_command(p, work, dataset, uri), env=env, log=logs / f"peer-{p}.log",
                                  mongod=mongod) for p in peer.split("+")]
            found[stage] = Measure(round(sum(p.seconds for p in parts), 2), max(p.rss_mb for p in parts),
                                   max(p.mongod_mb for p in parts), all(p.ok for p in parts),
                                   "; ".join(p.note for p in parts if p.note),
                                   {"parts": {k: p.seconds for k, p in zip(peer.split("+"), parts)}})
            m = found[stage]
            print(f"{n:>8}  peer {peer:<28} {m.seconds:>9.1f} s  {m.rss_mb:>8.0f} MB  mongod {m.mongod_mb:>6.0f} MB"
                  f"  {m.note}", flush=True)
    return {"stages": stages, "peers": found, "generated": made}


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


# ---------------------------------------------------------------------------------------------------------------
# report


def exponent(t1: float, t2: float, n1: int, n2: int) -> float:
    return math.log(max(t2, 1e-3) / max(t1, 1e-3)) / math.log(n2 / n1)


def worst_growth(sizes: list[int], runs: dict[int, dict]) -> tuple[str, float, int, int] | None:
    """(stage, time ratio, n1, n2) of the largest growth exponent between consecutive sizes."""
    worst = None
    for n1, n2 in zip(sizes, sizes[1:]):
        for name, m1 in runs[n1]["stages"].items():
            m2 = runs[n2]["stages"].get(name)
            if m2 is None or not (m1.ok and m2.ok):
                continue
            e = exponent(m1.seconds, m2.seconds, n1, n2)
            if worst is None or e > worst[0]:
                worst = (e, name, m2.seconds / max(m1.seconds, 1e-3), n1, n2)
    return worst[1:] if worst else None


def chain_total(run: dict, names=None) -> float:
    return round(sum(m.seconds for k, m in run["stages"].items() if names is None or k in names), 1)


def report(sizes: list[int], runs: dict[int, dict]) -> str:
    head = "".join(f"{f'{n} s':>10}{'RSS MB':>8}{'mongod':>8}" for n in sizes)
    growth = "".join(f"{f'x({a}->{b})':>16}{'exp':>6}" for a, b in zip(sizes, sizes[1:]))
    at = max([n for n in sizes if runs[n]["peers"]] or sizes)  # the largest size the peers ran at
    lines = [f"\n{'stage':<20}{head}{growth}   peer at {at} (s, ratio ours/peer)"]
    for name in stage_commands(0, Path("."), "", 0):
        cells = ""
        for n in sizes:
            m = runs[n]["stages"].get(name)
            cells += (f"{m.seconds:>10.1f}{m.rss_mb:>8.0f}{m.mongod_mb:>8.0f}" if m and m.ok
                      else f"{'failed' if m else '-':>10}{'':>16}")
        for a, b in zip(sizes, sizes[1:]):
            m1, m2 = runs[a]["stages"].get(name), runs[b]["stages"].get(name)
            if m1 and m2 and m1.ok and m2.ok:
                cells += f"{m2.seconds / max(m1.seconds, 1e-3):>16.2f}{exponent(m1.seconds, m2.seconds, a, b):>6.2f}"
            else:
                cells += f"{'-':>16}{'-':>6}"
        peer, p = PEERS.get(name), runs[at]["peers"].get(name)
        ours = runs[at]["stages"].get(name)
        if peer and p and p.ok and ours and ours.ok:
            cells += f"   {peer} {p.seconds:.1f} s, {p.rss_mb:.0f} MB, ratio {ours.seconds / max(p.seconds, 1e-3):.2f}x"
        elif peer:
            cells += f"   {peer}: {p.note if p else 'not run'}"
        lines.append(f"{name:<20}{cells}")
    for n in sizes:
        lines.append(f"total at {n}: {chain_total(runs[n])} s (load -> export {chain_total(runs[n], CHAIN)} s)")
    return "\n".join(lines)


def last_line(sizes: list[int], runs: dict[int, dict]) -> str:
    worst = worst_growth(sizes, runs)
    if worst is None:
        return f"scale: no stage finished at two sizes ({', '.join(map(str, sizes))})"
    name, ratio, n1, n2 = worst
    return (f"scale: worst stage {name} grows x{ratio:.2f} from {n1} to {n2} samples; "
            f"total {chain_total(runs[n2]):.1f} s at {n2}")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=add_help)
    p.add_argument("--samples", default="2000,6000", help="comma-separated sizes, ascending (default %(default)s)")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the working folder and database")
    p.add_argument("--no-peers", action="store_true", help="skip the peers")
    p.add_argument("--peers-up-to", type=int, default=None, metavar="N",
                   help="run the peers only at sizes up to N (the brain's t-SNE takes hours at 100k)")
    p.add_argument("--classes", type=int, default=None,
                   help="classes the drawings are named after (default: 1000, or a tenth of the smallest size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--peer", choices=sorted(PEER_RUNS), help=argparse.SUPPRESS)
    for hidden in ("--dataset", "--uri", "--manifest", "--features"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    return p


def write_json(path: Path, runs: dict[int, dict]) -> None:
    text = json.dumps({str(n): {k: {s: vars(m) for s, m in v.items()} for k, v in r.items() if k != "generated"}
                       for n, r in runs.items()}, indent=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _mongod_pid(folder: Path) -> int | None:
    lock = folder / "mongod.lock"
    try:
        return int(lock.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.peer:
        return run_peer(args)
    try:
        sizes = sorted({int(s) for s in args.samples.split(",") if s.strip()})
    except ValueError:
        print(f"scale_bench: --samples wants comma-separated integers, got {args.samples!r}", file=sys.stderr)
        return 2
    if len(sizes) < 2 or sizes[0] < 50:
        print("scale_bench: --samples wants at least two sizes of 50 or more", file=sys.stderr)
        return 2
    args.classes = args.classes or min(1000, sizes[0] // 10)
    if not 2 <= args.classes <= 1000 or sizes[0] < 4 * args.classes:
        print(f"scale_bench: --classes must be 2..1000 and leave 4+ drawings a class at the smallest size "
              f"({sizes[0]})", file=sys.stderr)
        return 2
    from curation.database import throwaway_mongod

    work = args.work or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    db = work / "mongod"
    shutil.rmtree(db, ignore_errors=True)
    db.mkdir(parents=True)
    print(f"scale bench: sizes {sizes}, work {work}, {os.cpu_count()} cores", flush=True)
    runs: dict[int, dict] = {}
    try:
        with throwaway_mongod(db) as uri:
            mongod = _mongod_pid(db)
            for n in sizes:
                shutil.rmtree(work / str(n), ignore_errors=True)
                peers = not args.no_peers and (args.peers_up_to is None or n <= args.peers_up_to)
                runs[n] = bench_size(n, work / str(n), uri, mongod, peers=peers, classes=args.classes, seed=args.seed)
                if args.json:  # after every size, so a long run that dies keeps what it measured
                    write_json(args.json, runs)
                if not args.keep:
                    shutil.rmtree(work / str(n) / "drawings", ignore_errors=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(sizes, runs))
    print(last_line(sizes, runs))
    return 0 if all(m.ok for r in runs.values() for m in r["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
