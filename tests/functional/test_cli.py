"""The `kompas` command as section 7 specifies it."""
import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import update

from plugin.cli import main
from plugin.demo import order_payload
from plugin.models import DailyCounter, Delivery
from tests.helpers import SHOP, WOO_SITE

AMS = ZoneInfo("Europe/Amsterdam")
KPI_KEYS = ["orders", "items_sold", "items_returned", "orders_cancelled", "gross_sales", "discounts", "returns",
            "net_sales", "shipping", "refunded_shipping", "taxes", "refunded_taxes", "total_sales", "refunds",
            "average_order_value", "return_rate", "refund_rate", "cancellation_rate", "customers", "new_customers",
            "returning_customers", "returning_customer_rate", "carts", "checkouts", "cart_abandonment_rate", "checkout_abandonment_rate"]


def run(runner, *args):
    return runner.invoke(main, list(args))


def test_shop_add_then_report_json_has_the_contract_shape(runner, app, send):
    r = run(runner, "shop", "add", "--platform", "shopify", "--domain", SHOP, "--timezone", "Europe/Amsterdam",
            "--currency", "EUR")
    assert r.exit_code == 0, r.output
    created = datetime(2026, 3, 1, 10, tzinfo=AMS)
    send("shopify", "orders/create", order_payload(1, created=created, updated=created, zone=AMS,
                                                   lines=[("x", Decimal("99.00"), 1)], customer_id=5))
    r = run(runner, "report", "--shop", SHOP, "--from", "2026-03-01", "--to", "2026-03-03", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["shop"], out["currency"], out["timezone"], out["from"], out["to"]) == (
        SHOP, "EUR", "Europe/Amsterdam", "2026-03-01", "2026-03-03")
    assert set(KPI_KEYS) <= set(out["kpis"])
    assert [d["date"] for d in out["days"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert all(set(out["kpis"]) == set(d) - {"date"} for d in out["days"])
    assert out["kpis"]["orders"] == 1 and out["kpis"]["gross_sales"] == "99.00"
    assert isinstance(out["kpis"]["items_sold"], int)
    assert out["days"][1]["average_order_value"] is None   # no orders on Mar 2: no data


def test_woocommerce_shop_key_with_or_without_trailing_slash(runner, app):
    r = run(runner, "shop", "add", "--platform", "woocommerce", "--domain", WOO_SITE + "/", "--timezone",
            "Europe/Brussels", "--currency", "EUR", "--webhook-secret", "s3cret")
    assert r.exit_code == 0, r.output
    for key in (WOO_SITE, WOO_SITE + "/"):
        r = run(runner, "report", "--shop", key, "--from", "2026-01-01", "--to", "2026-01-01", "--json")
        assert r.exit_code == 0, r.output


def test_bad_input_exits_non_zero_with_one_line(runner, app, shopify_shop):
    cases = [
        ("report", "--shop", "nope.myshopify.com", "--from", "2026-01-01", "--to", "2026-01-02", "--json"),
        ("report", "--shop", SHOP, "--from", "2026-02-30", "--to", "2026-03-01", "--json"),
        ("report", "--shop", SHOP, "--from", "2026-03-05", "--to", "2026-03-01", "--json"),
        ("shop", "add", "--platform", "shopify", "--domain", "not a domain", "--timezone", "Europe/Amsterdam", "--currency", "EUR"),
        ("shop", "add", "--platform", "shopify", "--domain", "x.myshopify.com", "--timezone", "Mars/Olympus", "--currency", "EUR"),
        ("shop", "add", "--platform", "woocommerce", "--domain", "https://a.example", "--timezone", "UTC", "--currency", "EUR"),
        ("shop", "add", "--platform", "shopify", "--domain", SHOP, "--timezone", "UTC", "--currency", "EUR"),
    ]
    for args in cases:
        r = runner.invoke(main, list(args))
        assert r.exit_code != 0, args
        assert len(r.output.strip().splitlines()) == 1 and r.output.startswith("Error:"), r.output


def test_verify_detects_a_tampered_counter_and_rebuild_repairs_it(runner, db, shopify_shop, send):
    created = datetime(2026, 3, 1, 10, tzinfo=AMS)
    send("shopify", "orders/create", order_payload(1, created=created, updated=created, zone=AMS,
                                                   lines=[("x", Decimal("10.00"), 1)]))
    assert run(runner, "verify", "--shop", SHOP).exit_code == 0
    with db.transaction() as s:
        s.execute(update(DailyCounter).where(DailyCounter.name == "orders").values(value=5))
    r = run(runner, "verify", "--shop", SHOP)
    assert r.exit_code == 1 and "orders 2026-03-01: running 5, recomputed 1" in r.output
    assert run(runner, "rebuild", "--shop", SHOP).exit_code == 0
    assert run(runner, "verify", "--shop", SHOP).exit_code == 0


def test_drain_applies_queued_deliveries_and_replay_reapplies_failed_ones(runner, make_app, db, shopify_shop):
    from tests.helpers import body, shopify_headers
    app = make_app(APPLY_INLINE=False)
    created = datetime(2026, 3, 1, 10, tzinfo=AMS)
    raw = body(order_payload(1, created=created, updated=created, zone=AMS, lines=[("x", Decimal("10.00"), 1)]))
    assert app.test_client().post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw)).status_code == 200
    report = ("report", "--shop", SHOP, "--from", "2026-03-01", "--to", "2026-03-01", "--json")
    assert json.loads(run(runner, *report).output)["kpis"]["orders"] == 0
    assert run(runner, "drain").exit_code == 0
    assert json.loads(run(runner, *report).output)["kpis"]["orders"] == 1
    # a delivery kept as failed (say, a bug fixed since) is applied again by replay, once
    with db.transaction() as s:
        s.execute(update(Delivery).values(status="failed", error="boom"))
    r = run(runner, "replay", "--shop", SHOP)
    assert r.exit_code == 0 and "replayed 1" in r.output
    assert json.loads(run(runner, *report).output)["kpis"]["orders"] == 1
