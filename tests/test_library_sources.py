"""The embedded library's sources, each on a small fixture of its real layout."""
import json
from pathlib import Path

import pytest

from datasets.build import BuildConfig, build, parse_sources
from datasets.licenses import get_args_parser as licenses_args
from datasets.licenses import main as licenses_main
from datasets.manifest import read_manifest
from scraping import library
from scraping.sources import create_source, embedded
from scraping.sources.fluentui import concept
from scraping.sources.iconify import icon_names, svg_document
from scraping.sources.tuxpaint import read_description
from tests.conftest import SVG, make_image, make_svg, require_library

CIRCLE = '<circle cx="{c}" cy="{c}" r="{r}" fill="#{fill}"/>'


def iconify_set(root: Path, prefix: str, icons: dict, *, aliases=None, palette=True, spdx="CC-BY-4.0", size=32):
    folder = root / prefix
    folder.mkdir(parents=True, exist_ok=True)
    data = {"prefix": prefix, "icons": icons, "aliases": aliases or {}, "width": size, "height": size}
    (folder / "icons.json").write_text(json.dumps(data))
    info = {"prefix": prefix, "name": f"{prefix.title()} Set", "palette": palette,
            "author": {"name": "Some Author", "url": "https://example.org/a"},
            "license": {"title": spdx, "spdx": spdx, "url": f"https://example.org/{spdx}"}}
    (folder / "info.json").write_text(json.dumps(info))
    return folder


def body(i: int) -> dict:
    return {"body": CIRCLE.format(c=16, r=6 + i, fill=f"{i:x}{i:x}3366")}


@pytest.fixture
def iconify_root(tmp_path):
    root = tmp_path / "@iconify-json"
    iconify_set(root, "colour", {
        "teapot": body(1),
        "umbrella": body(2),
        "hammer": {**body(3), "hidden": True},
        "person-surfing": body(4),
        "person-surfing-dark-skin-tone": body(5),
    }, aliases={"teapots": {"parent": "teapot"}, "brolly": {"parent": "umbrella"},
                "flipped-teapot": {"parent": "teapot", "hFlip": True}, "old-teapot": {"parent": "teapots"}})
    (root / "colour" / "metadata.json").write_text(json.dumps({"categories": {"Food & Drink": ["teapot"]}}))
    iconify_set(root, "mono", {"teapot": body(6)}, palette=False)
    iconify_set(root, "closed", {"teapot": body(7)}, spdx="LicenseRef-proprietary")
    return root


def test_iconify_reads_colour_sets_names_and_aliases(iconify_root):
    files = list(create_source("iconify", root=iconify_root).files())
    names = [f.original_name for f in files]
    # hidden icons, skin tones, transformed aliases, monochrome and unlicensed sets are left out
    assert names == ["colour:teapot", "colour:teapots", "colour:old-teapot", "colour:umbrella", "colour:brolly",
                     "colour:person-surfing"]
    teapot, kettle = files[0], files[1]
    assert teapot.data == kettle.data and teapot.path == iconify_root / "colour" / "icons.json"
    assert teapot.data.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"') and b'viewBox="0 0 32 32"' in teapot.data
    assert teapot.meta == {"style": "colour", "set": "Colour Set", "license": "CC-BY-4.0",
                           "license_url": "https://example.org/CC-BY-4.0", "author": "Some Author",
                           "author_url": "https://example.org/a", "title": "teapot", "keywords": ["Food & Drink"]}
    assert kettle.text == "teapots" and kettle.meta["title"] == "teapot"
    assert "keywords" not in files[3].meta  # umbrella: in no category


def test_iconify_full_package_layout_and_svg_defaults(tmp_path):
    (tmp_path / "json").mkdir()
    info = {"name": "Whole", "palette": True, "license": {"spdx": "MIT"}, "author": {"name": "A"}}
    (tmp_path / "json" / "whole.json").write_text(json.dumps({"prefix": "whole", "info": info, "icons": {
        "zebra": {"body": "<path d='M0 0h9v9z'/>", "width": 24, "left": 2}}}))
    (f,) = create_source("iconify", root=tmp_path).files()
    assert f.original_name == "whole:zebra" and f.meta["license"] == "MIT"
    assert svg_document({"body": "<g/>", "width": 24, "left": 2}, {}).endswith(b'viewBox="2 0 24 16"><g/></svg>')
    assert icon_names({"icons": {"a": {"body": ""}}, "aliases": {"b": {"parent": "missing"}}}) == {"a": ["a"]}


def test_fluent_emoji_three_styles_default_tone_only(tmp_path):
    for style, stems in {"flat": ["teapot", "woman-surfing-default", "woman-surfing-dark", "traffic-light"],
                         "modern": ["teapot"], "high-contrast": ["teapot", "woman-surfing-default"]}.items():
        for i, stem in enumerate(stems):
            make_svg(tmp_path / style / f"{stem}.svg", seed=i)
    files = list(create_source("fluentui-emoji", root=tmp_path).files())
    assert [(f.meta["style"], f.text) for f in files] == [
        ("fluent-flat", "teapot"), ("fluent-flat", "traffic-light"), ("fluent-flat", "woman-surfing"),
        ("fluent-modern", "teapot"), ("fluent-high-contrast", "teapot"), ("fluent-high-contrast", "woman-surfing")]
    assert files[0].meta["license"] == "MIT" and files[0].original_name == "flat/teapot.svg"
    assert concept("traffic-light", {"traffic-light"}) == "traffic-light"  # "-light" here is no skin tone


def test_tux_paint_stamps_with_descriptions(tmp_path):
    zebra = tmp_path / "animals" / "mammals"
    make_image(zebra / "zebra.png")
    make_svg(zebra / "zebra.svg")  # drawn both ways: the SVG is read
    make_image(zebra / "zebra_mirror.png", seed=1)
    (zebra / "zebra.txt").write_text("A zebra.\nde.utf8=Ein Zebra.\nfr.utf8=Un zèbre.\n")
    make_image(tmp_path / "town" / "teapot2.png", seed=2)  # no description: the stem is matched
    files = list(create_source("tuxpaint", root=tmp_path).files())
    assert [(f.original_name, f.text) for f in files] == [("animals/mammals/zebra.svg", "A zebra."),
                                                          ("town/teapot2.png", "teapot2")]
    assert files[0].meta["keywords"] == ["animals", "mammals"] and files[0].meta["license"] == "GPL-2.0-or-later"
    (tmp_path / "x.txt").write_text("fr.utf8=Un.\n\n  Un chat noir.  \n")
    assert read_description(tmp_path / "x.txt") == "Un chat noir."
    assert read_description(tmp_path / "absent.txt") is None


def test_build_from_iconify_merges_aliases_and_records_licences(iconify_root, tmp_path):
    out = tmp_path / "out"
    summary = build([create_source("iconify", root=iconify_root)], BuildConfig(out=out, workers=1))
    rows = read_manifest(out / "manifest.jsonl")
    assert {r["label"]: r["original_name"] for r in rows} == {"teapot": "colour:teapot", "umbrella": "colour:umbrella"}
    teapot = next(r for r in rows if r["label"] == "teapot")
    assert teapot["duplicates"] == ["colour:teapots", "colour:old-teapot"]  # the same drawing, merged
    assert (teapot["style"], teapot["set"], teapot["source"]) == ("colour", "Colour Set", "iconify")
    assert Path(teapot["filepath"]).is_file() and (teapot["width"], teapot["height"]) == (256, 256)
    assert all(r["license"] == "CC-BY-4.0" and r["author"] == "Some Author" for r in rows)
    assert summary["per_style"] == [{"source": "iconify", "style": "colour", "images": 2, "classes": 2}]

    assert licenses_main(licenses_args().parse_args(["--manifest", str(out / "manifest.jsonl")])) == 0
    text = (out / "ATTRIBUTION.md").read_text()
    assert "## Colour Set" in text and "Licence: CC-BY-4.0 (https://example.org/CC-BY-4.0)" in text
    assert "Author: Some Author (https://example.org/a)" in text and "| colour:teapot | teapot |" in text


def test_licences_flag_unknown_sources(tmp_path, capsys):
    make_image(tmp_path / "in" / "teapot.png")
    out = tmp_path / "out"
    build(parse_sources(None, [tmp_path / "in"]), BuildConfig(out=out, workers=1))
    (row,) = read_manifest(out / "manifest.jsonl")
    assert row["license"] == "unknown"
    assert licenses_main(licenses_args().parse_args(["--manifest", str(out / "manifest.jsonl"),
                                                     "--out", str(tmp_path / "A.md")])) == 1
    assert "1 images have no known licence" in capsys.readouterr().err
    assert "**Licence unknown.**" in (tmp_path / "A.md").read_text()


def test_embedded_names_every_library_source():
    assert embedded() == ["fluentui-emoji", "iconify", "openclipart", "tuxpaint"]


def test_library_install_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAWNET_CLIPART", str(tmp_path))
    assert library.cache_dir() == tmp_path
    pkg = library.npm_root() / "fluentui-emoji"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"version": "1.3.0"}))
    (library.debian_root("tuxpaint-stamps-default")).mkdir(parents=True)
    (library.debian_root("tuxpaint-stamps-default") / ".version").write_text("2022.06.04-1\n")
    monkeypatch.setattr(library.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    assert library.install_npm({"fluentui-emoji": "1.3.0"}) == []
    assert library.install_debian({"tuxpaint-stamps-default": ()}) == []
    assert {r.package: r.version for r in library.status()}["fluentui-emoji"] == "1.3.0"


@pytest.mark.library
def test_real_library_has_the_same_concepts_in_many_styles():
    """Matching alone (no rendering) over the installed library: one object in a dozen styles."""
    from datasets.build import scan
    from datasets.match import Matcher
    from datasets.vocabulary import load_vocabulary

    for name in embedded():
        require_library(name)
    matcher = Matcher(load_vocabulary(), languages=())
    sources = [create_source(n) for n in ("iconify", "fluentui-emoji", "tuxpaint")]
    candidates, _, rejected, seen = scan(sources, matcher)
    assert seen > 15000 and not rejected
    for label in ("umbrella", "strawberry", "violin", "koala"):
        styles = {c.file.meta["style"] for c in candidates if c.result.matches[0].label == label}
        assert len(styles) >= 12, (label, styles)
    assert all(c.file.meta.get("license") and c.file.meta.get("set") for c in candidates)


def test_svg_fixture_renders_like_a_file(tmp_path):
    from datasets.images import prepare_image

    doc = SVG.format(w=40, h=20, cx=20, cy=10, r=8).encode()
    (tmp_path / "a.svg").write_bytes(doc)
    from_file = prepare_image(tmp_path / "a.svg", tmp_path / "r", 64)
    from_data = prepare_image(tmp_path / "pack.json", tmp_path / "r", 64, data=doc)
    assert from_file == from_data and (from_data.width, from_data.height) == (64, 32)


def test_every_sample_of_the_library_sources_has_a_licence(iconify_root, tmp_path):
    make_svg(tmp_path / "fluent" / "flat" / "umbrella.svg", seed=3)
    make_svg(tmp_path / "fluent" / "modern" / "teapot.svg", seed=4)
    make_image(tmp_path / "stamps" / "animals" / "zebra.png", seed=5)
    (tmp_path / "stamps" / "animals" / "zebra.txt").write_text("A zebra.\n")
    sources = parse_sources(f"iconify={iconify_root},fluentui-emoji={tmp_path / 'fluent'},"
                            f"tuxpaint={tmp_path / 'stamps'}", [])
    out = tmp_path / "out"
    summary = build(sources, BuildConfig(out=out, workers=1))
    rows = read_manifest(out / "manifest.jsonl")
    assert {(r["source"], r["style"], r["label"]) for r in rows} == {
        ("iconify", "colour", "teapot"), ("iconify", "colour", "umbrella"), ("fluentui-emoji", "fluent-flat", "umbrella"),
        ("fluentui-emoji", "fluent-modern", "teapot"), ("tuxpaint", "tuxpaint", "zebra")}
    for r in rows:
        assert r["license"] not in (None, "unknown") and r["license_url"] and r["author"] and r["set"], r
    assert [(t["style"], t["images"]) for t in summary["per_style"]] == [
        ("fluent-flat", 1), ("fluent-modern", 1), ("colour", 2), ("tuxpaint", 1)]
