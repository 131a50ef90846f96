"""python -m curation.embed: t-SNE and UMAP views of a features file, as FiftyOne brain runs and a PNG.

    python -m curation.embed --features out/feats/efficientnet_lite0.h5      # the workspace's dataset
    python -m curation.embed --features fc7.h5 --methods tsne --plot fig5_1.png --no-attach

The features of ``evaluation.extract`` (one row per manifest row; an image in two classes
is two rows with the same id, the first is kept) are matched to samples by ``image_id``,
never by row order. Samples without a row are left out of the runs; rows whose image is
not in the dataset are counted and reported.

Written to the dataset, named after the file's backbone and layer (``efficientnet_lite0_pool``):

    <stem>          the features as a vector field (float16 by default; ``--no-attach`` skips it)
    <stem>_tsne     a visualization brain run (the App's Embeddings panel lists it)
    <stem>_umap     likewise, for UMAP

Re-running replaces the runs of the same keys and leaves other keys alone. The static
t-SNE plot (the thesis's Fig. 5.1), coloured by the current ``ground_truth.label``, goes to
``<features stem>.tsne.png`` next to the features file unless ``--plot`` says otherwise.

Why not ``fob.compute_visualization(method="tsne")`` as it is: fiftyone-brain runs PCA to 50
dimensions, then scikit-learn's Barnes-Hut t-SNE (1000 iterations of O(N log N) each);
its UMAP runs umap-learn on the raw D-dimensional features. Here the same PCA step (fitted
on at most 50k rows) feeds one approximate k-nearest-neighbour graph (Annoy, through
openTSNE) that both openTSNE's FFT-accelerated t-SNE and umap-learn use; the 2-D points are
handed to the brain as precomputed points. Such runs record ``method="manual"`` (the brain
sets it for every precomputed run); their config also records ``reducer``,
``implementation``, the features file and the parameters. ``--tsne-backend sklearn``
reproduces the brain's own recipe (learning rate 200, PCA initialisation) for small sets.

Scale (benchmarks/embed_bench.py: synthetic 50-class post-ReLU features, D = 4096, 2 cores):
at 20k points the brain's t-SNE took 321 s and this one 90 s (3.6x), UMAP 93 s against
44 s, with the same share of same-class 2-D neighbours. At 200k x 4096: PCA 15 s, kNN graph
132 s, openTSNE 307 s, UMAP 178 s (seeded; 107 s with ``--seed -1``). This CLI end to end at
200k x 4096 (1000 classes, MongoDB on the same two cores, both busy with other work): 14.3
min with a peak RSS of 5.4 GB, of which kNN 207 s, t-SNE 251 s, UMAP 202 s and attaching
the features 153 s (float16: ~1.0 GB in MongoDB; float32 would be 1.8 GB and ~4 min, and
float16's largest error is 2e-4 of a vector's norm). Memory: the features stay in the file
(3.2 GB at 200k x 4096 float32): the PCA's fit sample (<= 50k rows, 0.8 GB at 4096 dims) and
one chunk of ``chunk_rows`` rows at a time are read from it (``evaluation.features.read_rows``),
so beyond the fit sample memory grows with N x 50 (the PCA rows), not N x D.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from scraping.cli import UsageError, add_common_arguments, setup_logging
from scraping.files import atomic_write_bytes
from training.figures import figure_png

from .database import add_dataset_arguments, dataset_and_uri, exit_code, fiftyone_module
from .state import KEY

logger = logging.getLogger(__name__)
PROG = "curation.embed"

METHODS = ("tsne", "umap")
TSNE_BACKENDS = ("opentsne", "sklearn")
DTYPES = ("float16", "float32")


@dataclass
class EmbedConfig:
    dataset: str  # FiftyOne dataset name (must exist: curation.load creates it)
    features: Path  # features.h5 from evaluation.extract
    methods: tuple[str, ...] = METHODS  # which 2-D views to compute
    plot: Path | None = None  # static PNG; None: <features stem>.<method>.png next to the features file
    seed: int | None = 0  # PCA, kNN, t-SNE and UMAP; None: not reproducible, but UMAP then optimises on all threads
    database_uri: str | None = None
    attach: bool = True  # store the features on the samples (the App's similarity search and brain methods use them)
    dtype: str = "float16"  # of the attached field: half the MongoDB size, cosine error ~1e-4 (embed_bench)
    tsne_backend: str = "opentsne"  # "sklearn": fiftyone-brain's own recipe, for small sets only
    pca_dims: int = 50  # as fiftyone-brain: t-SNE and UMAP run on the first 50 principal components
    pca_fit_rows: int = 50_000  # PCA is fitted on at most this many rows (seeded sample), applied to all in chunks
    perplexity: float = 30.0  # t-SNE; its kNN graph has 3 x perplexity neighbours
    umap_neighbors: int = 15  # umap-learn's default
    umap_min_dist: float = 0.1  # umap-learn's default
    jobs: int = -1  # threads for kNN, t-SNE and UMAP; -1: all cores
    spatial_index: bool = False  # also store the 2-D points on the samples, indexed (faster lasso in the App)
    chunk_rows: int = 8192  # rows per PCA transform / database write: bounds the extra memory
    legend_max: int = 60  # the plot has a legend when it shows at most this many classes


@contextlib.contextmanager
def timed(step: str):
    """Log a long step when it starts and how long it took."""
    logger.info("%s ...", step)
    start = time.perf_counter()
    yield
    logger.info("%s: %.1f s", step, time.perf_counter() - start)


# ----------------------------------------------------------------------------- pure core (numpy in, numpy out)


def key_stem(backbone: str, layer: str) -> str:
    """Field name and brain-key stem: ("efficientnet-lite0", "pool") -> "efficientnet_lite0_pool"."""
    stem = re.sub(r"[^0-9a-zA-Z]+", "_", f"{backbone}_{layer}").strip("_").lower()
    if not stem:
        raise ValueError(f"no usable name in backbone {backbone!r} and layer {layer!r}")
    return stem if stem[0].isalpha() else f"f_{stem}"  # brain keys must be identifiers


def first_rows(ids: np.ndarray) -> np.ndarray:
    """Indices of the first row of each distinct id, in file order (an image in two classes has two rows)."""
    _, first = np.unique(np.asarray(ids, dtype=str), return_index=True)
    return np.sort(first)


def match_rows(feature_ids: np.ndarray, sample_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Pair feature rows with samples by id: (rows, sample positions, rows whose id has no sample).

    ``feature_ids`` must be distinct (see ``first_rows``); pairs come in feature-row order.
    """
    from evaluation.features import sample_rows

    row = sample_rows(feature_ids, sample_keys)
    samples = np.flatnonzero(row >= 0)
    samples = samples[np.argsort(row[samples], kind="stable")]
    return row[samples], samples, len(feature_ids) - len(np.unique(row[samples]))


def pca_reduce(X: np.ndarray, n_components: int = 50, *, rows: np.ndarray | None = None, fit_rows: int = 50_000,
               seed: int | None = 0, chunk_rows: int = 8192) -> np.ndarray:
    """The first ``n_components`` principal components of ``X[rows]`` as float32 (N, n_components).

    Fitted (randomized SVD, as fiftyone-brain) on at most ``fit_rows`` rows drawn with ``seed``,
    then applied in chunks, so the extra memory is one fit sample, not a centred copy of X.
    ``X`` is an array or the file's h5py dataset, read ``chunk_rows`` rows at a time
    (``evaluation.features.read_rows``): the (N, D) features are never in memory at once.
    With no more dimensions (or rows) than components, the rows are returned as they are.
    """
    from sklearn.decomposition import PCA
    from tqdm import tqdm

    from evaluation.features import read_rows

    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    n, d = len(rows), X.shape[1]
    if d <= n_components or n <= n_components:
        return read_rows(X, rows, chunk=chunk_rows)
    rng = np.random.default_rng(seed)
    fit = rows if n <= fit_rows else np.sort(rng.choice(rows, fit_rows, replace=False))
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
    pca.fit(read_rows(X, fit, chunk=chunk_rows))
    out = np.empty((n, n_components), dtype=np.float32)
    for i in tqdm(range(0, n, chunk_rows), desc="pca", unit=" chunk", disable=None, leave=False):
        out[i : i + chunk_rows] = pca.transform(read_rows(X, rows[i : i + chunk_rows], chunk=chunk_rows))
    return out


def _opentsne():
    """openTSNE, imported with passive OpenMP waiting unless the user chose otherwise.

    Each t-SNE iteration is several short parallel regions; OpenMP's default spinning between
    them starves the other thread when cores are shared (MongoDB, the App, other jobs):
    100 points took 19 s instead of 2.5 s on a busy 2-core machine. openTSNE ships its own
    libgomp, which reads the setting when it is first loaded.
    """
    if "openTSNE" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import openTSNE

    return openTSNE


def knn_graph(Z: np.ndarray, k: int, *, seed: int | None = 0, jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of each row, self excluded: (indices int64 (N, k), distances float32 (N, k)).

    openTSNE's choice: exact (scikit-learn) below 1000 rows, Annoy above.
    """
    _opentsne()
    from openTSNE.affinity import get_knn_index

    k = min(k, len(Z) - 1)
    if k < 1:
        raise ValueError(f"need at least 2 points for a neighbour graph, got {len(Z)}")
    index = get_knn_index(np.ascontiguousarray(Z, dtype=np.float32), "auto", k, "euclidean", n_jobs=jobs,
                          random_state=seed)
    indices, distances = index.build()
    return np.asarray(indices, dtype=np.int64), np.asarray(distances, dtype=np.float32)


def tsne_points(Z: np.ndarray, *, backend: str = "opentsne", perplexity: float = 30.0, seed: int | None = 0,
                jobs: int = 1, knn: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """2-D t-SNE of ``Z`` (N, d), float32 (N, 2).

    ``opentsne``: openTSNE's defaults (FFT gradients above 10k points, PCA initialisation),
    on ``knn`` when given (at least 3 x perplexity neighbours, self excluded).
    ``sklearn``: what fiftyone-brain runs after its PCA step.
    A perplexity too large for N is lowered to (N - 1) / 3.
    """
    n = len(Z)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    perplexity = min(perplexity, (n - 1) / 3)
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    if backend == "sklearn":
        from sklearn.manifold import TSNE

        # fiftyone-brain's TSNEVisualizationConfig defaults
        return TSNE(n_components=2, perplexity=perplexity, learning_rate=200.0, metric="euclidean", init="pca",
                    random_state=seed, max_iter=1000).fit_transform(Z).astype(np.float32)
    if backend != "opentsne":
        raise ValueError(f"unknown t-SNE backend {backend!r}; choose from {', '.join(TSNE_BACKENDS)}")
    openTSNE = _opentsne()
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    k = min(n - 1, int(3 * perplexity))
    indices, distances = knn if knn is not None else knn_graph(Z, k, seed=seed, jobs=jobs)
    if indices.shape[1] < k:
        raise ValueError(f"the neighbour graph has {indices.shape[1]} neighbours; t-SNE needs {k}")
    affinities = PerplexityBasedNN(perplexity=perplexity, n_jobs=jobs,
                                   knn_index=PrecomputedNeighbors(indices[:, :k], distances[:, :k]))
    tsne = openTSNE.TSNE(n_components=2, perplexity=perplexity, n_jobs=jobs, random_state=seed, verbose=False)
    return np.asarray(tsne.fit(Z, affinities=affinities), dtype=np.float32)


def umap_points(Z: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int | None = 0, jobs: int = 1,
                knn: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """2-D UMAP of ``Z`` (N, d), float32 (N, 2), on ``knn`` when given (self excluded, as ``knn_graph``).

    With a seed umap-learn is reproducible but optimises on one thread; ``seed=None`` uses ``jobs``.
    """
    n = len(Z)
    if n < 4:
        raise ValueError(f"UMAP needs at least 4 points, got {n}")
    n_neighbors = min(n_neighbors, n - 1)
    indices, distances = knn if knn is not None else knn_graph(Z, n_neighbors - 1, seed=seed, jobs=jobs)
    if indices.shape[1] < n_neighbors - 1:
        raise ValueError(f"the neighbour graph has {indices.shape[1]} neighbours; UMAP needs {n_neighbors - 1}")
    # umap-learn counts each point as its own first neighbour, at distance 0
    own = np.arange(n, dtype=np.int64)[:, None]
    knn_u = (np.hstack([own, indices[:, : n_neighbors - 1]]),
             np.hstack([np.zeros((n, 1), np.float32), distances[:, : n_neighbors - 1]]), None)
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed,
                        n_jobs=1 if seed is not None else jobs, precomputed_knn=knn_u)
    with warnings.catch_warnings():
        # expected: no search index is passed (we never transform new points), and a seed disables threads
        warnings.filterwarnings("ignore", message=".*(knn_search_index|n_jobs|not fully connected).*")
        return np.asarray(reducer.fit_transform(np.ascontiguousarray(Z, dtype=np.float32)), dtype=np.float32)


def class_colours(n: int) -> np.ndarray:
    """``n`` RGBA colours: matplotlib's 60 qualitative tab20/tab20b/tab20c colours, a continuous map beyond."""
    import matplotlib

    if n > 60:
        return matplotlib.colormaps["turbo"](np.linspace(0, 1, n))
    table = np.vstack([matplotlib.colormaps[name](np.arange(20)) for name in ("tab20", "tab20b", "tab20c")])
    return table[:n]


def embedding_png(points: np.ndarray, labels: list[str] | np.ndarray, *, title: str = "", legend_max: int = 60,
                  size_px: int = 1600) -> bytes:
    """A scatter plot of ``points`` (N, 2) coloured by ``labels`` as PNG bytes (matplotlib, Agg).

    Classes are ordered by name; with at most ``legend_max`` of them a legend sits at the right.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    labels = np.asarray(["(none)" if x is None else str(x) for x in labels], dtype=str)
    classes, codes = np.unique(labels, return_inverse=True)
    colours = class_colours(len(classes))
    legend = len(classes) <= legend_max
    dpi = 100
    fig = Figure(figsize=(size_px / dpi * (1.3 if legend else 1.0), size_px / dpi), dpi=dpi)
    ax = fig.add_subplot()
    marker = float(np.clip(40_000 / max(len(points), 1), 1.0, 40.0))  # area in pt^2: smaller dots for more points
    order = np.random.default_rng(0).permutation(len(points))  # no class painted over all others by draw order
    ax.scatter(points[order, 0], points[order, 1], c=colours[codes[order]], s=marker, linewidths=0, alpha=0.8)
    if legend:
        handles = [Line2D([], [], ls="", marker="o", color=colours[i], label=c) for i, c in enumerate(classes)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
                  ncol=1 if len(classes) <= 30 else 2)
    ax.set_title(title or f"{len(points)} points, {len(classes)} classes")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return figure_png(fig)


# ----------------------------------------------------------------------------- the FiftyOne part


def read_inputs(path: Path):
    """The features file's columns but its features and logits (``FeatureSet.features`` is (N, 0): they are read
    in chunks from the file), its key stem, and the first row of each image; errors name the file."""
    from evaluation.features import open_features, read_features

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such features file")
    fs = read_features(path, features=False, logits=False)
    missing = [name for name in ("backbone", "layer") if not fs.attrs.get(name)]
    if missing:
        raise ValueError(f"{path}: no {' or '.join(missing)} attribute; was it written by evaluation.extract?")
    with open_features(path) as f:
        shape = f["features"].shape
    if len(shape) != 2 or shape[0] != len(fs.ids):
        raise ValueError(f"{path}: 'features' has shape {shape} for {len(fs.ids)} ids")
    return fs, key_stem(str(fs.attrs["backbone"]), str(fs.attrs["layer"])), first_rows(fs.ids)


def attach_features(fo, dataset, field_name: str, X: np.ndarray, rows: np.ndarray, sample_ids: list[str],
                    dtype: str, chunk_rows: int) -> None:
    """Write ``X[rows]`` to ``field_name`` of the samples ``sample_ids``, one bulk write per chunk.

    One write of 200k x 4096 values would build every vector's document in memory at
    once; chunks keep that to ``chunk_rows`` vectors, read a chunk at a time from ``X``
    (an array or the file's h5py dataset).
    """
    from tqdm import tqdm

    from evaluation.features import read_rows

    if field_name not in dataset.get_field_schema():
        dataset.add_sample_field(field_name, fo.VectorField)
    for i in tqdm(range(0, len(rows), chunk_rows), desc=f"attach {field_name}", unit=" chunk", disable=None):
        block = read_rows(X, rows[i : i + chunk_rows], dtype=dtype, chunk=chunk_rows)
        dataset.set_values(field_name, dict(zip(sample_ids[i : i + chunk_rows], block)), key_field="id",
                           validate=False)


def store_run(fob, dataset, key: str, points: np.ndarray, sample_ids: list[str], *, spatial_index: bool,
              provenance: dict) -> None:
    """Replace brain run ``key`` by these precomputed points (one per sample id)."""
    if key in dataset.list_brain_runs():
        dataset.delete_brain_run(key)  # a run of another method (e.g. the brain's own "tsne") cannot be overwritten
    fob.compute_visualization(dataset, points=dict(zip(sample_ids, points)), brain_key=key,
                              create_index=spatial_index, progress=False, **provenance)


def _checked_config(cfg: EmbedConfig) -> tuple[Path, str, Path]:
    """(features path, the method the plot shows, the plot's path) once the settings are valid."""
    from evaluation.options import jobs

    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown or not cfg.methods:
        raise UsageError(f"--methods: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(METHODS)}")
    if cfg.tsne_backend not in TSNE_BACKENDS:
        raise UsageError(f"--tsne-backend: unknown {cfg.tsne_backend!r}; choose from {', '.join(TSNE_BACKENDS)}")
    if cfg.dtype not in DTYPES:
        raise UsageError(f"--dtype: unknown {cfg.dtype!r}; choose from {', '.join(DTYPES)}")
    if cfg.perplexity <= 0 or cfg.umap_neighbors < 2:
        raise UsageError("--perplexity must be positive and --umap-neighbors at least 2")
    jobs(cfg.jobs)  # evaluation.options: N >= 1, or -1 for all cores; not 0
    path = Path(cfg.features)
    shown = next(m for m in METHODS if m in cfg.methods)  # the plot shows the t-SNE when there is one
    plot = Path(cfg.plot or path.with_name(f"{path.stem}.{shown}.png"))
    existing = next(p for p in [plot.parent, *plot.parent.parents] if p.exists())  # made when the plot is written
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise PermissionError(f"{plot}: cannot write there ({existing} is not a writable folder)")
    return path, shown, plot


def _matched(dataset, fs, first: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray, list[str], dict]:
    """(feature rows, their samples' positions, sample ids, the summary's counts): rows matched to samples by id."""
    with timed(f"read ids and labels of {dataset.name}"):
        sample_ids, image_ids, labels = dataset.values(["id", KEY, "ground_truth.label"])
    rows_in_first, pos, unknown_rows = match_rows(fs.ids[first], np.asarray(image_ids, dtype=object))
    if not len(pos):
        raise ValueError(f"{path}: none of its {len(first)} image ids is in dataset {dataset.name!r}")
    if len(pos) < 4:
        raise ValueError(f"{path}: only {len(pos)} of its images are in {dataset.name!r}; a 2-D view needs at least 4")
    ids = [sample_ids[i] for i in pos]
    summary = {"dataset": dataset.name, "features": str(path), "samples": len(sample_ids), "with_features": len(ids),
               "without_features": len(sample_ids) - len(ids), "unknown_rows": unknown_rows,
               "duplicate_rows": len(fs.ids) - len(first), "field": None, "brain_keys": [], "plot": None,
               "labels": [labels[i] for i in pos]}
    if summary["without_features"]:
        logger.info("%d of %d samples have no row in %s: left out of the runs", summary["without_features"],
                    len(sample_ids), path)
    if unknown_rows:
        logger.info("%d images of %s are not in %s: skipped", unknown_rows, path, dataset.name)
    return first[rows_in_first], pos, ids, summary


def _views(Z: np.ndarray, cfg: EmbedConfig, path: Path, stem: str) -> tuple[dict, dict]:
    """({method: 2-D points}, {method: the brain run's provenance}) of the PCA rows ``Z``."""
    knn = None
    if "umap" in cfg.methods or cfg.tsne_backend == "opentsne":
        k = max(int(3 * cfg.perplexity) if cfg.tsne_backend == "opentsne" and "tsne" in cfg.methods else 0,
                cfg.umap_neighbors - 1 if "umap" in cfg.methods else 0)
        k = min(k, len(Z) - 1)
        with timed(f"{k}-nearest-neighbour graph of {len(Z)} points"):
            knn = knn_graph(Z, k, seed=cfg.seed, jobs=cfg.jobs)  # shared by openTSNE and UMAP
    points, provenance = {}, {}
    for method in cfg.methods:
        with timed(f"{method} of {len(Z)} points"):
            if method == "tsne":
                points[method] = tsne_points(Z, backend=cfg.tsne_backend, perplexity=cfg.perplexity, seed=cfg.seed,
                                             jobs=cfg.jobs, knn=knn)
                impl, params = cfg.tsne_backend, {"perplexity": cfg.perplexity}
            else:
                points[method] = umap_points(Z, n_neighbors=cfg.umap_neighbors, min_dist=cfg.umap_min_dist,
                                             seed=cfg.seed, jobs=cfg.jobs, knn=knn)
                impl, params = "umap-learn", {"num_neighbors": cfg.umap_neighbors, "min_dist": cfg.umap_min_dist}
        provenance[method] = {"reducer": method, "implementation": impl, "pca_dims": Z.shape[1], "seed": cfg.seed,
                              "features_file": str(path), "embeddings_stem": stem, **params}
    return points, provenance


def embed(cfg: EmbedConfig) -> dict:
    """Attach the features, compute the views and the plot; return a summary. Inputs are checked before any write.

    The (N, D) features stay in the file: the PCA's fit sample and one chunk at a time are read
    from it, for the PCA and for the attached field alike.
    """
    from joblib import effective_n_jobs

    from evaluation.features import open_features

    start = time.perf_counter()
    path, shown, plot = _checked_config(cfg)
    cfg = replace(cfg, jobs=effective_n_jobs(cfg.jobs))  # -1: the cores this process may use
    fs, stem, first = read_inputs(path)
    fo = fiftyone_module(cfg.database_uri)
    import fiftyone.brain as fob

    if not fo.dataset_exists(cfg.dataset):
        raise ValueError(f"no FiftyOne dataset {cfg.dataset!r} (load one with python -m curation.load)")
    dataset = fo.load_dataset(cfg.dataset)
    rows, _, ids, summary = _matched(dataset, fs, first, path)
    label_of = summary.pop("labels")
    with open_features(path) as f:
        X = f["features"]
        # compute everything first, write afterwards: a failure on the way leaves the dataset as it was
        with timed(f"PCA to {cfg.pca_dims} dims"):
            Z = pca_reduce(X, cfg.pca_dims, rows=rows, fit_rows=cfg.pca_fit_rows, seed=cfg.seed,
                           chunk_rows=cfg.chunk_rows)
        points, provenance = _views(Z, cfg, path, stem)
        if cfg.attach:
            with timed(f"attach {len(ids)} x {X.shape[1]} {cfg.dtype} features as {stem!r}"):
                attach_features(fo, dataset, stem, X, rows, ids, cfg.dtype, cfg.chunk_rows)
            summary["field"] = stem
    for method in cfg.methods:
        key = f"{stem}_{method}"
        with timed(f"store brain run {key!r}"):
            store_run(fob, dataset, key, points[method], ids, spatial_index=cfg.spatial_index,
                      provenance=provenance[method])
        summary["brain_keys"].append(key)

    with timed(f"plot {plot}"):
        plot.parent.mkdir(parents=True, exist_ok=True)
        name = {"tsne": "t-SNE", "umap": "UMAP"}[shown]
        title = (f"{name} of {fs.attrs['backbone']}/{fs.attrs['layer']} features: {len(ids)} images, "
                 f"{len(set(label_of))} classes")
        atomic_write_bytes(plot, embedding_png(points[shown], label_of, title=title, legend_max=cfg.legend_max))
    summary.update(plot=str(plot), seconds=round(time.perf_counter() - start, 1))
    return summary


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=add_help,
                                description="t-SNE and UMAP views of a features file: FiftyOne brain runs and a PNG.")
    add_dataset_arguments(p)
    p.add_argument("--features", type=Path, required=True, help="features.h5 from evaluation.extract")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated: tsne, umap (default: both)")
    p.add_argument("--plot", type=Path, default=None,
                   help="static PNG of the t-SNE (of UMAP with --methods umap); default <features stem>.tsne.png")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of PCA, kNN, t-SNE and UMAP (default 0); -1: none, so UMAP runs on all threads "
                        "(a seeded UMAP optimises on one) but no run is reproducible")
    p.add_argument("--no-attach", dest="attach", action="store_false",
                   help="do not store the features on the samples (200k x 4096 float16 is ~1.6 GB in MongoDB)")
    p.add_argument("--dtype", choices=DTYPES, default="float16", help="of the attached features (default float16)")
    p.add_argument("--tsne-backend", choices=TSNE_BACKENDS, default="opentsne",
                   help="opentsne (default, FFT, parallel) or sklearn (fiftyone-brain's recipe; slow above ~20k)")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    p.add_argument("--umap-neighbors", type=int, default=15, help="UMAP n_neighbors (default 15)")
    p.add_argument("--jobs", type=int, default=-1, help="threads (default -1: all cores)")
    p.add_argument("--spatial-index", action="store_true",
                   help="also store the 2-D points on the samples with a database index (faster lasso in the App)")
    add_common_arguments(p)
    return p


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    logging.getLogger("openTSNE").setLevel(logging.WARNING)  # it notes every precomputed input it is given
    # before scikit-learn's and openTSNE's OpenMP runtimes load: see _opentsne()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        name, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        cfg = EmbedConfig(dataset=name, features=args.features,
                          methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()), plot=args.plot,
                          seed=None if args.seed < 0 else args.seed, database_uri=uri, attach=args.attach,
                          dtype=args.dtype, tsne_backend=args.tsne_backend, perplexity=args.perplexity,
                          umap_neighbors=args.umap_neighbors, jobs=args.jobs, spatial_index=args.spatial_index)
        s = embed(cfg)
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code(PROG, err)
    print(f"{s['dataset']}: {s['with_features']} of {s['samples']} samples embedded "
          f"({s['without_features']} without features left out; {s['unknown_rows']} rows of {s['features']} not in the "
          f"dataset); brain runs {', '.join(s['brain_keys'])}; field {s['field'] or '(not attached)'}; "
          f"plot {s['plot']} ({s['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
