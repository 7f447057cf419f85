"""Entity states through the real receiver into counters: duplicates, order, deletion, refunds."""
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from datetime import datetime

from plugin import ingest, report
from plugin.demo import cart_payload, checkout_payload, order_payload, refund_payload
from plugin.shops import find_shop
from tests.helpers import SHOP, WOO_SITE, payload

AMS = ZoneInfo("Europe/Amsterdam")


def kpis(db, start, end, shop=SHOP):
    with db.reading() as s:
        return report.build(s, find_shop(s, shop), date.fromisoformat(start), date.fromisoformat(end))


def verify_clean(db, shop=SHOP):
    with db.reading() as s:
        assert ingest.differences(s, ingest.ShopContext.of(find_shop(s, shop))) == {}


def t(day, hour=12, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=AMS)


def an_order(order_id=1, day=2, updated=None, **kw):
    kw.setdefault("lines", [("Sjaal", Decimal("40.00"), 2)])
    return order_payload(order_id, created=t(day), updated=updated or t(day), zone=AMS, **kw)


def test_one_order_gives_the_expected_report(send, db, shopify_shop):
    send("shopify", "orders/create", an_order(customer_id=1))
    k = kpis(db, "2026-03-01", "2026-03-31")["kpis"]
    # 80 gross, shipping 0 (≥ 50), tax 21 % of 80
    assert (k["orders"], k["gross_sales"], k["shipping"], k["taxes"], k["total_sales"]) == (1, "80.00", "0.00", "16.80", "96.80")
    assert (k["customers"], k["new_customers"], k["returning_customer_rate"]) == (1, 1, "0.00")
    verify_clean(db)


def test_duplicates_and_replays_change_nothing(send, db, shopify_shop):
    order = an_order()
    for _ in range(3):
        send("shopify", "orders/create", order)
    send("shopify", "orders/paid", order)
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["orders"] == 1
    verify_clean(db)


def test_a_newer_state_replaces_the_old_contribution_on_another_day(send, db, shopify_shop):
    send("shopify", "orders/create", an_order(day=2))
    moved = an_order(day=5, updated=t(6))  # processed_at changed (an import corrected it)
    send("shopify", "orders/updated", moved)
    r = kpis(db, "2026-03-01", "2026-03-31")
    assert r["kpis"]["orders"] == 1
    assert [d["date"] for d in r["days"] if d["orders"]] == ["2026-03-05"]
    verify_clean(db)


def test_out_of_order_delivery_keeps_the_newest_state(send, db, shopify_shop):
    new = an_order(updated=t(3), lines=[("Sjaal", Decimal("40.00"), 3)])
    old = an_order(updated=t(2))
    send("shopify", "orders/updated", new)
    send("shopify", "orders/create", old)
    assert kpis(db, "2026-03-01", "2026-03-31")["kpis"]["items_sold"] == 3


def test_refund_seen_twice_counts_once_whichever_comes_first(send, db, shopify_shop):
    order = an_order()
    refund = refund_payload(900, order, at=t(4), zone=AMS)
    with_refund = dict(order, updated_at=t(4, 12, 1).isoformat(), refunds=[refund])
    send("shopify", "orders/updated", with_refund)
    send("shopify", "refunds/create", refund)
    send("shopify", "orders/create", order)  # stale
    k = kpis(db, "2026-03-01", "2026-03-31")["kpis"]
    assert (k["returns"], k["refunds"], k["refunded_taxes"], k["items_returned"]) == ("40.00", "48.40", "8.40", 1)
    assert kpis(db, "2026-03-04", "2026-03-04")["kpis"]["refunds"] == "48.40"  # on the refund's own day
    verify_clean(db)


def test_refund_before_its_order_counts_once_the_order_arrives(send, db, shopify_shop):
    order = an_order()
    send("shopify", "refunds/create", refund_payload(900, order, at=t(4), zone=AMS))
    assert kpis(db, "2026-03-01", "2026-03-31")["kpis"]["refunds"] == "0.00"
    send("shopify", "orders/create", order)
    assert kpis(db, "2026-03-01", "2026-03-31")["kpis"]["refunds"] == "48.40"
    verify_clean(db)


def test_shopify_delete_retracts_everything_and_is_final(send, db, shopify_shop):
    order = an_order(customer_id=7)
    send("shopify", "orders/create", order)
    send("shopify", "refunds/create", refund_payload(900, order, at=t(4), zone=AMS))
    send("shopify", "orders/delete", {"id": order["id"]})
    later = dict(order, updated_at=t(9).isoformat())
    send("shopify", "orders/updated", later)  # arrives after the deletion: changes nothing
    k = kpis(db, "2026-03-01", "2026-03-31")["kpis"]
    assert (k["orders"], k["refunds"], k["customers"], k["gross_sales"]) == (0, "0.00", 0, "0.00")
    verify_clean(db)


def test_shopify_delete_before_the_order_itself(send, db, shopify_shop):
    order = an_order()
    send("shopify", "orders/delete", {"id": order["id"]})
    send("shopify", "orders/create", order)
    assert kpis(db, "2026-03-01", "2026-03-31")["kpis"]["orders"] == 0


def test_unpaid_cancellation_nets_total_sales_to_zero(send, db, shopify_shop):
    order = an_order(financial_status="pending")
    send("shopify", "orders/create", order)
    cancelled = dict(order, cancelled_at=t(3).isoformat(), updated_at=t(3).isoformat(), financial_status="voided")
    send("shopify", "orders/cancelled", cancelled)
    k = kpis(db, "2026-03-01", "2026-03-31")["kpis"]
    assert (k["orders"], k["orders_cancelled"], k["total_sales"], k["refunds"], k["cancellation_rate"]) == (1, 1, "0.00", "0.00", "100.00")
    day2 = kpis(db, "2026-03-02", "2026-03-02")["kpis"]
    assert day2["orders"] == 1 and day2["orders_cancelled"] == 0   # the order stays on its own day
    verify_clean(db)


def test_cart_abandonment_counts_purchases_from_same_day_carts(send, db, shopify_shop):
    send("shopify", "carts/create", cart_payload("c1", created=t(2, 9), updated=t(2, 9), zone=AMS))
    send("shopify", "carts/create", cart_payload("c2", created=t(2, 10), updated=t(2, 10), zone=AMS))
    send("shopify", "carts/update", cart_payload("c2", created=t(2, 10), updated=t(2, 11), zone=AMS))
    send("shopify", "checkouts/create", checkout_payload("k1", "c1", created=t(2, 11), updated=t(2, 11), zone=AMS))
    send("shopify", "orders/create", an_order(cart_token="c1", checkout_token="k1"))
    k = kpis(db, "2026-03-02", "2026-03-02")["kpis"]
    assert (k["carts"], k["checkouts"], k["cart_abandonment_rate"], k["checkout_abandonment_rate"]) == (2, 1, "50.00", "0.00")
    verify_clean(db)


def test_cart_arriving_after_its_order_still_links(send, db, shopify_shop):
    send("shopify", "orders/create", an_order(cart_token="late"))
    send("shopify", "carts/create", cart_payload("late", created=t(2, 9), updated=t(2, 9), zone=AMS))
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["cart_abandonment_rate"] == "0.00"
    verify_clean(db)


def test_returning_customers_over_a_range_and_per_day(send, db, shopify_shop):
    send("shopify", "orders/create", an_order(1, day=1, customer_id=10))
    send("shopify", "orders/create", an_order(2, day=3, customer_id=10))   # returning on day 3
    send("shopify", "orders/create", an_order(3, day=3, customer_id=11))   # new
    send("shopify", "orders/create", an_order(4, day=4, customer_id=None, email="Gast@Example.nl"))
    send("shopify", "orders/create", an_order(5, day=4, customer_id=None, email="gast@example.nl"))
    r = kpis(db, "2026-03-02", "2026-03-04")
    k = r["kpis"]
    # customers 10, 11 and the guest; 10 has two orders ≤ Mar 4, the guest two on Mar 4
    assert (k["customers"], k["new_customers"], k["returning_customer_rate"]) == (3, 2, "66.67")
    day3 = next(d for d in r["days"] if d["date"] == "2026-03-03")
    assert (day3["customers"], day3["new_customers"], day3["returning_customer_rate"]) == (2, 1, "50.00")
    verify_clean(db)


def test_returns_requested_and_approved_per_day(send, db, shopify_shop):
    ret = payload("shopify", "returns-request")
    send("shopify", "returns/request", ret, triggered_at="2026-03-05T10:00:00Z")
    send("shopify", "returns/request", ret, triggered_at="2026-03-05T10:00:00Z")
    send("shopify", "returns/approve", payload("shopify", "returns-approve"), triggered_at="2026-03-06T10:00:00Z")
    r = kpis(db, "2026-03-05", "2026-03-06")
    assert [(d["returns_requested"], d["returns_approved"]) for d in r["days"]] == [(1, 0), (0, 1)]


def test_woocommerce_order_with_summary_refund_then_details(send, db, woo_shop):
    data = payload("woocommerce", "order.updated")
    data.update(status="completed", date_paid_gmt="2022-11-30T20:18:00")
    send("woocommerce", "order.updated", data)
    k = kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]
    assert (k["orders"], k["gross_sales"], k["returns"], k["refunds"], k["net_sales"]) == (1, "90.00", "10.00", "10.00", "80.00")
    # the details arrive (REST or the store plugin): a newer state of the same refund
    from plugin.applier import utcnow
    from webhooks.platforms import woocommerce
    refund = woocommerce.refund_state("45", payload("woocommerce", "order_refund__airbyte"))
    with db.transaction() as s:
        ingest.apply(s, ingest.ShopContext.of(find_shop(s, WOO_SITE)), [refund])
    assert utcnow()  # (clock only used for deliveries)
    k = kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]
    assert (k["returns"], k["refunds"]) == ("10.00", "10.00")
    # a later order payload still listing the summary does not undo the details
    send("woocommerce", "order.updated", dict(data, date_modified_gmt="2022-12-01T08:00:00"))
    assert kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]["refunds"] == "10.00"
    verify_clean(db, WOO_SITE)


def test_woocommerce_summary_refund_books_on_the_earliest_listing_payload(send, db, woo_shop):
    data = payload("woocommerce", "order.updated")
    data.update(status="processing", date_paid_gmt=None)
    later = dict(data, date_modified_gmt="2022-12-02T09:00:00")
    send("woocommerce", "order.updated", later)
    send("woocommerce", "order.updated", data)  # older payload, first to list refund 60
    r = kpis(db, "2022-11-30", "2022-12-02", WOO_SITE)
    assert [d["refunds"] for d in r["days"]] == ["10.00", "0.00", "0.00"]
    verify_clean(db, WOO_SITE)


def test_woocommerce_trash_and_restore(send, db, woo_shop):
    data = payload("woocommerce", "order.updated")
    data.update(status="processing", date_modified_gmt="2022-11-30T20:19:01")
    send("woocommerce", "order.created", data)
    send("woocommerce", "order.deleted", {"id": 45})
    assert kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]["orders"] == 0
    restored = dict(data, date_modified_gmt="2099-01-01T00:00:00")  # restoring modifies the order
    send("woocommerce", "order.restored", restored)
    assert kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]["orders"] == 1
    verify_clean(db, WOO_SITE)


# The Kompas WordPress plugin's order.deleted: the order's status and last change as of the delivery.
TRASHED = {"id": 45, "status": "trash", "date_modified_gmt": "2022-12-05T10:00:00"}


@pytest.mark.parametrize("arrival", [("trash", "restore"), ("restore", "trash")])
def test_woocommerce_trash_then_restore_counts_in_either_arrival_order(send, db, woo_shop, arrival):
    """The merchant trashes order 45 at 10:00:00 and restores it at 10:00:05; Action Scheduler
    delivers both a minute later, in either order (found in a review: the deletion, versioned by
    its arrival, beat the earlier-dated restore, and the order was lost)."""
    data = payload("woocommerce", "order.updated")
    data.update(status="processing", date_modified_gmt="2022-11-30T20:19:01")
    send("woocommerce", "order.created", data)
    deliveries = {"trash": ("order.deleted", TRASHED),
                  "restore": ("order.restored", dict(data, date_modified_gmt="2022-12-05T10:00:05"))}
    for step in arrival:
        send("woocommerce", *deliveries[step])
    assert kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]["orders"] == 1
    verify_clean(db, WOO_SITE)


def test_woocommerce_trash_delivered_after_the_restore_was_made_is_no_deletion(send, db, woo_shop):
    """The trash's delivery ran after the restore: the plugin says the order's status is no
    longer trash, and the deletion is left unapplied."""
    data = payload("woocommerce", "order.updated")
    data.update(status="processing", date_modified_gmt="2022-11-30T20:19:01")
    send("woocommerce", "order.created", data)
    send("woocommerce", "order.deleted", dict(TRASHED, status="processing", date_modified_gmt="2022-12-05T10:00:05"))
    assert kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]["orders"] == 1


def test_woocommerce_trash_after_a_restore_still_deletes(send, db, woo_shop):
    data = payload("woocommerce", "order.updated")
    data.update(status="processing", date_modified_gmt="2022-11-30T20:19:01")
    send("woocommerce", "order.created", data)
    send("woocommerce", "order.deleted", TRASHED)   # trashed again after the restore below, delivered late
    send("woocommerce", "order.restored", dict(data, date_modified_gmt="2022-12-04T08:00:00"))
    assert kpis(db, "2022-11-30", "2022-11-30", WOO_SITE)["kpis"]["orders"] == 0
    verify_clean(db, WOO_SITE)


@pytest.mark.parametrize("currency, expected", [("JPY", "1200"), ("KWD", "3.250")])
def test_currencies_keep_their_minor_units(send, db, currency, expected):
    from plugin.shops import add_shop
    with db.transaction() as s:
        add_shop(s, platform="shopify", domain=SHOP, timezone_name="Asia/Kathmandu", currency=currency)
    price = Decimal(expected)
    order = order_payload(1, created=t(2), updated=t(2), zone=AMS, currency=currency, lines=[("x", price, 1)])
    order["total_shipping_price_set"] = None
    send("shopify", "orders/create", order)
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["gross_sales"] == expected


def test_a_delivery_that_makes_applying_raise_fails_alone_and_replays_later(make_app, db, shopify_shop, monkeypatch):
    """A bug met by one delivery must not hold back the rest of its batch, and the delivery is
    kept, with its traceback, to be applied again once the bug is fixed."""
    from sqlalchemy import select

    from plugin import applier
    from plugin.models import Delivery
    from tests.helpers import body, shopify_headers
    app = make_app(APPLY_INLINE=False)
    client = app.test_client()
    for n in (1, 2, 3):
        raw = body(an_order(order_id=n))
        client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    real = ingest.apply_states

    def buggy(ws, states, into):
        if any(s.key == "2" for s in states):
            raise RuntimeError("a bug")
        return real(ws, states, into)

    monkeypatch.setattr(ingest, "apply_states", buggy)
    applier.drain(db)
    with db.reading() as s:
        rows = {d.id: (d.status, d.error) for d in s.scalars(select(Delivery).order_by(Delivery.id))}
    assert [status for status, _ in rows.values()] == ["processed", "failed", "processed"]
    assert "RuntimeError: a bug" in list(rows.values())[1][1]
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["orders"] == 2
    monkeypatch.setattr(ingest, "apply_states", real)   # the fix is deployed
    applier.requeue(db)
    applier.drain(db)
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["orders"] == 3
    verify_clean(db)


def test_customer_retention_follows_section_3(send, db, shopify_shop):
    """Active = an order in the 365 days before; R = March 2026.
    A ordered 2025-04-15 (active at both ends), B 2025-03-20 (active at the start, lapsed by the
    end), C is new in R, D ordered 2024-12-01 (never active in this window).
    S = {A, B} = 2, E = {A, C} = 2, N = {C} = 1 → CRR = (2 − 1) / 2 = 50 %, churn 50 %."""
    for n, (when, customer) in enumerate([((2025, 4, 15), 1), ((2025, 3, 20), 2), ((2026, 3, 5), 3),
                                          ((2024, 12, 1), 4)]):
        created = datetime(*when, 12, tzinfo=AMS)
        send("shopify", "orders/create", order_payload(n + 1, created=created, updated=created, zone=AMS,
                                                       lines=[("x", Decimal("10.00"), 1)], customer_id=customer))
    with db.reading() as s:
        r = report.retention(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 31))
    assert r == {"active_at_start": 2, "active_at_end": 2, "new_customers": 1,
                 "customer_retention_rate": "50.00", "churn_rate": "50.00", "retention_days": 365}
    # W is the shop's setting: with 400 days D (2024-12-01) is still inactive, B stays active at
    # the end (2025-03-20 is 376 days before 2026-03-31): S = {A, B}, E = {A, B, C} → (3 − 1) / 2
    with db.transaction() as s:
        find_shop(s, SHOP).retention_days = 400
    with db.reading() as s:
        r = report.retention(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 31))
    assert (r["active_at_start"], r["active_at_end"], r["customer_retention_rate"], r["retention_days"]) == (
        2, 3, "100.00", 400)


def test_a_bug_in_a_platform_adapter_fails_that_delivery_only(make_app, db, shopify_shop, monkeypatch):
    """An adapter that raises something unexpected must not make its batch fail forever."""
    from sqlalchemy import select

    from plugin import applier
    from plugin.models import Delivery
    from tests.helpers import body, shopify_headers
    from webhooks.platforms import shopify

    app = make_app(APPLY_INLINE=False)
    client = app.test_client()
    for topic, data in (("orders/create", an_order(order_id=1)), ("carts/create",
                        cart_payload("c", created=t(2), updated=t(2), zone=AMS))):
        raw = body(data)
        client.post("/webhooks/shopify", data=raw, headers=shopify_headers(topic, raw))

    def broken(payload, ctx):
        raise KeyError("a bug")
    monkeypatch.setitem(shopify.TOPICS, "carts/create", broken)
    applier.drain(db)
    with db.reading() as s:
        statuses = [d.status for d in s.scalars(select(Delivery).order_by(Delivery.id))]
    assert statuses == ["processed", "failed"]
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["orders"] == 1


def test_sales_by_source_add_up_to_the_shops_net_sales(send, db, shopify_shop):
    first = an_order(order_id=1, customer_id=1)
    first["landing_site"] = "/?utm_source=newsletter"
    second = an_order(order_id=2, customer_id=2)
    second["referring_site"] = "https://www.google.com/"
    send("shopify", "orders/create", first)
    send("shopify", "orders/create", second)
    send("shopify", "orders/create", an_order(order_id=3, customer_id=3))
    send("shopify", "refunds/create", refund_payload(900, first, at=t(4), zone=AMS))
    with db.reading() as s:
        rows = report.sales_by_source(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 31))
    assert [(r["source"], r["orders"], r["net_sales"]) for r in rows] == [
        ("google.com", 1, "80.00"), ("web", 1, "80.00"), ("newsletter", 1, "40.00")]
    total = sum(Decimal(r["net_sales"]) for r in rows)
    assert str(total) == kpis(db, "2026-03-01", "2026-03-31")["kpis"]["net_sales"]
    verify_clean(db)


def test_returns_by_product_follow_the_refunded_lines(send, db, shopify_shop):
    order = an_order(lines=[("Sjaal", Decimal("40.00"), 2), ("Beker", Decimal("12.95"), 1)])
    send("shopify", "orders/create", order)
    send("shopify", "refunds/create", refund_payload(901, order, at=t(4), zone=AMS, line_index=0, quantity=2))
    send("shopify", "refunds/create", refund_payload(902, order, at=t(5), zone=AMS, line_index=1, quantity=1))
    with db.reading() as s:
        rows = report.returns_by_product(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 31))
    assert [(r["product"], r["items_returned"], r["returns"]) for r in rows] == [("Sjaal", 2, "80.00"),
                                                                                  ("Beker", 1, "12.95")]
    verify_clean(db)
