"""Small parts of the WooCommerce connector: time zones, the REST client's paging and retries,
the cart adapter."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import responses

from plugin.kpi.entities import CartState
from plugin.woocommerce.client import WooClient, WooError
from plugin.woocommerce.connect import ConnectError, admin_of, zone_name
from webhooks.platforms import woocommerce
from webhooks.platforms.base import Context, PayloadError

SITE = "https://winkel.example"
CTX = Context(received_at=datetime(2026, 3, 6, tzinfo=timezone.utc), triggered_at=None, customer_hash_key="k")


@pytest.mark.parametrize("tz, offset, expected", [
    ("Europe/Amsterdam", 1, "Europe/Amsterdam"),
    ("", 0, "UTC"),
    ("", 2, "Etc/GMT-2"),     # UTC+2: POSIX signs are reversed
    ("", "-5", "Etc/GMT+5"),
    (None, None, "UTC"),
])
def test_the_store_time_zone(tz, offset, expected):
    assert zone_name(tz, offset) == expected


@pytest.mark.parametrize("tz, offset", [("Mars/Olympus", 0), ("", 5.5), ("", "soon")])
def test_a_time_zone_kompas_cannot_name_stops_the_connect(tz, offset):
    with pytest.raises(ConnectError):
        zone_name(tz, offset)


@pytest.mark.parametrize("return_url, admin", [
    ("https://winkel.example/wp-admin/admin.php?page=kompas", "https://winkel.example/wp-admin/"),
    # WordPress in its own directory: its admin under the WordPress address, not the site's
    ("https://winkel.example/wp/wp-admin/admin.php?page=kompas", "https://winkel.example/wp/wp-admin/"),
    ("https://Winkel.Example/Shop/wp-admin/admin.php?page=kompas", "https://winkel.example/Shop/wp-admin/"),
    ("https://winkel.example:8443/wp-admin/admin.php?page=kompas", "https://winkel.example:8443/wp-admin/"),
    ("https://winkel.example/wp-admin/", "https://winkel.example/wp-admin/"),
    ("https://winkel.example/login", None),               # no wp-admin in it: the site's is assumed
    ("https://winkel.example/wp-admin", None),            # not a page inside wp-admin
    ("https://winkel.example/" + "a" * 300 + "/wp-admin/admin.php", None),   # longer than the column
    ("https://winkel.example:99999/wp-admin/", None),     # a port out of range
])
def test_the_stores_wp_admin_is_read_from_the_plugins_return_url(return_url, admin):
    assert admin_of(return_url) == admin


def client() -> WooClient:
    return WooClient(SITE, "ck_x", "cs_y", sleep=lambda seconds: None)


@responses.activate
def test_pages_follow_x_wp_totalpages():
    for page, items in ((1, [{"id": 1}, {"id": 2}]), (2, [{"id": 3}])):
        responses.get(SITE + "/wp-json/wc/v3/orders", json=items, headers={"X-WP-Total": "3", "X-WP-TotalPages": "2"},
                      match=[responses.matchers.query_param_matcher({"page": str(page), "per_page": "100"},
                                                                    strict_match=False)])
    pages = list(client().pages("wc/v3/orders"))
    assert [[o["id"] for o in p.items] for p in pages] == [[1, 2], [3]]
    assert pages[0].total == 3 and pages[0].total_pages == 2


@responses.activate
def test_429_and_5xx_are_retried_and_other_errors_are_not():
    responses.get(SITE + "/wp-json/wc/v3/webhooks", status=429, headers={"Retry-After": "1"})
    responses.get(SITE + "/wp-json/wc/v3/webhooks", status=503)
    responses.get(SITE + "/wp-json/wc/v3/webhooks", json=[])
    assert client().get("wc/v3/webhooks") == []
    responses.get(SITE + "/wp-json/wc/v3/orders/9", status=401,
                  json={"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot view this resource."})
    with pytest.raises(WooError) as error:
        client().get("wc/v3/orders/9")
    assert error.value.status == 401 and error.value.code == "woocommerce_rest_cannot_view"
    assert len(responses.calls) == 4


@responses.activate
def test_an_answer_that_is_not_json_is_a_clear_error():
    responses.get(SITE + "/wp-json/", body="<html>maintenance</html>")
    with pytest.raises(WooError, match="not JSON"):
        client().get("")


def test_a_cart_event_is_a_cart_state_counted_on_its_creation_day():
    (state,) = woocommerce.on_cart({"token": "ab" * 16, "event": "updated", "created_at": "2026-03-06T14:50:00Z",
                                    "updated_at": "2026-03-06T15:10:00Z", "item_count": 3}, CTX)
    assert isinstance(state, CartState) and state.kind == "cart" and state.key == "ab" * 16
    assert state.created_at < state.version


@pytest.mark.parametrize("event", [
    {"token": "x", "created_at": "2026-03-06T14:50:00Z"},
    {"token": "ab" * 16},
    {"token": "ab" * 16, "created_at": "yesterday"},
    ["not", "an", "object"],
])
def test_a_malformed_cart_event_is_a_payload_error(event):
    with pytest.raises(PayloadError):
        woocommerce.on_cart(json.loads(json.dumps(event)), CTX)


def test_the_key_never_goes_over_plain_http():
    with pytest.raises(WooError, match="HTTPS only"):
        WooClient("http://winkel.example", "ck_x", "cs_y")
