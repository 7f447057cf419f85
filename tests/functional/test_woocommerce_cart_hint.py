"""The panel's hint that a WooCommerce store's cart events stopped while its orders still arrive
(the Kompas WordPress plugin deactivated: plugin.woocommerce.carts), through really signed
deliveries and the real /panel/view.json, opened with the plugin's panel token."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import jwt
import pytest

from plugin.credentials import save_credential
from plugin.demo import cart_payload, order_payload
from plugin.shops import add_shop
from plugin.woocommerce.auth import PANEL_CREDENTIAL
from plugin.woocommerce.carts import MIN_ORDERS
from tests.helpers import PANEL_API_KEY, WOO_SECRET, WOO_SITE, panel_bearer, woo_order_of_anna

AMS = ZoneInfo("Europe/Amsterdam")
PANEL_SECRET = "panel-secret-of-winkel-for-the-cart-hint-0123456789"
DAY = datetime(2026, 11, 2, tzinfo=AMS)   # a Monday; CET (UTC+1) all month


@pytest.fixture
def store(app, db, send):
    """A connected WooCommerce store; `store.cart(...)` and `store.order(...)` deliver as the plugin
    and WooCommerce do, signed with the store's webhook secret."""
    with db.transaction() as session:
        shop = add_shop(session, platform="woocommerce", domain=WOO_SITE, timezone_name="Europe/Amsterdam",
                        currency="EUR", webhook_secret=WOO_SECRET)
        save_credential(session, app.extensions["kompas.vault"], shop.id, PANEL_CREDENTIAL, {"secret": PANEL_SECRET})

    class Store:
        orders = 0

        def cart(self, token: str, created: datetime, event: str = "created", updated: datetime | None = None):
            gmt = lambda at: at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
            answer = send("woocommerce", "cart." + event, {"token": token, "event": event, "created_at": gmt(created),
                                                           "updated_at": gmt(updated or created), "item_count": 1})
            assert answer.status_code == 200 and answer.get_json()["status"] == "processed", answer.get_json()

        def order(self, at: datetime, cart: str | None = None):
            self.orders += 1
            body = woo_order_of_anna(500 + self.orders, email=f"klant{self.orders}@example.nl", created=at,
                                     status="processing", paid=at + timedelta(seconds=20))
            if cart:
                body["meta_data"] = [*body["meta_data"], {"id": 900, "key": "_kompas_cart_token", "value": cart}]
            answer = send("woocommerce", "order.created", body)
            assert answer.status_code == 200 and answer.get_json()["status"] == "processed", answer.get_json()

    return Store()


def hint(client, language: str = "nl"):
    now = int(time.time())
    token = jwt.encode({"iss": WOO_SITE, "dest": WOO_SITE, "aud": "kompas", "sub": "1", "nbf": now, "exp": now + 60},
                       PANEL_SECRET, algorithm="HS256")
    view = client.get(f"/panel/view.json?range=last30&lang={language}", headers={"Authorization": "Bearer " + token})
    assert view.status_code == 200, view.get_json()
    return view.get_json()["cart_hint"]


def a_normal_week(store) -> datetime:
    """Seven days of three carts and two orders from two of them; the newest cart at 10:20 on
    Monday 9 November (its hour ends 11:00 Amsterdam, 10:00 UTC), which is returned."""
    for day in range(7):
        for n, hour in enumerate((11, 14, 20)):
            token = f"cart{day:02d}{n:02d}abcdef"
            store.cart(token, DAY + timedelta(days=day, hours=hour))
            if n < 2:
                store.order(DAY + timedelta(days=day, hours=hour, minutes=25), cart=token)
    newest = DAY + timedelta(days=7, hours=10, minutes=20)
    store.cart("newestcart0000abcdef", newest)
    return newest


def test_orders_without_carts_after_the_newest_cart_bring_the_hint_in_both_languages(store, client):
    newest = a_normal_week(store)
    assert hint(client) is None
    store.order(newest + timedelta(minutes=20), cart="newestcart0000abcdef")   # 10:40: in the cart's own hour
    for n in range(MIN_ORDERS - 1):   # then the plugin is switched off: orders, no carts
        store.order(newest + timedelta(hours=1, minutes=30 * n))
    assert hint(client) is None, "nine orders are not enough"
    store.order(newest + timedelta(hours=8))
    nl, en = hint(client, "nl"), hint(client, "en")
    assert nl["since"] == en["since"] == "2026-11-09T10:00:00+00:00" and nl["orders"] == MIN_ORDERS
    assert nl["text"] == ("Er komen nog bestellingen binnen (10 sindsdien), maar sinds 9 nov 2026, 11:00 geen nieuwe "
                          "winkelwagen: staat de Kompas-plugin in WordPress nog aan? Zonder de plugin krijgt Kompas "
                          "geen winkelwagens en klopt het cijfer voor verlaten winkelwagens niet.")
    assert en["text"] == ("Orders still arrive (10 since then), but no new cart since Nov 9, 2026, 11:00\u202fAM: is "
                          "the Kompas plugin still active in WordPress? Without it, Kompas gets no carts and the cart "
                          "abandonment figure is wrong.")
    # a shopper's cart from before updated now moves nothing: no new cart was created
    store.cart("cart0600abcdef", DAY + timedelta(days=6, hours=11), "updated", updated=newest + timedelta(hours=9))
    assert hint(client)["since"] == "2026-11-09T10:00:00+00:00"
    # the plugin is on again: the next shopper's cart takes the hint away
    store.cart("backagain000abcdef", newest + timedelta(hours=9, minutes=5))
    assert hint(client) is None and hint(client, "en") is None


def test_no_hint_while_cart_events_keep_coming(store, client):
    newest = a_normal_week(store)
    for n in range(3 * MIN_ORDERS):   # orders keep coming, and carts with some of them
        at = newest + timedelta(hours=1, minutes=20 * n)
        if n % 5 == 0:
            store.cart(f"later{n:03d}abcdefgh", at - timedelta(minutes=5))
        store.order(at)
    assert hint(client) is None and hint(client, "en") is None


def test_no_hint_for_a_store_that_never_sent_a_cart(store, client):
    for n in range(3 * MIN_ORDERS):
        store.order(DAY + timedelta(hours=3 * n))
    assert hint(client) is None and hint(client, "en") is None


def test_history_from_before_the_first_cart_brings_no_hint(store, client):
    """The history import runs after the connect, while the plugin already sends carts: its
    orders arrive after the first cart but were placed before it, and never count."""
    store.cart("firstcart000abcdef", DAY + timedelta(days=20, hours=9))
    for n in range(3 * MIN_ORDERS):
        store.order(DAY + timedelta(hours=12 * n))
    assert hint(client) is None and hint(client, "en") is None


def test_a_store_whose_orders_mostly_have_no_cart_needs_as_many_more_orders(store, client):
    """Two carts to ten orders (subscription renewals, say): ten orders after the newest cart
    would bring two carts, not the ten the hint waits for; fifty would."""
    for n in range(10):
        store.order(DAY + timedelta(days=n // 2, hours=9 + n % 2))
    store.cart("firstcart000abcdef", DAY + timedelta(days=2, hours=12))
    store.cart("secondcart00abcdef", DAY + timedelta(days=4, hours=12))
    later = DAY + timedelta(days=5)
    for n in range(49):
        store.order(later + timedelta(hours=n))
        if n == MIN_ORDERS:
            assert hint(client) is None
    assert hint(client) is None
    store.order(later + timedelta(hours=60))
    assert hint(client)["orders"] == 50


def test_a_shopify_shop_gets_no_hint(make_app, app, send, shopify_shop):
    """Shopify's carts come from Shopify's own webhooks: there is no plugin to switch off."""
    for n in range(3):
        created = DAY + timedelta(hours=10 + n)
        send("shopify", "carts/create", cart_payload(f"c{n}", created=created, updated=created, zone=AMS))
    for n in range(3 * MIN_ORDERS):
        created = DAY + timedelta(days=1, hours=n)
        send("shopify", "orders/create", order_payload(n + 1, created=created, updated=created, zone=AMS,
                                                       lines=[("x", Decimal("10.00"), 1)]))
    panel = make_app(SHOPIFY_API_KEY=PANEL_API_KEY).test_client()
    view = panel.get("/panel/view.json?range=last30&lang=nl", headers=panel_bearer())
    assert view.status_code == 200 and view.get_json()["cart_hint"] is None
