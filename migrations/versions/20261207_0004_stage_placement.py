"""Where a stage ran: the Ray node id, the host name and the GPU, per stage_run.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07

`worker` (host:pid) stays as it was; these three say which farm node and card did the work,
the first question when one node produces bad frames. All nullable: rows written before this
revision, and stages run outside Ray, have no node id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (("node_id", 64), ("hostname", 255), ("gpu_name", 255))


def upgrade() -> None:
    with op.batch_alter_table("stage_run") as batch:
        for name, length in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stage_run") as batch:
        for name, _length in reversed(COLUMNS):
            batch.drop_column(name)
