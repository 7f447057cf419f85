"""A demo shop: about 90 days of realistic Shopify activity, sent as signed webhooks through the
real receiver (the same view, signature check and applier that production deliveries take).

The payload builders produce Shopify's REST shapes (orders/*, refunds/create, carts/*,
checkouts/*, returns/*) with the fields Kompas reads and their `*_set.shop_money` twins; the
benchmarks and property tests use them too.
"""
from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from webhooks.signatures import sign

CATALOGUE = [
    ("Wollen sjaal", "34.95"), ("Leren portemonnee", "49.00"), ("Canvas tas", "24.50"),
    ("Koffiebeker", "12.95"), ("Notitieboek A5", "9.99"), ("Linnen theedoek", "14.00"),
    ("Geurkaars", "19.95"), ("Zonnebril", "89.99"), ("Wandelsokken", "11.50"), ("Cadeaubon", "25.00"),
]
TAX_RATE = Decimal("0.21")
# (landing_site, referring_site) of a Dutch shop's visitors, weighted by repetition
TRAFFIC = [(None, None)] * 5 + [(None, "https://www.google.com/")] * 6 + \
    [("/?utm_source=nieuwsbrief&utm_medium=email", None)] * 3 + [("/?utm_source=instagram", "https://l.instagram.com/")] * 2 + \
    [(None, "https://www.beslist.nl/")] + [("/?utm_source=facebook", "https://www.facebook.com/")]
CENT = Decimal("0.01")


def _money_set(amount: Decimal, currency: str) -> dict[str, Any]:
    text = f"{amount:.2f}"
    return {"shop_money": {"amount": text, "currency_code": currency},
            "presentment_money": {"amount": text, "currency_code": currency}}


def _iso(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).isoformat(timespec="seconds")


def order_payload(order_id: int, *, created: datetime, updated: datetime, zone: ZoneInfo,
                  lines: list[tuple[str, Decimal, int]], currency: str = "EUR",
                  discount_rate: Decimal = Decimal(0), customer_id: int | None = None,
                  email: str | None = None, cart_token: str | None = None,
                  checkout_token: str | None = None, cancelled_at: datetime | None = None,
                  financial_status: str = "paid", refunds: list[dict] | None = None,
                  source_name: str = "web", test: bool = False, gift_card_line: bool = False,
                  landing_site: str | None = None, referring_site: str | None = None) -> dict[str, Any]:
    """A Shopify REST Order body. `lines` are (title, unit price, quantity)."""
    subtotal = sum((price * qty for _, price, qty in lines), Decimal(0))
    discounts = (subtotal * discount_rate).quantize(CENT, ROUND_HALF_UP)
    shipping = Decimal(0) if subtotal - discounts >= 50 else Decimal("4.95")
    tax = ((subtotal - discounts + shipping) * TAX_RATE).quantize(CENT, ROUND_HALF_UP)
    total = subtotal - discounts + shipping + tax
    line_items = [{
        "id": order_id * 10 + i, "admin_graphql_api_id": f"gid://shopify/LineItem/{order_id * 10 + i}",
        "title": title, "name": title, "quantity": qty, "current_quantity": qty, "gift_card": False,
        "price": f"{price:.2f}", "price_set": _money_set(price, currency), "product_id": 1000 + i,
        "sku": f"SKU-{i}", "taxable": True, "total_discount": "0.00",
        "total_discount_set": _money_set(Decimal(0), currency), "discount_allocations": [], "tax_lines": [],
    } for i, (title, price, qty) in enumerate(lines)]
    if gift_card_line:
        line_items.append({"id": order_id * 10 + 9, "title": "Cadeaukaart", "quantity": 1, "gift_card": True,
                           "price": "50.00", "price_set": _money_set(Decimal(50), currency)})
    customer = None
    if customer_id is not None:
        customer = {"id": customer_id, "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
                    "email": email, "currency": currency}
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{order_id % 100000}", "test": test, "currency": currency, "presentment_currency": currency,
        "created_at": _iso(created, zone), "processed_at": _iso(created, zone), "updated_at": _iso(updated, zone),
        "cancelled_at": _iso(cancelled_at, zone) if cancelled_at else None,
        "cancel_reason": "customer" if cancelled_at else None,
        "financial_status": financial_status, "source_name": source_name,
        "landing_site": landing_site, "referring_site": referring_site,
        "email": email, "contact_email": email, "customer": customer,
        "cart_token": cart_token, "checkout_token": checkout_token,
        "line_items": line_items,
        "subtotal_price": f"{subtotal - discounts:.2f}", "subtotal_price_set": _money_set(subtotal - discounts, currency),
        "total_line_items_price": f"{subtotal:.2f}", "total_line_items_price_set": _money_set(subtotal, currency),
        "total_discounts": f"{discounts:.2f}", "total_discounts_set": _money_set(discounts, currency),
        "total_shipping_price_set": _money_set(shipping, currency),
        "total_tax": f"{tax:.2f}", "total_tax_set": _money_set(tax, currency),
        "total_price": f"{total:.2f}", "total_price_set": _money_set(total, currency),
        "taxes_included": False, "refunds": refunds or [],
    }


def refund_payload(refund_id: int, order: dict[str, Any], *, at: datetime, zone: ZoneInfo,
                   line_index: int = 0, quantity: int = 1, restock_type: str = "return",
                   currency: str = "EUR", transaction_status: str = "success") -> dict[str, Any]:
    """A refunds/create body giving back `quantity` of one line, tax included, as money."""
    line = order["line_items"][line_index]
    price = Decimal(line["price"])
    subtotal = price * quantity
    tax = (subtotal * TAX_RATE).quantize(CENT, ROUND_HALF_UP)
    stamp = _iso(at, zone)
    return {
        "id": refund_id, "order_id": order["id"], "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "created_at": stamp, "processed_at": stamp, "note": "", "restock": restock_type != "no_restock",
        "refund_shipping_lines": [], "order_adjustments": [], "duties": [], "return": None,
        "refund_line_items": [{
            "id": refund_id * 10, "line_item_id": line["id"], "quantity": quantity, "restock_type": restock_type,
            "subtotal": float(subtotal), "total_tax": float(tax),
            "subtotal_set": _money_set(subtotal, currency), "total_tax_set": _money_set(tax, currency),
            "line_item": line,
        }],
        "transactions": [{
            "id": refund_id * 10 + 1, "order_id": order["id"], "kind": "refund", "gateway": "mollie",
            "status": transaction_status, "amount": f"{subtotal + tax:.2f}", "currency": currency,
            "created_at": stamp, "processed_at": stamp,
        }],
    }


def cart_payload(token: str, *, created: datetime, updated: datetime, zone: ZoneInfo) -> dict[str, Any]:
    return {"id": token, "token": token, "line_items": [], "note": None,
            "created_at": _iso(created, zone), "updated_at": _iso(updated, zone)}


def checkout_payload(token: str, cart_token: str | None, *, created: datetime, updated: datetime,
                     zone: ZoneInfo, completed: bool = False) -> dict[str, Any]:
    return {"id": abs(hash(token)) % 10**12, "token": token, "cart_token": cart_token,
            "created_at": _iso(created, zone), "updated_at": _iso(updated, zone),
            "completed_at": _iso(updated, zone) if completed else None, "line_items": []}


@dataclass
class Delivery:
    """A webhook ready to be sent: topic, body bytes and Shopify's webhook id."""

    topic: str
    body: bytes
    webhook_id: str
    triggered_at: str | None = None


def _delivery(topic: str, data: dict[str, Any], triggered_at: datetime | None = None) -> Delivery:
    return Delivery(topic, json.dumps(data).encode(), str(uuid.uuid4()),
                    triggered_at.astimezone(timezone.utc).isoformat() if triggered_at else None)


def generate_shop_history(*, days: int, end: date, zone: ZoneInfo, seed: int,
                          orders_per_day: float = 18.0) -> Iterator[Delivery]:
    """Deliveries of `days` days of a small Dutch webshop ending on `end` (shop-local), in time order.

    Weekly rhythm (busier Sunday and Monday evening), a slowly growing trend, returning customers,
    guest checkouts, discount codes, abandoned carts and checkouts, cancellations of unpaid orders,
    refunds with returns a few days later, and the orders/updated that follow them.
    """
    rng = random.Random(seed)
    start = end - timedelta(days=days - 1)
    next_order, next_refund, next_customer = 5_100_000_000, 9_100_000_000, 7_100_000_000
    known_customers: list[tuple[int, str]] = []
    later: list[tuple[datetime, Delivery]] = []
    weekday_factor = [1.15, 0.95, 0.9, 0.95, 1.0, 0.85, 1.2]
    for offset in range(days):
        day = start + timedelta(days=offset)
        trend = 0.8 + 0.4 * offset / max(days - 1, 1)
        expected = orders_per_day * weekday_factor[day.weekday()] * trend
        count = max(0, int(rng.gauss(expected, expected ** 0.5)))
        today: list[tuple[datetime, Delivery]] = []
        for _ in range(count):
            hour = min(23, max(0, int(rng.gauss(15, 4))))
            created = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), zone)
            cart_token = uuid.uuid4().hex
            checkout_token = uuid.uuid4().hex
            cart_at = created - timedelta(minutes=rng.randrange(3, 40))
            today.append((cart_at, _delivery("carts/create", cart_payload(cart_token, created=cart_at, updated=cart_at, zone=zone))))
            co_at = created - timedelta(minutes=2)
            today.append((co_at, _delivery("checkouts/create", checkout_payload(checkout_token, cart_token, created=co_at, updated=co_at, zone=zone))))
            if known_customers and rng.random() < 0.35:
                customer_id, email = rng.choice(known_customers)
            elif rng.random() < 0.15:
                customer_id, email = None, f"gast{rng.randrange(10**6)}@example.nl"
            else:
                next_customer += 1
                customer_id, email = next_customer, f"klant{next_customer}@example.nl"
                known_customers.append((customer_id, email))
            lines = [(title, Decimal(price), rng.choice([1, 1, 1, 2, 3]))
                     for title, price in rng.sample(CATALOGUE, rng.choice([1, 1, 2, 2, 3]))]
            discount = Decimal("0.10") if rng.random() < 0.2 else Decimal(0)
            landing, referrer = rng.choice(TRAFFIC)
            next_order += 1
            cancelled = rng.random() < 0.03
            order = order_payload(next_order, created=created, updated=created, zone=zone, lines=lines,
                                  discount_rate=discount, customer_id=customer_id, email=email,
                                  cart_token=cart_token, checkout_token=checkout_token,
                                  financial_status="pending" if cancelled else "paid",
                                  landing_site=landing, referring_site=referrer)
            today.append((created, _delivery("orders/create", order)))
            today.append((created + timedelta(seconds=5), _delivery("orders/paid" if not cancelled else "orders/updated", order)))
            if cancelled:
                at = created + timedelta(hours=rng.randrange(1, 20))
                cancelled_order = dict(order, cancelled_at=_iso(at, zone), updated_at=_iso(at, zone),
                                       financial_status="voided", cancel_reason="customer")
                later.append((at, _delivery("orders/cancelled", cancelled_order)))
            elif rng.random() < 0.09:
                at = created + timedelta(days=rng.randrange(2, 15), hours=rng.randrange(0, 8))
                next_refund += 1
                refund = refund_payload(next_refund, order, at=at, zone=zone, quantity=1)
                return_id = next_refund + 500_000
                request_at = at - timedelta(days=1)
                ret = {"id": return_id, "status": "requested", "order": {"id": order["id"]},
                       "total_return_line_items": 1, "return_line_items": []}
                later.append((request_at, _delivery("returns/request", ret, request_at)))
                later.append((request_at + timedelta(hours=3),
                              _delivery("returns/approve", dict(ret, status="open"), request_at + timedelta(hours=3))))
                later.append((at, _delivery("refunds/create", refund)))
                updated_order = dict(order, updated_at=_iso(at + timedelta(seconds=1), zone),
                                     financial_status="partially_refunded", refunds=[refund])
                later.append((at + timedelta(seconds=1), _delivery("orders/updated", updated_order)))
        # abandoned carts and checkouts
        for _ in range(int(count * rng.uniform(1.5, 2.5))):
            at = datetime.combine(day, time(rng.randrange(24), rng.randrange(60)), zone)
            token = uuid.uuid4().hex
            today.append((at, _delivery("carts/create", cart_payload(token, created=at, updated=at, zone=zone))))
            if rng.random() < 0.3:
                today.append((at + timedelta(minutes=5), _delivery(
                    "checkouts/create", checkout_payload(uuid.uuid4().hex, token, created=at + timedelta(minutes=5),
                                                         updated=at + timedelta(minutes=5), zone=zone))))
        due = [item for item in later if item[0].date() <= day]
        later = [item for item in later if item[0].date() > day]
        for _, delivery in sorted(today + due, key=lambda item: item[0]):
            yield delivery
    for _, delivery in sorted(later, key=lambda item: item[0]):
        if _ <= datetime.now(timezone.utc):
            yield delivery


def load_demo(app, *, domain: str, days: int, seed: int, timezone_name: str = "Europe/Amsterdam",
              currency: str = "EUR") -> int:  # noqa: ANN001
    """Create (or reuse) the demo shop and send its history through the receiver; returns the count.

    A few deliveries are sent twice, as Shopify's retries do, to show that duplicates change nothing.
    """
    from .shops import ShopError, add_shop, find_shop

    db = app.extensions["kompas.db"]
    with db.transaction() as session:
        try:
            find_shop(session, domain)
        except ShopError:
            add_shop(session, platform="shopify", domain=domain, timezone_name=timezone_name,
                     currency=currency, name="Demo Winkel")
    zone = ZoneInfo(timezone_name)
    _enter_marketing_spend(db, domain, datetime.now(zone).date(), days)
    secret = app.config["SHOPIFY_API_SECRETS"][0]
    client = app.test_client()
    end = datetime.now(zone).date()
    sent = 0
    for index, delivery in enumerate(generate_shop_history(days=days, end=end, zone=zone, seed=seed)):
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": delivery.topic,
                   "X-Shopify-Shop-Domain": domain, "X-Shopify-API-Version": "2026-04",
                   "X-Shopify-Webhook-Id": delivery.webhook_id,
                   "X-Shopify-Hmac-Sha256": sign(delivery.body, secret)}
        if delivery.triggered_at:
            headers["X-Shopify-Triggered-At"] = delivery.triggered_at
        for _ in range(2 if index % 97 == 0 else 1):
            response = client.post("/webhooks/shopify", data=delivery.body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"demo delivery refused: {response.status_code} {response.get_data(as_text=True)}")
            sent += 1
    return sent


def _enter_marketing_spend(db, domain: str, today: date, days: int) -> None:  # noqa: ANN001
    """What a merchant would type into the panel: € 1,200–1,800 of marketing a month."""
    from .settings import set_spend
    from .shops import find_shop

    with db.transaction() as session:
        shop = find_shop(session, domain)
        day = today - timedelta(days=days)
        while day <= today:
            month = day.strftime("%Y-%m")
            set_spend(session, shop.id, month, 1200 + 150 * (day.month % 5))
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)


# --- the same orders as Shopify's GraphQL Admin API gives them (bulk results, recorded answers) ---

def _gql_money(money_set: dict[str, Any] | None) -> dict[str, Any] | None:
    if not money_set:
        return None
    shop = money_set["shop_money"]
    return {"shopMoney": {"amount": str(shop["amount"]), "currencyCode": shop["currency_code"]}}


def graphql_refund(refund: dict[str, Any]) -> dict[str, Any]:
    """A REST refund as a GraphQL Refund node with its connections (a nodes(ids:) answer)."""
    return {
        "id": f"gid://shopify/Refund/{refund['id']}", "legacyResourceId": str(refund["id"]),
        "createdAt": refund["created_at"], "processedAt": refund["processed_at"],
        "refundLineItems": {"nodes": [{
            "quantity": li["quantity"], "restockType": li["restock_type"].upper(),
            "subtotalSet": _gql_money(li["subtotal_set"]), "totalTaxSet": _gql_money(li["total_tax_set"]),
            "lineItem": {"id": f"gid://shopify/LineItem/{li['line_item']['id']}", "title": li["line_item"]["title"]},
        } for li in refund["refund_line_items"]]},
        "refundShippingLines": {"nodes": [{"subtotalAmountSet": _gql_money(s["subtotal_amount_set"])}
                                          for s in refund.get("refund_shipping_lines") or []]},
        "transactions": {"nodes": [{
            "kind": t["kind"].upper(), "status": t["status"].upper(), "processedAt": t["processed_at"],
            "amountSet": {"shopMoney": {"amount": t["amount"], "currencyCode": t["currency"]}},
        } for t in refund["transactions"]]},
    }


def graphql_order(order: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A REST order as a bulk result's order line and its line item lines (with __parentId)."""
    gid = f"gid://shopify/Order/{order['id']}"
    node = {
        "id": gid, "legacyResourceId": str(order["id"]), "name": order["name"],
        "createdAt": order["created_at"], "updatedAt": order["updated_at"], "processedAt": order["processed_at"],
        "cancelledAt": order["cancelled_at"], "test": order["test"],
        "displayFinancialStatus": order["financial_status"].upper(), "email": order["email"],
        "sourceName": order["source_name"], "landingPageUrl": order["landing_site"],
        "referrerUrl": order["referring_site"],
        "customer": {"id": f"gid://shopify/Customer/{order['customer']['id']}"} if order["customer"] else None,
        "totalDiscountsSet": _gql_money(order["total_discounts_set"]),
        "totalShippingPriceSet": _gql_money(order["total_shipping_price_set"]),
        "totalTaxSet": _gql_money(order["total_tax_set"]),
        "refunds": [{"id": f"gid://shopify/Refund/{r['id']}"} for r in order["refunds"]],
    }
    items = [{
        "id": f"gid://shopify/LineItem/{li['id']}", "title": li["title"], "quantity": li["quantity"],
        "isGiftCard": li["gift_card"], "originalUnitPriceSet": _gql_money(li["price_set"]), "__parentId": gid,
    } for li in order["line_items"]]
    return node, items


def bulk_jsonl(orders: list[dict[str, Any]]) -> bytes:
    """A grouped bulk operation result (JSONL) of these REST orders."""
    out = []
    for order in orders:
        node, items = graphql_order(order)
        out.append(json.dumps(node))
        out.extend(json.dumps(item) for item in items)
    return ("\n".join(out) + "\n").encode()
