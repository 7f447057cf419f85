"""app/uninstalled and the three mandatory privacy webhooks (shopify.md §2.4).

They are answered in the request, after the receiver has verified Shopify's HMAC (a bad one is
401 before anything here runs): 200 once handled, also for a shop Kompas no longer knows
(shop/redact may come after everything is gone). Their bodies carry personal data, so, unlike
order webhooks, they are not stored.

- app/uninstalled: the shop is marked uninstalled, its tokens are dropped (they are invalid
  anyway), alerts stop; its figures stay until shop/redact.
- customers/redact: Kompas keeps no name, address or e-mail, but it links orders to the
  customer's Shopify id (or to a keyed hash of the e-mail address), and the raw bodies of stored
  deliveries contain personal data. The link is replaced by a random pseudonym, the same in the
  entity states and in the rewritten delivery bodies, so every figure stays as it was (the
  customer still counts as one customer) while nothing leads back to the person.
- customers/data_request: Kompas holds the customer's details in the stored delivery bodies (and,
  under their id or hashed address, the figures of their orders). Shopify leaves it to the app to
  give them to the merchant: the request is kept with the orders and deliveries that concern the
  customer, and the panel lists it with a download (plugin.shopify.data_requests).
- shop/redact: every row of the shop is deleted. An install after that starts a new shop.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import delete, func, or_, select, update

from ..credentials import drop_credentials
from ..db import bytes_contain
from ..models import Base, Delivery, EntityState, Shop, ShopCredential
from . import data_requests
from ..pseudonyms import Pseudonyms, order_name, remember_redacted, scrub_body
from webhooks.platforms.base import Context

log = logging.getLogger(__name__)

UNINSTALLED = "app/uninstalled"
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
LIFECYCLE_TOPICS = (UNINSTALLED, *COMPLIANCE_TOPICS)


def handle(db, topic: str, domain: str, payload: Any, now: datetime | None = None,  # noqa: ANN001
           triggered_at: datetime | None = None) -> str:
    """Apply one lifecycle or privacy webhook; returns what was done (for the log and the answer).

    `triggered_at` (X-Shopify-Triggered-At) tells a late app/uninstalled or shop/redact from a
    current one (`_installed_since`).
    """
    now = now or datetime.now(timezone.utc)
    payload = payload if isinstance(payload, dict) else {}
    with db.transaction() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain, Shop.platform == "shopify"))
        if shop is None:
            log.info("shopify.lifecycle_unknown_shop", extra={"topic": topic, "shop": domain})
            return "unknown shop: nothing held"
        db.lock_shops(session, [shop.id])
        if topic in (UNINSTALLED, "shop/redact") and _installed_since(session, shop, triggered_at):
            return "stale: installed again since"
        if topic == UNINSTALLED:
            shop.uninstalled_at = now
            drop_credentials(session, shop.id)
            return "uninstalled"
        if topic == "shop/redact":
            for table in reversed(Base.metadata.sorted_tables):
                if "shop_id" in table.c:
                    session.execute(delete(table).where(table.c.shop_id == shop.id))
            session.delete(shop)
            return "shop deleted"
        customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
        keys = _customer_keys(shop, customer)
        if topic == "customers/data_request":
            return _keep_data_request(session, shop, payload, customer, keys, now)
        orders = _order_ids(payload.get("orders_to_redact"))
        return _redact_customer(session, shop, customer, keys, orders)


def _installed_since(session, shop: Shop, triggered_at: datetime | None) -> bool:  # noqa: ANN001
    """Whether the shop's token was saved (an install) after the webhook was triggered: a late
    app/uninstalled or shop/redact (Shopify retries for hours, and sends shop/redact 48 hours
    after an uninstall) then belongs to an earlier installation and must not undo this one."""
    token_saved = session.scalar(select(func.max(ShopCredential.updated_at)).where(ShopCredential.shop_id == shop.id))
    return triggered_at is not None and token_saved is not None and triggered_at < token_saved


def _context(shop: Shop) -> Context:
    return Context(received_at=datetime.now(timezone.utc), triggered_at=None, customer_hash_key=shop.customer_hash_key)


def _order_ids(value: Any) -> set[str]:  # noqa: ANN401
    """The order ids a privacy webhook lists, as text (anything but a list of them lists none)."""
    return {str(o) for o in value if isinstance(o, (int, str))} if isinstance(value, list) else set()


def _customer_id(customer: dict) -> str | None:
    """The Shopify customer id a privacy webhook names, as text."""
    return str(customer["id"]) if customer.get("id") is not None else None


def _customer_keys(shop: Shop, customer: dict) -> list[str]:
    ctx = _context(shop)
    keys = [ctx.customer_key(customer.get("id"), None), ctx.customer_key(None, customer.get("email"))]
    return [k for k in keys if k]


def _keep_data_request(session, shop: Shop, payload: dict, customer: dict, keys: list[str],  # noqa: ANN001
                       now: datetime) -> str:
    """Keep the request with what concerns the customer: the orders linked to them (by id or
    address) or named by the request, and the stored deliveries of those orders and of checkouts
    that name the customer (plugin.shopify.data_requests gives the merchant their download)."""
    request = payload.get("data_request") if isinstance(payload.get("data_request"), dict) else {}
    requested = _order_ids(payload.get("orders_requested"))
    linked = set(session.scalars(select(EntityState.key).where(
        EntityState.shop_id == shop.id, EntityState.kind == "order", EntityState.customer_key.in_(keys)))) \
        if keys else set()
    bodies = list(_stored_bodies_of(session, shop, customer, requested | linked))
    # a guest order under an address in other letter case is the customer's too (as for redact)
    orders = requested | linked | {str(body["id"]) for _, topic, body in bodies
                                   if topic.startswith("orders/") and body.get("id") is not None}
    # without Shopify's id, a retry must still be the same request: named by what it asks
    unnumbered = "unnumbered-" + hashlib.sha256(json.dumps(
        [customer.get("id"), sorted(requested)], default=str).encode()).hexdigest()[:16]
    data_requests.keep(session, shop, str(request.get("id") or unnumbered),
                       _customer_id(customer),
                       sorted(orders), [delivery_id for delivery_id, _, _ in bodies], now)
    log.info("shopify.data_request", extra={"shop": shop.domain, "orders": len(orders), "deliveries": len(bodies),
                                            "request": request.get("id")})
    return f"data request kept for the merchant: {len(orders)} orders, {len(bodies)} stored deliveries"


def _redact_customer(session, shop: Shop, customer: dict, keys: list[str], orders: set[str]) -> str:  # noqa: ANN001
    pseudonyms = Pseudonyms(shop.customer_hash_key)
    requested = set(orders)
    states = 0
    if keys or orders:
        rows = session.execute(select(EntityState.key, EntityState.customer_key, EntityState.data).where(
            EntityState.shop_id == shop.id, EntityState.kind == "order",
            or_(EntityState.customer_key.in_(keys), EntityState.key.in_(orders)))).all()
        for key, customer_key, data in rows:
            pseudonym = pseudonyms.key_for(customer_key) if customer_key else None
            session.execute(update(EntityState).where(
                EntityState.shop_id == shop.id, EntityState.kind == "order", EntityState.key == key)
                .values(customer_key=pseudonym, data={**data, "customer_key": pseudonym}))
            states += 1
        # the customer's orders as Kompas knows them (a guest order's body may spell the address
        # in another case than the request): their bodies are scrubbed too
        orders = orders | {key for key, _, _ in rows}
        keys = keys + [customer_key for _, customer_key, _ in rows if customer_key]
    # an order of the customer, or one of these orders, delivered from now on (Shopify retries for
    # hours) joins the pseudonym and has its body scrubbed too (plugin.pseudonyms)
    remember_redacted(session, shop.id, shop.customer_hash_key, [*keys, *map(order_name, requested | orders)])
    bodies = _redact_bodies(session, shop, customer, orders, pseudonyms)
    # a data request kept for the merchant would name the customer beside these orders: after the
    # erasure Kompas holds nothing of them to give, so the request goes too
    data_requests.forget(session, shop, _customer_id(customer),
                         requested | orders)
    log.info("shopify.customer_redacted", extra={"shop": shop.domain, "states": states, "deliveries": bodies})
    return f"customer redacted: {states} orders relinked to a pseudonym, {bodies} deliveries scrubbed"


def _redact_bodies(session, shop: Shop, customer: dict, orders: set[str], pseudonyms: Pseudonyms) -> int:  # noqa: ANN001
    """Rewrite the stored order and checkout bodies that concern the customer: personal fields
    removed, the customer replaced by the pseudonym of the key the order was counted under."""
    ctx = _context(shop)
    rewrites = []
    for delivery_id, _, body in _stored_bodies_of(session, shop, customer, orders):
        who = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        key = ctx.customer_key(who.get("id"), body.get("email") or body.get("contact_email"))
        rewrites.append((delivery_id, json.dumps(scrub_body(body, key, pseudonyms)).encode()))
    for delivery_id, raw in rewrites:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(body=raw))
    return len(rewrites)


def _stored_bodies_of(session, shop: Shop, customer: dict, orders: set[str]  # noqa: ANN001
                      ) -> Iterator[tuple[int, str, dict]]:
    """(delivery id, topic, body) of every stored order and checkout delivery that concerns the customer
    (their id or address, or one of `orders`), in delivery order."""
    customer_id = _customer_id(customer)
    email = str(customer.get("email") or "").strip().lower() or None
    # Only bodies that contain the customer's id, address or one of the orders can concern them:
    # the database finds those (in C), Python parses only them. The address in any case: a guest
    # types it as they like, and a deleted order or a checkout has no state that links it.
    needles = [bytes_contain(session, Delivery.body, n.encode()) for n in [customer_id, *orders] if n]
    if email:
        needles.append(bytes_contain(session, Delivery.body, email.encode(), any_case=True))
    if not needles:
        return
    query = (select(Delivery.id, Delivery.topic, Delivery.body).where(
        Delivery.shop_id == shop.id, or_(Delivery.topic.like("orders/%"), Delivery.topic.like("checkouts/%")),
        or_(*needles))
        .order_by(Delivery.id).execution_options(yield_per=500))
    for delivery_id, topic, raw in session.execute(query).all():
        try:
            body = json.loads(raw)
        except ValueError:
            continue
        if isinstance(body, dict) and _concerns(body, customer_id, email, orders):
            yield delivery_id, topic, body


def _concerns(body: dict, customer_id: str | None, email: str | None, orders: set[str]) -> bool:
    who = body.get("customer") if isinstance(body.get("customer"), dict) else {}
    if customer_id and str(who.get("id")) == customer_id:
        return True
    if str(body.get("id")) in orders:
        return True
    addresses = {str(body.get(f) or "").strip().lower() for f in ("email", "contact_email")} | {
        str(who.get("email") or "").strip().lower()}
    return bool(email) and email in addresses
