"""A stage run may be one part of a stage: `stage_run.part` ("prepare", "0001-0120", "finish").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A long shot's inpaint stage runs as a prepare step, frame-range parts on any worker, and a
finish that records the whole EXR sequence; each is a stage_run row of the `inpaint` stage
with its part named here. NULL: the whole stage (every row written before this revision).
The artifact kind `work` is a file one part writes for others (the classical engine's learned
background), so a rerun reuses it only while it is intact.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KINDS_BEFORE = ("exr_sequence", "mask", "preview", "contact_sheet", "otio", "json")
KINDS_AFTER = KINDS_BEFORE + ("work",)
CONSTRAINT = "ck_artifact_kind"


def _replace_kind_check(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    with op.batch_alter_table("artifact") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), sa.text(f"kind IN ({allowed})"))


def upgrade() -> None:
    with op.batch_alter_table("stage_run") as batch:
        batch.add_column(sa.Column("part", sa.String(32), nullable=True))
    _replace_kind_check(KINDS_AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM artifact_file WHERE artifact_id IN "
                       "(SELECT id FROM artifact WHERE kind = 'work')"))
    op.execute(sa.text("DELETE FROM artifact WHERE kind = 'work'"))
    _replace_kind_check(KINDS_BEFORE)
    with op.batch_alter_table("stage_run") as batch:
        batch.drop_column("part")
