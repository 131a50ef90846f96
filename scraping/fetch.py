"""Polite, bounded HTTP: robots.txt, a per-host rate, retries with backoff, and nothing unbounded.

``Fetcher.get(url)`` never raises: it returns a ``Fetched`` with the body, or with the
reason it has none (``skipped`` for what politeness or policy forbids, ``error`` for what
went wrong). Every redirect hop is checked like the first request: scheme, private
addresses, robots.txt, and a loop or more than ``max_redirects`` hops end it.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

logger = logging.getLogger(__name__)

VERSION = "0.1"


@dataclass
class FetchConfig:
    contact: str | None = None  # an e-mail or URL for site owners, put in the User-Agent
    rate: float = 1.0  # requests per second, per host
    timeout: float = 20.0  # seconds to connect, and between bytes
    deadline: float = 120.0  # seconds for a whole response, however slowly it trickles
    max_bytes: int = 25 << 20  # a response larger than this is dropped while streaming
    max_redirects: int = 5
    retries: int = 3  # on connection errors, 429 and 5xx
    backoff: float = 0.5  # seconds, doubled per retry
    max_retry_after: float = 300.0  # a longer Retry-After is capped to this
    allow_private_hosts: bool = False  # loopback and private addresses (tests, intranets)
    obey_robots: bool = True
    respect_noai: bool = True  # X-Robots-Tag: noai / noimageai

    @property
    def user_agent(self) -> str:
        contact = f"; +{self.contact}" if self.contact else ""
        return f"drawnet/{VERSION} (clip-art research crawler{contact})"


@dataclass
class Fetched:
    url: str  # the URL asked for
    final_url: str | None = None  # after redirects
    status: int | None = None
    headers: dict = field(default_factory=dict)  # lower-case names
    body: bytes | None = None
    error: str | None = None  # failed: network, HTTP status, size, time
    skipped: str | None = None  # not fetched on purpose: robots.txt, noai, scheme, private address

    @property
    def ok(self) -> bool:
        return self.body is not None


class CappedRetry(Retry):
    """urllib3's Retry, with Retry-After capped: a server asking for an hour does not stall the crawl."""

    max_retry_after = 300.0

    def get_retry_after(self, response):
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.max_retry_after)

    def new(self, **kw):
        retry = super().new(**kw)
        retry.max_retry_after = self.max_retry_after
        return retry


class HostLimiter:
    """At most one request per ``interval`` seconds per host; hosts do not wait for each other."""

    def __init__(self, interval: float, clock=time.monotonic, sleep=time.sleep):
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}
        self.intervals: dict[str, float] = {}  # per-host overrides (robots.txt Crawl-delay)

    def wait(self, host: str) -> None:
        with self._lock:
            lock = self._host_locks.setdefault(host, threading.Lock())
        with lock:  # one request at a time per host, so the interval holds under concurrency
            now = self.clock()
            start = max(now, self._next.get(host, now))
            if start > now:
                self.sleep(start - now)
            self._next[host] = start + self.intervals.get(host, self.interval)


def is_private(host: str) -> bool:
    """True when any address the host resolves to is loopback, private, link-local or reserved."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False  # unresolvable: the request itself fails with a clear error
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast
                or addr.is_unspecified):
            return True
    return False


class Fetcher:
    """One requests session for a crawl: connection reuse, retries, robots.txt and rate per host."""

    def __init__(self, cfg: FetchConfig, limiter: HostLimiter | None = None):
        self.cfg = cfg
        self.limiter = limiter or HostLimiter(1.0 / cfg.rate if cfg.rate > 0 else 0.0)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = cfg.user_agent
        retry = CappedRetry(total=cfg.retries, connect=cfg.retries, read=cfg.retries, status=cfg.retries,
                            backoff_factor=cfg.backoff, status_forcelist=(429, 500, 502, 503, 504),
                            allowed_methods=frozenset({"GET"}), respect_retry_after_header=True,
                            raise_on_status=False, redirect=0)
        retry.max_retry_after = cfg.max_retry_after
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._robots: dict[str, RobotFileParser | None] = {}
        self._robots_lock = threading.Lock()

    def _policy(self, url: str) -> str | None:
        """Why ``url`` must not be fetched, or None."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme or '(none)'!r} is not http(s)"
        if not parts.hostname:
            return "no host"
        if not self.cfg.allow_private_hosts and is_private(parts.hostname):
            return f"{parts.hostname} resolves to a private or loopback address (--allow-private-hosts)"
        if self.cfg.obey_robots and not self.allowed_by_robots(url):
            return "disallowed by robots.txt"
        return None

    def allowed_by_robots(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:
            if origin not in self._robots:
                self._robots[origin] = self._read_robots(origin, parts.netloc)
            robots = self._robots[origin]
        return robots is None or robots.can_fetch(self.cfg.user_agent, url)

    def _read_robots(self, origin: str, host: str) -> RobotFileParser | None:
        """robots.txt as RFC 9309 reads it: 4xx allows everything, 5xx or no answer forbids everything."""
        parser = RobotFileParser(f"{origin}/robots.txt")
        self.limiter.wait(host)
        try:
            r = self.session.get(f"{origin}/robots.txt", timeout=self.cfg.timeout, allow_redirects=True)
        except requests.RequestException as err:
            logger.warning("%s/robots.txt unreachable (%s): not crawling that host", origin, type(err).__name__)
            parser.disallow_all = True
            return parser
        if r.status_code >= 500:
            parser.disallow_all = True
        elif r.status_code >= 400:
            return None
        else:
            parser.parse(r.text[:512_000].splitlines())
            delay = parser.crawl_delay(self.cfg.user_agent)
            if delay:
                self.limiter.intervals[host] = max(float(delay), self.limiter.interval)
        return parser

    def get(self, url: str) -> Fetched:
        result = Fetched(url)
        seen = set()
        current = url
        for _ in range(self.cfg.max_redirects + 1):
            reason = self._policy(current)
            if reason:
                result.skipped = reason if current == url else f"redirect to {current}: {reason}"
                return result
            if current in seen:
                result.error = f"redirect loop at {current}"
                return result
            seen.add(current)
            host = urlsplit(current).netloc
            self.limiter.wait(host)
            try:
                r = self.session.get(current, stream=True, timeout=self.cfg.timeout, allow_redirects=False)
            except requests.RequestException as err:
                result.error = f"{type(err).__name__}: {str(err)[:200]}"
                return result
            with r:
                result.final_url, result.status = current, r.status_code
                result.headers = {k.lower(): v for k, v in r.headers.items()}
                if r.is_redirect and "location" in result.headers:
                    current = urljoin(current, result.headers["location"])
                    continue
                if self.cfg.respect_noai and _noai(result.headers.get("x-robots-tag", "")):
                    result.skipped = "X-Robots-Tag forbids AI use (noai/noimageai)"
                    return result
                if r.status_code != 200:
                    result.error = f"HTTP {r.status_code}"
                    return result
                result.body, result.error = self._read(r)
                return result
        result.error = f"more than {self.cfg.max_redirects} redirects"
        return result

    def _read(self, r: requests.Response) -> tuple[bytes | None, str | None]:
        length = r.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.cfg.max_bytes:
            return None, f"too large ({int(length)} bytes > {self.cfg.max_bytes})"
        chunks, size, start = [], 0, time.monotonic()
        try:
            for chunk in r.iter_content(64 << 10):
                size += len(chunk)
                if size > self.cfg.max_bytes:
                    return None, f"too large (more than {self.cfg.max_bytes} bytes)"
                if time.monotonic() - start > self.cfg.deadline:
                    return None, f"too slow (over {self.cfg.deadline:g} s)"
                chunks.append(chunk)
        except (requests.RequestException, OSError) as err:  # a short body, a reset, a read timeout
            return None, f"truncated or interrupted ({type(err).__name__}: {str(err)[:160]})"
        return b"".join(chunks), None

    def close(self) -> None:
        self.session.close()


def _noai(tag: str) -> bool:
    values = {v.strip().lower() for part in tag.split(",") for v in part.split(":")[-1:]}
    return bool(values & {"noai", "noimageai"})
