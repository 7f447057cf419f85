"""A small client for a store's REST API (`/wp-json/...`): HTTP Basic with the granted consumer
key and secret (WooCommerce accepts Basic over HTTPS only), JSON in and out, paging by the
X-WP-Total / X-WP-TotalPages headers, and retries of 429, 5xx and connection failures with
backoff (honouring Retry-After). Facts: shared/platforms/woocommerce.md §4.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import requests

from ..outbound import private_address, public_session

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
PER_PAGE = 100  # the REST maximum


class WooError(Exception):
    """A REST call failed: `status` is the HTTP status (0 without a response), `code` the REST
    error code WooCommerce gave, if any."""

    def __init__(self, message: str, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Page:
    items: list
    page: int
    total: int | None
    total_pages: int | None


class WooClient:
    """REST calls to one store. `site` is its URL without trailing slash."""

    def __init__(self, site: str, consumer_key: str, consumer_secret: str, *, timeout: float = 30.0,
                 attempts: int = 4, sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None) -> None:
        if not site.startswith("https://"):  # Basic auth would send the key in the clear
            raise WooError(f"{site}: WooCommerce API keys go over HTTPS only")
        self.site = site.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.http = session or public_session()   # public addresses only, pinned per connection
        self.http.auth = (consumer_key, consumer_secret)
        self.http.headers.update({"Accept": "application/json", "User-Agent": "Kompas (+WooCommerce connector)"})

    def url(self, path: str) -> str:
        return f"{self.site}/wp-json/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None) -> requests.Response:
        """One call, retried on 429/5xx/connection failures; WooError for any other failure."""
        url = self.url(path)
        problem = private_address(urlsplit(url).hostname or "")   # checked at every call: DNS can change
        if problem:
            raise WooError(f"{method} {self.site}: {problem}")
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.request(method, url, params=params, json=json, timeout=self.timeout,
                                             allow_redirects=False)
            except requests.RequestException as exc:
                if attempt == self.attempts:
                    raise WooError(f"{method} {url}: {exc}") from exc
                self._wait(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.attempts:
                log.info("woocommerce.retry", extra={"url": url, "status": response.status_code, "attempt": attempt})
                self._wait(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 300:
                raise _error(method, url, response)
            return response
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        try:
            delay = float(retry_after) if retry_after else 0.0
        except ValueError:
            delay = 0.0
        self.sleep(min(60.0, max(delay, 0.5 * 2 ** (attempt - 1))))

    def get(self, path: str, **params: Any) -> Any:
        return _json(self.request("GET", path, params=params))

    def post(self, path: str, data: Any) -> Any:
        return _json(self.request("POST", path, json=data))

    def put(self, path: str, data: Any) -> Any:
        return _json(self.request("PUT", path, json=data))

    def delete(self, path: str, **params: Any) -> Any:
        return _json(self.request("DELETE", path, params=params))

    def page(self, path: str, page: int, **params: Any) -> Page:
        """One page of a collection, with what the paging headers say."""
        response = self.request("GET", path, params={**params, "page": page, "per_page": PER_PAGE})
        items = _json(response)
        if not isinstance(items, list):
            raise WooError(f"GET {path}: expected a list, got {type(items).__name__}", response.status_code)
        return Page(items=items, page=page, total=_int(response.headers.get("X-WP-Total")),
                    total_pages=_int(response.headers.get("X-WP-TotalPages")))

    def pages(self, path: str, first: int = 1, **params: Any) -> Iterator[Page]:
        """Every page from `first` on, until X-WP-TotalPages (or an empty or short page)."""
        number = first
        while True:
            current = self.page(path, number, **params)
            if not current.items:
                return
            yield current
            if current.total_pages is not None:
                if number >= current.total_pages:
                    return
            elif len(current.items) < PER_PAGE:
                return
            number += 1


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _json(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise WooError(f"{response.request.method} {response.url}: the answer is not JSON "
                       "(is the REST API reachable at /wp-json/?)", response.status_code) from exc


def _error(method: str, url: str, response: requests.Response) -> WooError:
    code = message = None
    try:
        body = response.json()
        if isinstance(body, dict):
            code, message = body.get("code"), body.get("message")
    except ValueError:
        pass
    text = f"{method} {url}: HTTP {response.status_code}" + (f" {code}: {message}" if code else "")
    return WooError(text, response.status_code, code)
