"""Secrets Kompas holds for a shop (access tokens, refresh tokens, API keys), sealed at rest.

Sealing is `cryptography`'s Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) through
MultiFernet, so keys can be rotated: KOMPAS_SECRET_KEY holds one or more Fernet keys, comma
separated, newest first; the newest seals, every one of them opens. A database dump alone
therefore reveals no token.

Without KOMPAS_SECRET_KEY (a laptop, the demo) the app makes a key once and keeps it in the
instance folder (`secret.key`, mode 0600); production sets the variable.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import ShopCredential

SHOPIFY_OFFLINE = "shopify_offline"
WOOCOMMERCE_REST = "woocommerce_rest"


class CredentialError(Exception):
    """A sealed secret cannot be opened (wrong or rotated-away key, or tampered data)."""


class Vault:
    """Seals and opens JSON objects with the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a Vault needs at least one Fernet key")
        try:
            self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        except ValueError as exc:
            raise ValueError(f"KOMPAS_SECRET_KEY holds a key that is not a Fernet key: {exc}") from exc

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise CredentialError("sealed with a key Kompas does not have, or altered") from exc


def instance_keys(instance_path: str) -> list[str]:
    """The development key kept in the instance folder, made on first use."""
    path = os.path.join(instance_path, "secret.key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode())
    with open(path) as key_file:
        return [key_file.read().strip()]


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
