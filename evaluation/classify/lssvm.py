"""The least-squares SVM: one-vs-rest ridge regression on +1/-1 class targets (Suykens & Vandewalle 1999), all
classes in one solve, on standardised features or a Nystroem kernel map (``classify.stats.KernelMap``).

:class:`LeastSquaresSVM` is a scikit-learn classifier (it goes in a ``Pipeline`` or ``GridSearchCV``);
:func:`least_squares_ovr` solves it from the statistics of its training rows, which is how
``classify.search.approx_svm_search`` gets every fold's and every C's model from one pass over the rows.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..features import row_blocks
from .config import APPROX_COMPONENTS
from .stats import CHUNK, KernelMap, bucket_statistics, kernel_map, one_blas_thread, standardisation


def least_squares_ovr(gram: np.ndarray, col_sum: np.ndarray, class_sums: np.ndarray, counts: np.ndarray,
                      Cs: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """One-vs-rest least-squares SVMs from the statistics of their training rows, one ``(W (m, K), b (K,))`` per C.

    Each class's scores ``z W + b`` fit targets +1 (the class) and -1 (the rest) by ridge regression with an
    intercept, ``min |y - Z w - b|^2 + |w|^2 / C``: the least-squares SVM in its primal form: a Cholesky solve
    of the centred Gram matrix plus ``I / C`` per C (several times faster than one eigendecomposition for all
    of them at these sizes).
    """
    from scipy.linalg import cho_factor, cho_solve

    n = float(counts.sum())
    mu = col_sum / n
    centred = gram - n * np.outer(mu, mu)
    targets = 2.0 * (class_sums - counts[:, None] * mu).T  # Z_c' Y for Y in {-1, +1}
    ybar = (2.0 * counts - n) / n
    out = []
    with one_blas_thread():
        for C in Cs:
            W = cho_solve(cho_factor(centred + np.eye(len(centred)) / float(C)), targets)
            out.append((W, ybar - mu @ W))
    return out


class LeastSquaresSVM(ClassifierMixin, BaseEstimator):
    """One-vs-rest least-squares SVM on standardised features ("linear") or an rbf, poly or sigmoid kernel
    through an ``n_components``-landmark Nystroem map (landmarks drawn with ``random_state``; ``gamma`` a
    number, "scale" or "auto" as SVC's). ``fit`` costs one pass over the rows and one Cholesky solve of the
    map's width; ``decision_function`` scores a chunk of rows at a time (float32). Fitted: ``map_``
    (a :class:`KernelMap`), ``coef_`` (m, K), ``intercept_`` (K,), ``classes_``.
    """

    def __init__(self, kernel: str = "linear", C: float = 1.0, gamma: str | float = "scale", degree: int = 3,
                 n_components: int = APPROX_COMPONENTS, random_state: int = 0):
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.degree = degree
        self.n_components = n_components
        self.random_state = random_state

    def kernel_params(self) -> dict:
        """The map's parameters as :func:`kernel_map` takes them."""
        if self.kernel == "linear":
            return {}
        return {"gamma": self.gamma, **({"degree": self.degree} if self.kernel == "poly" else {})}

    def fit(self, X, y):
        classes, codes = np.unique(y, return_inverse=True)
        fmap = kernel_map(X, standardisation(X), self.kernel, self.kernel_params(), self.n_components,
                          self.random_state)
        stats = bucket_statistics(X, fmap, codes, np.zeros(len(X), dtype=np.int64), len(classes))
        (W, b), = least_squares_ovr(stats["gram"][0], stats["sum"][0], stats["class_sums"][0], stats["counts"][0],
                                    (self.C,))
        return self.set_fitted(fmap, W, b, classes)

    def set_fitted(self, fmap: KernelMap, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray):
        """This model as fitted with map ``fmap`` and weights solved elsewhere (from statistics); returns self."""
        self.map_, self.classes_ = fmap, np.asarray(classes)
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)
        return self

    def decision_function(self, X) -> np.ndarray:
        out = np.empty((len(X), len(self.classes_)), dtype=np.float32)
        for positions, values in row_blocks(X, np.arange(len(X)), CHUNK):
            out[positions] = self.map_(values) @ self.coef_ + self.intercept_
        return out

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def __setstate__(self, state: dict) -> None:
        """Models saved before this was a scikit-learn estimator kept their map as ``map``."""
        if "map" in state:
            state["map_"] = state.pop("map")
        super().__setstate__(state)


def fold_models(stats: dict, n_folds: int, Cs: tuple[float, ...]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per fold, per C, the model of the rows of every other bucket: the totals less that fold's statistics."""
    total = {k: v.sum(axis=0) for k, v in stats.items()}
    return [least_squares_ovr(*(total[k] - stats[k][f] for k in ("gram", "sum", "class_sums", "counts")), Cs)
            for f in range(n_folds)]


def fold_correct(X: np.ndarray, fmap: KernelMap, codes: np.ndarray, fold: np.ndarray, models: list) -> np.ndarray:
    """(folds, Cs) counts of held-out rows each fold's model of each C puts in their class (top-1)."""
    correct = np.zeros((len(models), len(models[0])))
    for positions, values in row_blocks(X, np.arange(len(X)), CHUNK):
        z, f_of, c = fmap(values), fold[positions], codes[positions]
        for f in np.unique(f_of[f_of < len(models)]):
            take = f_of == f
            for j, (W, b) in enumerate(models[f]):
                scores = z[take] @ W.astype(np.float32) + b.astype(np.float32)
                correct[f, j] += int((scores.argmax(axis=1) == c[take]).sum())
    return correct
