"""One copy of the lineage migrations, two ways in: `alembic upgrade head` from a checkout (the
root's alembic.ini, the database from VOID_FARM_DB), and `void-farm db upgrade` from an
installed wheel, which ships the top-level `migrations/` as `void_core.lineage.migrations`."""

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

from void_core.lineage.db import VERSION_TABLE, head_revision

ROOT = Path(__file__).resolve().parents[1]
LINEAGE_TABLES = {"run", "shot", "stage_run", "artifact", "artifact_file", VERSION_TABLE}
# What a wheel is built from; anything else in the checkout stays out of the build.
WHEEL_SOURCES = ("pyproject.toml", "setup.py", "README.md", "void_core", "tasks", "flows",
                 "migrations")


def _schema(db: Path) -> tuple[set[str], str]:
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        (revision,) = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return tables, revision


def _run(args: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def test_alembic_upgrade_head_from_the_checkout_root(tmp_path):
    db = tmp_path / "lineage.db"
    env = {**os.environ, "VOID_FARM_DB": f"sqlite:///{db}"}
    _run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env)
    tables, revision = _schema(db)
    assert LINEAGE_TABLES <= tables
    assert revision == head_revision()


def test_installed_wheel_upgrades_a_database_from_outside_the_checkout(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", wheels, source], cwd=tmp_path)
    (wheel,) = wheels.glob("void_farm-*.whl")

    # A fresh environment holding only the wheel; its dependencies come from this one.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=tmp_path).stdout.strip()
    Path(purelib, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
         cwd=tmp_path)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    located = _run([python, "-c", "import void_core.lineage.db as db; print(db.MIGRATIONS_DIR)"],
                   cwd=outside, env=env).stdout.strip()
    assert Path(located) == Path(purelib, "void_core", "lineage", "migrations")

    db = tmp_path / "lineage.db"
    env["VOID_FARM_DB"] = f"sqlite:///{db}"
    _run([venv / "bin" / "void-farm", "db", "upgrade"], cwd=outside, env=env)
    tables, revision = _schema(db)
    assert LINEAGE_TABLES <= tables
    assert revision == head_revision()
