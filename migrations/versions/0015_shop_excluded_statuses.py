"""shops.excluded_statuses and order_statuses: the order statuses a WooCommerce merchant excluded,
and those the shop's orders have had

Section 1: "orders in statuses the merchant excluded never count". The merchant chooses them in
the panel (PUT /panel/excluded-statuses); every order keeps its status in its state, and changing
the choice marks the stored orders and rewrites the counters (plugin.ingest.apply_exclusions).
Orders stored before this revision have no status in their state: their next delivery brings it,
and `kompas replay --shop S --all` brings it from the stored deliveries for all of them.

Revision ID: 0015_shop_excluded_statuses
Revises: 0014_shop_retention_days
Create Date: 2026-12-01 08:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0015_shop_excluded_statuses"
down_revision: Union[str, None] = "0014_shop_retention_days"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("excluded_statuses", sa.String(length=1000), nullable=False, server_default=""))
    # the statuses the shop's orders have had, recorded as states are written (the panel's list)
    op.create_table(
        "order_statuses",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", "status"),
    )


def downgrade() -> None:
    op.drop_table("order_statuses")
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_column("excluded_statuses")
