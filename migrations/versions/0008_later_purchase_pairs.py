"""day_histograms: the purchases on a later day than their cart's (or checkout's) creation

Range cart and checkout abandonment count an order whose cart was created on an earlier day of
the range (kpi-definitions.md section 8), through the pair counters cart_purchase_later and
checkout_purchase_later (plugin.kpi.contributions). Orders applied before those counters existed
have none: without them, the first change to such an order would retract a cell that was never
added. This fills them in for every shop from its stored entity states, with the product's own
functions (the definition `kompas verify` checks against); no schema change. Run with the
delivery worker stopped, as every `kompas db upgrade`.

Revision ID: 0008_later_purchase_pairs
Revises: 0007_alert_reference_hours
Create Date: 2026-12-01 03:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_later_purchase_pairs"
down_revision: Union[str, None] = "0007_alert_reference_hours"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAMES = ("cart_purchase_later", "checkout_purchase_later")   # plugin.kpi.contributions.LATER_PURCHASES as of 0008


def upgrade() -> None:
    from plugin.migrate import recount

    histograms = sa.table("day_histograms", sa.column("name", sa.String))
    recount(op.get_bind(), lambda name: name in NAMES, [histograms.delete().where(histograms.c.name.in_(NAMES))])


def downgrade() -> None:
    histograms = sa.table("day_histograms", sa.column("name", sa.String))
    op.execute(histograms.delete().where(histograms.c.name.in_(NAMES)))
