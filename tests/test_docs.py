"""The README's first screen and the MkDocs site under docs/: the site builds with no warning, and
every `python -m package.module` the README and the pages name is a module of this repository."""

import os
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent

# `python -m a.b`, `torchrun ... -m a.b`: a dotted name after -m (`-m pytest`, `-m mkdocs` are not ours)
MODULE = re.compile(r"(?<![\w.-])-m\s+([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "FIFTYONE_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    for page in ("index", "install", "notebooks", "writeback"):
        assert (tmp_path / "site" / f"{page}.html").is_file()
    # docs/notebooks.md shows the notebooks' figures by relative <img> paths; the site keeps them beside it
    assert (tmp_path / "site" / "notebooks" / "01_build_and_match.png").is_file()


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f" {page.name}" in config, f"{page.name} is missing from mkdocs.yml's nav"


def test_readme_first_screen() -> None:
    first = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    for text in ("make demo", "make test", ". .venv/bin/activate", "drawnet app", "drawnet finetune --epochs 239"):
        assert text in first, f"README's first 40 lines lack {text!r}"


def test_named_modules_exist() -> None:
    named: dict[str, set[str]] = {}
    for path in doc_files():
        for name in MODULE.findall(path.read_text()):
            named.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    assert "training.finetune" in named and "curation.writeback" in named
    missing = {name: sorted(where) for name, where in named.items()
               if not is_module(name)}
    assert not missing, f"python -m names no module of the repository: {missing}"


def test_docs_name_the_writeback_in_curation() -> None:
    for path in doc_files():
        assert "evaluation.writeback" not in path.read_text(), f"{path.name}: the write-back is curation.writeback"


def test_named_commands_exist() -> None:
    """Every `drawnet NAME` the README and the pages show is a command of drawnet.cli."""
    from drawnet.cli import COMMANDS

    named = {}
    for path in doc_files():
        text = path.read_text()
        code = re.findall(r"^```.*?\n(.*?)^```", text, re.M | re.S) + re.findall(r"`([^`\n]+)`", text)
        for name in re.findall(r"^\s*drawnet ([a-z]+)\b", "\n".join(code), re.M):
            named.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    assert "finetune" in named
    unknown = {name: sorted(where) for name, where in named.items() if name not in COMMANDS}
    assert not unknown, f"drawnet names no such command: {unknown}"
