"""The crawler against local sites on 127.0.0.1: politeness, the fault matrix, dedup, and kill-and-resume."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from scraping.crawl import CrawlConfig, crawl, format_summary
from scraping.fetch import FetchConfig, Fetcher, HostLimiter
from tests.sites import Site, gallery_page, png

ROOT = Path(__file__).resolve().parents[1]


def fast(**kw) -> FetchConfig:
    """Test settings: local hosts allowed, no waiting between requests, quick retries."""
    return FetchConfig(**{"allow_private_hosts": True, "rate": 1000.0, "backoff": 0.01, "timeout": 2.0, **kw})


def bomb_png() -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, "PNG")  # 64 Mpx (over the 40 Mpx limit) in a few kB
    return buf.getvalue()


XXE_SVG = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&xxe;</text></svg>"""


def manifest_rows(store: Path) -> list[dict]:
    return [json.loads(line) for line in (store / "manifest.jsonl").read_text().splitlines()]


def journal(store: Path) -> dict[str, tuple]:
    with sqlite3.connect(store / "journal.sqlite") as db:
        return {url: (state, reason) for url, state, reason in db.execute("SELECT url, state, reason FROM tasks")}


# -- politeness


def test_default_refuses_private_hosts_and_other_schemes():
    with Site({"/a.png": png(1)}) as site:
        fetcher = Fetcher(FetchConfig(rate=1000))
        got = fetcher.get(site.url + "/a.png")
        assert got.body is None and "private or loopback" in got.skipped
        assert site.requests_to("/a.png") == 0
        for url in ("file:///etc/passwd", "ftp://example.org/x.png", "javascript:alert(1)"):
            assert "not http(s)" in Fetcher(fast()).get(url).skipped


def test_robots_txt_disallow_and_user_agent():
    seen = {}

    def robots(req):
        seen["ua"] = req.headers.get("User-Agent")
        req.answer(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")

    with Site({"/robots.txt": robots, "/private/a.png": png(1), "/public/b.png": png(2)}) as site:
        fetcher = Fetcher(fast(contact="ops@example.org"))
        assert fetcher.get(site.url + "/private/a.png").skipped == "disallowed by robots.txt"
        assert fetcher.get(site.url + "/public/b.png").ok
        assert site.requests_to("/private/a.png") == 0 and site.requests_to("/robots.txt") == 1
        assert "drawnet/" in seen["ua"] and "ops@example.org" in seen["ua"]


def test_robots_txt_5xx_forbids_and_404_allows():
    with Site({"/robots.txt": (503, {}, b"down"), "/a.png": png(1)}) as down, Site({"/a.png": png(1)}) as missing:
        assert Fetcher(fast(retries=0)).get(down.url + "/a.png").skipped == "disallowed by robots.txt"
        assert Fetcher(fast()).get(missing.url + "/a.png").ok


def test_x_robots_tag_noai_is_respected_unless_allowed():
    with Site({"/a.png": (200, {"Content-Type": "image/png", "X-Robots-Tag": "noindex, noai"}, png(1))}) as site:
        assert "noai" in Fetcher(fast()).get(site.url + "/a.png").skipped
        assert Fetcher(fast(respect_noai=False)).get(site.url + "/a.png").ok


def test_host_limiter_spaces_requests_per_host_with_a_fake_clock():
    now = [0.0]
    sleeps = []

    def sleep(s):
        sleeps.append(round(s, 6))
        now[0] += s

    limiter = HostLimiter(0.5, clock=lambda: now[0], sleep=sleep)
    for host in ("a", "a", "b", "a"):
        limiter.wait(host)
    # a at 0, a at 0.5, b at once (0.5: its own clock), a at 1.0
    assert sleeps == [0.5, 0.5]
    assert now[0] == pytest.approx(1.0)


def test_rate_limit_holds_against_a_real_server_and_hosts_run_in_parallel():
    from concurrent.futures import ThreadPoolExecutor

    routes = {f"/{i}.png": png(i) for i in range(6)}
    with Site(routes) as one, Site(routes) as two:
        fetcher = Fetcher(fast(rate=10.0))  # 0.1 s between requests to one host
        urls = [s.url + f"/{i}.png" for i in range(6) for s in (one, two)]
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            assert all(r.ok for r in pool.map(fetcher.get, urls))
        elapsed = time.monotonic() - start
        for site in (one, two):
            times = sorted(t for t, p in site.log if p.endswith(".png"))
            gaps = [b - a for a, b in zip(times, times[1:])]
            assert min(gaps) >= 0.09, gaps  # never faster than the rate
        # two hosts in parallel: about 6 intervals, not 12 (robots.txt takes one slot per host)
        assert elapsed < 1.0, elapsed


# -- the fault matrix


def test_500s_are_retried_then_given_up():
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] <= 2:
            return req.answer(500, b"oops", "text/plain")
        req.answer(200, png(1), "image/png")

    with Site({"/flaky.png": flaky, "/broken.png": (500, {}, b"no")}) as site:
        fetcher = Fetcher(fast(retries=3))
        assert fetcher.get(site.url + "/flaky.png").ok and calls["n"] == 3
        broken = fetcher.get(site.url + "/broken.png")
        assert broken.body is None and broken.error == "HTTP 500"
        assert site.requests_to("/broken.png") == 4  # the first try and 3 retries


def test_429_retry_after_is_honoured():
    calls = []

    def limited(req):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return req.answer(429, b"slow down", "text/plain", {"Retry-After": "1"})
        req.answer(200, png(1), "image/png")

    with Site({"/a.png": limited}) as site:
        assert Fetcher(fast()).get(site.url + "/a.png").ok
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.95


def test_slow_response_hits_the_timeout_and_a_trickle_hits_the_deadline():
    def slow(req):
        time.sleep(1.5)
        req.answer(200, png(1), "image/png")

    def trickle(req):
        req.send_response(200)
        req.send_header("Content-Type", "image/png")
        req.send_header("Content-Length", "400")
        req.end_headers()
        for _ in range(40):
            req.wfile.write(b"x" * 10)
            req.wfile.flush()
            time.sleep(0.05)

    with Site({"/slow.png": slow, "/trickle.png": trickle}) as site:
        got = Fetcher(fast(timeout=0.5, retries=0)).get(site.url + "/slow.png")
        assert got.body is None and "Timeout" in got.error
        got = Fetcher(fast(deadline=0.5, retries=0)).get(site.url + "/trickle.png")
        assert got.body is None and "too slow" in got.error


def test_truncated_body_and_oversized_body():
    def truncated(req):
        req.send_response(200)
        req.send_header("Content-Type", "image/png")
        req.send_header("Content-Length", "5000")
        req.end_headers()
        req.wfile.write(png(1)[:300])
        req.wfile.flush()
        req.close_connection = True

    big = png(2) + b"\0" * 5000
    with Site({"/cut.png": truncated, "/big.png": big}) as site:
        got = Fetcher(fast(retries=0)).get(site.url + "/cut.png")
        assert got.body is None and "truncated" in got.error
        got = Fetcher(fast(max_bytes=4096)).get(site.url + "/big.png")
        assert got.body is None and "too large" in got.error


def test_redirect_loop_and_redirect_to_a_forbidden_place():
    routes = {"/loop-a": (302, {"Location": "/loop-b"}, b""), "/loop-b": (302, {"Location": "/loop-a"}, b""),
              "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
              "/hop": (301, {"Location": "/final.png"}, b""), "/final.png": png(3)}
    with Site(routes) as site:
        fetcher = Fetcher(fast())
        assert "redirect loop" in fetcher.get(site.url + "/loop-a").error
        assert "not http(s)" in fetcher.get(site.url + "/to-file").skipped
        hop = fetcher.get(site.url + "/hop")
        assert hop.ok and hop.final_url == site.url + "/final.png"


def crawl_urls(tmp_path: Path, site: Site, paths: list[str], **fetch) -> Path:
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"{site.url}{p}\n" for p in paths) + "# a comment\n\n")
    store = tmp_path / "store"
    crawl(CrawlConfig(source="urls", out=store, urls_file=listing, connections=4, fetch=fast(**fetch)))
    return store


def test_bad_files_are_failed_with_their_reason_and_good_ones_stored(tmp_path):
    routes = {
        "/good.png": png(1),
        "/html.png": (200, {"Content-Type": "image/png"}, b"<!doctype html><html><body>Not found</body></html>"),
        "/bomb.png": bomb_png(),
        "/zero.png": (200, {"Content-Type": "image/png"}, b""),
        "/xxe.svg": XXE_SVG,
        "/half.png": (200, {"Content-Type": "image/png"}, png(2)[:200]),
    }
    with Site(routes) as site:
        store = crawl_urls(tmp_path, site, list(routes))
    states = {url.rsplit("/", 1)[-1]: v for url, v in journal(store).items()}
    assert states["good.png"][0] == "done"
    assert states["html.png"] == ("failed", states["html.png"][1]) and states["html.png"][1].startswith("html")
    assert states["bomb.png"][1].startswith("bomb")
    assert states["zero.png"][1].startswith("empty")
    assert states["xxe.svg"][1].startswith("svg-unsafe")
    assert states["half.png"][1].startswith("truncated")
    rows = manifest_rows(store)
    assert [r["original_name"] for r in rows] == ["good.png"]
    assert sorted(p.name for p in (store / "images").iterdir()) == [rows[0]["id"] + ".png"]


def test_same_image_under_two_urls_is_stored_once_with_both_urls(tmp_path):
    with Site({"/a/teapot.png": png(5), "/b/copy-of-teapot.png": png(5), "/c/other.png": png(6)}) as site:
        store = crawl_urls(tmp_path, site, ["/a/teapot.png", "/b/copy-of-teapot.png", "/c/other.png"])
    rows = manifest_rows(store)
    assert len(rows) == 2 and len(list((store / "images").iterdir())) == 2
    assert rows[0]["original_name"] == "teapot.png"  # the URL found first describes the file
    assert [u["url"].rsplit("/", 2)[-2] for u in rows[0]["urls"]] == ["a", "b"]


def test_near_duplicates_are_marked_by_perceptual_hash(tmp_path):
    import io

    img = Image.open(io.BytesIO(png(7)))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)  # other bytes, the same picture
    with Site({"/x.png": png(7), "/y.png": buf.getvalue(), "/z.png": png(8)}) as site:
        store = crawl_urls(tmp_path, site, ["/x.png", "/y.png", "/z.png"])
    rows = manifest_rows(store)
    assert len(rows) == 3
    assert rows[1]["near_duplicate_of"] == rows[0]["id"] and rows[2]["near_duplicate_of"] is None


def test_malicious_names_never_leave_the_store(tmp_path):
    routes = {
        "/dl/1": (200, {"Content-Type": "image/png", "Content-Disposition": 'attachment; filename="../../x.png"'},
                  png(11)),
        "/dl/2": (200, {"Content-Type": "image/png", "Content-Disposition": 'attachment; filename="/etc/passwd.png"'},
                  png(12)),
        "/..%2F..%2Fescape.png": png(13),
    }
    with Site(routes) as site:
        store = crawl_urls(tmp_path, site, list(routes))
    rows = manifest_rows(store)
    assert len(rows) == 3
    for row in rows:
        name = row["original_name"]
        assert "/" not in name and "\\" not in name and not name.startswith("."), name
    assert {r["original_name"] for r in rows} >= {"x.png", "passwd.png"}
    inside = {p.resolve() for p in store.rglob("*")}
    assert all(str(p).startswith(str(store.resolve())) for p in inside)
    assert not (tmp_path / "x.png").exists() and not (tmp_path.parent / "x.png").exists()


# -- crawling pages


def gallery_site(n_pages: int = 3, per_page: int = 4) -> dict:
    routes = {}
    for p in range(1, n_pages + 1):
        imgs = [f"/img/p{p}-{i}.png" for i in range(per_page)]
        routes.update({src: png(p * 100 + i) for i, src in enumerate(imgs)})
        routes[f"/gallery/{p}"] = gallery_page(imgs, f"/gallery/{p + 1}" if p < n_pages else None,
                                               title=f"page {p}")
    return routes


def test_html_source_follows_next_pages_up_to_the_quota_in_page_order(tmp_path):
    with Site(gallery_site()) as site:
        store = tmp_path / "store"
        counts = crawl(CrawlConfig(source="html", out=store, start_url=site.url + "/gallery/1", per_query=6,
                                   fetch=fast()))
    rows = manifest_rows(store)
    assert [r["original_name"] for r in rows] == ["p1-0.png", "p1-1.png", "p1-2.png", "p1-3.png", "p2-0.png",
                                                  "p2-1.png"]
    assert rows[0]["page_url"].endswith("/gallery/1") and rows[0]["title"] == "p1-0"
    assert rows[0]["width"] == 64 and len(rows[0]["phash"]) == 16 and rows[0]["source"] == "html"
    assert site.requests_to("/gallery/3") == 0  # the quota was met on page 2
    assert counts["images"] == 6
    assert "6 distinct images" in format_summary(counts, store)


def test_a_page_without_the_expected_selectors_yields_nothing_and_says_why(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('[selectors]\nimage = "div.results img"\nnext = "a.next"\n')
    with Site({"/empty": b"<html><body><p>No results here.</p></body></html>"}) as site:
        store = tmp_path / "store"
        counts = crawl(CrawlConfig(source="html", out=store, start_url=site.url + "/empty", config=config,
                                   fetch=fast()))
    assert counts["images"] == 0
    (state, reason), = journal(store).values()
    assert state == "done" and "div.results img" in reason


FIXTURES = Path(__file__).parent / "fixtures" / "sites"
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="90" viewBox="0 0 120 90">'
       '<circle cx="60" cy="45" r="{r}" fill="#a33"/></svg>')


def test_openclipart_preset_crawls_a_saved_copy_of_the_site(tmp_path):
    """The preset's pages are fixtures we wrote to mirror openclipart.org; served here with its links made local."""
    def page(name):
        return lambda req: req.answer(200, (FIXTURES / "openclipart.org" / name).read_bytes().replace(
            b"https://openclipart.org", site.url.encode()), "text/html; charset=utf-8")

    routes = {"/search/?query=teapot": page("search-teapot-p1.html"),
              "/search/?query=teapot&p=2": page("search-teapot-p2.html"),
              "/detail/331191/teapot": page("detail-1.html"), "/detail/290542/blue-teapot": page("detail-2.html"),
              "/detail/77215/teapot-and-cup": page("detail-3.html")}
    for k, path in enumerate(["/download/331191/teapot.svg", "/download/290542/blue-teapot.svg",
                              "/download/77215/teapot-and-cup.svg"]):
        routes[path] = SVG.format(r=10 + 8 * k).encode()
    site = Site(routes)
    with site:
        store = tmp_path / "store"
        counts = crawl(CrawlConfig(source="openclipart.org", out=store, queries=["teapot"], per_query=3,
                                   start_url=site.url + "/search/?query=teapot", fetch=fast()))
    rows = manifest_rows(store)
    assert [r["original_name"] for r in rows] == ["teapot.svg", "blue-teapot.svg", "teapot-and-cup.svg"]
    assert rows[0]["title"] == "Teapot" and rows[0]["author"] == "j4p4n" and rows[0]["query"] == "teapot"
    assert rows[0]["page_url"].endswith("/detail/331191/teapot") and rows[0]["width"] == 120
    assert all(r["filepath"].endswith(".svg") for r in rows) and counts["images"] == 3


def test_rerunning_a_finished_crawl_fetches_nothing(tmp_path):
    with Site(gallery_site(2, 3)) as site:
        cfg = CrawlConfig(source="html", out=tmp_path / "store", start_url=site.url + "/gallery/1", per_query=50,
                          fetch=fast())
        crawl(cfg)
        before = len(site.log)
        crawl(cfg)
        assert len(site.log) == before


def test_dir_source_imports_a_folder_through_the_same_store(tmp_path):
    folder = tmp_path / "art"
    (folder / "animals").mkdir(parents=True)
    (folder / "animals" / "hen.png").write_bytes(png(21))
    (folder / "hen-copy.png").write_bytes(png(21))
    (folder / "broken.png").write_bytes(b"not an image")
    store = tmp_path / "store"
    crawl(CrawlConfig(source="dir", out=store, from_dirs=[folder]))
    rows = manifest_rows(store)
    assert [r["original_name"] for r in rows] == ["animals/hen.png"] and len(rows[0]["urls"]) == 2
    assert any(v == ("failed", v[1]) and v[1].startswith("not-image") for v in journal(store).values())


def test_datasets_build_reads_a_store(tmp_path, vocab):
    from datasets.build import BuildConfig, build, parse_sources

    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "x1.png").write_bytes(png(31))
    store = tmp_path / "store"
    crawl(CrawlConfig(source="dir", out=store, from_dirs=[folder]))
    # a title the file name lacks: the matcher reads both
    db = sqlite3.connect(store / "journal.sqlite")
    db.execute("UPDATE images SET title='Red teapot'")
    db.commit()
    db.close()
    from scraping.store import Store

    s = Store(store)
    s.write_manifest()
    s.close()
    sources = parse_sources(None, [store])
    summary = build(sources, BuildConfig(out=tmp_path / "out"), vocab)
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert summary and [r["label"] for r in rows] == ["teapot"]
    assert rows[0]["source"] == "store"


# -- kill and resume


CRAWL = [sys.executable, "-m", "scraping.crawl", "--source", "html", "--per-query", "40", "--rate", "40",
         "--connections", "4", "--allow-private-hosts"]


@pytest.mark.slow
def test_kill_9_mid_crawl_then_resume_gives_the_uninterrupted_store(tmp_path):
    with Site(gallery_site(6, 8)) as site:
        start = ["--start-url", site.url + "/gallery/1"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        whole = tmp_path / "whole"
        subprocess.run([*CRAWL, *start, "--out", str(whole)], check=True, env=env, capture_output=True, timeout=120)

        killed = tmp_path / "killed"
        proc = subprocess.Popen([*CRAWL, *start, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(killed / "journal.sqlite", timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM tasks WHERE kind='image' AND state='done'").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= 10:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the crawl ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 10 <= done < 40
        subprocess.run([*CRAWL, *start, "--out", str(killed)], check=True, env=env, capture_output=True,
                       timeout=120)

    def comparable(store):
        return [{k: v for k, v in r.items() if k != "fetched_at"} for r in manifest_rows(store)]

    assert comparable(killed) == comparable(whole)
    assert len(comparable(whole)) == 40
    files = {p.name: p.read_bytes() for p in (whole / "images").iterdir()}
    assert {p.name: p.read_bytes() for p in (killed / "images").iterdir()} == files
    assert {k: v[0] for k, v in journal(killed).items()} == {k: v[0] for k, v in journal(whole).items()}


def run_cli(*argv) -> int:
    from scraping.crawl import get_args_parser, main

    return main(get_args_parser().parse_args([str(a) for a in argv]))


def test_cli_errors_name_what_is_missing(tmp_path, capsys):
    assert run_cli("--source", "html", "--out", tmp_path / "s") == 2
    assert "needs --query, --classes-from or --start-url" in capsys.readouterr().err
    assert run_cli("--source", "nope", "--query", "x", "--out", tmp_path / "s") == 2
    assert "openclipart.org" in capsys.readouterr().err  # the error lists the sources there are
    bad = tmp_path / "classes.json"
    bad.write_text("{not json")
    assert run_cli("--source", "html", "--start-url", "https://example.org/", "--classes-from", bad,
                   "--out", tmp_path / "s") == 1
    assert str(bad) in capsys.readouterr().err
    assert run_cli("--source", "urls", "--out", tmp_path / "s") == 2
    assert "--urls FILE" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


BAD = [  # (options after --out, exit code, what the one line says); none may create the store
    (["--source", "nope", "--query", "x"], 2, "--source nope: unknown; choose a web source"),
    (["--source", "openclipart.org", "--query", "x", "--per-query", "0"], 2, "--per-query must be at least 1"),
    (["--source", "openclipart.org", "--query", "x", "--max-pages", "0"], 2, "--max-pages must be at least 1"),
    (["--source", "openclipart.org", "--query", "x", "--connections", "0"], 2, "--connections must be at least 1"),
    (["--source", "openclipart.org", "--query", "x", "--rate", "0"], 2, "--rate must be more than 0"),
    (["--source", "openclipart.org", "--query", "x", "--timeout", "-1"], 2, "--timeout must be more than 0"),
    (["--source", "openclipart.org", "--query", "x", "--max-bytes", "0"], 2, "--max-bytes must be at least 1"),
    (["--source", "openclipart.org", "--query", "x", "--retries", "-1"], 2, "--retries must be at least 0"),
    (["--source", "openclipart.org", "--start-url", "ftp://example.org/"], 2, "only http(s) URLs can be crawled"),
    (["--source", "html", "--query", "teapot"], 2, "has no query template: give a start URL instead"),
    (["--source", "dir", "--query", "x", "--from", "."], 2, "--source dir does not use --query"),
    (["--source", "urls", "--urls", "u.txt", "--from", "."], 2, "--source urls does not use --from"),
    (["--source", "dir"], 2, "--source dir needs --from DIR"),
    (["--source", "dir", "--from", "/nonexistent/art"], 1, "--from /nonexistent/art: not a folder"),
    (["--source", "urls", "--urls", "/nonexistent/urls.txt"], 1, "/nonexistent/urls.txt"),
    (["--source", "html", "--start-url", "https://example.org/", "--config", "/nonexistent/site.toml"], 1,
     "/nonexistent/site.toml"),
]


@pytest.mark.parametrize("options,code,says", BAD, ids=[" ".join(o[-2:]) for o, _, _ in BAD])
def test_bad_options_are_refused_before_the_store_is_created(tmp_path, capsys, options, code, says):
    store = tmp_path / "store"
    assert run_cli("--out", store, *options) == code
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and not store.exists()


def test_an_empty_url_list_or_an_out_file_is_refused(tmp_path, capsys):
    listing = tmp_path / "urls.txt"
    listing.write_text("# nothing yet\n\n")
    assert run_cli("--source", "urls", "--urls", listing, "--out", tmp_path / "store") == 1
    assert f"--urls {listing}: no URL in it" in capsys.readouterr().err and not (tmp_path / "store").exists()
    listing.write_text("https://example.org/a.png\n")
    assert run_cli("--source", "urls", "--urls", listing, "--out", listing) == 1
    assert f"--out {listing}: a file, not a folder" in capsys.readouterr().err


def test_query_takes_several_and_dir_several_folders(tmp_path):
    from scraping.crawl import get_args_parser

    args = get_args_parser().parse_args(["--source", "html", "--query", "a", "b", "--query", "c", "--out", "s"])
    assert args.query == ["a", "b", "c"]
    for name, seed in (("one", 41), ("two", 42)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.png").write_bytes(png(seed))
    assert run_cli("--source", "dir", "--from", tmp_path / "one", tmp_path / "two", "--out", tmp_path / "s") == 0
    assert sorted(r["original_name"] for r in manifest_rows(tmp_path / "s")) == ["one.png", "two.png"]


def test_classes_from_gives_one_query_per_class(tmp_path):
    from scraping.crawl import queries_from_classes

    path = tmp_path / "classes.json"
    path.write_text(json.dumps([{"label": "teapot", "wnid": "n04398044"}, {"label": "hen", "wnid": "n01514859"}]))
    assert queries_from_classes(path) == ["teapot", "hen"]
