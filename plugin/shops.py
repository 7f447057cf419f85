"""Registering and finding shops."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from .alerts.rules import install_default_rules
from .kpi.booking import shop_zone
from .models import Shop

PLATFORMS = ("shopify", "woocommerce")
_MYSHOPIFY = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ShopError(ValueError):
    """A shop cannot be registered or found as asked."""


def shop_key(platform: str, domain: str) -> str:
    """The shop's key: a lower-cased *.myshopify.com domain, or a WooCommerce site URL without
    trailing slash (X-WC-Webhook-Source sends it with one)."""
    domain = (domain or "").strip().lower()
    if platform == "shopify":
        if not _MYSHOPIFY.match(domain):
            raise ShopError(f"not a myshopify.com domain: {domain!r}")
        return domain
    if platform == "woocommerce":
        parts = urlsplit(domain)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ShopError(f"not a site URL (https://…): {domain!r}")
        return domain.rstrip("/")
    raise ShopError(f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}")


def add_shop(session: Session, *, platform: str, domain: str, timezone_name: str, currency: str,
             webhook_secret: str | None = None, name: str | None = None) -> Shop:
    key = shop_key(platform, domain)
    try:
        shop_zone(timezone_name)
    except ValueError as exc:
        raise ShopError(str(exc)) from exc
    currency = (currency or "").strip().upper()
    if not _CURRENCY.match(currency):
        raise ShopError(f"not an ISO 4217 currency code: {currency!r}")
    if platform == "woocommerce" and not webhook_secret:
        raise ShopError("a WooCommerce shop needs --webhook-secret (its webhooks' secret)")
    if webhook_secret and len(webhook_secret.encode()) > 100:
        raise ShopError("a webhook secret can be at most 100 bytes")
    if session.scalar(select(Shop).where(Shop.domain == key)) is not None:
        raise ShopError(f"shop {key} already exists")
    shop = Shop(platform=platform, domain=key, name=name, currency=currency, timezone=timezone_name,
                webhook_secret=webhook_secret, customer_hash_key=secrets.token_hex(32),
                created_at=datetime.now(timezone.utc))
    session.add(shop)
    session.flush()
    install_default_rules(session, shop.id)
    return shop


def find_shop(session: Session, key: str) -> Shop:
    """The shop whose key is `key` (a myshopify domain, or a site URL with or without slash)."""
    normalized = (key or "").strip().lower().rstrip("/")
    shop = session.scalar(select(Shop).where(Shop.domain == normalized))
    if shop is None:
        raise ShopError(f"unknown shop {key!r}")
    return shop
