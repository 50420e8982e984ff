"""The layer rule: void_core never imports Prefect, Ray, tasks or flows."""

import ast
import subprocess
import sys
from pathlib import Path

import void_core

FORBIDDEN = {"prefect", "prefect_ray", "ray", "flows", "tasks"}
ROOT = Path(void_core.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_void_core_module_imports_orchestration():
    offenders = {str(p.relative_to(ROOT)): sorted(_imported_roots(p) & FORBIDDEN)
                 for p in ROOT.rglob("*.py") if _imported_roots(p) & FORBIDDEN}
    assert offenders == {}


def test_void_core_imports_with_prefect_and_ray_blocked():
    # Alembic's env.py runs migrations when imported, so it is only importable under Alembic.
    modules = sorted(
        "void_core." + ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in ROOT.rglob("*.py")
        if "migrations" not in p.relative_to(ROOT).parts
    )
    code = (
        "import sys\n"
        "for name in ('prefect', 'ray', 'prefect_ray'): sys.modules[name] = None\n"
        "import importlib\n"
        f"for m in {modules!r}: importlib.import_module(m.removesuffix('.'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_tasks_never_import_flows():
    tasks_root = ROOT.parent / "tasks"
    offenders = {p.name: sorted(_imported_roots(p) & {"flows"}) for p in tasks_root.rglob("*.py")
                 if _imported_roots(p) & {"flows"}}
    assert list(tasks_root.glob("*.py")), "tasks/ holds the Prefect tasks"
    assert offenders == {}


def _module_name(path: Path) -> str:
    parts = ("void_core",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def _runtime_nodes(tree: ast.AST):
    """Every node that can run, at import or inside a function; `if TYPE_CHECKING:` blocks are
    left out (annotations only, never executed)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def _void_core_imports(path: Path, modules: set[str]) -> set[str]:
    """The void_core modules `path` imports anywhere in it (inside functions too)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            while name:  # importing a.b.c runs a and a.b first
                found.add(name)
                name = name.rpartition(".")[0]
    return found - {"void_core"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _module_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}
    modules = set(files)
    # Importing a.b.c imports the packages a and a.b first, so those count as edges; a module's
    # own packages are already importing when it runs, so edges up to them do not.
    graph = {name: _void_core_imports(path, modules) - {name} for name, path in files.items()}
    return {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}


def test_void_core_has_no_import_cycle_even_through_lazy_imports():
    graph = _module_graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_void_core_packages_depend_one_way():
    """analysis -> masking and masking -> analysis in the same tree is a cycle waiting for a lazy
    import to be moved to the top of a file."""
    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for name, deps in _module_graph().items():
        packages.setdefault(top(name), set()).update(top(d) for d in deps if top(d) != top(name))
    for deps in list(packages.values()):
        for dep in deps:
            packages.setdefault(dep, set())
    assert _cycle(packages) is None, " -> ".join(_cycle(packages))


def test_cycle_finder_finds_a_lazy_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
