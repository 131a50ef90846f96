"""Model bundles on disk: ``{"model": a fitted estimator, "classes", "names", ...}`` as a joblib pickle, written
whole or not at all. A pickle runs code when loaded: load only files you wrote."""
from __future__ import annotations

from pathlib import Path

from scraping.files import atomic_path


def save_model(path: Path, bundle: dict) -> None:
    """joblib-dump ``bundle`` to ``path`` atomically, so a crash never leaves half a model."""
    import joblib

    with atomic_path(Path(path)) as tmp:
        joblib.dump(bundle, tmp)


def load_model(path: Path) -> dict:
    """A bundle written by :func:`save_model`; an unreadable or foreign file is a ValueError naming it."""
    import joblib

    if not path.is_file():
        raise ValueError(f"{path}: no such model file")
    try:
        bundle = joblib.load(path)
    except Exception as err:  # pickle and joblib raise many kinds on a bad file
        raise ValueError(f"{path}: not a readable model file ({type(err).__name__}: {err})") from None
    if not isinstance(bundle, dict) or "model" not in bundle or "classes" not in bundle:
        raise ValueError(f"{path}: not a model written by evaluation.svm (no 'model'/'classes')")
    return bundle
