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

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin.applier import FAILED, IGNORED, RECEIVED, apply_one, utcnow
from plugin.models import Delivery, Shop

from .platforms.base import MissingHeaderError, PayloadError
from .registry import ADAPTERS
from .signatures import SignatureError, verify_hmac_sha256_base64

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _answer(status: str, code: int = 200, **extra):  # noqa: ANN202
    return jsonify(status=status, **extra), code


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
    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == adapter.shop_key(meta.shop_domain)))
    if shop is None or shop.platform != platform:
        log.warning("webhooks.unknown_shop", extra={"platform": platform, "shop": meta.shop_domain})
        return _error(f"unknown shop {meta.shop_domain!r}", 404)
    if platform == "woocommerce":
        try:
            verify_hmac_sha256_base64(raw, meta.signature, [shop.webhook_secret or ""])
        except SignatureError as exc:
            log.warning("webhooks.invalid_signature", extra={"platform": platform, "shop": shop.domain,
                                                             "reason": str(exc)})
            return _error("invalid signature", 401)

    # Verified from here on: the delivery is stored before it is acknowledged.
    broken = None
    try:
        json.loads(raw)
    except ValueError as exc:  # includes UnicodeDecodeError
        broken = f"body is not JSON: {exc}"
    known = meta.topic in adapter.TOPICS
    status = FAILED if broken else (RECEIVED if known else IGNORED)
    delivery = Delivery(shop_id=shop.id, platform=platform, topic=meta.topic, delivery_id=meta.delivery_id,
                        dedupe_key=meta.dedupe_key, received_at=utcnow(), triggered_at=meta.triggered_at,
                        body=raw, status=status, error=broken, attempts=0)
    try:
        with db.transaction() as session:
            session.add(delivery)
    except IntegrityError:
        log.info("webhooks.duplicate", extra={"platform": platform, "delivery_id": meta.delivery_id})
        return _answer("duplicate")
    if broken:
        log.warning("webhooks.unreadable_body", extra={"platform": platform, "delivery": delivery.id})
        return _error(broken, 400)
    if not known:
        log.info("webhooks.unknown_topic", extra={"platform": platform, "topic": meta.topic})
        return _answer("ignored", delivery=delivery.id)
    if not config["APPLY_INLINE"]:
        return _answer("accepted", delivery=delivery.id)
    return _answer(_apply_now(db, delivery.id), delivery=delivery.id)


def _shopify_signed(raw: bytes, config) -> bool:  # noqa: ANN001
    try:
        verify_hmac_sha256_base64(raw, request.headers.get("X-Shopify-Hmac-Sha256"),
                                  config["SHOPIFY_API_SECRETS"])
    except SignatureError:
        return False
    return True


def _apply_now(db, delivery_id: int) -> str:  # noqa: ANN001
    """Apply a just-stored delivery in the request (APPLY_INLINE). A failure stays on the row."""
    return apply_one(db, delivery_id)
