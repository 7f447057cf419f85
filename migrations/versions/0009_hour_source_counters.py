"""hour_counters: orders and sales per traffic source and hour, for an alert's biggest contributor

An alert over some hours names the traffic source that fell most against the same hours of the
previous weeks (plugin.alerts.evaluate.contributor); it used whole days before, which compared
this morning with a newsletter's evening. The counters "hour:HH|src:<source>|orders" and
"…|sales" (plugin.kpi.contributions.hour_source_counter) are filled in here for every shop from
its stored entity states, with the product's own functions (the definition `kompas verify` checks
against); no schema change. Run with the delivery worker stopped, as every `kompas db upgrade`.

Revision ID: 0009_hour_source_counters
Revises: 0008_later_purchase_pairs
Create Date: 2026-12-01 05:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_hour_source_counters"
down_revision: Union[str, None] = "0008_later_purchase_pairs"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PATTERN = "hour:__|src:%"   # plugin.kpi.contributions.hour_source_counter as of 0009


def _is_hour_source(name: str) -> bool:
    return name.startswith("hour:") and name[7:12] == "|src:"


def upgrade() -> None:
    from plugin.migrate import recount

    hours = sa.table("hour_counters", sa.column("name", sa.String))
    recount(op.get_bind(), _is_hour_source, [hours.delete().where(hours.c.name.like(PATTERN))])


def downgrade() -> None:
    hours = sa.table("hour_counters", sa.column("name", sa.String))
    op.execute(hours.delete().where(hours.c.name.like(PATTERN)))
