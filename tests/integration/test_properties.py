"""Properties from kpi-definitions.md section 1, checked with hypothesis through the real receiver:
any order of a delivery list, with duplicates and stale replays, gives the same report, and the
running counters always equal the counters recomputed from the stored states."""
import itertools
import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin import ingest, report
from plugin.demo import cart_payload, order_payload, refund_payload
from plugin.shops import add_shop, find_shop
from tests.helpers import shopify_headers

AMS = ZoneInfo("Europe/Amsterdam")
BASE = datetime(2026, 3, 28, 20, 0, tzinfo=AMS)   # around the DST change on Mar 29
_shops = itertools.count()


@st.composite
def histories(draw):
    """A list of (topic, body, X-Shopify-Triggered-At or None) deliveries of a few orders with
    several states each, their refunds, returns and deletions."""
    out = []
    for order_no in range(draw(st.integers(1, 4))):
        order_id = 1000 + order_no
        created = BASE + timedelta(hours=draw(st.integers(0, 40)))
        customer = draw(st.sampled_from([1, 2, None]))
        cart = draw(st.sampled_from([None, f"cart-{order_no}"]))
        if cart and draw(st.booleans()):
            cart_at = created - timedelta(hours=draw(st.integers(0, 5)))
            out.append(("carts/create", cart_payload(cart, created=cart_at, updated=cart_at, zone=AMS)))
        versions = draw(st.integers(1, 3))
        refund = None
        for v in range(versions):
            updated = created + timedelta(hours=v * 7)
            qty = draw(st.integers(1, 3))
            lines = [("Sjaal", Decimal("34.95"), qty), ("Beker", Decimal("12.95"), 1)]
            status = draw(st.sampled_from(["paid", "pending"]))
            cancelled = updated if v > 0 and draw(st.booleans()) else None
            order = order_payload(order_id, created=created, updated=updated, zone=AMS, lines=lines,
                                  customer_id=customer, email=None if customer else "gast@example.nl",
                                  cart_token=cart, financial_status="voided" if cancelled and status == "pending" else status,
                                  cancelled_at=cancelled, test=draw(st.booleans()) if v == 0 and order_no == 3 else False)
            if v > 0 and refund is None and draw(st.booleans()):
                refund = refund_payload(5000 + order_no, order, at=updated, zone=AMS,
                                        transaction_status=draw(st.sampled_from(["success", "pending"])))
            if refund is not None:
                order["refunds"] = [refund]
            out.append((draw(st.sampled_from(["orders/create", "orders/updated", "orders/paid"])), order))
        if refund is not None and draw(st.booleans()):
            out.append(("refunds/create", refund))
        for topic in ("returns/request", "returns/approve")[:draw(st.integers(0, 2))]:
            when = (created + timedelta(hours=draw(st.integers(1, 30)))).isoformat()
            out.append((topic, {"id": 7000 + order_no, "order": {"id": order_id}}, when))
        if draw(st.integers(0, 5)) == 0:
            out.append(("orders/delete", {"id": order_id}))
    return [item if len(item) == 3 else (*item, None) for item in out]


def deliver(client, shop, deliveries):
    for topic, data, triggered_at, webhook_id in deliveries:
        raw = json.dumps(data).encode()
        r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers(
            topic, raw, shop=shop, webhook_id=webhook_id, triggered_at=triggered_at))
        assert r.status_code == 200, r.get_json()


def report_of(db, shop):
    with db.reading() as s:
        found = find_shop(s, shop)
        result = report.build(s, found, date(2026, 3, 25), date(2026, 4, 10))
        assert ingest.differences(s, ingest.ShopContext.of(found)) == {}   # kompas verify
    result.pop("shop")
    return result


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), data=st.data())
def test_any_order_with_duplicates_and_stale_replays_gives_the_same_report(app, db, history, data):
    client = app.test_client()
    deliveries = [(topic, body, triggered_at, str(uuid.uuid4())) for topic, body, triggered_at in history]
    shops = []
    for _ in range(2):
        shop = f"prop-{next(_shops)}.myshopify.com"
        with db.transaction() as s:
            add_shop(s, platform="shopify", domain=shop, timezone_name="Europe/Amsterdam", currency="EUR")
        shops.append(shop)
    # reference: the deliveries in their natural order, once each
    deliver(client, shops[0], deliveries)
    # the same with duplicates (same webhook id) and stale replays (old states with new ids), shuffled
    extra = data.draw(st.lists(st.sampled_from(deliveries), max_size=6)) if deliveries else []
    replays = [(t, b, at, str(uuid.uuid4())) for t, b, at, _ in data.draw(st.lists(st.sampled_from(deliveries), max_size=4))] if deliveries else []
    shuffled = data.draw(st.permutations(deliveries + extra + replays))
    deliver(client, shops[1], shuffled)
    assert report_of(db, shops[0]) == report_of(db, shops[1])
