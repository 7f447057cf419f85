"""The WooCommerce connector end to end, against recorded REST answers (tests/woo_store.py):
connect → webhooks created → backfill → live signed webhooks and cart events → a lost delivery
and a disabled webhook repaired by the resync → `kompas report --json` equals figures computed
by hand; resuming, trashed orders, and the worker's jobs."""
from __future__ import annotations

import base64
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import jwt
from sqlalchemy import select, text

from plugin.credentials import WOOCOMMERCE_REST, load_credential
from plugin.models import Shop, WooCommerceSite
from plugin.woocommerce.resync import resync_shop
from tests.helpers import waiting_for_exclusive
from tests.woo_store import EVENTS, KEY, PUBLIC, SECRET, SITE, connect, deliver, rest

T1, T2 = "3f2a9c1e8b7d4a6f9e0c1b2a3d4e5f60", "8d1c0b2a3e4f5a6b7c8d9e0f1a2b3c4d"

# March 2026, Europe/Amsterdam, by hand from the REST bodies and the deliveries below:
# orders 101 (completed: 2 × 25.00, shipping 5.00, tax 10.50, customer 7), 102 (processing: 100.00 less
# a 10.00 coupon, tax 18.90, guest), 103 (pending when backfilled, paid later by a webhook: 20.00,
# customer 9), 104 (webhook: 40.00, shipping 4.95, customer 7, from cart T1). Refund 201 of 102 (one
# line, 30.00, from the REST details) and refund 202 of 101 (goodwill 5.00, only in the lost delivery,
# found by the resync). Carts T1 (ordered) and T2 (abandoned).
EXPECTED = {
    "orders": 4, "items_sold": 5, "items_returned": 1, "orders_cancelled": 0,
    "gross_sales": "210.00", "discounts": "10.00", "returns": "35.00", "net_sales": "165.00",  # 210 − 10 − 35
    "shipping": "9.95", "refunded_shipping": "0.00", "taxes": "29.40", "refunded_taxes": "0.00",
    "total_sales": "204.35",  # 165 + 9.95 + 29.40
    "refunds": "35.00",
    "average_order_value": "50.00",  # (210 − 10) / 4
    "return_rate": "20.00",  # 1 / 5
    "refund_rate": "14.62",  # 35 / (200 + 9.95 + 29.40)
    "cancellation_rate": "0.00",
    "customers": 3, "new_customers": 3, "returning_customer_rate": "33.33",  # customer 7 ordered twice
    "carts": 2, "checkouts": 0, "cart_abandonment_rate": "50.00", "checkout_abandonment_rate": None,
}


def cart(token: str, created: str, updated: str | None = None, event: str = "created") -> dict:
    return {"token": token, "event": event, "created_at": created, "updated_at": updated or created, "item_count": 1}


def test_connect_backfill_webhooks_resync_and_report(woo_app, store, cli):
    client = woo_app.test_client()
    db = woo_app.extensions["kompas.db"]
    connect(client)

    # the four order webhooks, to Kompas, with one fresh secret the plugin was given too
    assert sorted(w["topic"] for w in store.webhooks.values()) == ["order.created", "order.deleted",
                                                                 "order.restored", "order.updated"]
    assert {w["delivery_url"] for w in store.webhooks.values()} == {EVENTS}
    secret = store.hook("order.created")["secret"]
    assert {w["secret"] for w in store.webhooks.values()} == {secret}
    assert store.plugin["webhook_secret"] == secret and store.plugin["shop"] == SITE
    assert store.plugin["events_url"] == EVENTS and store.plugin["panel_url"] == PUBLIC + "/panel/"
    assert store.plugin["disconnect_url"] == PUBLIC + "/woocommerce/disconnect" and store.plugin["key_id"] == 12
    assert "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode() in store.auth
    # WooCommerce pings each new webhook: form body, no signature, must get a 200
    ping = client.post("/webhooks/woocommerce", data=b"webhook_id=142",
                       content_type="application/x-www-form-urlencoded")
    assert ping.status_code == 200

    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SITE))
        assert (shop.platform, shop.currency, shop.timezone, shop.name) == \
            ("woocommerce", "EUR", "Europe/Amsterdam", "Winkel")
        keys = load_credential(session, woo_app.extensions["kompas.vault"], shop.id, WOOCOMMERCE_REST)
        assert keys["consumer_secret"] == SECRET and keys["key_id"] == 12
        sealed = " ".join(r[0] for r in session.execute(text("SELECT sealed FROM shop_credentials")))
        assert SECRET not in sealed and store.plugin["panel_secret"] not in sealed  # stored encrypted
        shop_id = shop.id

    # the history: two pages, refund details included, through `kompas backfill`
    result = cli("backfill", "--shop", SITE)
    assert result.exit_code == 0, result.output
    assert "done: 3 of 3 orders" in result.output
    assert ("GET", "wc/v3/orders/102/refunds") in store.calls

    # live: carts from the plugin, then the order of cart T1, then 103 paid
    for data in (cart(T1, "2026-03-06T14:50:00Z"), cart(T1, "2026-03-06T14:50:00Z", "2026-03-06T14:58:00Z", "updated"),
                 cart(T2, "2026-03-06T16:00:00Z")):
        assert deliver(client, "cart." + data["event"], data, secret).status_code == 200
    assert deliver(client, "order.created", rest("order-104-created.json"), secret).status_code == 200
    assert deliver(client, "order.updated", rest("order-103-paid.json"), secret).status_code == 200
    # the refund of 101 is never delivered (WooCommerce does not retry), and order.updated gets disabled
    store.hook("order.updated")["status"] = "disabled"

    outcome = resync_shop(woo_app, shop_id, now=datetime.now(timezone.utc) + timedelta(minutes=20))
    assert outcome.error is None
    assert (outcome.orders_read, outcome.missed_orders, outcome.repaired_webhooks) == (3, 1, 1)
    assert store.hook("order.updated")["status"] == "active"
    with db.reading() as session:
        site = session.get(WooCommerceSite, shop_id)
        assert (site.last_repair_orders, site.last_repair_webhooks, site.missed_orders_total) == (1, 1, 1)

    # the panel says what was repaired (opened from wp-admin with the plugin's token)
    token = jwt.encode({"iss": SITE, "dest": SITE, "aud": "kompas", "sub": "1", "nbf": int(time.time()),
                        "exp": int(time.time()) + 60}, store.plugin["panel_secret"], algorithm="HS256")
    view = client.get("/panel/view.json?range=custom&from=2026-03-01&to=2026-03-31&lang=nl",
                      headers={"Authorization": "Bearer " + token})
    assert view.status_code == 200
    line = view.get_json()["reconciliation"]
    assert (line["corrections"], line["repaired_webhooks"]) == (1, 1)
    assert line["text"].startswith("Laatste herstel bij WooCommerce: ")
    assert line["text"].endswith(". Gemiste leveringen hersteld: 1; webhooks hersteld: 1.")

    report = cli("report", "--shop", SITE + "/", "--from", "2026-03-01", "--to", "2026-03-31", "--json")
    assert report.exit_code == 0, report.output
    kpis = json.loads(report.output)["kpis"]
    assert {k: kpis[k] for k in EXPECTED} == EXPECTED
    assert cli("verify", "--shop", SITE).exit_code == 0

    shown = cli("woocommerce", "status", "--shop", SITE)
    assert shown.exit_code == 0, shown.output
    assert "order.updated #" in shown.output and "history: done, 3 orders" in shown.output
    assert "repaired so far: 1 missed deliveries, 1 webhooks" in shown.output

    # a second resync finds nothing new to repair, and the CLI says so
    again = cli("woocommerce", "resync", "--shop", SITE)
    assert again.exit_code == 0, again.output
    assert "0 missed deliveries repaired, 0 webhooks repaired" in again.output


def test_a_resumed_backfill_neither_skips_nor_repeats_a_page(woo_app, store, cli, monkeypatch):
    monkeypatch.setattr("plugin.woocommerce.backfill._sleep", lambda seconds: None)
    connect(woo_app.test_client())
    store.failures["page=2"] = 4  # every attempt at page 2 fails: the client gives up after its retries
    first = cli("backfill", "--shop", SITE)
    assert first.exit_code != 0 and "run it again to resume" in first.output
    assert cli("backfill", "--shop", SITE, "--status").output.startswith("failed: 2 of 3 orders")
    second = cli("backfill", "--shop", SITE)
    assert second.exit_code == 0, second.output
    assert "done: 3 of 3 orders" in second.output
    assert store.calls.count(("GET", "wc/v3/orders/102/refunds")) == 1  # page 1 was not applied twice
    assert cli("verify", "--shop", SITE).exit_code == 0


def test_an_order_trashed_without_its_webhook_is_taken_out_by_the_resync(woo_app, store, cli):
    connect(woo_app.test_client())
    assert cli("backfill", "--shop", SITE).exit_code == 0
    before = json.loads(cli("report", "--shop", SITE, "--from", "2026-03-01", "--to", "2026-03-31", "--json").output)
    assert before["kpis"]["orders"] == 2  # 101 and 102; 103 is pending
    trashed = rest("orders-page-1.json")[1]  # 102, trashed in wp-admin; its order.deleted never arrived
    trashed.update(status="trash", date_modified="2026-03-08T10:00:00", date_modified_gmt="2026-03-08T10:00:00")
    store.orders_modified, store.orders_trashed = [], [trashed]
    with woo_app.extensions["kompas.db"].reading() as session:
        shop_id = session.scalar(select(Shop.id))
    outcome = resync_shop(woo_app, shop_id, now=datetime.now(timezone.utc) + timedelta(minutes=20))
    assert (outcome.orders_read, outcome.missed_orders, outcome.repaired_webhooks) == (1, 1, 0)
    after = json.loads(cli("report", "--shop", SITE, "--from", "2026-03-01", "--to", "2026-03-31", "--json").output)
    assert (after["kpis"]["orders"], after["kpis"]["gross_sales"], after["kpis"]["refunds"]) == (1, "50.00", "0.00")


def test_the_workers_jobs_run_the_queued_history_and_the_resync(woo_app, store):
    from plugin import backfill as runs
    from plugin import jobs

    connect(woo_app.test_client())
    with woo_app.extensions["kompas.db"].reading() as session:
        shop_id = session.scalar(select(Shop.id))
        assert runs.current(session, shop_id).status == runs.QUEUED
    assert jobs.run_queued(woo_app) == 1
    with woo_app.extensions["kompas.db"].reading() as session:
        assert runs.current(session, shop_id).as_json()["status"] == "done"
    later = datetime.now(timezone.utc) + timedelta(minutes=20)
    assert jobs.resync_woocommerce(woo_app, later) == 1
    assert jobs.resync_woocommerce(woo_app, later + timedelta(minutes=1)) == 0  # not due for 15 minutes
    assert jobs.resync_woocommerce(woo_app, later + timedelta(minutes=16)) == 1
    assert ("woocommerce.resync", 60.0, jobs.resync_woocommerce) in jobs.JOBS


class _DisconnectDuring:
    """The recorded store, running `action` once just before it answers the first request whose
    path holds `path` (another worker's disconnect, arriving while a resync pass reads the store)."""

    def __init__(self, store, path: str, action) -> None:  # noqa: ANN001
        self.action = action
        original = store.answer

        def answer(request):  # noqa: ANN001, ANN202
            if self.action is not None and path in request.url:
                action, self.action = self.action, None
                action()
            return original(request)

        for registered in store.mock.registered():
            registered.callback = answer


def test_a_resync_racing_a_disconnect_does_not_put_the_webhooks_back(woo_app, store, cli):
    """From a review: the merchant presses Disconnect in wp-admin while a resync pass reads the
    store's orders (the plugin deletes the API key only after Kompas answered, so the pass's key
    still works). The pass read the shop's webhook secret at its start; its webhook check used to
    find none and create all four again with the secret Kompas had just forgotten, and then crash
    on the gone WooCommerceSite row. Now it checks, under the store's connection lock, that the
    store is still connected as it was, and leaves it alone."""
    from plugin.woocommerce.disconnect import disconnect

    client = woo_app.test_client()
    connect(client)
    assert cli("backfill", "--shop", SITE).exit_code == 0
    with woo_app.extensions["kompas.db"].reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SITE))
        session.expunge(shop)
    _DisconnectDuring(store, "/wc/v3/orders", lambda: disconnect(woo_app, shop, tell_plugin=False))
    outcome = resync_shop(woo_app, shop.id, now=datetime.now(timezone.utc) + timedelta(minutes=20))
    assert outcome.error == "the store was disconnected or reconnected during the pass"
    assert [w for w in store.webhooks.values() if w["delivery_url"] == EVENTS] == []
    with woo_app.extensions["kompas.db"].reading() as session:
        assert session.get(WooCommerceSite, shop.id) is None


def test_a_disconnect_waits_for_a_resyncs_webhook_repair_and_then_removes_what_it_repaired(woo_app, store, cli):
    """The other way round: the pass is repairing the webhooks (one was deleted in the store) when
    the disconnect comes. The disconnect waits for the store's connection lock, then deletes every
    Kompas webhook, the repaired one included; without the lock it ran in between, and the pass
    recreated the webhook with the forgotten secret after it."""
    import threading

    from plugin.woocommerce.disconnect import disconnect
    from tests.helpers import waiting_for_exclusive

    client = woo_app.test_client()
    connect(client)
    assert cli("backfill", "--shop", SITE).exit_code == 0
    del store.webhooks[store.hook("order.deleted")["id"]]
    db = woo_app.extensions["kompas.db"]
    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SITE))
        session.expunge(shop)
    checking, go = threading.Event(), threading.Event()

    def pause() -> None:
        checking.set()
        assert go.wait(30)

    _DisconnectDuring(store, "/wc/v3/webhooks", pause)   # the pass pauses in its webhook check
    outcomes = []
    resync = threading.Thread(target=lambda: outcomes.append(
        resync_shop(woo_app, shop.id, now=datetime.now(timezone.utc) + timedelta(minutes=20))))
    resync.start()
    assert checking.wait(30)
    disconnecting = threading.Thread(target=disconnect, args=(woo_app, shop), kwargs={"tell_plugin": False})
    disconnecting.start()
    end = time.monotonic() + 20
    while not waiting_for_exclusive(db, "woocommerce_connection", shop.id) and time.monotonic() < end:
        time.sleep(0.01)
    blocked = waiting_for_exclusive(db, "woocommerce_connection", shop.id) > 0
    go.set()
    resync.join(30)
    disconnecting.join(30)
    assert blocked, "the disconnect did not wait for the pass's webhook repair"
    assert outcomes[0].repaired_webhooks == 1
    assert [w for w in store.webhooks.values() if w["delivery_url"] == EVENTS] == []
    with db.reading() as session:
        assert session.get(WooCommerceSite, shop.id) is None


def test_a_disconnect_during_a_first_connect_waits_for_it_and_leaves_no_webhooks_behind(woo_app, store):
    """From a second look: a first connect hands the plugin its secrets (the plugin can now send a
    signed Disconnect) and then creates the webhooks. A disconnect in that window used to run at
    once (connect took the connection lock for a known shop only): it found no webhooks, dropped
    the connection, and the connect created four webhooks with the forgotten secret and crashed.
    Now the disconnect waits for the connect, and afterwards the store has no Kompas webhooks and
    Kompas no connection, or both are there and agree."""
    from plugin.woocommerce.connect import CONNECTION_LOCK
    from plugin.woocommerce.disconnect import disconnect
    from tests.woo_store import EVENTS, SITE, connect

    db = woo_app.extensions["kompas.db"]
    original = store.answer
    armed = {"on": True}
    started: list[threading.Thread] = []

    def answer(request):  # noqa: ANN001, ANN202
        # the connect's first look at the store's webhooks: the plugin has its secrets by now
        if armed["on"] and request.method == "GET" and "/wc/v3/webhooks" in request.url:
            armed["on"] = False
            with db.reading() as session:
                shop = session.scalar(select(Shop).where(Shop.domain == SITE))
                session.expunge(shop)
            thread = threading.Thread(target=disconnect, args=(woo_app, shop), kwargs={"tell_plugin": False})
            thread.start()
            started.append(thread)
            end = time.monotonic() + 10
            while thread.is_alive() and not waiting_for_exclusive(db, CONNECTION_LOCK, shop.id) \
                    and time.monotonic() < end:
                time.sleep(0.01)
        return original(request)

    for registered in store.mock.registered():
        registered.callback = answer
    client = woo_app.test_client()
    error = None
    try:
        connect(client)
    except Exception as exc:  # noqa: BLE001 - the connect's crash is part of what is checked
        error = exc
    for thread in started:
        thread.join(30)
    assert started, "the connect never listed the store's webhooks"
    hooks = [w for w in store.webhooks.values() if w["delivery_url"] == EVENTS]
    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SITE))
        site = session.get(WooCommerceSite, shop.id)
        secret = shop.webhook_secret
    assert error is None, f"the connect crashed: {error!r}"
    if site is None:
        assert hooks == [], f"disconnected, but {len(hooks)} webhooks with a forgotten secret stay at the store"
    else:
        assert hooks and {w["secret"] for w in hooks} == {secret}


def test_an_anonymization_only_a_resync_reads_keeps_the_figures_and_gets_the_stored_bodies_scrubbed(woo_app, store,
                                                                                                    cli):
    """WooCommerce's retention cleanup anonymizes order 104 and its order.updated is lost (no
    retries; a failing webhook gets disabled): the resync reads the anonymized order. Its figures
    stay (104 stays customer 7's), and the body Kompas stored of it is scrubbed by the background
    pass. (Found in a review: only the applier noted anonymized orders, so that body kept the
    customer's details for good.)"""
    from plugin.jobs import scrub_anonymized_orders
    from plugin.models import Delivery
    from tests.helpers import anonymized_by_woocommerce

    client = woo_app.test_client()
    connect(client)
    assert cli("backfill", "--shop", SITE).exit_code == 0
    order = rest("order-104-created.json")
    order["billing"].update(first_name="Joris", last_name="Peeters", address_1="Meir 12", city="Antwerpen",
                            email="joris@example.be", phone="+32 3 555 01 01")
    assert deliver(client, "order.created", order, store.hook("order.created")["secret"]).status_code == 200
    report = ["report", "--shop", SITE, "--from", "2026-03-01", "--to", "2026-03-31", "--json"]
    before = json.loads(cli(*report).output)["kpis"]
    assert before["returning_customer_rate"] == "50.00"     # customer 7: orders 101 and 104
    anonymized = anonymized_by_woocommerce(order, datetime(2026, 3, 20, 3, tzinfo=timezone.utc))
    store.orders_modified, store.orders_trashed = [anonymized], []
    with woo_app.extensions["kompas.db"].reading() as session:
        shop_id = session.scalar(select(Shop.id))
    outcome = resync_shop(woo_app, shop_id, now=datetime.now(timezone.utc) + timedelta(minutes=20))
    assert (outcome.error, outcome.missed_orders) == (None, 1)
    assert json.loads(cli(*report).output)["kpis"] == before
    assert scrub_anonymized_orders(woo_app, datetime.now(timezone.utc)) == 1
    with woo_app.extensions["kompas.db"].reading() as session:
        [stored] = [json.loads(b) for b in session.scalars(select(Delivery.body)) if json.loads(b).get("id") == 104]
    assert "joris" not in json.dumps(stored).lower() and "Meir" not in json.dumps(stored)
    assert stored["customer_id"] == 0
    assert json.loads(cli(*report).output)["kpis"] == before
    assert cli("verify", "--shop", SITE).exit_code == 0


def _connect_from(client, return_url: str, key_id: int) -> None:  # noqa: ANN001
    start = client.get("/woocommerce/connect", query_string={"site": SITE, "return_url": return_url},
                       headers={"Referer": SITE + "/"})
    assert start.status_code == 302, start.get_json()
    user_id = parse_qs(urlsplit(start.location).query)["user_id"][0]
    answer = client.post("/woocommerce/callback", json={"key_id": key_id, "user_id": user_id, "consumer_key": KEY,
                                                         "consumer_secret": SECRET, "key_permissions": "read_write"})
    assert answer.status_code == 200, answer.get_json()


def test_a_wordpress_in_its_own_directory_gets_alert_links_to_its_own_wp_admin(woo_app, store):
    """WordPress Address https://winkel.example/wp, Site Address https://winkel.example: the REST
    API (the shop's key) is under the site, wp-admin under WordPress's own directory. The plugin's
    return URL names that wp-admin; an alert's "Open Kompas" leads there, not to a 404 at the
    site's /wp-admin/. A reconnect whose return URL names no wp-admin keeps the one known."""
    from plugin.alerts.channels import panel_link

    client = woo_app.test_client()
    _connect_from(client, SITE + "/wp/wp-admin/admin.php?page=kompas", 12)
    db = woo_app.extensions["kompas.db"]

    def shop() -> Shop:
        with db.reading() as session:
            return session.scalar(select(Shop).where(Shop.domain == SITE))

    assert shop().admin_url == SITE + "/wp/wp-admin/"
    assert panel_link(woo_app.config, shop()) == SITE + "/wp/wp-admin/admin.php?page=kompas"
    _connect_from(client, SITE + "/", 13)
    assert shop().admin_url == SITE + "/wp/wp-admin/"
    assert panel_link(woo_app.config, shop()) == SITE + "/wp/wp-admin/admin.php?page=kompas"
