"""The GraphQL Admin API, as Kompas uses it: queries with backoff, and streaming a bulk result.

Shopify answers "too much, slow down" in three ways (shopify.md §5): HTTP 429 (with
Retry-After), HTTP 5xx, and HTTP 200 whose `errors` carry `extensions.code == "THROTTLED"`
(the cost-based leaky bucket; `extensions.cost.throttleStatus` says how fast it refills). All
three are retried with backoff; a 401 refreshes the token once and retries.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

import requests

from .tokens import ShopifyAuthError, TokenKeeper

log = logging.getLogger(__name__)
TIMEOUT = 30
MAX_ATTEMPTS = 6
BACKOFF_CAP_SECONDS = 60.0


class ShopifyApiError(Exception):
    """The Admin API refused a request for good (after retries), or answered with errors."""


def _throttle_wait(body: dict[str, Any], attempt: int) -> float | None:
    """Seconds to wait when the answer says THROTTLED, else None."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not any(
            isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost.get("requestedQueryCost", 0)) - float(status.get("currentlyAvailable", 0))
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        missing, rate = 0.0, 0.0
    if missing > 0 and rate > 0:
        return min(BACKOFF_CAP_SECONDS, missing / rate + 0.1)
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_CAP_SECONDS, 0.5 * 2 ** attempt)


def _retry_after(response: requests.Response, attempt: int) -> float:
    try:
        return min(BACKOFF_CAP_SECONDS, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return _backoff(attempt)


def sleeper(app) -> Callable[[float], None]:  # noqa: ANN001
    """How the app waits between retries: time.sleep, or what a test put in app.extensions."""
    return app.extensions.get("kompas.sleep", time.sleep)


class AdminApi:
    """One shop's GraphQL Admin API. `sleep` is injectable so tests never wait."""

    def __init__(self, keeper: TokenKeeper, api_version: str, http: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.keeper, self.api_version = keeper, api_version
        self.http = http or keeper.http
        self.sleep = sleep
        self.waited = 0.0  # seconds spent backing off (logged, and visible to tests)

    @property
    def url(self) -> str:
        return f"https://{self.keeper.shop}/admin/api/{self.api_version}/graphql.json"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a query; ShopifyApiError on GraphQL errors or when retries run out."""
        token = self.keeper.access_token()
        refreshed = False
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self.http.post(self.url, json={"query": query, "variables": variables or {}},
                                          headers={"X-Shopify-Access-Token": token}, timeout=TIMEOUT)
            except requests.RequestException as exc:
                self._wait(_backoff(attempt), f"network: {exc}")
                continue
            if response.status_code == 401 and not refreshed:
                token, refreshed = self.keeper.refreshed_after_401(token), True
                continue
            if response.status_code == 429:
                self._wait(_retry_after(response, attempt), "429")
                continue
            if response.status_code >= 500:
                self._wait(_backoff(attempt), str(response.status_code))
                continue
            if response.status_code != 200:
                raise ShopifyApiError(f"Admin API answered {response.status_code}: {response.text[:300]}")
            body = response.json()
            wait = _throttle_wait(body, attempt)
            if wait is not None:
                self._wait(wait, "THROTTLED")
                continue
            if body.get("errors"):
                raise ShopifyApiError(f"GraphQL errors: {body['errors']}")
            return body.get("data") or {}
        raise ShopifyApiError(f"the Admin API kept refusing after {MAX_ATTEMPTS} attempts")

    def _wait(self, seconds: float, why: str) -> None:
        log.info("shopify.backoff", extra={"shop": self.keeper.shop, "seconds": seconds, "why": why})
        self.waited += seconds
        self.sleep(seconds)

    def stream_lines(self, url: str) -> Iterator[bytes]:
        """The lines of a bulk operation's JSONL result, read as they arrive (never all at once)."""
        with self.http.get(url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise ShopifyApiError(f"the bulk result could not be downloaded ({response.status_code})")
            for line in response.iter_lines(chunk_size=1 << 16):
                if line:
                    yield line


__all__ = ["AdminApi", "ShopifyApiError", "ShopifyAuthError"]
