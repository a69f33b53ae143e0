"""tasks.state holds up to 4,096 characters (chat-bot plugins put a JSON object there)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Widening a varchar is a catalogue change on PostgreSQL (no table rewrite); SQLite
    # does not enforce the length, and batch mode copies the table only there.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column(
            "state", type_=sa.String(4096), existing_type=sa.String(255), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column(
            "state", type_=sa.String(255), existing_type=sa.String(4096), existing_nullable=True
        )
