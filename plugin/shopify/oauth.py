"""The authorization code grant, for installs that arrive without a session token
(shopify.md §4.2). Embedded installs go through token exchange instead (plugin.shopify.tokens).

Shopify signs the install and callback URLs: HMAC-SHA256 with the app's client secret, in hex,
over the query parameters other than `hmac`/`signature`, sorted by key and joined as `k=v` with
`&` (percent-encoding with %20, never +). The `state` nonce travels in a signed cookie.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Iterable, Mapping
from urllib.parse import quote, urlencode

MAX_AGE_SECONDS = 24 * 3600  # Shopify's Python library's window for an install link's timestamp
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]\.myshopify\.com$")


class OAuthError(ValueError):
    """The install or callback request is not one Shopify made for this app."""


def valid_shop(shop: str | None) -> str:
    """The lower-cased *.myshopify.com domain, or OAuthError (never redirect to another host)."""
    value = (shop or "").strip().lower()
    if not _SHOP.match(value):
        raise OAuthError(f"not a myshopify.com shop: {shop!r}")
    return value


def _message(params: Iterable[tuple[str, str]]) -> str:
    """The signed message as Shopify's JS library builds it: sorted, percent-encoded (%20)."""
    pairs = sorted((k, v) for k, v in params if k not in ("hmac", "signature"))
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _message_escaped(params: Iterable[tuple[str, str]]) -> str:
    """The same as Shopify's Python library builds it: only %, & and = escaped. The two agree
    for every parameter Shopify sends today; both are accepted so neither reading locks out a
    shop whose `host` or `state` holds a character they encode differently."""
    def key(k: str) -> str:
        return k.replace("%", "%25").replace("=", "%3D").replace("&", "%26")

    def value(v: str) -> str:
        return v.replace("%", "%25").replace("&", "%26")

    return "&".join(sorted(f"{key(k)}={value(v)}" for k, v in params if k not in ("hmac", "signature")))


def sign_query(params: Mapping[str, str], secret: str) -> str:
    """The hex HMAC Shopify puts in `hmac` for these parameters (tests and the demo use it)."""
    return hmac.new(secret.encode(), _message(params.items()).encode(), hashlib.sha256).hexdigest()


def verify_query(params: Iterable[tuple[str, str]], secrets: Iterable[str], now: float | None = None) -> None:
    """OAuthError unless `hmac` signs the other parameters with one of `secrets` and `timestamp`
    is recent. `params` are the raw (key, value) pairs of the query string."""
    params = list(params)
    given = [v for k, v in params if k == "hmac"]
    if len(given) != 1:
        raise OAuthError("missing hmac")
    messages = {_message(params).encode(), _message_escaped(params).encode()}
    if not any(hmac.compare_digest(hmac.new(s.encode(), m, hashlib.sha256).hexdigest(), given[0].lower())
               for s in secrets if s for m in messages):
        raise OAuthError("invalid hmac")
    stamp = dict(params).get("timestamp", "")
    if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > MAX_AGE_SECONDS:
        raise OAuthError("timestamp missing or too old")


def authorize_url(shop: str, *, api_key: str, scopes: list[str], redirect_uri: str, state: str) -> str:
    """Where the merchant approves the app (offline access: no per-user grant option)."""
    query = urlencode({"client_id": api_key, "scope": ",".join(scopes), "redirect_uri": redirect_uri,
                       "state": state})
    return f"https://{valid_shop(shop)}/admin/oauth/authorize?{query}"
