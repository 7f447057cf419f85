"""Shopify money and links the way section 2 and 4 read them, through signed webhooks and the
daily reconciliation: a refunded gift card returns no goods, a refund paid in the customer's
currency is counted in the shop's, and a reconciliation's GraphQL read of an order keeps its cart
and checkout (found in a review of the figures against kpi-definitions.md)."""
import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from plugin import ingest
from plugin.cli import main
from plugin.demo import cart_payload, checkout_payload, order_payload, refund_payload
from plugin.models import Shop
from plugin.shopify.backfill import UpdatedOrders
from tests.helpers import SHOP

AMS = ZoneInfo("Europe/Amsterdam")


def at(*parts):
    return datetime(*parts, tzinfo=AMS)


def kpis(runner, start, end, shop=SHOP):
    """`kompas report --json` (section 7)."""
    result = runner.invoke(main, ["report", "--shop", shop, "--from", start, "--to", end, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["kpis"]


def _graphql_order(order_id, created, updated):
    """The order as Shopify's GraphQL Admin API (2026-04, ORDER_QUERY) answers the reconciliation:
    it has no cartToken/checkoutToken field (graphql_orders.py: 'arrive only in 2026-07')."""
    money = lambda amount: {"shopMoney": {"amount": amount, "currencyCode": "EUR"}}  # noqa: E731
    return {"id": f"gid://shopify/Order/{order_id}", "legacyResourceId": str(order_id), "name": "#1001",
            "cancelledAt": None, "test": False, "email": None, "sourceName": "web", "landingPageUrl": None,
            "referrerUrl": None, "customer": {"id": "gid://shopify/Customer/901"}, "refunds": [],
            "totalDiscountsSet": money("0.00"), "totalShippingPriceSet": money("4.95"), "totalTaxSet": money("7.34"),
            "createdAt": created, "updatedAt": updated, "processedAt": created, "displayFinancialStatus": "PAID",
            "lineItems": {"pageInfo": {"hasNextPage": False, "endCursor": None},
                          "nodes": [{"id": "gid://shopify/LineItem/50010", "title": "Sjaal", "quantity": 1,
                                     "isGiftCard": False, "originalUnitPriceSet": money("30.00")}]}}


class _ShopifyAdmin:
    """Answers UpdatedOrders' two queries (orders updated since; one order) with one order."""

    def __init__(self, node):
        self.node = node

    def graphql(self, query, variables=None):
        if "orders(first: 250" in query:
            return {"orders": {"pageInfo": {"hasNextPage": False, "endCursor": None},
                               "nodes": [{"id": self.node["id"], "legacyResourceId": self.node["legacyResourceId"],
                                          "updatedAt": self.node["updatedAt"]}]}}
        if "node(id: $id)" in query:
            return {"node": self.node}
        raise AssertionError(f"unexpected query {query}")


def test_the_daily_reconciliation_keeps_the_orders_cart_and_checkout(runner, send, app, db, shopify_shop):
    """Section 4: purchases = orders booked in R whose cart_token (checkout_token) names a cart
    (checkout) created in R. The order below was bought from a cart and a checkout on 4 May.
    It is fulfilled on 5 May; that orders/updated is late (shopify.md 1.3: "up to a day late"),
    so the daily reconciliation (plugin/shopify/backfill.py UpdatedOrders) fetches the newer
    state from GraphQL first. That state has no cart_token/checkout_token, replaces the webhook
    state, and the purchase disappears; the late webhook with the same updated_at is then dropped
    as 'the same state' (entities.reconcile), so the loss is permanent."""
    send("shopify", "carts/create", cart_payload("cart-rec-1", created=at(2026, 5, 4, 10), updated=at(2026, 5, 4, 10), zone=AMS))
    send("shopify", "checkouts/create", checkout_payload("chk-rec-1", "cart-rec-1", created=at(2026, 5, 4, 10, 20),
                                                         updated=at(2026, 5, 4, 10, 20), zone=AMS))
    created = at(2026, 5, 4, 10, 30)
    order = order_payload(5001, created=created, updated=created, zone=AMS, lines=[("Sjaal", Decimal("30.00"), 1)],
                          customer_id=901, cart_token="cart-rec-1", checkout_token="chk-rec-1")
    send("shopify", "orders/create", order)
    before = kpis(runner, "2026-05-04", "2026-05-04")
    assert (before["cart_abandonment_rate"], before["checkout_abandonment_rate"]) == ("0.00", "0.00")

    node = _graphql_order(5001, "2026-05-04T10:30:00+02:00", "2026-05-05T09:00:00+02:00")
    with db.reading() as session:
        shop = session.get(Shop, shopify_shop.id)
        session.expunge(shop)
    pages = list(UpdatedOrders(_ShopifyAdmin(node), app, shop, at(2026, 5, 5)).pages(None))
    with db.transaction() as session:   # as plugin.backfill applies a page
        ingest.apply(session, ingest.ShopContext.of(session.get(Shop, shop.id)),
                     [state for page in pages for state in page.states])
    send("shopify", "orders/updated", dict(order, updated_at="2026-05-05T09:00:00+02:00", fulfillment_status="fulfilled"))

    after = kpis(runner, "2026-05-04", "2026-05-04")
    assert (after["orders"], after["carts"], after["checkouts"]) == (1, 1, 1)
    assert (after["cart_abandonment_rate"], after["checkout_abandonment_rate"]) == ("0.00", "0.00"), after


def test_a_refunded_gift_card_is_not_a_return_of_goods(runner, send, shopify_shop):
    """Section 2: gross_sales and items_sold exclude gift cards; returns = "goods value given back";
    net_sales is Shopify's "Net sales" (gift card sales excluded). An order of a 40.00 scarf and a
    50.00 gift card, the unused gift card refunded the next day: the adapter books the gift card's
    50.00 as returns and 1 returned item (webhooks/platforms/shopify.py refund_state does not look at
    refund_line_items[].line_item.gift_card), so net sales go negative and the return rate is 100 %
    although the only product sold was kept."""
    order = order_payload(300, created=at(2026, 3, 2, 10), updated=at(2026, 3, 2, 10), zone=AMS,
                          lines=[("Sjaal", Decimal("40.00"), 1)], customer_id=1, gift_card_line=True)
    send("shopify", "orders/create", order)
    refund = refund_payload(3001, order, at=at(2026, 3, 3, 10), zone=AMS, line_index=1, restock_type="no_restock")
    assert refund["refund_line_items"][0]["line_item"]["gift_card"] is True
    send("shopify", "refunds/create", refund)
    k = kpis(runner, "2026-03-02", "2026-03-03")
    assert (k["gross_sales"], k["items_sold"]) == ("40.00", 1)
    assert (k["returns"], k["items_returned"], k["net_sales"], k["return_rate"]) == ("0.00", 0, "40.00", "0.00"), k


def _foreign_refund(order):
    """A refund of a USD-paying customer in a EUR shop: line amounts carry shop_money (EUR) and
    presentment_money (USD); the REST transaction carries `amount` in its own `currency` (USD)."""
    refund = refund_payload(7001, order, at=at(2026, 3, 3, 10), zone=AMS)
    line = refund["refund_line_items"][0]
    line["subtotal_set"] = {"shop_money": {"amount": "20.00", "currency_code": "EUR"},
                            "presentment_money": {"amount": "21.60", "currency_code": "USD"}}
    line["total_tax_set"] = {"shop_money": {"amount": "0.00", "currency_code": "EUR"},
                             "presentment_money": {"amount": "0.00", "currency_code": "USD"}}
    line["subtotal"], line["total_tax"] = 21.6, 0
    refund["transactions"][0].update(amount="21.60", currency="USD")
    return refund


def test_refunds_are_in_the_shops_currency_whatever_the_customer_paid_in(runner, send, db, shopify_shop):
    """Section 2: "Shop currency (*_set.shop_money on Shopify ...)"; "Everything here is per shop, in
    the shop's currency". refund_state sums transactions[].amount_set.shop_money, falling back to the
    plain `amount`, which is in the transaction's `currency` (here USD). The same refund read from
    GraphQL (transactions.amountSet.shopMoney, plugin/shopify/graphql_orders.py) gives 20.00 EUR, so
    the figure depends on the route the refund came by."""
    order = order_payload(700, created=at(2026, 3, 2, 10), updated=at(2026, 3, 2, 10), zone=AMS,
                          lines=[("Sjaal", Decimal("20.00"), 1)], customer_id=1)
    order["presentment_currency"] = "USD"
    send("shopify", "orders/create", order)
    send("shopify", "refunds/create", _foreign_refund(order))
    k = kpis(runner, "2026-03-03", "2026-03-03")
    assert k["returns"] == "20.00"
    assert k["refunds"] == "20.00", k   # 21.60 USD read as euros
