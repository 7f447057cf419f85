"""WooCommerce inbound adapter: X-WC-Webhook-* headers, topics, and REST v3 bodies → entity states.

Readings follow kpi-definitions.md sections 1, 2 and 8 ("Money, WooCommerce"). All times are the
`*_gmt` fields, read as UTC.
"""
from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any, Mapping

from plugin.kpi.booking import InstantError, parse_instant, to_epoch_micros
from plugin.kpi.entities import CartState, OrderState, RefundState, State
from plugin.kpi.money import ZERO, MoneyError, to_decimal

from .base import Context, DeliveryMeta, MissingHeaderError, PayloadError, quantity, traffic_source

name = "woocommerce"

# WooCommerce Analytics' default exclusions (section 1); "draft" and "new" are never delivered.
EXCLUDED_STATUSES = {"pending", "failed", "checkout-draft", "auto-draft", "trash", "draft", "new"}
# Where the Kompas WordPress plugin stores the cart token on the order at checkout.
CART_TOKEN_META = "_kompas_cart_token"
# What WC_Privacy_Erasers::remove_order_personal_data leaves on an order it anonymized: the meta
# flag, and WordPress's anonymized address (wp_privacy_anonymize_data("email")), which no customer has.
ANONYMIZED_META = "_anonymized"
ANONYMIZED_EMAIL = "deleted@site.invalid"
# Written by Kompas into the bodies it scrubs (plugin.woocommerce.privacy): the customer key the
# body told before its personal data went, so that a scrubbed body gives the same state.
COUNTED_AS_META = "_kompas_customer"
NO_CUSTOMER = "none"
_CUSTOMER_KEY = re.compile(r"^(?:c:\d{1,20}|e:[0-9a-f]{40})$")
# WooCommerce's order attribution, read for the traffic source (section 4): UTM source, referrer, type.
ATTRIBUTION_META = ("_wc_order_attribution_utm_source", "_wc_order_attribution_referrer",
                    "_wc_order_attribution_source_type")
_PING = re.compile(rb"^webhook_id=\d+$")


def is_ping(headers: Mapping[str, str], raw: bytes) -> bool:
    """WooCommerce's ping on webhook creation: form body `webhook_id=N`, no X-WC headers, no
    signature; it succeeds only on a 200."""
    return not headers.get("X-WC-Webhook-Signature") and bool(_PING.match(raw.strip()))


def shop_key(domain: str) -> str:
    """A site URL as the shop's key: X-WC-Webhook-Source is home_url('/'), with a trailing slash."""
    return domain.strip().rstrip("/").lower()


def read_headers(headers: Mapping[str, str]) -> DeliveryMeta:
    missing = [h for h in ("X-WC-Webhook-Topic", "X-WC-Webhook-Source") if not headers.get(h)]
    if missing:
        raise MissingHeaderError("missing header(s): " + ", ".join(missing))
    return DeliveryMeta(
        topic=headers["X-WC-Webhook-Topic"].strip(),
        shop_domain=shop_key(headers["X-WC-Webhook-Source"]),
        signature=headers.get("X-WC-Webhook-Signature"),
        delivery_id=headers.get("X-WC-Webhook-Delivery-ID"),
        # Not unique: a bulk action in one second repeats it for different bodies (section 8).
        dedupe_key=None,
        triggered_at=None,
    )


def _obj(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError("body is not a JSON object")
    return payload


def _gmt(obj: Mapping, field: str, required: bool = True) -> int | None:
    value = obj.get(field)
    if not value:
        if required:
            raise PayloadError(f"missing {field}")
        return None
    try:
        return to_epoch_micros(parse_instant(value, naive_is_utc=True))
    except InstantError as exc:
        raise PayloadError(f"{field}: {exc}") from exc


def _dec(value: Any, field: str) -> Decimal:
    try:
        return to_decimal(value)
    except MoneyError as exc:
        raise PayloadError(f"{field}: {exc}") from exc



def is_rest_error(payload: Any) -> bool:
    """A body that is a REST error object instead of an order (woocommerce PR #68698)."""
    return isinstance(payload, dict) and "id" not in payload and "code" in payload and "message" in payload


def _meta(o: Mapping, key: str) -> Any:
    for entry in o.get("meta_data") or []:
        if isinstance(entry, dict) and entry.get("key") == key:
            return entry.get("value")
    return None


def is_anonymized(order: Mapping) -> bool:
    """Whether WooCommerce took the personal data out of this order (an erasure request, or the
    store's retention of personal data): its customer is then no longer in the payload."""
    billing = order.get("billing") if isinstance(order.get("billing"), dict) else {}
    email = billing.get("email")
    return _meta(order, ANONYMIZED_META) == "yes" or (
        isinstance(email, str) and email.strip().lower() == ANONYMIZED_EMAIL)


def told_customer(order: Mapping, ctx: Context) -> tuple[str | None, bool]:
    """(customer key, whether the body tells it) of an order body (section 3): the customer id,
    else the keyed hash of the billing address, else none. An anonymized order tells nothing (its
    id is 0 and its address a placeholder). A body Kompas scrubbed tells what it told before
    (COUNTED_AS_META: the key, or NO_CUSTOMER)."""
    kept = _meta(order, COUNTED_AS_META)
    if kept == NO_CUSTOMER:
        return None, True
    if isinstance(kept, str) and _CUSTOMER_KEY.match(kept):
        return kept, True
    billing = order.get("billing") if isinstance(order.get("billing"), dict) else {}
    anonymized = is_anonymized(order)
    key = ctx.customer_key(order.get("customer_id"), None if anonymized else billing.get("email"))
    return key, key is not None or not anonymized


def order_state(payload: Any, ctx: Context) -> OrderState:
    o = _obj(payload)
    if o.get("id") in (None, ""):
        raise PayloadError("missing id")
    status = str(o.get("status") or "")
    paid = bool(o.get("date_paid_gmt"))
    # A cancelled order counts only when it was paid; it then also counts once in
    # orders_cancelled, on its own day (section 1).
    counted = status not in EXCLUDED_STATUSES and (status != "cancelled" or paid)
    booked_at = _gmt(o, "date_created_gmt")
    lines = o.get("line_items") or []
    customer_key, customer_known = told_customer(o, ctx)
    return OrderState(
        order_id=str(o["id"]),
        version=_gmt(o, "date_modified_gmt", required=False) or booked_at,  # type: ignore[arg-type]
        counted=counted,
        status=status or None,
        booked_at=booked_at,
        gross_sales=sum((_dec(li.get("subtotal"), "subtotal") for li in lines), ZERO),
        discounts=_dec(o.get("discount_total"), "discount_total"),
        shipping=_dec(o.get("shipping_total"), "shipping_total"),
        taxes=_dec(o.get("total_tax"), "total_tax"),
        items_sold=sum(quantity(li.get("quantity")) for li in lines),
        customer_key=customer_key,
        # anonymized: customer_id 0 and the placeholder address say nothing of whose order it was
        customer_known=customer_known,
        cart_token=_meta(o, CART_TOKEN_META) or None,
        checkout_token=None,
        cancelled_at=booked_at if status == "cancelled" and counted else None,
        source=traffic_source(*(_meta(o, key) for key in ATTRIBUTION_META)),
        # which refunds still stand: one deleted in the admin is missing from later payloads
        refund_ids=tuple(sorted(str(r["id"]) for r in o["refunds"] if isinstance(r, dict) and r.get("id") is not None))
        if isinstance(o.get("refunds"), list) else None,
        read_from_store=ctx.read_from_store,
        arrived_at=to_epoch_micros(ctx.received_at),
    )


def summary_refunds(order: OrderState, payload: Mapping) -> list[RefundState]:
    """Refunds known only by their total, from an order's `refunds[]` ({id, reason, total: "-10.00"}).

    Booked whole as returns and refunds, on the day of this payload's date_modified_gmt (reconcile
    keeps the earliest one seen), until the refund's details correct them.
    """
    out = []
    for entry in payload.get("refunds") or []:
        if not isinstance(entry, dict) or entry.get("id") is None:
            raise PayloadError("refund without id")
        amount = -_dec(entry.get("total"), "refunds[].total")
        out.append(RefundState(refund_id=str(entry["id"]), order_id=order.order_id, version=order.version,
                               booked_at=order.version, returns=amount, refunds=amount, detail=0))
    return out


def refund_state(order_id: str, payload: Any) -> RefundState:
    """A refund's details (GET /wc/v3/orders/<id>/refunds/<rid>, or the store plugin).

    returns = Σ refunded line totals without tax (positive); a refund without line amounts
    counts its amount less refunded shipping and tax; refunds = `amount`; items_returned =
    Σ refunded quantities (negative in the payload).
    """
    r = _obj(payload)
    if r.get("id") is None:
        raise PayloadError("missing id")
    lines = r.get("line_items") or []
    shipping_lines = r.get("shipping_lines") or []
    amount = _dec(r.get("amount"), "amount")
    refunded_shipping = -sum((_dec(s.get("total"), "total") for s in shipping_lines), ZERO)
    refunded_taxes = -(sum((_dec(li.get("total_tax"), "total_tax") for li in lines), ZERO)
                       + sum((_dec(s.get("total_tax"), "total_tax") for s in shipping_lines), ZERO))
    line_total = -sum((_dec(li.get("total"), "total") for li in lines), ZERO)
    booked_at = _gmt(r, "date_created_gmt")
    return RefundState(
        refund_id=str(r["id"]), order_id=str(order_id), version=booked_at,  # type: ignore[arg-type]
        booked_at=booked_at,  # type: ignore[arg-type]
        returns=line_total if lines else amount - refunded_shipping - refunded_taxes,
        refunded_shipping=refunded_shipping, refunded_taxes=refunded_taxes, refunds=amount,
        items_returned=-sum(quantity(li.get("quantity")) for li in lines), detail=1,
        products=tuple((str(li.get("name") or li.get("product_id") or "?"), str(-_dec(li.get("total"), "total")),
                        -quantity(li.get("quantity"))) for li in lines))


def on_order(payload: Any, ctx: Context) -> list[State]:
    if is_rest_error(payload):
        return []  # nothing to apply; the delivery is kept as ignored by the receiver
    order = order_state(payload, ctx)
    return [order, *summary_refunds(order, payload)]


def on_order_restored(payload: Any, ctx: Context) -> list[State]:
    """A trashed order restored: its state, marked as a restore, so that a trash of the same
    second (WooCommerce's times are whole seconds) does not stand over it in either arrival order."""
    return [dataclasses.replace(s, restored=True) if isinstance(s, OrderState) else s for s in on_order(payload, ctx)]


def on_order_deleted(payload: Any, ctx: Context) -> list[State]:
    """Trash. WooCommerce's body is only {"id"}, built when the delivery runs (Action Scheduler:
    possibly after a restore). The Kompas WordPress plugin adds the order's `status` and
    `date_modified_gmt` as of the delivery (wordpress/kompas/includes/class-kompas-webhooks.php):
    - status "trash": the deletion is versioned by the trash's own time, so that the restore's
      order.restored (modified later) wins in either arrival order;
    - another status: the order was restored before this delivery was built; the trash is
      undone already and nothing is applied (order.restored brings the order's state).
    Without them (a store without the plugin's filter) the deletion has no time of its own: it is
    placed right after the order's state Kompas knows (OrderState.timeless, entities.placed_after),
    so that a restore delivered after it counts."""
    o = _obj(payload)
    if o.get("id") in (None, ""):
        raise PayloadError("missing id")
    status = o.get("status")
    if status is not None and status != "trash":
        return []
    trashed_at = _gmt(o, "date_modified_gmt", required=False) if status == "trash" else None
    if trashed_at is not None:
        return [OrderState(order_id=str(o["id"]), version=trashed_at, deleted=True)]
    arrived = to_epoch_micros(ctx.received_at)
    return [OrderState(order_id=str(o["id"]), version=arrived, deleted=True, timeless=True, arrived_at=arrived)]


_CART_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def on_cart(payload: Any, ctx: Context) -> list[State]:
    """A cart event of the Kompas WordPress plugin (WooCommerce sends no cart webhooks):
    {token, event, created_at, updated_at, item_count}, times in UTC. A cart counts once per
    token on its creation day (section 4); an emptied cart is a later state of the same cart."""
    c = _obj(payload)
    token = c.get("token")
    if not isinstance(token, str) or not _CART_TOKEN.match(token):
        raise PayloadError("missing or malformed token")
    created = _gmt(c, "created_at")
    return [CartState(cart_kind="cart", token=token, version=_gmt(c, "updated_at", required=False) or created,  # type: ignore[arg-type]
                      created_at=created)]  # type: ignore[arg-type]


TOPICS = {
    # cart.* come from the Kompas WordPress plugin, signed with the shop's webhook secret
    "cart.created": on_cart,
    "cart.updated": on_cart,
    "cart.emptied": on_cart,
    "order.created": on_order,
    "order.updated": on_order,
    "order.restored": on_order_restored,
    "order.deleted": on_order_deleted,
}
