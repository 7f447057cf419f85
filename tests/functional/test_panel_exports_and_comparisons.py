"""The panel's exports, comparisons, changes and targets against `kompas report --json` and
kpi-definitions.md (sections 3, 4, 6, 7), from a review: names exported as text (no spreadsheet
formulas), money with its decimals in Excel, one comparison point under each chart period,
checkout conversion rounded once, changes rounded half-up without a red "-0,0%", and a
lower-is-better target met outright still showing its progress."""
import csv
import io
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from plugin.demo import order_payload, refund_payload
from plugin.kpi import derived
from tests.helpers import PANEL_API_KEY as API_KEY, panel_bearer as bearer

AMS = ZoneInfo("Europe/Amsterdam")
FORMULA_STARTS = ("=", "+", "-", "@")


@pytest.fixture
def panel(make_app, app):
    return make_app(SHOPIFY_API_KEY=API_KEY).test_client()


def _tiles(panel, query):
    r = panel.get("/panel/view.json?" + query, headers=bearer())
    assert r.status_code == 200, r.get_data(as_text=True)
    view = r.get_json()
    return view, {t["key"]: t for t in view["tiles"]}


# --- exports: formula injection ------------------------------------------------------------------

@pytest.fixture
def hostile_names(send, shopify_shop):
    """A shopper-controlled utm_source and a product title that a spreadsheet reads as formulas."""
    created = datetime(2026, 3, 2, 12, tzinfo=AMS)
    for n, source in enumerate(["=1+2", "@SUM(1+1)", "+3-1", "-2+5"]):
        send("shopify", "orders/create", order_payload(300 + n, created=created, updated=created, zone=AMS,
                                                        lines=[("x", Decimal("5.00"), 1)],
                                                        landing_site="/?utm_source=" + quote(source, safe="")))
    order = order_payload(400, created=created, updated=created, zone=AMS, lines=[("=HYPERLINK(1)", Decimal("40.00"), 2)])
    send("shopify", "orders/create", order)
    send("shopify", "refunds/create", refund_payload(900, order, at=datetime(2026, 3, 4, 12, tzinfo=AMS), zone=AMS))


@pytest.mark.parametrize("table", ["sources", "products"])
def test_csv_export_neutralises_names_that_start_a_formula(panel, hostile_names, table):
    r = panel.get(f"/panel/export.csv?table={table}&range=custom&from=2026-03-01&to=2026-03-31", headers=bearer())
    assert r.status_code == 200
    names = [row[0] for row in list(csv.reader(io.StringIO(r.get_data(as_text=True))))[1:]]
    assert names, "the hostile names must be in the export"
    assert not [n for n in names if n.startswith(FORMULA_STARTS)], names


@pytest.mark.parametrize("table", ["sources", "products"])
def test_xlsx_export_stores_names_as_text_never_as_formulas(panel, hostile_names, table):
    from openpyxl import load_workbook

    r = panel.get(f"/panel/export.xlsx?table={table}&range=custom&from=2026-03-01&to=2026-03-31", headers=bearer())
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.data)).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert cells
    formulas = [(c.value, c.data_type) for c in cells if c.data_type == "f"]
    assert formulas == [], formulas


# --- exports: money with the currency's decimals ---------------------------------------------------

def test_xlsx_money_cells_show_the_currencys_two_decimals(panel, orders):
    """The screen says € 50,00 and the CSV 50.00; the workbook holds 50 in a General cell, which
    Excel shows as "50" (and 12.50 as "12.5"): money needs a number format with the minor units."""
    from openpyxl import load_workbook

    r = panel.get("/panel/export.xlsx?kpi=net_sales&range=custom&from=2026-03-01&to=2026-03-03", headers=bearer())
    sheet = load_workbook(io.BytesIO(r.data)).active
    money_cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [c.number_format for c in money_cells] == ["0.00"] * len(money_cells) or \
        all(c.number_format.split(";")[0].endswith("0.00") for c in money_cells), \
        [(c.value, c.number_format) for c in money_cells]


# --- the chart's comparison line --------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    # two ISO weeks (Mon Jan 5 .. Sun Jan 18, 2026) against the same days of 2025 (Sun .. Sat): 3 weeks
    "range=custom&from=2026-01-05&to=2026-01-18&grain=week&compare=last_year",
    # March + April 2026 (61 days) against Dec 30 2025 .. Feb 28 2026: three months
    "range=custom&from=2026-03-01&to=2026-04-30&grain=month&compare=previous",
    # ten days from a Tuesday (2 weeks) against the ten days before, Sat Feb 28 .. Mon Mar 9 (3 weeks)
    "range=custom&from=2026-03-10&to=2026-03-19&grain=week&compare=previous",
])
def test_comparison_series_has_one_point_per_period_of_the_chart(panel, shopify_shop, query):
    """The chart draws `compare_series` point i under the period `dates[i]`; a comparison cut into
    its own calendar weeks or months has a different number of periods, so each dashed point lands
    under another period (the first month of the comparison is Dec 30–31, drawn under March)."""
    view, tiles = _tiles(panel, query + "&lang=en")
    for key in ("net_sales", "orders"):
        assert len(tiles[key]["compare_series"]) == len(tiles[key]["series"]) == len(view["dates"]), \
            (key, view["dates"], view["compare_from"], view["compare_to"], len(tiles[key]["compare_series"]))


# --- changes and targets on the tiles --------------------------------------------------------------

def test_a_change_that_rounds_to_zero_is_not_shown_as_a_red_minus_zero(panel, send, shopify_shop):
    """Net sales 1000.00 on Mar 1 and 999.99 on Mar 2: the change is −0.001 %. The tile shows
    "-0,0%" (change_text) coloured as a fall (good: False), although what it prints is no change;
    the report format rules out "-0.00" for the same reason."""
    for n, (day, price) in enumerate([(1, "1000.00"), (2, "999.99")]):
        at = datetime(2026, 3, day, 12, tzinfo=AMS)
        send("shopify", "orders/create", order_payload(600 + n, created=at, updated=at, zone=AMS,
                                                        lines=[("x", Decimal(price), 1)]))
    _, tiles = _tiles(panel, "range=custom&from=2026-03-02&to=2026-03-02&compare=previous&lang=nl")
    t = tiles["net_sales"]
    assert (t["text"], t["compare_text"]) == ("€\u00a0999,99", "€\u00a01.000,00")
    assert not t["change_text"].startswith("-"), t["change_text"]
    assert t["good"] is None, (t["change_text"], t["good"])


def test_checkout_conversion_is_purchases_over_checkouts_rounded_once():
    """Section 4: checkout conversion = orders from checkouts / checkouts, and section 8 rounds a
    rate half-up once. The tile takes 100 − the rounded abandonment rate: 1 purchase of 800
    checkouts is 0.125 % → "0.13", but 100 − 99.88 (99.875 rounded) gives "0.12"."""
    kpis = derived.kpis({"checkouts": 800, "checkout_purchases": 1}, 0, 0, 0, "EUR")
    assert kpis["checkout_abandonment_rate"] == "99.88"
    assert kpis["checkout_conversion"] == derived.percentage(1, 800) == "0.13"   # what the tile shows


def test_a_lower_is_better_target_that_is_beaten_outright_still_shows_its_progress(panel, orders):
    """Return rate target 2 %: with nothing returned (0.0 %) the target is met; target_progress
    divides the target by the value (lower is better), finds 0 and answers None, so the tile's
    target line ("… of target 2,0%") disappears exactly when the merchant is on target."""
    assert panel.put("/panel/targets", json={"kpi": "return_rate", "value": "2"}, headers=bearer()).status_code == 200
    _, tiles = _tiles(panel, "range=custom&from=2026-03-01&to=2026-03-10&lang=nl")
    t = tiles["return_rate"]
    assert t["value"] == "0.00" and t["target_text"] == "2,0%"
    assert t["progress_text"] is not None


def test_change_is_rounded_half_up_like_every_other_figure(panel, send, shopify_shop):
    """Net sales 800.00 on Mar 1 and 801.00 on Mar 2: +0.125 % exactly. The project rounds half-up
    (section 8, derived._round_div); the tile formats the Decimal change with f"{:.2f}", which
    rounds half-even, and shows "+0,12%" instead of "+0,13%"."""
    for n, (day, price) in enumerate([(1, "800.00"), (2, "801.00")]):
        at = datetime(2026, 3, day, 12, tzinfo=AMS)
        send("shopify", "orders/create", order_payload(650 + n, created=at, updated=at, zone=AMS,
                                                        lines=[("x", Decimal(price), 1)]))
    _, tiles = _tiles(panel, "range=custom&from=2026-03-02&to=2026-03-02&compare=previous&lang=nl")
    assert tiles["net_sales"]["change_text"] == "+0,13%", tiles["net_sales"]["change_text"]
