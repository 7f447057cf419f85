"""The authorization code grant's two routes (installs that arrive without a session token).

GET /auth/install?shop&timestamp&hmac[&host]: verify Shopify's signature, remember a nonce in a
signed cookie, send the merchant to the shop's grant screen.
GET /auth/callback?code&shop&state&timestamp&hmac[&host]: verify the signature and the nonce,
exchange the code for an expiring offline token, install, and open the app inside Shopify admin.
"""
from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets

import requests
from flask import Blueprint, current_app, jsonify, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import backfill
from .admin_api import ShopifyApiError
from .install import install, shopify_manifest
from .oauth import OAuthError, authorize_url, valid_shop, verify_query
from .tokens import ShopifyAuthError, exchange_code

log = logging.getLogger(__name__)
bp = Blueprint("shopify_auth", __name__, url_prefix="/auth")
STATE_COOKIE = "kompas_oauth_state"
STATE_MAX_AGE = 600
_ADMIN_HOST = re.compile(r"^[a-z0-9.-]+\.(myshopify\.com|shopify\.com)(/.*)?$")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SHOPIFY_API_SECRETS"][0], salt="kompas-oauth-state")


def _verified_shop() -> str:
    config = current_app.config
    if not config["SHOPIFY_API_KEY"] or not config["SHOPIFY_API_SECRETS"]:
        raise OAuthError("the Shopify app is not configured (KOMPAS_SHOPIFY_API_KEY, KOMPAS_SHOPIFY_API_SECRET)")
    verify_query(request.args.items(multi=True), config["SHOPIFY_API_SECRETS"])
    return valid_shop(request.args.get("shop"))


@bp.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError):  # noqa: ANN202
    log.warning("shopify.oauth_refused", extra={"error": str(exc)})
    return jsonify(error=str(exc)), 400


@bp.get("/install")
def begin():  # noqa: ANN201
    shop = _verified_shop()
    nonce = secrets.token_urlsafe(24)
    target = authorize_url(shop, api_key=current_app.config["SHOPIFY_API_KEY"],
                           scopes=shopify_manifest()["access_scopes"],
                           redirect_uri=current_app.config["PUBLIC_URL"] + "/auth/callback", state=nonce)
    response = redirect(target)
    response.set_cookie(STATE_COOKIE, _serializer().dumps({"nonce": nonce, "shop": shop}), max_age=STATE_MAX_AGE,
                        secure=True, httponly=True, samesite="Lax")
    return response


@bp.get("/callback")
def callback():  # noqa: ANN201
    shop = _verified_shop()
    try:
        remembered = _serializer().loads(request.cookies.get(STATE_COOKIE, ""), max_age=STATE_MAX_AGE)
    except BadSignature as exc:
        raise OAuthError("the install was not started here, or too long ago: open the app again") from exc
    if not secrets.compare_digest(str(remembered.get("nonce")), request.args.get("state", "")) \
            or remembered.get("shop") != shop:
        raise OAuthError("state does not match this install")
    code = request.args.get("code")
    if not code:
        raise OAuthError("missing code")
    config = current_app.config
    try:
        http = requests.Session()
        token = exchange_code(http, shop, code, api_key=config["SHOPIFY_API_KEY"],
                              secret=config["SHOPIFY_API_SECRETS"][0], now=backfill.utcnow())
        install(current_app, shop, token, http)
    except (ShopifyAuthError, ShopifyApiError, ValueError) as exc:
        log.warning("shopify.install_failed", extra={"shop": shop, "error": str(exc)})
        return jsonify(error=f"Shopify did not complete the install: {exc}"), 502
    response = redirect(_app_url(shop, request.args.get("host")))
    response.delete_cookie(STATE_COOKIE)
    return response


def _app_url(shop: str, host: str | None) -> str:
    """Kompas inside Shopify admin: the `host` Shopify passed (base64 of the admin host), if valid."""
    api_key = current_app.config["SHOPIFY_API_KEY"]
    if host:
        try:
            admin = base64.urlsafe_b64decode(host + "=" * (-len(host) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            admin = ""
        if _ADMIN_HOST.match(admin):
            return f"https://{admin}/apps/{api_key}"
    return f"https://{shop}/admin/apps/{api_key}"
