"""Channels: what a notification says (Dutch or English, text and HTML) and how it is sent.

- e-mail over SMTP (standard library smtplib/email): HTML and plain text with the KPI, its normal,
  the change, a small bar chart in plain HTML (no images, so no mail client blocks it), the biggest
  contributor and a link into the panel; digests too (plugin.alerts.digest);
- Slack incoming webhook: a short mrkdwn message;
- a generic webhook: the alert as JSON, signed with HMAC-SHA256 of the raw body with the channel's
  secret, base64, in X-Kompas-Hmac-Sha256 (as Shopify signs its webhooks), and the notification's
  unique key in X-Kompas-Delivery so a receiver can drop a repeat;
- the panel feed is the alert_events table itself.
Sending raises on any failure; plugin.alerts.outbox retries with backoff.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import smtplib
import ssl
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Mapping
from urllib.parse import quote, urlencode

from babel.numbers import format_percent

from ..models import Shop
from ..outbound import public_session
from .. import i18n
from .models import AlertChannel, AlertEvent, AlertNotification

TIMEOUT = 15
SIGNATURE_HEADER = "X-Kompas-Hmac-Sha256"
DELIVERY_HEADER = "X-Kompas-Delivery"


class ChannelError(RuntimeError):
    """A channel could not deliver (no SMTP server configured, a non-2xx answer, …)."""


# --- words and figures -----------------------------------------------------------------------

def kpi_label(kpi: str, language: str) -> str:
    key = f"kpi.{kpi}" if f"kpi.{kpi}" in i18n.STRINGS else f"alerts.kpi.{kpi}"
    return i18n.t(key, language)


def _kind_of(kpi: str) -> str:
    from .detect import KPIS

    return KPIS[kpi].kind if kpi in KPIS else "count"


def figure(value: float | None, kpi: str, currency: str, language: str) -> str:
    if value is None:
        return i18n.t("no_data", language)
    kind = _kind_of(kpi)
    if kind == "money":
        return i18n.money(Decimal(str(round(value, 2))), currency, language)
    if kind == "rate":
        return i18n.percent(f"{value:.2f}", language)
    return i18n.number(Decimal(str(round(value, 1))).normalize() if value % 1 else int(value), language)


def _how(change: float | None, language: str) -> str:
    if change is None:
        return ""
    amount = format_percent(Decimal(f"{abs(change):.0f}") / 100, format="#,##0%", locale=i18n.LANGUAGES[language])
    return i18n.t("alerts.below" if change < 0 else "alerts.above", language, change=amount)


def _window_text(event: AlertEvent, shop: Shop, language: str) -> str:
    rule = event.details.get("rule", {})
    window = rule.get("window", "today")
    if window == "hours" and rule.get("window_hours") == 1:
        return i18n.t("alerts.window.hour", language)
    if window == "hours":
        return i18n.t("alerts.window.hours", language, hours=rule.get("window_hours"))
    if window in ("silence", "cusum"):   # cusum: since the first hour of the stretch that scores best
        start = event.details.get("figures", {}).get("window_start")
        since = i18n.moment(datetime.fromisoformat(start), shop.timezone, language) if start else "?"
        return i18n.t("alerts.window.silence" if window == "silence" else "alerts.window.since", language, since=since)
    return i18n.t("alerts.window.today", language)


WORDPRESS_PANEL = "admin.php?page=kompas"   # the WordPress plugin's page in wp-admin (Kompas_Admin::SLUG)


def panel_link(config: Mapping[str, Any], shop: Shop, event: AlertEvent | None = None) -> str:
    """Where a notification's "Open Kompas" leads: the panel where the merchant has it, inside the
    shop's admin, which hands the panel its session token. Shopify: the app in the shop's admin
    (/admin/apps/<client id> opens the embedded app); WooCommerce: the plugin's page in the shop's
    wp-admin (the one its plugin connected from; for a shop connected before that was kept, the
    site's URL + /wp-admin/). Only without a Shopify client id (a demo) Kompas's own /panel/ address."""
    if shop.platform == "woocommerce":   # the URLs as written: a path's letter case matters
        admin = shop.admin_url or (shop.site_url or shop.domain).rstrip("/") + "/wp-admin/"
        return admin + WORDPRESS_PANEL
    if shop.platform == "shopify" and config.get("SHOPIFY_API_KEY"):
        return f"https://{shop.domain}/admin/apps/{quote(str(config['SHOPIFY_API_KEY']), safe='')}"
    base = (config.get("PUBLIC_URL") or "").rstrip("/")
    query = {"shop": shop.domain}
    if event is not None:
        query["alert"] = str(event.id)
    return f"{base}/panel/?{urlencode(query)}#alerts"


def rule_title(rule_key: str, language: str, kpi: str | None = None, rule: Mapping[str, Any] | None = None,
               currency: str = "EUR") -> str:
    """A default rule's own name; a merchant's rule (with its `kpi` and settings `rule`: kind,
    window, window_hours, change_pct, threshold, direction) says what it watches, "Custom rule:
    Net sales · Last 24 hours · below € 500,00", as several of them would all read "Custom rule"."""
    key = f"alerts.rule.{rule_key}"
    if key in i18n.STRINGS:
        return i18n.t(key, language)
    title = i18n.t("alerts.rule.custom", language)
    if kpi is None or not rule:
        return title
    window, hours = rule.get("window"), rule.get("window_hours") or 1
    if window in ("today", "silence", "cusum"):
        span = i18n.t(f"alerts.new.{window}", language)
    else:
        span = i18n.t("alerts.window.hour", language) if hours == 1 else i18n.t("alerts.window.hours", language,
                                                                                  hours=hours)
    if rule.get("kind") == "threshold":
        limit = rule.get("threshold")
        size = i18n.t(f"alerts.direction.{rule.get('direction') or 'below'}", language) + " " + figure(
            None if limit in (None, "") else float(limit), kpi, currency, language)
    else:
        change = float(rule.get("change_pct") or 0)
        size = i18n.percent(str(round(-change if rule.get("kind") == "drop" else change, 2)), language, signed=True)
    return f"{title}: {kpi_label(kpi, language)} · {span} · {size}"


def alert_message(event: AlertEvent, shop: Shop, language: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a channel says about one alert event, in `language`."""
    shop_name = shop.name or shop.domain
    label = kpi_label(event.kpi, language)
    rule = event.details.get("rule", {})
    threshold = rule.get("kind") == "threshold"
    value = figure(event.value, event.kpi, shop.currency, language)
    window = _window_text(event, shop, language)
    if threshold:
        limit = figure(rule.get("threshold"), event.kpi, shop.currency, language)
        subject = "alerts.subject.threshold_repeat" if event.kind == "repeat" else "alerts.subject.threshold"
        headline = i18n.t(subject, language, kpi=label, shop=shop_name, threshold=limit,
                          direction=i18n.t(f"alerts.direction.{rule.get('direction', 'below')}", language))
        line = i18n.t("alerts.figures_threshold", language, window=window, value=value, threshold=limit)
    else:
        how = _how(event.change, language)
        headline = i18n.t(f"alerts.subject.{event.kind}", language, kpi=label, how=how, shop=shop_name)
        change = "" if event.change is None else i18n.percent(f"{event.change:.1f}", language, signed=True)
        line = i18n.t("alerts.figures", language, window=window, value=value,
                      normal=figure(event.normal, event.kpi, shop.currency, language), change=change) \
            if event.normal is not None and change else i18n.t("alerts.figures_plain", language, window=window,
                                                                 value=value)
    if event.kind == "resolved":
        headline = i18n.t("alerts.subject.resolved", language, kpi=label, shop=shop_name)
    elif event.kind == "test":
        headline = i18n.t("alerts.subject.test", language, shop=shop_name)
    notes = []
    if event.kind == "test":
        notes.append(i18n.t("alerts.test_body", language))
    confirmed = (event.details.get("figures") or {}).get("confirmed")
    if confirmed and event.kind in ("firing", "repeat"):   # carts: what their orders did over the same time
        notes.append(i18n.t("alerts.confirmed", language, kpi=kpi_label(confirmed["kpi"], language),
                            value=figure(confirmed["value"], confirmed["kpi"], shop.currency, language),
                            normal=figure(confirmed["normal"], confirmed["kpi"], shop.currency, language)))
    contributor = event.details.get("contributor")
    if contributor and event.kind != "resolved":
        unit_kpi = "net_sales" if contributor.get("money") else "orders"   # formats money or a count
        notes.append(i18n.t(f"alerts.contributor.{contributor['by']}", language, name=contributor["name"],
                            observed=figure(contributor["observed"], unit_kpi, shop.currency, language),
                            normal=figure(contributor["normal"], unit_kpi, shop.currency, language)))
    return {"subject": headline, "title": rule_title(event.rule_key, language, event.kpi, rule, shop.currency),
            "line": line, "notes": notes,
            "series": event.details.get("series") or [], "link": panel_link(config, shop, event),
            "kpi": event.kpi, "currency": shop.currency}


# --- e-mail ----------------------------------------------------------------------------------

def _bars_html(series: list, kpi: str, currency: str, language: str) -> str:
    """A small horizontal bar chart as an HTML table: observed (dark) and normal (grey) per hour."""
    if not series:
        return ""
    top = max([abs(o or 0) for _, o, _ in series] + [abs(n or 0) for _, _, n in series] + [1e-9])
    rows = []
    for label, observed, normal in series[-24:]:
        width = round(100 * abs(observed or 0) / top)
        nwidth = round(100 * abs(normal or 0) / top)
        rows.append(
            f'<tr><td style="font:12px sans-serif;color:#616161;padding:1px 6px 1px 0;white-space:nowrap">'
            f'{html.escape(label)}</td>'
            f'<td style="width:240px;padding:1px 0"><div style="background:#303030;height:7px;width:{width}%"></div>'
            f'<div style="background:#c4c4c4;height:5px;width:{nwidth}%"></div></td>'
            f'<td style="font:12px sans-serif;padding:1px 0 1px 6px;white-space:nowrap">'
            f'{html.escape(figure(observed, kpi, currency, language))}</td></tr>')
    title = html.escape(i18n.t("alerts.chart", language))
    return (f'<p style="font:13px sans-serif;color:#616161;margin:16px 0 4px">{title}</p>'
            f'<table role="presentation" cellspacing="0" cellpadding="0">{"".join(rows)}</table>')


def _bars_text(series: list, kpi: str, currency: str, language: str) -> str:
    if not series:
        return ""
    top = max([abs(o or 0) for _, o, _ in series] + [abs(n or 0) for _, _, n in series] + [1e-9])
    lines = [i18n.t("alerts.chart", language)]
    for label, observed, normal in series[-24:]:
        bar = "#" * round(20 * abs(observed or 0) / top)
        lines.append(f"{label:>10} {bar:<20} {figure(observed, kpi, currency, language)}"
                     f" ({i18n.t('alerts.normal', language)} {figure(normal, kpi, currency, language)})")
    return "\n".join(lines)


def alert_email(message: dict[str, Any], language: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of an alert e-mail."""
    kpi, currency = message["kpi"], message["currency"]
    text = "\n\n".join(part for part in [
        message["subject"], message["line"], *message["notes"], _bars_text(message["series"], kpi, currency, language),
        f"{i18n.t('alerts.open', language)}: {message['link']}", i18n.t("alerts.footer", language)] if part)
    notes = "".join(f'<p style="font:14px sans-serif;margin:8px 0">{html.escape(n)}</p>' for n in message["notes"])
    body = (f'<!doctype html><html lang="{language}"><body style="margin:0;padding:24px;background:#f1f1f1">'
            f'<div style="max-width:560px;margin:auto;background:#fff;border-radius:12px;padding:24px">'
            f'<p style="font:13px sans-serif;color:#616161;margin:0">{html.escape(message["title"])}</p>'
            f'<h1 style="font:600 20px sans-serif;margin:4px 0 12px">{html.escape(message["subject"])}</h1>'
            f'<p style="font:15px sans-serif;margin:8px 0">{html.escape(message["line"])}</p>{notes}'
            f'{_bars_html(message["series"], kpi, currency, language)}'
            f'<p style="margin:20px 0"><a href="{html.escape(message["link"])}" style="font:600 14px sans-serif;'
            f'background:#303030;color:#fff;padding:10px 16px;border-radius:8px;text-decoration:none">'
            f'{html.escape(i18n.t("alerts.open", language))}</a></p>'
            f'<p style="font:12px sans-serif;color:#8a8a8a">{html.escape(i18n.t("alerts.footer", language))}</p>'
            f'</div></body></html>')
    return message["subject"], text, body


def unsubscribe_link(config: Mapping[str, Any], channel: AlertChannel, period: str) -> str | None:
    """The link that switches `period`'s digest (daily | weekly) off for an e-mail channel."""
    if not channel.unsubscribe_key:
        return None
    base = (config.get("PUBLIC_URL") or "").rstrip("/")
    return f"{base}/panel/alerts/unsubscribe/{channel.unsubscribe_key}?{urlencode({'period': period})}"


def send_email(config: Mapping[str, Any], to: str, subject: str, text: str, body_html: str, key: str,
               headers: Mapping[str, str] | None = None) -> None:
    host = config.get("SMTP_HOST")
    if not host:
        raise ChannelError("no SMTP server configured (KOMPAS_SMTP_HOST)")
    sender = config.get("SMTP_FROM") or "kompas@localhost"
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, sender, to
    message["Date"] = formatdate(usegmt=True)
    # the same notification always has the same Message-ID: a repeat after a crash is recognisable
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@{sender.rpartition('@')[2].strip('>') or 'kompas'}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(body_html, subtype="html")
    with smtplib.SMTP(host, int(config.get("SMTP_PORT") or 25), timeout=TIMEOUT) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)


# --- Slack and webhooks ----------------------------------------------------------------------

def slack_escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally: &, < and > as entities (Slack's "Escaping text"),
    so that a shop, product or traffic source name (a visitor's own utm_source) such as
    "<!channel>" is never read as a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(message: dict[str, Any]) -> str:
    lines = [f"*{slack_escape(message['subject'])}*", *map(slack_escape, [message["line"], *message["notes"]])]
    return "\n".join(lines) + f"\n<{slack_escape(message['link'])}|Kompas>"


def send_slack(url: str, message: dict[str, Any]) -> None:
    with public_session() as http:   # a URL the merchant typed: public addresses only
        response = http.post(url, json={"text": slack_text(message)}, timeout=TIMEOUT)
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"Slack answered {response.status_code}: {response.text[:200]}")


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body)): the X-Kompas-Hmac-Sha256 header of a webhook."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_body(event: AlertEvent, shop: Shop, key: str, link: str) -> bytes:
    return json.dumps({
        "id": key, "kind": event.kind, "shop": shop.domain, "rule": event.rule_key, "kpi": event.kpi,
        "value": event.value, "normal": event.normal, "change": event.change,
        "at": event.at.isoformat(),
        "window_start": event.details.get("figures", {}).get("window_start"),
        "contributor": event.details.get("contributor"), "url": link}, sort_keys=True).encode()


def send_webhook(url: str, secret: str, body: bytes, key: str) -> None:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret), DELIVERY_HEADER: key,
               "User-Agent": "Kompas-Alerts/1"}
    with public_session() as http:   # a URL the merchant typed: public addresses only
        response = http.post(url, data=body, headers=headers, timeout=TIMEOUT)
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"webhook answered {response.status_code}")


# --- one notification ------------------------------------------------------------------------

def send_notification(notification: AlertNotification, channel: AlertChannel, event: AlertEvent | None, shop: Shop,
                      config: Mapping[str, Any]) -> None:
    """Send one outbox row through its channel (raises on failure)."""
    language = channel.language if channel.language in i18n.LANGUAGES else i18n.DEFAULT
    if notification.kind.startswith("digest_"):
        from .digest import digest_email

        period = notification.kind.removeprefix("digest_")
        unsubscribe = unsubscribe_link(config, channel, period)
        subject, text, body = digest_email(notification.payload or {}, shop, language, config, channel.target,
                                           unsubscribe)
        # RFC 2369 / RFC 8058: mail clients offer "unsubscribe", one click that POSTs to the link
        headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"} \
            if unsubscribe else None
        send_email(config, channel.target, subject, text, body, notification.dedupe_key, headers)
        return
    if event is None:
        raise ChannelError("the alert event of this notification is gone")
    message = alert_message(event, shop, language, config)
    if channel.kind == "email":
        subject, text, body = alert_email(message, language)
        send_email(config, channel.target, subject, text, body, notification.dedupe_key)
    elif channel.kind == "slack":
        send_slack(channel.target, message)
    elif channel.kind == "webhook":
        send_webhook(channel.target, channel.secret or "", webhook_body(event, shop, notification.dedupe_key,
                                                                        message["link"]), notification.dedupe_key)
    else:
        raise ChannelError(f"unknown channel kind {channel.kind!r}")
