"""evaluation.classify's hand-written pieces next to scikit-learn's, on seeded blobs: same results? how fast?

    python benchmarks/classify_bench.py [nystroem|lda|search ...] [--rows 20000] [--dims 1280] [--classes 100]

nystroem  ``classify.stats.kernel_map`` (landmarks drawn by row, symmetric eigendecomposition, float32 map, a
          chunk at a time) vs ``sklearn.kernel_approximation.Nystroem`` fitted on the same landmarks: the largest
          difference of the two approximated kernels and the time to fit and map every row.
lda       ``classify.oof.cross_validated_linear`` (one pass of statistics, every fold's shrunk LDA from the
          totals) vs ``StandardScaler`` + ``ledoit_wolf_shrinkage`` of the class-centred rows +
          ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=s)`` fitted per fold, same folds: the share of
          rows given the same top-1, the largest weight difference of fold 0's model, and the time of each.
search    ``classify.search.approx_svm_search`` (one pass per kernel map for every fold and C) vs ``GridSearchCV``
          over :class:`LeastSquaresSVM` on the same folds: the chosen parameters, the CV scores, the time.

Each line prints ours, the library's and the ratio (library time / ours).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.classify.config import SVMConfig  # noqa: E402
from evaluation.classify.folds import class_folds, make_cv  # noqa: E402
from evaluation.classify.lssvm import LeastSquaresSVM  # noqa: E402
from evaluation.classify.oof import cross_validated_linear  # noqa: E402
from evaluation.classify.search import approx_svm_search  # noqa: E402
from evaluation.classify.stats import kernel_map, standardisation  # noqa: E402

COMPARISONS = ("nystroem", "lda", "search")


def blobs(rows: int, dims: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian classes in a correlated space (float32), labels 0..classes-1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=rows)
    centres = rng.normal(size=(classes, dims)) * 1.5
    mixing = rng.normal(size=(dims, dims)) / np.sqrt(dims)
    X = (centres[y] + rng.normal(size=(rows, dims))) @ mixing + 3.0
    return X.astype(np.float32), y


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def line(name: str, ours: float, peer: float, note: str) -> str:
    return f"{name:10} ours {ours:8.3f} s   scikit-learn {peer:8.3f} s   ratio {peer / max(ours, 1e-9):5.2f}x   {note}"


def compare_nystroem(X: np.ndarray, components: int, seed: int) -> str:
    from sklearn.kernel_approximation import Nystroem

    standard = standardisation(X)
    fmap, fit_ours = timed(lambda: kernel_map(X, standard, "rbf", {"gamma": "scale"}, components, seed))
    Z, map_ours = timed(lambda: np.concatenate([fmap(X[i:i + 4096]) for i in range(0, len(X), 4096)]))
    peer = Nystroem(kernel="rbf", gamma=fmap.params["gamma"], n_components=len(fmap.landmarks), random_state=seed)
    peer, fit_peer = timed(lambda: peer.fit(fmap.landmarks))  # the same landmarks, in another order
    mean, scale, _ = standard

    def peer_map(x):  # the same work as ours: standardise a chunk, then map it
        return peer.transform(((x.astype(np.float64) - mean) / scale).astype(np.float32))

    P, map_peer = timed(lambda: np.concatenate([peer_map(X[i:i + 4096]) for i in range(0, len(X), 4096)]))
    probe = slice(0, min(len(X), 2000))
    gap = float(np.abs(Z[probe] @ Z[probe].T - P[probe] @ P[probe].T).max())
    return line("nystroem", fit_ours + map_ours, fit_peer + map_peer,
                f"fit {fit_ours:.2f} vs {fit_peer:.2f} s, map {map_ours:.2f} vs {map_peer:.2f} s; "
                f"largest kernel difference {gap:.1e} (map width {Z.shape[1]})")


def sklearn_linear(X: np.ndarray, y: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The same out-of-fold LDA from scikit-learn's pieces: (top-1 column per scored row, fold 0's coef_)."""
    from sklearn.covariance import ledoit_wolf_shrinkage
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.preprocessing import StandardScaler

    classes, target, fold = class_folds(y, folds, seed)
    rows = np.flatnonzero(fold >= 0)
    Z = StandardScaler().fit_transform(X[rows].astype(np.float64))
    t, f = target[rows], fold[rows]
    means = np.stack([Z[t == k].mean(axis=0) for k in range(len(classes))])
    shrinkage = ledoit_wolf_shrinkage(Z - means[t], assume_centered=True)
    best, coef0 = np.empty(len(rows), dtype=np.int64), None
    for k in range(int(f.max()) + 1):
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(Z[f != k], t[f != k])
        best[f == k] = lda.decision_function(Z[f == k]).argmax(axis=1)
        coef0 = lda.coef_ if coef0 is None else coef0
    return best, coef0


def compare_lda(X: np.ndarray, y: np.ndarray, folds: int, seed: int) -> str:
    from evaluation.classify.lda import fold_statistics, shrunk_lda, within_class_shrinkage

    (ours, *_), t_ours = timed(lambda: cross_validated_linear(X, y, folds=folds, seed=seed))
    (peer, coef), t_peer = timed(lambda: sklearn_linear(X, y, folds, seed))
    classes, target, fold = class_folds(y, folds, seed)
    stats = fold_statistics(X, target, fold, len(classes))
    s = within_class_shrinkage(X, target, fold, stats)
    W, _ = shrunk_lda(*(stats[k].sum(axis=0) - stats[k][0] for k in ("gram", "sums", "counts")), s)
    same = float((ours[fold >= 0] == peer).mean())
    return line("lda", t_ours, t_peer, f"same top-1 on {same:.2%} of rows; fold 0's weights differ by at most "
                                       f"{float(np.abs(W.T - coef).max()):.1e}")


def compare_search(X: np.ndarray, y: np.ndarray, cfg: SVMConfig) -> str:
    from sklearn.model_selection import GridSearchCV

    ours, t_ours = timed(lambda: approx_svm_search(X, y, cfg))
    grid = [{"kernel": [k], "C": list(cfg.C), **({"gamma": list(cfg.gamma)} if k != "linear" else {})}
            for k in cfg.kernels]
    peer = GridSearchCV(LeastSquaresSVM(n_components=cfg.components, random_state=cfg.seed), grid,
                        scoring="accuracy", cv=make_cv(y, cfg), n_jobs=1)
    peer, t_peer = timed(lambda: peer.fit(X, y))
    best = {k.rsplit("__", 1)[-1]: v for k, v in ours.best_params_.items()}
    gap = float(np.abs(np.sort(ours.cv_results_["mean_test_score"]) -
                       np.sort(peer.cv_results_["mean_test_score"])).max())
    return line("search", t_ours, t_peer, f"best {best} vs {peer.best_params_}; CV {ours.best_score_:.4f} vs "
                                          f"{peer.best_score_:.4f} (scores differ by at most {gap:.4f}: our map "
                                          "and scaling come from all rows, the library's from each fold)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("which", nargs="*", help=f"any of {', '.join(COMPARISONS)} (default: all)")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--dims", type=int, default=1280, help="nystroem's width (lda and search take --small-dims)")
    p.add_argument("--small-dims", type=int, default=256)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--components", type=int, default=1024)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    which = args.which or list(COMPARISONS)
    if set(which) - set(COMPARISONS):
        p.error(f"unknown comparison(s) {', '.join(sorted(set(which) - set(COMPARISONS)))}; choose from "
                f"{', '.join(COMPARISONS)}")
    print(f"{args.rows} rows, {args.classes} classes, {args.folds} folds")
    if "nystroem" in which:
        X, _ = blobs(args.rows, args.dims, args.classes, args.seed)
        print(compare_nystroem(X, args.components, args.seed), f"({args.dims} dims, {args.components} landmarks)")
    X, y = blobs(args.rows, args.small_dims, args.classes, args.seed)
    if "lda" in which:
        print(compare_lda(X, y, args.folds, args.seed), f"({args.small_dims} dims)")
    if "search" in which:
        cfg = SVMConfig(kernels=("linear", "rbf"), C=(0.1, 1.0, 10.0), folds=args.folds, seed=args.seed,
                        components=min(args.components, 256))
        print(compare_search(X, y, cfg), f"({args.small_dims} dims, {cfg.components} landmarks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
