"""Matplotlib for files: the headless backend, and a figure saved whole (``scraping.files.atomic_path``)."""
from __future__ import annotations

from pathlib import Path

from scraping.files import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend: files only, never a window (and no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, **savefig) -> Path:
    """Write ``fig`` as a PNG at ``path`` through a temporary file and a rename, then close it."""
    plt = pyplot()
    try:
        with atomic_path(Path(path), suffix=".png") as tmp:
            fig.savefig(tmp, format="png", **savefig)
    finally:
        plt.close(fig)
    return Path(path)


def figure_png(fig, **savefig) -> bytes:
    """A ``matplotlib.figure.Figure`` made without pyplot (thread-safe, nothing to close) as PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    return buf.getvalue()
