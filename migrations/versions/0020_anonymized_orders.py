"""anonymized_orders: WooCommerce orders the store anonymized, whose stored bodies Kompas scrubs

When WooCommerce anonymizes an order (an erasure request, or its retention of personal data),
Kompas scrubs the bodies it stored of that order too. Searching a shop's stored bodies in the
applier for every such order would take minutes of a big shop's applying when a retention cleanup
anonymizes thousands at once, so the applier only notes the order here (and scrubs the bodies it
is applying), and a background pass scrubs the earlier bodies of all noted orders in one read.

Revision ID: 0020_anonymized_orders
Revises: 0019_data_requests
Create Date: 2026-12-01 10:50:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0020_anonymized_orders"
down_revision: Union[str, None] = "0019_data_requests"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "anonymized_orders",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scrubbed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", "order_id"),
    )


def downgrade() -> None:
    op.drop_table("anonymized_orders")
