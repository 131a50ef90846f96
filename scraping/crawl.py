"""python -m scraping.crawl: collect clip-art into a store, politely, safely and resumably.

    python -m scraping.crawl --source openclipart.org --query teapot --out store/ --contact me@example.org
    python -m scraping.crawl --source openclipart.org --classes-from out/embedded-thesis/classes.json --out store/
    python -m scraping.crawl --source html --start-url https://example.org/gallery/ --config site.toml --out store/
    python -m scraping.crawl --source urls --urls list.txt --out store/
    python -m scraping.crawl --source dir --from ~/clipart ~/more-clipart --out store/

Each query walks its result pages in order (``--max-pages``), visits the detail pages
they link to, and downloads images until ``--per-query`` distinct files are stored. Pages
are fetched concurrently but their findings are journalled in page order, so which images
fill the quota does not depend on timing. Killed at any point, the same command finishes
the job (scraping/store.py). Re-running a finished crawl fetches nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .cli import UsageError, add_common_arguments, at_least, check_folder, fail, setup_logging, usage
from .fetch import FetchConfig, Fetched, Fetcher
from .safety import Rejected, check_image, filename_from
from .store import Store, Task

logger = logging.getLogger(__name__)
LOCAL = ("urls", "dir")  # the sources that read a file or folder instead of crawling a site


@dataclass
class CrawlConfig:
    source: str  # a web source (html, openclipart.org, ...), or "urls" or "dir"
    out: Path
    queries: list[str] = field(default_factory=list)
    classes_from: Path | None = None  # one more query per class of this classes.json
    start_url: str | None = None
    urls_file: Path | None = None
    from_dirs: list[Path] = field(default_factory=list)  # the dir source's folders
    config: Path | None = None  # a web source's selectors (TOML)
    per_query: int = 200  # the thesis's quota
    max_pages: int = 20  # result pages per query
    connections: int = 8  # concurrent downloads; each host still gets --rate
    fetch: FetchConfig = field(default_factory=FetchConfig)


def _checked(fetched: Fetched, store: Store | None = None) -> tuple[Fetched, object, str | None]:
    """Runs in a worker: the checks (decoding, SVG rendering) and the file write (fsync) are the slow,
    parallel part of a download; the journal is written by the main thread."""
    if not fetched.ok:
        return fetched, None, None
    try:
        info = check_image(fetched.body)
    except Rejected as err:
        return fetched, err, None
    return fetched, info, store.write_file(fetched.body, info.ext) if store is not None else None


class Crawl:
    def __init__(self, cfg: CrawlConfig, store: Store, fetcher: Fetcher | None = None):
        self.cfg, self.store = cfg, store
        self.fetcher = fetcher or Fetcher(cfg.fetch)
        self.pool = ThreadPoolExecutor(max(1, cfg.connections))
        self.bar = None

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.fetcher.close()

    # -- images

    def _store_image(self, task: Task, fetched: Fetched, checked, sha: str | None) -> None:
        if fetched.skipped:
            self.store.finish(task, "skipped", fetched.skipped)
        elif not fetched.ok:
            self.store.finish(task, "failed", fetched.error)
        elif isinstance(checked, Rejected):
            self.store.finish(task, "failed", f"{checked.reason}: {checked}")
        else:
            name = filename_from(fetched.final_url or task.url, fetched.headers.get("content-disposition"))
            self.store.add_image(task, fetched.body, checked, name, sha=sha)
            if self.bar is not None:
                self.bar.update(1)

    def fetch_images(self, tasks: list[Task]) -> None:
        results = list(self.pool.map(lambda t: _checked(self.fetcher.get(t.url), self.store), tasks))
        with self.store.batch():  # short: every download of the batch has finished
            for task, (fetched, checked, sha) in zip(tasks, results):  # journalled in seq order
                self._store_image(task, fetched, checked, sha)

    # -- pages

    def fetch_pages(self, source, tasks: list[Task]) -> None:
        fetched = list(self.pool.map(lambda t: self.fetcher.get(t.url), tasks))
        for task, page in zip(tasks, fetched):
            if page.skipped:
                self.store.finish(task, "skipped", page.skipped)
                continue
            if not page.ok:
                self.store.finish(task, "failed", page.error)
                continue
            parsed = source.parse(page.final_url or task.url, page.body, content_type=page.headers.get("content-type"))
            found = [{"url": im.url, "kind": "image", "query": task.query, "source": self.cfg.source,
                      "page_url": im.page_url, "title": im.title, "author": im.author, "license": im.license,
                      "depth": task.depth} for im in parsed.images]
            if task.depth == 0:  # result pages lead to detail pages and further result pages; detail pages don't
                found += [{"url": u, "kind": "page", "query": task.query, "source": self.cfg.source, "depth": 1}
                          for u in parsed.follow]
                room = self.cfg.max_pages - self.store.pages_for(task.query, 0)
                found += [{"url": u, "kind": "page", "query": task.query, "source": self.cfg.source, "depth": 0}
                          for u in parsed.next[:max(0, room)]]
            reason = "; ".join(parsed.problems) if parsed.problems and not found else None
            if reason:
                logger.warning("%s: %s", task.url, reason)
            self.store.finish(task, "done", reason, found=found)

    def run_query(self, source, query: str) -> None:
        if not self.store.pages_for(query, 0):
            starts = source.start_urls(query=query or None, start_url=self.cfg.start_url)
            self.store.enqueue([{"url": u, "kind": "page", "query": query, "source": self.cfg.source}
                                for u in starts[: self.cfg.max_pages]])
        while True:
            missing = self.cfg.per_query - self.store.images_for(query)
            if missing <= 0:
                return
            # batches of a few per worker: a kill loses at most one batch's records (never its files)
            images = self.store.queued("image", query, limit=min(missing, 4 * max(1, self.cfg.connections)))
            if images:
                self.fetch_images(images)
                continue
            pages = self.store.queued("page", query, limit=max(1, self.cfg.connections))
            if not pages:
                return  # every page read: the site has no more for this query
            self.fetch_pages(source, pages)

    # -- local inputs

    def run_urls(self, urls: list[str]) -> None:
        self.store.enqueue([{"url": u, "kind": "image", "source": "urls"} for u in urls])
        while images := self.store.queued("image", "", limit=max(1, self.cfg.connections) * 8):
            self.fetch_images(images)

    def run_dir(self, roots: list[Path]) -> None:
        """Import every file under ``roots``, each named by its path under its own root."""
        files: dict[str, tuple[Path, str]] = {}
        for root in (r.resolve() for r in roots):
            files.update({p.as_uri(): (p, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*"))
                          if p.is_file() and not p.name.startswith(".")})
        self.store.enqueue([{"url": uri, "kind": "image", "source": "dir", "title": p.stem}
                            for uri, (p, _) in files.items()])
        for task in self.store.queued("image", ""):
            path, name = files.get(task.url, (None, None))
            if path is None:
                self.store.finish(task, "failed", "no longer in the folder")
                continue
            try:
                data = path.read_bytes()
            except OSError as err:
                self.store.finish(task, "failed", f"unreadable: {err}")
                continue
            fetched = Fetched(task.url, final_url=task.url, status=200, body=data)
            _, checked, _ = _checked(fetched)
            if isinstance(checked, Rejected):
                self.store.finish(task, "failed", f"{checked.reason}: {checked}")
                continue
            self.store.add_image(task, data, checked, name)
            if self.bar is not None:
                self.bar.update(1)


def check_config(cfg: CrawlConfig) -> None:
    """A UsageError for an unknown source, a value out of range or options the source cannot use."""
    from .sources.web import web_sources

    if cfg.source not in (*LOCAL, *web_sources()):
        raise UsageError(f"--source {cfg.source}: unknown; choose a web source ({', '.join(web_sources())}), "
                         f"{' or '.join(LOCAL)}")
    f = cfg.fetch
    for option, value, low in (("--per-query", cfg.per_query, 1), ("--max-pages", cfg.max_pages, 1),
                               ("--connections", cfg.connections, 1), ("--max-bytes", f.max_bytes, 1),
                               ("--retries", f.retries, 0)):
        at_least(value, low, option)
    for option, value in (("--rate", f.rate), ("--timeout", f.timeout)):
        if not value > 0:
            raise UsageError(f"{option} must be more than 0, got {value}")
    web = [("--query", cfg.queries), ("--classes-from", cfg.classes_from), ("--start-url", cfg.start_url),
           ("--config", cfg.config)]
    local = {"urls": ("--urls", cfg.urls_file), "dir": ("--from", cfg.from_dirs)}
    given = [o for o, v in web if v] if cfg.source in LOCAL else []
    given += [o for name, (o, v) in local.items() if v and name != cfg.source]
    if given:
        raise UsageError(f"--source {cfg.source} does not use {', '.join(given)}")
    if cfg.source in LOCAL and not local[cfg.source][1]:
        what = "FILE (image URLs, one a line)" if cfg.source == "urls" else "DIR (a folder)"
        raise UsageError(f"--source {cfg.source} needs {local[cfg.source][0]} {what}")
    if cfg.source not in LOCAL and not (cfg.queries or cfg.classes_from or cfg.start_url):
        raise UsageError(f"--source {cfg.source} needs --query, --classes-from or --start-url")


def web_source(cfg: CrawlConfig):
    """The web source and its queries, each start page checked: a start it cannot make is a UsageError; an
    unreadable --config or --classes-from is a ValueError or OSError."""
    from .sources.html import load_config
    from .sources.web import create_web_source

    if cfg.config and not cfg.config.is_file():
        raise FileNotFoundError(f"--config {cfg.config}: no such file")
    source = create_web_source(cfg.source, **({"config": load_config(cfg.config)} if cfg.config else {}))
    classes = queries_from_classes(cfg.classes_from) if cfg.classes_from else []
    queries = list(dict.fromkeys([*cfg.queries, *classes])) or [""]
    try:
        for query in queries:
            source.start_urls(query=query or None, start_url=cfg.start_url)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return source, queries


def read_urls(path: Path) -> list[str]:
    """The image URLs of a --urls file; none is an error naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"--urls {path}: no such file")
    urls = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    if not urls:
        raise ValueError(f"--urls {path}: no URL in it (one a line; # starts a comment)")
    return urls


def crawl(cfg: CrawlConfig) -> dict:
    """Run (or finish) one crawl into ``cfg.out``; return the store's counts. Every setting and input is
    checked before the store is created."""
    check_config(cfg)
    urls, source, queries = None, None, []
    for folder in cfg.from_dirs if cfg.source == "dir" else []:
        if not folder.is_dir():
            raise NotADirectoryError(f"--from {folder}: not a folder")
    if cfg.source == "urls":
        urls = read_urls(cfg.urls_file)
    elif cfg.source != "dir":
        source, queries = web_source(cfg)
    check_folder(cfg.out)
    if not cfg.fetch.contact and cfg.source != "dir":
        logger.warning("no --contact given: site owners cannot reach you about this crawl")
    store = Store(cfg.out)
    job = Crawl(cfg, store)
    try:
        if cfg.source == "dir":
            job.bar = tqdm(desc="import", unit=" img", disable=None)
            job.run_dir(cfg.from_dirs)
        elif cfg.source == "urls":
            job.bar = tqdm(total=len(urls), desc="download", unit=" img", disable=None)
            job.run_urls(urls)
        else:
            job.bar = tqdm(total=cfg.per_query * len(queries), desc="crawl", unit=" img", disable=None)
            job.bar.update(sum(min(store.images_for(q), cfg.per_query) for q in queries))
            for query in queries:
                job.run_query(source, query)
    finally:
        if job.bar is not None:
            job.bar.close()
        job.close()
        store.write_manifest()
        counts = store.counts()
        store.close()
    return counts


def queries_from_classes(path: Path) -> list[str]:
    """One query per class of a classes.json (datasets.build or curation.export): its name."""
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"--classes-from {path}: {getattr(err, 'strerror', None) or err}") from None
    if isinstance(classes, dict):
        classes = classes.get("classes", [])
    names = [c.get("label") for c in classes if isinstance(c, dict)]
    if not names or not all(names):
        raise ValueError(f"--classes-from {path}: expected a list of classes with a 'label'")
    return names


def format_summary(counts: dict, out: Path) -> str:
    lines = [f"{out}: {counts['images']} distinct images in the store ({out / 'manifest.jsonl'})"]
    for kind, states in sorted(counts["by_state"].items()):
        lines.append(f"  {kind + 's':<7} " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
    if len(counts["by_query"]) > 1 or "" not in counts["by_query"]:
        lines.append("  per query (image URLs): " + "; ".join(
            f"{q or '(none)'}: " + ", ".join(f"{s} {n}" for s, n in sorted(st.items()))
            for q, st in sorted(counts["by_query"].items())))
    if counts["reasons"]:
        lines.append("  why not: " + "; ".join(f"{n} x {r}" for r, n in counts["reasons"].items()))
    return "\n".join(lines)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Collect clip-art into a store: polite, safe and resumable.",
                                add_help=add_help)
    g = p.add_argument_group("what")
    g.add_argument("--source", required=True,
                   help="a web source (html, openclipart.org, commons.wikimedia.org), or urls, or dir")
    g.add_argument("--start-url", help="start from this page instead of a query")
    g.add_argument("--query", action="extend", nargs="+", default=[], help="search queries (repeatable)")
    g.add_argument("--classes-from", type=Path, help="one query per class of a classes.json")
    g.add_argument("--urls", type=Path, help="--source urls: a file of image URLs, one per line")
    g.add_argument("--from", dest="from_dirs", type=Path, action="extend", nargs="+", default=[], metavar="DIR",
                   help="--source dir: folder trees of images")
    g.add_argument("--config", type=Path, help="a web source: selectors in a TOML file")
    g.add_argument("--out", type=Path, required=True, help="the store folder (created; a re-run resumes it)")
    g.add_argument("--per-query", type=int, default=200, help="distinct images per query (default 200)")
    g.add_argument("--max-pages", type=int, default=20, help="result pages per query (default 20)")
    g = p.add_argument_group("politeness and safety")
    g.add_argument("--rate", type=float, default=1.0, help="requests per second per host (default 1)")
    g.add_argument("--contact", help="an e-mail or URL for site owners, sent in the User-Agent")
    g.add_argument("--connections", type=int, default=8, help="concurrent requests across hosts (default 8)")
    g.add_argument("--timeout", type=float, default=20.0, help="seconds to connect and between bytes")
    g.add_argument("--max-bytes", type=int, default=25 << 20, help="largest download in bytes (default 25 MiB)")
    g.add_argument("--retries", type=int, default=3, help="retries on connection errors, 429 and 5xx")
    g.add_argument("--allow-private-hosts", action="store_true",
                   help="allow URLs that resolve to loopback or private addresses (refused by default)")
    g.add_argument("--allow-noai", action="store_true", help="fetch what X-Robots-Tag: noai/noimageai forbids")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    fetch = FetchConfig(contact=args.contact, rate=args.rate, timeout=args.timeout, max_bytes=args.max_bytes,
                        retries=args.retries, allow_private_hosts=args.allow_private_hosts,
                        respect_noai=not args.allow_noai)
    cfg = CrawlConfig(source=args.source, out=args.out, queries=list(dict.fromkeys(args.query)),
                      classes_from=args.classes_from, start_url=args.start_url, urls_file=args.urls,
                      from_dirs=args.from_dirs, config=args.config, per_query=args.per_query, max_pages=args.max_pages,
                      connections=args.connections, fetch=fetch)
    try:
        counts = crawl(cfg)
    except UsageError as err:
        return usage("scraping.crawl", err)
    except (ValueError, OSError) as err:
        return fail("scraping.crawl", err)
    print(format_summary(counts, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
