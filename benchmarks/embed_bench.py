"""Embedding views: curation.embed's t-SNE and UMAP next to fiftyone-brain's own recipe, in one run.

    python benchmarks/embed_bench.py                       # 20k peers, then 50k ours, extrapolated to 200k
    python benchmarks/embed_bench.py --full                # ours at 200k x 4096 itself (3.2 GB of features)
    python benchmarks/embed_bench.py --n 2000 --large 5000 --dims 256 --no-storage   # a quick look

Data: seeded synthetic features, ``--classes`` Gaussian clusters in ``--dims`` dimensions,
clipped at 0 like post-ReLU CNN features (about half the values are 0, as in real fc7/pool
features). At ``--n`` points both sides run:

  t-SNE  fiftyone-brain: PCA to 50 (randomized SVD, all rows) + scikit-learn TSNE as
         ``compute_visualization(method="tsne")`` configures it (lr 200, 1000 iterations)
         curation.embed: PCA to 50 + one Annoy kNN graph + openTSNE (FFT gradients)
  UMAP   fiftyone-brain: umap-learn on the raw D-dim features, seeded
         curation.embed: umap-learn on the PCA-50 rows and the same kNN graph, seeded

Each line gives wall and CPU seconds (the machine may be shared: CPU time is what the
work cost) and how often a point's 10 nearest 2-D neighbours share its class (higher
is better) so that speed is not bought with a worse picture. Then curation.embed runs
alone at ``--large`` points (or 200k with ``--full``) and each stage is extrapolated to
200k with a power law t = a N^b fitted through its two measured sizes. Last, the
features are written to a throwaway MongoDB as float32 and as float16 vectors (the
``--dtype`` choice of curation.embed) and the stored size is scaled to 200k rows.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as curation.embed's CLI: before any OpenMP runtime loads

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.embed import knn_graph, pca_reduce, tsne_points, umap_points

TARGET = 200_000


def synthetic(n: int, d: int, classes: int, seed: int = 0, chunk: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float32 non-negative clustered features and their class of each row, built in chunks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (classes, d)).astype(np.float32)
    y = rng.integers(0, classes, n)
    X = np.empty((n, d), dtype=np.float32)
    for i in range(0, n, chunk):
        noise = np.random.default_rng((seed, i)).normal(0, 1.5, (min(chunk, n - i), d)).astype(np.float32)
        np.maximum(centres[y[i : i + chunk]] + noise, 0, out=X[i : i + chunk])
    return X, y


def clock(fn, *args, **kwargs):
    """(result, wall s, CPU s of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def agreement(points: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Share of each point's k nearest 2-D neighbours that have its class."""
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points, return_distance=False)[:, 1:]
    return float((y[idx] == y[:, None]).mean())


def brain_tsne(X: np.ndarray, seed: int) -> np.ndarray:
    """What fob.compute_visualization(method="tsne") computes: PCA 50 on all rows, then scikit-learn TSNE."""
    from sklearn.decomposition import PCA

    k = min(50, X.shape[1])  # the brain's pca_dims=50 needs D >= 50: small --dims keep all of them
    Z = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit_transform(X).astype(np.float32)
    return tsne_points(Z, backend="sklearn", seed=seed)


def brain_umap(X: np.ndarray, seed: int) -> np.ndarray:
    """What fob.compute_visualization(method="umap") computes: umap-learn on the raw features."""
    import warnings

    import umap

    with warnings.catch_warnings():
        # a seed disables its threads (said above); spectral initialisation notes disconnected clusters
        warnings.filterwarnings("ignore", message=".*(n_jobs|not fully connected).*")
        return umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=seed).fit_transform(X)


def ours(X: np.ndarray, seed: int, jobs: int, methods=("tsne", "umap")) -> tuple[dict, dict]:
    """curation.embed's pipeline stage by stage: ({stage: (wall, cpu)}, {method: points})."""
    t, pts = {}, {}
    Z, *t["pca"] = clock(pca_reduce, X, 50, seed=seed)
    knn, *t["knn"] = clock(knn_graph, Z, 90, seed=seed, jobs=jobs)
    if "tsne" in methods:
        pts["tsne"], *t["tsne"] = clock(tsne_points, Z, seed=seed, jobs=jobs, knn=knn)
    if "umap" in methods:
        pts["umap"], *t["umap"] = clock(umap_points, Z, seed=seed, jobs=jobs, knn=knn)
    return t, pts


def extrapolate(n1: int, t1: float, n2: int, t2: float, n: int = TARGET) -> tuple[float, float]:
    """(t at n, exponent b): the power law t = a N^b through (n1, t1) and (n2, t2), with b at least 1.

    No stage gets cheaper per point as N grows (kNN is O(N log N), a t-SNE iteration and a
    UMAP epoch O(N)), so a flatter fit is timing noise or fixed costs: it is not trusted.
    """
    b = math.log(t2 / t1) / math.log(n2 / n1) if t1 > 0 and t2 > 0 and n2 != n1 else 1.0
    b = max(b, 1.0)
    return t2 * (n / n2) ** b, b


def storage(X: np.ndarray, rows: int) -> list[tuple[str, float, float, float]]:
    """[(dtype, MB stored per 1000 rows, write s per 1000 rows, max relative L2 error)] on a throwaway MongoDB."""
    from curation.database import fiftyone_module, throwaway_mongod
    from curation.embed import attach_features

    out = []
    with tempfile.TemporaryDirectory() as tmp, throwaway_mongod(tmp) as uri:
        fo = fiftyone_module(uri)
        for dtype in ("float32", "float16"):
            ds = fo.Dataset(f"embed-bench-{dtype}")
            ds.add_samples([fo.Sample(filepath=f"/nonexistent/{i}.png") for i in range(rows)], progress=False)
            ids = ds.values("id")
            coll = ds._sample_collection
            before = coll.database.command("collStats", coll.name)["size"]
            _, wall, _ = clock(attach_features, fo, ds, "emb", X, np.arange(rows), ids, dtype, 2048)
            # BSON size added by the vectors: FiftyOne already zlib-compresses each one, so the disk
            # holds about as much (WiredTiger's storageSize itself lags until its next checkpoint)
            size = coll.database.command("collStats", coll.name)["size"] - before
            back = np.stack(ds.values("emb")).astype(np.float64)
            ref = X[:rows].astype(np.float64)
            err = np.linalg.norm(back - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)
            out.append((dtype, size / rows * 1000 / 1e6, wall / rows * 1000, float(err.max())))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000, help="points for the side-by-side (default 20000)")
    p.add_argument("--large", type=int, default=50_000, help="points for curation.embed alone (default 50000)")
    p.add_argument("--full", action="store_true", help=f"run curation.embed alone at {TARGET} points")
    p.add_argument("--dims", type=int, default=4096, help="feature dimension (default 4096, VGG-19 fc7)")
    p.add_argument("--classes", type=int, default=50)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-peers", action="store_true", help="skip fiftyone-brain's recipes (the slow side)")
    p.add_argument("--no-storage", action="store_true", help="skip the MongoDB size measurement")
    p.add_argument("--storage-rows", type=int, default=5000)
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress while a long run is redirected to a file
    large = TARGET if args.full else args.large
    print(f"embedding views, D={args.dims}, {args.classes} classes, {os.cpu_count()} cores, {args.jobs} jobs, "
          f"load average {os.getloadavg()[0]:.1f} at start, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    X, y = synthetic(max(args.n, large), args.dims, args.classes, args.seed)
    Xs, ys = X[: args.n], y[: args.n]

    # numba compiles umap-learn on its first call: not part of any timing below
    _, compile_s, _ = clock(umap_points, np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32), seed=0)
    print(f"  (umap-learn first call, numba compilation: {compile_s:.1f} s, not counted)")

    small_t, small_pts = ours(Xs, args.seed, args.jobs)
    for method, title, ours_name, peer_name, peer in (
            ("tsne", f"t-SNE, {args.n} x {args.dims}", "curation.embed (PCA + Annoy kNN + openTSNE)    ",
             "fiftyone-brain recipe (PCA + sklearn TSNE)     ", brain_tsne),
            ("umap", f"UMAP, {args.n} x {args.dims} (seeded: umap-learn optimises on one thread)",
             "curation.embed (PCA + shared kNN + umap-learn) ", "fiftyone-brain recipe (umap-learn on raw D)    ",
             brain_umap)):
        wall_ours = sum(small_t[s][0] for s in ("pca", "knn", method))
        cpu_ours = sum(small_t[s][1] for s in ("pca", "knn", method))
        print(title)
        print(f"  {ours_name} wall {wall_ours:7.1f} s  cpu {cpu_ours:7.1f} s  "
              f"10-NN class agreement {agreement(small_pts[method], ys):.3f}")
        if not args.no_peers:
            pts, wall, cpu = clock(peer, Xs, args.seed)
            print(f"  {peer_name} wall {wall:7.1f} s  cpu {cpu:7.1f} s  "
                  f"10-NN class agreement {agreement(pts, ys):.3f}  ratio {wall / wall_ours:.1f}x")

    if min(args.n, large) < 10_000:
        print("  (below 10k points openTSNE uses Barnes-Hut, above FFT gradients: the extrapolation below mixes both)")
    large_t, large_pts = ours(X[:large], args.seed, args.jobs)
    del X
    print(f"curation.embed alone at {large} x {args.dims}, per stage (wall s; cpu s)"
          + ("" if large == TARGET else f", extrapolated to {TARGET}: t = a N^b through {args.n} and {large}, b >= 1"))
    totals = {"tsne": 0.0, "umap": 0.0, "both": 0.0}
    for stage, (wall, cpu) in large_t.items():
        at, b = (wall, None) if large == TARGET else extrapolate(args.n, small_t[stage][0], large, wall)
        for method in totals:
            if stage in ("pca", "knn", method) or method == "both":
                totals[method] += at
        more = "" if b is None else f"  -> {at:7.1f} s at {TARGET} (b = {b:.2f})"
        print(f"  {stage:5s} wall {wall:7.1f} s  cpu {cpu:7.1f} s{more}")
    print(f"  10-NN class agreement: t-SNE {agreement(large_pts['tsne'], y[:large]):.3f}, "
          f"UMAP {agreement(large_pts['umap'], y[:large]):.3f}")
    word = "measured" if large == TARGET else "extrapolated"
    print(f"  {TARGET} points, {word}: t-SNE {totals['tsne'] / 60:.1f} min, UMAP {totals['umap'] / 60:.1f} min, "
          f"both (PCA and kNN shared) {totals['both'] / 60:.1f} min")

    if not args.no_storage:
        rows = min(args.storage_rows, args.n)
        print(f"features attached to MongoDB ({rows} rows written, scaled to {TARGET})")
        for dtype, mb, secs, err in storage(Xs, rows):
            print(f"  {dtype}: {mb * TARGET / 1000 / 1000:6.2f} GB, write {secs * TARGET / 1000 / 60:5.1f} min, "
                  f"max relative error of a vector {err:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
