"""WooCommerce orders anonymized before 0020: back to their own customers

Before OrderState.customer_known, every order WooCommerce had anonymized (customer_id 0, the
address "deleted@site.invalid") was counted under one customer, the keyed hash of that address:
customers, new customers, the returning rate, CRR and CLV were wrong for every shop with such
orders. Each such order now takes the customer of the newest stored body of it that tells one,
or none where Kompas never saw it before its anonymization (section 3); it is noted so that its
stored bodies are scrubbed; the shop's counters are rewritten from its states
(plugin.woocommerce.privacy.relink_lumped_orders). Shops without such orders are not touched.
Run with the delivery worker stopped, as every `kompas db upgrade`.

Revision ID: 0021_relink_anonymized_orders
Revises: 0020_anonymized_orders
Create Date: 2026-12-01 11:20:00
"""
from datetime import datetime, timezone
from typing import Sequence, Union

from alembic import op

revision: str = "0021_relink_anonymized_orders"
down_revision: Union[str, None] = "0020_anonymized_orders"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session, load_only

    from plugin.models import Shop
    from plugin.woocommerce.privacy import relink_lumped_orders

    # The shops table as it is at this revision: the model may have more columns by now (0022's
    # admin_url), which a plain select(Shop) would ask a database at this revision for.
    columns = (Shop.id, Shop.platform, Shop.domain, Shop.name, Shop.currency, Shop.timezone, Shop.webhook_secret,
               Shop.customer_hash_key, Shop.created_at, Shop.uninstalled_at, Shop.scopes, Shop.retention_days,
               Shop.excluded_statuses, Shop.site_url)
    session = Session(bind=op.get_bind())
    try:
        now = datetime.now(timezone.utc)
        shops = select(Shop).options(load_only(*columns, raiseload=True)).where(Shop.platform == "woocommerce")
        for shop in session.scalars(shops.order_by(Shop.id)).all():
            relink_lumped_orders(session, shop, now)
        session.flush()
    finally:
        session.close()


def downgrade() -> None:
    pass   # the relinked customers are the right ones; nothing to undo
