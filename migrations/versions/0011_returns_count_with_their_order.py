"""daily_counters: returns count with their order (a deleted or test order's returns do not)

Section 8: "a deleted order contributes nothing". Return requests and approvals were counted by
themselves, whatever became of their order; they now count through their order's aggregate
(plugin.kpi.contributions.returns_contribution). This recomputes returns_requested and
returns_approved for every shop from its stored entity states, with the product's own functions
(the definition `kompas verify` checks against); no schema change. Run with the delivery worker
stopped, as every `kompas db upgrade`.

Revision ID: 0011_returns_with_their_order
Revises: 0010_channel_unsubscribe_key
Create Date: 2026-12-01 06:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0011_returns_with_their_order"
down_revision: Union[str, None] = "0010_channel_unsubscribe_key"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAMES = ("returns_requested", "returns_approved")   # plugin.kpi.contributions.return_contribution as of 0011


def _returns_delete():  # noqa: ANN202
    daily = sa.table("daily_counters", sa.column("name", sa.String))
    return daily.delete().where(daily.c.name.in_(NAMES))


def upgrade() -> None:
    from plugin.migrate import recount

    recount(op.get_bind(), lambda name: name in NAMES, [_returns_delete()])


def downgrade() -> None:
    """The definition before 0011: every return by itself."""
    from collections import Counter

    from plugin import counters
    from plugin.ingest import all_states
    from plugin.kpi.booking import shop_zone
    from plugin.kpi.contributions import return_contribution
    from plugin.kpi.entities import ReturnState

    bind = op.get_bind()
    bind.execute(_returns_delete())
    session = Session(bind=bind)
    try:
        for shop_id, timezone in bind.execute(sa.text("SELECT id, timezone FROM shops ORDER BY id")).all():
            cells: Counter = Counter()
            for state in all_states(session, shop_id):
                if isinstance(state, ReturnState):
                    cells.update(return_contribution(state, shop_zone(timezone)))
            counters.add(session, shop_id, cells)
        session.flush()
    finally:
        session.close()
