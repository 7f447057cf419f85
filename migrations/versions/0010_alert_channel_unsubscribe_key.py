"""alert_channels.unsubscribe_key: the digest e-mails' unsubscribe link

A digest e-mail ends with a link that switches that digest off for its address, and carries it as
List-Unsubscribe (RFC 2369, one click per RFC 8058): /panel/alerts/unsubscribe/<key>, a random key per
e-mail channel (plugin.panel.alerts.unsubscribe). Existing e-mail channels get one here.

Revision ID: 0010_channel_unsubscribe_key
Revises: 0009_hour_source_counters
Create Date: 2026-12-01 05:30:00
"""
import secrets
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010_channel_unsubscribe_key"
down_revision: Union[str, None] = "0009_hour_source_counters"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("alert_channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsubscribe_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_alert_channels_unsubscribe_key", ["unsubscribe_key"])
    channels = sa.table("alert_channels", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                        sa.column("unsubscribe_key", sa.String))
    bind = op.get_bind()
    for (channel_id,) in bind.execute(sa.select(channels.c.id).where(channels.c.kind == "email")).all():
        bind.execute(channels.update().where(channels.c.id == channel_id)
                     .values(unsubscribe_key=secrets.token_urlsafe(24)))


def downgrade() -> None:
    with op.batch_alter_table("alert_channels", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alert_channels_unsubscribe_key", type_="unique")
        batch_op.drop_column("unsubscribe_key")
