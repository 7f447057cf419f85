"""redacted_customers: the customer keys customers/redact removed, as keyed hashes

An order payload triggered before a redaction can arrive after it and name the customer again;
it then joins the customer's pseudonym instead of making a second customer (plugin.pseudonyms).
Redactions before this revision are not known here (their keys are gone from the states, as
intended); they are remembered from the next one on.

Revision ID: 0012_redacted_customers
Revises: 0011_returns_with_their_order
Create Date: 2026-12-01 06:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012_redacted_customers"
down_revision: Union[str, None] = "0011_returns_with_their_order"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "redacted_customers",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", "digest"),
    )


def downgrade() -> None:
    op.drop_table("redacted_customers")
