"""Customer, purchase and range readings of kpi-definitions.md, from a review (each "Kompas:" says
what the code did before): really signed webhooks through the test client, then `kompas report
--json` or the panel's /panel/view.json, on the test database."""
from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugin.cli import main
from plugin.demo import order_payload
from tests.helpers import PANEL_API_KEY, SHOP, panel_bearer, payload

AMS = ZoneInfo("Europe/Amsterdam")


def report_json(runner, start: str, end: str) -> dict:
    r = runner.invoke(main, ["report", "--shop", SHOP, "--from", start, "--to", end, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout if hasattr(r, "stdout") else r.output)


@pytest.fixture
def panel(make_app, app):  # noqa: ANN001, ANN201
    return make_app(SHOPIFY_API_KEY=PANEL_API_KEY).test_client()


def tiles_of(panel, start: str, end: str) -> dict:  # noqa: ANN001
    r = panel.get(f"/panel/view.json?range=custom&from={start}&to={end}&lang=en", headers=panel_bearer())
    assert r.status_code == 200, r.get_data(as_text=True)
    return {t["key"]: t for t in r.get_json()["tiles"]}


def order(order_id: int, at: datetime, price: str, customer: int | None, **extra):  # noqa: ANN003, ANN201
    return order_payload(order_id, created=at, updated=at, zone=AMS, lines=[("x", Decimal(price), 1)],
                         customer_id=customer, **extra)


# --- 1. A back-dated order whose cart (checkout) was created later in the same range -------------

def test_back_dated_order_still_buys_its_cart_and_checkout_created_in_the_range(send, runner, shopify_shop):
    """Section 4: "carts = carts created in R, purchases = orders booked in R whose cart_token
    belongs to such a cart"; section 8: "A purchase in R is a counted order booked in R whose
    cart_token (checkout_token) names a cart (checkout) created in R". Nothing asks the cart to
    be older than the order's booking day. shopify.md: processed_at "can be back-dated".

    Cart and checkout created 2026-03-10 12:00 Amsterdam; the order is created 2026-03-10 12:30
    but its processed_at is back-dated to 2026-03-05 (its booking day, section 8). R = March:
      carts = 1, purchases = 1  -> cart abandonment = (1 - 1) / 1 * 100 = 0.00
      checkouts = 1, purchases = 1 -> checkout abandonment = 0.00, checkout conversion = 100.00
    Kompas: plugin/kpi/contributions.py order_contribution books a purchase only when the cart's
    day is the order's day (`created == day`) or earlier (`created < day`); a cart created after
    the back-dated booking day is dropped, so March shows 100.00 abandonment and 0.00 conversion.
    """
    created = "2026-03-10T12:00:00+01:00"
    cart = payload("shopify", "carts-create")
    cart.update(id="cart-backdated", token="cart-backdated", created_at=created, updated_at=created)
    assert send("shopify", "carts/create", cart).status_code == 200
    checkout = payload("shopify", "checkouts-create")
    checkout.update(token="checkout-backdated", cart_token="cart-backdated", created_at=created, updated_at=created)
    assert send("shopify", "checkouts/create", checkout).status_code == 200
    body = order(1, datetime(2026, 3, 10, 12, 30, tzinfo=AMS), "40.00", 7,
                 cart_token="cart-backdated", checkout_token="checkout-backdated")
    body["processed_at"] = "2026-03-05T09:00:00+01:00"   # back-dated: booked on March 5
    assert send("shopify", "orders/create", body).status_code == 200

    out = report_json(runner, "2026-03-01", "2026-03-31")
    k = out["kpis"]
    assert (k["orders"], k["carts"], k["checkouts"]) == (1, 1, 1)
    assert out["days"][4]["orders"] == 1                    # booked on its processed_at day, Mar 5
    assert k["cart_abandonment_rate"] == "0.00"
    assert k["checkout_abandonment_rate"] == "0.00"
    assert k["checkout_conversion"] == "100.00"


# --- 2. Churn is 100 - CRR, rounded once ----------------------------------------------------------

def test_churn_rate_is_rounded_once_not_from_the_rounded_retention_rate(panel, send, shopify_shop):
    """Section 3: "Churn rate = 100 - CRR", CRR = ((E - N) / S) x 100. Section 8: "rates are
    (numerator / denominator x 100) rounded half-up to two decimals"; section 2: "Rounding
    happens only for display".

    W = 10 days (the shop setting). R = 2026-03-11 .. 2026-03-31.
    32 customers order on Mar 5 (inside the W days before R): S = 32.
    Customer 1 orders again on Mar 25; nobody else orders in Mar 22..31: E = 1. N = 0.
      CRR   = (1 - 0) / 32 x 100 = 3.125   -> "3.13"
      churn = 100 - 3.125        = 96.875  -> half-up "96.88"
    Kompas: plugin/kpi/derived.py churn_rate subtracts the already rounded "3.13" from 100 and
    gives "96.87" (a rate rounded twice).
    """
    assert panel.put("/panel/retention", json={"days": "10"}, headers=panel_bearer()).status_code == 200
    for n in range(1, 33):
        send("shopify", "orders/create", order(n, datetime(2026, 3, 5, 12, tzinfo=AMS), "20.00", n))
    send("shopify", "orders/create", order(100, datetime(2026, 3, 25, 12, tzinfo=AMS), "20.00", 1))
    tiles = tiles_of(panel, "2026-03-11", "2026-03-31")
    assert tiles["customer_retention_rate"]["value"] == "3.13"
    assert tiles["churn_rate"]["value"] == "96.88"


# --- 3. CAC with a spend of 0 entered -------------------------------------------------------------

def test_acquisition_cost_is_zero_when_the_merchant_entered_no_spend_for_the_month(panel, send, shopify_shop):
    """Section 3: "Customer acquisition cost = marketing spend in R (entered by the merchant per
    month, spread evenly over its days) / new_customers(R)". Section 6: "A ratio whose
    denominator is zero is "no data"" - here the denominator is 3, so the ratio is a number.

    The merchant enters 0 as March's spend; 3 new customers on Mar 2.
      CAC(Mar 1..10) = (0 x 10/31) / 3 = 0.00
    Kompas: plugin/kpi/derived.py acquisition_cost returns None ("no data") whenever the spend
    is 0, although it was entered (settings.set_spend stores 0).
    """
    assert panel.put("/panel/spend", json={"month": "2026-03", "amount": "0"}, headers=panel_bearer()).status_code == 200
    for n in (1, 2, 3):
        send("shopify", "orders/create", order(n, datetime(2026, 3, 2, 12, tzinfo=AMS), "25.00", n))
    tiles = tiles_of(panel, "2026-03-01", "2026-03-10")
    assert tiles["new_customers"]["value"] == 3
    assert tiles["acquisition_cost"]["value"] == "0.00"


# --- 4. CLV : CAC from the exact figures ------------------------------------------------------------

def test_clv_to_cac_is_the_ratio_of_the_exact_figures_not_of_the_rounded_ones(panel, send, shopify_shop):
    """Section 3: CLV and CAC, "CLV : CAC beside it"; section 2: "Exact decimal arithmetic ...
    Rounding happens only for display"; section 7: "computed exactly and rounded half-up only at
    the end".

    March spend 31.00 -> 1.00 per day. R = 2026-03-01 (one day). 3 new customers on Mar 1, each
    one order of 10.00 (no discount, no returns).
      CLV = 30.00 / 3 = 10.00
      CAC = 1.00 / 3  = 0.3333...  (shown "0.33")
      CLV : CAC = 10.00 / (1/3) = 30 -> "30.00"
    Kompas: plugin/kpi/derived.py clv_to_cac divides the rounded display strings,
    10.00 / 0.33 = 30.303... -> "30.30" (1 % off, only because CAC was rounded first).
    """
    assert panel.put("/panel/spend", json={"month": "2026-03", "amount": "31"}, headers=panel_bearer()).status_code == 200
    for n in (1, 2, 3):
        send("shopify", "orders/create", order(n, datetime(2026, 3, 1, 12, tzinfo=AMS), "10.00", n))
    tiles = tiles_of(panel, "2026-03-01", "2026-03-01")
    assert tiles["customer_lifetime_value"]["value"] == "10.00"
    assert tiles["acquisition_cost"]["value"] == "0.33"
    assert tiles["clv_to_cac"]["value"] == "30.00"


# --- 5. The report's range: only an unknown shop or a bad date is refused ----------------------------

def test_report_over_a_long_but_valid_range_prints_the_report(send, runner, shopify_shop):
    """Section 7: "`--from` and `--to` are shop-local dates, both included. It prints one JSON
    object and exits 0; an unknown shop or a bad date exits non-zero with a one-line message".

    A shop's whole history from 2012-01-01 to 2026-12-31 (two valid dates, in order) is
    15 years = 5479 days (2012, 2016, 2020, 2024 are leap years: 15 x 365 + 4).
    Kompas: plugin/report.py build refuses any range longer than MAX_DAYS = 3700 days ("a range
    can be at most 3700 days", exit 1), although neither date is bad and the shop is known
    (plugin.kpi.booking.parse_iso_day already refuses typos such as 0202-01-01 by year).
    """
    send("shopify", "orders/create", order(1, datetime(2014, 6, 1, 12, tzinfo=AMS), "10.00", 1))
    send("shopify", "orders/create", order(2, datetime(2026, 3, 1, 12, tzinfo=AMS), "30.00", 1))
    r = runner.invoke(main, ["report", "--shop", SHOP, "--from", "2012-01-01", "--to", "2026-12-31", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout if hasattr(r, "stdout") else r.output)
    assert len(out["days"]) == 15 * 365 + 4
    assert (out["kpis"]["orders"], out["kpis"]["gross_sales"], out["kpis"]["customers"]) == (2, "40.00", 1)


def test_acquisition_cost_is_no_data_while_a_month_of_the_range_has_no_spend_entered(panel, send, shopify_shop):
    """Spend not entered is not known (a month left empty is not 0): March entered, April not, so a
    range over both has no CAC; once April is entered it has one."""
    assert panel.put("/panel/spend", json={"month": "2026-03", "amount": "310"}, headers=panel_bearer()).status_code == 200
    send("shopify", "orders/create", order(1, datetime(2026, 3, 30, 12, tzinfo=AMS), "25.00", 1))
    assert tiles_of(panel, "2026-03-21", "2026-03-31")["acquisition_cost"]["value"] == "110.00"   # 11 days of 10.00
    assert tiles_of(panel, "2026-03-21", "2026-04-09")["acquisition_cost"]["value"] is None
    assert panel.put("/panel/spend", json={"month": "2026-04", "amount": "300"}, headers=panel_bearer()).status_code == 200
    assert tiles_of(panel, "2026-03-21", "2026-04-09")["acquisition_cost"]["value"] == "200.00"  # 110 + 9 × 10.00


def test_the_panel_and_its_api_keep_their_ten_year_limit(panel, shopify_shop):
    """A web request builds every day of its range (and of the comparison): the panel and /api/kpis
    refuse more than ten years with a clear 400, where the CLI reports any valid range."""
    r = panel.get("/panel/view.json?range=custom&from=2012-01-01&to=2026-12-31", headers=panel_bearer())
    assert r.status_code == 400 and "at most 3700 days" in r.get_json()["error"]
    r = panel.get("/api/kpis?from=2012-01-01&to=2026-12-31", headers=panel_bearer())
    assert r.status_code == 400 and "at most 3700 days" in r.get_json()["error"]
