"""The receiver's ladder, one test per rung, with really signed real payloads."""
import logging

import pytest
from sqlalchemy import func, select

from plugin.models import Delivery
from tests.helpers import (SHOPIFY_OLD_SECRET, body, payload, shopify_headers, woo_headers)


def order_body():
    data = payload("shopify", "orders-create")
    data["test"] = False
    return body(data)


def deliveries(db):
    with db.reading() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def test_valid_delivery_is_stored_and_processed(client, db, shopify_shop):
    raw = order_body()
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw, webhook_id="w-1"))
    assert r.status_code == 200 and r.get_json()["status"] == "processed"
    (d,) = deliveries(db)
    assert (d.topic, d.delivery_id, d.status, d.body) == ("orders/create", "w-1", "processed", raw)


def test_bad_signature_is_401_stores_nothing_and_logs(client, db, shopify_shop, caplog):
    raw = order_body()
    headers = shopify_headers("orders/create", raw)
    headers["X-Shopify-Hmac-Sha256"] = shopify_headers("orders/create", raw + b" ")["X-Shopify-Hmac-Sha256"]
    with caplog.at_level(logging.WARNING):
        r = client.post("/webhooks/shopify", data=raw, headers=headers)
    assert r.status_code == 401
    assert deliveries(db) == []
    assert "webhooks.invalid_signature" in caplog.text


def test_garbage_signature_is_401_not_500(client, db, shopify_shop):
    raw = order_body()
    headers = shopify_headers("orders/create", raw)
    headers["X-Shopify-Hmac-Sha256"] = "!!not base64!!"
    assert client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 401


def test_missing_signature_header_is_401(client, db, shopify_shop):
    raw = order_body()
    headers = shopify_headers("orders/create", raw)
    del headers["X-Shopify-Hmac-Sha256"]
    assert client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 401
    assert deliveries(db) == []


def test_previous_secret_is_accepted_during_a_rotation(client, db, shopify_shop):
    raw = order_body()
    r = client.post("/webhooks/shopify", data=raw,
                    headers=shopify_headers("orders/create", raw, secret=SHOPIFY_OLD_SECRET))
    assert r.status_code == 200


def test_missing_topic_header_is_400(client, db, shopify_shop):
    raw = order_body()
    headers = shopify_headers("orders/create", raw)
    del headers["X-Shopify-Topic"]
    r = client.post("/webhooks/shopify", data=raw, headers=headers)
    assert r.status_code == 400 and "X-Shopify-Topic" in r.get_json()["error"]


def test_unknown_shop_is_404_with_a_clear_message(client, db, shopify_shop):
    raw = order_body()
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw, shop="other.myshopify.com"))
    assert r.status_code == 404 and "unknown shop" in r.get_json()["error"]
    assert deliveries(db) == []


@pytest.mark.parametrize("raw", [b'{"id": 1, "updated_at": ', b'{"id": [' * 50_000 + b"]}" * 50_000],
                         ids=["cut off", "nested too deeply"])
def test_genuine_broken_json_is_answered_200_and_kept_as_failed(client, db, shopify_shop, raw):
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "failed" and "not JSON" in r.get_json()["error"]
    (d,) = deliveries(db)
    assert d.status == "failed" and "not JSON" in d.error and d.body == raw


def test_duplicate_webhook_id_is_200_and_stored_once(client, db, shopify_shop):
    raw = order_body()
    headers = shopify_headers("orders/create", raw, webhook_id="dup-1")
    assert client.post("/webhooks/shopify", data=raw, headers=headers).get_json()["status"] == "processed"
    r = client.post("/webhooks/shopify", data=raw, headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "duplicate"
    assert len(deliveries(db)) == 1


def test_stale_state_is_200_and_changes_nothing(client, db, shopify_shop, runner):
    data = payload("shopify", "orders-create")
    data["test"] = False
    newer = dict(data, updated_at="2022-01-02T10:00:00-05:00", total_discounts_set=None, total_discounts="0.00")
    raw_new, raw_old = body(newer), body(data)
    assert client.post("/webhooks/shopify", data=raw_new, headers=shopify_headers("orders/updated", raw_new)).status_code == 200
    r = client.post("/webhooks/shopify", data=raw_old, headers=shopify_headers("orders/create", raw_old))
    assert r.status_code == 200
    from plugin.cli import main
    import json
    out = runner.invoke(main, ["report", "--shop", "demo.myshopify.com", "--from", "2021-12-31", "--to", "2022-01-02", "--json"])
    assert json.loads(out.output)["kpis"]["discounts"] == "0.00"


def test_unknown_topic_is_200_and_recorded_as_ignored(client, db, shopify_shop):
    raw = body(payload("shopify", "customers-create"))
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("customers/create", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "ignored"
    assert deliveries(db)[0].status == "ignored"


def test_payload_that_does_not_fit_its_topic_is_kept_as_failed_and_answered_200(client, db, shopify_shop):
    raw = body({"hello": "world"})
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "failed"
    (d,) = deliveries(db)
    assert d.status == "failed" and "missing id" in d.error


def test_woocommerce_ping_gets_200(client, db, woo_shop):
    r = client.post("/webhooks/woocommerce", data=b"webhook_id=27",
                    headers={"Content-Type": "application/x-www-form-urlencoded",
                             "User-Agent": "WooCommerce/9.8.0 Hookshot (WordPress/6.8)"})
    assert r.status_code == 200
    assert deliveries(db) == []


def test_woocommerce_delivery_with_the_shops_secret(client, db, woo_shop):
    raw = body(payload("woocommerce", "order.updated"))
    r = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.updated", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "processed"


def test_woocommerce_wrong_secret_is_401(client, db, woo_shop):
    raw = body(payload("woocommerce", "order.updated"))
    r = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.updated", raw, secret="nope"))
    assert r.status_code == 401 and deliveries(db) == []


def test_a_woocommerce_secret_given_with_html_entities_verifies_as_woocommerce_signs_it(client, db):
    """WooCommerce keys its HMAC with the secret after wp_specialchars_decode: a secret copied from
    its form as "geheim&amp;sleutel" signs as "geheim&sleutel". (Before: such a shop added with
    `kompas shop add` answered every delivery 401.) Another key is still refused."""
    from plugin.shops import add_shop
    from tests.helpers import WOO_SITE

    with db.transaction() as session:
        add_shop(session, platform="woocommerce", domain=WOO_SITE, timezone_name="Europe/Amsterdam",
                 currency="EUR", webhook_secret="geheim&amp;sleutel&lt;3")
    raw = body(payload("woocommerce", "order.updated"))
    signed = client.post("/webhooks/woocommerce", data=raw,
                         headers=woo_headers("order.updated", raw, secret="geheim&sleutel<3"))
    assert signed.status_code == 200, signed.get_json()
    as_given = client.post("/webhooks/woocommerce", data=raw,
                           headers=woo_headers("order.updated", raw, secret="geheim&amp;sleutel&lt;3"))
    assert as_given.status_code == 200
    other = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.updated", raw, secret="geheim"))
    assert other.status_code == 401


def test_woocommerce_unknown_site_is_404(client, db, woo_shop):
    raw = body(payload("woocommerce", "order.updated"))
    r = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.updated", raw, site="https://elders.example"))
    assert r.status_code == 404


def test_woocommerce_same_delivery_id_with_different_bodies_is_never_dropped(client, db, woo_shop):
    a = payload("woocommerce", "order.updated")
    b = dict(a, id=46)
    for data in (a, b):
        raw = body(data)
        r = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.updated", raw, delivery_id="same"))
        assert r.get_json()["status"] == "processed"
    assert len(deliveries(db)) == 2


def test_woocommerce_rest_error_body_is_200_and_ignored(client, db, woo_shop):
    raw = body(payload("woocommerce", "order.updated__error-body")["body"])
    r = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.updated", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "ignored"
    assert "REST error" in deliveries(db)[0].error


def test_unknown_platform_is_404(client):
    assert client.post("/webhooks/magento", data=b"{}").status_code == 404


def test_queue_mode_acknowledges_before_applying_and_drain_applies(make_app, db, shopify_shop):
    app = make_app(APPLY_INLINE=False)
    raw = order_body()
    r = app.test_client().post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.get_json()["status"] == "accepted"
    assert deliveries(db)[0].status == "received"
    from plugin.applier import drain
    assert drain(db) == 1
    assert deliveries(db)[0].status == "processed"


def test_a_database_failure_before_commit_is_a_5xx(make_app, shopify_shop, monkeypatch):
    app = make_app()
    db = app.extensions["kompas.db"]

    def broken():
        raise RuntimeError("database is gone")
    monkeypatch.setattr(db.write_engine, "raw_connection", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    raw = order_body()
    r = app.test_client().post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.status_code == 500
    monkeypatch.undo()
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0


def test_other_methods_are_405(client):
    r = client.get("/webhooks/shopify")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_a_body_over_the_limit_is_413_and_not_stored(client, db, shopify_shop, monkeypatch):
    from webhooks import receiver
    monkeypatch.setattr(receiver, "MAX_BODY", 1000)
    raw = order_body()
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.status_code == 413 and deliveries(db) == []


def test_a_json_body_that_is_not_an_object_is_kept_as_failed(client, db, shopify_shop):
    raw = b"[1, 2, 3]"
    r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "failed"
    assert "not a JSON object" in deliveries(db)[0].error


def test_a_committed_delivery_whose_inline_apply_fails_is_still_answered_200_and_applied_later(
        client, db, shopify_shop, monkeypatch, caplog):
    """Once stored, a delivery is never answered with an error (section 8: every genuine delivery
    is answered 2xx); the worker or `kompas drain` applies it."""
    import webhooks.receiver as receiver
    from plugin import applier

    def lost_connection(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the database went away after the commit")

    monkeypatch.setattr(receiver, "apply_one", lost_connection)
    raw = order_body()
    with caplog.at_level(logging.ERROR):
        r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
    assert r.status_code == 200 and r.get_json()["status"] == "accepted"
    assert "webhooks.inline_apply_failed" in caplog.text
    (d,) = deliveries(db)
    assert d.status == "received"
    assert applier.drain(db) == 1
    (d,) = deliveries(db)
    assert d.status == "processed"
