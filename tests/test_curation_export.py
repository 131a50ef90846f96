"""curation.export: the curated set as a manifest and a class tree that extraction reads."""
import json

import pytest

from curation import actions
from curation.export import get_args_parser, main
from curation.load import load
from datasets.manifest import read_manifest
from tests.conftest import make_manifest

pytestmark = pytest.mark.fiftyone
IDS = [f"{i:064x}" for i in range(6)]


def test_export_writes_the_curated_labels_and_leaves_rejects_out(fiftyone, tmp_path, capsys):
    m = make_manifest(tmp_path)
    load(m, "export-test")
    ds = fiftyone.load_dataset("export-test")
    actions.curate(ds, "reject", [IDS[0]])
    actions.curate(ds, "move", [IDS[1]], to="hammer")
    actions.curate(ds, "ambiguous", [IDS[4]])
    out = tmp_path / "curated"
    assert main(get_args_parser().parse_args(["--dataset", "export-test", "--out", str(out)])) == 0
    assert "5 images in 4 classes (1 moved; left out: 1 rejected)" in capsys.readouterr().out
    rows = {r["id"]: r for r in read_manifest(out / "manifest.jsonl")}
    assert set(rows) == set(IDS[1:])
    assert rows[IDS[1]]["wnid"] == "n03481172" and rows[IDS[1]]["label"] == "hammer"
    assert rows[IDS[1]]["class_index"] == 587 and rows[IDS[1]]["original_wnid"] == "n04507155"
    assert rows[IDS[1]]["review"] == "accepted" and rows[IDS[1]]["license"] == "CC0-1.0"  # manifest fields kept
    assert rows[IDS[2]]["wnid"] == "n02012849" and rows[IDS[2]]["ambiguous"]  # one row per image: its curated class
    links = sorted(p.relative_to(out).parts[:2] for p in out.glob("*/*/*"))
    assert ("train", "hammer") in links and all(p.exists() for p in out.glob("*/*/*"))
    assert {c["wnid"] for c in json.loads((out / "classes.json").read_text())} == {
        "n03481172", "n04507155", "n02012849", "n04398044"}

    strict = tmp_path / "strict"
    assert main(get_args_parser().parse_args(["--dataset", "export-test", "--out", str(strict), "--accepted-only",
                                              "--no-tree"])) == 0
    assert [r["id"] for r in read_manifest(strict / "manifest.jsonl")] == [IDS[1]]
    assert not (strict / "train").exists()
    lenient = tmp_path / "no-ambiguous"
    main(get_args_parser().parse_args(["--dataset", "export-test", "--out", str(lenient), "--drop-ambiguous"]))
    assert {r["id"] for r in read_manifest(lenient / "manifest.jsonl")} == {IDS[1], IDS[3], IDS[5]}
    # nothing left to export: exit 1 and one line saying why, no folder made rather than an empty manifest
    capsys.readouterr()
    actions.curate(ds, "reject", IDS[1:])
    empty = tmp_path / "nothing"
    assert main(get_args_parser().parse_args(["--dataset", "export-test", "--out", str(empty)])) == 1
    err = capsys.readouterr().err
    assert err == "curation.export: dataset 'export-test': no sample left to export (left out: 6 rejected)\n", err
    assert not empty.exists()
    afile = tmp_path / "a-file"
    afile.write_text("x")
    assert main(get_args_parser().parse_args(["--dataset", "export-test", "--out", str(afile)])) == 2
    assert capsys.readouterr().err == f"curation.export: error: --out {afile} is a file, not a folder\n"


def test_export_feeds_extraction(fiftyone, tmp_path):
    from evaluation.extract import ExtractConfig, extract

    m = make_manifest(tmp_path)
    load(m, "export-extract")
    actions.curate(fiftyone.load_dataset("export-extract"), "move", [IDS[0]], to="hammer")
    out = tmp_path / "curated"
    main(get_args_parser().parse_args(["--dataset", "export-extract", "--out", str(out)]))
    from evaluation.features import read_features

    extract(ExtractConfig(manifest=out / "manifest.jsonl", out=tmp_path / "f.h5", backbone="tiny", batch_size=4,
                          workers=0))
    fs = read_features(tmp_path / "f.h5")
    assert len(fs) == 6 and fs.labels[list(fs.ids).index(IDS[0])] == 587


def test_export_names_a_missing_dataset(fiftyone, tmp_path, capsys):
    assert main(get_args_parser().parse_args(["--dataset", "no-such-dataset", "--out", str(tmp_path)])) == 1
    assert "no-such-dataset" in capsys.readouterr().err
