"""Figure-by-figure audit of the real payloads of shared/fixtures (= tests/payloads) that no test
followed through to `kompas report --json`: each is sent really signed through the receiver to a
shop in the payload's own currency and time zone (WooCommerce refund details go through the REST
path the backfill and resync use, plugin.woocommerce.backfill.order_states), and every money field
and count of the report is compared with the figures computed by hand from the payload, reading
kpi-definitions.md section 8 literally. The arithmetic is in each test's docstring.

Where a payload cannot be booked alone (a refund whose order is not among the fixtures: "a refund
counts only while its order counts"), the smallest order that makes it count is built from the
refund's own embedded line item, and said so.
"""
from __future__ import annotations

import json

import pytest

from plugin import ingest
from plugin.cli import main
from plugin.shops import add_shop
from plugin.woocommerce.backfill import context_for, order_states
from tests.helpers import SHOP, WOO_SECRET, WOO_SITE, payload

MONEY = ("gross_sales", "discounts", "returns", "net_sales", "shipping", "refunded_shipping", "taxes",
         "refunded_taxes", "total_sales", "refunds")
COUNTS = ("orders", "orders_cancelled", "items_sold", "items_returned", "customers", "new_customers")
AUDITED = MONEY + COUNTS + ("average_order_value",)


def _zero(zero_money: str) -> dict:
    figures = {name: zero_money for name in MONEY}
    figures.update({name: 0 for name in COUNTS})
    figures["average_order_value"] = None  # no orders: "no data"
    return figures


def _report(runner, shop: str, start: str, end: str | None = None) -> dict:  # noqa: ANN001
    assert runner.invoke(main, ["drain"]).exit_code == 0
    result = runner.invoke(main, ["report", "--shop", shop, "--from", start, "--to", end or start, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _audited(kpis: dict) -> dict:
    return {name: kpis[name] for name in AUDITED}


# --- Shopify ------------------------------------------------------------------------------------

@pytest.fixture
def shopify_shop_in(db):  # noqa: ANN001, ANN201
    def make(currency: str, zone: str):  # noqa: ANN202
        with db.transaction() as session:
            return add_shop(session, platform="shopify", domain=SHOP, timezone_name=zone, currency=currency)
    return make


def _pipedream_order(refund: dict) -> dict:
    """Order 6273085767965 of the real VND refund, which is not among the fixtures: one line, the
    refund's own embedded `line_item` (T-shirt 1, price_set.shop_money 20 VND, quantity 1, no
    discount, not taxable, VAT 0), no shipping, no tax, no customer; placed the day before the
    refund (2024-08-19 10:00 -04:00) so that the refund's day holds the refund alone."""
    line = dict(refund["refund_line_items"][0]["line_item"])
    vnd = lambda amount: {"shop_money": {"amount": amount, "currency_code": "VND"},  # noqa: E731
                          "presentment_money": {"amount": amount, "currency_code": "VND"}}
    return {"id": refund["order_id"], "admin_graphql_api_id": f"gid://shopify/Order/{refund['order_id']}",
            "created_at": "2024-08-19T10:00:00-04:00", "processed_at": "2024-08-19T10:00:00-04:00",
            "updated_at": "2024-08-19T10:00:00-04:00", "currency": "VND", "presentment_currency": "VND",
            "test": False, "financial_status": "paid", "cancelled_at": None, "cart_token": None,
            "checkout_token": None, "email": None, "customer": None, "taxes_included": False,
            "total_discounts": "0", "total_discounts_set": vnd("0"), "total_shipping_price_set": vnd("0"),
            "total_tax": "0", "total_tax_set": vnd("0"), "line_items": [line], "refunds": [],
            "shipping_lines": []}


@pytest.mark.parametrize("route", ["refunds/create", "orders/updated refunds[]", "both"])
def test_pipedream_real_vnd_refund_with_cancel_restock(send, shopify_shop_in, runner, route):
    """shopify/refunds-create__PipedreamHQ_pipedream.json (REAL, VND, restock_type "cancel").

    Shop: VND (no minor units), America/New_York (the payload's offset -04:00 in August).
    Refund processed_at 2024-08-20T11:19:18-04:00 -> shop-local 2024-08-20.
      returns           = Σ refund_line_items[].subtotal_set.shop_money = 20      -> "20"
      refunded_shipping = Σ refund_shipping_lines[] (none)               = 0       -> "0"
      refunded_taxes    = Σ refund_line_items[].total_tax_set.shop_money = 0       -> "0"
      refunds           = Σ transactions kind=refund, status=success     = 20      -> "20"
      items_returned    = Σ quantity where restock_type != cancel         = 0 (the one line is "cancel")
      net_sales         = 0 − 0 − 20 = −20 -> "-20";  total_sales = −20 + 0 − 0 + 0 − 0 = "-20"
      orders 0, AOV null, customers 0.
    Order day 2024-08-19 (the built order): gross 20 × 1 = "20", items_sold 1, orders 1, AOV 20/1 = "20".
    Range 08-19..08-20: gross "20", returns "20", net "0", total "0", refunds "20", AOV "20".
    """
    refund = payload("shopify", "refunds-create__PipedreamHQ")
    shopify_shop_in("VND", "America/New_York")
    order = _pipedream_order(refund)
    assert send("shopify", "orders/create", order).status_code == 200
    if route in ("refunds/create", "both"):
        assert send("shopify", "refunds/create", refund).status_code == 200
    if route in ("orders/updated refunds[]", "both"):
        updated = dict(order, updated_at="2024-08-20T11:19:19-04:00", refunds=[refund])
        assert send("shopify", "orders/updated", updated).status_code == 200

    refund_day = _zero("0")
    refund_day.update(returns="20", net_sales="-20", total_sales="-20", refunds="20")
    assert _audited(_report(runner, SHOP, "2024-08-20")["kpis"]) == refund_day

    order_day = _zero("0")
    order_day.update(orders=1, gross_sales="20", net_sales="20", total_sales="20", items_sold=1,
                     average_order_value="20")
    assert _audited(_report(runner, SHOP, "2024-08-19")["kpis"]) == order_day

    both = _report(runner, SHOP, "2024-08-19", "2024-08-20")
    expected = _zero("0")
    expected.update(orders=1, gross_sales="20", returns="20", net_sales="0", total_sales="0", refunds="20",
                    items_sold=1, average_order_value="20")
    assert _audited(both["kpis"]) == expected
    assert both["currency"] == "VND" and both["timezone"] == "America/New_York"


def test_doc_example_order_is_a_test_order_and_counts_nothing_nor_does_its_refund(send, shopify_shop_in, runner):
    """shopify/orders-create__gadget-inc… and refunds-create__gadget-inc… (DOC-EXAMPLE, unchanged).

    The order has "test": true: section 1, test orders never count; section 8, a refund counts only
    while its order counts. Every figure of 2021-12-31 and 2022-01-01 (America/New_York, the
    payload's -05:00; processed_at 2021-12-31T19:00-05:00 is 2022-01-01 00:00 UTC) is zero.
    """
    shopify_shop_in("USD", "America/New_York")
    assert send("shopify", "orders/create", payload("shopify", "orders-create")).status_code == 200
    assert send("shopify", "orders/cancelled", payload("shopify", "orders-create")).status_code == 200
    assert send("shopify", "refunds/create", payload("shopify", "refunds-create__gadget")).status_code == 200
    report = _report(runner, SHOP, "2021-12-31", "2022-01-01")
    assert _audited(report["kpis"]) == _zero("0.00")


def test_doc_example_order_as_a_live_order_voided_and_cancelled_on_its_day(send, shopify_shop_in, runner):
    """shopify/orders-create__gadget-inc… with the one change "test": false (DOC-EXAMPLE; its own
    refunds[] is empty). Shop USD, America/New_York; processed_at and cancelled_at
    2021-12-31T19:00:00-05:00 -> shop-local 2021-12-31 (UTC would be 2022-01-01).

      gross_sales = Σ price_set.shop_money × quantity, no gift cards
                  = 89.99 + 19.99 + 24.99 + 159.99 + 119.99 (each × 1) = 414.95
      discounts   = total_discounts_set.shop_money = 20.00
      shipping    = total_shipping_price_set.shop_money = 10.00;  taxes = total_tax_set = 0.00
      items_sold  = 5;  orders = 1;  orders_cancelled = 1 (cancelled_at the same day)
      financial_status "voided", cancelled (section 2): on the cancelled_at day
        returns = gross − discounts = 414.95 − 20.00 = 394.95
        refunded_shipping = 10.00, refunded_taxes = 0.00, refunds = 0.00 (no money moved)
      net_sales   = 414.95 − 20.00 − 394.95 = 0.00
      total_sales = 0.00 + 10.00 − 10.00 + 0.00 − 0.00 = 0.00
      AOV = (414.95 − 20.00) / 1 = 394.95
      customers 1 (customer.id), new_customers 1.
    2022-01-01: nothing.
    """
    shopify_shop_in("USD", "America/New_York")
    order = payload("shopify", "orders-create")
    order["test"] = False
    assert send("shopify", "orders/create", order).status_code == 200
    report = _report(runner, SHOP, "2021-12-31", "2022-01-01")
    expected = {"gross_sales": "414.95", "discounts": "20.00", "returns": "394.95", "net_sales": "0.00",
                "shipping": "10.00", "refunded_shipping": "10.00", "taxes": "0.00", "refunded_taxes": "0.00",
                "total_sales": "0.00", "refunds": "0.00", "orders": 1, "orders_cancelled": 1, "items_sold": 5,
                "items_returned": 0, "customers": 1, "new_customers": 1, "average_order_value": "394.95"}
    assert _audited(report["kpis"]) == expected
    day1, day2 = report["days"]
    assert _audited(day1) == expected
    assert _audited(day2) == _zero("0.00")


def test_doc_example_returns_book_no_money_and_no_counts(send, shopify_shop_in, runner):
    """shopify/returns-request, returns-approve, returns-close (DOC-EXAMPLE). Section 2 books money
    and items_returned from refunds only; a return's status change moves none of the audited
    figures (its order 4783296544821 is unknown anyway). All zero on the delivery day."""
    shopify_shop_in("USD", "UTC")
    triggered = "2026-03-02T10:00:00Z"
    for topic, name in (("returns/request", "returns-request"), ("returns/approve", "returns-approve"),
                        ("returns/close", "returns-close")):
        assert send("shopify", topic, payload("shopify", name), triggered_at=triggered).status_code == 200
    assert _audited(_report(runner, SHOP, "2026-03-02")["kpis"]) == _zero("0.00")


# --- WooCommerce --------------------------------------------------------------------------------

@pytest.fixture
def woo_shop_in(db):  # noqa: ANN001, ANN201
    def make(currency: str, zone: str):  # noqa: ANN202
        with db.transaction() as session:
            return add_shop(session, platform="woocommerce", domain=WOO_SITE, timezone_name=zone,
                            currency=currency, webhook_secret=WOO_SECRET)
    return make


class _Store:
    """The store's REST answer to GET /wc/v3/orders/<id>/refunds: the real refund bodies."""

    def __init__(self, refunds: list[dict]) -> None:
        self.refunds = refunds

    def get(self, path: str, **params):  # noqa: ANN003, ANN201
        return self.refunds


def _apply_from_rest(db, shop, order: dict, refunds: list[dict]) -> None:  # noqa: ANN001
    """What a backfill or resync applies for `order` with its refunds' REST details."""
    states = order_states(_Store(refunds), [order], context_for(shop)())
    with db.transaction() as session:
        ingest.apply(session, ingest.ShopContext.of(shop), states)


def test_airbyte_real_order_45_is_pending_and_counts_nothing(send, woo_shop_in, runner):
    """woocommerce/order.updated__airbytehq-airbyte.json (REAL, unchanged): status "pending" is a
    default exclusion (section 1), and its refund 60 counts only while the order counts (section 8).
    Shop USD, UTC (airbyte.store: date_created == date_created_gmt). 2022-11-30: all zero."""
    woo_shop_in("USD", "UTC")
    assert send("woocommerce", "order.updated", payload("woocommerce", "order.updated__airbytehq")).status_code == 200
    assert _audited(_report(runner, WOO_SITE, "2022-11-30")["kpis"]) == _zero("0.00")


def test_airbyte_real_order_45_on_hold_with_its_amount_only_refund_60(send, woo_shop_in, db, runner):
    """order.updated__airbytehq-airbyte.json with the one change status "on-hold" (section 8:
    on-hold counts even when unpaid, and date_paid_gmt is null here), then refund 60's REST details
    order_refund__airbytehq-airbyte.json (REAL, unchanged). Shop USD, UTC.

    Order, date_created_gmt 2022-11-30T20:17:50 -> 2022-11-30:
      gross_sales = Σ line_items[].subtotal = 90.00
      discounts   = discount_total = 0.00 (= Σ subtotal − total = 90.00 − 90.00; the coupon line
                    test10off says discount "0")
      shipping = shipping_total = 0.00;  taxes = total_tax = 0.00;  items_sold = 1;  orders = 1
      customers 1 (customer_id 210684523), new_customers 1;  AOV = (90.00 − 0.00) / 1 = 90.00
    Refund 60, first known from refunds[] {total "-10.00"} (booked on date_modified_gmt
    2022-11-30T19:01 -> 2022-11-30): returns 10.00, refunds 10.00, no shipping, no tax, items 0.
    Its details (date_created_gmt 2022-11-30T21:07:07, same day) correct it to:
      returns = Σ refunded line totals without tax = −(−10.00) = 10.00
      refunds = amount = 10.00;  items_returned = Σ refunded line quantities = 0
      refunded_shipping = 0.00 (no shipping_lines), refunded_taxes = 0.00 (line total_tax 0.00)
    Either way: net_sales = 90.00 − 0.00 − 10.00 = 80.00; total_sales = 80.00 + 0 − 0 + 0 − 0 = 80.00.
    """
    shop = woo_shop_in("USD", "UTC")
    order = payload("woocommerce", "order.updated__airbytehq")
    order["status"] = "on-hold"
    assert send("woocommerce", "order.updated", order).status_code == 200
    expected = {"gross_sales": "90.00", "discounts": "0.00", "returns": "10.00", "net_sales": "80.00",
                "shipping": "0.00", "refunded_shipping": "0.00", "taxes": "0.00", "refunded_taxes": "0.00",
                "total_sales": "80.00", "refunds": "10.00", "orders": 1, "orders_cancelled": 0, "items_sold": 1,
                "items_returned": 0, "customers": 1, "new_customers": 1, "average_order_value": "90.00"}
    assert _audited(_report(runner, WOO_SITE, "2022-11-30")["kpis"]) == expected
    _apply_from_rest(db, shop, order, [payload("woocommerce", "order_refund__airbyte")])
    report = _report(runner, WOO_SITE, "2022-11-29", "2022-12-01")
    assert _audited(report["kpis"]) == expected
    assert [_audited(d) for d in report["days"]] == [_zero("0.00"), expected, _zero("0.00")]


def test_ios_real_line_item_refund_562(send, woo_shop_in, db, runner):
    """woocommerce/order_refund__woocommerce-woocommerce-ios.json (REAL, unchanged): refund 562 of
    order 560, one line "Ship Your Idea - Blue, XL", quantity −1, total −27.00, amount 27.00.
    Order 560 is not among the fixtures: it is the real airbyte order body with that one line
    (id 65, subtotal = total = 27.00, quantity 1), status completed, created 2019-10-01T10:00:00 GMT,
    refunds[] {562, total "-27.00"}, date_modified_gmt = the refund's 2019-10-01T19:33:46.
    Shop USD, UTC (the staging site's date_created == date_created_gmt).

    2019-10-01: gross 27.00, discounts 0.00, items_sold 1, orders 1, AOV 27.00/1 = 27.00,
      customers 1, new 1 (customer_id of the template order);
      refund: returns = Σ refunded line totals without tax = 27.00; refunds = amount = 27.00;
      items_returned = Σ refunded line quantities = |−1| = 1; refunded_shipping 0.00 (no
      shipping lines), refunded_taxes 0.00 (line total_tax 0.00);
      net_sales = 27.00 − 0.00 − 27.00 = 0.00; total_sales = 0.00.
    """
    shop = woo_shop_in("USD", "UTC")
    order = payload("woocommerce", "order.updated__airbytehq")
    line = dict(order["line_items"][0], id=65, name="Ship Your Idea - Blue, XL", product_id=21, variation_id=70,
                quantity=1, subtotal="27.00", total="27.00", price=27, sku="HOODIE-SHIP-YOUR-IDEA-BLUE-XL")
    order.update(id=560, number="560", status="completed", line_items=[line], coupon_lines=[],
                 total="27.00", refunds=[{"id": 562, "reason": "hamster", "total": "-27.00"}],
                 date_created="2019-10-01T10:00:00", date_created_gmt="2019-10-01T10:00:00",
                 date_paid="2019-10-01T10:00:00", date_paid_gmt="2019-10-01T10:00:00",
                 date_modified="2019-10-01T19:33:46", date_modified_gmt="2019-10-01T19:33:46")
    assert send("woocommerce", "order.updated", order).status_code == 200
    summary = _audited(_report(runner, WOO_SITE, "2019-10-01")["kpis"])
    _apply_from_rest(db, shop, order, [payload("woocommerce", "order_refund__woocommerce-woocommerce-ios")])
    expected = {"gross_sales": "27.00", "discounts": "0.00", "returns": "27.00", "net_sales": "0.00",
                "shipping": "0.00", "refunded_shipping": "0.00", "taxes": "0.00", "refunded_taxes": "0.00",
                "total_sales": "0.00", "refunds": "27.00", "orders": 1, "orders_cancelled": 0, "items_sold": 1,
                "items_returned": 1, "customers": 1, "new_customers": 1, "average_order_value": "27.00"}
    assert _audited(_report(runner, WOO_SITE, "2019-10-01")["kpis"]) == expected
    # before the details: the summary books the whole 27.00 as returns and refunds, no items (section 2)
    assert summary == dict(expected, items_returned=0)
