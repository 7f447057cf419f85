"""WooCommerce stores: webhooks and self-healing state

Revision ID: 0004_woocommerce
Revises: 0003_alerts
Create Date: 2026-11-23 19:12:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = "0004_woocommerce"
down_revision: Union[str, None] = "0003_alerts"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "woocommerce_sites",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=True),
        sa.Column("webhooks", sa.JSON(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_orders_total", sa.Integer(), nullable=False),
        sa.Column("repaired_webhooks_total", sa.Integer(), nullable=False),
        sa.Column("last_repair_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_repair_orders", sa.Integer(), nullable=False),
        sa.Column("last_repair_webhooks", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_woocommerce_sites_shop_id_shops"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_woocommerce_sites")),
    )


def downgrade() -> None:
    op.drop_table("woocommerce_sites")
