"""The WordPress plugin's panel token: verified like Shopify's session token, with the shop's own secret.

The plugin mints it on the server for the logged-in wp-admin user (wordpress/kompas,
Kompas_Token::mint): HS256; `aud` "kompas"; `iss` and `dest` both the site URL (the shop's key);
`sub` the WordPress user id; `nbf`/`exp` at most 60 seconds apart. It is signed with a per-shop
panel secret that Kompas handed to the plugin at connect, so the shop is read from the unverified
`dest` only to find which secret must have signed it; nothing is believed before that check.
"""
from __future__ import annotations

import re

import secrets as _secrets
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import jwt

from ..panel.auth import LEEWAY_SECONDS, Session, SessionTokenError

AUDIENCE = "kompas"
MAX_LIFETIME_SECONDS = 60
PANEL_CREDENTIAL = "woocommerce_panel"


class WordPressTokenError(SessionTokenError):
    """The request carries no valid WordPress panel token."""


@dataclass(frozen=True)
class WordPressSession(Session):
    """A panel session opened from wp-admin: `shop` is the site URL, `user` the WordPress user id."""

    @property
    def origin(self) -> str:
        return origin_of(self.shop)


def origin_of(site: str) -> str:
    """scheme://host[:port] of a site URL: what may frame the panel (CSP frame-ancestors)."""
    parts = urlsplit(site)
    return f"{parts.scheme}://{parts.netloc}"


def new_panel_secret() -> str:
    return _secrets.token_urlsafe(32)


def is_wordpress_token(token: str | None) -> bool:
    """Whether `token` claims to be a WordPress panel token (aud "kompas"); not a verification."""
    if not token:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return claims.get("aud") == AUDIENCE


def _site(value: object) -> str:
    if not isinstance(value, str):
        raise WordPressTokenError("iss/dest is not a site URL")
    try:
        parts = urlsplit(value.strip())
    except ValueError as exc:   # "http://[::1": not even a URL
        raise WordPressTokenError("iss/dest is not a site URL") from exc
    if parts.scheme not in ("http", "https") or not _NETLOC.fullmatch(parts.netloc):
        # a host name or address and a port, nothing else: the origin goes into a CSP header
        # ("https://evil.example *" would let any site frame the page)
        raise WordPressTokenError("iss/dest is not a site URL")
    return value.strip().rstrip("/").lower()


_NETLOC = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", re.ASCII)


def verify_wordpress_token(token: str | None, secret_of: Callable[[str], str | None]) -> WordPressSession:
    """The session a panel token stands for; WordPressTokenError when it is not valid.

    `secret_of(site)` gives the panel secret of the connected shop whose key is `site`, or None.
    """
    if not token:
        raise WordPressTokenError("no panel token")
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise WordPressTokenError(f"malformed token: {exc}") from exc
    site = _site(unverified.get("dest"))
    secret = secret_of(site)
    if not secret:
        raise WordPressTokenError("the token's site is not a connected shop")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE, leeway=LEEWAY_SECONDS,
                            options={"require": ["iss", "dest", "aud", "exp", "nbf", "sub"]})
    except jwt.PyJWTError as exc:
        raise WordPressTokenError(str(exc)) from exc
    if _site(claims["iss"]) != site:
        raise WordPressTokenError("iss and dest name different sites")
    if not isinstance(claims["exp"], int) or not isinstance(claims["nbf"], int) \
            or claims["exp"] - claims["nbf"] > MAX_LIFETIME_SECONDS:
        raise WordPressTokenError(f"a panel token may live at most {MAX_LIFETIME_SECONDS} seconds")
    user = str(claims["sub"])
    if not user.isdigit() or user == "0":
        raise WordPressTokenError("sub is not a WordPress user id")
    return WordPressSession(shop=site, user=user)


def panel_secret_of(app) -> Callable[[str], str | None]:  # noqa: ANN001
    """secret_of for verify_wordpress_token: the sealed panel secret of a connected WooCommerce shop."""
    from sqlalchemy import select

    from ..credentials import CredentialError, load_credential
    from ..models import Shop

    def secret_of(site: str) -> str | None:
        with app.extensions["kompas.db"].reading() as session:
            shop_id = session.scalar(select(Shop.id).where(Shop.domain == site, Shop.platform == "woocommerce"))
            if shop_id is None:
                return None
            try:
                data = load_credential(session, app.extensions["kompas.vault"], shop_id, PANEL_CREDENTIAL)
            except CredentialError:
                return None
        return (data or {}).get("secret")

    return secret_of


def wordpress_bounce(token: str | None, language: str = "nl"):  # noqa: ANN201
    """The panel document for an expired or refused WordPress token: inside wp-admin it asks the
    plugin's page for a fresh token and comes back (as Shopify's bounce page asks App Bridge).
    Framing is allowed to the site the token names; the page itself shows nothing of the shop,
    only a line in `language` in case nothing happens."""
    from flask import Response, render_template

    from .. import i18n

    try:
        site = _site(jwt.decode(token or "", options={"verify_signature": False}).get("dest"))
    except (jwt.PyJWTError, WordPressTokenError):
        site = None
    origin = origin_of(site) if site else ""
    response = Response(render_template("woocommerce/bounce.html", origin=origin, language=language,
                                        message=i18n.t("bounce.opening", language)), 401)
    response.headers["Content-Security-Policy"] = f"frame-ancestors {origin or chr(39) + 'none' + chr(39)};"
    return response
