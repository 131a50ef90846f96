"""python -m scraping.crawl: collect clip-art into a store, politely, safely and resumably.

    python -m scraping.crawl --source openclipart.org --query teapot --out store/ --contact me@example.org
    python -m scraping.crawl --source openclipart.org --classes-from out/embedded-thesis/classes.json --out store/
    python -m scraping.crawl --source html --start-url https://example.org/gallery/ --config site.toml --out store/
    python -m scraping.crawl --source urls --urls list.txt --out store/
    python -m scraping.crawl --source dir --from ~/clipart --out store/

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

from .fetch import FetchConfig, Fetched, Fetcher
from .safety import Rejected, check_image, filename_from
from .store import Store, Task

logger = logging.getLogger(__name__)


@dataclass
class CrawlConfig:
    source: str  # a web source (html, openclipart.org, ...), or "urls" or "dir"
    out: Path
    queries: list[str] = field(default_factory=list)
    start_url: str | None = None
    urls_file: Path | None = None
    from_dir: Path | None = None
    config: Path | None = None  # the html source's selectors (TOML)
    per_query: int = 200  # the thesis's quota
    max_pages: int = 20  # result pages per query
    workers: int = 8  # concurrent downloads; each host still gets --rate
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
        self.pool = ThreadPoolExecutor(max(1, cfg.workers))
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
            images = self.store.queued("image", query, limit=min(missing, 4 * max(1, self.cfg.workers)))
            if images:
                self.fetch_images(images)
                continue
            pages = self.store.queued("page", query, limit=max(1, self.cfg.workers))
            if not pages:
                return  # every page read: the site has no more for this query
            self.fetch_pages(source, pages)

    # -- local inputs

    def run_urls(self, urls: list[str]) -> None:
        self.store.enqueue([{"url": u, "kind": "image", "source": "urls"} for u in urls])
        while images := self.store.queued("image", "", limit=max(1, self.cfg.workers) * 8):
            self.fetch_images(images)

    def run_dir(self, root: Path) -> None:
        root = root.resolve()
        files = {p.as_uri(): p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")}
        self.store.enqueue([{"url": uri, "kind": "image", "source": "dir", "title": p.stem}
                            for uri, p in files.items()])
        for task in self.store.queued("image", ""):
            path = files.get(task.url)
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
            self.store.add_image(task, data, checked, path.relative_to(root).as_posix())
            if self.bar is not None:
                self.bar.update(1)


def crawl(cfg: CrawlConfig) -> dict:
    """Run (or finish) one crawl into ``cfg.out``; return the store's counts."""
    from .sources.html import load_config
    from .sources.web import create_web_source

    store = Store(cfg.out)
    job = Crawl(cfg, store)
    try:
        if cfg.source == "dir":
            if cfg.from_dir is None or not cfg.from_dir.is_dir():
                raise ValueError(f"--source dir needs --from DIR (a folder): {cfg.from_dir}")
            job.bar = tqdm(desc="import", unit=" img", disable=None)
            job.run_dir(cfg.from_dir)
        elif cfg.source == "urls":
            if cfg.urls_file is None:
                raise ValueError("--source urls needs --urls FILE")
            urls = [line.strip() for line in cfg.urls_file.read_text(encoding="utf-8").splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
            job.bar = tqdm(total=len(urls), desc="download", unit=" img", disable=None)
            job.run_urls(urls)
        else:
            options = {"config": load_config(cfg.config)} if cfg.config else {}
            source = create_web_source(cfg.source, **options)
            queries = cfg.queries or [""]
            if queries == [""] and not cfg.start_url:
                raise ValueError(f"--source {cfg.source} needs --query, --classes-from or --start-url")
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
        raise ValueError(f"--classes-from {path}: {err}") from None
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
    g.add_argument("--query", action="append", default=[], help="a search query (repeatable)")
    g.add_argument("--classes-from", type=Path, help="one query per class of a classes.json")
    g.add_argument("--urls", type=Path, help="--source urls: a file of image URLs, one per line")
    g.add_argument("--from", dest="from_dir", type=Path, help="--source dir: a folder tree of images")
    g.add_argument("--config", type=Path, help="--source html: selectors in a TOML file")
    g.add_argument("--out", type=Path, required=True, help="the store folder (created; a re-run resumes it)")
    g.add_argument("--per-query", type=int, default=200, help="distinct images per query (default 200)")
    g.add_argument("--max-pages", type=int, default=20, help="result pages per query (default 20)")
    g = p.add_argument_group("politeness and safety")
    g.add_argument("--rate", type=float, default=1.0, help="requests per second per host (default 1)")
    g.add_argument("--contact", help="an e-mail or URL for site owners, sent in the User-Agent")
    g.add_argument("--workers", type=int, default=8, help="concurrent requests across hosts (default 8)")
    g.add_argument("--timeout", type=float, default=20.0, help="seconds to connect and between bytes")
    g.add_argument("--max-bytes", type=int, default=25 << 20, help="largest download in bytes (default 25 MiB)")
    g.add_argument("--retries", type=int, default=3, help="retries on connection errors, 429 and 5xx")
    g.add_argument("--allow-private-hosts", action="store_true",
                   help="allow URLs that resolve to loopback or private addresses (refused by default)")
    g.add_argument("--allow-noai", action="store_true", help="fetch what X-Robots-Tag: noai/noimageai forbids")
    return p


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        queries = list(args.query)
        if args.classes_from:
            queries += queries_from_classes(args.classes_from)
        fetch = FetchConfig(contact=args.contact, rate=args.rate, timeout=args.timeout, max_bytes=args.max_bytes,
                            retries=args.retries, allow_private_hosts=args.allow_private_hosts,
                            respect_noai=not args.allow_noai)
        cfg = CrawlConfig(source=args.source, out=args.out, queries=list(dict.fromkeys(queries)),
                          start_url=args.start_url, urls_file=args.urls, from_dir=args.from_dir, config=args.config,
                          per_query=args.per_query, max_pages=args.max_pages, workers=args.workers, fetch=fetch)
        if not args.contact and args.source not in ("dir",):
            logger.warning("no --contact given: site owners cannot reach you about this crawl")
        counts = crawl(cfg)
    except (ValueError, OSError) as err:
        print(f"scraping.crawl: {err}", file=sys.stderr)
        return 2
    print(format_summary(counts, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
