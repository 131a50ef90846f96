"""docs/environment.md lists every environment variable the project reads or sets.

The code is read, not run: the packages, the benchmarks, the tests and the notebooks' code cells (``os.environ``
and ``os.getenv`` with a literal name or a module-level constant, and any string that is a ``DRAWNET_`` or
``FIFTYONE_`` name), the Makefile's ``?=`` variables and the benchmark shell scripts' ``${NAME:-default}``.
"""
import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "environment.md"
SOURCES = ("scraping", "datasets", "training", "evaluation", "curation", "benchmarks", "tests")
OURS = re.compile(r"(?:DRAWNET|FIFTYONE)_[A-Z0-9_]+")
ACCESSORS = {"get", "setdefault", "pop", "getenv"}


def is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def name_of(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def variables_in_code(source: str) -> set[str]:
    """The environment variables a piece of Python reads or sets."""
    tree = ast.parse(source)
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}
    found = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            if (func.attr in ACCESSORS and is_environ(func.value)) or (
                    func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"):
                key = name_of(node.args[0], constants)
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            key = name_of(node.slice, constants)
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            key = name_of(node.left, constants)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and OURS.fullmatch(node.value):
            key = node.value
        if key:
            found.add(key)
    return found


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def project_variables() -> dict[str, set[str]]:
    """Each variable, and the files that read or set it."""
    where: dict[str, set[str]] = {}

    def add(names, path):
        for name in names:
            where.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())

    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != Path(__file__).resolve():  # this file's made-up names
                add(variables_in_code(path.read_text(encoding="utf-8")), path)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        add(variables_in_code(notebook_code(path)), path)
    makefile = ROOT / "Makefile"
    add(re.findall(r"^(?:export\s+)?([A-Z][A-Z0-9_]*)\s*\?=", makefile.read_text(), re.MULTILINE), makefile)
    add(re.findall(r"\$\(if \$\(([A-Z][A-Z0-9_]*)\)", makefile.read_text()), makefile)
    for path in sorted((ROOT / "benchmarks").glob("*.sh")):
        add(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-", path.read_text()), path)
    return where


def listed() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", PAGE.read_text(encoding="utf-8")))


def test_the_scan_finds_reads_and_sets():
    code = ('import os\nENV = "X_FROM_CONSTANT"\nos.environ.get(ENV)\nos.environ["X_SUBSCRIPT"]\n'
            'os.getenv("X_GETENV")\nos.environ.setdefault("X_SET", "1")\n"X_IN" in os.environ\n'
            'DEFAULTS = {"FIFTYONE_SOMETHING": "1"}\nprint("X_NOT_ENV")\n')
    assert variables_in_code(code) == {"X_FROM_CONSTANT", "X_SUBSCRIPT", "X_GETENV", "X_SET", "X_IN",
                                       "FIFTYONE_SOMETHING"}


def test_the_scan_sees_the_known_ones():
    found = project_variables()
    for name in ("DRAWNET_WORKSPACE", "DRAWNET_CURATION_LOG", "FIFTYONE_DATABASE_URI", "DRAWNET_RENDER_CACHE",
                 "DRAWNET_STORE", "DRAWNET_CLIPART", "FIFTYONE_DO_NOT_TRACK", "OUT", "NO_APP"):
        assert name in found, name


def test_every_variable_is_on_the_page():
    missing = {name: sorted(files) for name, files in project_variables().items() if name not in listed()}
    assert not missing, f"docs/environment.md does not list: {missing}"


def test_every_drawnet_variable_on_the_page_is_still_read():
    stale = {name for name in listed() if name.startswith("DRAWNET_")} - set(project_variables())
    assert not stale, f"docs/environment.md lists variables nothing reads any more: {sorted(stale)}"
