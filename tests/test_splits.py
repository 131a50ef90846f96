import hashlib

import pytest

from datasets.build import BuildConfig, build
from datasets.manifest import read_manifest
from datasets.splits import assign_split, split_score
from scraping.sources import create_source
from tests.conftest import make_image

IDS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20000)]


def test_split_is_a_function_of_id_and_seed():
    assert [assign_split(i) for i in IDS[:100]] == [assign_split(i) for i in IDS[:100]]
    assert [assign_split(i, seed=1) for i in IDS[:100]] != [assign_split(i) for i in IDS[:100]]
    assert 0.0 <= min(split_score(i) for i in IDS) and max(split_score(i) for i in IDS) < 1.0


def test_fraction_holds_overall_and_per_class():
    splits = [assign_split(i, val_fraction=0.2) for i in IDS]
    assert 0.19 < splits.count("val") / len(splits) < 0.21
    for k in range(10):  # any subset of images, e.g. a class, gets the same share
        chunk = splits[k::10]
        assert 0.17 < chunk.count("val") / len(chunk) < 0.23
    assert {assign_split(i, val_fraction=0.0) for i in IDS[:500]} == {"train"}


def test_bad_fraction():
    with pytest.raises(ValueError, match="val-fraction"):
        assign_split(IDS[0], val_fraction=1.0)


def test_adding_files_never_moves_existing_ones_and_duplicates_stay_together(tmp_path):
    root = tmp_path / "in"
    for i in range(40):
        make_image(root / f"teapot_{i}.png", seed=i)
    first = {r["id"]: r["split"] for r in build_rows(root, tmp_path / "a")}
    assert set(first.values()) == {"train", "val"}

    for i in range(40, 80):
        make_image(root / f"more/teapot_{i}.png", seed=i)
    (root / "dupes").mkdir()
    for i in range(0, 80, 7):  # byte-identical copies under another class's name
        src = root / (f"teapot_{i}.png" if i < 40 else f"more/teapot_{i}.png")
        (root / f"dupes/ambulance_{i}.png").write_bytes(src.read_bytes())
    rows = build_rows(root, tmp_path / "b")
    second = {}
    for r in rows:
        assert second.setdefault(r["id"], r["split"]) == r["split"]  # one split per image, whatever its classes
    assert all(second[i] == s for i, s in first.items())
    assert len(second) == 80 and sum(r["label"] == "ambulance" for r in rows) == 12


def build_rows(root, out):
    build([create_source("dir", root=root)], BuildConfig(out=out, workers=1))
    return read_manifest(out / "manifest.jsonl")
