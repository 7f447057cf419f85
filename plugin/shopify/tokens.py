"""Access tokens: token exchange, the code grant's exchange, and refreshing expiring offline tokens.

Kompas works with **expiring offline tokens** (shopify.md §4.3–4.4): 60 minutes, with a refresh
token. `TokenKeeper.access_token` hands out a token that is valid for at least REFRESH_MARGIN
more, refreshing it first when needed, and `refreshed_after_401` refreshes once when Shopify
refuses one early (a rotated secret, a revoked grant). A refresh happens under the shop's token
lock (`Database.exclusive`), so that processes refreshing at once spend the refresh token once.
Tokens are stored sealed (plugin.credentials, kind "shopify_offline").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import requests

from ..credentials import SHOPIFY_OFFLINE, drop_credentials, load_credential, save_credential

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"
REFRESH_MARGIN = timedelta(minutes=5)
TIMEOUT = 15


class ShopifyAuthError(Exception):
    """Shopify refused to give or refresh a token. `status` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OfflineToken:
    access_token: str
    scope: str
    expires_at: float | None            # epoch seconds; None: a non-expiring (legacy) token
    refresh_token: str | None
    refresh_token_expires_at: float | None

    @classmethod
    def from_response(cls, body: dict[str, Any], now: datetime) -> "OfflineToken":
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ShopifyAuthError("the token response has no access_token")
        start = now.timestamp()
        expires_in, refresh_in = body.get("expires_in"), body.get("refresh_token_expires_in")
        return cls(access_token=str(body["access_token"]), scope=str(body.get("scope") or ""),
                   expires_at=start + float(expires_in) if expires_in else None,
                   refresh_token=body.get("refresh_token") or None,
                   refresh_token_expires_at=start + float(refresh_in) if refresh_in else None)

    def valid_until(self) -> datetime | None:
        return None if self.expires_at is None else datetime.fromtimestamp(self.expires_at, timezone.utc)

    def needs_refresh(self, now: datetime) -> bool:
        until = self.valid_until()
        return until is not None and until - now < REFRESH_MARGIN

    @property
    def scopes(self) -> set[str]:
        return {s.strip() for s in self.scope.split(",") if s.strip()}


def _post(http: requests.Session, shop: str, payload: dict[str, str], now: datetime) -> OfflineToken:
    try:
        response = http.post(f"https://{shop}/admin/oauth/access_token", json=payload, timeout=TIMEOUT,
                             headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise ShopifyAuthError(f"Shopify did not answer: {exc}") from exc
    if response.status_code != 200:
        try:
            detail = response.json()
        except ValueError:
            detail = response.text[:200]
        raise ShopifyAuthError(f"Shopify refused the token request ({response.status_code}): {detail}",
                               response.status_code)
    try:
        body = response.json()
    except ValueError as exc:
        raise ShopifyAuthError("the token response is not JSON") from exc
    return OfflineToken.from_response(body, now)


def exchange_session_token(http: requests.Session, shop: str, session_token: str, *, api_key: str,
                           secret: str, now: datetime) -> OfflineToken:
    """An expiring offline token for the shop of a (verified) session token."""
    return _post(http, shop, {"client_id": api_key, "client_secret": secret, "grant_type": TOKEN_EXCHANGE,
                              "subject_token": session_token, "subject_token_type": ID_TOKEN,
                              "requested_token_type": OFFLINE_TOKEN, "expiring": "1"}, now)


def exchange_code(http: requests.Session, shop: str, code: str, *, api_key: str, secret: str,
                  now: datetime) -> OfflineToken:
    """The code grant's last step: an expiring offline token for the authorization code."""
    return _post(http, shop, {"client_id": api_key, "client_secret": secret, "code": code, "expiring": "1"}, now)


def refresh(http: requests.Session, shop: str, token: OfflineToken, *, api_key: str, secret: str,
            now: datetime) -> OfflineToken:
    if not token.refresh_token:
        raise ShopifyAuthError("the token cannot be refreshed (no refresh token): the merchant must open the app")
    return _post(http, shop, {"client_id": api_key, "client_secret": secret, "grant_type": "refresh_token",
                              "refresh_token": token.refresh_token}, now)


class TokenKeeper:
    """A shop's offline token from the database, refreshed before it expires and after a 401."""

    def __init__(self, app, shop_id: int, shop: str, http: requests.Session | None = None,  # noqa: ANN001
                 clock: Callable[[], datetime] | None = None) -> None:
        self.app, self.shop_id, self.shop = app, shop_id, shop
        self.http = http or requests.Session()
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    @property
    def _db(self):  # noqa: ANN202
        return self.app.extensions["kompas.db"]

    @property
    def _vault(self):  # noqa: ANN202
        return self.app.extensions["kompas.vault"]

    def load(self) -> OfflineToken:
        with self._db.reading() as session:
            data = load_credential(session, self._vault, self.shop_id, SHOPIFY_OFFLINE)
        if data is None:
            raise ShopifyAuthError(f"no access token for {self.shop}: the merchant must open the app", 401)
        return OfflineToken(**data)

    def save(self, token: OfflineToken) -> None:
        with self._db.transaction() as session:
            save_credential(session, self._vault, self.shop_id, SHOPIFY_OFFLINE, asdict(token), token.valid_until())

    def access_token(self) -> str:
        token = self.load()
        if token.needs_refresh(self.clock()):
            token = self._refresh_once(lambda stored: stored.needs_refresh(self.clock()))
        return token.access_token

    def refreshed_after_401(self, refused: str) -> str:
        """A token to retry with after Shopify refused `refused`: refreshed, unless another process
        already put a new one in its place."""
        return self._refresh_once(lambda stored: stored.access_token == refused).access_token

    def _refresh_once(self, still_needed: Callable[[OfflineToken], bool]) -> OfflineToken:
        """Refresh under the shop's token lock, if the stored token `still_needed` it once the lock is
        held. Web workers, the job worker and cron that find the token expiring at once refresh it
        once: the others wait, then take the new one, instead of each spending the refresh token
        (rotated at every refresh) and one of them dropping the grant when Shopify refuses its
        already spent one."""
        with self._db.exclusive("shopify_token", self.shop_id):
            token = self.load()
            return self._refresh(token) if still_needed(token) else token

    def _refresh(self, token: OfflineToken) -> OfflineToken:
        config = self.app.config
        try:
            fresh = refresh(self.http, self.shop, token, api_key=config["SHOPIFY_API_KEY"],
                            secret=config["SHOPIFY_API_SECRETS"][0], now=self.clock())
        except ShopifyAuthError as exc:
            if exc.status in (400, 401):  # the grant is gone: forget it, the next panel open exchanges anew
                with self._db.transaction() as session:
                    stored = load_credential(session, self._vault, self.shop_id, SHOPIFY_OFFLINE)
                    # unless a new install saved another grant meanwhile
                    if stored is not None and stored.get("refresh_token") == token.refresh_token:
                        drop_credentials(session, self.shop_id, SHOPIFY_OFFLINE)
            raise
        self.save(fresh)
        return fresh
