"""shops.admin_url: a WooCommerce site's wp-admin, as its plugin's return URL names it

The "Open Kompas" link of an alert or a digest led to the site's URL + /wp-admin/, which is wrong for
a WordPress in its own directory (WordPress Address https://winkel.nl/wp, Site Address
https://winkel.nl): its wp-admin is https://winkel.nl/wp/wp-admin/. Connect now keeps the admin
address the plugin's return URL (admin_url()) names. Shops connected before this have none until
their next connect and keep the old link.

Revision ID: 0022_shop_admin_url
Revises: 0021_relink_anonymized_orders
Create Date: 2026-12-01 19:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0022_shop_admin_url"
down_revision: Union[str, None] = "0021_relink_anonymized_orders"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin_url", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_column("admin_url")
