"""What the resync checked and repaired, for the panel's freshness line (the `reconciliation` of
/panel/view.json, which Shopify shops get from their reconciliation runs)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app

from ..models import Shop, WooCommerceSite
from .. import i18n

SHOWN_FOR = timedelta(days=7)  # a repair stays in the line this long, though passes run every 15 min


def panel_line(shop: Shop, language: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The last pass that repaired something, if within a week; else the last pass; else None.

    `corrections` counts deliveries WooCommerce lost (orders whose REST state was newer than the
    one Kompas had), not refund details the pass added, so it tells the merchant what was missed.
    """
    with current_app.extensions["kompas.db"].reading() as session:
        site = session.get(WooCommerceSite, shop.id)
    if site is None or site.checked_at is None:
        return None
    now = now or datetime.now(timezone.utc)
    if site.last_repair_at is not None and now - site.last_repair_at <= SHOWN_FOR:
        at = site.last_repair_at
        text = i18n.t("sync.woocommerce_repaired", language, when=i18n.moment(at, shop.timezone, language),
                      orders=i18n.number(site.last_repair_orders, language),
                      webhooks=i18n.number(site.last_repair_webhooks, language))
        return {"finished_at": at.isoformat(), "corrections": site.last_repair_orders,
                "repaired_webhooks": site.last_repair_webhooks, "text": text}
    at = site.checked_at
    return {"finished_at": at.isoformat(), "corrections": 0, "repaired_webhooks": 0,
            "text": i18n.t("sync.clean", language, when=i18n.moment(at, shop.timezone, language))}
