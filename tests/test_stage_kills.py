"""Long stages killed with SIGKILL at random moments, then run again, end where an uninterrupted run ends.

evaluation.extract keeps finished shards (tests/test_extract_dist.py); the stages here redo their
work on the next run, and these tests check that what a kill leaves half written never survives it.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from curation.load import load
from curation.runs import run_config
from tests.conftest import make_manifest

pytestmark = [pytest.mark.fiftyone, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def baseline_results(ds, folder: Path) -> Path:
    """A baseline results folder with seeded 1000-way scores for every sample."""
    from evaluation.results import write_method

    ids, labels, splits = (np.asarray(v) for v in ds.values(["image_id", "class_index", "split"]))
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(len(ids), 1000)).astype(np.float32)
    scores[np.arange(len(ids)), labels] += rng.uniform(0, 4, len(ids))
    order = np.argsort(-scores, axis=1)
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    write_method(folder, "baseline", {"val": {}}, {
        "ids": ids.astype(object), "splits": splits.astype(object), "labels": labels, "pred": order[:, 0],
        "top5": order[:, :5], "scores": np.exp(logp).astype(np.float16),
        "true_rank": np.argmax(order == labels[:, None], axis=1), "cross_entropy": -logp[np.arange(len(ids)), labels],
        "classes": np.arange(1000)})
    return folder


def killed_then_finished(cmd: list[str], seconds: float, kills: int, rng: random.Random) -> list[float]:
    """``cmd`` killed ``kills`` times, each at a random moment of a run of about ``seconds``, then run to the end."""
    moments = []
    for _ in range(kills):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        moments.append(rng.uniform(0.3, 0.95) * seconds)
        time.sleep(moments[-1])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return moments


def against_a_reference(ds, cmd, seed: int):
    """``cmd(name)`` run whole on a clone of ``ds`` (timed), then on ``ds`` killed 3 times and finished; returns the
    reloaded clone and where the kills fell, for the failure message."""
    reference = ds.clone(f"{ds.name}-ref")
    start = time.perf_counter()
    assert subprocess.run(cmd(reference.name), cwd=ROOT, capture_output=True).returncode == 0
    seconds = time.perf_counter() - start
    moments = killed_then_finished(cmd(ds.name), seconds, 3, random.Random(seed))
    ds.reload()
    reference.reload()
    return reference, f"killed at {[round(m, 1) for m in moments]} s of a {seconds:.1f} s run"


def written(ds, name: str) -> dict:
    """What a write-back under ``name`` left, by image id: fields, evaluations, views and per-class figures."""
    fields = [f"{name}.label", f"{name}.confidence", f"{name}.logits", f"{name}_rank", f"{name}_ce",
              f"{name}_class_top1", f"{name}_class_top5", f"{name}_class_ce", f"{name}_top1", f"{name}_top5"]
    ids, *columns = ds.values(["image_id", *fields])
    order = np.argsort(ids)
    out = {f: [None if c[i] is None else np.round(np.asarray(c[i], dtype=float), 6).tolist() if f.endswith("logits")
               else c[i] for i in order] for f, c in zip(fields, columns)}
    out["evaluations"] = sorted(ds.list_evaluations())
    out["views"] = {v: sorted(ds.load_saved_view(v).values("image_id")) for v in sorted(ds.list_saved_views())}
    out["per_class"] = (run_config(ds, f"writeback_{name}") or {}).get("per_class")
    return out


def test_writeback_killed_three_times_then_rerun_equals_an_uninterrupted_run(fiftyone, tmp_path):
    load(make_manifest(tmp_path, n=1500), "kill-writeback")
    ds = fiftyone.load_dataset("kill-writeback")
    results = baseline_results(ds, tmp_path / "results")

    def cmd(dataset: str) -> list[str]:
        return [sys.executable, "-m", "curation.writeback", "--dataset", dataset, "--results", str(results),
                "--method", "baseline", "--name", "baseline"]

    reference, when = against_a_reference(ds, cmd, seed=5)
    assert written(ds, "baseline") == written(reference, "baseline"), when


def snapshot(ds) -> dict:
    """Every sample field by image id (labels without their random ids), and the dataset's tags."""
    skip = {"id", "filepath", "metadata", "created_at", "last_modified_at"}
    fields = sorted(f for f in ds.get_field_schema() if f not in skip)
    ids, *columns = ds.values(["image_id", *fields])

    def clean(v):
        if hasattr(v, "to_dict"):
            v = v.to_dict()
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k not in ("_id", "id")}
        if isinstance(v, (list, tuple, np.ndarray)):
            return [clean(x) for x in v]
        return round(v, 9) if isinstance(v, float) else v

    order = np.argsort(ids)
    return {f: [clean(c[i]) for i in order] for f, c in zip(fields, columns)}


def test_hygiene_killed_three_times_then_rerun_equals_an_uninterrupted_run(fiftyone, tmp_path):
    from evaluation.features import FeatureSet, write_features

    load(make_manifest(tmp_path, n=1500), "kill-hygiene")
    ds = fiftyone.load_dataset("kill-hygiene")
    ids, labels, splits = (np.asarray(v) for v in ds.values(["image_id", "class_index", "split"]))
    rng = np.random.default_rng(1)
    centres = {c: rng.normal(size=16) * 3 for c in set(labels.tolist())}
    features = tmp_path / "feats.h5"
    write_features(features, FeatureSet(
        features=np.stack([centres[c] + rng.normal(size=16) for c in labels]).astype(np.float32),
        labels=labels.astype(np.int64), ids=ids.astype(object), splits=splits.astype(object)))

    def cmd(dataset: str) -> list[str]:  # the linear mislabel model: the exact SVM would take minutes here
        return [sys.executable, "-m", "curation.hygiene", "--dataset", dataset, "--features", str(features),
                "--exact-rows", "100", "--workers", "1"]

    reference, when = against_a_reference(ds, cmd, seed=6)
    got = snapshot(ds)
    assert {"near_group", "leak_with", "min_side", "mistakenness", "cv_prediction", "tags"} <= set(got)
    assert got == snapshot(reference), when
