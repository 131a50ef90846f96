"""scraping.safety: type sniffing by magic bytes, image checks (truncation, bombs, unsafe SVG), safe file names."""
from __future__ import annotations

import base64
import gzip
import io
import struct
import time
import zlib

import pytest
from PIL import Image

from scraping.safety import ImageInfo, Rejected, check_image, filename_from, sanitize_filename, sniff

RASTERS = [("PNG", "png", ".png"), ("JPEG", "jpeg", ".jpg"), ("GIF", "gif", ".gif"), ("WEBP", "webp", ".webp"),
           ("BMP", "bmp", ".bmp"), ("TIFF", "tiff", ".tif")]
XLINK = 'xmlns:xlink="http://www.w3.org/1999/xlink"'


def drawing(size=(120, 80)) -> Image.Image:
    """Something with structure, so truncation loses pixels and phash has edges to see."""
    img = Image.new("RGB", size, "white")
    img.paste((200, 30, 30), (10, 10, size[0] // 2, size[1] // 2))
    img.paste((30, 30, 200), (size[0] // 2, size[1] // 3, size[0] - 5, size[1] - 5))
    return img


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


RECT = '<rect x="5" y="5" width="40" height="20" fill="red"/>'


def svg(body: str = RECT, attrs: str = 'viewBox="0 0 100 50"') -> bytes:
    return f'<svg xmlns="http://www.w3.org/2000/svg" {XLINK} {attrs}>{body}</svg>'.encode()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 1-bit pixels, with almost no image data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def reason(data: bytes, **kw) -> str:
    with pytest.raises(Rejected) as info:
        check_image(data, **kw)
    return info.value.reason


# -- sniffing and good images -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, kind, ext", RASTERS)
def test_rasters_are_sniffed_and_accepted(fmt, kind, ext):
    data = encode(drawing(), fmt)
    assert sniff(data) == kind
    info = check_image(data)
    assert info == ImageInfo(kind, ext, 120, 80, info.phash)
    assert len(info.phash) == 16 and int(info.phash, 16) >= 0


def test_svg_is_sniffed_after_bom_declaration_comments_and_doctype():
    prolog = (b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- Created with Inkscape -->\n'
              b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n')
    assert sniff(svg()) == "svg" and sniff(b"\n  \t" + svg()) == "svg"
    assert sniff(prolog + svg()) == "svg"
    assert check_image(prolog + svg()).kind == "svg"  # the public SVG 1.1 doctype is fine: it declares nothing
    assert sniff(b"<svgfoo/>") is None and sniff(b"hello") is None and sniff(b"BM plain text, not a bitmap") is None


def test_svgz_is_sniffed_inside_and_checked():
    data = gzip.compress(svg())
    assert sniff(data) == "svg"
    info = check_image(data)
    assert (info.kind, info.ext, info.width, info.height) == ("svg", ".svgz", 100, 50)
    assert info.phash == check_image(svg()).phash


def test_svg_size_comes_from_viewbox_and_units():
    info = check_image(svg())
    assert (info.kind, info.ext, info.width, info.height) == ("svg", ".svg", 100, 50)
    assert len(info.phash) == 16 and int(info.phash, 16) != 0
    inches = check_image(svg(attrs='width="4in" viewBox="0 0 100 50"'))  # height from the viewBox's aspect
    assert (inches.width, inches.height) == (384, 192)
    # the same drawing at another intrinsic size hashes the same: the render is bounded and scaled
    assert inches.phash == info.phash


def test_svg_with_a_data_uri_image_is_accepted():
    png = base64.b64encode(encode(drawing((8, 8)), "PNG")).decode()
    info = check_image(svg(f'<image xlink:href="data:image/png;base64,{png}" width="100" height="50"/>'))
    assert (info.kind, info.width, info.height) == ("svg", 100, 50)


def test_svg_links_and_local_fragments_are_accepted():
    body = ('<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>'
            '<a href="https://example.com/"><rect width="50" height="50" style="fill:url(#g)"/></a>'
            '<use xlink:href="#g"/>')
    assert check_image(svg(body)).kind == "svg"


def test_animated_gif_first_frame_is_enough():
    frames = [drawing(), drawing().rotate(90)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert check_image(data).phash == check_image(encode(frames[0], "GIF")).phash


def test_transparency_is_hashed_on_white():
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # transparent black: on white it must look white
    img.paste((0, 0, 255, 255), (16, 16, 48, 48))
    flat = Image.new("RGB", (64, 64), "white")
    flat.paste((0, 0, 255), (16, 16, 48, 48))
    assert check_image(encode(img, "PNG")).phash == check_image(encode(flat, "PNG")).phash


def test_visually_identical_pngs_share_a_phash():
    img = drawing((200, 150))
    fast, small = encode(img, "PNG", compress_level=0), encode(img, "PNG", compress_level=9)
    assert fast != small
    assert check_image(fast).phash == check_image(small).phash
    assert check_image(fast).phash != check_image(encode(img.transpose(Image.Transpose.FLIP_TOP_BOTTOM), "PNG")).phash


# -- rejections -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"<!DOCTYPE html><html><body>Not found</body></html>",
                                  b"\xef\xbb\xbf\n  <HTML lang=en>",
                                  b'<?xml version="1.0"?>\n<!-- x --><html xmlns="http://www.w3.org/1999/xhtml"/>'])
def test_html_served_as_an_image_is_rejected(data):
    assert sniff(data) is None
    assert reason(data) == "html"


def test_empty_and_unknown_bytes():
    assert reason(b"") == "empty"
    assert reason(b"GIF88a not quite") == "not-image"
    assert reason(b'{"error": "rate limited"}') == "not-image"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_rejected(fmt):
    data = encode(drawing((300, 200)), fmt)
    assert sniff(data[: len(data) // 2]) == fmt.lower()  # the magic survives: only decoding finds the cut
    assert reason(data[: len(data) // 2]) == "truncated"


def test_decompression_bombs_are_rejected_before_decoding():
    before = Image.MAX_IMAGE_PIXELS
    start = time.perf_counter()
    assert reason(png_header_only(100_000, 100_000)) == "bomb"  # 10^10 pixels: Pillow's own limit
    assert reason(png_header_only(8000, 8000)) == "bomb"  # 64 M: under Pillow's limit, over ours
    # a complete, valid image over a caller's limit; decoding it would pass
    valid = encode(Image.new("1", (2000, 1000)), "PNG")
    assert check_image(valid).width == 2000
    assert reason(valid, max_pixels=1_000_000) == "bomb"
    assert time.perf_counter() - start < 2  # nothing was decoded: 10^10 pixels would take minutes and gigabytes
    assert Image.MAX_IMAGE_PIXELS == before


def test_svgz_inflating_past_the_cap_is_too_large():
    data = gzip.compress(svg(" " * 200_000))
    assert len(data) < 2_000
    assert reason(data, max_svg_bytes=100_000) == "too-large"
    assert reason(svg(" " * 200_000), max_svg_bytes=100_000) == "too-large"
    assert check_image(data).kind == "svg"


def test_svg_with_an_external_entity_is_unsafe():
    xxe = (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&xxe;</text></svg>')
    assert sniff(xxe) == "svg"
    assert reason(xxe) == "svg-unsafe"


def test_billion_laughs_is_unsafe_and_fast():
    entities = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10 if i else "lol"}">' for i in range(10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]><svg xmlns="http://www.w3.org/2000/svg">&l9;</svg>'
    start = time.perf_counter()
    assert reason(bomb.encode()) == "svg-unsafe"
    assert reason(bomb.encode("utf-16")) == "svg-unsafe"  # the byte scan misses UTF-16; the parser refuses it
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("body", [
    '<image href="file:///etc/passwd" width="10" height="10"/>',
    '<image xlink:href="http://127.0.0.1/x.png" width="10" height="10"/>',
    '<image href="https://example.com/x.png" width="10" height="10"/>',
    '<image href="../secret.png" width="10" height="10"/>',
    '<use xlink:href="other.svg#shape"/>',
    '<rect width="10" height="10" style="fill:url(http://127.0.0.1/p.svg#g)"/>',
    '<rect width="10" height="10" fill="url(file:///etc/passwd#g)"/>',
    '<style>@import url(evil.css);</style>',
    '<script>alert(1)</script>',
    '<rect width="10" height="10" onload="alert(1)"/>',
])
def test_svg_external_references_and_scripts_are_unsafe(body):
    assert check_image(svg('<rect width="10" height="10"/>')).kind == "svg"  # the frame alone is fine
    assert reason(svg(body)) == "svg-unsafe"


def test_svg_nested_in_a_data_uri_gets_the_same_checks():
    inner = base64.b64encode(svg('<image href="file:///etc/passwd" width="1" height="1"/>')).decode()
    assert reason(svg(f'<image href="data:image/svg+xml;base64,{inner}" width="10" height="10"/>')) == "svg-unsafe"
    bomb = base64.b64encode(png_header_only(8000, 8000)).decode()
    assert reason(svg(f'<image href="data:image/png;base64,{bomb}" width="10" height="10"/>')) == "bomb"


def test_stylesheet_processing_instruction_is_unsafe():
    assert reason(b'<?xml-stylesheet type="text/css" href="http://127.0.0.1/a.css"?>' + svg()) == "svg-unsafe"


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect',  # not well-formed
    b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="10" height="10"/></svg>',  # no size: cannot render
    b'<!DOCTYPE svg><html xmlns="http://www.w3.org/1999/xhtml"/>',  # declared svg, is not
    b'<?xml version="1.0" encoding="no-such-codec"?><svg/>',
])
def test_invalid_svg(data):
    assert reason(data) == "svg-invalid"


# -- names ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("../../x.png", "x.png"),
    ("/etc/passwd", "passwd"),
    ("C:\\Windows\\evil.png", "evil.png"),
    ("...", "image"),
    ("", "image"),
    (".hidden.png", "hidden.png"),
    ("a/b/../c.svg", "c.svg"),
    ("hot dog.png", "hot_dog.png"),
    ("caf\u00e9 cr\u00e8me.jpg", "caf\u00e9_cr\u00e8me.jpg"),
    ("cafe\u0301.png", "caf\u00e9.png"),  # NFC
    ("x\x00y.png", "xy.png"),
    ("teapot (1).png", "teapot_1.png"),
    ("-rf.png", "rf.png"),
    ("evil\u202egnp.exe", "evilgnp.exe"),  # bidi override dropped
    ("a..b.png", "a.b.png"),
    ("\uff0e\uff0e\uff0fx.png", "x.png"),  # full-width dots and slash are not letters
    ("\u0422\u0435\u043f\u043b\u043e.svg", "\u0422\u0435\u043f\u043b\u043e.svg"),
])
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize("name", ["CON.png", "con", "nul.tar.gz", "LPT1.jpg", "Aux.svg"])
def test_windows_reserved_names_get_a_suffix(name):
    safe = sanitize_filename(name)
    assert safe.split(".")[0].upper() not in {"CON", "NUL", "LPT1", "AUX"}
    assert safe.lower().startswith(name.split(".")[0].lower())


def test_long_names_keep_their_extension():
    safe = sanitize_filename("x" * 500 + ".png")
    assert len(safe) <= 120 and safe.endswith(".png") and safe.startswith("xxx")
    assert len(sanitize_filename("y" * 50 + ".png", max_length=20)) <= 20
    wide = sanitize_filename("\u4e2d" * 200 + ".png", max_length=200)  # 3 bytes a letter in UTF-8
    assert wide.endswith(".png") and len(wide.encode()) <= 255
    assert sanitize_filename("", default="unnamed") == "unnamed"


@pytest.mark.parametrize("url, disposition, expected", [
    ("http://h/x", 'attachment; filename="../../evil.png"', "evil.png"),
    ("http://h/x", "attachment; filename*=UTF-8''caf%C3%A9.png", "caf\u00e9.png"),
    ("http://h/x", "attachment; filename=\"plain.png\"; filename*=UTF-8''caf%C3%A9.png", "caf\u00e9.png"),
    ("http://h/x", 'attachment; filename="caf\u00c3\u00a9.png"', "caf\u00e9.png"),  # raw UTF-8 read as Latin-1
    ("http://h/x.png", 'attachment; filename="..."', "x.png"),  # nothing usable: the URL's name
    ("http://h/x.png", "inline", "x.png"),
    ("http://h/img/teapot.png?size=2", None, "teapot.png"),
    ("http://h/img/hot%20dog.png#frag", None, "hot_dog.png"),
    ("http://h/img/", None, "image"),
    ("http://h", None, "image"),
])
def test_filename_from(url, disposition, expected):
    assert filename_from(url, disposition) == expected


def test_filename_from_encoded_traversal():
    name = filename_from("http://h/a/..%2F..%2Fetc%2Fpasswd")
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name == "passwd"
    assert "/" not in filename_from("http://h/a/..%5C..%5Cwin.ini") and filename_from("http://h/%2E%2E") == "image"
