"""Who is asking: the panel and its API are authenticated by Shopify's session token.

The token is an HS256 JWT that App Bridge mints for the shop admin's user, signed with the app's
client secret: `aud` is the app's client id, `exp`/`nbf` hold with 10 seconds of leeway, and `iss`
and `dest` name the same *.myshopify.com shop. The shop is taken from `dest`, never from a query
parameter. (shared/platforms/shopify.md §4.5; Shopify's own libraries verify it the same way.)
"""
from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

import jwt

LEEWAY_SECONDS = 10
MYSHOPIFY = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class SessionTokenError(Exception):
    """The request carries no valid session token."""


@dataclass(frozen=True)
class Session:
    shop: str      # the shop's myshopify domain
    user: str      # the admin user (sub)


def _host(url: object) -> str:
    try:
        host = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
    except ValueError:   # "https://[x": no URL at all
        host = ""
    if not MYSHOPIFY.match(host):
        raise SessionTokenError("iss/dest is not a myshopify.com shop")
    return host


def verify_session_token(token: str | None, *, api_key: str, secrets: Iterable[str]) -> Session:
    """The session a Shopify session token stands for; SessionTokenError when it is not valid."""
    if not token:
        raise SessionTokenError("no session token")
    if not api_key:
        raise SessionTokenError("the app's client id (KOMPAS_SHOPIFY_API_KEY) is not configured")
    last: Exception | None = None
    for secret in [s for s in secrets if s]:
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience=api_key, leeway=LEEWAY_SECONDS,
                                options={"require": ["iss", "dest", "aud", "exp", "nbf", "sub"]})
        except jwt.InvalidSignatureError as exc:
            last = exc
            continue  # perhaps signed with the other secret of a rotation
        except jwt.PyJWTError as exc:
            raise SessionTokenError(str(exc)) from exc
        shop = _host(claims["dest"])
        if _host(claims["iss"]) != shop:
            raise SessionTokenError("iss and dest name different shops")
        return Session(shop=shop, user=str(claims["sub"]))
    raise SessionTokenError(f"bad signature: {last}" if last else "no secret configured")


def mint_session_token(shop: str, *, api_key: str, secret: str, user: str = "1", lifetime: int = 60) -> str:
    """A session token as App Bridge makes them: for the demo panel and for tests."""
    now = int(time.time())
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": api_key, "sub": user,
              "exp": now + lifetime, "nbf": now, "iat": now, "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm="HS256")
