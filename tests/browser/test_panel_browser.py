"""The panel in Debian's Chromium, driven by Playwright, inside an iframe of a host page as the
Shopify admin embeds it, with a valid session token. Screenshots of each main view are kept in
tests/artifacts/."""
import csv
import json
import os
import shutil
import subprocess
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from werkzeug.serving import make_server

from plugin import report
from plugin.demo import cart_payload, order_payload, refund_payload
from plugin import i18n
from plugin.panel.auth import mint_session_token
from plugin.shops import find_shop
from tests.helpers import SHOP, SHOPIFY_SECRET

AMS = ZoneInfo("Europe/Amsterdam")
API_KEY = "kompas-browser-test-client-id"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium; installed here when missing (the tests install what they need)."""
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail("Debian's chromium is needed: apt-get install -y chromium")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return CHROMIUM


class Server:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def host_page(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [HOST_HTML[0].encode()]


HOST_HTML = [""]


@pytest.fixture
def servers(make_app, app):
    host = Server(host_page)
    kompas = Server(make_app(SHOPIFY_API_KEY=API_KEY, PANEL_EXTRA_FRAME_ANCESTORS=[host.url]))
    yield host, kompas
    host.stop()
    kompas.stop()


@pytest.fixture
def history(send, shopify_shop):
    for n in range(12):
        created = datetime(2026, 3, 1 + n % 10, 9 + n, tzinfo=AMS)
        order = order_payload(n + 1, created=created, updated=created, zone=AMS, cart_token=f"c{n}",
                              lines=[("Sjaal", Decimal("34.95"), 1 + n % 3)], customer_id=1 + n % 5)
        send("shopify", "carts/create", cart_payload(f"c{n}", created=created, updated=created, zone=AMS))
        send("shopify", "orders/create", order)
        if n == 4:
            send("shopify", "refunds/create", refund_payload(900, order, at=datetime(2026, 3, 8, 10, tzinfo=AMS), zone=AMS))
    for n in range(3):  # last year, for the comparison
        created = datetime(2025, 3, 2 + n, 12, tzinfo=AMS)
        send("shopify", "orders/create", order_payload(100 + n, created=created, updated=created, zone=AMS,
                                                       lines=[("Beker", Decimal("12.95"), 2)], customer_id=9))


def test_panel_in_an_iframe_switches_language_range_and_comparison_and_exports_the_reports_figures(
        chromium, servers, history, db, tmp_path, send):
    from playwright.sync_api import sync_playwright

    # Shopify asks, for a customer, what Kompas holds of them (the panel offers the download)
    data_request = {"shop_id": 954889, "shop_domain": SHOP, "customer": {"id": 1, "email": "een@example.nl"},
                    "orders_requested": [], "data_request": {"id": 4242}}
    assert send("shopify", "customers/data_request", data_request).status_code == 200

    host, kompas = servers
    token = mint_session_token(SHOP, api_key=API_KEY, secret=SHOPIFY_SECRET, lifetime=300)
    query = "range=custom&from=2026-03-01&to=2026-03-10&compare=previous&lang=en"
    HOST_HTML[0] = (f'<!doctype html><title>Shopify admin</title><body style="margin:0">'
                    f'<iframe id="app" src="{kompas.url}/panel/?id_token={token}&{query}" '
                    f'style="border:0;width:100%;height:1400px"></iframe></body>')
    with db.reading() as s:
        expected = report.build(s, find_shop(s, SHOP), date(2026, 3, 1), date(2026, 3, 10))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
        # App Bridge from Shopify's CDN, as it behaves inside the admin: it hands out session tokens.
        # Its tokens are not the one the admin put in the iframe's URL, which is a minute old by
        # the time a merchant clicks a download: every download must carry App Bridge's.
        bridge_token = mint_session_token(SHOP, api_key=API_KEY, secret=SHOPIFY_SECRET, lifetime=300)
        assert bridge_token != token
        page.route("https://cdn.shopify.com/**", lambda route: route.fulfill(
            content_type="text/javascript", body=f'window.shopify = {{ idToken: async () => "{bridge_token}" }};'))

        page.goto(host.url)
        frame = page.frame_locator("#app")
        net = frame.locator('.tile[data-kpi="net_sales"] .tile-value')
        net.wait_for()
        assert net.inner_text() == i18n.money(expected["kpis"]["net_sales"], "EUR", "en")
        assert frame.locator('.tile[data-kpi="orders"] .tile-value').inner_text() == str(expected["kpis"]["orders"])
        page.screenshot(path=str(ARTIFACTS / "panel-en.png"), full_page=True)

        # the comparison: the same days a year earlier
        frame.locator("#compare").select_option("last_year")
        frame.locator("#period").filter(has_text="2025").wait_for()
        panel_frame = next(f for f in page.frames if "/panel/" in f.url)
        assert "compare=last_year" in panel_frame.url      # the choice lives in the URL
        badge = frame.locator('.tile[data-kpi="orders"] .badge')
        badge.wait_for()
        assert badge.inner_text().startswith("▲") and "good" in badge.get_attribute("class")
        page.screenshot(path=str(ARTIFACTS / "panel-en-last-year.png"), full_page=True)

        # a tile opens its chart, and a hover reads a value off it
        frame.locator('.tile[data-kpi="orders"]').click()
        frame.locator("#chart-title").filter(has_text="Orders").wait_for()
        frame.locator("#chart svg").hover(position={"x": 300, "y": 120})
        assert ":" in frame.locator("#chart .tip").inner_text()

        # by week: the chart's periods follow, and so does the URL
        frame.locator("#grain").select_option("week")
        frame.locator("#chart .axis").filter(has_text="–").first.wait_for()
        assert "grain=week" in next(f for f in page.frames if "/panel/" in f.url).url

        # the CSV of the chosen tile equals `kompas report` for the range
        with page.expect_download() as download:
            frame.locator("#export").click()
        path = tmp_path / "export.csv"
        download.value.save_as(path)
        # (before: the iframe's first token, expired a minute after the panel opened)
        assert f"id_token={bridge_token}" in download.value.url
        rows = list(csv.reader(path.read_text().splitlines()))
        assert rows[0] == ["date", "orders"]
        assert rows[1:-1] == [[d["date"], str(d["orders"])] for d in expected["days"]]

        # the customer data request: its download holds the customer's orders as Shopify sent them
        assert frame.locator("#datarequests-card").is_visible()
        with page.expect_download() as download:
            frame.locator("#datarequests-list a").click()
        path = tmp_path / "data-request.json"
        download.value.save_as(path)
        assert f"id_token={bridge_token}" in download.value.url
        held = json.loads(path.read_text())
        assert held["data_request"] == "4242" and held["customer"] == {"shopify_customer_id": "1"}
        assert {w["body"]["customer"]["id"] for w in held["webhooks"]} == {1} and len(held["webhooks"]) == 3

        # a target, set in the tile's popover, shows the progress towards it
        frame.locator('.tile[data-kpi="net_sales"] .info').click()
        frame.locator('.tile[data-kpi="net_sales"] input[name="target"]').fill("1000")
        frame.locator('.tile[data-kpi="net_sales"] .target-form button').click()
        progress = frame.locator('.tile[data-kpi="net_sales"] .target')
        progress.wait_for()
        assert "€1,000.00" in progress.inner_text()

        # the sources table sorts by a column header
        frame.locator('#sources th button[data-sort="source"]').click()
        assert frame.locator("#sources th[aria-sort]").get_attribute("aria-sort") == "ascending"
        assert frame.locator("#sources tbody tr").count() >= 1

        # Dutch: texts and formats follow
        frame.locator("#language").select_option("nl")
        frame.locator('.tile[data-kpi="net_sales"] .tile-label').filter(has_text="Netto-omzet").wait_for()
        assert frame.locator('.tile[data-kpi="net_sales"] .tile-value').inner_text() == \
            i18n.money(expected["kpis"]["net_sales"], "EUR", "nl")
        page.screenshot(path=str(ARTIFACTS / "panel-nl.png"), full_page=True)

        # a phone's width (Shopify's mobile app)
        page.set_viewport_size({"width": 390, "height": 1400})
        page.screenshot(path=str(ARTIFACTS / "panel-nl-phone.png"), full_page=True)
        browser.close()
