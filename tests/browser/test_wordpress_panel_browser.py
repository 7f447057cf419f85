"""The panel inside wp-admin, in Debian's Chromium: a host page on the store's origin loads the
WordPress plugin's own assets/kompas-admin.js and frames the panel with an expired token minted by
the plugin's PHP. The panel's bounce page asks the host page for a fresh token, the host page's
admin-ajax stand-in mints it with the plugin's PHP, and the panel's own requests get fresh tokens
the same way. A screenshot is kept in tests/artifacts/."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from werkzeug.wrappers import Request, Response

from plugin.credentials import save_credential
from plugin import i18n
from plugin.shops import add_shop
from plugin.woocommerce.auth import PANEL_CREDENTIAL
from tests.browser.test_panel_browser import ARTIFACTS, CHROMIUM_ARGS, Server, chromium  # noqa: F401
from tests.functional.test_woocommerce_wordpress import PLUGIN, tools  # noqa: F401
from tests.helpers import woo_headers
from tests.woo_store import rest

PANEL_SECRET = "panel-secret-of-the-browser-test-store-0123456789"
WEBHOOK_SECRET = "webhook-secret-of-the-browser-test-store"
NONCE = "a1b2c3d4e5"


class WpAdmin:
    """The store's origin: the Kompas page of wp-admin, the plugin's script, and admin-ajax.php."""

    def __init__(self, php: str) -> None:
        self.php = php
        self.kompas_url = ""
        self.ajax_calls = 0
        self.minted: list[str] = []
        self.server = Server(self.app)
        self.url = self.server.url

    def mint(self, now: int) -> str:
        result = subprocess.run([self.php, "tests/mint.php", self.url, "1", PANEL_SECRET, str(now)], cwd=PLUGIN,
                                capture_output=True, text=True, timeout=60, check=True)
        return result.stdout.strip()

    def app(self, environ, start_response):  # noqa: ANN001, ANN201
        request = Request(environ)
        if request.path == "/wp-content/plugins/kompas/assets/kompas-admin.js":
            response = Response((PLUGIN / "assets" / "kompas-admin.js").read_text(), mimetype="text/javascript")
        elif request.path == "/wp-admin/admin-ajax.php" and request.method == "POST":
            self.ajax_calls += 1
            if request.form.get("action") != "kompas_token" or request.form.get("_ajax_nonce") != NONCE:
                response = Response("-1", status=403)
            else:
                # each token its own (minted a second earlier than the one before), so that a
                # request's token tells which request for a token gave it
                self.minted.append(self.mint(int(time.time()) - self.ajax_calls))
                response = Response(json.dumps({"success": True, "data": {"token": self.minted[-1]}}),
                                    mimetype="application/json")
        elif request.path == "/wp-admin/admin.php":
            expired = self.mint(int(time.time()) - 3600)  # e.g. a page left open for an hour
            config = {"origin": self.kompas_url, "ajax": "/wp-admin/admin-ajax.php", "nonce": NONCE}
            response = Response(
                '<!doctype html><title>Kompas ‹ Winkel — WordPress</title><body style="margin:0">'
                f"<script>window.kompasBridge = {json.dumps(config)};</script>"
                '<script src="/wp-content/plugins/kompas/assets/kompas-admin.js"></script>'
                f'<iframe id="kompas-panel" src="{self.kompas_url}/panel/?id_token={expired}'
                '&range=custom&from=2026-03-01&to=2026-03-31&lang=nl" style="border:0;width:100%;height:1400px">'
                "</iframe></body>", mimetype="text/html")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)


@pytest.fixture
def wp_admin(tools):  # noqa: F811
    host = WpAdmin(tools["php"])
    yield host
    host.server.stop()


def test_the_panel_in_wp_admin_gets_fresh_tokens_from_the_plugins_page(  # noqa: PLR0913
        chromium, tools, wp_admin, make_app, app, db, client):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with db.transaction() as session:
        shop = add_shop(session, platform="woocommerce", domain=wp_admin.url, timezone_name="Europe/Amsterdam",
                        currency="EUR", webhook_secret=WEBHOOK_SECRET)
        save_credential(session, app.extensions["kompas.vault"], shop.id, PANEL_CREDENTIAL, {"secret": PANEL_SECRET})
    for order in (rest("orders-page-1.json")[0], rest("order-104-created.json")):
        raw = json.dumps(order).encode()
        answer = client.post("/webhooks/woocommerce", data=raw,
                             headers=woo_headers("order.created", raw, site=wp_admin.url, secret=WEBHOOK_SECRET))
        assert answer.status_code == 200
    kompas = Server(make_app())
    wp_admin.kompas_url = kompas.url
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            bearers: dict[str, list[str]] = {}
            page.on("request", lambda r: bearers.setdefault(r.url.split("?")[0].rsplit("/panel/", 1)[-1], []).append(
                (r.headers.get("authorization") or "").removeprefix("Bearer ")))
            with page.expect_request(lambda r: "/panel/alerts/state.json" in r.url, timeout=20000):
                page.goto(wp_admin.url + "/wp-admin/admin.php?page=kompas")
            frame = page.frame_locator("#kompas-panel")
            orders = frame.locator('.tile[data-kpi="orders"] .tile-value')
            orders.wait_for(timeout=20000)
            assert orders.inner_text() == "2"
            net_sales = frame.locator('.tile[data-kpi="net_sales"] .tile-value').inner_text()
            assert net_sales == i18n.money("90.00", "EUR", "nl")
            # one token for the bounce page, one at least for the panel's own request
            assert wp_admin.ajax_calls >= 2
            # the alerts section too asks the plugin's page for each request's token, instead of
            # reusing the document's, which lasts a minute (before: 401 after that minute)
            [document_token] = [t for t in wp_admin.minted if f"id_token={t}" in
                                next(f for f in page.frames if "/panel/" in f.url).url]
            alerts_tokens = bearers["alerts/state.json"]
            assert alerts_tokens and all(t in wp_admin.minted and t != document_token for t in alerts_tokens)
            page.screenshot(path=str(ARTIFACTS / "panel-wp-admin-nl.png"), full_page=True)
            browser.close()
    finally:
        kompas.stop()
