"""Shopify's customers/data_request: what Kompas holds of a customer, for the merchant.

Shopify sends the request to every app with access to the customer's orders and leaves it to the
app to give the data to the merchant, who answers the customer (shopify.md §2.4; the law's
deadline is 30 days). Kompas holds the customer's details only in the stored delivery bodies (kept
to replay and recount), and, under a customer id or a keyed hash, the figures of their orders.

So each request is kept (`keep`, called by plugin.shopify.lifecycle when it arrives, with the
orders and deliveries that concern the customer), listed in the panel (`listed`), and downloaded
from there as one JSON document (`document`). A redelivered request is the same request.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .. import i18n
from ..models import DataRequest, Delivery, EntityState, Shop
from ..upserts import insert_new

# Kept in the download, so that whoever reads it knows what it is.
ABOUT = ("What Kompas (a KPI app installed in this Shopify store) holds of the customer: the order "
         "and checkout webhooks Shopify sent about them, as sent (kept to recount the store's figures), "
         "and each of their orders as Kompas counts it. Kompas holds nothing else about them.")


def keep(session: Session, shop: Shop, request_id: str, customer_id: str | None, order_ids: list[str],
         delivery_ids: list[int], now: datetime) -> None:
    """Keep a request (once per Shopify data_request id; a redelivery changes nothing)."""
    session.execute(insert_new(session, DataRequest.__table__, ["shop_id", "request_id"]).values(
        shop_id=shop.id, request_id=request_id, customer_id=customer_id, order_ids=sorted(set(order_ids)),
        delivery_ids=sorted(set(delivery_ids)), received_at=now))


def forget(session: Session, shop: Shop, customer_id: str | None, order_ids: set[str]) -> int:
    """Delete the shop's requests of a customer customers/redact erased (by customer id, or by
    any of their orders); returns how many."""
    gone = [r.id for r in session.scalars(select(DataRequest).where(DataRequest.shop_id == shop.id))
            if (customer_id is not None and r.customer_id == customer_id) or set(r.order_ids) & order_ids]
    if gone:
        session.execute(delete(DataRequest).where(DataRequest.id.in_(gone)))
    return len(gone)


def listed(session: Session, shop: Shop, language: str) -> list[dict[str, Any]]:
    """The shop's requests, newest first, as the panel shows them."""
    rows = session.scalars(select(DataRequest).where(DataRequest.shop_id == shop.id)
                           .order_by(DataRequest.received_at.desc(), DataRequest.id.desc())).all()
    if not rows:   # most shops, on every panel view
        return []
    # the orders Kompas holds (a request also names orders Kompas never received)
    held = set(session.scalars(select(EntityState.key).where(
        EntityState.shop_id == shop.id, EntityState.kind == "order",
        EntityState.key.in_(sorted({o for r in rows for o in r.order_ids})))))
    return [{"id": r.id, "request_id": r.request_id,
             "text": i18n.t("datarequests.item", language, when=i18n.moment(r.received_at, shop.timezone, language),
                            customer=r.customer_id or "?",
                            orders=i18n.number(len(held.intersection(r.order_ids)), language)),
             "download": f"/panel/data-requests/{r.id}.json"} for r in rows]


def document(session: Session, shop: Shop, row_id: int) -> tuple[str, dict[str, Any]] | None:
    """(file name, document) of one of the shop's requests, or None when the shop has no such
    request. Bodies are as stored now: a customers/redact since then has scrubbed them."""
    request = session.scalar(select(DataRequest).where(DataRequest.shop_id == shop.id, DataRequest.id == row_id))
    if request is None:
        return None
    deliveries = session.execute(select(Delivery.topic, Delivery.received_at, Delivery.body).where(
        Delivery.shop_id == shop.id, Delivery.id.in_(request.delivery_ids)).order_by(Delivery.id)).all()
    states = dict(session.execute(select(EntityState.key, EntityState.data).where(
        EntityState.shop_id == shop.id, EntityState.kind == "order", EntityState.key.in_(request.order_ids))).all())
    return f"kompas-data-request-{request.request_id}.json", {
        "about": ABOUT,
        "shop": shop.domain,
        "data_request": request.request_id,
        "received_at": request.received_at.isoformat(),
        "customer": {"shopify_customer_id": request.customer_id},
        "orders": [{"order_id": order_id, "as_counted": states.get(order_id)} for order_id in request.order_ids],
        "webhooks": [{"topic": topic, "received_at": at.isoformat(), "body": _parsed(body)}
                     for topic, at, body in deliveries],
    }


def _parsed(raw: bytes) -> Any:  # noqa: ANN401
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
