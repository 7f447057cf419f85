"""data_requests: Shopify's customers/data_request, kept for the merchant

customers/data_request used to be logged only, though the stored delivery bodies hold the
customer's details as Shopify sent them. Each request is now kept with the orders and stored
deliveries that concern the customer, and the panel offers the merchant their download.

Revision ID: 0019_data_requests
Revises: 0018_orders_drop_cusum_rule
Create Date: 2026-12-01 10:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0019_data_requests"
down_revision: Union[str, None] = "0018_orders_drop_cusum_rule"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "data_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("order_ids", sa.JSON(), nullable=False),
        sa.Column("delivery_ids", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_id", "request_id", name="uq_data_requests_shop_request"),
    )


def downgrade() -> None:
    op.drop_table("data_requests")
