"""The workspace: resolution and its errors, a run trained without FiftyOne then written back with --run,
an evaluation resumed after a kill, and a bounded number of saved views at 1,000 classes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from datasets.workspace import (
    FILE,
    WorkspaceError,
    latest_run,
    new_run_dir,
    open_workspace,
    read_workspace,
    record_dataset,
)
from tests.test_finetune import make_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_workspace_resolution_and_its_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRAWNET_WORKSPACE", raising=False)
    with pytest.raises(WorkspaceError, match="not a drawnet workspace.*--dataset NAME.*curation.load"):
        open_workspace()
    ws = record_dataset(None, "mine", tmp_path / "data" / "manifest.jsonl")  # the current folder
    assert ws.root == tmp_path and open_workspace().dataset == "mine"
    assert json.loads((tmp_path / FILE).read_text())["manifest"] == "data/manifest.jsonl"  # relative: copyable
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("DRAWNET_WORKSPACE", str(other))  # the variable wins over the current folder...
    with pytest.raises(WorkspaceError, match=str(other)):
        open_workspace()
    assert open_workspace(tmp_path).dataset == "mine"  # ...and the option over both
    (other / FILE).parent.mkdir()
    (other / FILE).write_text("{not json")
    with pytest.raises(WorkspaceError, match=f"{FILE}: not a readable workspace file"):
        read_workspace(other)
    first, second = new_run_dir(ws, "tiny", "optimal"), new_run_dir(ws, "tiny", "optimal")
    assert (first.name, second.name) == ("001-tiny-optimal", "002-tiny-optimal") and latest_run(ws) == second


def test_finetune_outside_a_workspace_says_how_to_fix_it(tmp_path, monkeypatch, capsys):
    from training.finetune import get_args_parser, main

    monkeypatch.setenv("DRAWNET_WORKSPACE", str(tmp_path))
    assert main(get_args_parser().parse_args(["--backbone", "tiny", "--epochs", "1"])) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--manifest MANIFEST" in err and "curation.load" in err
    assert not (tmp_path / "runs").exists()  # nothing made


def finetune_env(workspace: Path) -> dict:
    env = dict(os.environ, DRAWNET_WORKSPACE=str(workspace), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("RANK", None)
    return env


# stands in for a GPU box: fiftyone cannot be found; the evaluation blocks once the SVM step starts, to be killed
NO_FIFTYONE = """
import importlib.util, os, sys, time
from pathlib import Path
find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "fiftyone" else find(name, *a)
marker = os.environ.get("BLOCK_AT_SVM")
if marker:
    import evaluation.svm as svm
    def blocked(*args, **kwargs):
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)
    svm.train_and_evaluate = blocked
from training.finetune import get_args_parser, main
sys.exit(main(get_args_parser().parse_args(sys.argv[1:])))
"""


@pytest.mark.fiftyone
@pytest.mark.slow
def test_a_run_without_fiftyone_is_written_back_with_run(fiftyone, tmp_path):
    """A workspace with an export; training where FiftyOne is absent uses it, a kill during the evaluation is
    resumed with --resume, and `curation.writeback --run` writes the run back where the dataset lives."""
    from curation.load import get_args_parser as load_args
    from curation.load import main as load_main
    from curation.writeback import get_args_parser as wb_args
    from curation.writeback import main as wb_main
    from training.workflow import export_current

    workspace = tmp_path / "ws"
    manifest = make_dataset(tmp_path / "data")
    assert load_main(load_args().parse_args(["--manifest", str(manifest), "--dataset", "gpu-box",
                                             "--workspace", str(workspace)])) == 0
    export_current(open_workspace(workspace), workspace / "exports" / "first")  # what a first run here leaves

    env = finetune_env(workspace)
    marker = tmp_path / "svm.blocked"
    victim = subprocess.Popen([sys.executable, "-c", NO_FIFTYONE, "--epochs", "2", "--backbone", "tiny", "--device",
                               "cpu", "--batch-size", "8", "--workers", "0"], cwd=ROOT,
                              env={**env, "BLOCK_AT_SVM": str(marker)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run never reached its evaluation"
        time.sleep(0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    _, err = victim.communicate()
    assert "training on the workspace's latest export" in err
    (run,) = (workspace / "runs").iterdir()
    state = json.loads((run / "evaluation.json").read_text())
    assert set(state) >= {"extract", "head"} and "svm" not in state  # killed in the SVM step

    done = subprocess.run([sys.executable, "-c", NO_FIFTYONE, "--resume", str(run)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "evaluation: extract already done" in done.stderr and "evaluation: svm" in done.stderr
    assert f"python -m curation.writeback --run {run}" in done.stdout  # FiftyOne is absent: the command to run
    ds = fiftyone.load_dataset("gpu-box")
    assert not ds.has_evaluation("run001_svm_top1")

    assert wb_main(wb_args().parse_args(["--run", str(run)])) == 0
    ds.reload()
    assert {"run001_head_top1", "run001_svm_top1"} <= set(ds.list_evaluations())
    assert json.loads((run / "evaluation.json").read_text())["writeback"]["dataset"] == "gpu-box"


@pytest.mark.fiftyone
def test_saved_views_stay_few_at_1000_classes(fiftyone, tmp_path, vocab):
    """Every class fails somewhere: still one failures view per method (and two for a comparison)."""
    from curation.load import load
    from datasets.manifest import write_jsonl
    from evaluation.results import write_method
    from curation.writeback import WritebackConfig, write_back

    rows = [{"id": f"{c.index:064x}", "filepath": str(tmp_path / f"{c.index}.png"), "original_name": f"{c.index}.png",
             "label": c.name, "wnid": c.wnid, "class_index": c.index, "split": "val", "matched_words": [],
             "ambiguous": False, "source": "test"} for c in vocab]
    write_jsonl(tmp_path / "manifest.jsonl", rows)
    load(tmp_path / "manifest.jsonl", "thousand")
    n = len(rows)
    labels = np.arange(n)
    for method, shift in (("baseline", 1), ("svm", 2)):
        scores = np.full((n, 1000), 0.0, dtype=np.float32)
        scores[labels, (labels + shift) % 1000] = 5.0  # every sample is taken for another class
        write_method(tmp_path / "results", method, {"val": {}}, {
            "ids": np.array([r["id"] for r in rows], dtype=object), "splits": np.array(["val"] * n, dtype=object),
            "labels": labels, "pred": (labels + shift) % 1000, "top5": np.zeros((n, 5), dtype=np.int64),
            "scores": scores, "true_rank": np.ones(n, dtype=np.int64), "cross_entropy": np.full(n, np.nan),
            "classes": np.arange(1000)})
    write_back(WritebackConfig(dataset="thousand", results=tmp_path / "results", method="baseline", name="b"))
    write_back(WritebackConfig(dataset="thousand", results=tmp_path / "results", method="svm", name="s", compare="b"))
    ds = fiftyone.load_dataset("thousand")
    assert len(ds.distinct("ground_truth.label")) == 1000 and len(ds.load_saved_view("b: failures")) == 1000
    views = ds.list_saved_views()
    assert len(views) <= 6 + 5 * 2, views  # the curation's six, and at most five per method
    assert sorted(v for v in views if v.startswith(("b:", "s:", "s vs"))) == [
        "b: failures", "s vs b: improved", "s vs b: worsened", "s: failures"]
