"""Alembic migrations of the lineage schema; a package so that wheels ship it.

Driven from code by `void_core.lineage.db` (no alembic.ini).
"""
