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
