"""Statistics gathered a chunk of rows at a time, so that memory stays bounded whatever the row count: the
standardisation, the kernel map of the approximate SVM, and per bucket (a cross-validation fold) the Gram
matrix, column sums, class sums and counts of the mapped rows, from which ``classify.lda`` and
``classify.lssvm`` solve every fold's model without another pass.

Rows are read with :func:`evaluation.features.row_blocks` (an array or an h5py dataset alike).
"""
from __future__ import annotations

import numpy as np

from ..features import row_blocks

CHUNK = 4096  # rows mapped and scored at a time: bounds the temporaries (chunk x features, chunk x classes)


def standardisation(X: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean, scale, varying columns) of ``X[rows]`` (default every row), a chunk at a time in float64; scale 1
    where a column is constant (as ``StandardScaler``)."""
    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    total, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for _, values in row_blocks(X, rows, CHUNK):
        x = np.asarray(values, dtype=np.float64)
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
    mean = total / len(rows)
    var = np.maximum(squares / len(rows) - mean * mean, 0.0)
    varying = var > 1e-12 * np.maximum(mean * mean, 1.0)
    return mean, np.where(varying, np.sqrt(var), 1.0), int(varying.sum())


class KernelMap:
    """Standardisation, then the identity ("linear") or a Nystroem approximation of an rbf, poly or sigmoid
    kernel: ``k(x, landmarks) @ normalization.T``, as ``sklearn.kernel_approximation.Nystroem``. Maps rows to
    ``dtype`` (float32 for the SVM's speed, float64 for the LDA's statistics).

    ``Nystroem`` fitted on the same landmarks gives the same map (``benchmarks/classify_bench.py nystroem``,
    20,000 rows x 1,280 dims, 1,024 landmarks: kernels equal to 4e-6, float32) but took 1.2-1.3x as long (fit
    0.46 s against 0.28 s: an SVD in float32 where this takes a float64 eigendecomposition; mapping every row
    a chunk at a time 1.1-1.3 s against 1.05 s), so this one stays; saved approximate models hold it too.
    """

    dtype = np.float32  # a class default: maps pickled before it was an attribute read it from here

    def __init__(self, mean, scale, kernel: str = "linear", params: dict | None = None, landmarks=None,
                 normalization=None, dtype=np.float32):
        self.mean, self.scale, self.kernel = mean, scale, kernel
        self.params, self.landmarks, self.normalization = params or {}, landmarks, normalization
        self.dtype = dtype

    @property
    def dims(self) -> int:
        return len(self.mean) if self.kernel == "linear" else len(self.normalization)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        from sklearn.metrics.pairwise import pairwise_kernels

        x = ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(self.dtype, copy=False)
        if self.kernel == "linear":
            return x
        k = pairwise_kernels(x, self.landmarks, metric=self.kernel, filter_params=True, **self.params)
        return (k @ self.normalization.T).astype(np.float32)


def kernel_map(X: np.ndarray, standard: tuple, kernel: str, params: dict, components: int, seed: int) -> KernelMap:
    """The :class:`KernelMap` of one grid candidate: ``components`` landmark rows drawn with ``seed`` (no labels
    used); ``gamma="scale"`` is 1 / (dims x variance of the standardised X) as SVC's (1 / the varying columns),
    ``"auto"`` 1 / dims. ``standard`` is :func:`standardisation`'s."""
    from sklearn.metrics.pairwise import pairwise_kernels

    mean, scale, varying = standard
    if kernel == "linear":
        return KernelMap(mean, scale)
    gamma = params.get("gamma", "scale")
    if gamma == "scale":
        gamma = 1.0 / max(varying, 1)
    elif gamma == "auto":
        gamma = 1.0 / X.shape[1]
    rows = np.sort(np.random.default_rng(seed).choice(len(X), size=min(components, len(X)), replace=False))
    landmarks = ((np.asarray(X[rows], dtype=np.float64) - mean) / scale).astype(np.float32)
    kw = {"gamma": float(gamma), "degree": int(params.get("degree", 3)), "coef0": 0.0}
    inner = pairwise_kernels(landmarks, metric=kernel, filter_params=True, **kw).astype(np.float64)
    with one_blas_thread():
        if kernel == "sigmoid":  # not positive semi-definite: sklearn's Nystroem, by SVD
            u, s, vt = np.linalg.svd(inner)
        else:  # rbf and poly are: the same normalisation by the (faster) symmetric eigendecomposition
            s, u = np.linalg.eigh(inner)
            vt = u.T
        normalization = (u / np.sqrt(np.maximum(s, 1e-12))) @ vt
    return KernelMap(mean, scale, kernel, kw, landmarks, normalization.astype(np.float32))


def bucket_statistics(X: np.ndarray, fmap: KernelMap, codes: np.ndarray, bucket: np.ndarray, n_classes: int,
                      rows: np.ndarray | None = None) -> dict:
    """One pass over ``X[rows]`` (default every row), a chunk at a time: per bucket (a CV fold's held-out rows,
    say) the Gram matrix ``Z'Z``, the column sums, class sums (K, m), row and class counts of the mapped rows
    ``Z = fmap(X)``, float64. ``codes`` and ``bucket`` (class column, bucket) are given for every row of X."""
    from scipy.sparse import csr_matrix

    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    n_buckets, m = int(bucket[rows].max()) + 1, fmap.dims
    stats = {"gram": np.zeros((n_buckets, m, m)), "sum": np.zeros((n_buckets, m)),
             "class_sums": np.zeros((n_buckets, n_classes, m)), "counts": np.zeros((n_buckets, n_classes))}
    for positions, values in row_blocks(X, rows, CHUNK):
        z, b, c = fmap(values), bucket[rows[positions]], codes[rows[positions]]
        for f in np.unique(b):
            take = b == f
            zf, cf = z[take], c[take]
            stats["gram"][f] += zf.T @ zf
            stats["sum"][f] += zf.sum(axis=0, dtype=np.float64)
            onehot = csr_matrix((np.ones(len(cf), zf.dtype), (cf, np.arange(len(cf)))), shape=(n_classes, len(cf)))
            stats["class_sums"][f] += onehot @ zf
            stats["counts"][f] += np.bincount(cf, minlength=n_classes)
    return stats


def one_blas_thread():
    """LAPACK factorisations of ~1000 x 1000 matrices on one thread: OpenBLAS's threads wait for each other
    by spinning, and on two cores shared with other work a Cholesky took 1.5 s on two threads, 0.07 s on one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")
