"""The panel's documents and JSON through the test client: auth, CSP, the API contract, CSV."""
import csv
import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugin import report
from plugin.demo import order_payload, refund_payload
from plugin.panel.auth import mint_session_token
from plugin.shops import find_shop
from tests.helpers import SHOP, SHOPIFY_SECRET, PANEL_API_KEY as API_KEY, panel_bearer as bearer

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def panel_app(make_app, app):
    return make_app(SHOPIFY_API_KEY=API_KEY)


@pytest.fixture
def panel(panel_app):
    return panel_app.test_client()


def test_panel_document_sends_frame_ancestors_for_that_shop_only(panel, shopify_shop):
    token = mint_session_token(SHOP, api_key=API_KEY, secret=SHOPIFY_SECRET)
    r = panel.get(f"/panel/?id_token={token}&lang=nl")
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == "frame-ancestors https://demo.myshopify.com https://admin.shopify.com;"
    html = r.get_data(as_text=True)
    assert 'src="https://cdn.shopify.com/shopifycloud/app-bridge.js"' in html
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in html and 'lang="nl"' in html


def test_panel_document_without_a_valid_token_bounces_through_app_bridge(panel, shopify_shop):
    r = panel.get("/panel/?shop=demo.myshopify.com")
    assert r.status_code == 200 and "shopify.idToken()" in r.get_data(as_text=True)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"},
                                     {"Authorization": "Bearer " + mint_session_token(SHOP, api_key="other-app",
                                                                                        secret=SHOPIFY_SECRET)}])
def test_api_without_a_valid_token_is_401_with_shopifys_retry_header(panel, shopify_shop, headers):
    r = panel.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers=headers)
    assert r.status_code == 401
    assert r.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_api_kpis_is_the_report_plus_a_compare_report_of_the_same_shape(panel, db, orders):
    r = panel.get("/api/kpis?from=2026-03-08&to=2026-03-14&compare=previous", headers=bearer())
    assert r.status_code == 200
    body = r.get_json()
    with db.reading() as s:
        shop = find_shop(s, SHOP)
        assert {k: v for k, v in body.items() if k != "compare"} == report.build(s, shop, date(2026, 3, 8), date(2026, 3, 14))
        assert body["compare"] == report.build(s, shop, date(2026, 3, 1), date(2026, 3, 7))
    assert body["kpis"]["orders"] == 1 and body["compare"]["kpis"]["orders"] == 3


def test_api_kpis_bad_dates_are_400_and_an_unknown_shop_404(panel, shopify_shop):
    assert panel.get("/api/kpis?from=2026-03-08&to=nope", headers=bearer()).status_code == 400
    assert panel.get("/api/kpis?from=2026-03-08&to=2026-03-01", headers=bearer()).status_code == 400
    assert panel.get("/api/kpis?from=2026-03-01&to=2026-03-08&compare=sometime", headers=bearer()).status_code == 400
    assert panel.get("/api/kpis?from=2026-03-01&to=2026-03-08",
                     headers=bearer("elsewhere.myshopify.com")).status_code == 404


def test_view_formats_for_the_language_and_colours_changes_by_what_is_good(panel, orders):
    r = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-07&compare=previous&lang=nl",
                  headers=bearer())
    view = r.get_json()
    tiles = {t["key"]: t for t in view["tiles"]}
    assert tiles["net_sales"]["text"] == "€\u00a0100,00" and tiles["orders"]["text"] == "3"
    assert tiles["net_sales"]["label"] == "Netto-omzet"
    assert tiles["orders"]["change_text"] is None        # nothing to compare with: no data, not +∞
    assert tiles["returning_customer_rate"]["text"] == "50,0%"
    r = panel.get("/panel/view.json?range=custom&from=2026-03-08&to=2026-03-14&compare=previous&lang=en",
                  headers=bearer())
    tiles = {t["key"]: t for t in r.get_json()["tiles"]}
    assert tiles["orders"]["change_text"] == "-66.67%" and tiles["orders"]["good"] is False
    assert tiles["average_order_value"]["good"] is True    # 99.00 against 33.33
    assert tiles["return_rate"]["text"] == "0.0%"                # items sold, none returned
    assert tiles["cart_abandonment_rate"]["text"] == "No data"   # no carts: no denominator


def test_csv_export_equals_the_report(panel, db, orders):
    r = panel.get("/panel/export.csv?kpi=net_sales&range=custom&from=2026-03-01&to=2026-03-10", headers=bearer())
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    with db.reading() as s:
        expected = report.build(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 10))
    assert rows[0] == ["date", "net_sales"]
    assert rows[1:-1] == [[d["date"], d["net_sales"]] for d in expected["days"]]
    assert rows[-1] == ["total", expected["kpis"]["net_sales"]]
    assert panel.get("/panel/export.csv?kpi=secret", headers=bearer()).status_code == 400


def test_xlsx_export_holds_the_same_figures_as_numbers_and_dates(panel, db, orders):
    from openpyxl import load_workbook

    query = "kpi=net_sales&range=custom&from=2026-03-01&to=2026-03-10"
    r = panel.get("/panel/export.xlsx?" + query, headers=bearer())
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="kompas-net_sales-2026-03-01-2026-03-10.xlsx"' in r.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(r.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    with db.reading() as s:
        expected = report.build(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 10))
    assert rows[0] == ["date", "net_sales"]
    assert [(r[0].date(), Decimal(str(r[1]))) for r in rows[1:-1]] == [
        (date.fromisoformat(d["date"]), Decimal(d["net_sales"])) for d in expected["days"]]
    assert rows[-1][0] == "total" and Decimal(str(rows[-1][1])) == Decimal(expected["kpis"]["net_sales"])
    sources = load_workbook(io.BytesIO(panel.get("/panel/export.xlsx?table=sources&range=custom&from=2026-03-01&to=2026-03-10",
                                                 headers=bearer()).data)).active
    assert [c.value for c in next(sources.iter_rows())] == ["source", "orders", "net_sales"]
    assert panel.get("/panel/export.xlsx?kpi=secret", headers=bearer()).status_code == 400
    assert panel.get("/panel/export.xlsx?" + query).status_code == 401


def test_xlsx_export_keeps_names_as_text_even_odd_ones(panel, send, shopify_shop):
    from openpyxl import load_workbook

    created = datetime(2026, 3, 2, 12, tzinfo=AMS)
    for n, source in enumerate(["a%01b", "nan", "1_000", "2026-05-04"]):
        send("shopify", "orders/create", order_payload(100 + n, created=created, updated=created, zone=AMS,
                                                        lines=[("x", Decimal("5.00"), 1)],
                                                        landing_site=f"/?utm_source={source}"))
    r = panel.get("/panel/export.xlsx?table=sources&range=custom&from=2026-03-01&to=2026-03-10", headers=bearer())
    assert r.status_code == 200
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(r.data)).active.iter_rows()][1:]
    assert sorted(row[0] for row in rows) == sorted(["ab", "nan", "1_000", "2026-05-04"])
    assert all(isinstance(row[0], str) for row in rows)


def test_openapi_document_describes_the_api(panel):
    spec = panel.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/api/kpis" in spec["paths"]


def test_demo_panel_is_off_unless_asked_for(panel, shopify_shop):
    assert panel.get("/panel/demo?shop=demo.myshopify.com").status_code == 404


def test_sources_table_and_its_csv(panel, orders):
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-31&lang=en", headers=bearer()).get_json()
    assert [(r["source"], r["orders"], r["net_sales_text"]) for r in view["sources"]] == [("web", 4, "€199.00")]
    r = panel.get("/panel/export.csv?table=sources&range=custom&from=2026-03-01&to=2026-03-31", headers=bearer())
    assert list(csv.reader(io.StringIO(r.get_data(as_text=True)))) == [["source", "orders", "net_sales"],
                                                                      ["web", "4", "199.00"]]


def test_targets_and_marketing_spend_give_progress_and_acquisition_cost(panel, orders):
    r = panel.put("/panel/targets", json={"kpi": "net_sales", "value": "400"}, headers=bearer())
    assert r.status_code == 200
    assert panel.put("/panel/targets", json={"kpi": "nope", "value": "1"}, headers=bearer()).status_code == 400
    assert panel.put("/panel/targets", json={"kpi": "orders", "value": "lots"}, headers=bearer()).status_code == 400
    # 310 spent in March (31 days): 100 over Mar 1–10, and 3 new customers in that range
    assert panel.put("/panel/spend", json={"month": "2026-03", "amount": "310"}, headers=bearer()).status_code == 200
    assert panel.put("/panel/spend", json={"month": "2026-13", "amount": "1"}, headers=bearer()).status_code == 400
    assert panel.put("/panel/spend", json={"month": "2026-03", "amount": "-5"}, headers=bearer()).status_code == 400
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-10&lang=en", headers=bearer()).get_json()
    tiles = {t["key"]: t for t in view["tiles"]}
    assert tiles["net_sales"]["target_text"] == "€400.00" and tiles["net_sales"]["progress_text"] == "49.75%"
    assert tiles["acquisition_cost"]["value"] == "33.33" and tiles["acquisition_cost"]["text"] == "€33.33"
    assert view["spend"] == [{"month": "2026-03", "amount": "310.00", "text": "€310.00"}]
    panel.put("/panel/targets", json={"kpi": "net_sales", "value": None}, headers=bearer())
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-10", headers=bearer()).get_json()
    assert next(t for t in view["tiles"] if t["key"] == "net_sales")["target"] is None


def test_weekly_chart_periods_equal_reports_of_those_weeks(panel, db, orders):
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-15&grain=week&lang=en",
                     headers=bearer()).get_json()
    # Sunday Mar 1 alone, then the ISO weeks Mar 2–8 and Mar 9–15
    assert view["dates"] == ["2026-03-01", "2026-03-02", "2026-03-09"]
    tiles = {t["key"]: t for t in view["tiles"]}
    with db.reading() as s:
        shop = find_shop(s, SHOP)
        weeks = [report.build(s, shop, date(2026, 3, 1), date(2026, 3, 1))["kpis"],
                 report.build(s, shop, date(2026, 3, 2), date(2026, 3, 8))["kpis"],
                 report.build(s, shop, date(2026, 3, 9), date(2026, 3, 15))["kpis"]]
    assert tiles["orders"]["series"] == [w["orders"] for w in weeks]
    assert tiles["customers"]["series"] == [w["customers"] for w in weeks]
    assert tiles["average_order_value"]["series"] == [float(w["average_order_value"]) for w in weeks]
    assert panel.get("/panel/view.json?grain=hour", headers=bearer()).status_code == 400


def test_new_and_returning_customers_table(panel, orders):
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-07&lang=en", headers=bearer()).get_json()
    # customers 1 and 2 are new on Mar 1; customer 1 orders again on Mar 2
    assert [(r["count"], r["share_text"]) for r in view["customer_mix"]] == [(2, "100.0%"), (1, "50.0%"), (2, "100.0%")]


def test_lifetime_value_and_its_ratio_to_acquisition_cost(panel, orders):
    # new customers in Mar 1–10: 1 (50 + 20), 2 (30), 3 (99): (70 + 30 + 99) / 3 = 66.33
    panel.put("/panel/spend", json={"month": "2026-03", "amount": "310"}, headers=bearer())
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-10&lang=en", headers=bearer()).get_json()
    tiles = {t["key"]: t for t in view["tiles"]}
    assert tiles["customer_lifetime_value"]["value"] == "66.33"
    assert tiles["clv_to_cac"]["value"] == "1.99" and tiles["clv_to_cac"]["text"] == "1.99 : 1"
    observed = min(365, (datetime.now(AMS).date() - date(2026, 3, 10)).days)   # whole days since the latest first order
    expected_note = None if observed >= 365 else f"Only {observed} of the 365 days observed so far"
    assert tiles["customer_lifetime_value"]["note"] == expected_note


def test_returns_by_product_table_and_csv(panel, send, shopify_shop):
    created = datetime(2026, 3, 2, 12, tzinfo=AMS)
    order = order_payload(77, created=created, updated=created, zone=AMS, lines=[("Sjaal", Decimal("40.00"), 2)])
    send("shopify", "orders/create", order)
    send("shopify", "refunds/create", refund_payload(500, order, at=datetime(2026, 3, 4, 12, tzinfo=AMS), zone=AMS,
                                                     quantity=1))
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-31&lang=nl", headers=bearer()).get_json()
    assert [(r["product"], r["items_text"], r["returns_text"]) for r in view["products"]] == [("Sjaal", "1", "€\u00a040,00")]
    r = panel.get("/panel/export.csv?table=products&range=custom&from=2026-03-01&to=2026-03-31", headers=bearer())
    assert list(csv.reader(io.StringIO(r.get_data(as_text=True)))) == [["product", "items_returned", "returns"],
                                                                      ["Sjaal", "1", "40.00"]]


def test_clv_is_partial_until_the_first_orders_are_365_days_old(db, shopify_shop):
    """Section 3: CLV (12 months) is "shown only for first orders at least 365 days old, otherwise
    with the part of the year observed stated". A first order 364 days before today has its 365-day
    window (contributions.py: days first .. first+364) ending today, which is not over; report.
    lifetime_value counts today as observed ((today - end).days + 1) and reports 365 observed days,
    so the panel drops the "partial" note (views.py: note only when observed < 365)."""
    first_order_day = date(2026, 3, 2)
    with db.reading() as session:
        shop = find_shop(session, SHOP)
        observed = [report.lifetime_value(session, shop, first_order_day, first_order_day, today)["observed_days"]
                    for today in (first_order_day, date(2027, 3, 1), date(2027, 3, 2), date(2028, 1, 1))]
    assert observed == [0, 364, 365, 365]   # 364 days old on 2027-03-01: its first year ends that evening


def test_the_retention_window_is_the_merchants_setting(panel, db, shopify_shop):
    """Section 3: W is "a shop setting", 365 days by default; the panel sets it (whole days, 1 to
    3650), shows it, and the retention tile follows it; a bad value is refused in the merchant's
    language and changes nothing."""
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-10&lang=nl", headers=bearer()).get_json()
    assert view["retention_days"] == 365
    assert panel.put("/panel/retention", json={"days": "180"}, headers=bearer()).status_code == 200
    for bad in (0, 3651, "abc", 1.5, True, None, "12 dagen"):
        refused = panel.put("/panel/retention?lang=nl", json={"days": bad}, headers=bearer())
        assert refused.status_code == 400 and "heel aantal dagen" in refused.get_json()["error_text"], bad
    assert panel.put("/panel/retention", data="no json", headers=bearer()).status_code == 400
    view = panel.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-10&lang=nl", headers=bearer()).get_json()
    assert view["retention_days"] == 180
    crr = next(t for t in view["tiles"] if t["key"] == "customer_retention_rate")
    assert crr["info"].endswith("actief = besteld in de laatste 180 dagen.")   # the tile explains the merchant's W
    with db.reading() as session:
        assert find_shop(session, SHOP).retention_days == 180
    # order statuses are a WooCommerce setting
    assert view["statuses"] is None
    refused = panel.put("/panel/excluded-statuses?lang=en", json={"statuses": ["quote"]}, headers=bearer())
    assert refused.status_code == 400 and "WooCommerce" in refused.get_json()["error_text"]

