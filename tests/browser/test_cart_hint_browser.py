"""The cart hint as the panel draws it, in Debian's Chromium: a WooCommerce store whose carts
stopped while its orders go on sees it above the figures, in the panel's language, and a store
whose carts keep coming does not. A screenshot is kept in tests/artifacts/."""
from __future__ import annotations

import time
from datetime import timedelta

import jwt

from tests.browser import test_panel_browser
from tests.browser.test_panel_browser import ARTIFACTS, CHROMIUM_ARGS, Server
from tests.functional import test_woocommerce_cart_hint as functional
from tests.functional.test_woocommerce_cart_hint import PANEL_SECRET, a_normal_week
from tests.helpers import WOO_SITE

chromium, store = test_panel_browser.chromium, functional.store   # the fixtures, shared


def panel_url(kompas: Server, language: str) -> str:
    now = int(time.time())
    token = jwt.encode({"iss": WOO_SITE, "dest": WOO_SITE, "aud": "kompas", "sub": "1", "nbf": now, "exp": now + 60},
                       PANEL_SECRET, algorithm="HS256")
    return f"{kompas.url}/panel/?id_token={token}&lang={language}"


def test_the_panel_shows_the_cart_hint_when_carts_stop_and_not_while_they_come(chromium, store, make_app):
    from playwright.sync_api import sync_playwright

    newest = a_normal_week(store)
    kompas = Server(make_app())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(panel_url(kompas, "nl"))
            page.locator('.tile[data-kpi="orders"] .tile-value').wait_for(timeout=20000)
            assert page.locator("#cart-hint").is_hidden()
            for n in range(10):   # the plugin is switched off: orders, no carts
                store.order(newest + timedelta(hours=1, minutes=30 * n))
            for language, start in (("nl", "Er komen nog bestellingen binnen (10 sindsdien), maar sinds 9 nov 2026, "
                                           "11:00 geen nieuwe winkelwagen: staat de Kompas-plugin in WordPress nog aan?"),
                                    ("en", "Orders still arrive (10 since then), but no new cart since Nov 9, 2026, "
                                           "11:00\u202fAM: is the Kompas plugin still active in WordPress?")):
                page.goto(panel_url(kompas, language))
                hint = page.locator("#cart-hint")
                hint.wait_for(state="visible", timeout=20000)
                assert hint.inner_text().startswith(start)
                if language == "nl":
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / "panel-cart-hint-nl.png"))
            browser.close()
    finally:
        kompas.stop()
