"""POST /webhooks/<platform>: the guard-clause ladder, then store, then (maybe) apply.

Each rung answers with its own status and log event:
  unknown platform 404 · WooCommerce ping 200 · missing or bad signature 401 (nothing stored)
  · unreadable headers 400 · unknown shop 404 · broken JSON 400 (stored as failed, to look at)
  · duplicate 200 · unknown topic 200 (stored as ignored) · accepted/processed/stale 200.
A 5xx means Kompas itself failed before the delivery was committed, so the platform's retry is
the copy that is not lost. Once committed, a delivery is never answered with an error: a failure
while applying it is kept on the row for `kompas replay` (WooCommerce never retries anyway).
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, jsonify, request

from plugin.applier import FAILED, IGNORED, RECEIVED, apply_one

from .platforms.base import MissingHeaderError, PayloadError
from .registry import ADAPTERS
from .signatures import SignatureError, verify_hmac_sha256_base64
from .store import DUPLICATE, UNKNOWN_SHOP, shop_secret

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _answer(status: str, delivery: int | None = None):  # noqa: ANN202
    # Written by hand rather than with jsonify: this is every delivery's answer, and it is tiny.
    text = f'{{"status":"{status}"}}' if delivery is None else f'{{"status":"{status}","delivery":{delivery}}}'
    return Response(text, 200, mimetype="application/json")


def _error(message: str, code: int):  # noqa: ANN202
    return jsonify(error=message), code


@bp.post("/<platform>")
def receive(platform: str):  # noqa: ANN201
    adapter = ADAPTERS.get(platform)
    if adapter is None:
        return _error(f"unknown platform {platform!r}", 404)
    raw = request.get_data(cache=False)
    if platform == "woocommerce" and adapter.is_ping(request.headers, raw):
        log.info("webhooks.ping", extra={"platform": platform})
        return _answer("ping")
    if not request.headers.get("X-Shopify-Hmac-Sha256" if platform == "shopify" else "X-WC-Webhook-Signature"):
        log.warning("webhooks.missing_signature", extra={"platform": platform})
        return _error("missing signature", 401)
    db = current_app.extensions["kompas.db"]
    config = current_app.config
    try:
        meta = adapter.read_headers(request.headers)
    except MissingHeaderError as exc:
        # Shopify's app secret is shop-independent: check it before saying anything about headers.
        if platform == "shopify" and not _shopify_signed(raw, config):
            log.warning("webhooks.invalid_signature", extra={"platform": platform})
            return _error("invalid signature", 401)
        log.warning("webhooks.bad_headers", extra={"platform": platform, "error": str(exc)})
        return _error(str(exc), 400)

    if platform == "shopify" and not _shopify_signed(raw, config):
        log.warning("webhooks.invalid_signature", extra={"platform": platform, "shop": meta.shop_domain})
        return _error("invalid signature", 401)
    domain = adapter.shop_key(meta.shop_domain)
    if platform == "woocommerce":
        # The secret is the shop's own: find the shop before verifying.
        found = shop_secret(db, platform, domain)
        if found is None:
            return _unknown_shop(platform, meta.shop_domain)
        try:
            verify_hmac_sha256_base64(raw, meta.signature, [found[1] or ""])
        except SignatureError as exc:
            log.warning("webhooks.invalid_signature", extra={"platform": platform, "shop": domain,
                                                             "reason": str(exc)})
            return _error("invalid signature", 401)

    # Verified from here on: the delivery is stored before it is acknowledged.
    broken = None
    try:
        json.loads(raw)
    except ValueError as exc:  # includes UnicodeDecodeError
        broken = f"body is not JSON: {exc}"
    known = meta.topic in adapter.TOPICS
    stored = current_app.extensions["kompas.deliveries"].store(
        platform=platform, domain=domain, topic=meta.topic, delivery_id=meta.delivery_id,
        dedupe_key=meta.dedupe_key, triggered_at=meta.triggered_at, body=raw,
        status=FAILED if broken else (RECEIVED if known else IGNORED), error=broken)
    if stored.outcome == UNKNOWN_SHOP:
        return _unknown_shop(platform, meta.shop_domain)
    if stored.outcome == DUPLICATE:
        log.info("webhooks.duplicate", extra={"platform": platform, "delivery_id": meta.delivery_id})
        return _answer("duplicate")
    delivery_id = stored.delivery_id
    if broken:
        log.warning("webhooks.unreadable_body", extra={"platform": platform, "delivery": delivery_id})
        return _error(broken, 400)
    if not known:
        log.info("webhooks.unknown_topic", extra={"platform": platform, "topic": meta.topic})
        return _answer("ignored", delivery=delivery_id)
    if not config["APPLY_INLINE"]:
        return _answer("accepted", delivery=delivery_id)
    return _answer(apply_one(db, delivery_id), delivery=delivery_id)


def _unknown_shop(platform: str, shop: str):  # noqa: ANN202
    log.warning("webhooks.unknown_shop", extra={"platform": platform, "shop": shop})
    return _error(f"unknown shop {shop!r}", 404)


def _shopify_signed(raw: bytes, config) -> bool:  # noqa: ANN001
    try:
        verify_hmac_sha256_base64(raw, request.headers.get("X-Shopify-Hmac-Sha256"),
                                  config["SHOPIFY_API_SECRETS"])
    except SignatureError:
        return False
    return True
