"""What the resync repaired lately, for the panel's freshness line."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from ..models import Shop, WooCommerceSite

SHOWN_FOR = timedelta(days=7)


def recent_repair(session: Session, shop: Shop, now: datetime | None = None) -> dict | None:
    """{orders, webhooks, at} of the last pass that repaired something, if within a week."""
    site = session.get(WooCommerceSite, shop.id)
    if site is None or site.last_repair_at is None:
        return None
    at = site.last_repair_at if site.last_repair_at.tzinfo else site.last_repair_at.replace(tzinfo=timezone.utc)
    if (now or datetime.now(timezone.utc)) - at > SHOWN_FOR:
        return None
    return {"orders": site.last_repair_orders, "webhooks": site.last_repair_webhooks, "at": at}
