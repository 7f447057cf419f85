"""Installing Kompas into a shop: a token, the shop's facts, the shop row, then the backfill.

Both ways in end here: token exchange (the embedded panel's first request carries a session
token; Shopify managed install) and the authorization code grant (plugin.shopify.views).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import backfill
from ..credentials import SHOPIFY_OFFLINE, save_credential
from ..models import Shop
from ..shops import add_shop
from .admin_api import AdminApi, sleeper
from .tokens import OfflineToken

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"
SHOP_QUERY = "{ shop { name currencyCode ianaTimezone myshopifyDomain } }"
ALL_ORDERS_SCOPE = "read_all_orders"
SIXTY_DAYS_NOTE = ("Shopify shares only the last 60 days of orders until the app is granted "
                   "read_all_orders: older history is not counted")


def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def shopify_manifest() -> dict:
    return manifest()["platforms"]["shopify"]


class _FixedToken:
    """A token that is not stored yet (the shop row does not exist before its facts are read)."""

    def __init__(self, shop: str, token: OfflineToken, http: requests.Session) -> None:
        self.shop, self.token, self.http = shop, token, http

    def access_token(self) -> str:
        return self.token.access_token

    def refreshed_after_401(self, refused: str) -> str:  # noqa: ARG002 - TokenKeeper's signature
        """Nothing to refresh yet: the fresh token again (a second 401 then fails the install)."""
        return self.token.access_token


def install(app, domain: str, token: OfflineToken, http: requests.Session | None = None) -> Shop:  # noqa: ANN001
    """Create (or re-activate) the shop with its token and queue its history backfill."""
    http = http or requests.Session()
    api = AdminApi(_FixedToken(domain, token, http), shopify_manifest()["api_version"], http, sleep=sleeper(app))
    facts = api.graphql(SHOP_QUERY).get("shop") or {}
    if not facts.get("currencyCode") or not facts.get("ianaTimezone"):
        raise ValueError(f"Shopify did not give the shop's currency and time zone: {facts}")
    db = app.extensions["kompas.db"]
    try:
        shop_id = _save(app, domain, token, facts)
    except IntegrityError:  # two first requests at once: the other created the shop; this token is the newer
        shop_id = _save(app, domain, token, facts)
    note = None if ALL_ORDERS_SCOPE in token.scopes else SIXTY_DAYS_NOTE
    backfill.queue(db, shop_id, "shopify_bulk", note=note)
    with db.reading() as session:
        return session.get(Shop, shop_id)


def _save(app, domain: str, token: OfflineToken, facts: dict) -> int:  # noqa: ANN001
    """The shop row (created or re-activated) with its sealed token; returns its id."""
    with app.extensions["kompas.db"].transaction() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain))
        if shop is None:
            shop = add_shop(session, platform="shopify", domain=domain, timezone_name=facts["ianaTimezone"],
                            currency=facts["currencyCode"], name=facts.get("name"))
            log.info("shopify.installed", extra={"shop": domain})
        else:
            # Figures are booked in the zone and currency they were counted in: kept as they are.
            shop.name = facts.get("name") or shop.name
            shop.uninstalled_at = None
            log.info("shopify.reinstalled", extra={"shop": domain})
        shop.scopes = token.scope
        save_credential(session, app.extensions["kompas.vault"], shop.id, SHOPIFY_OFFLINE, asdict(token),
                        token.valid_until())
        return shop.id


def ensure_installed(app, domain: str, session_token: str, http: requests.Session | None = None) -> Shop | None:  # noqa: ANN001
    """The shop of a verified session token, installing it first when Kompas does not have it (the
    first open after Shopify's managed install), it was uninstalled, or its token was lost.

    Shops registered by hand (`kompas shop add`, the demo) have no granted scopes and are left
    as they are. Raises ShopifyAuthError / ShopifyApiError when Shopify refuses.
    """
    from ..credentials import credential_kinds
    from .tokens import exchange_session_token

    db = app.extensions["kompas.db"]
    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domain))
        has_token = shop is not None and SHOPIFY_OFFLINE in credential_kinds(session, shop.id)
    if shop is not None and shop.uninstalled_at is None and (has_token or shop.scopes is None):
        return shop
    http = http or requests.Session()
    config = app.config
    token = exchange_session_token(http, domain, session_token, api_key=config["SHOPIFY_API_KEY"],
                                   secret=config["SHOPIFY_API_SECRETS"][0], now=backfill.utcnow())
    return install(app, domain, token, http)
