import json
import os
import shutil
from pathlib import Path

import pytest

from datasets.build import BuildConfig, build, get_args_parser, main
from datasets.manifest import REQUIRED, iter_jsonl, read_manifest, safe_text
from scraping.sources import create_source
from tests.conftest import make_image, make_svg, require_openclipart

GOOD = {
    "kitchen/teapot_01.png": ["teapot"],
    "kitchen/Teapot_Old.PNG": ["teapot"],
    "food/hot-dog.png": ["hotdog"],
    "birds/cranes.png": ["crane", "crane"],
    "cars/ambulance+clipart10.png": ["ambulance"],
    "cars/Ambulance_side.gif": ["ambulance"],
    "cars/ambulance-cmyk.jpg": ["ambulance"],
    "fruit/banana.svg": ["banana"],
    "fruit/tall_banana.svg": ["banana"],
}
UNMATCHED = ["dogs/dog.png", "misc/the_and_of.png"]
BAD = {
    "kitchen/empty_teapot.png": "empty file",
    "kitchen/truncated_teapot.png": "corrupt or truncated",
    "kitchen/text_teapot.png": "not an image",
    "fruit/broken_banana.svg": "SVG could not be rendered",
    "fruit/white_banana.png": "blank image",
    "notes/teapot.txt": "not an image file type",
    "odd/tea\u202epot.png": "control or unassigned character",
    "odd/" + "teapot_" * 30 + ".png": "name longer than",
    "odd/tea\udcffpot.png": "not valid UTF-8",  # the byte 0xff, as os.walk decodes it
}


@pytest.fixture
def clipart(tmp_path):
    root = tmp_path / "clipart"
    for seed, rel in enumerate(list(GOOD) + UNMATCHED):
        path = root / rel
        if path.suffix == ".svg":
            make_svg(path, *((60, 120) if "tall" in rel else (100, 60)), seed=seed)
        elif path.suffix == ".jpg":
            make_image(path, seed, mode="CMYK")
        else:
            make_image(path, seed, mode="P" if path.suffix == ".gif" else "RGBA")
    # a byte-identical copy under another name
    shutil.copy(root / "kitchen/teapot_01.png", root / "kitchen/teapot_copy.png")
    for rel in BAD:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / "kitchen/empty_teapot.png").write_bytes(b"")
    data = make_image(tmp_path / "whole.png", 99, size=(200, 200)).read_bytes()
    (root / "kitchen/truncated_teapot.png").write_bytes(data[: len(data) // 2])
    (root / "kitchen/text_teapot.png").write_text("this is not a png")
    (root / "fruit/broken_banana.svg").write_text("<svg><unclosed")
    from PIL import Image

    Image.new("RGB", (30, 30), "white").save(root / "fruit/white_banana.png")
    (root / "notes/teapot.txt").write_text("hello")
    for rel in BAD:
        if not os.path.exists(os.fsencode(root / rel)):
            os.rename(make_image(tmp_path / "tmp.png", 7), os.fsencode(root / rel))
    return root


def jsonl(path: Path) -> list[dict]:
    return [row for _, row in iter_jsonl(path)]


def snapshot(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def run_build(root, out, **kw):
    return build([create_source("dir", root=root)], BuildConfig(out=out, workers=2, **kw))


def test_build_from_folder(clipart, tmp_path):
    before = snapshot(clipart)
    out = tmp_path / "out"
    summary = run_build(clipart, out, layout="tree")
    assert snapshot(clipart) == before  # inputs untouched

    rows = read_manifest(out / "manifest.jsonl")
    assert all(set(REQUIRED) <= set(r) for r in rows)
    by_name: dict[str, list[str]] = {}
    for r in rows:
        by_name.setdefault(Path(r["original_name"]).name, []).append(r["label"])
        assert Path(r["filepath"]).is_file()
    for rel, labels in GOOD.items():
        assert sorted(by_name[Path(rel).name]) == sorted(labels), rel
    assert "teapot_copy.png" not in by_name  # merged into teapot_01.png
    assert summary["exact_duplicates_merged"] == 1

    (hot,) = [r for r in rows if r["label"] == "hotdog"]
    assert hot["matched_words"] == ["hot", "dog"] and hot["lemma"] == "hot dog" and hot["source"] == "dir"
    assert hot["wnid"] == "n07697537" and hot["class_index"] == 934 and hot["split"] in ("train", "val")
    cranes = [r for r in rows if r["label"] == "crane"]
    assert all(r["ambiguous"] and r["candidates"] == ["n02012849", "n03126707"] for r in cranes)

    # SVGs are rendered into OUT with the longer side at --render-size
    banana = {Path(r["original_name"]).name: r for r in rows if r["label"] == "banana"}
    assert banana["banana.svg"]["filepath"].startswith(str(out.resolve() / "renders" / "256"))
    assert (banana["banana.svg"]["width"], banana["tall_banana.svg"]["height"]) == (256, 256)
    assert banana["tall_banana.svg"]["width"] == 128

    rejected = {Path(r["original_name"]).name: r["reason"] for r in jsonl(out / "rejected.jsonl")}
    assert len(rejected) == len(BAD)
    for rel, reason in BAD.items():
        name = Path(safe_text(rel)).name
        assert reason in rejected[name], (rel, rejected[name])
    assert "tea\\xffpot.png" in rejected
    unmatched = {r["original_name"]: r["tokens"] for r in jsonl(out / "unmatched.jsonl")}
    assert unmatched == {"dogs/dog.png": ["dog"], "misc/the_and_of.png": []}

    assert summary["images"] == 9 and summary["classes"] == 6 and summary["ambiguous_images"] == 1
    assert summary["files_rejected"] == len(BAD)
    classes = json.loads((out / "classes.json").read_text())
    assert [c["label"] for c in classes] == ["crane", "ambulance", "crane", "teapot", "hotdog", "banana"]  # ILSVRC order
    assert [c["index"] for c in classes] == list(range(6))
    assert sum(c["train"] + c["val"] for c in classes) == len(rows)

    # tree layout: one link per row, pointing at the image
    links = [p for p in (out / "train").rglob("*")] + [p for p in (out / "val").rglob("*") if (out / "val").exists()]
    files = [p for p in links if p.is_symlink()]
    assert len(files) == len(rows) and all(p.resolve().is_file() for p in files)
    assert {p.parent.name for p in files} >= {"crane_n02012849", "crane_n03126707", "teapot"}


def test_rebuild_is_idempotent_and_reuses_renders(clipart, tmp_path):
    out = tmp_path / "out"
    run_build(clipart, out)
    first = (out / "manifest.jsonl").read_bytes()
    renders = {p: p.stat().st_mtime_ns for p in (out / "renders").rglob("*.png")}
    assert len(renders) == 2
    run_build(clipart, out)
    assert (out / "manifest.jsonl").read_bytes() == first
    assert {p: p.stat().st_mtime_ns for p in (out / "renders").rglob("*.png")} == renders
    assert not list(out.glob(".*tmp"))

    shared = tmp_path / "cache"
    run_build(clipart, tmp_path / "x", render_cache=shared)
    run_build(clipart, tmp_path / "y", render_cache=shared)
    assert len(list(shared.rglob("*.png"))) == 2 and not (tmp_path / "y" / "renders").exists()
    rows = read_manifest(tmp_path / "y" / "manifest.jsonl")
    assert sum(r["filepath"].startswith(str(shared.resolve())) for r in rows) == 2


def test_selection_rules(clipart, tmp_path):
    summary = run_build(clipart, tmp_path / "a", classes=["teapot", "n02701002"])
    assert summary["subset"] == "selected"
    assert {c["label"] for c in summary["per_class"]} == {"teapot", "ambulance"}

    # --single-word: crane is a shared name and hot dog... is "hotdog" (one word); ambiguous images go
    summary = run_build(clipart, tmp_path / "b", min_images=2, single_word=True)
    assert summary["subset"] == "noisy-2"
    assert {c["label"] for c in summary["per_class"]} == {"teapot", "ambulance", "banana"}
    assert all(c["total"] >= 2 for c in summary["per_class"])


def test_thesis_mode(clipart, tmp_path):
    summary = run_build(clipart, tmp_path / "t", mode="thesis")
    labels = {c["label"] for c in summary["per_class"]}
    assert "hotdog" in labels and len(labels) > 5  # dog.png spreads over every "dog" class


def test_cli(clipart, tmp_path, capsys):
    out = tmp_path / "cli"
    args = get_args_parser().parse_args(["--from", str(clipart), "--out", str(out), "--workers", "1"])
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "noisy subset, strict matching" in printed and "teapot" in printed and str(out / "manifest.jsonl") in printed

    args = get_args_parser().parse_args(["--from", str(clipart), "--out", str(out), "--classes", "teapot,unicorn"])
    assert main(args) == 2
    assert "'unicorn'" in capsys.readouterr().err
    assert main(get_args_parser().parse_args(["--out", str(out)])) == 2
    assert main(get_args_parser().parse_args(["--from", str(tmp_path / "nope"), "--out", str(out)])) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.openclipart
def test_real_openclipart_subset(tmp_path):
    openclipart = require_openclipart()
    picks = [
        "tools/hammer_nicu_buculei_01.svg",
        "food/beverages/a_teapot_01.svg",
        "food/fruit/strawberry_jonathan_diet_01.svg",
        "food/fruit/lemon.svg",
        "tools/umbrella.svg",
        "computer/hardware/laptop.svg",
        "science/medicine/siringa_architetto_franc_01.svg",
        "animals/fish/altum_angelfish_01.svg",
    ]
    root = tmp_path / "svg"
    for rel in picks:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(openclipart / rel, root / rel)
    out = tmp_path / "out"
    summary = build([create_source("openclipart", root=root)], BuildConfig(out=out, workers=2))
    rows = read_manifest(out / "manifest.jsonl")
    got = {r["original_name"]: r["label"] for r in rows}
    assert got == {
        "science/medicine/siringa_architetto_franc_01.svg": "syringe",
        "tools/hammer_nicu_buculei_01.svg": "hammer",
        "food/beverages/a_teapot_01.svg": "teapot",
        "food/fruit/strawberry_jonathan_diet_01.svg": "strawberry",
        "food/fruit/lemon.svg": "lemon",
        "tools/umbrella.svg": "umbrella",
        "computer/hardware/laptop.svg": "laptop",
    }
    hammer = next(r for r in rows if r["label"] == "hammer")
    assert hammer["author"] == "Nicu Buculei" and hammer["license"] == "public domain" and hammer["source"] == "openclipart"
    assert hammer["matched_words"] == ["hammer"] and max(hammer["width"], hammer["height"]) == 256
    # Italian for syringe, read through OMW once the cut-off author "architetto franc" is stripped
    syringe = next(r for r in rows if r["original_name"].startswith("science/medicine/siringa"))
    assert (syringe["label"], syringe["lang"], syringe["lemma"]) == ("syringe", "ita", "siringa")
    assert summary["images"] == 7 and summary["files_rejected"] == 0
    assert summary["languages"] == {"eng": 6, "ita": 1}


def test_settled_names_give_one_row(tmp_path):
    root = tmp_path / "music"
    make_image(root / "harp.png", 1)
    make_image(root / "cranes.png", 2)
    # byte-identical files named after both classes: the image keeps both, nothing settled
    make_image(root / "harp_b.png", 3)
    shutil.copy(root / "harp_b.png", root / "harmonica.png")
    out = tmp_path / "out"
    summary = run_build(root, out)
    rows = read_manifest(out / "manifest.jsonl")
    (harp,) = [r for r in rows if r["original_name"] == "harp.png"]
    harp_wnid, harmonica_wnid = "n03495258", "n03494278"
    assert (harp["label"], harp["wnid"], harp["ambiguous"]) == ("harp", harp_wnid, False)
    assert harp["candidates"] == sorted([harp_wnid, harmonica_wnid]) and harp["resolved_by"] == "primary name"
    cranes = [r for r in rows if r["original_name"] == "cranes.png"]
    assert len(cranes) == 2 and all(r["ambiguous"] and r["resolved_by"] is None for r in cranes)
    both = [r for r in rows if r["original_name"] == "harmonica.png" or r["original_name"] == "harp_b.png"]
    assert {r["wnid"] for r in both} == {harp_wnid, harmonica_wnid}
    assert all(r["ambiguous"] and r["resolved_by"] is None and len(r["candidates"]) == 2 for r in both)
    assert summary["ambiguous_images"] == 2 and summary["resolved_images"] == {"primary name": 1}

    # --single-word drops ambiguous images; a settled one is not ambiguous
    summary = run_build(root, tmp_path / "one", single_word=True)
    assert [(c["label"], c["total"]) for c in summary["per_class"]] == [("harp", 1)]
