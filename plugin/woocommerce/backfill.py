"""Orders read through the REST API, turned into entity states by the same adapter code the
webhooks use (webhooks.platforms.woocommerce), for plugin.backfill's runner.

`GET /wp-json/wc/v3/orders?per_page=100&page=N&orderby=id&order=asc`, following X-WP-TotalPages,
plus each refunded order's refund details (`GET /orders/<id>/refunds`), which replace the
summaries (`refunds[]`) an order payload carries. The cursor is the last page read and the
highest order id applied: a resumed run reads that page again and skips what it applied, so an
order that moved to an earlier page meanwhile (another order trashed) is not skipped.

The same source, with `modified_after`/`modified_before`, is the resync's "orders modified since
the last pass" (plugin.woocommerce.resync).
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import select

from webhooks.platforms import woocommerce as adapter
from webhooks.platforms.base import Context, PayloadError

from ..backfill import Page
from ..credentials import WOOCOMMERCE_REST, load_credential
from ..kpi.entities import OrderState, State
from ..models import EntityState, Shop
from .client import WooClient
from .privacy import noter

log = logging.getLogger(__name__)


class NotConnectedError(Exception):
    """The shop has no WooCommerce API key (never connected, or disconnected)."""


def client_for(app, shop: Shop, **options: Any) -> WooClient:  # noqa: ANN001
    """A REST client with the shop's sealed key."""
    with app.extensions["kompas.db"].reading() as session:
        keys = load_credential(session, app.extensions["kompas.vault"], shop.id, WOOCOMMERCE_REST)
    if not keys:
        raise NotConnectedError(f"{shop.domain} has no WooCommerce API key: connect it from the Kompas plugin")
    options.setdefault("sleep", app.config.get("WOOCOMMERCE_RETRY_SLEEP") or _sleep)
    return WooClient(keys.get("site") or shop.domain, keys["consumer_key"], keys["consumer_secret"], **options)


def _sleep(seconds: float) -> None:  # a module function, so that tests can stop the clock
    time.sleep(seconds)


def order_states(client: WooClient, orders: list[dict], ctx: Context) -> list[State]:
    """States of REST orders: the order, its refund summaries, and the refunds' details."""
    states: list[State] = []
    for order in orders:
        try:
            states.extend(adapter.on_order(order, ctx))
            if order.get("refunds"):
                details = client.get(f"wc/v3/orders/{order['id']}/refunds", per_page=100)
                states.extend(adapter.refund_state(str(order["id"]), r) for r in details or [])
        except PayloadError as exc:  # one unreadable order must not stop the history
            log.warning("woocommerce.backfill_bad_order", extra={"order": order.get("id"), "error": str(exc)})
    return states


class OrderPages:
    """A plugin.backfill source over the store's orders (all of them, or a modified window)."""

    def __init__(self, client: WooClient, context: Callable[[], Context], window: dict[str, str] | None = None,
                 seen: Callable[[list[OrderState]], int] | None = None,
                 anonymized: Callable[[set[str]], None] | None = None) -> None:
        self.client = client
        self.context = context
        self.window = window or {}
        self.seen = seen          # told each page's orders before they are applied (the resync counts)
        self.counted = 0
        # told the orders a page reads anonymized (plugin.woocommerce.privacy.noter): the bodies
        # Kompas stored of them are to be scrubbed, also when WooCommerce lost the order.updated
        self.anonymized = anonymized

    def pages(self, cursor: str | None) -> Iterator[Page]:
        position = json.loads(cursor) if cursor else {}
        window = position.get("window", self.window)
        self.window = window  # a resumed pass keeps the window it started with
        last_id = int(position.get("last_id", 0))
        params = {"orderby": "id", "order": "asc", **window}
        if window:
            params["dates_are_gmt"] = "true"
        for page in self.client.pages("wc/v3/orders", first=int(position.get("page", 1)), **params):
            orders = [o for o in page.items if isinstance(o, dict) and _order_id(o) > last_id]
            states = order_states(self.client, orders, self.context())
            anonymized = {str(o["id"]) for o in orders if adapter.is_anonymized(o)}
            if anonymized and self.anonymized is not None:
                self.anonymized(anonymized)
            if self.seen is not None:
                self.counted += self.seen([s for s in states if isinstance(s, OrderState)])
            last_id = max([last_id, *(_order_id(o) for o in orders)])
            yield Page(states=states, orders=len(orders), total=page.total,
                       cursor=json.dumps({"page": page.page, "last_id": last_id, "window": window}))


def _order_id(order: dict) -> int:
    try:
        return int(order.get("id") or 0)
    except (TypeError, ValueError):
        return 0


def context_for(shop: Shop) -> Callable[[], Context]:
    key = shop.customer_hash_key
    return lambda: Context(received_at=datetime.now(timezone.utc), triggered_at=None, customer_hash_key=key,
                           read_from_store=True)


def backfill_source(app, shop: Shop) -> OrderPages:  # noqa: ANN001
    """The history of a WooCommerce shop, for `kompas backfill` and the scheduler."""
    return OrderPages(client_for(app, shop), context_for(shop), anonymized=noter(app, shop.id))


def newer_than_stored(app, shop_id: int) -> Callable[[list[OrderState]], int]:  # noqa: ANN001
    """Counts orders whose state is newer than the stored one (or not stored at all): changes no
    webhook brought, i.e. deliveries WooCommerce lost. Read just before the page is applied."""
    def count(orders: list[OrderState]) -> int:
        if not orders:
            return 0
        with app.extensions["kompas.db"].reading() as session:
            stored = dict(session.execute(select(EntityState.key, EntityState.version).where(
                EntityState.shop_id == shop_id, EntityState.kind == "order",
                EntityState.key.in_([o.order_id for o in orders]))).all())
        return sum(1 for o in orders if o.order_id not in stored or stored[o.order_id] < o.version)
    return count
