"""rate_buckets: the GCRA state of rate-limited keys, shared by every process

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 13:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # tat: the theoretical arrival time in µs since the epoch (database clock); granted:
    # the cells the last reservation got, so the UPSERT can return it in one statement.
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("tat", sa.BigInteger(), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
