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


# --- WooCommerce's anonymization, and figures rebuilt from stored bodies ----------------------

def anonymized_by_woocommerce(order: dict, at: Any = None) -> dict:
    """`order` (REST v3) as WC_Privacy_Erasers::remove_order_personal_data leaves it: text fields
    "[deleted]" (wp_privacy_anonymize_data), state, country and phone emptied, the address
    "deleted@site.invalid", the IP masked, the browser "[deleted]", customer_id 0, meta
    `_anonymized`; saved (modified) at `at` (an aware datetime) when given. The customer note stays,
    as WooCommerce leaves it."""
    from datetime import timezone

    o = copy.deepcopy(order)
    for part in ("billing", "shipping"):
        for field, value in o[part].items():
            if value:
                o[part][field] = "" if field in ("state", "country", "phone") else "[deleted]"
    o["billing"]["email"] = "deleted@site.invalid"
    o.update(customer_id=0, customer_ip_address="203.0.113.0", customer_user_agent="[deleted]")
    if at is not None:
        when = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        o.update(date_modified=when, date_modified_gmt=when)
    o["meta_data"] = [*o["meta_data"], {"id": 9001, "key": "_anonymized", "value": "yes"}]
    return o


# what a shop's figures are made of: its entity states and counters (the deliveries stay)
FIGURE_TABLES = ("entity_states", "daily_counters", "source_counters", "day_histograms", "hour_counters")


def empty_figures(db, shop_id: int) -> None:  # noqa: ANN001
    """Delete the shop's states and counters, keeping its stored deliveries."""
    from plugin.models import Base

    with db.transaction() as session:
        for name in FIGURE_TABLES:
            table = Base.metadata.tables[name]
            session.execute(table.delete().where(table.c.shop_id == shop_id))


def replayed_from_bodies(db, shop_key: str) -> None:  # noqa: ANN001
    """The shop's figures emptied, then every stored delivery applied again in order (`kompas
    replay --all`): what the stored (scrubbed) bodies alone give."""
    from plugin import applier
    from plugin.shops import find_shop

    with db.reading() as session:
        shop_id = find_shop(session, shop_key).id
    empty_figures(db, shop_id)
    applier.requeue(db, shop_id=shop_id, statuses=(applier.PROCESSED, applier.IGNORED, applier.FAILED))
    applier.drain(db, shop_id=shop_id)


def verified_report(db, shop_key: str, first, last) -> dict:  # noqa: ANN001
    """The report of `shop_key` for first..last (without the shop's name, to compare two shops),
    after checking that every stored delivery was applied and that `kompas verify` holds."""
    from sqlalchemy import select

    from plugin import applier, ingest, report
    from plugin.models import Delivery
    from plugin.shops import find_shop

    with db.reading() as s:
        found = find_shop(s, shop_key)
        assert not s.scalars(select(Delivery.id).where(Delivery.shop_id == found.id,
                                                       Delivery.status != applier.PROCESSED)).all()
        result = report.build(s, found, first, last)
        assert ingest.differences(s, ingest.ShopContext.of(found)) == {}   # kompas verify
    result.pop("shop")
    return result


def woo_order_of_anna(order_id: int, *, email: str, created, customer_id: int = 0, status: str = "completed",
                      modified=None, paid=None, refunds: list | None = None) -> dict:  # noqa: ANN001
    """The real v3 order of tests/payloads (one line of 90.00) as order `order_id` of a customer
    with every personal detail a checkout takes (name, addresses, phone, IP, browser, a note), so
    that tests can see what is kept of them; times are aware datetimes."""
    from datetime import timezone

    def gmt(value):  # noqa: ANN001, ANN202
        return value and value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")

    modified = modified or created
    o = payload("woocommerce", "order.updated__airbytehq-airbyte")
    o.update(id=order_id, number=str(order_id), status=status, refunds=refunds or [], customer_id=customer_id,
             date_created=gmt(created), date_created_gmt=gmt(created),
             date_modified=gmt(modified), date_modified_gmt=gmt(modified),
             date_paid=gmt(paid), date_paid_gmt=gmt(paid),
             customer_ip_address="203.0.113.7", customer_user_agent="Mozilla/5.0 (X11; Linux x86_64)",
             customer_note="Graag bij de buren afgeven")
    o["billing"].update(first_name="Anna", last_name="de Vries", address_1="Prinsengracht 263",
                        city="Amsterdam", postcode="1016 GV", country="NL", phone="+31 20 555 0101", email=email)
    o["shipping"].update(first_name="Anna", last_name="de Vries", address_1="Prinsengracht 263",
                         city="Amsterdam", postcode="1016 GV", country="NL")
    return o
