"""The settings of an ``evaluation.svm`` run: the grid, the protocol that chooses from it, and the solver."""
from __future__ import annotations

from dataclasses import dataclass

KERNELS = ("rbf", "linear", "sigmoid", "poly")
GAMMA_NAMES = ("scale", "auto")
HOLDOUT_FRACTION = 0.2  # thesis protocol: share of train held out to choose parameters
SOLVERS = ("auto", "exact", "approx")
EXACT_MAX_ROWS = 5_000  # --solver auto: more train rows than this get the approximate SVM (see search.svm_solver)
APPROX_COMPONENTS = 1024  # Nystroem landmarks of the approximate SVM's rbf, poly and sigmoid kernels


@dataclass
class SVMConfig:
    protocol: str = "cv"  # "cv" (stratified k-fold on train) or "thesis" (20% hold-out)
    folds: int = 5
    kernels: tuple[str, ...] = ("rbf", "linear")
    C: tuple[float, ...] = (0.1, 1.0, 10.0)
    gamma: tuple[str | float, ...] = ("scale",)  # rbf, sigmoid, poly only; scale = 1/D on standardised features
    degree: tuple[int, ...] = (3,)  # poly only
    multiclass: str = "ovr"  # "ovr": one binary SVC per class (the thesis); "ovo": libsvm's pairwise SVC
    seed: int = 0
    jobs: int = -1  # parallel fits: all cores
    logistic: bool = True  # also fit the logistic-regression baseline
    logistic_C: tuple[float, ...] = (0.01, 0.1, 1.0)
    holdout: float = HOLDOUT_FRACTION
    solver: str = "auto"  # "exact": SVC; "approx": LeastSquaresSVM; "auto": exact up to exact_max_rows train rows
    # --exact-rows; also the logistic regression's sample in the approximate run (the name holdout.json files keep)
    exact_max_rows: int = EXACT_MAX_ROWS
    components: int = APPROX_COMPONENTS  # Nystroem landmarks of the approximate kernels
