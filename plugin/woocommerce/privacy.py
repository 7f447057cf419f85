"""Orders WooCommerce anonymized: Kompas's stored copies of them lose the person's details too.

WordPress's "Erase personal data" (when the store's setting "remove personal data from orders"
is on) and WooCommerce's retention of personal data both run
`WC_Privacy_Erasers::remove_order_personal_data`: the order's names, addresses, phone, e-mail
address, IP address and browser are overwritten, its `customer_id` becomes 0, it gets the meta
`_anonymized` = "yes", and it is saved, so an `order.updated` brings the anonymized order.

Its figures do not change: the order stays its customer's (`OrderState.customer_known`,
webhooks.platforms.woocommerce). What changes is what Kompas keeps: the bodies it stored of that
order (kept to replay and recount) are rewritten as `scrubbed` says. A scrubbed body gives the
very same order state as before (it keeps the customer key it told, as the figures hold it: the
WordPress user id, or a keyed hash of the address), so scrubbing changes no figure, whether the
body was applied yet or not, and a replay of the bodies alone gives the same figures. The price:
in Kompas, the order stays linked to that key, as it must for the customer figures; a pseudonym as
for Shopify's customers/redact would split a customer whose old orders alone the store's retention
cleanup anonymized.

Two steps, so that applying stays fast when a retention cleanup anonymizes thousands of orders:
- the applier notes each anonymized order (`AnonymizedOrder`) and scrubs the bodies of noted
  orders in the batch it applies, the anonymized ones and any late older copy (`on_batch`); a
  backfill or resync that reads an anonymized order notes it too (`noter`);
- the background job `scrub_noted` scrubs the earlier stored bodies of every order noted since its
  last pass, in one read of the shop's order deliveries, whatever their number.

This is the WooCommerce side of Shopify's customers/redact (plugin.shopify.lifecycle): the store
decides what is erased, and Kompas follows it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webhooks.platforms.base import Context, PayloadError
from webhooks.platforms.woocommerce import (ANONYMIZED_EMAIL, ANONYMIZED_META, ATTRIBUTION_META, CART_TOKEN_META,
                                            COUNTED_AS_META, NO_CUSTOMER, is_anonymized, order_state, told_customer)

from ..kpi.entities import state_from_json
from ..models import AnonymizedOrder, Delivery, EntityState, Shop
from ..upserts import insert_new

log = logging.getLogger(__name__)

# The meta an order body keeps once scrubbed: what Kompas reads of it (the cart token, the traffic
# source) and the anonymization flag. Other meta (plugins' own) can hold anything.
KEPT_META = frozenset({CART_TOKEN_META, ANONYMIZED_META, COUNTED_AS_META, *ATTRIBUTION_META})
# Top-level fields that name or trace the person (the customer note is the shopper's own text).
PERSONAL_FIELDS = {"customer_id": 0, "customer_ip_address": "", "customer_user_agent": "", "customer_note": ""}
# WooCommerce's order bodies start with their id ({"id":123,...}): read without parsing the body
_LEADING_ID = re.compile(rb'\s*\{\s*"id"\s*:\s*"?(\d+)')
WRITE_CHUNK = 500   # rewritten bodies per transaction of the background pass


def scrubbed(order: dict, ctx: Context) -> dict:
    """An order body (REST v3) without the person: every billing and shipping field emptied (the
    address is WordPress's anonymized "deleted@site.invalid"), the fields of PERSONAL_FIELDS
    reset, only KEPT_META kept plus `_anonymized`, and no link to the customer but the key the
    body told (COUNTED_AS_META: the WordPress user id or the keyed hash of the address, as the
    figures hold it). Amounts, lines, status and dates stay: the body gives the very same order
    state, so scrubbing never changes a figure, whenever it happens and whatever is replayed."""
    customer_key, told = told_customer(order, ctx)
    out = dict(order)
    for part in ("billing", "shipping"):
        if isinstance(out.get(part), dict):
            out[part] = {field: "" for field in out[part]}
    if isinstance(out.get("billing"), dict):
        out["billing"]["email"] = ANONYMIZED_EMAIL
    out.update(PERSONAL_FIELDS)
    meta = [m for m in out.get("meta_data") or [] if isinstance(m, dict) and m.get("key") in KEPT_META
            and m.get("key") != COUNTED_AS_META]
    if not any(m.get("key") == ANONYMIZED_META for m in meta):
        meta.append({"key": ANONYMIZED_META, "value": "yes"})
    if told:
        meta.append({"key": COUNTED_AS_META, "value": customer_key or NO_CUSTOMER})
    out["meta_data"] = meta
    if isinstance(out.get("_links"), dict):
        out["_links"] = {rel: links for rel, links in out["_links"].items() if rel != "customer"}
    return out


def anonymized_orders(bodies: Iterable[tuple[str, bytes]]) -> set[str]:
    """The ids of the orders that (topic, body) pairs of WooCommerce order deliveries bring
    anonymized. Most bodies are passed over by a byte search, without parsing."""
    found = set()
    for topic, raw in bodies:
        if not topic.startswith("order.") or (ANONYMIZED_EMAIL.encode() not in raw
                                              and ANONYMIZED_META.encode() not in raw):
            continue
        try:
            order = json.loads(raw)
        except ValueError:
            continue
        if isinstance(order, dict) and order.get("id") not in (None, "") and is_anonymized(order):
            found.add(str(order["id"]))
    return found


def on_batch(session: Session, shop: Shop, deliveries: list[Any], now: datetime) -> None:  # noqa: ANN401
    """For the applier, per WooCommerce shop and batch of claimed deliveries (applied or failing):
    note the orders the batch brings anonymized, and scrub the batch's bodies of every noted order."""
    shop_id, ctx = shop.id, _context(shop.customer_hash_key)
    fresh = anonymized_orders((d.topic, d.body) for d in deliveries)
    note(session, shop_id, fresh, now)
    ids = {d.id: order_id_of(d.body) for d in deliveries if d.topic.startswith("order.")}
    unknown = {i for i in ids.values() if i is not None} - fresh
    noted = fresh | (set(session.scalars(select(AnonymizedOrder.order_id).where(
        AnonymizedOrder.shop_id == shop_id, AnonymizedOrder.order_id.in_(sorted(unknown))))) if unknown else set())
    if not noted:
        return
    for delivery in deliveries:
        if ids.get(delivery.id) in noted and (clean := _scrubbed_raw(delivery.body, ctx)) is not None:
            delivery.body = clean
            session.execute(update(Delivery).where(Delivery.id == delivery.id).values(body=clean))


def scrub_noted(app: Any, now: datetime) -> int:  # noqa: ANN401
    """The background pass (plugin.jobs): for each shop with orders noted and not yet scrubbed,
    read its stored order deliveries once and rewrite those of the noted orders, then mark them
    scrubbed. Reading needs no write lock; the rewrites are written in short transactions (a
    body changes only by scrubbing, which gives the same bytes twice). Returns the bodies rewritten."""
    db = app.extensions["kompas.db"]
    with db.reading() as session:
        noted: dict[int, set[str]] = {}
        for shop_id, order_id in session.execute(select(AnonymizedOrder.shop_id, AnonymizedOrder.order_id)
                                                 .where(AnonymizedOrder.scrubbed_at.is_(None))):
            noted.setdefault(shop_id, set()).add(order_id)
        # bodies stored after this are scrubbed by `on_batch` when they are applied
        last = session.scalar(select(func.max(Delivery.id))) or 0
    rewritten = 0
    for shop_id, orders in noted.items():
        with db.reading() as session:
            ctx = _context(session.scalar(select(Shop.customer_hash_key).where(Shop.id == shop_id)))
            rewrites = [(delivery_id, clean) for delivery_id, _, raw in _order_bodies(session, shop_id, orders, last)
                        if (clean := _scrubbed_raw(raw, ctx)) is not None]
        for start in range(0, len(rewrites), WRITE_CHUNK):
            with db.transaction() as session:
                for delivery_id, clean in rewrites[start:start + WRITE_CHUNK]:
                    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(body=clean))
        with db.transaction() as session:
            session.execute(update(AnonymizedOrder).where(
                AnonymizedOrder.shop_id == shop_id, AnonymizedOrder.order_id.in_(sorted(orders)),
                AnonymizedOrder.scrubbed_at.is_(None)).values(scrubbed_at=now))
        rewritten += len(rewrites)
        log.info("woocommerce.anonymized_orders_scrubbed", extra={"shop_id": shop_id, "orders": len(orders),
                                                                  "deliveries": len(rewrites)})
    return rewritten


def _order_bodies(session: Session, shop_id: int, order_ids: set[str], up_to: int | None = None
                  ) -> Iterator[tuple[int, str, bytes]]:
    """(delivery id, order id, raw body) of the shop's stored order deliveries of `order_ids`
    (up to delivery `up_to`), in one read of its order bodies: the id is read from each body's
    first bytes (`order_id_of`), only theirs are parsed by the caller."""
    query = select(Delivery.id, Delivery.body).where(Delivery.shop_id == shop_id, Delivery.topic.like("order.%"))
    if up_to is not None:
        query = query.where(Delivery.id <= up_to)
    for delivery_id, raw in session.execute(query.execution_options(yield_per=500)):
        order_id = order_id_of(raw)
        if order_id in order_ids:
            yield delivery_id, order_id, raw


def note(session: Session, shop_id: int, order_ids: set[str], now: datetime) -> None:
    """Note orders the store anonymized (a noted order is noted once): their stored bodies are to
    be scrubbed (`on_batch` as they are applied, `scrub_noted` for those stored before)."""
    if order_ids:
        session.execute(insert_new(session, AnonymizedOrder.__table__, ["shop_id", "order_id"]),
                        [{"shop_id": shop_id, "order_id": order_id, "noticed_at": now} for order_id in sorted(order_ids)])


def noter(app: Any, shop_id: int) -> Callable[[set[str]], None]:  # noqa: ANN401
    """`note` in a transaction of its own, for the REST reads of a backfill or resync
    (plugin.woocommerce.backfill.OrderPages): an anonymization whose order.updated WooCommerce
    lost reaches Kompas that way."""
    def noting(order_ids: set[str]) -> None:
        with app.extensions["kompas.db"].transaction() as session:
            note(session, shop_id, order_ids, datetime.now(timezone.utc))
    return noting


def _context(customer_hash_key: str) -> Context:
    return Context(received_at=datetime.now(timezone.utc), triggered_at=None, customer_hash_key=customer_hash_key)


def order_id_of(raw: bytes) -> str | None:
    """The id of an order body, from its first bytes where it leads (WooCommerce's own order),
    else by parsing it."""
    match = _LEADING_ID.match(raw)
    if match:
        return match.group(1).decode()
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return str(body["id"]) if isinstance(body, dict) and body.get("id") not in (None, "") else None


def _scrubbed_raw(raw: bytes, ctx: Context) -> bytes | None:
    """The scrubbed bytes of a stored order body, or None when there is nothing to change."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    clean = scrubbed(body, ctx)
    return None if clean == body else json.dumps(clean).encode()


def relink_lumped_orders(session: Session, shop: Shop, now: datetime) -> int:
    """Repair, for orders applied before `customer_known` existed (migration 0021): every order
    WooCommerce had anonymized was stored under the one customer "deleted@site.invalid". Each
    such order takes the customer of the newest of its stored bodies that tells one (the order
    keeps the rest of its stored state), or none, when Kompas has no body from before the
    anonymization (section 3); it is noted for scrubbing; the shop's counters are rewritten.
    Returns how many orders were relinked. One read of the shop's order bodies, only for a shop
    that has such orders."""
    from .. import ingest  # the applier imports this module; ingest is only needed here

    ctx = _context(shop.customer_hash_key)
    lumped = ctx.customer_key(0, ANONYMIZED_EMAIL)
    stored = dict(session.execute(select(EntityState.key, EntityState.data).where(
        EntityState.shop_id == shop.id, EntityState.kind == "order", EntityState.customer_key == lumped)).all())
    if not stored:
        return 0
    told: dict[str, tuple[int, str | None]] = {}
    for _, order_id, raw in _order_bodies(session, shop.id, set(stored)):
        try:
            state = order_state(json.loads(raw), ctx)
        except (ValueError, PayloadError):
            continue
        if state.customer_known and (order_id not in told or state.version > told[order_id][0]):
            told[order_id] = (state.version, state.customer_key)
    relinked = []
    for order_id, data in stored.items():
        version, key = told.get(order_id, (None, None))
        relinked.append(dataclasses.replace(state_from_json("order", data), customer_key=key,
                                            customer_known=version is not None, customer_version=version))
    note(session, shop.id, set(stored), now)
    ingest.rewrite_states(session, ingest.ShopContext.of(shop), relinked)
    log.info("woocommerce.lumped_orders_relinked", extra={"shop": shop.domain, "orders": len(relinked),
                                                          "with_customer": len(told)})
    return len(relinked)
