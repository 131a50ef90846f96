"""What every command shares: ``--quiet``/``--verbose``/``--version``, logging, and its exit codes.

Every ``python -m PACKAGE.MODULE`` (and ``drawnet COMMAND``) follows the same contract, as argparse
and most Unix tools do:

- exit **0** on success, **1** when the work failed (an unreadable file, no data left, no GPU), and
  **2** for bad usage (an unknown or contradictory option), which argparse itself also uses;
- a failure prints one line, ``PROG: what went wrong, and what to do``, on stderr;
- ``-q/--quiet`` logs warnings only, ``-v/--verbose`` adds debug messages; progress bars stay off
  when stderr is not a terminal (tqdm's ``disable=None``).

The module lives in ``scraping``, the first package of the pipeline, so that every later one may use it.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
# classes (or rows) shown by a command's printed table, unless --table-rows says otherwise
TABLE_ROWS = 20
# tqdm: None turns a bar off when its stream is not a terminal (a log file, CI)
PROGRESS = None
PIPELINE = ("scraping", "datasets", "training", "evaluation", "curation", "drawnet")


class UsageError(ValueError):
    """Options that cannot work together or a value out of range: exit 2, before anything is written."""


def version() -> str:
    """The installed package's version, else the one in this clone's ``pyproject.toml``."""
    from importlib import metadata

    try:
        return metadata.version("drawnet")
    except metadata.PackageNotFoundError:
        import re

        text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
        return found.group(1) if found else "unknown"


def add_common_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``-q/--quiet``, ``-v/--verbose`` and ``--version``: every command's parser ends with this call.

    Run as ``python -m PACKAGE.MODULE``, the parser also names itself so (argparse would say ``MODULE.py``)."""
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main is not None and main.name.split(".")[0] in PIPELINE and p.prog == f"{main.name.rsplit('.', 1)[-1]}.py":
        p.prog = f"python -m {main.name}"
    g = p.add_argument_group("output")
    loud = g.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    loud.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    g.add_argument("--version", action="version", version=f"drawnet {version()}")
    return p


def log_level(args: argparse.Namespace) -> int:
    if getattr(args, "quiet", False):
        return logging.WARNING
    return logging.DEBUG if getattr(args, "verbose", False) else logging.INFO


def setup_logging(args: argparse.Namespace) -> None:
    """Messages as plain lines on stderr, at the level ``--quiet``/``--verbose`` chose."""
    level = log_level(args)
    logging.basicConfig(level=level, format="%(message)s")
    logging.getLogger().setLevel(level)  # basicConfig does nothing once a handler exists (tests, notebooks)


def default_workers() -> int:
    """``--workers`` everywhere it means processes: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def at_least(value: int | float | None, low: int | float, flag: str) -> None:
    """``flag`` must be at least ``low``, a UsageError otherwise (None: not given, nothing to check; NaN is refused)."""
    if value is not None and not value >= low:
        raise UsageError(f"{flag} must be at least {low}, got {value}")


def check_folder(path: str | os.PathLike | None, flag: str = "--out",
                 error: type[Exception] = NotADirectoryError) -> None:
    """A folder option (``--out``, ``--dest``...): absent or a folder; an existing file there is ``error``, naming it,
    before anything is written."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise error(f"{flag} {path}: a file, not a folder; choose another {flag}")


def fail(prog: str, err: object) -> int:
    """Print ``PROG: err`` on stderr, on one line, and return the failure exit code (1)."""
    print(f"{prog}: {' '.join(str(err).split())}", file=sys.stderr)
    return EXIT_FAILURE


def usage(prog: str, err: object) -> int:
    """Print ``PROG: error: err`` on stderr, as argparse does, and return the usage exit code (2)."""
    print(f"{prog}: error: {err}", file=sys.stderr)
    return EXIT_USAGE


def check_own_datasets() -> None:
    """Fail with one line when the importable ``datasets`` is not drawnet's (Hugging Face's ``datasets`` has the
    same name and wins when it comes first on ``sys.path``), instead of a confusing error later."""
    import importlib.util

    ours = Path(__file__).resolve().parent.parent / "datasets"
    module = sys.modules.get("datasets")
    if module is not None:
        origin = getattr(module, "__file__", None)
    else:
        spec = importlib.util.find_spec("datasets")
        origin = spec.origin if spec else None
    if origin is None or Path(origin).resolve().parent != ours:
        raise ImportError(f"the package 'datasets' found first is {origin or 'missing'}, not drawnet's {ours} (Hugging "
                          f"Face's `datasets` has the same name): use a virtualenv without it (`pip uninstall "
                          f"datasets`), or drawnet's own (.venv/bin/drawnet)")
