"""deliveries: drop ix_deliveries_shop_id, which uq_deliveries_shop_dedupe already covers

Every stored delivery paid for maintaining both indexes; the unique index leads with shop_id, so
lookups and cascading deletes by shop use it just as well.

Revision ID: 0005_deliveries_shop_ix
Revises: 0004_woocommerce
Create Date: 2026-11-30 12:20:00
"""
from typing import Sequence, Union

from alembic import op


revision: str = "0005_deliveries_shop_ix"
down_revision: Union[str, None] = "0004_woocommerce"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_shop_id")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_shop_id", ["shop_id"], unique=False)
