"""Secrets Kompas holds for a shop (access tokens, refresh tokens, API keys), sealed at rest
with the app's vault (plugin.sealed: Fernet, keys from KOMPAS_SECRET_KEY, rotating)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import ShopCredential
from .sealed import CredentialError, Vault, instance_keys, use_for_columns  # noqa: F401  (re-exported)

SHOPIFY_OFFLINE = "shopify_offline"
WOOCOMMERCE_REST = "woocommerce_rest"


def save_credential(session: Session, vault: Vault, shop_id: int, kind: str, data: dict[str, Any],
                    expires_at: datetime | None = None) -> None:
    """Store (or replace) the shop's credential of `kind`, sealed."""
    row = session.get(ShopCredential, (shop_id, kind))
    if row is None:
        row = ShopCredential(shop_id=shop_id, kind=kind)
        session.add(row)
    row.sealed = vault.seal(data)
    row.expires_at = expires_at
    row.updated_at = datetime.now(timezone.utc)
    session.flush()


def load_credential(session: Session, vault: Vault, shop_id: int, kind: str) -> dict[str, Any] | None:
    """The shop's credential of `kind`, opened; None when there is none."""
    row = session.get(ShopCredential, (shop_id, kind))
    return None if row is None else vault.open(row.sealed)


def drop_credentials(session: Session, shop_id: int, kind: str | None = None) -> int:
    """Forget the shop's credentials (of one kind, or all); returns how many were dropped."""
    query = delete(ShopCredential).where(ShopCredential.shop_id == shop_id)
    if kind is not None:
        query = query.where(ShopCredential.kind == kind)
    return session.execute(query).rowcount or 0


def credential_kinds(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(ShopCredential.kind).where(ShopCredential.shop_id == shop_id)))
