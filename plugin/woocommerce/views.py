"""HTTP entry points of the WooCommerce connector (blueprint "woocommerce", /woocommerce/...).

Each bad input gets its own clear 4xx: a missing or foreign site 400, an unknown shop 404, a bad
signature 401, broken JSON 400, callback data that is not wc-auth's 400.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request
from sqlalchemy import select

from webhooks.signatures import SignatureError, verify_hmac_sha256_base64

from .. import backfill as runs
from .. import i18n
from ..models import Shop, WooCommerceSite
from ..panel.views import authenticated
from ..shops import ShopError, shop_key
from .connect import ConnectError, connect, parse_callback, read_state, start_url
from .disconnect import disconnect

log = logging.getLogger(__name__)
bp = Blueprint("woocommerce", __name__, url_prefix="/woocommerce", template_folder="templates")


MAX_BODY = 64 * 1024  # wc-auth's callback and the plugin's disconnect are a few hundred bytes


def _error(message: str, status: int):  # noqa: ANN202
    return jsonify(error=message), status


def _body() -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY (read no further)."""
    if (request.content_length or 0) > MAX_BODY:
        return None
    raw = request.stream.read(MAX_BODY + 1)
    return None if len(raw) > MAX_BODY else raw


@bp.get("/connect")
def start():  # noqa: ANN201
    """The plugin's Connect button: on to the store's own key-granting screen. Sent from the
    store's own wp-admin (its Referer's origin), the browser goes on at once; from anywhere else a
    page first names the store it leads to, so that Kompas's address cannot bounce anyone to any
    site unseen (an open redirect)."""
    try:
        target = start_url(current_app, request.args.get("site"), request.args.get("return_url"))
    except ConnectError as exc:
        return _error(str(exc), exc.status)
    store = urlsplit(target)
    if _origin(request.referrer) == f"{store.scheme}://{store.netloc}".lower():
        return redirect(target)
    language = i18n.language_of(request.args.get("lang") or request.accept_languages.best_match(["nl", "en"]))
    page = render_template("woocommerce/connect_confirm.html", language=language, target=target,
                           message=i18n.t("connect.confirm", language, store=store.netloc),
                           button=i18n.t("connect.continue", language, store=store.netloc))
    return page, 200, {"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _origin(url: str | None) -> str | None:
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


@bp.post("/callback")
def callback():  # noqa: ANN201
    """wc-auth's server-to-server POST with the granted key. Exactly 200 keeps the key."""
    raw = _body()
    if raw is None:
        return _error("body too large", 413)
    try:
        data = json.loads(raw)
    except ValueError:
        return _error("the body is not JSON", 400)
    try:
        user_id, keys = parse_callback(data)
        state = read_state(current_app, user_id)
        shop = connect(current_app, state.site, keys, admin_url=state.admin)
    except ConnectError as exc:
        log.warning("woocommerce.connect_refused", extra={"error": str(exc), "status": exc.status})
        return _error(str(exc), exc.status)
    return jsonify(status="connected", shop=shop)


@bp.post("/disconnect")
def disconnect_from_plugin():  # noqa: ANN201
    """The plugin's Disconnect button (or its uninstall), signed with the shop's webhook secret."""
    raw = _body()
    if raw is None:
        return _error("body too large", 413)
    try:
        site = shop_key("woocommerce", request.headers.get("X-Kompas-Site", ""))
    except ShopError:
        return _error("X-Kompas-Site must name the store's site URL", 400)
    with current_app.extensions["kompas.db"].reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == site, Shop.platform == "woocommerce"))
    if shop is None:
        return _error(f"unknown shop {site!r}", 404)
    try:
        verify_hmac_sha256_base64(raw, request.headers.get("X-Kompas-Signature"), [shop.webhook_secret or ""])
    except SignatureError as exc:
        log.warning("woocommerce.disconnect_bad_signature", extra={"shop": site, "reason": str(exc)})
        return _error("invalid signature", 401)
    try:
        body = json.loads(raw)
    except ValueError:
        return _error("the body is not JSON", 400)
    if not isinstance(body, dict) or str(body.get("site", "")).rstrip("/").lower() != site:
        return _error("the body must be {\"site\": <the same site URL>}", 400)
    result = disconnect(current_app, shop, tell_plugin=False)
    return jsonify(status="disconnected", webhooks_deleted=result.webhooks_deleted, problems=result.problems)


@bp.get("/status.json")
@authenticated
def status():  # noqa: ANN201
    """For the panel: the history import, and what the resync repaired."""
    with current_app.extensions["kompas.db"].reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == g.session.shop, Shop.platform == "woocommerce"))
        if shop is None:
            return _error("not a connected WooCommerce shop", 404)
        site = session.get(WooCommerceSite, shop.id)
        history = runs.current(session, shop.id)
    if site is None:
        return jsonify(connected=False, backfill=history.as_json() if history else None)
    return jsonify(
        connected=True, backfill=history.as_json() if history else None,
        webhooks=site.webhooks, checked_at=_iso(site.checked_at), last_error=site.last_error,
        missed_orders_total=site.missed_orders_total, repaired_webhooks_total=site.repaired_webhooks_total,
        last_repair={"at": _iso(site.last_repair_at), "missed_orders": site.last_repair_orders,
                     "repaired_webhooks": site.last_repair_webhooks} if site.last_repair_at else None)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()
