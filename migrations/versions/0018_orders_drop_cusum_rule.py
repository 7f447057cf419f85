"""alert rules: orders_drop_cusum for every shop, instead of the half-day, day and week rules

New shops get one rule for a small shop's drop in orders, Page's CUSUM over the last week
(plugin.alerts.detect.cusum_scan), instead of orders_drop_half_day, orders_drop_day and
orders_drop_week (plugin.alerts.rules.DEFAULT_RULES; benchmarks/alerts_detection.py). Existing
shops get it too, and those three are switched off where they still have their default settings and
are not pending or firing: the new rule tells what they told, sooner, and together they would add
false alerts. A rule the merchant changed, or one whose alert is open, stays as it is (the
merchant can switch it off in the panel). A shop without any rule gets the new defaults on its
next evaluation (plugin.alerts.evaluate.ensure_default_rules).

Revision ID: 0018_orders_drop_cusum_rule
Revises: 0017_shop_site_url
Create Date: 2026-12-01 09:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0018_orders_drop_cusum_rule"
down_revision: Union[str, None] = "0017_shop_site_url"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

RULES = sa.table("alert_rules", sa.column("id", sa.Integer), sa.column("shop_id", sa.Integer),
                 sa.column("key", sa.String), sa.column("kpi", sa.String), sa.column("kind", sa.String),
                 sa.column("window", sa.String), sa.column("window_hours", sa.Integer),
                 sa.column("change_pct", sa.Float), sa.column("threshold", sa.String),
                 sa.column("direction", sa.String), sa.column("min_volume", sa.Float),
                 sa.column("reference_hours", sa.Integer), sa.column("for_minutes", sa.Integer),
                 sa.column("repeat_minutes", sa.Integer), sa.column("quiet_start", sa.String),
                 sa.column("quiet_end", sa.String), sa.column("muted_until", sa.DateTime),
                 sa.column("enabled", sa.Boolean), sa.column("status", sa.String),
                 sa.column("owed_resolved", sa.Boolean), sa.column("incident", sa.Integer))
# the rule as DEFAULT_RULES has it at this revision
CUSUM = {"key": "orders_drop_cusum", "kpi": "orders", "kind": "drop", "window": "cusum", "window_hours": 168,
         "change_pct": 50.0, "threshold": None, "direction": "below", "min_volume": 10.0, "reference_hours": 0,
         "for_minutes": 30, "repeat_minutes": 1440, "enabled": True, "status": "ok", "owed_resolved": False,
         "incident": 0}
# the replaced rules' default settings: (key, window_hours, change_pct, min_volume, for_minutes, repeat_minutes)
REPLACED = [("orders_drop_half_day", 12, 35.0, 8.0, 30, 1440), ("orders_drop_day", 24, 35.0, 12.0, 0, 1440),
            ("orders_drop_week", 168, 30.0, 50.0, 0, 4320)]


def upgrade() -> None:
    bind = op.get_bind()
    have = set(bind.execute(sa.select(RULES.c.shop_id).where(RULES.c.key == CUSUM["key"])).scalars())
    shops = [shop_id for shop_id in bind.execute(sa.select(RULES.c.shop_id).distinct()).scalars() if shop_id not in have]
    if shops:
        bind.execute(RULES.insert(), [{**CUSUM, "shop_id": shop_id} for shop_id in sorted(shops)])
    for key, hours, change, volume, for_minutes, repeat in REPLACED:
        bind.execute(RULES.update().where(
            RULES.c.key == key, RULES.c.kpi == "orders", RULES.c.kind == "drop", RULES.c.window == "hours",
            RULES.c.window_hours == hours, RULES.c.change_pct == change, RULES.c.min_volume == volume,
            RULES.c.reference_hours == 0, RULES.c.threshold.is_(None), RULES.c.direction == "below",
            RULES.c.for_minutes == for_minutes, RULES.c.repeat_minutes == repeat, RULES.c.quiet_start.is_(None),
            RULES.c.quiet_end.is_(None), RULES.c.muted_until.is_(None), RULES.c.status == "ok",
            RULES.c.owed_resolved.is_(False), RULES.c.enabled.is_(True)).values(enabled=False))


def downgrade() -> None:
    # the "cusum" rules are switched off, not deleted (their past alerts stay; the code before this
    # revision evaluates enabled rules only and knows no "cusum" window), and the three replaced
    # rules on again (a merchant's own switching off of them is not remembered)
    bind = op.get_bind()
    bind.execute(RULES.update().where(RULES.c.window == "cusum").values(enabled=False))
    for key, *_ in REPLACED:
        bind.execute(RULES.update().where(RULES.c.key == key).values(enabled=True))
