"""POST /webhooks/<platform>: the guard-clause ladder, then store, then (maybe) apply.

Each rung answers with its own status and log event:
  unknown platform 404 · wrong method 405 · WooCommerce ping 200 · missing or bad signature 401
  (nothing stored) · unreadable headers 400 · unknown shop 404 · broken JSON 200 "failed" (stored
  as failed, to look at: it is genuine, and section 8 answers every genuine delivery 2xx; a 4xx
  would only bring the same bytes back, and counts towards WooCommerce disabling the webhook) ·
  duplicate 200 · unknown topic 200 (stored as ignored) · accepted 200.
Shopify's app/uninstalled and privacy webhooks are handled in the request, after the HMAC, and
not stored (plugin.shopify.lifecycle).
A 5xx means Kompas itself failed before the delivery was committed, so the platform's retry is
the copy that is not lost. Once committed, a delivery is never answered with an error: a failure
while applying it is kept on the row for `kompas replay` (WooCommerce never retries anyway).

The receiver is a thin WSGI layer in front of the Flask app (`WebhookIntake`) rather than a
Flask view: deliveries are the one path whose volume the shops, not people, decide, and Flask's
per-request machinery (request and app contexts, routing, response objects) cost more CPU than
verifying and storing a delivery. Everything else about the app stays Flask.
"""
from __future__ import annotations

import html
import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Mapping

import orjson
import simdjson

from plugin.applier import FAILED, IGNORED, RECEIVED, apply_one
from plugin.kpi.booking import InstantError, parse_instant
from plugin.shopify.lifecycle import LIFECYCLE_TOPICS, handle as handle_lifecycle

from .platforms.base import MissingHeaderError
from .registry import ADAPTERS
from .signatures import SignatureError, verify_hmac_sha256_base64
from .store import DUPLICATE, UNKNOWN_SHOP, shop_secret

log = logging.getLogger(__name__)
PREFIX = "/webhooks/"
MAX_BODY = 10 * 1024 * 1024  # Shopify's largest orders are far below this


@dataclass(frozen=True)
class Answer:
    code: int
    body: dict[str, Any]


def _ok(status: str, delivery: int | None = None) -> Answer:
    return Answer(200, {"status": status} if delivery is None else {"status": status, "delivery": delivery})


def _error(message: str, code: int) -> Answer:
    return Answer(code, {"error": message})


def receive(app, platform: str, headers: Mapping[str, str], raw: bytes) -> Answer:  # noqa: ANN001
    """Answer one delivery to POST /webhooks/<platform>."""
    adapter = ADAPTERS.get(platform)
    if adapter is None:
        return _error(f"unknown platform {platform!r}", 404)
    if platform == "woocommerce" and adapter.is_ping(headers, raw):
        log.info("webhooks.ping", extra={"platform": platform})
        return _ok("ping")
    if not headers.get("X-Shopify-Hmac-Sha256" if platform == "shopify" else "X-WC-Webhook-Signature"):
        log.warning("webhooks.missing_signature", extra={"platform": platform})
        return _error("missing signature", 401)
    db = app.extensions["kompas.db"]
    config = app.config
    try:
        meta = adapter.read_headers(headers)
    except MissingHeaderError as exc:
        # Shopify's app secret is shop-independent: check it before saying anything about headers.
        if platform == "shopify" and not _shopify_signed(raw, headers, config):
            log.warning("webhooks.invalid_signature", extra={"platform": platform})
            return _error("invalid signature", 401)
        log.warning("webhooks.bad_headers", extra={"platform": platform, "error": str(exc)})
        return _error(str(exc), 400)

    if platform == "shopify" and not _shopify_signed(raw, headers, config):
        log.warning("webhooks.invalid_signature", extra={"platform": platform, "shop": meta.shop_domain})
        return _error("invalid signature", 401)
    domain = adapter.shop_key(meta.shop_domain)
    if platform == "shopify" and meta.topic in LIFECYCLE_TOPICS:
        return _lifecycle(db, meta.topic, domain, raw, meta.triggered_at)
    if platform == "woocommerce":
        # The secret is the shop's own: find the shop before verifying.
        found = shop_secret(db, platform, domain)
        if found is None:
            return _unknown_shop(platform, meta.shop_domain)
        try:
            verify_hmac_sha256_base64(raw, meta.signature, _woocommerce_keys(found[1] or ""))
        except SignatureError as exc:
            log.warning("webhooks.invalid_signature", extra={"platform": platform, "shop": domain,
                                                             "reason": str(exc)})
            return _error("invalid signature", 401)

    # Verified from here on: the delivery is stored before it is acknowledged.
    broken = _unreadable(raw)
    known = meta.topic in adapter.TOPICS
    stored = app.extensions["kompas.deliveries"].store(
        platform=platform, domain=domain, topic=meta.topic, delivery_id=meta.delivery_id,
        dedupe_key=meta.dedupe_key, triggered_at=meta.triggered_at, body=raw,
        status=FAILED if broken else (RECEIVED if known else IGNORED), error=broken)
    if stored.outcome == UNKNOWN_SHOP:
        return _unknown_shop(platform, meta.shop_domain)
    if stored.outcome == DUPLICATE:
        log.info("webhooks.duplicate", extra={"platform": platform, "delivery_id": meta.delivery_id})
        return _ok("duplicate")
    delivery_id = stored.delivery_id
    if broken:
        log.warning("webhooks.unreadable_body", extra={"platform": platform, "delivery": delivery_id})
        return Answer(200, {"status": FAILED, "delivery": delivery_id, "error": broken})
    if not known:
        log.info("webhooks.unknown_topic", extra={"platform": platform, "topic": meta.topic})
        return _ok("ignored", delivery_id)
    if not config["APPLY_INLINE"]:
        return _ok("accepted", delivery_id)
    try:
        return _ok(apply_one(db, delivery_id), delivery_id)
    except Exception:  # noqa: BLE001 - committed already: the worker or `kompas drain` applies it later
        log.exception("webhooks.inline_apply_failed", extra={"platform": platform, "delivery": delivery_id})
        return _ok("accepted", delivery_id)


def _woocommerce_keys(secret: str) -> list[str]:
    """The keys a WooCommerce signature can be made with: WooCommerce signs with its stored
    secret after wp_specialchars_decode (woocommerce.md §1), so a secret given to Kompas as it
    shows in WooCommerce's form ("a&amp;b") signs as "a&b". Secrets Kompas generates have no
    entities; one given to `kompas shop add` may."""
    decoded = html.unescape(secret)
    return [secret] if decoded == secret else [secret, decoded]


def _lifecycle(db, topic: str, domain: str, raw: bytes, triggered_at: str | None) -> Answer:  # noqa: ANN001
    """app/uninstalled and the privacy webhooks: handled now, not stored (they carry personal data)."""
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        log.warning("webhooks.unreadable_body", extra={"platform": "shopify", "topic": topic})
        return _error(f"body is not JSON: {exc}", 400)
    try:
        triggered = parse_instant(triggered_at) if triggered_at else None
    except InstantError:
        triggered = None  # an unreadable header: treated as current
    done = handle_lifecycle(db, topic, domain, payload, triggered_at=triggered)
    log.info("webhooks.lifecycle", extra={"topic": topic, "shop": domain, "done": done})
    return Answer(200, {"status": "handled", "done": done})


def _unreadable(raw: bytes) -> str | None:
    """Why the body is not JSON, or None when it is.

    simdjson checks the common case without building a single Python object (about a sixth of
    orjson.loads' cost on an order, which builds the whole tree only to throw it away). It is
    stricter than the standard library (NaN, lone surrogates, numbers out of range), never
    looser, so only a body it refuses is read again by the standard library, whose verdict
    stands: what counts as JSON is what the applier reads."""
    try:
        _json_checker().parse(raw)
        return None
    except (ValueError, RuntimeError):   # simdjson's refusals (ValueError, or RuntimeError for a few)
        pass
    try:
        json.loads(raw)
        return None
    except ValueError as exc:  # includes UnicodeDecodeError
        return f"body is not JSON: {exc}"
    except RecursionError:  # nested deeper than the standard library reads (orjson and simdjson: 1,024)
        return "body is not JSON: nested too deeply"


_checkers = threading.local()


def _json_checker() -> simdjson.Parser:
    """This thread's simdjson parser: a parser reuses its buffers and is not shared between threads."""
    try:
        return _checkers.parser
    except AttributeError:
        _checkers.parser = simdjson.Parser()
        return _checkers.parser


def _unknown_shop(platform: str, shop: str) -> Answer:
    log.warning("webhooks.unknown_shop", extra={"platform": platform, "shop": shop})
    return _error(f"unknown shop {shop!r}", 404)


def _shopify_signed(raw: bytes, headers: Mapping[str, str], config) -> bool:  # noqa: ANN001
    try:
        verify_hmac_sha256_base64(raw, headers.get("X-Shopify-Hmac-Sha256"), config["SHOPIFY_API_SECRETS"])
    except SignatureError:
        return False
    return True


@lru_cache(maxsize=64)
def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


class RequestHeaders(Mapping[str, str]):
    """The request's headers read straight from the WSGI environ, by case-insensitive name.

    The same answers as werkzeug's EnvironHeaders for the handful of lookups a delivery needs, at a
    fraction of its cost per lookup (this is the per-request path the shops' volume decides)."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return self._environ[_environ_key(name)]

    def get(self, name: str, default: Any = None) -> Any:  # noqa: ANN401
        return self._environ.get(_environ_key(name), default)

    def __iter__(self) -> Iterator[str]:
        for key in self._environ:
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                yield key.replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)


_REASONS = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 404: "404 Not Found",
            405: "405 Method Not Allowed", 413: "413 Payload Too Large", 500: "500 Internal Server Error"}


class WebhookIntake:
    """WSGI middleware: requests under /webhooks/ are answered by `receive`, all others by Flask."""

    def __init__(self, app, wsgi_app: Callable) -> None:  # noqa: ANN001
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.wsgi_app(environ, start_response)
        platform = path[len(PREFIX):].strip("/")
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                answer = _error("use POST", 405)
            else:
                raw = self._body(environ)
                if raw is None:
                    answer = _error("body too large", 413)
                else:
                    with self.app.extensions["kompas.deliveries"].receiving():
                        answer = receive(self.app, platform, RequestHeaders(environ), raw)
        except Exception:  # noqa: BLE001 - our own failure: 500, the platform retries
            log.exception("webhooks.internal_error", extra={"platform": platform})
            answer = _error("internal error", 500)
        body = orjson.dumps(answer.body)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if answer.code == 405:
            headers.append(("Allow", "POST"))
        start_response(_REASONS[answer.code], headers)
        return [body]

    @staticmethod
    def _body(environ: dict) -> bytes | None:
        """The raw body, or None when it is larger than MAX_BODY."""
        stream = environ["wsgi.input"]
        if environ.get("CONTENT_LENGTH"):
            length = int(environ["CONTENT_LENGTH"])
            return None if length > MAX_BODY else stream.read(length)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():  # the server de-chunks
            raw = stream.read(MAX_BODY + 1)
            return None if len(raw) > MAX_BODY else raw
        return b""
