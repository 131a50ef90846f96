"""Every curation command run in a workspace folder with no --dataset works on the workspace's dataset
(``datasets.workspace``: the current folder here), and says to give --dataset NAME where there is none."""
import json

import numpy as np
import pytest

from curation import app, embed, export, hygiene, load, log, mappings, workload, writeback
from evaluation.features import FeatureSet, write_features
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone
NAME = "ws-resolve"


def run(module, *argv) -> int:
    return module.main(module.get_args_parser().parse_args([str(a) for a in argv]))


def features(path, ids: list[str]):
    """A features file of ``ids`` (backbone "tiny", layer "fc")."""
    rng = np.random.default_rng(0)
    fs = FeatureSet(features=rng.normal(size=(len(ids), 8)).astype(np.float32), labels=np.zeros(len(ids), dtype=int),
                    ids=np.asarray(ids, dtype=object), splits=np.asarray(["train"] * len(ids), dtype=object),
                    attrs={"backbone": "tiny", "layer": "fc"})
    write_features(path, fs)
    return path


@pytest.fixture()
def workspace(fiftyone, tmp_path, monkeypatch):
    """A folder whose current dataset is NAME (curation.load recorded it), made the current folder, with no
    $DRAWNET_WORKSPACE to say otherwise."""
    folder = tmp_path / "ws"
    monkeypatch.delenv("DRAWNET_WORKSPACE", raising=False)
    assert run(load, "--manifest", make_manifest(tmp_path, n=6), "--dataset", NAME, "--workspace", folder) == 0
    monkeypatch.chdir(folder)
    return folder


def test_each_command_takes_the_workspaces_dataset(workspace, fiftyone, tmp_path, capsys):
    capsys.readouterr()
    more = make_manifest(tmp_path, n=3, start=6)
    assert run(load, "--manifest", more) == 0  # no --dataset: into the workspace's current dataset
    assert capsys.readouterr().out.startswith(f"{NAME}: 3 samples added, 0 already there")
    assert len(fiftyone.load_dataset(NAME)) == 9

    assert run(workload) == 0 and capsys.readouterr().out.startswith(f"{NAME}: the curator's workload")
    assert run(mappings, "rules") == 0 and capsys.readouterr().out.startswith(f"{NAME}: no mapping decided yet")
    assert run(mappings, "list") == 0
    assert run(log, "export") == 0 and capsys.readouterr().out.startswith(f"{NAME}: 0 curation records written")
    assert run(log, "recover") == 0 and capsys.readouterr().out.startswith(f"{NAME}: 0 records; no pending")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run(log, "replay", "--log", empty) == 0 and capsys.readouterr().out.startswith(f"{NAME}: 0 records")
    assert run(export, "--out", tmp_path / "exported") == 0 and "9 images in 3 classes" in capsys.readouterr().out
    assert json.loads((tmp_path / "exported" / "summary.json").read_text())["dataset"] == NAME

    ids = fiftyone.load_dataset(NAME).values("image_id")
    assert run(hygiene, "--features", features(tmp_path / "f.h5", ids), "--no-mislabels", "--no-clip",
               "--workers", "1") == 0
    assert capsys.readouterr().out.startswith("9 samples (9 with features)")
    assert fiftyone.load_dataset(NAME).has_run("hygiene")
    # failures that name the dataset they looked in: proof enough, without serving the App or a 2-D view
    stranger = features(tmp_path / "other.h5", ["f" * 64] * 4)
    assert run(embed, "--features", stranger) == 1
    assert f"none of its 1 image ids is in dataset '{NAME}'" in capsys.readouterr().err
    assert run(app, "--view", "no such view") == 1
    assert f"dataset '{NAME}' has no saved view 'no such view'" in capsys.readouterr().err
    assert run(writeback, "--delete", "nothing") == 1
    assert f"dataset '{NAME}' has no written-back results named 'nothing'" in capsys.readouterr().err


@pytest.mark.parametrize("module,argv", [
    (workload, []), (mappings, ["list"]), (log, ["export"]), (export, ["--out", "x"]), (app, []),
    (embed, ["--features", "f.h5"]), (hygiene, ["--features", "f.h5"]), (writeback, ["--delete", "x"]),
    (load, ["--manifest", "m.jsonl"]),
])
def test_no_dataset_and_no_workspace_is_a_usage_error(module, argv, tmp_path, monkeypatch, capsys):
    """Exit 2 with one line saying to give --dataset NAME; nothing is written in the folder."""
    monkeypatch.delenv("DRAWNET_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run(module, *argv) == 2
    err = capsys.readouterr().err
    assert "--dataset NAME" in err and err.count("\n") == 1 and str(tmp_path) in err, err
    assert list(tmp_path.iterdir()) == []
