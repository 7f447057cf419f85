"""shops.retention_days: each shop's retention window W (kpi-definitions.md section 3)

"A customer is active at instant t when their last order before t is at most W days old (W = 365
by default, a shop setting)": the merchant sets it in the panel (PUT /panel/retention); every shop
starts at 365.

Revision ID: 0014_shop_retention_days
Revises: 0013_unpaid_cancellation_refunds
Create Date: 2026-12-01 07:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0014_shop_retention_days"
down_revision: Union[str, None] = "0013_unpaid_cancellation_refunds"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), nullable=False, server_default="365"))


def downgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
