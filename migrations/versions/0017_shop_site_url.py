"""shops.site_url: a WooCommerce site's URL with its path's letter case

A shop's key folds the whole URL to lower case, so that https://host/Shop and https://host/shop were
one key: a store under a path with capital letters could not connect at all (its reported home did
not match the URL it connected from), and another site at the same path in other letter case
would have been taken for a reconnect. Connect now keeps the exact URL here and refuses a site that
differs from it. Shops connected before this have none until their next connect.

Revision ID: 0017_shop_site_url
Revises: 0016_backdated_purchase_pairs
Create Date: 2026-12-01 09:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0017_shop_site_url"
down_revision: Union[str, None] = "0016_backdated_purchase_pairs"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_url", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_column("site_url")
