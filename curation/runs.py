"""What a stage wrote onto a dataset, in FiftyOne's own run registry (custom runs).

A stage that writes fields (``curation.hygiene``, ``curation.writeback``) records a run under its key with
the fields it owns and its summary, so a user lists and removes them as FiftyOne users expect::

    dataset.list_runs()                  # ["hygiene", "writeback_svm_efficientnet_lite1", ...]
    dataset.get_run_info("hygiene").config
    dataset.delete_run("hygiene")        # forgets the record; the fields stay until deleted

Run keys must be valid Python identifiers (FiftyOne's rule).
"""
from __future__ import annotations

import json
import re

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _plain(value):
    """JSON-safe (numpy scalars, tuples and paths become numbers, lists and strings)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def record_run(dataset, key: str, /, *, method: str, **config) -> None:
    """Register (or replace) the custom run ``key`` on ``dataset``: ``method`` names the stage, ``config`` holds
    JSON-serialisable facts (fields written, flags, summary; any name but ``method``, even ``dataset``)."""
    if not KEY_RE.match(key):
        raise ValueError(f"run key {key!r}: FiftyOne wants a Python identifier (letters, digits, underscores)")
    if dataset.has_run(key):
        dataset.delete_run(key)
    dataset.register_run(key, dataset.init_run(method=method, **_plain(config)))


def run_config(dataset, key: str) -> dict | None:
    """The facts ``record_run`` stored under ``key`` (with ``method``), or None where there is no such run."""
    if not dataset.has_run(key):
        return None
    config = dataset.get_run_info(key).config.serialize()
    config.pop("cls", None)
    config.pop("type", None)
    return config


def runs_of(dataset, method: str) -> dict[str, dict]:
    """{run key: its facts} of every custom run that ``method`` recorded on ``dataset``."""
    out = {}
    for key in dataset.list_runs():
        config = run_config(dataset, key)
        if config and config.get("method") == method:
            out[key] = config
    return out
