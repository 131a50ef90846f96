"""The classifiers as scikit-learn pipelines, and the grids that ``evaluation.svm`` searches.

Every pipeline standardises the features first (``StandardScaler``). :func:`svm_pipeline` is the thesis's SVC,
:func:`logistic_pipeline` the baseline, :func:`precomputed_svm` the SVC with its kernel computed once per fit
(out-of-fold scores of every row: ``classify.oof``, ``evaluation.suggest``).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .config import SVMConfig


def svm_pipeline(multiclass: str = "ovr"):
    """StandardScaler + SVC; the grid's parameter names depend on ``multiclass`` (see :func:`svm_grid`)."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if multiclass == "ovr":
        clf = OneVsRestClassifier(SVC(cache_size=500))
    elif multiclass == "ovo":
        clf = SVC(decision_function_shape="ovr", cache_size=500)
    else:
        raise ValueError(f"multiclass must be 'ovr' or 'ovo', got {multiclass!r}")
    return Pipeline([("scale", StandardScaler()), ("svm", clf)])


def svm_grid(cfg: SVMConfig) -> list[dict]:
    """One sub-grid per kernel: gamma only where the kernel uses it, degree only for poly."""
    prefix = "svm__estimator__" if cfg.multiclass == "ovr" else "svm__"
    grid = []
    for kernel in cfg.kernels:
        sub = {f"{prefix}kernel": [kernel], f"{prefix}C": list(cfg.C)}
        if kernel in ("rbf", "sigmoid", "poly"):
            sub[f"{prefix}gamma"] = list(cfg.gamma)
        if kernel == "poly":
            sub[f"{prefix}degree"] = list(cfg.degree)
        grid.append(sub)
    return grid


def logistic_pipeline(C: float = 1.0):
    """StandardScaler + multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(C=C, max_iter=2000))])


def logistic_grid(cfg: SVMConfig) -> list[dict]:
    return [{"logistic__C": list(cfg.logistic_C)}]


class KernelRows(TransformerMixin, BaseEstimator):
    """X to its kernel with the rows it was fitted on, for ``SVC(kernel="precomputed")``.

    One-vs-rest SVC has libsvm evaluate the kernel again for every class, without BLAS: 3,000 rows x
    1,280 dims x 216 classes took over 100 s per fit here. The Gram matrix computed once per fit gives
    the same model (rbf ``gamma="scale"``: 1 / (dims x variance of the fitted X)) in seconds; it needs
    rows^2 floats of memory.
    """

    def __init__(self, kernel: str = "rbf"):
        self.kernel = kernel

    def fit(self, X, y=None):
        if self.kernel not in ("rbf", "linear"):
            raise ValueError(f"kernel must be 'rbf' or 'linear', got {self.kernel!r}")
        self.X_fit_ = np.asarray(X, dtype=np.float64)
        var = float(self.X_fit_.var())
        self.gamma_ = 1.0 / (self.X_fit_.shape[1] * var) if var > 0 else 1.0
        return self

    def transform(self, X):
        from sklearn.metrics.pairwise import linear_kernel, rbf_kernel

        if self.kernel == "linear":
            return linear_kernel(X, self.X_fit_)
        return rbf_kernel(X, self.X_fit_, gamma=self.gamma_)


def precomputed_svm(kernel: str = "rbf", C: float = 1.0):
    """:func:`svm_pipeline`'s model (standardised features, one-vs-rest SVC) with the kernel computed once per
    fit (:class:`KernelRows`)."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if kernel not in ("rbf", "linear"):
        raise ValueError(f"kernel must be 'rbf' or 'linear', got {kernel!r}")
    return Pipeline([("scale", StandardScaler()), ("kernel", KernelRows(kernel)),
                     ("svm", OneVsRestClassifier(SVC(kernel="precomputed", C=C)))])


def make_model(method: str, C: float, kernel: str = "rbf"):
    """``evaluation.suggest``'s classifier: "logistic" (:func:`logistic_pipeline`) or "svm"
    (:func:`precomputed_svm`)."""
    return logistic_pipeline(C) if method == "logistic" else precomputed_svm(kernel, C)


def method_kind(model) -> str:
    """"logistic" for a logistic-regression pipeline, else "svm"."""
    return "logistic" if "logistic" in getattr(model, "named_steps", {}) else "svm"


def short_params(params: dict) -> dict:
    """``svm__estimator__C`` -> ``C``: the names a reader of metrics.json expects."""
    return {k.rsplit("__", 1)[-1]: plain(v) for k, v in params.items()}


def plain(value):
    """A numpy scalar as the Python value JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value
