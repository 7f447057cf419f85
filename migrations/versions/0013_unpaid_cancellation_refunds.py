"""every counter recounted: an unpaid cancellation's refund no longer gives its goods back twice

Cancelling an unpaid Shopify order gives the whole order back on the cancellation's day
(kpi-definitions.md section 2, so that its total sales net to zero); a refund Shopify makes with
it (its lines restocked, no money) booked the same goods as returns a second time, in returns,
refunded shipping and tax, the traffic source's and product's returns, the hour's returns and the
customer's lifetime value. Those refunds now book only their money and items
(plugin.kpi.contributions.order_contribution). The touched counters span every breakdown, so
every shop's counters are rewritten from its stored entity states, as `kompas rebuild` does (with
the product's own functions; no schema change). Run with the delivery worker stopped, as every
`kompas db upgrade`.

Revision ID: 0013_unpaid_cancellation_refunds
Revises: 0012_redacted_customers
Create Date: 2026-12-01 07:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0013_unpaid_cancellation_refunds"
down_revision: Union[str, None] = "0012_redacted_customers"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    from plugin.migrate import recount

    tables = ("daily_counters", "source_counters", "hour_counters", "day_histograms")
    recount(op.get_bind(), lambda name: True, [sa.table(name).delete() for name in tables])


def downgrade() -> None:
    pass   # the counters stay as recomputed: `kompas rebuild` after a downgrade gives the old definition
