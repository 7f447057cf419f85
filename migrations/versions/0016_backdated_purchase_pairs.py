"""back-dated orders buy the carts and checkouts created after their booking day

A purchase in R is a counted order booked in R whose cart (checkout) was created in R
(kpi-definitions.md section 8), whichever day comes first. An order whose processed_at is back-dated
before its cart's creation day counted in no range; it now counts through the pair counters
cart_purchase_backdated and checkout_purchase_backdated (plugin.kpi.contributions). Orders applied
before them get their pairs from the stored entity states, as `kompas rebuild` computes them,
so that a later change to such an order retracts a cell that is there. Run with the delivery
worker stopped, as every `kompas db upgrade`.

Revision ID: 0016_backdated_purchase_pairs
Revises: 0015_shop_excluded_statuses
Create Date: 2026-12-01 08:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0016_backdated_purchase_pairs"
down_revision: Union[str, None] = "0015_shop_excluded_statuses"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAMES = ("cart_purchase_backdated", "checkout_purchase_backdated")   # contributions.BACKDATED_PURCHASES as of 0016


def upgrade() -> None:
    from plugin.migrate import recount

    histograms = sa.table("day_histograms", sa.column("name", sa.String))
    recount(op.get_bind(), lambda name: name in NAMES, [histograms.delete().where(histograms.c.name.in_(NAMES))])


def downgrade() -> None:
    histograms = sa.table("day_histograms", sa.column("name", sa.String))
    op.execute(histograms.delete().where(histograms.c.name.in_(NAMES)))
