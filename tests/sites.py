"""Local web sites for the scraper's tests and benchmark: an HTTP server on 127.0.0.1 in a thread.

A ``Site`` maps paths to responses: bytes (served as 200 with a content type from the
extension, or a given one), or a function ``handler(request) -> None`` that writes its
own answer for the faults (slow, truncated, redirect loops...). Every request is logged
with its time, so tests can check rates and counts.
"""
from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw

TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml",
         ".html": "text/html; charset=utf-8", ".txt": "text/plain"}


def png(seed: int, size: tuple[int, int] = (64, 64)) -> bytes:
    """A distinct small drawing per seed (different seeds never hash alike, perceptually too)."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h = size
    for k in range(4):
        x, y = (seed * 37 + k * 53) % (w - 8), (seed * 91 + k * 29) % (h - 8)
        draw.rectangle((x, y, x + 6 + (seed + k) % (w // 2), y + 6 + (seed * k) % (h // 2)),
                       fill=((seed * 70 + k * 40) % 256, (seed * 13) % 256, (k * 90) % 256))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class Site:
    def __init__(self, routes: dict[str, bytes | tuple | Callable] | None = None):
        self.routes: dict = dict(routes or {})
        self.log: list[tuple[float, str]] = []  # (time.monotonic(), path) per request
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                with site.lock:
                    site.log.append((time.monotonic(), self.path))
                route = site.routes.get(self.path)
                if route is None:
                    route = site.routes.get(self.path.split("?")[0])
                if route is None:
                    return self.answer(404, b"not found", "text/plain")
                if callable(route):
                    return route(self)
                if isinstance(route, tuple):  # (status, headers, body)
                    status, headers, body = route
                    return self.answer(status, body, headers=headers)
                ext = "." + self.path.split("?")[0].rsplit(".", 1)[-1] if "." in self.path else ".html"
                return self.answer(200, route, TYPES.get(ext, "application/octet-stream"))

            def answer(self, status: int, body: bytes, content_type: str | None = None, headers: dict | None = None):
                self.send_response(status)
                headers = dict(headers or {})
                if content_type:
                    headers.setdefault("Content-Type", content_type)
                headers.setdefault("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests_to(self, path: str) -> int:
        return sum(1 for _, p in self.log if p == path)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def gallery_page(images: list[str], next_url: str | None = None, title: str = "Gallery") -> bytes:
    """A plain gallery page: what the html source reads with no configuration."""
    tiles = "".join(f'<li><a href="{src}"><img src="{src}" alt="{src.rsplit("/", 1)[-1].split(".")[0]}" '
                    f'width="64" height="64"></a></li>' for src in images)
    nxt = f'<a rel="next" href="{next_url}">next</a>' if next_url else ""
    return (f"<!doctype html><html><head><title>{title}</title><meta name='author' content='Test Artist'></head>"
            f"<body><ul>{tiles}</ul>{nxt}</body></html>").encode()
