"""Checks of the evaluation commands' option values, one copy for all of them (curation.hygiene may use them too).

Each raises ``scraping.cli.UsageError`` (exit 2, before anything is written) naming the option and the value.
"""
from __future__ import annotations

from pathlib import Path

from scraping.cli import UsageError, at_least


def jobs(value: int, flag: str = "--jobs") -> int:
    """Parallel fits or threads as joblib counts them: N >= 1, or -1 for all cores (-2 all but one...); not 0."""
    if value == 0:
        raise UsageError(f"{flag} must be a positive number of processes, or -1 for all cores; got 0")
    return value


def random_seed(value: int) -> int:
    """``--seed``: what numpy and scikit-learn accept, 0 to 2**32 - 1."""
    if not 0 <= value < 2**32:
        raise UsageError(f"--seed must be between 0 and {2**32 - 1}, got {value}")
    return value


def positive_floats(text: str, flag: str) -> tuple[float, ...]:
    """A comma list of positive numbers (``--C 0.1,1,10``)."""
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(not v > 0 or v == float("inf") for v in values):
        raise UsageError(f"{flag}: expected positive numbers, got {text!r}")
    return values


def one_kernel(text: str, choices: tuple[str, ...] = ("rbf", "linear")) -> str:
    """``--kernel`` of a command that fits one kernel (evaluation.suggest, curation.hygiene): one of ``choices``;
    a comma list is the grid of evaluation.svm, and is refused here with a line that says so."""
    kernels = [k.strip() for k in text.split(",") if k.strip()]
    if len(kernels) > 1:
        raise UsageError(f"--kernel takes one kernel ({' or '.join(choices)}), got {text!r}; a grid of kernels is "
                         "evaluation.svm's --kernel")
    if not kernels or kernels[0] not in choices:
        raise UsageError(f"--kernel: unknown kernel {text!r}; choose {' or '.join(choices)}")
    return kernels[0]


def new_folder(out: Path, flag: str = "--out") -> None:
    """An output folder: anything but an existing file."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is a file, not a folder")


def table_rows(value: int) -> int:
    """``--table-rows``: 0 shows all (scraping.cli.TABLE_ROWS by default)."""
    at_least(value, 0, "--table-rows")
    return value
