"""The query-string HMAC of Shopify's install and callback links (hex, sorted parameters)."""
import hashlib
import hmac
import time

import pytest

from plugin.shopify.oauth import OAuthError, authorize_url, sign_query, valid_shop, verify_query

SECRET = "hush"


def test_shopifys_documented_example_verifies():
    # shopify.dev, authorization code grant: the message is the sorted `k=v` pairs without hmac
    params = {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": "some-shop.myshopify.com",
              "state": "0.6784241404160823", "timestamp": str(int(time.time()))}
    message = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    verify_query(list(params.items()) + [("hmac", digest)], [SECRET])
    assert sign_query(params, SECRET) == digest


def test_a_space_is_signed_as_percent_20_and_either_librarys_escaping_is_accepted():
    params = {"shop": "a-shop.myshopify.com", "state": "a b=c", "timestamp": str(int(time.time()))}
    js = hmac.new(SECRET.encode(), b"shop=a-shop.myshopify.com&state=a%20b%3Dc&timestamp=" + params["timestamp"].encode(),
                  hashlib.sha256).hexdigest()
    python = hmac.new(SECRET.encode(), b"shop=a-shop.myshopify.com&state=a b=c&timestamp=" + params["timestamp"].encode(),
                      hashlib.sha256).hexdigest()
    verify_query(list(params.items()) + [("hmac", js)], [SECRET])
    verify_query(list(params.items()) + [("hmac", python)], [SECRET])


@pytest.mark.parametrize("change", ["value", "secret", "no hmac", "old", "two hmacs"])
def test_what_shopify_did_not_sign_is_refused(change):
    params = {"shop": "a-shop.myshopify.com", "timestamp": str(int(time.time()))}
    if change == "old":
        params["timestamp"] = str(int(time.time()) - 2 * 86400)
    pairs = list(params.items()) + [("hmac", sign_query(params, "other" if change == "secret" else SECRET))]
    if change == "value":
        pairs[0] = ("shop", "b-shop.myshopify.com")
    if change == "no hmac":
        pairs = pairs[:-1]
    if change == "two hmacs":
        pairs.append(("hmac", "00"))
    with pytest.raises(OAuthError):
        verify_query(pairs, [SECRET])


@pytest.mark.parametrize("shop", ["evil.com", "shop.myshopify.com.evil.com", "-x.myshopify.com", "", None,
                                  "https://a.myshopify.com"])
def test_only_myshopify_domains_are_shops(shop):
    with pytest.raises(OAuthError):
        valid_shop(shop)


def test_the_authorize_url_goes_to_the_shop_only():
    url = authorize_url("A-Shop.myshopify.com", api_key="k", scopes=["read_orders", "read_all_orders"],
                        redirect_uri="https://kompas.example/auth/callback", state="n0nce")
    assert url.startswith("https://a-shop.myshopify.com/admin/oauth/authorize?client_id=k&scope=read_orders%2Cread_all_orders")
    with pytest.raises(OAuthError):
        authorize_url("evil.com", api_key="k", scopes=[], redirect_uri="x", state="n")
