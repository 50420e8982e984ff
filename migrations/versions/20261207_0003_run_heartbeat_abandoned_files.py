"""Runs record their process and heartbeat; "abandoned" statuses; each written file's size,
modification time and digest (`artifact_file`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A running run whose process is gone becomes "abandoned" (run, shot and stage rows). Outputs are
verified against `artifact_file` before a rerun skips them. SQLite cannot alter a CHECK
constraint in place: batch mode rebuilds the tables there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RUN_STATUSES = ("running", "succeeded", "failed", "cancelled")
STAGE_STATUSES = ("running", "succeeded", "failed", "skipped")
ABANDONED = "abandoned"
TIMESTAMP = sa.DateTime(timezone=True)


def _replace_status_check(table: str, statuses: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{status}'" for status in statuses)
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(f"ck_{table}_status"), type_="check")
        batch.create_check_constraint(op.f(f"ck_{table}_status"), sa.text(f"status IN ({allowed})"))


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("heartbeat", TIMESTAMP, nullable=True))
    _replace_status_check("run", RUN_STATUSES + (ABANDONED,))
    _replace_status_check("shot", RUN_STATUSES + (ABANDONED,))
    _replace_status_check("stage_run", STAGE_STATUSES + (ABANDONED,))
    op.create_table(
        "artifact_file",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("artifact_id", sa.String(36), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifact.id"],
                                name=op.f("fk_artifact_file_artifact_id_artifact")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_file")),
    )
    op.create_index(op.f("ix_artifact_file_artifact_id"), "artifact_file", ["artifact_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_artifact_file_artifact_id"), table_name="artifact_file")
    op.drop_table("artifact_file")
    # An abandoned row was a running one whose process died: that is what 0002 can hold.
    for table in ("run", "shot", "stage_run"):
        op.execute(sa.text(f"UPDATE {table} SET status = 'failed' WHERE status = '{ABANDONED}'"))
    _replace_status_check("stage_run", STAGE_STATUSES)
    _replace_status_check("shot", RUN_STATUSES)
    _replace_status_check("run", RUN_STATUSES)
    with op.batch_alter_table("run") as batch:
        batch.drop_column("heartbeat")
        batch.drop_column("pid")
