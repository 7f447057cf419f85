"""Test helpers: real payloads by name, and really signed deliveries."""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from webhooks.signatures import sign

PAYLOADS = Path(__file__).parent / "payloads"
SHOPIFY_SECRET = "shpss_test_secret_0123456789abcdef"
SHOPIFY_OLD_SECRET = "shpss_old_secret_fedcba9876543210"
WOO_SECRET = "wc-secret-AbC123xyz"
SHOP = "demo.myshopify.com"
# Fernet keys that seal stored tokens in tests (KOMPAS_SECRET_KEY); the second is a rotated-out one.
SECRET_KEY = "T7J2sW0TuQ3iH3uGWN-XbZoZioiirUzukGKb7yJwSe4="
OLD_SECRET_KEY = "vJuBqzi_i8Udx-omjaLkGuDfW6FfvFvKKePG6vedAgc="
WOO_SITE = "https://winkel.example"


def payload(platform: str, name: str) -> Any:
    """A copy of a stored real payload (tests/payloads/<platform>/<name>*.json)."""
    matches = sorted((PAYLOADS / platform).glob(f"{name}*.json"))
    if not matches:
        raise FileNotFoundError(name)
    return copy.deepcopy(json.loads(matches[0].read_text()))


def shopify_headers(topic: str, raw: bytes, *, shop: str = SHOP, secret: str = SHOPIFY_SECRET,
                    webhook_id: str | None = None, triggered_at: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Hmac-Sha256": sign(raw, secret),
    }
    if triggered_at:
        headers["X-Shopify-Triggered-At"] = triggered_at
    return headers


def woo_headers(topic: str, raw: bytes, *, site: str = WOO_SITE, secret: str = WOO_SECRET,
                delivery_id: str = "039f3155b209b1c591c26f60004d889f") -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.8.0 Hookshot (WordPress/6.8)",
        "X-WC-Webhook-Source": site + "/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(raw, secret),
        "X-WC-Webhook-ID": "27",
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def create_postgres_database(url: str, prefix: str):  # noqa: ANN201
    """(URL of a new empty PostgreSQL database next to `url`, a function that drops it)."""
    import uuid as _uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{_uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def waiting_for_exclusive(db, name: str, key: int) -> int:  # noqa: ANN001
    """How many threads or processes wait right now for `db.exclusive(name, key)`: advisory locks
    not granted in pg_locks, or blocked flocks of the lock file in /proc/locks."""
    from sqlalchemy import text

    from plugin.db import EXCLUSIVE_NAMESPACES

    if db.dialect == "postgresql":
        with db.reading() as session:
            return session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                       " AND classid = :ns AND objid = :id"),
                                  {"ns": EXCLUSIVE_NAMESPACES[name], "id": key})
    lock_file = Path(f"{db.sqlite_lock.database}.{name}-{key}.lock")
    if not lock_file.exists():
        return 0
    inode = f":{lock_file.stat().st_ino} "
    return sum(1 for line in Path("/proc/locks").read_text().splitlines() if "->" in line and inode in line)


PANEL_API_KEY = "kompas-test-client-id"   # the Shopify client id the panel tests' apps are made with


def panel_bearer(shop: str = SHOP) -> dict[str, str]:
    """The Authorization header of a panel request with a fresh Shopify session token for `shop`."""
    from plugin.panel.auth import mint_session_token

    return {"Authorization": "Bearer " + mint_session_token(shop, api_key=PANEL_API_KEY, secret=SHOPIFY_SECRET)}
