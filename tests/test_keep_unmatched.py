"""datasets.build --keep-unmatched: names that match no class kept as an unlabelled open pool."""
import hashlib
import shutil
from pathlib import Path

import pytest

from datasets.build import BuildConfig, build, format_summary, get_args_parser, main
from datasets.manifest import read_manifest
from datasets.splits import assign_split
from datasets.subsets import select
from tests.conftest import make_image, make_svg
from tests import test_build
from tests.test_build import BAD, GOOD, UNMATCHED, jsonl, run_build

clipart = test_build.clipart  # the fixture: test_build's folder of generated clip art

SHAPES = [f"shapes/shape_{k}.png" for k in range(8)]
NULLS = {"label": None, "wnid": None, "class_index": None, "matched_words": [], "lemma": None, "lang": None,
         "sense_rank": None, "ambiguous": False, "candidates": [], "resolved_by": None}


@pytest.fixture
def pool(clipart):
    """The clip-art folder plus unmatched drawings: 8 PNGs, an SVG, a broken SVG and a copy of a teapot."""
    for k, rel in enumerate(SHAPES):
        make_image(clipart / rel, 100 + k)
    make_svg(clipart / "shapes/star_shape.svg", seed=3)
    (clipart / "shapes/broken_star.svg").write_text("<svg><unclosed")
    shutil.copy(clipart / "kitchen/teapot_01.png", clipart / "misc/blob_copy.png")
    return clipart


KEPT = UNMATCHED + SHAPES + ["shapes/star_shape.svg"]  # the unlabelled images of the full pool


def unlabelled(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["wnid"] is None]


def test_without_the_flag_nothing_is_kept(pool, tmp_path):
    out = tmp_path / "plain"
    summary = run_build(pool, out)
    rows = read_manifest(out / "manifest.jsonl")
    assert not unlabelled(rows) and summary["unlabelled_images"] == 0 and summary["files_unmatched_kept"] == 0
    assert summary["images"] == 9 and summary["classes"] == 6
    assert "broken_star.svg" not in {Path(r["original_name"]).name for r in jsonl(out / "rejected.jsonl")}
    assert "open pool" not in format_summary(summary, out)


def test_keep_unmatched_rows(pool, tmp_path):
    out = tmp_path / "out"
    summary = run_build(pool, out, keep_unmatched=True, layout="tree")
    rows = read_manifest(out / "manifest.jsonl")
    open_pool = unlabelled(rows)
    assert sorted(r["original_name"] for r in open_pool) == sorted(KEPT)
    for r in open_pool:
        assert {k: r[k] for k in NULLS} == NULLS
        assert r["split"] == assign_split(r["id"]) and Path(r["filepath"]).is_file()
        assert r["source"] == "dir" and r["license"] == "unknown" and r["width"] > 0 and r["height"] > 0
    (star,) = [r for r in open_pool if r["original_name"].endswith(".svg")]
    assert star["filepath"].startswith(str(out.resolve() / "renders" / "256")) and star["width"] == 256
    # labelled rows as before, first; the pool after them by name
    labelled = [r for r in rows if r["wnid"] is not None]
    assert rows == labelled + open_pool and [r["original_name"] for r in open_pool] == sorted(KEPT)
    assert {r["original_name"] for r in labelled} == {rel for rel in GOOD}
    # the copy of a teapot is that labelled image, not an unlabelled one
    (teapot,) = [r for r in labelled if r["original_name"] == "kitchen/teapot_01.png"]
    assert "misc/blob_copy.png" in teapot["duplicates"] and teapot["id"] not in {r["id"] for r in open_pool}

    rejected = {Path(r["original_name"]).name: r["reason"] for r in jsonl(out / "rejected.jsonl")}
    assert "SVG could not be rendered" in rejected["broken_star.svg"] and len(rejected) == len(BAD) + 1
    names = {r["original_name"] for r in jsonl(out / "unmatched.jsonl")}
    assert names == set(KEPT) | {"shapes/broken_star.svg", "misc/blob_copy.png"}

    assert summary["unlabelled_images"] == len(KEPT) and summary["files_unmatched_kept"] == len(KEPT) + 2
    assert summary["images"] == 9 + len(KEPT) and summary["rows"] == len(rows)
    assert summary["classes"] == 6 and summary["images_matched"] == 9 and summary["classes_matched"] == 6
    assert sum(c["total"] for c in summary["per_class"]) == len(labelled)
    assert sum(t["images"] for t in summary["per_style"]) == 9 + len(KEPT) and summary["per_style"][0]["classes"] == 6
    assert sum(summary["splits"].values()) == summary["images"] and summary["languages"] == {"eng": len(labelled)}
    assert f"open pool: {len(KEPT)} unlabelled images" in format_summary(summary, out)

    links = [p for split in ("train", "val") for p in (out / split / "_unlabelled").glob("*") if p.is_symlink()]
    assert len(links) == len(KEPT) and all(p.resolve().is_file() for p in links)


def first_by_hash(names: list[str], n: int) -> list[str]:
    return sorted(names, key=lambda name: hashlib.sha1(f"dir\0{name}".encode()).hexdigest())[:n]


def test_unmatched_limit_is_stable_and_nested(pool, tmp_path):
    kept = {}
    for n in (3, 7, 3):
        out = tmp_path / f"limit{n}"
        summary = run_build(pool, out, keep_unmatched=True, unmatched_limit=n)
        every = [r["original_name"] for r in jsonl(out / "unmatched.jsonl")]
        chosen = first_by_hash(every, n)
        names = {r["original_name"] for r in unlabelled(read_manifest(out / "manifest.jsonl"))}
        assert summary["files_unmatched_kept"] == n
        # the chosen files, less a broken one (rejected) or a copy of a labelled image (merged into it)
        assert names == set(chosen) - {"shapes/broken_star.svg", "misc/blob_copy.png"}
        assert kept.setdefault(n, names) == names
    assert kept[3] <= kept[7] and len(kept[7]) > len(kept[3])
    summary = run_build(pool, tmp_path / "none", keep_unmatched=True, unmatched_limit=0)
    assert summary["unlabelled_images"] == 0 and summary["images"] == 9


def test_unmatched_limit_needs_keep_unmatched(pool, tmp_path, capsys):
    with pytest.raises(ValueError, match="--unmatched-limit .* only applies with --keep-unmatched"):
        build([], BuildConfig(out=tmp_path / "x", unmatched_limit=5))
    args = ["--from", str(pool), "--out", str(tmp_path / "cli"), "--unmatched-limit", "5"]
    assert main(get_args_parser().parse_args(args)) == 2
    assert "--keep-unmatched" in capsys.readouterr().err and not (tmp_path / "cli").exists()
    assert main(get_args_parser().parse_args(args + ["--keep-unmatched", "--workers", "1"])) == 0
    assert "unmatched files kept" in capsys.readouterr().out  # of 5 chosen, a broken or copied one may go
    assert main(get_args_parser().parse_args(args[:-1] + ["-1", "--keep-unmatched"])) == 2
    assert "must be 0 or more" in capsys.readouterr().err


def test_class_filters_keep_the_open_pool(pool, tmp_path, vocab):
    out = tmp_path / "out"
    run_build(pool, out, keep_unmatched=True)
    rows = read_manifest(out / "manifest.jsonl")
    labelled = [r for r in rows if r["wnid"] is not None]
    for kw in ({"classes": ["teapot"]}, {"min_images": 3}, {"single_word": True}, {"max_sense_rank": 0},
               {"classes": ["teapot", "ambulance"], "min_images": 3, "single_word": True}):
        keep, name = select(rows, vocab, **kw)
        alone, alone_name = select(labelled, vocab, **kw)
        assert keep == alone + unlabelled(rows) and name == alone_name, kw
    assert {r["label"] for r in select(rows, vocab, min_images=3)[0] if r["label"]} == {"ambulance"}
    summary = run_build(pool, tmp_path / "sel", keep_unmatched=True, classes=["teapot"])
    assert summary["classes"] == 1 and summary["unlabelled_images"] == len(KEPT)
