"""The packages follow the pipeline (scraping -> datasets -> training -> evaluation -> curation), and no module
imports in a circle, counting imports inside functions too."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scraping", "datasets", "training", "evaluation", "curation", "drawnet")  # the pipeline, in order;
# drawnet (the `drawnet COMMAND` dispatcher) comes last: it reaches every stage, by name, when a command runs
# The user's step 2 (train, evaluate, write back) is the one orchestration edge: this module alone may reach
# later packages, and only by lazy imports inside its functions.
ORCHESTRATION = "training.workflow"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> list[tuple[str, bool]]:
    """(module, at the top level) for every import in ``path``, ``from . import x`` resolved to full names."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body} | {id(n) for s in tree.body if isinstance(s, (ast.If, ast.Try))
                                        for n in ast.walk(s)}
    out = []
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found = [base] + [f"{base}.{a.name}" for a in node.names]
        out += [(m, id(node) in top) for m in found]
    return out


def imported(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it."""
    name = module_name(path)
    return {m for m, _ in imports(path) if m in modules and m != name}


def upward_imports(root: Path = ROOT) -> list[str]:
    """Imports of a later package of the pipeline than the importing module's own, except the orchestration
    edge's lazy ones: ``"module -> later package (top|lazy)"``."""
    rank = {p: i for i, p in enumerate(PACKAGES)}
    found = []
    for path in sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")):
        name = module_name(path, root)
        own = rank[name.split(".")[0]]
        for module, at_top in imports(path, root):
            package = module.split(".")[0]
            if rank.get(package, -1) > own and not (name == ORCHESTRATION and not at_top):
                found.append(f"{name} -> {package} ({'top' if at_top else 'lazy'})")
    return sorted(set(found))


def import_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imported(p, modules) for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    graph = import_graph()
    assert "curation.state" in graph["curation.actions"]  # the graph sees the project's imports
    assert cycles(graph) == []


def test_the_order_check_sees_an_upward_import(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
    (tmp_path / "datasets" / "a.py").write_text("import os\nfrom curation.views import x\n")
    (tmp_path / "datasets" / "b.py").write_text("def f():\n    from training import data\n")
    (tmp_path / "curation" / "c.py").write_text("from datasets import a\nfrom . import views\n")
    (tmp_path / "training" / "workflow.py").write_text("def f():\n    from curation import views\n")
    (tmp_path / "training" / "d.py").write_text("try:\n    import evaluation.svm\nexcept ImportError:\n    pass\n")
    assert upward_imports(tmp_path) == ["datasets.a -> curation (top)", "datasets.b -> training (lazy)",
                                        "training.d -> evaluation (top)"]


def test_packages_follow_the_pipeline():
    """scraping -> datasets -> training -> evaluation -> curation: a module never imports a later package,
    except the user's step 2 (``ORCHESTRATION``), lazily."""
    assert upward_imports() == []
