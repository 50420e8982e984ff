"""Alembic migrations of the lineage schema.

One copy: the top-level `migrations/` of a checkout, which the wheel ships as the package
`void_core.lineage.migrations` (see setup.py). Driven from code by `void_core.lineage.db`, or by
`alembic` from the checkout root (alembic.ini).
"""
