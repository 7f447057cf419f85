"""A Shopify shop's history: one bulk operation for the backfill, "orders updated since" for the
daily reconciliation. Both are sources for plugin.backfill, which applies their pages through the
one apply function and keeps progress and the resume cursor.

Bulk backfill (shopify.md §5):
1. `bulkOperationRunQuery` with `groupObjects: true`, so each order's line items follow it
   directly in the result (the default became false in 2026-01) and the JSONL file can be read as
   a stream, one order at a time, never whole;
2. poll `bulkOperation(id:)` until COMPLETED (rootObjectCount = the number of orders);
3. stream the JSONL file; a bulk query cannot reach into refunds (a list), so the refunds of each
   page's orders are read with `nodes(ids:)` in small batches;
4. every PAGE_ORDERS orders become one page: states through the REST adapter, the cursor
   {operation, url, lines read}. A resumed run skips the lines already applied.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from sqlalchemy import select

from webhooks.platforms import shopify as adapter
from webhooks.platforms.base import Context

from .. import backfill
from ..backfill import Page
from ..models import EntityState, Shop
from .admin_api import AdminApi, ShopifyApiError, sleeper
from .graphql_orders import (BULK_QUERY, ORDER_LINES_QUERY, ORDER_QUERY, REFUND_LINES_QUERY, REFUNDS_QUERY,
                             UPDATED_QUERY, legacy_id, refund_ids, rest_order)
from .install import SIXTY_DAYS_NOTE, shopify_manifest
from .tokens import TokenKeeper

log = logging.getLogger(__name__)

PAGE_ORDERS = 2000         # orders per page: one transaction, one progress step
REFUND_BATCH = 4           # refunds per nodes(ids:) query (≈ 200 each, under Shopify's 1000 cap)
POLL_SECONDS = 5.0
RECONCILE_OVERLAP = timedelta(hours=1)  # look back past the previous pass: clocks and late writes

RUN_BULK = """mutation ($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""
POLL_BULK = """query ($id: ID!) { bulkOperation(id: $id) {
  id status errorCode objectCount rootObjectCount url partialDataUrl } }"""


def api_for(app, shop: Shop) -> AdminApi:  # noqa: ANN001
    """The shop's Admin API. Waiting goes through app.extensions["kompas.sleep"] when a test sets it."""
    return AdminApi(TokenKeeper(app, shop.id, shop.domain), shopify_manifest()["api_version"],
                    sleep=sleeper(app))


def _context(shop: Shop) -> Context:
    return Context(received_at=datetime.now(timezone.utc), triggered_at=None, customer_hash_key=shop.customer_hash_key)


def _states(orders: list[dict[str, Any]], ctx: Context) -> list:
    return [state for order in orders for state in adapter.on_order(order, ctx)]


class OperationGone(ShopifyApiError):
    """The bulk operation failed, was cancelled, or its result expired (after 7 days)."""


class BulkOrders:
    """The shop's whole order history through one bulk operation (a plugin.backfill source)."""

    def __init__(self, api: AdminApi, shop: Shop, poll_seconds: float = POLL_SECONDS) -> None:
        self.api, self.shop, self.poll_seconds = api, shop, poll_seconds
        self.ctx = _context(shop)
        self.heartbeat = lambda: None  # the runner keeps its claim on the run alive through this

    def pages(self, cursor: str | None) -> Iterator[Page]:
        state = json.loads(cursor) if cursor else {}
        operation, skip, restarted = state.get("operation"), int(state.get("lines", 0)), False
        url = total = None
        if operation:
            try:
                url, total = self._wait(operation)
            except OperationGone as exc:
                log.info("shopify.bulk_gone", extra={"shop": self.shop.domain, "reason": str(exc)})
                operation = None
            else:
                if url is None and skip:  # a resumed file that no longer exists
                    operation = None
            if operation is None:  # start again from the first order: applying twice changes nothing
                skip, restarted = 0, True
        if operation is None:
            operation = self._start()
            url, total = self._wait(operation)
        if url is None:  # no orders at all: Shopify gives no file
            yield Page(states=[], orders=0, cursor=json.dumps({"operation": operation, "lines": 0}), total=0,
                       restarted=restarted)
            return
        batch: list[tuple[dict, list[dict]]] = []
        lines = 0
        for order, items, used in self._orders(url):
            lines += used
            if lines <= skip:
                continue
            batch.append((order, items))
            if len(batch) >= PAGE_ORDERS:
                yield self._page(batch, operation, lines, total, restarted)
                batch, restarted = [], False
        if batch or lines == 0:
            yield self._page(batch, operation, lines, total, restarted)

    def _start(self) -> str:
        data = self.api.graphql(RUN_BULK, {"query": BULK_QUERY})["bulkOperationRunQuery"]
        if data.get("userErrors"):
            raise ShopifyApiError(f"Shopify refused the bulk query: {data['userErrors']}")
        return data["bulkOperation"]["id"]

    def _wait(self, operation: str) -> tuple[str | None, int | None]:
        while True:
            op = self.api.graphql(POLL_BULK, {"id": operation}).get("bulkOperation") or {}
            status = op.get("status")
            if status == "COMPLETED":
                total = op.get("rootObjectCount")
                return op.get("url"), int(total) if total is not None else None
            if status in ("FAILED", "CANCELED", "CANCELING", "EXPIRED") or not op:
                raise OperationGone(f"the bulk operation ended {status or 'unknown'} ({op.get('errorCode')}); "
                                    "the next run starts a new one")
            self.heartbeat()  # long waits: show the run is alive, so no other worker claims it
            self.api.sleep(self.poll_seconds)

    def _orders(self, url: str) -> Iterator[tuple[dict, list[dict], int]]:
        """(order node, its line item nodes, lines it took) from the grouped JSONL stream."""
        order: dict | None = None
        items: list[dict] = []
        used = 0
        for raw in self.api.stream_lines(url):
            row = json.loads(raw)
            parent = row.get("__parentId")
            if parent is None:
                if order is not None:
                    yield order, items, used
                order, items, used = row, [], 1
                continue
            if order is None or parent != order.get("id"):
                raise ShopifyApiError("the bulk result is not grouped by order (a line item away from its order)")
            items.append(row)
            used += 1
        if order is not None:
            yield order, items, used

    def _page(self, batch: list[tuple[dict, list[dict]]], operation: str, lines: int, total: int | None,
              restarted: bool = False) -> Page:
        refunds = _refunds(self.api, [rid for order, _ in batch for rid in refund_ids(order)])
        orders = []
        for order, items in batch:
            if any(rid not in refunds for rid in refund_ids(order)):
                # deleted since the bulk snapshot (its refunds are gone too): orders/delete brings
                # its tombstone, the reconciliation checks it again
                log.info("shopify.backfill_order_gone", extra={"shop": self.shop.domain, "order": order.get("id")})
                continue
            orders.append(rest_order(order, items, [refunds[rid] for rid in refund_ids(order)]))
        return Page(states=_states(orders, self.ctx), orders=len(batch),
                    cursor=json.dumps({"operation": operation, "lines": lines}), total=total, restarted=restarted,
                    note=None if "read_all_orders" in (self.shop.scopes or "") else SIXTY_DAYS_NOTE)


def _rest_of(api: AdminApi, query: str, node_id: str, field: str, connection: dict) -> list[dict]:
    """Every node of a connection whose first page came with its parent: the next pages, asked for."""
    nodes = list(connection.get("nodes") or [])
    info = connection.get("pageInfo") or {}
    while info.get("hasNextPage"):
        page = (api.graphql(query, {"id": node_id, "after": info["endCursor"]}).get("node") or {}).get(field) or {}
        nodes.extend(page.get("nodes") or [])
        info = page.get("pageInfo") or {}
    return nodes


def _refunds(api: AdminApi, ids: list[str]) -> dict[str, dict]:
    """GraphQL Refund nodes (all their line items, shipping and transactions) by id. A refund
    Shopify no longer has (its order was deleted) is left out."""
    found: dict[str, dict] = {}
    for start in range(0, len(ids), REFUND_BATCH):
        for node in api.graphql(REFUNDS_QUERY, {"ids": ids[start:start + REFUND_BATCH]}).get("nodes") or []:
            if not isinstance(node, dict) or not node.get("id"):
                continue
            node["refundLineItems"] = {"nodes": _rest_of(api, REFUND_LINES_QUERY, node["id"], "refundLineItems",
                                                         node.get("refundLineItems") or {})}
            for field in ("refundShippingLines", "transactions"):
                if ((node.get(field) or {}).get("pageInfo") or {}).get("hasNextPage"):
                    raise ShopifyApiError(f"refund {node['id']} has more {field} than Kompas reads")
            found[node["id"]] = node
    return found


class UpdatedOrders:
    """Orders updated since the previous pass, fetched in full only where Kompas' state is older
    (a plugin.backfill source for the daily reconciliation). `changed` of the run = corrections."""

    def __init__(self, api: AdminApi, app, shop: Shop, since: datetime) -> None:  # noqa: ANN001
        self.api, self.app, self.shop = api, app, shop
        self.since = since
        self.ctx = _context(shop)

    def pages(self, cursor: str | None) -> Iterator[Page]:
        query = f"updated_at:>='{self.since.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        after = cursor or None
        while True:
            fetched_with = after
            data = self.api.graphql(UPDATED_QUERY, {"cursor": after, "query": query})["orders"]
            nodes = data.get("nodes") or []
            stale = self._older_here(nodes)
            orders = []
            for order_id in stale:
                node = self.api.graphql(ORDER_QUERY, {"id": order_id}).get("node")
                if not isinstance(node, dict) or not node.get("id"):
                    continue  # deleted meanwhile: orders/delete says so
                items = _rest_of(self.api, ORDER_LINES_QUERY, node["id"], "lineItems", node.get("lineItems") or {})
                refunds = _refunds(self.api, refund_ids(node))
                orders.append(rest_order(node, items, [refunds[r] for r in refund_ids(node) if r in refunds]))
            after = data["pageInfo"]["endCursor"] if data["pageInfo"]["hasNextPage"] else None
            # the last page keeps the cursor it was read with: a resume reads only it again
            yield Page(states=_states(orders, self.ctx), orders=len(nodes), cursor=after or fetched_with)
            if after is None:
                return

    def _older_here(self, nodes: list[dict]) -> list[str]:
        """The ids of orders whose stored state is missing or older than Shopify's updatedAt."""
        from ..kpi.booking import parse_instant, to_epoch_micros

        versions = {legacy_id(n["id"]): to_epoch_micros(parse_instant(n["updatedAt"])) for n in nodes}
        with self.app.extensions["kompas.db"].reading() as session:
            stored = dict(session.execute(select(EntityState.key, EntityState.version).where(
                EntityState.shop_id == self.shop.id, EntityState.kind == "order",
                EntityState.key.in_(list(versions)))).all()) if versions else {}
        return [n["id"] for n in nodes if stored.get(legacy_id(n["id"]), -1) < versions[legacy_id(n["id"])]]


def backfill_source(app, shop: Shop) -> BulkOrders:  # noqa: ANN001
    return BulkOrders(api_for(app, shop), shop)


def reconcile_source(app, shop: Shop) -> UpdatedOrders:  # noqa: ANN001
    """Orders updated since the previous reconciliation (or the backfill) began, with an overlap."""
    with app.extensions["kompas.db"].reading() as session:
        previous = backfill.last_finished(session, shop.id, backfill.RECONCILE) \
            or backfill.last_finished(session, shop.id, backfill.BACKFILL)
        since = previous.started_at if previous else datetime.now(timezone.utc) - timedelta(days=60)
    return UpdatedOrders(api_for(app, shop), app, shop, since - RECONCILE_OVERLAP)
