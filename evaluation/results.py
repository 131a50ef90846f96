"""A results folder: ``metrics.json`` and ``predictions.h5``, one entry per method.

    metrics.json    {"meta": {...}, "methods": {method: {split: {"global": {...}, "per_class": {...},
                     "per_style": {...}, "per_source": {...}}, "_info": {...}}}}
    predictions.h5  /<method>/{ids, splits, labels, pred, top5, scores, true_rank, cross_entropy, classes}

Each command adds or replaces its own methods; both files are rewritten atomically,
so two methods never lose each other's results and a crash leaves the old files.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from scraping.files import atomic_path, atomic_write_text

METRICS = "metrics.json"
PREDICTIONS = "predictions.h5"


def read_metrics(results: str | Path) -> dict:
    path = Path(results) / METRICS
    if not path.exists():
        return {"meta": {}, "methods": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or "methods" not in data:
        raise ValueError(f"{path}: not a results file (no 'methods')")
    return data


def write_method(results: str | Path, method: str, metrics: dict, predictions: dict[str, np.ndarray],
                 meta: dict | None = None) -> None:
    """Store one method's metrics (by split) and per-sample predictions in ``results``."""
    import h5py

    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    data = read_metrics(results)
    data["meta"].update(meta or {})
    data["methods"][method] = metrics
    atomic_write_text(results / METRICS, json.dumps(data, indent=1, sort_keys=False, default=_json) + "\n")

    final = results / PREDICTIONS
    with atomic_path(final) as tmp:
        if final.exists():
            shutil.copyfile(final, tmp)
        with h5py.File(tmp, "a") as f:
            if method in f:
                del f[method]
            g = f.create_group(method)
            for name, value in predictions.items():
                value = np.asarray(value)
                if value.dtype == object or value.dtype.kind in "US":
                    g.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype())
                else:
                    g.create_dataset(name, data=value, compression="gzip" if value.ndim > 1 else None)


def read_predictions(results: str | Path, method: str) -> dict[str, np.ndarray]:
    import h5py

    path = Path(results) / PREDICTIONS
    with h5py.File(path, "r") as f:
        if method not in f:
            raise KeyError(f"{path}: no predictions for method {method!r}; has {', '.join(f)}")
        out = {}
        for name, ds in f[method].items():
            value = ds[...]
            if value.dtype == object:
                value = np.asarray([v.decode() if isinstance(v, bytes) else v for v in value], dtype=object)
            out[name] = value
        return out


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
