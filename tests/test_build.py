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
    assert main(get_args_parser().parse_args(["--from", str(tmp_path / "nope"), "--out", str(out)])) == 1
    assert "not a folder" in capsys.readouterr().err


def test_from_takes_several_folders(tmp_path):
    for name in ("a", "b"):
        make_image(tmp_path / name / f"{'teapot' if name == 'a' else 'banana'}.png", len(name))
    args = get_args_parser().parse_args(["--from", str(tmp_path / "a"), str(tmp_path / "b"), "--out",
                                         str(tmp_path / "out"), "--workers", "1", "-q"])
    assert main(args) == 0
    assert {r["label"] for r in read_manifest(tmp_path / "out" / "manifest.jsonl")} == {"teapot", "banana"}


BAD_OPTIONS = [  # each refused before a source is opened or anything written: (options, exit code, message)
    (["--val-fraction", "1"], 2, "--val-fraction must be in [0, 1)"),
    (["--workers", "0"], 2, "--workers must be 1 or more"),
    (["--render-size", "0"], 2, "--render-size must be 1 or more"),
    (["--min-images", "-1"], 2, "--min-images must be 0 or more"),
    (["--max-sense-rank", "-2"], 2, "--max-sense-rank must be 0 or more"),
    (["--max-name-length", "0"], 2, "--max-name-length must be 1 or more"),
    (["--table-rows", "-1"], 2, "--table-rows must be 0 (all) or more"),
    (["--classes", "unicorn"], 2, "no ILSVRC-2012 class named 'unicorn'"),
    (["--languages", "ita,xx"], 2, "--languages: no Open Multilingual Wordnet for xx"),
    (["--unmatched-limit", "3"], 2, "only applies with --keep-unmatched"),
    (["--source", "nosuch"], 2, "--source nosuch: unknown"),
    (["--source", "openclipart=/nonexistent/clipart"], 1, "not found at /nonexistent/clipart"),
]


@pytest.mark.parametrize("options,code,says", BAD_OPTIONS, ids=[o[0] for o, _, _ in BAD_OPTIONS])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, capsys, options, code, says):
    art = tmp_path / "art"
    make_image(art / "teapot.png", 1)
    out = tmp_path / "out"
    assert main(get_args_parser().parse_args(["--from", str(art), "--out", str(out), *options])) == code
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "art").mkdir()
    out = tmp_path / "out"
    out.write_text("mine")
    assert main(get_args_parser().parse_args(["--from", str(tmp_path / "art"), "--out", str(out)])) == 1
    assert f"--out {out}: a file, not a folder" in capsys.readouterr().err and out.read_text() == "mine"


def test_no_image_kept_is_an_error_that_writes_nothing(tmp_path, capsys, caplog):
    """A folder of only empty, non-image and unmatched files: every reason logged, one error line, exit 1, and
    a manifest already in --out left as it was."""
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "teapot.png").write_bytes(b"")
    (junk / "teapot.txt").write_text("hello")
    make_image(junk / "qwertyuiop.png", 3)
    out = tmp_path / "out"
    assert main(get_args_parser().parse_args(["--from", str(junk), "--out", str(out), "--workers", "1"])) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "teapot.png: empty file" in caplog.text and "teapot.txt: not an image file type" in caplog.text
    assert "qwertyuiop.png: name matches no ILSVRC class" in caplog.text
    assert len(err) == 1 and err[0].startswith(f"datasets.build: no image kept from dir ({junk}): 3 files seen, "
                                               "2 rejected, 1 ")
    assert "python -m datasets.vocabulary" in err[0] and not out.exists()

    out.mkdir()
    (out / "manifest.jsonl").write_text("earlier\n")
    assert main(get_args_parser().parse_args(["--from", str(junk), "--out", str(out), "--workers", "1"])) == 1
    assert (out / "manifest.jsonl").read_text() == "earlier\n" and sorted(out.iterdir()) == [out / "manifest.jsonl"]


def test_a_selection_that_keeps_nothing_says_so(clipart, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--from", str(clipart), "--out", str(out), "--min-images", "1000", "--workers", "1"]
    assert main(get_args_parser().parse_args(args)) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "images matched a class, but the selection" in err and "relax it" in err
    assert not out.exists()  # its renders went with it: this build made the folder


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


# -- datasets.subsets and datasets.licenses on a hand-written manifest: bad input writes nothing


def small_manifest(folder: Path) -> Path:
    """Three teapots from openclipart and two umbrellas from dir, one unlabelled file."""
    rows = []
    for i, (label, wnid, index, source) in enumerate([("teapot", "n04398044", 849, "openclipart")] * 3
                                                     + [("umbrella", "n04507155", 879, "dir")] * 2
                                                     + [(None, None, None, "dir")]):
        path = make_image(folder / f"{label or 'blob'}{i}.png", i)
        rows.append({"id": f"{i:04x}", "filepath": path.name, "original_name": path.name, "label": label,
                     "wnid": wnid, "class_index": index, "split": "val" if i % 3 == 2 else "train",
                     "matched_words": [label] if label else [], "ambiguous": False, "source": source,
                     "sense_rank": 0 if label else None, "lemma": label, "lang": "eng" if label else None,
                     "candidates": [wnid] if label else [], "resolved_by": None, "license": "CC0-1.0",
                     "style": "flat"})
    from datasets.manifest import write_jsonl

    write_jsonl(folder / "manifest.jsonl", rows)
    return folder / "manifest.jsonl"


def test_subsets_keeps_sources_and_refuses_bad_options(tmp_path, capsys):
    from datasets import subsets

    manifest = small_manifest(tmp_path / "built")

    def run(out, *options):
        return subsets.main(subsets.get_args_parser().parse_args(["--manifest", str(manifest), "--out", str(out),
                                                                  *map(str, options)]))

    assert run(tmp_path / "s", "--source", "dir", "-q") == 0
    assert {r["label"] for r in read_manifest(tmp_path / "s" / "manifest.jsonl") if r["wnid"]} == {"umbrella"}
    capsys.readouterr()
    for options, code, says in (
            (["--source", "nosuch"], 1, "--source nosuch: no row of"),
            (["--classes", "unicorn"], 2, "no ILSVRC-2012 class named 'unicorn'"),
            (["--min-images", "-1"], 2, "--min-images must be 0 or more"),
            (["--max-sense-rank", "-1"], 2, "--max-sense-rank must be 0 or more"),
            (["--table-rows", "-3"], 2, "--table-rows must be 0 or more"),
            (["--verdicts", ""], 2, "--verdicts: choose from"),
            (["--unlabelled", "some"], 2, "--unlabelled: a number or 'all'"),
            (["--min-images", "50"], 1, "no labelled row passes the filters")):
        assert run(tmp_path / "bad", *options) == code, options
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "bad").exists()
    assert run(manifest.parent) == 2 and "the manifest's own folder" in capsys.readouterr().err
    assert subsets.main(subsets.get_args_parser().parse_args(["--manifest", str(tmp_path / "none.jsonl"),
                                                              "--out", str(tmp_path / "bad")])) == 1
    assert "none.jsonl" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_licenses_of_an_empty_or_missing_manifest_write_nothing(tmp_path, capsys):
    from datasets.licenses import get_args_parser as licenses_args
    from datasets.licenses import main as licenses_main

    empty = tmp_path / "manifest.jsonl"
    empty.write_text("")
    assert licenses_main(licenses_args().parse_args(["--manifest", str(empty)])) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"datasets.licenses: {empty}: no images") and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == [empty]
    assert licenses_main(licenses_args().parse_args(["--manifest", str(tmp_path / "absent.jsonl")])) == 1
    assert "absent.jsonl" in capsys.readouterr().err and sorted(tmp_path.iterdir()) == [empty]
    manifest = small_manifest(tmp_path / "built")
    assert licenses_main(licenses_args().parse_args(["--manifest", str(manifest), "--out", str(tmp_path)])) == 1
    assert "a folder; give the attribution file's path" in capsys.readouterr().err
    assert licenses_main(licenses_args().parse_args(["--manifest", str(manifest), "-q"])) == 0
    assert (manifest.parent / "ATTRIBUTION.md").is_file()
