"""Initial lineage schema: run -> shot -> stage_run -> artifact.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Types are spelled out here rather than imported from `models.py`, so this revision keeps
creating the same tables whatever the models become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _check(table: str, column: str, *choices: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{choice}'" for choice in choices)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def _id() -> sa.Column:
    return sa.Column("id", sa.String(36), nullable=False)


def upgrade() -> None:
    run_statuses = ("running", "succeeded", "failed", "cancelled")
    op.create_table(
        "run",
        _id(),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started", TIMESTAMP, nullable=False),
        sa.Column("finished", TIMESTAMP, nullable=True),
        sa.Column("settings", JSON_DOCUMENT, nullable=False),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("software_version", sa.String(), nullable=True),
        sa.Column("prefect_flow_run_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _check("run", "kind", "shot", "cutlist"),
        _check("run", "status", *run_statuses),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
    )
    op.create_index(op.f("ix_run_name"), "run", ["name"])

    op.create_table(
        "shot",
        _id(),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=True),
        sa.Column("source_digest", sa.String(128), nullable=True),
        sa.Column("frame_first", sa.Integer(), nullable=True),
        sa.Column("frame_last", sa.Integer(), nullable=True),
        sa.Column("record_range", sa.String(), nullable=True),
        sa.Column("rate", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started", TIMESTAMP, nullable=False),
        sa.Column("finished", TIMESTAMP, nullable=True),
        _check("shot", "status", *run_statuses),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_shot_run_id_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shot")),
    )
    op.create_index(op.f("ix_shot_name"), "shot", ["name"])
    op.create_index(op.f("ix_shot_run_id"), "shot", ["run_id"])
    op.create_index(op.f("ix_shot_source_path"), "shot", ["source_path"])

    op.create_table(
        "stage_run",
        _id(),
        sa.Column("shot_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("identity", sa.String(128), nullable=False),
        sa.Column("engine", sa.String(), nullable=False),
        sa.Column("engine_version", sa.String(), nullable=True),
        sa.Column("engine_settings", JSON_DOCUMENT, nullable=False),
        sa.Column("model_checksums", JSON_DOCUMENT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started", TIMESTAMP, nullable=False),
        sa.Column("finished", TIMESTAMP, nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("worker", sa.String(), nullable=True),
        sa.Column("prefect_task_run_id", sa.String(64), nullable=True),
        sa.Column("reused_from_id", sa.String(36), nullable=True),
        _check("stage_run", "stage", "ingest", "analysis", "masking", "inpaint", "refine", "write"),
        _check("stage_run", "status", "running", "succeeded", "failed", "skipped"),
        sa.ForeignKeyConstraint(["shot_id"], ["shot.id"], name=op.f("fk_stage_run_shot_id_shot")),
        sa.ForeignKeyConstraint(["reused_from_id"], ["stage_run.id"],
                                name=op.f("fk_stage_run_reused_from_id_stage_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_run")),
    )
    op.create_index(op.f("ix_stage_run_identity"), "stage_run", ["identity"])
    op.create_index(op.f("ix_stage_run_shot_id"), "stage_run", ["shot_id"])

    op.create_table(
        "artifact",
        _id(),
        sa.Column("stage_run_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path_pattern", sa.String(), nullable=False),
        sa.Column("frame_first", sa.Integer(), nullable=True),
        sa.Column("frame_last", sa.Integer(), nullable=True),
        sa.Column("digest", sa.String(128), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        _check("artifact", "kind",
               "exr_sequence", "mask", "preview", "contact_sheet", "otio", "json"),
        sa.ForeignKeyConstraint(["stage_run_id"], ["stage_run.id"],
                                name=op.f("fk_artifact_stage_run_id_stage_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact")),
    )
    op.create_index(op.f("ix_artifact_path_pattern"), "artifact", ["path_pattern"])
    op.create_index(op.f("ix_artifact_stage_run_id"), "artifact", ["stage_run_id"])


def downgrade() -> None:
    for table in ("artifact", "stage_run", "shot", "run"):
        op.drop_table(table)  # drops the table's indexes and constraints with it
