"""Every new WooCommerce entry point answers bad input with a clear 4xx, and the panel takes the
WordPress plugin's token as it takes Shopify's session token."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from sqlalchemy import select

from plugin.models import Delivery, Shop, WooCommerceSite
from plugin.woocommerce.auth import MAX_LIFETIME_SECONDS
from tests.helpers import SHOPIFY_SECRET, woo_headers
from tests.woo_store import KEY, RETURN, SECRET, SITE, connect, deliver
from webhooks.signatures import sign


def callback_body(woo_app, **changes):
    client = woo_app.test_client()
    start = client.get("/woocommerce/connect", query_string={"site": SITE, "return_url": RETURN},
                       headers={"Referer": SITE + "/"})
    user_id = parse_qs(urlsplit(start.location).query)["user_id"][0]
    data = {"key_id": 12, "user_id": user_id, "consumer_key": KEY, "consumer_secret": SECRET,
            "key_permissions": "read_write"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("params, message", [
    ({}, "site is missing"),
    ({"site": "http://winkel.example", "return_url": "http://winkel.example/wp-admin/"}, "https"),
    ({"site": "winkel.example", "return_url": RETURN}, "https"),
    ({"site": SITE}, "return_url"),
    ({"site": SITE, "return_url": "https://evil.example/wp-admin/"}, "same site"),
    ({"site": "https://" + "a" * 100 + ".example", "return_url": "https://" + "a" * 100 + ".example/wp-admin/"},
     "host name"),
])
def test_connect_start_refuses_a_missing_or_foreign_site(woo_app, params, message):
    answer = woo_app.test_client().get("/woocommerce/connect", query_string=params)
    assert answer.status_code == 400
    assert message in answer.get_json()["error"]


def test_connect_needs_kompas_at_an_https_url(make_app):
    app = make_app(PUBLIC_URL="http://127.0.0.1:8000")
    answer = app.test_client().get("/woocommerce/connect", query_string={"site": SITE, "return_url": RETURN})
    assert answer.status_code == 503 and "KOMPAS_PUBLIC_URL" in answer.get_json()["error"]


@pytest.mark.parametrize("changes, message", [
    ({"key_permissions": "read"}, "key_permissions"),
    ({"key_permissions": None}, "missing key_permissions"),
    ({"consumer_key": "ck_short"}, "consumer_key"),
    ({"consumer_secret": 12}, "consumer_secret"),
    ({"key_id": "twelve"}, "key_id"),
    ({"key_id": True}, "key_id"),
    ({"key_id": 1.5}, "key_id"),
    ({"key_id": 10 ** 30}, "key_id"),
    ({"user_id": "1"}, "not a connect state"),
    ({"user_id": ""}, "user_id"),
])
def test_callback_refuses_data_that_is_not_wc_auths(woo_app, store, changes, message):
    answer = woo_app.test_client().post("/woocommerce/callback", json=callback_body(woo_app, **changes))
    assert answer.status_code == 400, answer.get_json()
    assert message in answer.get_json()["error"]
    assert store.calls == []  # nothing was asked of the store


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"key"', b""])
def test_callback_refuses_broken_json(woo_app, raw):
    answer = woo_app.test_client().post("/woocommerce/callback", data=raw, content_type="application/json")
    assert answer.status_code == 400


def test_oversize_bodies_are_refused(woo_app):
    client = woo_app.test_client()
    huge = b"{" + b" " * (70 * 1024) + b"}"
    assert client.post("/woocommerce/callback", data=huge, content_type="application/json").status_code == 413
    assert client.post("/woocommerce/disconnect", data=huge, headers={"X-Kompas-Site": SITE}).status_code == 413


def test_callback_refuses_an_expired_state(woo_app, store):
    vault = woo_app.extensions["kompas.vault"]
    stale = vault.seal({"site": SITE, "exp": int(time.time()) - 1})
    answer = woo_app.test_client().post("/woocommerce/callback", json=callback_body(woo_app, user_id=stale))
    assert answer.status_code == 400 and "expired" in answer.get_json()["error"]


def test_a_store_reporting_another_stores_address_cannot_take_over_or_disconnect_it(woo_app, store):
    """evil.example's API claims to be winkel.example (the recorded /wp-json/ index says so): the
    connect is refused and the connected shop keeps its secret and its installation."""
    from tests.woo_store import FakeStore

    client = woo_app.test_client()
    connect(client)
    db = woo_app.extensions["kompas.db"]
    with db.reading() as session:
        before = session.scalar(select(Shop).where(Shop.domain == SITE))
        secret = before.webhook_secret
    evil = "https://evil.example"
    FakeStore(store.mock, site=evil)
    start = client.get("/woocommerce/connect", query_string={"site": evil, "return_url": evil + "/wp-admin/"},
                       headers={"Referer": evil + "/"})
    user_id = parse_qs(urlsplit(start.location).query)["user_id"][0]
    answer = client.post("/woocommerce/callback", json={"key_id": 99, "user_id": user_id, "consumer_key": KEY,
                                                         "consumer_secret": SECRET, "key_permissions": "read_write"})
    assert answer.status_code == 400 and "reports its address" in answer.get_json()["error"]
    with db.reading() as session:
        after = session.scalar(select(Shop).where(Shop.domain == SITE))
        assert (after.webhook_secret, after.uninstalled_at) == (secret, None)
        assert session.scalar(select(Shop).where(Shop.domain == evil)) is None


def test_a_connect_the_plugin_does_not_answer_leaves_nothing_behind(woo_app, store):
    store.plugin_active = False
    answer = woo_app.test_client().post("/woocommerce/callback", json=callback_body(woo_app))
    assert answer.status_code == 502 and "plugin" in answer.get_json()["error"]
    assert store.webhooks == {}
    with woo_app.extensions["kompas.db"].reading() as session:
        assert session.scalar(select(Shop)) is None


def test_a_store_whose_api_fails_is_not_connected(woo_app, store):
    store.failures["settings/general"] = 10
    answer = woo_app.test_client().post("/woocommerce/callback", json=callback_body(woo_app))
    assert answer.status_code == 502 and "did not answer" in answer.get_json()["error"]
    with woo_app.extensions["kompas.db"].reading() as session:
        assert session.scalar(select(Shop)) is None


def _disconnect_request(client, secret: str, site: str = SITE, raw: bytes | None = None):
    raw = json.dumps({"site": site}).encode() if raw is None else raw
    return client.post("/woocommerce/disconnect", data=raw, content_type="application/json",
                       headers={"X-Kompas-Site": site, "X-Kompas-Signature": sign(raw, secret)})


def test_disconnect_from_the_plugin_removes_webhooks_and_keys_and_refuses_later_deliveries(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    secret = store.plugin["webhook_secret"]
    assert _disconnect_request(client, "wrong-secret").status_code == 401
    assert _disconnect_request(client, secret, site="https://other.example").status_code == 404
    assert client.post("/woocommerce/disconnect", data=b"{}", headers={"X-Kompas-Site": "nonsense"}).status_code == 400
    assert _disconnect_request(client, secret, raw=b"{broken").status_code == 400
    assert _disconnect_request(client, secret, raw=b'{"site": "https://other.example"}').status_code == 400
    assert store.webhooks  # none of the refused requests changed anything
    answer = _disconnect_request(client, secret)
    assert answer.status_code == 200, answer.get_json()
    assert store.webhooks == {}
    with woo_app.extensions["kompas.db"].reading() as session:
        shop = session.scalar(select(Shop))
        assert shop.webhook_secret is None and session.get(WooCommerceSite, shop.id) is None
        assert shop.uninstalled_at is not None
        assert session.execute(select(Shop.id)).all()  # the shop and its figures stay
    late = deliver(client, "order.updated", {"id": 1}, secret)
    assert late.status_code == 401


def test_disconnect_from_kompas_tells_the_plugin(woo_app, store, cli):
    connect(woo_app.test_client())
    result = cli("woocommerce", "disconnect", "--shop", SITE)
    assert result.exit_code == 0, result.output
    assert "4 webhooks deleted" in result.output
    assert store.plugin is None and store.webhooks == {}
    assert cli("woocommerce", "resync", "--shop", SITE).exit_code != 0
    assert cli("woocommerce", "resync", "--shop", "https://unknown.example").exit_code != 0


def test_cart_events_go_through_the_receiver_ladder(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    secret = store.plugin["webhook_secret"]
    event = {"token": "a" * 32, "event": "created", "created_at": "2026-03-06T14:50:00Z",
             "updated_at": "2026-03-06T14:50:00Z", "item_count": 1}
    raw = json.dumps(event).encode()
    forged = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("cart.created", raw, secret="nope"))
    assert forged.status_code == 401
    unknown = client.post("/webhooks/woocommerce", data=raw,
                          headers=woo_headers("cart.created", raw, site="https://other.example", secret=secret))
    assert unknown.status_code == 404
    broken = client.post("/webhooks/woocommerce", data=b"{no",
                         headers=woo_headers("cart.created", b"{no", secret=secret))
    assert broken.status_code == 200 and broken.get_json()["status"] == "failed"   # genuine: kept, to look at
    assert deliver(client, "cart.created", event, secret).get_json()["status"] == "processed"
    bad_token = deliver(client, "cart.updated", {**event, "token": "x"}, secret)
    assert bad_token.status_code == 200 and bad_token.get_json()["status"] == "failed"  # kept, to look at
    with woo_app.extensions["kompas.db"].reading() as session:
        assert sorted(session.scalars(select(Delivery.status))) == ["failed", "failed", "processed"]


# --- the panel with the WordPress plugin's token -------------------------------------------------

def wp_token(secret: str, *, site: str = SITE, user: str = "3", lifetime: int = 60, now: int | None = None,
             **claims) -> str:
    now = int(time.time()) if now is None else now
    body = {"iss": site, "dest": site, "aud": "kompas", "sub": user, "iat": now, "nbf": now, "exp": now + lifetime}
    body.update(claims)
    return jwt.encode(body, secret, algorithm="HS256")


def test_the_panel_takes_the_wordpress_token_and_lets_only_that_site_frame_it(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    token = wp_token(store.plugin["panel_secret"])
    page = client.get("/panel/", query_string={"id_token": token})
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == "frame-ancestors https://winkel.example;"
    assert b"app-bridge.js" not in page.data and b'data-frame-origin="https://winkel.example"' in page.data
    api = client.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers={"Authorization": "Bearer " + token})
    assert api.status_code == 200 and api.get_json()["shop"] == SITE
    status = client.get("/woocommerce/status.json", headers={"Authorization": "Bearer " + token})
    assert status.status_code == 200
    assert status.get_json()["connected"] is True and status.get_json()["backfill"]["status"] == "queued"


@pytest.mark.parametrize("make, reason", [
    (lambda s: wp_token(s, now=int(time.time()) - 3600), "expired"),
    (lambda s: wp_token("another-panel-secret-of-another-shop-0123456789"), "signature"),
    (lambda s: wp_token(s, site="https://other.example"), "not a connected shop"),
    (lambda s: wp_token(s, iss="https://other.example"), "different sites"),
    (lambda s: wp_token(s, lifetime=MAX_LIFETIME_SECONDS + 600), "at most 60 seconds"),
    (lambda s: wp_token(s, user="0"), "user id"),
    (lambda s: wp_token(s)[:-4] + "AAAA", "Signature"),
    (lambda s: jwt.encode({"iss": SITE, "dest": SITE, "aud": "kompas", "sub": "3", "nbf": int(time.time()),
                           "exp": int(time.time()) + 60}, s, algorithm="HS512"), "alg value is not allowed"),
])
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 case's short key
def test_the_panel_refuses_a_bad_wordpress_token(woo_app, store, make, reason):
    client = woo_app.test_client()
    connect(client)
    token = make(store.plugin["panel_secret"])
    api = client.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers={"Authorization": "Bearer " + token})
    assert api.status_code == 401
    assert reason.lower() in api.get_json()["error"].lower()


def test_an_expired_wordpress_token_on_the_panel_page_asks_wp_admin_for_a_fresh_one(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    page = client.get("/panel/", query_string={"id_token": wp_token(store.plugin["panel_secret"], now=1)})
    assert page.status_code == 401
    assert page.headers["Content-Security-Policy"] == "frame-ancestors https://winkel.example;"
    assert b"kompas:token-request" in page.data


def test_a_token_for_another_audience_is_not_taken_for_a_wordpress_one(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    token = wp_token(store.plugin["panel_secret"], aud="someone-else")
    api = client.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers={"Authorization": "Bearer " + token})
    assert api.status_code == 401


def test_a_shopify_session_token_is_not_taken_for_a_wordpress_one(woo_app, store):
    from plugin.panel.auth import mint_session_token

    client = woo_app.test_client()
    connect(client)
    token = mint_session_token("demo.myshopify.com", api_key="key", secret=SHOPIFY_SECRET)
    api = client.get("/api/kpis?from=2026-03-01&to=2026-03-31", headers={"Authorization": "Bearer " + token})
    assert api.status_code == 401  # a Shopify token: verified as one (and this app has no Shopify key)


def test_a_reconnect_keeps_the_history_and_replaces_secrets_and_webhooks(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    first_secret, first_hooks = store.plugin["webhook_secret"], set(store.webhooks)
    connect(client)
    assert store.plugin["webhook_secret"] != first_secret
    assert len(store.webhooks) == 4 and not first_hooks & set(store.webhooks)
    assert deliver(client, "order.updated", {"id": 1}, first_secret).status_code == 401
    with woo_app.extensions["kompas.db"].reading() as session:
        assert len(session.scalars(select(Shop)).all()) == 1


def test_a_failed_reconnect_leaves_the_store_disconnected_not_half_connected(woo_app, store):
    client = woo_app.test_client()
    connect(client)
    store.failures["wc/v3/webhooks"] = 10  # the store fails while its webhooks are being replaced
    answer = client.post("/woocommerce/callback", json=callback_body(woo_app))
    assert answer.status_code == 502
    with woo_app.extensions["kompas.db"].reading() as session:
        shop = session.scalar(select(Shop))
        assert shop.webhook_secret is None and session.get(WooCommerceSite, shop.id) is None


# --- order statuses the merchant excluded ----------------------------------------------------------

def test_orders_in_statuses_the_merchant_excluded_never_count(woo_app, store):
    """Section 1: a custom status counts, unless the merchant excludes it in the panel (a quote, for
    example): the shop's orders are recounted at once, later deliveries of such orders stay out,
    and switching the status back counts them again; verify holds throughout."""
    from datetime import date

    from plugin import ingest, report
    from plugin.shops import find_shop
    from tests.helpers import payload

    client = woo_app.test_client()
    connect(client)
    secret = store.plugin["webhook_secret"]
    for order_id, status in ((501, "processing"), (502, "quote"), (503, "pending")):
        order = dict(payload("woocommerce", "order.updated"), id=order_id, status=status,
                     date_paid_gmt="2022-11-30T20:18:00", refunds=[])
        assert deliver(client, "order.created", order, secret).get_json()["status"] == "processed"
    db = woo_app.extensions["kompas.db"]

    def orders() -> int:
        with db.reading() as session:
            shop = find_shop(session, SITE)
            assert ingest.differences(session, ingest.ShopContext.of(shop)) == {}
            return report.build(session, shop, date(2022, 11, 30), date(2022, 11, 30))["kpis"]["orders"]

    bearer = {"Authorization": "Bearer " + wp_token(store.plugin["panel_secret"])}
    view = client.get("/panel/view.json?range=custom&from=2022-11-30&to=2022-11-30&lang=nl", headers=bearer).get_json()
    assert view["statuses"] == [{"status": "processing", "excluded": False}, {"status": "quote", "excluded": False}]
    assert orders() == 2
    assert client.put("/panel/excluded-statuses", json={"statuses": ["wc-quote"]}, headers=bearer).status_code == 200
    assert orders() == 1
    later = dict(payload("woocommerce", "order.updated"), id=502, status="quote", date_modified_gmt="2022-12-01T10:00:00",
                 refunds=[])
    deliver(client, "order.updated", later, secret)
    assert orders() == 1
    view = client.get("/panel/view.json?range=custom&from=2022-11-30&to=2022-11-30&lang=nl", headers=bearer).get_json()
    assert {"status": "quote", "excluded": True} in view["statuses"]
    for bad in ("quote", ["<b>"], [1], ["x"] * 31):
        refused = client.put("/panel/excluded-statuses?lang=nl", json={"statuses": bad}, headers=bearer)
        assert refused.status_code == 400 and refused.get_json()["error_text"].startswith("Niet opgeslagen"), bad
    assert orders() == 1
    assert client.put("/panel/excluded-statuses", json={"statuses": []}, headers=bearer).status_code == 200
    assert orders() == 2
    # orders stored before statuses were kept: excluding changes nothing until a replay brings them
    from plugin import applier
    from plugin.models import EntityState
    with db.transaction() as session:
        for row in session.scalars(select(EntityState).where(EntityState.kind == "order")):
            row.data = {k: v for k, v in row.data.items() if k not in ("status", "excluded")}
    assert client.put("/panel/excluded-statuses", json={"statuses": ["quote"]}, headers=bearer).status_code == 200
    assert orders() == 2
    applier.requeue(db, statuses=(applier.PROCESSED,))   # kompas replay --all
    applier.drain(db)
    assert orders() == 1


def test_a_failed_first_connect_takes_back_the_secrets_it_handed_the_plugin(woo_app, store):
    """From a review of the plugin: connect() hands the plugin its secrets before it replaces the
    webhooks. When a later step fails, Kompas's side is undone and WooCommerce deletes the key on
    the 502; the plugin must be told too (DELETE wc-kompas/v1/connection), or wp-admin shows
    "Connected since …" with a panel that refuses its tokens and no Connect button."""
    store.failures["wc/v3/webhooks"] = 10   # the store fails while Kompas replaces its webhooks
    answer = woo_app.test_client().post("/woocommerce/callback", json=callback_body(woo_app))
    assert answer.status_code == 502
    with woo_app.extensions["kompas.db"].reading() as session:
        assert session.scalar(select(Shop)) is None            # Kompas's side is undone ...
    assert store.plugin is None, "... but the plugin still holds the connection: " + str(store.plugin)


def test_a_failed_reconnect_takes_back_the_secrets_it_handed_the_plugin(woo_app, store):
    """The same on a reconnect: Kompas drops the shop's secrets (webhook_secret None), the plugin
    keeps the new ones it was just given and carries on as connected."""
    client = woo_app.test_client()
    connect(client)
    store.plugin = None                     # the merchant disconnected in wp-admin and connects again
    store.failures["wc/v3/webhooks"] = 10
    assert client.post("/woocommerce/callback", json=callback_body(woo_app)).status_code == 502
    assert store.plugin is None, "the plugin still holds the connection Kompas undid"


def _plugin_post_stores_then_fails(store, status: int = 500) -> None:
    """The plugin keeps the secrets, but Kompas never reads its answer: a 500 from a later
    rest_post_dispatch filter or shutdown fatal of another plugin, a proxy's 502, a read timeout."""
    original = store.answer

    def answer(request):  # noqa: ANN001, ANN202
        if request.method == "POST" and "wc-kompas/v1/connection" in request.url:
            original(request)   # stored, as the plugin's rest_store does
            return status, {}, json.dumps({"code": "internal_server_error", "message": "critical error"})
        return original(request)

    for registered in store.mock.registered():
        if isinstance(registered, responses.CallbackResponse):
            registered.callback = answer


def test_a_connect_whose_plugin_post_fails_after_the_plugin_stored_the_secrets_takes_them_back(
        woo_app, store):
    """From a second look: the plugin stored the secrets but Kompas saw an error (both attempts).
    The undo must take them back all the same, or the plugin goes on as "Connected since ..." with
    secrets Kompas never kept."""
    _plugin_post_stores_then_fails(store)
    answer = woo_app.test_client().post("/woocommerce/callback", json=callback_body(woo_app))
    assert answer.status_code == 502
    with woo_app.extensions["kompas.db"].reading() as session:
        assert session.scalar(select(Shop)) is None            # Kompas's side is undone ...
    assert store.plugin is None, "... but the plugin keeps secrets Kompas dropped: " + str(store.plugin)


def test_a_failed_reconnect_whose_plugin_post_fails_leaves_no_connection_kompas_dropped(
        woo_app, store):
    """A failed reconnect drops the old secrets on Kompas's side whatever step fails; when the
    failing step is the plugin's POST itself, the plugin must be told too, or it keeps the old
    connection whose secrets Kompas no longer knows and offers no Connect."""
    client = woo_app.test_client()
    connect(client)
    assert store.plugin is not None
    store.failures["wc-kompas/v1/connection"] = 2          # both attempts of the plugin POST: 500
    assert client.post("/woocommerce/callback", json=callback_body(woo_app)).status_code == 502
    with woo_app.extensions["kompas.db"].reading() as session:
        assert session.scalar(select(Shop.webhook_secret)) is None   # Kompas dropped the old secrets
    assert store.plugin is None, "the plugin still shows the connection Kompas undid: " + str(store.plugin)
