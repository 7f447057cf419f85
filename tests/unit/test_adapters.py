"""Real payloads (tests/payloads, from shared/fixtures with their sources) through both adapters."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from plugin.kpi.booking import parse_instant, to_epoch_micros
from plugin.kpi.entities import FINAL_VERSION, CartState, OrderState, RefundState, ReturnState
from tests.helpers import anonymized_by_woocommerce, payload
from webhooks.platforms import shopify, woocommerce
from webhooks.platforms.base import Context, PayloadError

CTX = Context(received_at=datetime(2026, 11, 1, 12, tzinfo=timezone.utc),
              triggered_at=datetime(2026, 11, 1, 11, 59, tzinfo=timezone.utc), customer_hash_key="k" * 64)


def micros(text, **kw):
    return to_epoch_micros(parse_instant(text, **kw))


def test_shopify_doc_order_reads_money_from_shop_money_and_excludes_test_orders():
    order, *refunds = shopify.on_order(payload("shopify", "orders-create"), CTX)
    assert isinstance(order, OrderState) and refunds == []
    assert order.gross_sales == Decimal("414.95")          # Σ price × quantity of 5 lines
    assert order.discounts == Decimal("20.00")
    assert order.shipping == Decimal("10.00")
    assert order.taxes == Decimal("0.00")
    assert order.items_sold == 5
    assert order.counted is False                            # "test": true
    assert order.booked_at == micros("2021-12-31T19:00:00-05:00")
    assert order.cancelled_at == micros("2021-12-31T19:00:00-05:00")
    assert order.cancel_reverses_sale is True                # financial_status voided
    assert order.customer_key == "c:115310627314723950"


def test_gift_cards_are_not_sales():
    data = payload("shopify", "orders-create")
    data["line_items"][0]["gift_card"] = True
    order = shopify.order_state(data, CTX)
    assert order.gross_sales == Decimal("414.95") - Decimal("89.99")
    assert order.items_sold == 4


def test_guest_orders_are_keyed_by_a_keyed_hash_of_the_lower_cased_email():
    data = payload("shopify", "orders-create")
    data["customer"] = None
    data["email"] = "Jon@Example.com"
    key = shopify.order_state(data, CTX).customer_key
    data["email"] = "jon@example.com"
    assert shopify.order_state(data, CTX).customer_key == key
    assert key.startswith("e:") and "jon" not in key
    other_shop = Context(CTX.received_at, None, customer_hash_key="other")
    assert shopify.order_state(data, other_shop).customer_key != key
    data["email"] = data["contact_email"] = None
    assert shopify.order_state(data, CTX).customer_key is None


def test_shopify_real_vnd_refund_with_cancel_restock():
    (refund,) = shopify.on_refund(payload("shopify", "refunds-create__PipedreamHQ"), CTX)
    assert refund == RefundState(
        refund_id="1002961240349", order_id="6273085767965", version=micros("2024-08-20T11:19:18-04:00"),
        booked_at=micros("2024-08-20T11:19:18-04:00"), returns=Decimal("20"), refunded_shipping=Decimal(0),
        refunded_taxes=Decimal("0"), refunds=Decimal("20"), items_returned=0,  # restock_type cancel
        products=(("T-shirt 1", "20", 0),))


def test_shopify_doc_refund_without_successful_transaction_moves_no_money():
    data = payload("shopify", "refunds-create__gadget")
    (refund,) = shopify.on_refund(data, CTX)
    expected_returns = sum(Decimal(li["subtotal_set"]["shop_money"]["amount"]) for li in data["refund_line_items"])
    assert refund.returns == expected_returns
    success = [t for t in data["transactions"] if t["kind"] == "refund" and t["status"] == "success"]
    assert refund.refunds == sum((Decimal(t["amount"]) for t in success), Decimal(0))
    assert refund.items_returned == sum(li["quantity"] for li in data["refund_line_items"]
                                        if li["restock_type"] != "cancel")


def test_a_goodwill_refund_without_lines_counts_its_money_less_shipping_and_tax_as_returns():
    data = payload("shopify", "refunds-create__PipedreamHQ")
    data["refund_line_items"] = []
    data["transactions"][0]["amount"] = "30"
    data["refund_shipping_lines"] = [{"subtotal_amount_set": {"shop_money": {"amount": "5", "currency_code": "VND"}}}]
    (refund,) = shopify.on_refund(data, CTX)
    assert refund.refunds == Decimal(30) and refund.refunded_shipping == Decimal(5)
    assert refund.returns == Decimal(25)


def test_orders_delete_is_a_final_tombstone():
    (state,) = shopify.on_order_delete(payload("shopify", "orders-delete"), CTX)
    assert state.deleted and state.version == FINAL_VERSION


def test_returns_are_dated_by_the_trigger_time():
    (requested,) = shopify.on_return_request(payload("shopify", "returns-request"), CTX)
    (approved,) = shopify.on_return_approve(payload("shopify", "returns-approve"), CTX)
    assert requested == ReturnState("123134564567890", "4783296544821", requested_at=to_epoch_micros(CTX.triggered_at))
    assert approved.approved_at == to_epoch_micros(CTX.triggered_at)
    assert shopify.on_return_other(payload("shopify", "returns-close"), CTX) == []


def test_carts_and_checkouts_are_keyed_by_token():
    (cart,) = shopify.TOPICS["carts/update"](payload("shopify", "carts-update"), CTX)
    assert isinstance(cart, CartState) and cart.cart_kind == "cart" and cart.token
    (checkout,) = shopify.TOPICS["checkouts/create"](payload("shopify", "checkouts-create"), CTX)
    assert checkout == CartState("checkout", "123123123", micros("2021-12-31T19:00:00-05:00"),
                                 micros("2021-12-31T19:00:00-05:00"))


@pytest.mark.parametrize("bad", [[], "text", {"id": 1}, {"updated_at": "2026-01-01T00:00:00Z"},
                                 {"id": 1, "updated_at": "soon", "created_at": "x"}])
def test_malformed_shopify_orders_raise_payload_error(bad):
    with pytest.raises(PayloadError):
        shopify.on_order(bad, CTX)


def test_woocommerce_pending_order_does_not_count_nor_do_its_refunds():
    order, refund = woocommerce.on_order(payload("woocommerce", "order.updated"), CTX)
    assert order.counted is False                                   # status pending
    assert order.gross_sales == Decimal("90.00") and order.items_sold == 1
    assert order.customer_key == "c:210684523"
    assert order.booked_at == micros("2022-11-30T20:17:50", naive_is_utc=True)
    assert refund == RefundState("60", "45", version=micros("2022-11-30T20:19:01", naive_is_utc=True),
                                 booked_at=micros("2022-11-30T20:19:01", naive_is_utc=True),
                                 returns=Decimal("10.00"), refunds=Decimal("10.00"), detail=0)


def test_woocommerce_order_without_a_modification_time_is_versioned_by_its_creation():
    """A genuine order body with date_modified_gmt null (section 8 versions by it) still counts:
    its creation is the version, and its refunds follow."""
    data = dict(payload("woocommerce", "order.updated"), status="processing", date_modified_gmt=None,
                date_modified=None)
    order, refund = woocommerce.on_order(data, CTX)
    assert order.counted and order.version == order.booked_at == micros("2022-11-30T20:17:50", naive_is_utc=True)
    assert refund.order_id == order.order_id


@pytest.mark.parametrize("status, paid, counted, cancelled", [
    ("processing", False, True, False), ("on-hold", False, True, False), ("completed", True, True, False),
    ("refunded", True, True, False), ("my-custom-status", False, True, False), ("pending", False, False, False),
    ("failed", False, False, False), ("checkout-draft", False, False, False), ("trash", True, False, False),
    ("cancelled", False, False, False), ("cancelled", True, True, True),
])
def test_woocommerce_status_rules(status, paid, counted, cancelled):
    data = payload("woocommerce", "order.updated")
    data["status"] = status
    data["date_paid_gmt"] = "2022-11-30T20:18:00" if paid else None
    order = woocommerce.order_state(data, CTX)
    assert order.counted is counted
    assert (order.cancelled_at == order.booked_at) if cancelled else order.cancelled_at is None


def test_woocommerce_money_uses_subtotals_before_coupons():
    data = payload("woocommerce", "order.updated")
    data["line_items"][0].update(subtotal="90.00", total="81.00")
    data["discount_total"] = "9.00"
    order = woocommerce.order_state(data, CTX)
    assert order.gross_sales == Decimal("90.00") and order.discounts == Decimal("9.00")


def test_woocommerce_refund_details_line_item_refund():
    refund = woocommerce.refund_state("560", payload("woocommerce", "order_refund__woocommerce-woocommerce-ios"))
    assert refund.returns == Decimal("27.00") and refund.refunds == Decimal("27.00")
    assert refund.items_returned == 1 and refund.detail == 1
    assert refund.products == (("Ship Your Idea - Blue, XL", "27.00", 1),)
    assert refund.booked_at == micros("2019-10-01T19:33:46", naive_is_utc=True)


def test_woocommerce_amount_only_refund_details():
    refund = woocommerce.refund_state("45", payload("woocommerce", "order_refund__airbyte"))
    assert refund.returns == Decimal("10.00") and refund.items_returned == 0 and refund.refunds == Decimal("10.00")


def test_woocommerce_rest_error_body_gives_no_state():
    error = payload("woocommerce", "order.updated__error-body")["body"]
    assert woocommerce.is_rest_error(error)
    assert woocommerce.on_order(error, CTX) == []


def test_woocommerce_deletion_is_versioned_by_its_arrival():
    (state,) = woocommerce.on_order_deleted({"id": 45}, CTX)
    assert state.deleted and state.version == to_epoch_micros(CTX.received_at)


def test_woocommerce_deletion_from_the_kompas_plugin_is_versioned_by_the_trash():
    (state,) = woocommerce.on_order_deleted({"id": 45, "status": "trash", "date_modified_gmt": "2022-12-05T09:00:05"},
                                            CTX)
    assert state.deleted and state.version == to_epoch_micros(datetime(2022, 12, 5, 9, 0, 5, tzinfo=timezone.utc))
    assert woocommerce.on_order_deleted({"id": 45, "status": "processing",
                                         "date_modified_gmt": "2022-12-05T09:01:05"}, CTX) == []


def test_woocommerce_ping_is_recognised_only_without_a_signature():
    assert woocommerce.is_ping({}, b"webhook_id=27")
    assert not woocommerce.is_ping({"X-WC-Webhook-Signature": "x"}, b"webhook_id=27")
    assert not woocommerce.is_ping({}, b'{"id": 27}')


@pytest.mark.parametrize("landing, referrer, source_name, expected", [
    ("/products/x?utm_source=Newsletter&utm_medium=email", "https://www.google.com/search", "web", "newsletter"),
    ("/products/x", "https://www.google.com/search?q=sjaal", "web", "google.com"),
    (None, None, "web", "web"),
    (None, "", "", None),
])
def test_shopify_traffic_source_follows_section_4(landing, referrer, source_name, expected):
    data = payload("shopify", "orders-create")
    data.update(landing_site=landing, referring_site=referrer, source_name=source_name)
    assert shopify.order_state(data, CTX).source == expected


def test_woocommerce_traffic_source_from_order_attribution():
    data = payload("woocommerce", "order.updated")
    data["meta_data"] = [{"id": 1, "key": "_wc_order_attribution_source_type", "value": "referral"},
                         {"id": 2, "key": "_wc_order_attribution_referrer", "value": "https://blog.example.nl/post"}]
    assert woocommerce.order_state(data, CTX).source == "blog.example.nl"
    data["meta_data"].append({"id": 3, "key": "_wc_order_attribution_utm_source", "value": "Instagram"})
    assert woocommerce.order_state(data, CTX).source == "instagram"


def test_a_woocommerce_order_anonymized_by_the_store_cannot_tell_its_customer():
    data = payload("woocommerce", "order.updated")
    assert woocommerce.order_state(data, CTX).customer_known
    anonymized = woocommerce.order_state(anonymized_by_woocommerce(data), CTX)
    assert (anonymized.customer_key, anonymized.customer_known) == (None, False)
    # every address "deleted@site.invalid" is the same placeholder, never a customer, flag or not
    placeholder = dict(data, customer_id=0, billing=dict(data["billing"], email="Deleted@Site.Invalid"))
    assert woocommerce.order_state(placeholder, CTX).customer_known is False
    # a store that keeps the customer id on anonymized orders (a filter) still tells the customer
    kept_id = dict(anonymized_by_woocommerce(data), customer_id=77)
    assert woocommerce.order_state(kept_id, CTX).customer_key == "c:77"
    assert woocommerce.order_state(kept_id, CTX).customer_known


def test_a_scrubbed_woocommerce_body_gives_the_same_order_state_without_the_customer():
    import json

    from plugin.woocommerce.privacy import scrubbed

    data = payload("woocommerce", "order.updated")
    data["meta_data"] = [{"id": 1, "key": "_wc_order_attribution_utm_source", "value": "nieuwsbrief"},
                         {"id": 2, "key": "_kompas_cart_token", "value": "a1b2c3d4e5f6"},
                         {"id": 3, "key": "_some_plugin_phone_copy", "value": "+32 470 12 34 56"}]
    data["customer_note"] = "Bel aan bij Jansen"
    clean = scrubbed(data, CTX)
    text = json.dumps(clean)
    for detail in ("integration-test@airbyte.io", "+32 470", "Jansen", "/customers/210684523"):
        assert detail not in text, detail
    # the very same state: the customer it told is kept as the key the figures hold
    assert woocommerce.order_state(clean, CTX) == woocommerce.order_state(data, CTX)
    assert woocommerce.order_state(clean, CTX).customer_key == "c:210684523"
    assert scrubbed(clean, CTX) == clean     # scrubbing twice changes nothing
    # a guest's key is the keyed hash of the address; an anonymized body tells none, scrubbed or not;
    # a body without any customer tells that too
    guest = dict(data, customer_id=0)
    assert woocommerce.order_state(scrubbed(guest, CTX), CTX) == woocommerce.order_state(guest, CTX)
    assert woocommerce.order_state(guest, CTX).customer_key.startswith("e:")
    anonymized = anonymized_by_woocommerce(data)
    assert woocommerce.order_state(scrubbed(anonymized, CTX), CTX) == woocommerce.order_state(anonymized, CTX)
    nobody = dict(guest, billing=dict(guest["billing"], email=""))
    assert woocommerce.order_state(scrubbed(nobody, CTX), CTX) == woocommerce.order_state(nobody, CTX)
    assert woocommerce.order_state(nobody, CTX).customer_known
    # a key-shaped meta that is not one is not believed
    forged = dict(anonymized, meta_data=[{"key": "_kompas_customer", "value": "c:1; drop"}])
    assert woocommerce.order_state(forged, CTX).customer_known is False


def test_the_order_id_of_a_stored_body_is_read_from_its_first_bytes_or_by_parsing():
    import json

    from plugin.woocommerce.privacy import order_id_of

    real = json.dumps(payload("woocommerce", "order.updated"), separators=(",", ":")).encode()
    assert real.startswith(b'{"id":') and order_id_of(real) == str(payload("woocommerce", "order.updated")["id"])
    assert order_id_of(b'{ "id": 51030, "status": "completed"}') == "51030"
    assert order_id_of(b'{"status": "completed", "id": 7}') == "7"      # not leading: parsed
    assert order_id_of(b'{"status": "completed"}') is None
    assert order_id_of(b"not json") is None
