"""Add the `qc` stage (per-shot preview MP4 and contact sheet) to stage_run.stage.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

SQLite cannot alter a CHECK constraint in place: batch mode rebuilds the table there (foreign
keys checked at commit); on PostgreSQL the constraint is dropped and created again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STAGES_BEFORE = ("ingest", "analysis", "masking", "inpaint", "refine", "write")
STAGES_AFTER = STAGES_BEFORE + ("qc",)
CONSTRAINT = "ck_stage_run_stage"


def _replace_stage_check(stages: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{stage}'" for stage in stages)
    with op.batch_alter_table("stage_run") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), sa.text(f"stage IN ({allowed})"))


def upgrade() -> None:
    _replace_stage_check(STAGES_AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM stage_run WHERE stage = 'qc'"))
    _replace_stage_check(STAGES_BEFORE)
