"""Shopify inbound adapter: X-Shopify-* headers, topics, and REST payloads → entity states.

Readings follow kpi-definitions.md section 8 ("Money, Shopify"). Amounts are taken from
`*_set.shop_money` (the shop's currency), falling back to the plain field.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from plugin.kpi.booking import InstantError, parse_instant, to_epoch_micros
from plugin.kpi.entities import FINAL_VERSION, CartState, OrderState, RefundState, ReturnState, State
from plugin.kpi.money import ZERO, MoneyError, to_decimal

from .base import Context, DeliveryMeta, MissingHeaderError, PayloadError, quantity, traffic_source

name = "shopify"

# Cancelled without any captured payment: the sale is reversed on the cancellation day (section 2).
_UNCAPTURED = {"voided", "pending", "expired"}


def read_headers(headers: Mapping[str, str]) -> DeliveryMeta:
    missing = [h for h in ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id")
               if not headers.get(h)]
    if missing:
        raise MissingHeaderError("missing header(s): " + ", ".join(missing))
    webhook_id = headers["X-Shopify-Webhook-Id"].strip()
    return DeliveryMeta(
        topic=headers["X-Shopify-Topic"].strip(),
        shop_domain=headers["X-Shopify-Shop-Domain"].strip().lower(),
        signature=headers.get("X-Shopify-Hmac-Sha256"),
        delivery_id=webhook_id,
        dedupe_key=webhook_id,  # "unique composite key per delivery": the dedupe key (section 8)
        triggered_at=headers.get("X-Shopify-Triggered-At"),
    )


def shop_key(domain: str) -> str:
    return domain.strip().lower()


# --- payload readers ---------------------------------------------------------------------------

def _obj(payload: Any) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError("body is not a JSON object")
    return payload


def _id(obj: Mapping, field: str = "id") -> str:
    value = obj.get(field)
    if value in (None, "") or isinstance(value, (bool, dict, list)):
        raise PayloadError(f"missing {field}")
    return str(value)


def _instant(obj: Mapping, *fields: str, required: bool = True) -> int | None:
    for field in fields:
        value = obj.get(field)
        if value:
            try:
                return to_epoch_micros(parse_instant(value))
            except InstantError as exc:
                raise PayloadError(f"{field}: {exc}") from exc
    if required:
        raise PayloadError(f"missing {' or '.join(fields)}")
    return None


def _money(obj: Mapping, set_field: str, plain_field: str | None = None) -> Decimal:
    try:
        money_set = obj.get(set_field)
        if isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict):
            return to_decimal(money_set["shop_money"].get("amount"))
        return to_decimal(obj.get(plain_field)) if plain_field else ZERO
    except MoneyError as exc:
        raise PayloadError(f"{set_field}: {exc}") from exc



def _utm_source(landing_site: Any) -> str | None:
    """utm_source from the order's landing_site (a path with its query, e.g. "/?utm_source=x")."""
    if not isinstance(landing_site, str) or "utm_source" not in landing_site:
        return None
    values = parse_qs(urlsplit(landing_site).query).get("utm_source")
    return values[0] if values else None


def order_state(payload: Any, ctx: Context) -> OrderState:
    """The state of an order from a REST Order body (orders/create, updated, paid, cancelled)."""
    o = _obj(payload)
    gross, items = ZERO, 0
    for line in o.get("line_items") or []:
        if line.get("gift_card"):
            continue  # gift cards are not sales (section 2)
        count = quantity(line.get("quantity"))
        gross += _money(line, "price_set", "price") * count
        items += count
    customer = o.get("customer") if isinstance(o.get("customer"), dict) else {}
    cancelled_at = _instant(o, "cancelled_at", required=False)
    return OrderState(
        order_id=_id(o),
        version=_instant(o, "updated_at", "created_at"),  # type: ignore[arg-type]
        counted=not o.get("test", False),
        booked_at=_instant(o, "processed_at", "created_at"),
        gross_sales=gross,
        discounts=_money(o, "total_discounts_set", "total_discounts"),
        shipping=_money(o, "total_shipping_price_set"),
        taxes=_money(o, "total_tax_set", "total_tax"),
        items_sold=items,
        customer_key=ctx.customer_key(customer.get("id"), o.get("email") or o.get("contact_email")),
        cart_token=o.get("cart_token") or None,
        checkout_token=o.get("checkout_token") or None,
        # REST bodies always have the keys (null for an order without a cart); a GraphQL order
        # rewritten by plugin.shopify.graphql_orders has neither: it cannot tell
        links_known="cart_token" in o or "checkout_token" in o,
        cancelled_at=cancelled_at,
        cancel_reverses_sale=cancelled_at is not None and o.get("financial_status") in _UNCAPTURED,
        source=traffic_source(_utm_source(o.get("landing_site")), o.get("referring_site"), o.get("source_name")),
    )


def refund_state(payload: Any, version: int | None = None, order_id: str | None = None) -> RefundState:
    """The state of a refund (refunds/create body, or an entry of an order's `refunds[]`).

    Refunds carry no updated_at. A refunds/create body is versioned by its latest own timestamp;
    one inside an order payload by that order's updated_at, which is never earlier.
    """
    r = _obj(payload)
    # gift cards are not goods: not in gross sales or items sold, so not in returns either (section 2)
    lines = [li for li in r.get("refund_line_items") or []
             if not (isinstance(li.get("line_item"), dict) and li["line_item"].get("gift_card"))]
    gift_cards_only = bool(r.get("refund_line_items")) and not lines
    rate = _presentment_rate(r)
    refunded_shipping = sum((_money(s, "subtotal_amount_set", "subtotal_amount")
                             for s in r.get("refund_shipping_lines") or []), ZERO)
    refunded_taxes = sum((_money(li, "total_tax_set", "total_tax") for li in lines), ZERO)
    money = ZERO
    latest = _instant(r, "processed_at", "created_at")
    for t in r.get("transactions") or []:
        if t.get("kind") == "refund" and t.get("status") == "success":
            money += _transaction_money(t, rate)
        stamp = _instant(t, "processed_at", "created_at", required=False)
        if stamp is not None and latest is not None:
            latest = max(latest, stamp)
    if lines:
        returns = sum((_money(li, "subtotal_set", "subtotal") for li in lines), ZERO)
    elif gift_cards_only:   # money back for a gift card: refunds, but no goods returned
        returns = ZERO
    else:  # a goodwill amount: its money without the refunded shipping and tax (section 8)
        returns = money - refunded_shipping - refunded_taxes
    return RefundState(
        refund_id=_id(r),
        order_id=order_id or _id(r, "order_id"),
        version=version if version is not None else latest,  # type: ignore[arg-type]
        booked_at=_instant(r, "processed_at", "created_at"),  # type: ignore[arg-type]
        returns=returns,
        refunded_shipping=refunded_shipping,
        refunded_taxes=refunded_taxes,
        refunds=money,
        items_returned=sum(quantity(li.get("quantity")) for li in lines if li.get("restock_type") != "cancel"),
        products=tuple((_product(li), str(_money(li, "subtotal_set", "subtotal")),
                        quantity(li.get("quantity")) if li.get("restock_type") != "cancel" else 0) for li in lines),
    )


def _presentment_rate(refund: Mapping) -> tuple[str, str, Decimal] | None:
    """(presentment currency, shop currency, shop money per unit of presentment money) of a refund
    whose `_set` amounts are in two currencies, from those amounts themselves (its lines, their
    tax, its shipping, its order adjustments): the rate the refund was made at. None when it is in
    the shop's currency or shows no `_set` amount to tell."""
    shop = presentment = ZERO
    codes = None
    sets = [(li, "subtotal_set") for li in refund.get("refund_line_items") or []]
    sets += [(li, "total_tax_set") for li in refund.get("refund_line_items") or []]
    sets += [(sl, "subtotal_amount_set") for sl in refund.get("refund_shipping_lines") or []]
    sets += [(adj, "amount_set") for adj in refund.get("order_adjustments") or []]
    for obj, field in sets:
        money_set = obj.get(field) if isinstance(obj, dict) else None
        if not (isinstance(money_set, dict) and isinstance(money_set.get("shop_money"), dict)
                and isinstance(money_set.get("presentment_money"), dict)):
            continue
        pair = (money_set["presentment_money"].get("currency_code"), money_set["shop_money"].get("currency_code"))
        if not all(pair) or pair[0] == pair[1]:
            return None
        codes = codes or pair
        try:
            shop += abs(to_decimal(money_set["shop_money"].get("amount")))
            presentment += abs(to_decimal(money_set["presentment_money"].get("amount")))
        except MoneyError as exc:
            raise PayloadError(f"{field}: {exc}") from exc
    if codes is None or presentment == ZERO:
        return None
    return codes[0], codes[1], shop / presentment


def _transaction_money(transaction: Mapping, rate: tuple[str, str, Decimal] | None) -> Decimal:
    """A refund transaction's amount in the shop's currency. Shopify makes refund transactions in
    the order's presentment currency (the customer's), and REST bodies give only that `amount` with
    its `currency`: one in the presentment currency is converted at the refund's own rate."""
    if isinstance(transaction.get("amount_set"), dict):
        return _money(transaction, "amount_set", "amount")
    amount = _money(transaction, "amount_set", "amount")
    if rate is not None and transaction.get("currency") == rate[0]:
        return (amount * rate[2]).quantize(Decimal("0.0001"))
    return amount


def _product(refund_line: Mapping) -> str:
    """A refunded line's product, by the title merchants know it by."""
    item = refund_line.get("line_item") if isinstance(refund_line.get("line_item"), dict) else {}
    return str(item.get("title") or item.get("name") or item.get("product_id") or refund_line.get("line_item_id") or "?")


def on_order(payload: Any, ctx: Context) -> list[State]:
    order = order_state(payload, ctx)
    refunds = [refund_state(r, version=order.version, order_id=order.order_id)
               for r in payload.get("refunds") or []]
    return [order, *refunds]


def on_order_delete(payload: Any, ctx: Context) -> list[State]:
    # orders/delete is final (section 8): a tombstone no later payload can be newer than.
    return [OrderState(order_id=_id(_obj(payload)), version=FINAL_VERSION, deleted=True)]


def on_order_edited(payload: Any, ctx: Context) -> list[State]:
    # The body is a diff ({order_edit: {...}}); Shopify follows every edit with orders/updated
    # carrying the whole order, which is the state we apply. Checked for shape, recorded, no state.
    if not isinstance(_obj(payload).get("order_edit"), dict):
        raise PayloadError("missing order_edit")
    return []


def on_refund(payload: Any, ctx: Context) -> list[State]:
    return [refund_state(payload)]


def _event_time(ctx: Context) -> int:
    # Return payloads carry no timestamp: the status change happened when Shopify triggered the
    # delivery (X-Shopify-Triggered-At), or, without that header, when we received it.
    return to_epoch_micros(ctx.triggered_at or ctx.received_at)


def _return_order_id(r: dict) -> str | None:
    order = r.get("order")
    if isinstance(order, dict) and order.get("id") is not None:
        return str(order["id"])
    return str(r["order_id"]) if r.get("order_id") is not None else None


def on_return_request(payload: Any, ctx: Context) -> list[State]:
    r = _obj(payload)
    return [ReturnState(return_id=_id(r), order_id=_return_order_id(r), requested_at=_event_time(ctx))]


def on_return_approve(payload: Any, ctx: Context) -> list[State]:
    r = _obj(payload)
    return [ReturnState(return_id=_id(r), order_id=_return_order_id(r), approved_at=_event_time(ctx))]


def on_return_other(payload: Any, ctx: Context) -> list[State]:
    # decline, cancel, close, reopen: recorded; the KPIs count requests and approvals only.
    _id(_obj(payload))
    return []


def _cart(kind: str):  # noqa: ANN202
    def handler(payload: Any, ctx: Context) -> list[State]:
        c = _obj(payload)
        token = c.get("token") or c.get("id")
        if not token:
            raise PayloadError("missing token")
        created = _instant(c, "created_at")
        return [CartState(cart_kind=kind, token=str(token),
                          version=_instant(c, "updated_at", "created_at"),  # type: ignore[arg-type]
                          created_at=created)]  # type: ignore[arg-type]
    return handler


TOPICS = {
    "orders/create": on_order,
    "orders/updated": on_order,
    "orders/paid": on_order,
    "orders/cancelled": on_order,
    "orders/edited": on_order_edited,
    "orders/delete": on_order_delete,
    "refunds/create": on_refund,
    "returns/request": on_return_request,
    "returns/approve": on_return_approve,
    "returns/decline": on_return_other,
    "returns/cancel": on_return_other,
    "returns/close": on_return_other,
    "returns/reopen": on_return_other,
    "carts/create": _cart("cart"),
    "carts/update": _cart("cart"),
    "checkouts/create": _cart("checkout"),
    "checkouts/update": _cart("checkout"),
}
