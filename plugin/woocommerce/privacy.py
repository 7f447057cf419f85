"""Orders WooCommerce anonymized: Kompas's stored copies of them lose the person's details too.

WordPress's "Erase personal data" (when the store's setting "remove personal data from orders"
is on) and WooCommerce's retention of personal data both run
`WC_Privacy_Erasers::remove_order_personal_data`: the order's names, addresses, phone, e-mail
address, IP address and browser are overwritten, its `customer_id` becomes 0, it gets the meta
`_anonymized` = "yes", and it is saved, so an `order.updated` brings the anonymized order.

Its figures do not change: the order stays its customer's (`OrderState.customer_known`,
webhooks.platforms.woocommerce). What changes is what Kompas keeps: the bodies it stored of that
order (kept to replay and recount) are rewritten as `scrubbed` says, when the anonymized state is
applied. A scrubbed body replays to the same figures, since it too says "anonymized" and takes its
customer from the stored state.

This is the WooCommerce side of Shopify's customers/redact (plugin.shopify.lifecycle): the store
decides what is erased, and Kompas follows it.
"""
from __future__ import annotations

import json
import logging
from typing import Iterable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from webhooks.platforms.woocommerce import (ANONYMIZED_EMAIL, ANONYMIZED_META, ATTRIBUTION_META, CART_TOKEN_META,
                                            is_anonymized)

from ..db import bytes_contain
from ..models import Delivery

log = logging.getLogger(__name__)

# The meta an order body keeps once scrubbed: what Kompas reads of it (the cart token, the traffic
# source) and the anonymization flag. Other meta (plugins' own) can hold anything.
KEPT_META = frozenset({CART_TOKEN_META, ANONYMIZED_META, *ATTRIBUTION_META})
# Top-level fields that name or trace the person (the customer note is the shopper's own text).
PERSONAL_FIELDS = {"customer_id": 0, "customer_ip_address": "", "customer_user_agent": "", "customer_note": ""}


def scrubbed(order: dict) -> dict:
    """An order body (REST v3) without the person: every billing and shipping field emptied (the
    address is WordPress's anonymized "deleted@site.invalid"), the fields of PERSONAL_FIELDS
    reset, only KEPT_META kept plus `_anonymized`, and no link to the customer. Amounts, lines,
    status and dates stay, so the body gives the same order state (`customer_known` False)."""
    out = dict(order)
    for part in ("billing", "shipping"):
        if isinstance(out.get(part), dict):
            out[part] = {field: "" for field in out[part]}
    if isinstance(out.get("billing"), dict):
        out["billing"]["email"] = ANONYMIZED_EMAIL
    out.update(PERSONAL_FIELDS)
    meta = [m for m in out.get("meta_data") or [] if isinstance(m, dict) and m.get("key") in KEPT_META]
    if not any(m.get("key") == ANONYMIZED_META for m in meta):
        meta.append({"key": ANONYMIZED_META, "value": "yes"})
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


def scrub_orders(session: Session, shop_id: int, order_ids: set[str]) -> dict[int, bytes]:
    """Rewrite every stored order delivery of these orders as `scrubbed`; returns the rewritten
    bodies by delivery id. The database finds the bodies that can be these orders (an `"id":N`
    in them, with or without a space), Python checks the id and rewrites."""
    if not order_ids:
        return {}
    needles = [f'"id":{i}'.encode() for i in order_ids] + [f'"id": {i}'.encode() for i in order_ids]
    query = (select(Delivery.id, Delivery.body).where(
        Delivery.shop_id == shop_id, Delivery.topic.like("order.%"),
        or_(*[bytes_contain(session, Delivery.body, n) for n in needles]))
        .execution_options(yield_per=500))
    rewrites: dict[int, bytes] = {}
    for delivery_id, raw in session.execute(query):
        try:
            body = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(body, dict) or str(body.get("id")) not in order_ids:
            continue
        clean = json.dumps(scrubbed(body)).encode()
        if clean != raw:
            rewrites[delivery_id] = clean
    for delivery_id, raw in rewrites.items():
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(body=raw))
    if rewrites:
        log.info("woocommerce.anonymized_orders_scrubbed", extra={"shop_id": shop_id, "orders": len(order_ids),
                                                                  "deliveries": len(rewrites)})
    return rewrites
