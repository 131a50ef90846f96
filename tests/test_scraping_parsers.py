"""Web source parsers read saved pages (tests/fixtures/sites/, authored to mirror the real sites) exactly."""
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest

import scraping.sources
from scraping.sources.html import HtmlSource, load_config
from scraping.sources.web import ImageLink, create_web_source, web_sources

SITES = Path(__file__).parent / "fixtures" / "sites"
LOCAL = "http://127.0.0.1:8000"
GENERIC = f"{LOCAL}/generic/"
OCAL = "https://openclipart.org"
COMMONS = "https://commons.wikimedia.org"
UPLOAD = "https://upload.wikimedia.org/wikipedia/commons"


def parse(source, site: str, name: str, url: str):
    return source.parse(url, (SITES / site / name).read_bytes(), content_type="text/html; charset=UTF-8")


def page_of(html: str, url: str = "https://example.org/dir/page.html", **config):
    return HtmlSource(config or None).parse(url, html)


# --- html: defaults -------------------------------------------------------------------------------------------

def test_gallery_defaults_take_every_image_and_rel_next():
    url = GENERIC + "gallery.html"
    page = parse(HtmlSource(), "generic", "gallery.html", url)
    credit = dict(author="Ada Lovelace", license="https://creativecommons.org/licenses/by/4.0/")
    page_title = "Teapot clip art gallery | Free Clip Art Corner"
    assert page.images == [
        ImageLink(f"{LOCAL}/static/icons/logo.png", url, "Free Clip Art Corner", **credit),
        ImageLink(f"{LOCAL}/images/teapot-red.png", url, "Red teapot", **credit),  # its repeat and #zoom link go
        ImageLink(f"{LOCAL}/images/teapot-blue-800.png", url, "Blue teapot", **credit),  # srcset's largest
        ImageLink(f"{LOCAL}/images/teapot-green.png", url, "Green teapot", **credit),  # data-src over a data: src
        ImageLink(f"{LOCAL}/images/full/teapot-gold.JPG?v=3", url, "Gold teapot (full size)", **credit),  # not thumb
        ImageLink(f"{LOCAL}/download/1/teapot.svg", url, page_title, **credit),
        ImageLink(f"{LOCAL}/static/spacer.gif", url, page_title, **credit),
        ImageLink("https://tracker.example.net/p.gif?id=1", url, page_title, **credit),
    ]
    assert page.follow == []
    assert page.next == [GENERIC + "gallery-2.html"]  # <link rel=next> and <a rel=next ...#top> are one page
    assert page.problems == []


def test_base_href_resolves_every_link():
    url = GENERIC + "gallery-2.html"
    page = parse(HtmlSource(), "generic", "gallery-2.html", url)
    assert [(i.url, i.title) for i in page.images] == [
        (f"{LOCAL}/cdn/teapots/white.png", "White teapot"),
        (f"{LOCAL}/cdn/teapots/sketches/pencil.gif", "Pencil teapot"),
        (f"{LOCAL}/cdn/sketch.SVGZ", "Teapot clip art gallery, page 2 | Free Clip Art Corner"),
        ("http://static.example.org/teapot-cdn.webp", "CDN teapot"),
        (f"{LOCAL}/images/teapot-black.png", "Black teapot"),
    ]
    assert {(i.author, i.license) for i in page.images} == {(None, None)}
    assert page.next == [] and page.follow == [] and page.problems == []


def test_absolute_base_href_and_unusable_base():
    html = '<base href="https://cdn.example.net/art/"><img src="a.png"><a href="/b.svg">b</a>'
    assert [i.url for i in page_of(html).images] == ["https://cdn.example.net/art/a.png", "https://cdn.example.net/b.svg"]
    html = '<base href="javascript:alert(1)"><img src="a.png">'
    assert [i.url for i in page_of(html).images] == ["https://example.org/dir/a.png"]


def test_page_without_images_yields_nothing_and_says_why():
    url = GENERIC + "no-images.html"
    page = parse(HtmlSource(), "generic", "no-images.html", url)
    assert (page.images, page.follow, page.next) == ([], [], [])
    assert page.problems == ["no <img> or link to an image file on the page"]

    configured = parse(HtmlSource(load_config(SITES / "generic" / "config.toml")), "generic", "no-images.html", url)
    assert (configured.images, configured.follow, configured.next) == ([], [], [])
    assert configured.problems == ["no element matched image selector 'div.artwork img'",
                                   "no element matched follow selector 'div.results a.item'"]
    for name in web_sources():  # every preset, on a page of some other site
        page = parse(create_web_source(name), "generic", "no-images.html", url)
        assert page.images == [] and page.problems


def test_unusable_urls_are_dropped_and_repeats_go():
    html = """<title>T</title>
    <img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">
    <img src="javascript:alert(1)"> <img src=" JavaScript:void(0) "> <img src="http://[::1/x.png">
    <a href="mailto:me@example.org?subject=x.png">mail</a> <a href="ftp://example.org/x.png">ftp</a>
    <img src="a.png#top"> <img src="a.png"> <a href="A.PNG?size=big"><b>big</b></a> <a href="a.png.html">page</a>
    <img src="//cdn.example.org/c.gif" alt="C"> <img> <img src="">"""
    page = page_of(html)
    assert [i.url for i in page.images] == ["https://example.org/dir/a.png", "https://example.org/dir/A.PNG?size=big",
                                            "https://cdn.example.org/c.gif"]
    assert page.problems == []


@pytest.mark.parametrize("srcset, expected", [
    ("s.png 1x, l.png 2x", "l.png"),
    ("s.png 300w, xl.png 1200w, m.png 600w", "xl.png"),
    ("only.png", "only.png"),
    ("s.png, l.png 1.5x", "l.png"),  # no descriptor means 1x
    ("https://cdn.example.org/w_300,h_200/a.png 1x, https://cdn.example.org/w_900,h_600/a.png 3x",
     "https://cdn.example.org/w_900,h_600/a.png"),  # commas inside URLs
])
def test_srcset_largest(srcset, expected):
    page = page_of(f'<img src="fallback.png" srcset="{srcset}">', url="https://example.org/")
    assert [i.url for i in page.images] == [urljoin("https://example.org/", expected)]


def test_lazy_data_srcset_beats_placeholder():
    html = '<img src="blank.gif" srcset="blank.gif 1x" data-srcset="real.png 1x, real@2x.png 2x" alt="R">'
    assert [i.url for i in page_of(html).images] == ["https://example.org/dir/real@2x.png"]


def test_default_metadata_from_meta_author_and_license_links():
    html = """<html><head><title>  Teapots
      page </title><meta name="Author" content=" Nicu  Buculei "><link rel="license" href="/license.html"></head>
    <body><img src="a.png"><img src="b.png" alt="  Bee  "><footer><a rel="license nofollow" href="/license.html">L</a>
    <a rel="license" href="https://creativecommons.org/licenses/by/4.0/">CC BY</a></footer></body></html>"""
    page = page_of(html)
    license = "https://example.org/license.html; https://creativecommons.org/licenses/by/4.0/"
    assert page.images == [
        ImageLink("https://example.org/dir/a.png", "https://example.org/dir/page.html", "Teapots page", "Nicu Buculei",
                  license),
        ImageLink("https://example.org/dir/b.png", "https://example.org/dir/page.html", "Bee", "Nicu Buculei", license),
    ]


def test_not_html_is_refused_and_encodings_are_read():
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
    assert HtmlSource().parse("https://example.org/x", png, content_type="image/png").problems == [
        "not an HTML page (content type image/png)"]
    assert HtmlSource().parse("https://example.org/x", b"  \n").problems == ["empty page"]

    title = "Théière “Brown Betty”"
    declared = f'<meta charset="windows-1252"><title>{title}</title><img src="t.png">'.encode("cp1252")
    undeclared = f"<title>{title}</title><img src=t.png>".encode("cp1252")
    utf8 = f"<title>{title}</title><img src=t.png>".encode()
    for body, content_type in [(declared, None), (declared, "text/html; charset=no-such-charset"),
                               (undeclared, None), (undeclared, "text/html; charset=utf-8"), (utf8, None),
                               (utf8, 'text/html; charset="UTF-8"'), (utf8.decode(), "text/html; charset=latin-1")]:
        assert HtmlSource().parse("https://example.org/", body, content_type=content_type).images[0].title == title


# --- html: config ---------------------------------------------------------------------------------------------

def test_config_selectors_replace_defaults():
    source = HtmlSource(load_config(SITES / "generic" / "config.toml"))

    results = parse(source, "generic", "results.html", GENERIC + "results.html")
    assert results.images == []  # thumbnails in the results are not the drawings
    assert results.follow == [GENERIC + "item-1.html", GENERIC + "item-2.html?from=search"]
    assert results.next == [GENERIC + "results-2.html"]
    assert results.problems == []

    last = parse(source, "generic", "results-2.html", GENERIC + "results-2.html")
    assert (last.follow, last.next, last.problems) == ([GENERIC + "item-2.html"], [], [])

    # The badge is below min_width, the zoom icon and the SPRITE are excluded; the author link beats
    # <meta name=author>, and the licence link beats the <link rel=license> of the site's text.
    item = parse(source, "generic", "item-1.html", GENERIC + "item-1.html")
    assert item.images == [ImageLink(f"{LOCAL}/download/1/teapot.svg", GENERIC + "item-1.html", "Teapot with steam",
                                     "Grace Hopper", "https://creativecommons.org/publicdomain/zero/1.0/")]
    assert (item.follow, item.next, item.problems) == ([], [], [])

    anonymous = parse(source, "generic", "item-2.html", GENERIC + "item-2.html")
    assert anonymous.images == [ImageLink(f"{LOCAL}/images/striped-1200.png", GENERIC + "item-2.html",
                                          "Striped teapot", None, "https://creativecommons.org/licenses/by/4.0/")]
    assert anonymous.problems == ["no element matched author selector '.author a'"]

    # The page the defaults take eight images from has nothing the config asks for.
    gallery = parse(source, "generic", "gallery.html", GENERIC + "gallery.html")
    assert (gallery.images, gallery.next) == ([], [])


def test_title_attribute_and_filters():
    html = """<title>Page</title><img src="a.png" alt="Alt A" title="Title A"><img src="b.png" alt="Alt B">
    <img src="c.png"><img src="icon.png" width="16px" height="16"><img src="wide.png" width="100%">
    <img src="/Static/Sprites/s.png" width="64" height="64">"""
    filters = {"min_width": 32, "url_exclude": ["/static/sprites/"]}
    by_title = page_of(html, selectors={"title": "title"}, filters=filters)
    assert [(i.url.rsplit("/", 1)[1], i.title) for i in by_title.images] == [
        ("a.png", "Title A"), ("b.png", "Alt B"), ("c.png", "Page"), ("wide.png", "Page")]
    by_alt = page_of(html, selectors={"title": "alt"}, filters=filters)
    assert [i.title for i in by_alt.images] == ["Alt A", "Alt B", "Page", "Page"]
    by_css = page_of(html + "<h1> Big   title </h1>", selectors={"title": "h1"})
    assert {i.title for i in by_css.images} == {"Big title"}

    all_dropped = page_of('<img src="icon.png" width="8"><img src="data:,x">', filters=filters)
    assert all_dropped.images == []
    assert all_dropped.problems == ["all 2 image candidate(s) dropped: no http(s) URL, too small or excluded"]


def test_selector_naming_a_container_follows_its_link():
    html = '<div class="hit"><span><a href="/d/1">one</a></span></div><div class="hit">no link</div>'
    page = page_of(html, selectors={"follow": "div.hit", "next": "li.next"})
    assert page.follow == ["https://example.org/d/1"] and page.next == [] and page.problems == []


def test_config_files_and_their_mistakes(tmp_path):
    config = load_config(SITES / "generic" / "config.toml")
    assert set(config["selectors"]) == {"image", "follow", "next", "title", "author", "license"}
    assert config["filters"] == {"min_width": 32, "url_exclude": ["/static/icons/", "sprite"]}

    for text, message in [
        ('[selectors]\nimages = "img"\n', r"unknown key\(s\) images; known: image, follow"),
        ('selector = 1\n', r"unknown key\(s\) selector"),
        ('[filters]\nmin_width = "32"\n', "min_width must be a whole number"),
        ('[filters]\nurl_exclude = [1]\n', "url_exclude must be a list"),
        ('query_template = "https://example.org/?q=teapot"\n', "has no {query}"),
        ('query_template = "https://example.org/?q={query}&x={page}"\n', "only {query} may appear"),
    ]:
        (tmp_path / "bad.toml").write_text(text)
        with pytest.raises(ValueError, match=message):
            load_config(tmp_path / "bad.toml")
    with pytest.raises(ValueError, match="selector image = 'div..': "):
        HtmlSource({"selectors": {"image": "div.."}})
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ValueError, match=r"\.toml, \.yaml or \.yml"):
        load_config(tmp_path / "c.json")


def test_yaml_config_reads_like_toml(tmp_path):
    pytest.importorskip("yaml")
    (tmp_path / "c.yaml").write_text('selectors:\n  image: "div.artwork img"\nfilters:\n  min_width: 32\n')
    assert load_config(tmp_path / "c.yaml") == {"selectors": {"image": "div.artwork img"}, "filters": {"min_width": 32}}


# --- openclipart.org ------------------------------------------------------------------------------------------

def test_openclipart_search_pages():
    source = create_web_source("openclipart.org")
    first = parse(source, "openclipart.org", "search-teapot-p1.html", f"{OCAL}/search/?query=teapot")
    assert first.images == []
    assert first.follow == [f"{OCAL}/detail/331191/teapot", f"{OCAL}/detail/290542/blue-teapot",
                            f"{OCAL}/detail/77215/teapot-and-cup"]
    assert first.next == [f"{OCAL}/search/?query=teapot&p=2"]
    assert first.problems == []

    last = parse(source, "openclipart.org", "search-teapot-p2.html", f"{OCAL}/search/?query=teapot&p=2")
    assert last.follow == [f"{OCAL}/detail/188463/teapot-silhouette", f"{OCAL}/detail/24096/japanese-teapot"]
    assert last.next == [] and last.problems == []  # "Next" is disabled (href="#"), "Previous" is no next page


@pytest.mark.parametrize("name, url, expected, problems", [
    ("detail-1.html", f"{OCAL}/detail/331191/teapot",
     ImageLink(f"{OCAL}/download/331191/teapot.svg", f"{OCAL}/detail/331191/teapot", "Teapot", "j4p4n",
               "https://creativecommons.org/publicdomain/zero/1.0/"), []),
    ("detail-2.html", f"{OCAL}/detail/290542/blue-teapot",  # states no licence: openclipart's own is CC0
     ImageLink(f"{OCAL}/download/290542/blue-teapot.svg", f"{OCAL}/detail/290542/blue-teapot", "Blue Teapot", "GDJ",
               "CC0-1.0"), ["no element matched license selector 'a[rel~=\"license\"][href]'"]),
    ("detail-3.html", f"{OCAL}/detail/77215/teapot-and-cup",
     ImageLink(f"{OCAL}/download/77215/teapot-and-cup.svg", f"{OCAL}/detail/77215/teapot-and-cup", "Teapot & Cup",
               "Firkin", "https://creativecommons.org/publicdomain/zero/1.0/"), []),
])
def test_openclipart_detail_pages(name, url, expected, problems):
    page = parse(create_web_source("openclipart.org"), "openclipart.org", name, url)
    assert page.images == [expected]  # the SVG only: not the PNG preview, avatar or related tiles
    assert page.follow == [] and page.next == []  # a detail page is a leaf
    assert page.problems == problems


# --- commons.wikimedia.org ------------------------------------------------------------------------------------

def test_commons_category_pages():
    source = create_web_source("commons.wikimedia.org")
    first = parse(source, "commons.wikimedia.org", "category-clip-art-of-teapots.html",
                  f"{COMMONS}/wiki/Category:Clip_art_of_teapots")
    assert first.images == []  # gallery thumbnails are not the files
    assert first.follow == [f"{COMMONS}/wiki/File:Teapot_clip_art.svg", f"{COMMONS}/wiki/File:Brown_Betty_teapot.png",
                            f"{COMMONS}/wiki/File:Teapot_(Gerald_G.).svg"]
    assert first.next == [f"{COMMONS}/w/index.php?title=Category:Clip_art_of_teapots"
                          "&filefrom=Teapot+silhouette.svg%0ATeapot+silhouette.svg"]  # not the subcategories' next
    assert first.problems == []

    last = parse(source, "commons.wikimedia.org", "category-clip-art-of-teapots-p2.html", first.next[0])
    assert (last.follow, last.next, last.problems) == ([f"{COMMONS}/wiki/File:Teapot_silhouette.svg"], [], [])


@pytest.mark.parametrize("name, file, author, license, problems", [
    ("file-teapot-clip-art.html", "7/7c/Teapot_clip_art.svg", "Example", "CC0", []),
    ("file-brown-betty-teapot.html", "3/3e/Brown_Betty_teapot.png", "Jane Doe (talk)", "GFDL; CC BY-SA 3.0", []),
    ("file-teapot-gerald-g.html", "a/a1/Teapot_(Gerald_G.).svg", None, "CC0",
     ["no element matched author selector 'td#fileinfotpl_aut + td'"]),
])
def test_commons_file_pages(name, file, author, license, problems):
    url = f"{COMMONS}/wiki/File:{file.rsplit('/', 1)[1]}"
    page = parse(create_web_source("commons.wikimedia.org"), "commons.wikimedia.org", name, url)
    # The original file, not its previews or history; the site's text licence (CC BY-SA 4.0) is not the file's.
    assert page.images == [ImageLink(f"{UPLOAD}/{file}", url, file.rsplit("/", 1)[1].replace("_", " "), author,
                                     license)]
    assert page.follow == [] and page.next == [] and page.problems == problems


# --- start URLs and the registry ------------------------------------------------------------------------------

def test_start_urls():
    html = HtmlSource(query_template="https://clipart.example.org/search?q={query}+clipart")
    assert html.start_urls(query=" tea pot&cup ") == ["https://clipart.example.org/search?q=tea+pot%26cup+clipart"]
    assert html.start_urls(query="teapot", start_url="https://example.org/a") == ["https://example.org/a"]
    with pytest.raises(ValueError, match="needs a start URL or a query"):
        html.start_urls()
    with pytest.raises(ValueError, match="only http"):
        html.start_urls(start_url="file:///etc/passwd")
    with pytest.raises(ValueError, match="'html' has no query template"):
        HtmlSource().start_urls(query="teapot")
    with pytest.raises(ValueError, match="has no {query}"):
        HtmlSource(query_template="https://example.org/")

    from_config = create_web_source("html", config=load_config(SITES / "generic" / "config.toml"))
    assert from_config.start_urls(query="teapot") == ["https://clipart.example.org/search?q=teapot+clipart"]
    assert create_web_source("openclipart.org").start_urls(query="tea pot") == [
        "https://openclipart.org/search/?query=tea+pot"]
    commons = create_web_source("commons.wikimedia.org")
    with pytest.raises(ValueError, match="no query template: give a start URL"):
        commons.start_urls(query="teapot")
    category = f"{COMMONS}/wiki/Category:Clip_art_of_teapots"
    assert commons.start_urls(start_url=category) == [category]


def test_web_registry_is_apart_from_the_library_one():
    names = web_sources()
    assert {"html", "openclipart.org", "commons.wikimedia.org"} <= set(names) and names == sorted(names)
    with pytest.raises(ValueError, match="unknown web source 'nope'; available: .*commons.wikimedia.org, html, "):
        create_web_source("nope")
    library = scraping.sources.available()
    assert {"dir", "openclipart"} <= set(library) and not set(library) & set(names)
    with pytest.raises(ValueError, match="unknown source 'html'"):
        scraping.sources.create_source("html")


def test_listing_sources_imports_no_parser():
    code = ("import sys, scraping.sources as s; s.available(); from scraping.sources.web import web_sources; "
            "web_sources(); print(sorted(m for m in ('bs4', 'soupsieve') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"
