"""Lineage: what ran, on what, with which engine, model and settings, producing which files.

    run -> shot -> stage_run (one row per attempt or skip) -> artifact (file or `####` sequence)

SQLite by default (WAL, `BEGIN IMMEDIATE`), PostgreSQL for a farm; schema migrations with
Alembic (the top-level `migrations/`). Secrets never reach the database (`scrub.py`).
No Prefect or Ray imports: tasks and flows call `open_store` and the `LineageStore` methods.
"""

from void_core.lineage.db import (
    DEFAULT_URL, ENV_VAR, LineageError, current_revision, downgrade, head_revision, mask_url,
    parameter_url, resolve_parameter_url, resolve_url, upgrade,
)
from void_core.lineage.models import ARTIFACT_KINDS, RUN_KINDS, STAGE_STATUSES, STAGES
from void_core.lineage.records import (
    ArtifactRecord, RunRecord, ShotRecord, StageRecord, TraceRecord, as_json,
)
from void_core.lineage.scrub import scrub_settings
from void_core.lineage.store import LineageStore, open_store

__all__ = [
    "ARTIFACT_KINDS", "DEFAULT_URL", "ENV_VAR", "RUN_KINDS", "STAGES", "STAGE_STATUSES",
    "ArtifactRecord", "LineageError", "LineageStore", "RunRecord", "ShotRecord", "StageRecord",
    "TraceRecord", "as_json", "current_revision", "downgrade", "head_revision", "mask_url",
    "open_store", "parameter_url", "resolve_parameter_url", "resolve_url", "scrub_settings",
    "upgrade",
]
