import pytest

from scraping.sources import available, create_source
from scraping.sources.openclipart import LICENSES, read_metadata, strip_author_tail


@pytest.mark.parametrize(
    "stem, author, text",
    [
        ("venus_dan_gerhards_01", "Dan Gerhards", "venus"),
        ("hammer_nicu_buculei_01", "Nicu Buculei", "hammer"),
        ("siringa_architetto_franc_01", "Architetto Francesco Rollandin", "siringa"),  # cut-off tail
        ("recycling_box_a.j._ashto_01", "A.J. Ashton", "recycling_box"),
        ("pill-button-purple_benji_01", "Benji Park", "pill-button-purple"),  # first name only, name cut
        ("boy_astrid_graeber_", "Astrid Graeber", "boy"),
        ("altum_angelfish_01", "Jonathon Love", "altum_angelfish"),  # no author in the name
        ("hot_dog", "Dog Man", "hot_dog"),  # short name: a partial author match is a real word
        ("blue_jean_01", "Jean", "blue"),  # a whole author tail always goes
        ("teapot_02", None, "teapot"),
        ("01", "Someone", ""),
    ],
)
def test_strip_author_tail(stem, author, text):
    assert strip_author_tail(stem, author) == text


def test_read_metadata():
    svg = b"""<svg><metadata><rdf:RDF><cc:Work rdf:about=""><dc:title>Teapot &amp; cup</dc:title>
    <dc:subject><rdf:Bag><rdf:li>tea</rdf:li><rdf:li>kitchen</rdf:li></rdf:Bag></dc:subject>
    <dc:creator><cc:Agent><dc:title>Nicu Buculei</dc:title></cc:Agent></dc:creator></cc:Work></rdf:RDF></metadata></svg>"""
    assert read_metadata(svg) == {"author": "Nicu Buculei", "title": "Teapot & cup", "keywords": ["tea", "kitchen"],
                                  "license": "public domain", "license_url": LICENSES["publicdomain"][1]}
    assert read_metadata(b"<svg/>") == {"license": "public domain", "license_url": LICENSES["publicdomain"][1]}
    gpl = b'<svg><cc:license rdf:resource="http://creativecommons.org/licenses/GPL/2.0/" /></svg>'
    assert read_metadata(gpl)["license"] == "GPL-2.0-or-later"


def test_registry():
    assert {"dir", "openclipart"} <= set(available())
    with pytest.raises(ValueError, match="unknown source 'nope'.*available: "):
        create_source("nope")


def test_missing_roots_are_clear(tmp_path):
    for name in ("openclipart", "iconify", "fluentui-emoji", "tuxpaint"):
        with pytest.raises(FileNotFoundError, match=r"python -m scraping.library --install"):
            create_source(name, root=tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        create_source("dir", root=tmp_path / "absent")


def test_folder_source_walks_sorted_and_skips_hidden(tmp_path):
    for rel in ["b/zebra.png", "a/teapot.png", ".hidden/x.png", "a/.DS_Store"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    files = list(create_source("dir", root=tmp_path).files())
    assert [f.original_name for f in files] == ["a/teapot.png", "b/zebra.png"]
    assert files[0].text == "teapot" and "clipart" in files[0].noise
