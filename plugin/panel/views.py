"""Panel documents, the data the panel draws, the CSV export, and GET /api/kpis.

Views are thin: authenticate, resolve the range in the shop's calendar, read the report (the
same plugin.report.build that `kompas report` prints), and format it for the merchant's locale.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlencode

from flask import Response, current_app, g, jsonify, redirect, render_template, request
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import select

from .. import backfill, counters, ingest, report, settings
from ..kpi import derived
from ..kpi.booking import shop_zone
from ..models import Delivery, Shop
from ..shops import ShopError, find_shop
from ..shopify import data_requests
from ..shopify.admin_api import ShopifyApiError
from ..shopify.install import SIXTY_DAYS_NOTE, ensure_installed
from ..shopify.tokens import ShopifyAuthError
from .. import i18n
from webhooks.platforms.woocommerce import EXCLUDED_STATUSES as NEVER_COUNTED
from . import api, bp
from ..woocommerce import auth as wordpress
from ..woocommerce import carts as wordpress_carts
from ..woocommerce import repairs as wordpress_repairs
from .auth import MYSHOPIFY, SessionTokenError, mint_session_token, verify_session_token
from .ranges import COMPARISONS, GRAINS, PRESETS, RangeError, buckets, compared_buckets, comparison, resolve

# (report key, kind, whether a rise is good). The tiles of issue 5 that section 7 already counts.
TILES: list[tuple[str, str, bool]] = [
    ("net_sales", "money", True), ("orders", "count", True), ("average_order_value", "money", True),
    ("checkout_conversion", "rate", True), ("cart_abandonment_rate", "rate", False),
    ("checkout_abandonment_rate", "rate", False), ("return_rate", "rate", False), ("refund_rate", "rate", False),
    ("cancellation_rate", "rate", False), ("customers", "count", True), ("new_customers", "count", True),
    ("returning_customer_rate", "rate", True), ("customer_retention_rate", "rate", True),
    ("churn_rate", "rate", False), ("acquisition_cost", "money", False),
    ("customer_lifetime_value", "money", True), ("clv_to_cac", "ratio", True),
]
RETENTION_TILES = {"customer_retention_rate", "churn_rate", "acquisition_cost", "customer_lifetime_value",
                   "clv_to_cac"}  # range figures only: no daily series
# a panel range: ten years (its charts and the comparison range are read per request)
PANEL_MAX_DAYS = 3700
TILE_KEYS = [key for key, _, _ in TILES]
STALE_AFTER_HOURS = 12
# The panel's tables that export as CSV: (reader, columns, file name)
TABLES: dict[str, tuple[Callable, list[str], str]] = {
    "sources": (report.sales_by_source, ["source", "orders", "net_sales"], "sources"),
    "products": (report.returns_by_product, ["product", "items_returned", "returns"], "returns-by-product"),
}


# --- authentication ----------------------------------------------------------------------------

def _token_from_request() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.args.get("id_token")


def _verify(token: str | None):  # noqa: ANN202
    """Shopify's session token, or the WordPress plugin's panel token (aud "kompas")."""
    if wordpress.is_wordpress_token(token):
        return wordpress.verify_wordpress_token(token, wordpress.panel_secret_of(current_app))
    config = current_app.config
    return verify_session_token(token, api_key=config["SHOPIFY_API_KEY"], secrets=config["SHOPIFY_API_SECRETS"])


def authenticated(view: Callable) -> Callable:
    """API views: a valid session token or 401 with Shopify's retry header (App Bridge retries)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):  # noqa: ANN202
        try:
            g.session = _verify(_token_from_request())
        except SessionTokenError as exc:
            response = jsonify(error=f"invalid session token: {exc}")
            response.status_code = 401
            response.headers["X-Shopify-Retry-Invalid-Session-Request"] = "1"
            return response
        return view(*args, **kwargs)
    return wrapper


def _frame_ancestors(shop: str) -> str:
    extra = " ".join(current_app.config.get("PANEL_EXTRA_FRAME_ANCESTORS") or [])
    if shop.startswith(("https://", "http://")):  # a WooCommerce site: only its own wp-admin frames the panel
        return f"frame-ancestors {wordpress.origin_of(shop)}{' ' + extra if extra else ''};"
    return f"frame-ancestors https://{shop} https://admin.shopify.com{' ' + extra if extra else ''};"


def _find_shop(domain: str) -> Shop | None:
    """The shop, or None: each caller answers a missing one in its own way (404 JSON or page)."""
    with current_app.extensions["kompas.db"].reading() as session:
        try:
            return find_shop(session, domain)
        except ShopError:
            return None


def _language() -> str:
    return i18n.language_of(request.args.get("lang") or request.args.get("locale")
                            or request.accept_languages.best_match(["nl", "en"]))


# --- documents ---------------------------------------------------------------------------------

@bp.get("/")
def index():  # noqa: ANN201
    """The panel page. Shopify loads it with `id_token`; without a valid one it bounces through
    App Bridge, which comes back with a fresh token."""
    language = _language()
    config = current_app.config
    try:
        session = _verify(request.args.get("id_token"))
    except wordpress.WordPressTokenError:  # expired or refused: the page asks wp-admin for a fresh token
        return wordpress.wordpress_bounce(request.args.get("id_token"), language)
    except SessionTokenError:
        # Only the shop's own admin may frame the page; `shop` is unverified here, so it is used
        # only when it is a well-formed myshopify domain, and then only to narrow the policy.
        claimed = (request.args.get("shop") or "").lower()
        response = Response(render_template("panel/bounce.html", api_key=config["SHOPIFY_API_KEY"], language=language,
                                            noscript=i18n.t("bounce.noscript", language)))
        response.headers["Content-Security-Policy"] = (
            _frame_ancestors(claimed) if MYSHOPIFY.match(claimed) else "frame-ancestors https://admin.shopify.com;")
        return response
    try:  # a store connected through the WordPress plugin has nothing to install here
        shop = (_find_shop(session.shop) if isinstance(session, wordpress.WordPressSession)
                else ensure_installed(current_app, session.shop, request.args["id_token"]))
    except (ShopifyAuthError, ShopifyApiError, ValueError) as exc:
        current_app.logger.warning("shopify install failed for %s: %s", session.shop, exc)
        response = Response(render_template(
            "panel/unknown_shop.html", error=str(exc),
            message=i18n.t("install.failed", language, shop=session.shop)), 502)
        response.headers["Content-Security-Policy"] = _frame_ancestors(session.shop)
        return response
    response = Response(render_template(
        "panel/index.html", shop=shop, language=language, strings=i18n.catalogue(language),
        api_key=config["SHOPIFY_API_KEY"], token=request.args.get("id_token"),
        frame_origin=wordpress.origin_of(shop.domain) if shop.platform == "woocommerce" else "",
        demo=bool(config.get("DEMO_PANEL")), presets=PRESETS, comparisons=COMPARISONS, grains=GRAINS))
    response.headers["Content-Security-Policy"] = _frame_ancestors(shop.domain)
    return response


@bp.get("/demo")
def demo():  # noqa: ANN201
    """Outside Shopify admin (KOMPAS_DEMO_PANEL=1 only): mint a session token and open the panel."""
    config = current_app.config
    if not config.get("DEMO_PANEL"):
        return jsonify(error="the demo panel is off (KOMPAS_DEMO_PANEL)"), 404
    shop = _find_shop(request.args.get("shop", ""))
    if shop is None:
        return jsonify(error="unknown shop"), 404
    token = mint_session_token(shop.domain, api_key=config["SHOPIFY_API_KEY"], secret=config["SHOPIFY_API_SECRETS"][0])
    params = {"shop": shop.domain, "id_token": token, "lang": _language()}
    return redirect("/panel/?" + urlencode(params))


@bp.get("/demo/token")
def demo_token():  # noqa: ANN201
    """A fresh session token for the demo panel (what App Bridge's shopify.idToken() gives)."""
    config = current_app.config
    if not config.get("DEMO_PANEL"):
        return jsonify(error="the demo panel is off (KOMPAS_DEMO_PANEL)"), 404
    try:
        session = _verify(_token_from_request())  # only a holder of a still valid token gets a new one
    except SessionTokenError as exc:
        return jsonify(error=str(exc)), 401
    return jsonify(token=mint_session_token(session.shop, api_key=config["SHOPIFY_API_KEY"],
                                            secret=config["SHOPIFY_API_SECRETS"][0]))


# --- data --------------------------------------------------------------------------------------

def _report(shop: Shop, first: date, last: date, with_retention: bool = False) -> dict[str, Any]:
    with current_app.extensions["kompas.db"].reading() as session:
        daily = counters.daily_in_range(session, shop.id, first, last)  # read once, used by all below
        result = report.build(session, shop, first, last, daily)
        if with_retention:  # panel only: section 3's customer KPIs are not part of section 7's object
            result["kpis"].update({k: v for k, v in report.retention(session, shop, first, last, daily).items()
                                   if k in RETENTION_TILES})
            spent = derived.spend_in_range(settings.spend(session, shop.id), first, last)
            result["kpis"]["acquisition_cost"] = derived.acquisition_cost(
                spent, result["kpis"]["new_customers"], shop.currency)
            clv = report.lifetime_value(session, shop, first, last, _today(shop), daily)
            result["kpis"]["customer_lifetime_value"] = clv["customer_lifetime_value"]
            result["clv_observed_days"] = clv["observed_days"]
            result["kpis"]["clv_to_cac"] = derived.clv_to_cac(clv["net_sales_micros"], spent, clv["customers"])
        return result


def _today(shop: Shop) -> date:
    return datetime.now(shop_zone(shop.timezone)).date()


_format = i18n.kpi_value


def _info(key: str, shop: Shop, language: str) -> str:
    """A tile's explanation; retention's names the shop's own window W."""
    if key == "customer_retention_rate":
        return i18n.t("info.customer_retention_rate", language,
                      days=shop.retention_days or report.RETENTION_WINDOW_DAYS)
    return i18n.t(f"info.{key}", language)


def _change(current: str | int | None, previous: str | int | None) -> Decimal | None:
    """The change against the comparison in % (derived.change_percent), as a Decimal."""
    change = derived.change_percent(current, previous)
    return None if change is None else Decimal(change)


def _span_text(first: date, last: date, grain: str, language: str) -> str:
    if grain == "day":
        return i18n.day(first, language)
    if grain == "month":
        return i18n.day(first, language, "MMM y")
    return f"{i18n.day(first, language, 'd MMM')} – {i18n.day(last, language, 'd MMM y')}"


def _freshness(shop: Shop, language: str) -> dict[str, Any]:
    with current_app.extensions["kompas.db"].reading() as session:
        last = session.scalar(select(Delivery.received_at).where(Delivery.shop_id == shop.id)
                              .order_by(Delivery.id.desc()).limit(1))
    if last is None:
        return {"text": i18n.t("fresh.never", language), "stale": False, "last": None}
    stale = (datetime.now(timezone.utc) - last).total_seconds() > STALE_AFTER_HOURS * 3600
    return {"text": i18n.t("fresh.last", language, when=i18n.moment(last, shop.timezone, language)),
            "stale": stale, "stale_text": i18n.t("fresh.stale", language), "last": last.isoformat()}


def _backfill(shop: Shop, language: str) -> dict[str, Any] | None:
    """The history import as the panel shows it; `hold` while its figures would be partial."""
    with current_app.extensions["kompas.db"].reading() as session:
        progress = backfill.current(session, shop.id)
    if progress is None:
        return None
    note = i18n.t("backfill.sixty_days", language) if progress.note == SIXTY_DAYS_NOTE else progress.note
    # While it is queued or running the figures would be partial: the panel holds them. A failed
    # import (retried by the worker) says so but shows what is there, rather than nothing.
    state = {"status": progress.status, "done": progress.done, "total": progress.total,
             "percent": progress.percent, "hold": progress.status in (backfill.QUEUED, backfill.RUNNING),
             "note": note}
    if progress.status == backfill.QUEUED:
        state["text"] = i18n.t("backfill.queued", language)
    elif progress.status == backfill.FAILED:
        state["text"] = i18n.t("backfill.failed", language)
    elif progress.total:
        state["text"] = i18n.t("backfill.running", language, done=i18n.number(progress.done, language),
                               total=i18n.number(progress.total, language),
                               percent=i18n.percent(f"{progress.percent:.1f}", language))
        if progress.eta_seconds:
            state["text"] += " " + i18n.t("backfill.eta", language,
                                          eta=i18n.duration(progress.eta_seconds, language))
    else:
        state["text"] = i18n.t("backfill.counting", language, done=i18n.number(progress.done, language))
    if state["hold"]:
        state["hold_text"] = i18n.t("backfill.hold", language)
    return state


def _reconciliation(shop: Shop, language: str) -> dict[str, Any] | None:
    """The last finished check against the platform, and how many missed changes it repaired."""
    with current_app.extensions["kompas.db"].reading() as session:
        run = backfill.last_finished(session, shop.id, backfill.RECONCILE)
    if run is None:
        return None
    at = run.finished_at or run.updated_at
    when = i18n.moment(at, shop.timezone, language)
    return {"finished_at": at.isoformat(), "checked": run.done,
            "corrections": run.changed,
            "text": i18n.t("sync.repaired" if run.changed else "sync.clean", language, when=when,
                           count=i18n.number(run.changed, language))}


def _not_too_long(first: date, last: date) -> None:
    if (last - first).days + 1 > PANEL_MAX_DAYS:
        raise RangeError(f"a range can be at most {PANEL_MAX_DAYS} days")


def _range_args(shop: Shop) -> tuple[date, date, date, date, str]:
    preset = request.args.get("range", "last30")
    first, last = resolve(preset, _today(shop), request.args.get("from"), request.args.get("to"))
    _not_too_long(first, last)
    mode = request.args.get("compare", "previous")
    cfirst, clast = comparison(first, last, mode)
    return first, last, cfirst, clast, mode


@bp.get("/view.json")
@authenticated
def view():  # noqa: ANN201
    """What the panel draws for a range and comparison, formatted for the merchant's language."""
    language = _language()
    shop = _find_shop(g.session.shop)
    if shop is None:
        return jsonify(error="unknown shop"), 404
    try:
        first, last, cfirst, clast, mode = _range_args(shop)
    except RangeError as exc:
        return jsonify(error=str(exc)), 400
    grain = request.args.get("grain", "day")
    try:
        spans = buckets(first, last, grain)
        compare_spans = compared_buckets(spans, first, cfirst, mode)
    except RangeError as exc:
        return jsonify(error=str(exc)), 400
    current, previous = _report(shop, first, last, True), _report(shop, cfirst, clast, True)
    with current_app.extensions["kompas.db"].reading() as session:
        goals = settings.targets(session, shop.id)
        spent = settings.spend(session, shop.id)
        # the chart's periods; by day these equal the report's `days`
        chart = current["days"] if grain == "day" else report.periods(session, shop, spans)
        compare_chart = (previous["days"] if grain == "day" and mode == "previous"
                         else report.periods(session, shop, compare_spans))
    tiles = []
    for key, kind, rise_is_good in TILES:
        value, before = current["kpis"][key], previous["kpis"][key]
        change = _change(value, before)
        # retention over a single day says little; its tile shows the range figure only
        series = [] if key in RETENTION_TILES else [d[key] for d in chart]
        tiles.append({
            "key": key, "kind": kind, "label": i18n.t(f"kpi.{key}", language), "info": _info(key, shop, language),
            "value": value, "text": _format(value, kind, shop.currency, language),
            "compare_text": _format(before, kind, shop.currency, language),
            "note": i18n.t("clv.partial", language, days=current["clv_observed_days"])
            if key == "customer_lifetime_value" and current["clv_observed_days"] < 365 else None,
            "change": None if change is None else f"{change.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP) + 0}",
            "change_text": None if change is None else i18n.percent(f"{change}", language, signed=change != 0),
            "good": None if change is None or change == 0 else (change > 0) == rise_is_good,
            "series": [None if v is None else float(v) for v in series],
            "series_text": [_format(v, kind, shop.currency, language) for v in series],
            "target": goals.get(key),
            "target_text": None if key not in goals else _format(goals[key], kind, shop.currency, language),
            "progress_text": None if (progress := derived.target_progress(value, goals.get(key), rise_is_good)) is None
            else i18n.percent(progress, language),
            "compare_series": [] if key in RETENTION_TILES else
            [None if d[key] is None else float(d[key]) for d in compare_chart],
        })
    with current_app.extensions["kompas.db"].reading() as session:
        sources = report.sales_by_source(session, shop, first, last)
        products = report.returns_by_product(session, shop, first, last)
        # the statuses a choice changes something for: not those that never count anyway
        excluded = ingest.excluded_statuses(shop)
        statuses = sorted((set(ingest.statuses_seen(session, shop.id)) - NEVER_COUNTED)
                          | excluded) if shop.platform == "woocommerce" else []
        requests = data_requests.listed(session, shop, language) if shop.platform == "shopify" else []
        cart_hint = wordpress_carts.panel_hint(session, shop, language)  # WooCommerce: orders, no carts any more
    k = current["kpis"]
    customer_rows = [(i18n.t(label, language), count) for label, count in (
        ("customers.new", k["new_customers"]), ("customers.returning", k["returning_customers"]),
        ("customers.all", k["customers"]))]
    return jsonify({
        "customer_mix": [{"label": label, "count": count, "count_text": i18n.number(count, language),
                          "share_text": "" if not k["customers"] else
                          i18n.percent(derived.percentage(count, k["customers"]), language)}
                         for label, count in customer_rows],
        "products": [{"product": r["product"], "items_returned": r["items_returned"],
                      "items_text": i18n.number(r["items_returned"], language), "returns": r["returns"],
                      "returns_text": i18n.money(r["returns"], shop.currency, language)} for r in products],
        "spend": [{"month": m, "amount": derived.money(v, shop.currency),
                   "text": i18n.money(derived.money(v, shop.currency), shop.currency, language)} for m, v in spent.items()],
        "sources": [{"source": r["source"], "orders": r["orders"], "orders_text": i18n.number(r["orders"], language),
                     "net_sales": r["net_sales"], "net_sales_text": i18n.money(r["net_sales"], shop.currency, language)}
                    for r in sources],
        "retention_days": shop.retention_days,
        "data_requests": requests,
        "statuses": None if shop.platform != "woocommerce" else [
            {"status": status, "excluded": status in excluded} for status in statuses],
        "shop": shop.domain, "currency": shop.currency, "timezone": shop.timezone, "language": language,
        "from": first.isoformat(), "to": last.isoformat(), "compare": mode,
        "compare_from": cfirst.isoformat(), "compare_to": clast.isoformat(),
        "range_text": f"{i18n.day(first, language)} – {i18n.day(last, language)}",
        "compare_text": f"{i18n.day(cfirst, language)} – {i18n.day(clast, language)}",
        "grain": grain,
        "dates": [a.isoformat() for a, _ in spans],
        "date_texts": [_span_text(a, b, grain, language) for a, b in spans],
        "empty": current["kpis"]["orders"] == 0 and previous["kpis"]["orders"] == 0,
        "freshness": _freshness(shop, language),
        "backfill": _backfill(shop, language),
        "reconciliation": (_reconciliation(shop, language) if shop.platform != "woocommerce"
                           else wordpress_repairs.panel_line(shop, language)),  # the resync's own counts
        "cart_hint": cart_hint,
        "tiles": tiles,
    })


@bp.put("/targets")
@authenticated
def put_target():  # noqa: ANN201
    """{"kpi": "...", "value": "1000" | null}: set or clear the target of a tile's KPI."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("kpi") not in TILE_KEYS:
        return jsonify(error=f"send JSON {{kpi, value}} with kpi one of {', '.join(TILE_KEYS)}"), 400
    kind = next(kind for key, kind, _ in TILES if key == body["kpi"])
    language = _language()
    return _save(lambda session, shop: settings.set_target(session, shop.id, body["kpi"], body.get("value"), kind,
                                                           language))


@bp.put("/spend")
@authenticated
def put_spend():  # noqa: ANN201
    """{"month": "YYYY-MM", "amount": "1500.00" | null}: the marketing spend of a month."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="send JSON {month, amount}"), 400
    language = _language()
    return _save(lambda session, shop: settings.set_spend(session, shop.id, body.get("month"), body.get("amount"),
                                                          language))


@bp.put("/retention")
@authenticated
def put_retention():  # noqa: ANN201
    """{"days": 365}: the shop's retention window W (section 3), 1 to 3650 days."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="send JSON {days}"), 400
    return _save(lambda session, shop: settings.set_retention_days(shop, body.get("days")))


@bp.put("/excluded-statuses")
@authenticated
def put_excluded_statuses():  # noqa: ANN201
    """{"statuses": ["quote", ...]}: the order statuses the merchant excluded (WooCommerce); the
    shop's orders are recounted by it at once."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="send JSON {statuses}"), 400
    return _save(lambda session, shop: settings.set_excluded_statuses(session, shop, body.get("statuses")))


def _save(change: Callable) -> Any:
    # The errors are caught outside the transaction, so that a refused change rolls back whole.
    try:
        with current_app.extensions["kompas.db"].transaction() as session:
            change(session, find_shop(session, g.session.shop))
    except ShopError:
        return jsonify(error="unknown shop"), 404
    except settings.SettingError as exc:   # error for API clients, error_text for the merchant
        return jsonify(error=str(exc), error_text=exc.text(_language())), 400
    return jsonify(status="saved")


class ExportError(ValueError):
    """The export asked for does not exist (answered 400)."""


def _export(shop: Shop) -> tuple[list[str], list[list[Any]], str]:
    """(header, rows, file name without extension) of a tile's daily series or of a table, for the
    range in the request: the figures exactly as the report gives them."""
    first, last, *_ = _range_args(shop)
    span = f"{first.isoformat()}-{last.isoformat()}"
    table = TABLES.get(request.args.get("table", ""))
    if table is not None:
        read, columns, name = table
        with current_app.extensions["kompas.db"].reading() as session:
            rows = read(session, shop, first, last)
        return columns, [[r[c] for c in columns] for r in rows], f"kompas-{name}-{span}"
    key = request.args.get("kpi", "orders")
    if key not in TILE_KEYS or key in RETENTION_TILES:
        raise ExportError(f"unknown kpi {key!r}; one of {', '.join(TILE_KEYS)}")
    result = _report(shop, first, last)
    rows = [[day["date"], day[key]] for day in result["days"]]
    rows.append(["total", result["kpis"][key]])
    return ["date", key], rows, f"kompas-{key}-{span}"


def _exported(write: Callable[[list[str], list[list[Any]], str], Response]) -> Any:
    shop = _find_shop(g.session.shop)
    if shop is None:
        return jsonify(error="unknown shop"), 404
    try:
        return write(*_export(shop))
    except (RangeError, ExportError) as exc:
        return jsonify(error=str(exc)), 400


@bp.get("/data-requests/<int:row_id>.json")
@authenticated
def data_request(row_id: int):  # noqa: ANN201
    """One of the shop's customers/data_requests as a JSON download: what Kompas holds of the
    customer (plugin.shopify.data_requests). Another shop's request is 404, like a missing one."""
    shop = _find_shop(g.session.shop)
    if shop is None:
        return jsonify(error="unknown shop"), 404
    with current_app.extensions["kompas.db"].reading() as session:
        found = data_requests.document(session, shop, row_id)
    if found is None:
        return jsonify(error="no such data request"), 404
    name, document = found
    return Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/export.csv")
@authenticated
def export_csv():  # noqa: ANN201
    """A tile's daily series or a table for the range, as the report gives it (CSV, dot decimals)."""
    def write(header: list[str], rows: list[list[Any]], name: str) -> Response:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        names = header[0] != "date"   # a table's first column is a name from a shopper or a product title
        writer.writerows([["" if v is None else _csv_text(v) if names and i == 0 else v for i, v in enumerate(row)]
                          for row in rows])
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return _exported(write)


@bp.get("/export.xlsx")
@authenticated
def export_xlsx():  # noqa: ANN201
    """The same as export.csv as an Excel workbook (openpyxl); amounts and rates are numbers."""
    def write(header: list[str], rows: list[list[Any]], name: str) -> Response:
        book = Workbook(write_only=True)
        sheet = book.create_sheet(name[:31])
        sheet.append(header)
        first_is_date = header[0] == "date"  # a tile's days; tables start with a name (source, product)
        for row in rows:
            sheet.append([_sheet_cell(sheet, _cell(v, "date" if first_is_date else "text"), v) if i == 0
                          else _sheet_cell(sheet, _cell(v, "number"), v) for i, v in enumerate(row)])
        out = io.BytesIO()
        book.save(out)
        return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return _exported(write)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any) -> Any:  # noqa: ANN401
    """A name as a CSV cell no spreadsheet runs as a formula (OWASP "CSV injection": a source
    name comes from a shopper's URL, "=HYPERLINK(…)"): one starting like a formula gets a "'"."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _sheet_cell(sheet: Any, value: Any, as_reported: Any) -> Any:  # noqa: ANN401
    """A write-only cell: text always stored as text (openpyxl would store "=1+2" as a formula),
    figures with the decimals the report gives them ("80.00" shows as 80,00, not 80)."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    elif isinstance(value, Decimal) and isinstance(as_reported, str) and "." in as_reported:
        cell.number_format = "#,##0." + "0" * len(as_reported.rpartition(".")[2])
    return cell


def _cell(value: Any, kind: str) -> Any:  # noqa: ANN401
    """A report value as the sheet should hold it: figures ("1234.50") as exact numbers, days as
    dates, names as text without the control characters a spreadsheet refuses (a source name comes
    from a shopper's URL)."""
    if value is None or not isinstance(value, str):
        return value
    if kind == "number":
        return Decimal(value)
    if kind == "date" and value != "total":
        return date.fromisoformat(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value)


# --- the JSON API ------------------------------------------------------------------------------

@api.get("/kpis")
@authenticated
def kpis():  # noqa: ANN201
    """Section 7's report object for from..to, plus `compare`: the same object for the period
    compared with (previous, the default, or last_year)."""
    shop = _find_shop(g.session.shop)
    if shop is None:
        return jsonify(error="unknown shop"), 404
    try:
        first = report.parse_day(request.args.get("from", ""), "from")
        last = report.parse_day(request.args.get("to", ""), "to")
        _not_too_long(first, last)
        cfirst, clast = comparison(first, last, request.args.get("compare", "previous"))
        body = _report(shop, first, last)
        body["compare"] = _report(shop, cfirst, clast)
    except (RangeError, report.ReportError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(body)


@api.get("/openapi.json")
def openapi():  # noqa: ANN201
    """The OpenAPI document of the JSON API."""
    kpi_object = {"type": "object", "description": "kpi-definitions.md section 7: counts as integers, money "
                  "as strings in the currency's minor units, rates as strings with two decimals or null"}
    report_schema = {"type": "object", "required": ["shop", "currency", "timezone", "from", "to", "kpis", "days"],
                     "properties": {"shop": {"type": "string"}, "currency": {"type": "string"},
                                    "timezone": {"type": "string"}, "from": {"type": "string", "format": "date"},
                                    "to": {"type": "string", "format": "date"}, "kpis": kpi_object,
                                    "days": {"type": "array", "items": kpi_object}}}
    return jsonify({
        "openapi": "3.1.0",
        "info": {"title": "Kompas API", "version": "1"},
        "components": {"securitySchemes": {"sessionToken": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "Shopify session token (App Bridge): HS256, aud = the app's client id; or the "
                           "Kompas WordPress plugin's panel token: HS256, aud \"kompas\", iss = dest = the site URL, "
                           "at most 60 s, signed with the shop's panel secret"}},
            "schemas": {"Report": report_schema}},
        "security": [{"sessionToken": []}],
        "paths": {"/api/kpis": {"get": {
            "summary": "KPIs of the session's shop for a date range, with a comparison period",
            "parameters": [
                {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                {"name": "compare", "in": "query", "schema": {"type": "string", "enum": list(COMPARISONS)}}],
            "responses": {
                "200": {"description": "the report and `compare`, a report of the same shape",
                        "content": {"application/json": {"schema": {"allOf": [
                            {"$ref": "#/components/schemas/Report"},
                            {"type": "object", "properties": {"compare": {"$ref": "#/components/schemas/Report"}}}]}}}},
                "400": {"description": "bad dates"},
                "401": {"description": "missing or invalid session token; header X-Shopify-Retry-Invalid-Session-Request: 1"},
                "404": {"description": "the token's shop is not known"}}}}},
    })
