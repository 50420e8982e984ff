"""Packaging beyond what pyproject.toml can say: the top-level `migrations/` ships inside the
wheel as `void_core.lineage.migrations`, so one copy serves `alembic` in a checkout and
`void-farm db upgrade` when installed."""

from setuptools import find_packages, setup

MIGRATIONS = "void_core.lineage.migrations"

setup(
    packages=find_packages(include=["void_core*", "tasks*", "flows*"])
    + [MIGRATIONS, f"{MIGRATIONS}.versions"],
    package_dir={MIGRATIONS: "migrations"},
    package_data={MIGRATIONS: ["script.py.mako"]},
)
