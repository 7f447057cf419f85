"""alert rules: carts_drop_cusum for every shop that has rules

A shop's fall in traffic shows in its carts about three times sooner than in its orders (a cart for
every order and about two more that do not become one). carts_drop_cusum runs orders_drop_cusum's
CUSUM over carts, from 5,000 carts a week, and is told only when the orders of the same stretch
point down too (plugin.alerts.detect.KPIS["carts"].confirm); it is one incident with the orders
rules. Shops with rules get it, switched on where
their orders_drop_cusum is on (a merchant who switched that off did not want to hear of slow drops),
off otherwise. A shop without any rule gets the new defaults on its next evaluation
(plugin.alerts.evaluate.ensure_default_rules).

Revision ID: 0023_carts_drop_cusum_rule
Revises: 0022_shop_admin_url
Create Date: 2026-12-01 19:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0023_carts_drop_cusum_rule"
down_revision: Union[str, None] = "0022_shop_admin_url"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

RULES = sa.table("alert_rules", sa.column("shop_id", sa.Integer), sa.column("key", sa.String),
                 sa.column("kpi", sa.String), sa.column("kind", sa.String), sa.column("window", sa.String),
                 sa.column("window_hours", sa.Integer), sa.column("change_pct", sa.Float),
                 sa.column("threshold", sa.String), sa.column("direction", sa.String),
                 sa.column("min_volume", sa.Float), sa.column("reference_hours", sa.Integer),
                 sa.column("for_minutes", sa.Integer), sa.column("repeat_minutes", sa.Integer),
                 sa.column("enabled", sa.Boolean), sa.column("status", sa.String),
                 sa.column("owed_resolved", sa.Boolean), sa.column("incident", sa.Integer))
# the rule as DEFAULT_RULES has it at this revision
CARTS = {"key": "carts_drop_cusum", "kpi": "carts", "kind": "drop", "window": "cusum", "window_hours": 168,
         "change_pct": 50.0, "threshold": None, "direction": "below", "min_volume": 5000.0, "reference_hours": 0,
         "for_minutes": 30, "repeat_minutes": 1440, "status": "ok", "owed_resolved": False, "incident": 0}


def upgrade() -> None:
    bind = op.get_bind()
    have = set(bind.execute(sa.select(RULES.c.shop_id).where(RULES.c.key == CARTS["key"])).scalars())
    on = set(bind.execute(sa.select(RULES.c.shop_id).where(RULES.c.key == "orders_drop_cusum",
                                                           RULES.c.enabled.is_(True))).scalars())
    shops = sorted(s for s in bind.execute(sa.select(RULES.c.shop_id).distinct()).scalars() if s not in have)
    if shops:
        bind.execute(RULES.insert(), [{**CARTS, "shop_id": shop_id, "enabled": shop_id in on} for shop_id in shops])


def downgrade() -> None:
    # switched off, not deleted (their past alerts stay): the code before this revision knows no
    # "carts" KPI and would fail evaluating the shop
    op.get_bind().execute(RULES.update().where(RULES.c.kpi == "carts").values(enabled=False))
