"""Daily and weekly summary e-mails of the main KPIs against the previous period, opt-in per
address (alert_channels.digest_daily / digest_weekly).

From DIGEST_HOUR shop-local on, a run schedules yesterday's daily digest (against the day before),
and on Mondays last week's weekly digest (Monday to Sunday, against the week before), as outbox
rows whose unique key names the period and the address: however many runs there are, each
address gets each digest once. The figures are section 7's report (plugin.report.build), so they
are the numbers `kompas report` prints.
"""
from __future__ import annotations

import html
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import report
from ..db import Database
from ..kpi import derived
from ..kpi.booking import shop_zone
from ..models import Shop
from ..upserts import insert_new
from .. import i18n
from .models import AlertChannel, AlertNotification

DIGEST_HOUR = 7
# (report key, kind, whether a rise is good)
DIGEST_KPIS = [("net_sales", "money", True), ("orders", "count", True), ("average_order_value", "money", True),
               ("checkout_conversion", "rate", True), ("return_rate", "rate", False), ("refunds", "money", False),
               ("new_customers", "count", True)]


def figures(session: Session, shop: Shop, first: date, last: date) -> dict[str, Any]:
    """The digest's payload: the period, the one before it, and each KPI in both."""
    days = (last - first).days + 1
    pfirst, plast = first - timedelta(days=days), first - timedelta(days=1)
    current = report.build(session, shop, first, last)["kpis"]
    previous = report.build(session, shop, pfirst, plast)["kpis"]
    return {"from": first.isoformat(), "to": last.isoformat(), "previous_from": pfirst.isoformat(),
            "previous_to": plast.isoformat(),
            "kpis": [{"key": key, "kind": kind, "rise_is_good": good, "current": current.get(key),
                      "previous": previous.get(key)} for key, kind, good in DIGEST_KPIS]}


def _insert(session: Session, row: dict[str, Any]) -> bool:
    table = AlertNotification.__table__
    result = session.execute(insert_new(session, table, ["dedupe_key"]).values(**row).returning(table.c.id))
    return result.first() is not None


def schedule(db: Database, now: datetime) -> int:
    """Outbox rows for the digests due at `now` that are not there yet; returns how many were added."""
    added = 0
    now = now.astimezone(timezone.utc)   # stored times are UTC (SQLite keeps no offset)
    with db.transaction() as session:
        channels = list(session.scalars(select(AlertChannel).where(
            AlertChannel.kind == "email", AlertChannel.enabled.is_(True),
            AlertChannel.digest_daily.is_(True) | AlertChannel.digest_weekly.is_(True),
            AlertChannel.shop_id.in_(select(Shop.id).where(Shop.uninstalled_at.is_(None)))).order_by(AlertChannel.id)))
        by_shop: dict[int, list[AlertChannel]] = {}
        for channel in channels:
            by_shop.setdefault(channel.shop_id, []).append(channel)
        for shop_id, mine in by_shop.items():
            shop = session.get(Shop, shop_id)
            local = now.astimezone(shop_zone(shop.timezone))
            if local.hour < DIGEST_HOUR:
                continue
            yesterday = local.date() - timedelta(days=1)
            periods = [("digest_daily", yesterday, yesterday, [c for c in mine if c.digest_daily])]
            if local.weekday() == 0:
                periods.append(("digest_weekly", yesterday - timedelta(days=6), yesterday,
                                [c for c in mine if c.digest_weekly]))
            for kind, first, last, recipients in periods:
                keys = {channel.id: f"{kind}:{first.isoformat()}:channel:{channel.id}" for channel in recipients}
                have = set(session.scalars(select(AlertNotification.dedupe_key).where(
                    AlertNotification.dedupe_key.in_(list(keys.values())))))
                missing = [channel for channel in recipients if keys[channel.id] not in have]
                if not missing:
                    continue
                payload = dict(figures(session, shop, first, last), period=kind)
                for channel in missing:
                    added += _insert(session, {
                        "shop_id": shop.id, "channel_id": channel.id, "event_id": None, "kind": kind,
                        "dedupe_key": keys[channel.id], "payload": payload,
                        "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now})
    return added


_format = i18n.kpi_value


def _period(payload: Mapping[str, Any], language: str) -> str:
    first, last = date.fromisoformat(payload["from"]), date.fromisoformat(payload["to"])
    if first == last:
        return i18n.day(first, language)
    return f"{i18n.day(first, language, 'd MMM')} – {i18n.day(last, language, 'd MMM y')}"


def digest_email(payload: Mapping[str, Any], shop: Shop, language: str, config: Mapping[str, Any],
                 address: str = "", unsubscribe: str | None = None) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a digest to `address`, ending with how to stop it
    (`unsubscribe`: the link that switches this digest off for that address)."""
    from .channels import panel_link

    period = payload.get("period", "digest_daily").removeprefix("digest_")
    when = _period(payload, language)
    shop_name = shop.name or shop.domain
    subject = i18n.t(f"digest.subject.{period}", language, period=when, shop=shop_name)
    intro = i18n.t(f"digest.intro.{period}", language, period=when)
    rows = []
    for item in payload.get("kpis", []):
        label = i18n.t(f"kpi.{item['key']}", language) if f"kpi.{item['key']}" in i18n.STRINGS else \
            i18n.t(f"alerts.kpi.{item['key']}", language)
        current, previous = item["current"], item["previous"]
        pct = derived.change_percent(current, previous)   # as the panel's tiles show it
        change = "" if pct is None else i18n.percent(pct, language, signed=True)
        rows.append((label, _format(current, item["kind"], shop.currency, language),
                     _format(previous, item["kind"], shop.currency, language), change))
    link = panel_link(config, shop)
    width = max(len(r[0]) for r in rows) if rows else 10
    text = "\n".join([subject, "", intro, ""] + [f"{label:<{width}}  {cur:>14}  {prev:>14}  {chg}"
                                                  for label, cur, prev, chg in rows]
                     + ["", f"{i18n.t('alerts.open', language)}: {link}"])
    footer = ""
    if unsubscribe:
        what = i18n.t(f"digest.name.{period}", language)
        text += "\n\n" + i18n.t("digest.footer", language, what=what, address=address, link=unsubscribe)
        footer = (f'<p style="font:12px sans-serif;color:#8a8a8a">'
                  f'{html.escape(i18n.t("digest.footer", language, what=what, address=address, link=""))}'
                  f'<a href="{html.escape(unsubscribe)}" style="color:#616161">'
                  f'{html.escape(i18n.t("digest.unsubscribe", language))}</a></p>')
    head = "".join(f'<th style="text-align:{a};font:600 12px sans-serif;color:#616161;padding:4px 8px">'
                   f'{html.escape(i18n.t(k, language))}</th>'
                   for k, a in (("digest.kpi", "left"), ("digest.current", "right"), ("digest.previous", "right"),
                                ("digest.change", "right")))
    body_rows = "".join(
        f'<tr><td style="font:14px sans-serif;padding:4px 8px">{html.escape(label)}</td>'
        f'<td style="font:600 14px sans-serif;padding:4px 8px;text-align:right">{html.escape(cur)}</td>'
        f'<td style="font:14px sans-serif;padding:4px 8px;text-align:right;color:#616161">{html.escape(prev)}</td>'
        f'<td style="font:14px sans-serif;padding:4px 8px;text-align:right">{html.escape(chg)}</td></tr>'
        for label, cur, prev, chg in rows)
    body = (f'<!doctype html><html lang="{language}"><body style="margin:0;padding:24px;background:#f1f1f1">'
            f'<div style="max-width:560px;margin:auto;background:#fff;border-radius:12px;padding:24px">'
            f'<h1 style="font:600 20px sans-serif;margin:0 0 8px">{html.escape(subject)}</h1>'
            f'<p style="font:14px sans-serif">{html.escape(intro)}</p>'
            f'<table role="presentation" cellspacing="0" cellpadding="0"><tr>{head}</tr>{body_rows}</table>'
            f'<p style="margin:20px 0"><a href="{html.escape(link)}" style="font:600 14px sans-serif;'
            f'background:#303030;color:#fff;padding:10px 16px;border-radius:8px;text-decoration:none">'
            f'{html.escape(i18n.t("alerts.open", language))}</a></p>{footer}'
            f'</div></body></html>')
    return subject, text, body
