"""The embedded clip-art library: registry packages, installed offline into one cache.

    python -m scraping.library --install    # idempotent; make demo and make test run it
    python -m scraping.library              # what is installed, and where

The cache is ``$DRAWNET_CLIPART``, else ``$XDG_CACHE_HOME/drawnet/clipart``
(``~/.cache/drawnet/clipart``). npm packages go to ``CACHE/npm/node_modules/``; Debian
packages are unpacked, not installed (no root needed), into ``CACHE/debian/<package>/``.
Each source also looks for a system-wide copy (``/usr/share/openclipart``), and takes
any other copy as ``--source NAME=ROOT``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cli import add_common_arguments, fail, setup_logging
from .files import write_json

logger = logging.getLogger(__name__)

# Pinned, so a dataset built today can be built again. Every Iconify colour set under
# a reusable licence that draws things, bar logos, flags and programming icons, and bar
# Iconify's fluent-emoji sets: fluentui-emoji has the same drawings, in all three styles.
# The "UI Multicolor" sets draw objects too (a freehand laptop, a flat hourglass), and
# also UI words that are no ILSVRC class in that sense ("file", "switch", "menu").
NPM_PACKAGES: dict[str, str] = {
    # emoji
    "@iconify-json/noto": "1.2.9",  # Apache-2.0
    "@iconify-json/noto-v1": "1.2.5",  # Apache-2.0
    "@iconify-json/twemoji": "1.2.5",  # CC-BY-4.0
    "@iconify-json/openmoji": "1.2.29",  # CC-BY-SA-4.0
    "@iconify-json/emojione": "1.2.3",  # CC-BY-4.0
    "@iconify-json/emojione-v1": "1.2.3",  # CC-BY-SA-4.0
    "@iconify-json/fxemoji": "1.2.2",  # Apache-2.0
    "@iconify-json/streamline-emojis": "1.2.4",  # CC-BY-4.0
    # multicolour icons
    "@iconify-json/streamline-freehand-color": "1.2.2",  # CC-BY-4.0, hand-drawn
    "@iconify-json/streamline-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-flex-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-plump-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-sharp-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-ultimate-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-cyber-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-kameleon-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/streamline-stickies-color": "1.2.2",  # CC-BY-4.0
    "@iconify-json/icon-park": "1.2.4",  # Apache-2.0
    "@iconify-json/marketeq": "1.2.2",  # MIT
    "@iconify-json/fluent-color": "1.2.21",  # MIT
    "@iconify-json/flat-color-icons": "1.2.3",  # MIT
    "fluentui-emoji": "1.3.0",  # MIT
}
# Debian packages -> members not worth unpacking (Tux Paint's 7,900 sound clips).
DEBIAN_PACKAGES: dict[str, tuple[str, ...]] = {
    "openclipart-svg": (),
    "tuxpaint-stamps-default": ("*.ogg", "*.wav"),
}


def cache_dir() -> Path:
    if env := os.environ.get("DRAWNET_CLIPART"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "drawnet" / "clipart"


def npm_root() -> Path:
    return cache_dir() / "npm" / "node_modules"


def debian_root(package: str) -> Path:
    return cache_dir() / "debian" / package


@dataclass(frozen=True)
class Installed:
    package: str
    version: str | None  # None: not installed
    where: Path


def npm_version(package: str) -> str | None:
    try:
        return json.loads((npm_root() / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def debian_version(package: str) -> str | None:
    try:
        return (debian_root(package) / ".version").read_text().strip() or None
    except OSError:
        return None


def status() -> list[Installed]:
    rows = [Installed(p, npm_version(p), npm_root() / p) for p in NPM_PACKAGES]
    rows += [Installed(p, debian_version(p), debian_root(p)) for p in DEBIAN_PACKAGES]
    return rows


def install_npm(packages: dict[str, str] = NPM_PACKAGES) -> list[str]:
    """npm-install the packages whose pinned version is missing; return their specs."""
    todo = [f"{name}@{version}" for name, version in packages.items() if npm_version(name) != version]
    if not todo:
        return []
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed: install Node.js (`sudo apt-get install npm`) and run this again")
    prefix = npm_root().parent
    prefix.mkdir(parents=True, exist_ok=True)
    # Declared in a package.json, not named on the command line: `npm install <pkg>`
    # prunes every package it was not given, which would undo the others.
    manifest = {"name": "drawnet-clipart-library", "private": True, "dependencies": dict(packages)}
    write_json(prefix / "package.json", manifest, indent=1)
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )
    return todo


def install_debian(packages: dict[str, tuple[str, ...]] = DEBIAN_PACKAGES) -> list[str]:
    """Download and unpack the Debian packages not yet in the cache; return their names."""
    done = []
    for package, skip in packages.items():
        if debian_version(package):
            continue
        final = debian_root(package)
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
            try:
                subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True, capture_output=True,
                               text=True)
            except (OSError, subprocess.CalledProcessError) as err:
                detail = (getattr(err, "stderr", None) or str(err)).strip().splitlines()[-1:]
                raise RuntimeError(
                    f"could not download Debian package {package} ({'; '.join(detail)}); "
                    "if apt has no package lists yet, run `sudo apt-get update` first"
                ) from None
            (deb,) = Path(tmp).glob("*.deb")
            staging = Path(tmp) / "root"
            staging.mkdir()
            fsys = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", str(staging), *(f"--exclude={p}" for p in skip)],
                           stdin=fsys.stdout, check=True)
            if fsys.wait() != 0:
                raise RuntimeError(f"dpkg-deb could not unpack {deb.name}")
            version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                                     check=True).stdout.strip()
            (staging / ".version").write_text(version + "\n")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(staging, final)  # the package appears whole or not at all
        done.append(package)
    return done


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Install or list the embedded clip-art library.", add_help=add_help)
    parser.add_argument("--install", action="store_true", help="install what is missing (offline: registries only)")
    return add_common_arguments(parser)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    if args.install:
        try:
            installed = install_npm() + install_debian()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
            return fail("scraping.library", " ".join(str(err).split()))
        if not installed:
            print(f"clip-art library: all {len(status())} packages in {cache_dir()}")
            return 0
        print(f"installed: {', '.join(installed)}")
    print(f"cache: {cache_dir()}")
    missing = 0
    for row in status():
        missing += row.version is None
        print(f"  {row.package:42} {row.version or 'missing'}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
