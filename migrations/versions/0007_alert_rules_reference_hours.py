"""alert_rules.reference_hours: a drop/rise over the last hours is also judged against the hours before it

A rule over an "hours" window with reference_hours R > 0 also compares its count with the R hours
right before the window, today's own level (plugin.alerts.detect: the share test), so that a day
running well above or below its four-week normal neither hides a drop nor fakes one. 0 for every
rule, except the default `orders_drop_recent` of shops that still have it as installed (the last
hour, 30 %): 12, as new shops get it.

Revision ID: 0007_alert_reference_hours
Revises: 0006_deliveries_body_lz4
Create Date: 2026-11-30 19:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0007_alert_reference_hours"
down_revision: Union[str, None] = "0006_deliveries_body_lz4"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference_hours", sa.Integer(), nullable=False, server_default="0"))
    rules = sa.table("alert_rules", sa.column("key", sa.String), sa.column("kpi", sa.String),
                     sa.column("kind", sa.String), sa.column("window", sa.String),
                     sa.column("window_hours", sa.Integer), sa.column("reference_hours", sa.Integer))
    op.execute(rules.update()
               .where(rules.c.key == "orders_drop_recent", rules.c.kpi == "orders", rules.c.kind == "drop",
                      rules.c.window == "hours", rules.c.window_hours == 1)
               .values(reference_hours=12))


def downgrade() -> None:
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.drop_column("reference_hours")
