"""The section-7 report of a shop for a date range, read from the counters.

Its cost grows with the number of days in the range, not with the number of orders: one range
read of the daily counters plus two sums over the customer pair counters.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping

from sqlalchemy.orm import Session

from . import counters
from .kpi import derived
from .kpi.booking import FIRST_DAY, LAST_DAY, parse_iso_day
from .kpi.contributions import CLV_WINDOW_DAYS, DAILY_COUNTERS, PRODUCT_PREFIX, SOURCE_PREFIX
from .models import Shop

# a hundred years: any real shop's history (and every valid --from/--to of section 7 but a
# typo such as 2206-01-01, which would build a day entry for each of its ~65,000 days)
MAX_DAYS = 36_525


class ReportError(ValueError):
    """The range asked for cannot be reported (to before from, or absurdly long)."""


def parse_day(value: str, name: str) -> date:
    try:
        return parse_iso_day(value)
    except ValueError as exc:
        raise ReportError(f"{name} must be a date as YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}, "
                          f"got {value!r}") from exc


Daily = Mapping[date, Mapping[str, int]]


def build(session: Session, shop: Shop, start: date, end: date, daily: Daily | None = None) -> dict[str, Any]:
    """The report object for shop-local dates start..end, both included.

    `daily` is counters.daily_in_range for the same range, when the caller has read it already.
    """
    if end < start:
        raise ReportError(f"--to {end} is before --from {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportError(f"a range can be at most {MAX_DAYS} days")
    by_day = daily if daily is not None else counters.daily_in_range(session, shop.id, start, end)
    totals = {name: 0 for name in DAILY_COUNTERS}
    days = []
    day = start
    while day <= end:
        cells = by_day.get(day, {})
        for name, value in cells.items():
            totals[name] = totals.get(name, 0) + value
        customers = cells.get("customers", 0)
        entry = {"date": day.isoformat()}
        entry.update(derived.kpis(cells, customers, cells.get("new_customers", 0),
                                  cells.get("returning_customers", 0), shop.currency))
        days.append(entry)
        day += timedelta(days=1)
    return {
        "shop": shop.domain,
        "currency": shop.currency,
        "timezone": shop.timezone,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "kpis": _range_kpis(session, shop, start, end, by_day, totals),
        "days": days,
    }


def _range_kpis(session: Session, shop: Shop, start: date, end: date, daily: Daily,
                totals: Mapping[str, int]) -> dict[str, Any]:
    """The `kpis` object of start..end from its daily sums and its pair counters: customers
    distinct within the range, purchases of carts created on another day of the range."""
    pairs = counters.pairs_in_range(session, shop.id, start, end, daily)
    sums = dict(totals)
    for name, other_day in pairs.other_day_purchases.items():
        sums[name] = sums.get(name, 0) + other_day
    return derived.kpis(sums, pairs.customers, sums.get("new_customers", 0), pairs.customers - pairs.singles,
                        shop.currency)


def periods(session: Session, shop: Shop, spans: list[tuple[date, date]]) -> list[dict[str, Any]]:
    """The `kpis` object of each (first, last) span, as `build` would give it for that range
    (rates from the span's own sums, customers distinct within the span)."""
    if not spans:
        return []
    by_day = counters.daily_in_range(session, shop.id, spans[0][0], spans[-1][1])
    out = []
    for first, last in spans:
        daily = {d: cells for d, cells in by_day.items() if first <= d <= last}
        totals: dict[str, int] = {}
        for cells in daily.values():
            for name, value in cells.items():
                totals[name] = totals.get(name, 0) + value
        out.append(_range_kpis(session, shop, first, last, daily, totals))
    return out


RETENTION_WINDOW_DAYS = 365  # W of section 3 by default; each shop's own in Shop.retention_days


def retention(session: Session, shop: Shop, start: date, end: date, daily: Daily | None = None,
              window: int | None = None) -> dict[str, Any]:
    """Customer retention and churn over start..end (section 3), by shop-local days, with the
    shop's window W (`window` overrides it).

    Active at the start of R: an order on one of the W days before `start`; active at its end:
    an order on one of the W days up to and including `end`. Each is a distinct-customer count
    over a W-day range, read like any report's customers.
    """
    def active(first: date, last: date) -> int:
        daily = counters.daily_in_range(session, shop.id, first, last)
        return counters.pairs_in_range(session, shop.id, first, last, daily).customers

    window = window or shop.retention_days or RETENTION_WINDOW_DAYS
    at_start = active(start - timedelta(days=window), start - timedelta(days=1))
    at_end = active(end - timedelta(days=window - 1), end)
    in_range = daily if daily is not None else counters.daily_in_range(session, shop.id, start, end)
    new = sum(cells.get("new_customers", 0) for cells in in_range.values())
    rate = derived.customer_retention_rate(at_end, new, at_start)
    return {"active_at_start": at_start, "active_at_end": at_end, "new_customers": new,
            "customer_retention_rate": rate, "churn_rate": derived.churn_rate(at_end, new, at_start),
            "retention_days": window}


def sales_by_source(session: Session, shop: Shop, start: date, end: date) -> list[dict[str, Any]]:
    """Orders and net sales per traffic source over start..end, biggest net sales first.

    Net sales per source = its gross sales − discounts − returns (returns by refund day, as for
    the shop's own net sales, so the sources add up to the shop's net sales).
    """
    sums: dict[str, dict[str, int]] = {}
    for name, value in counters.breakdown_in_range(session, shop.id, start, end, SOURCE_PREFIX).items():
        source, _, counter = name[len(SOURCE_PREFIX):].rpartition("|")
        sums.setdefault(source, {})[counter] = value
    rows = [{"source": source, "orders": v.get("orders", 0),
             "net_sales_micros": derived.net_sales(v.get("gross_sales", 0), v.get("discounts", 0), v.get("returns", 0)),
             "net_sales": derived.money(derived.net_sales(v.get("gross_sales", 0), v.get("discounts", 0),
                                                          v.get("returns", 0)), shop.currency)}
            for source, v in sums.items()]
    return sorted((r for r in rows if r["orders"] or r["net_sales_micros"]),
                  key=lambda r: (-r["net_sales_micros"], r["source"]))


def lifetime_value(session: Session, shop: Shop, start: date, end: date, today: date,
                   daily: Daily | None = None) -> dict[str, Any]:
    """CLV (12 months) of the customers whose first order is in start..end (section 3), and how
    much of their first year has been observed by `today` (365 = all of it)."""
    if daily is None:
        daily = counters.daily_in_range(session, shop.id, start, end)
    value = sum(cells.get("clv12_net_sales", 0) for cells in daily.values())
    new = sum(cells.get("new_customers", 0) for cells in daily.values())
    # whole days passed since the latest first order (today is not over): 365 once it is a year old
    observed = max(0, min(CLV_WINDOW_DAYS, (today - end).days))
    return {"customer_lifetime_value": derived.lifetime_value(value, new, shop.currency),
            "observed_days": observed, "net_sales_micros": value, "customers": new}


def returns_by_product(session: Session, shop: Shop, start: date, end: date) -> list[dict[str, Any]]:
    """Returned items and returned goods value per product over start..end (refund days),
    biggest value first. Refunds known only by their total name no product and are not here."""
    sums: dict[str, dict[str, int]] = {}
    for name, value in counters.breakdown_in_range(session, shop.id, start, end, PRODUCT_PREFIX).items():
        product, _, counter = name[len(PRODUCT_PREFIX):].rpartition("|")
        sums.setdefault(product, {})[counter] = value
    rows = [{"product": product, "items_returned": v.get("items_returned", 0), "returns_micros": v.get("returns", 0),
             "returns": derived.money(v.get("returns", 0), shop.currency)} for product, v in sums.items()]
    return sorted((r for r in rows if r["items_returned"] or r["returns_micros"]),
                  key=lambda r: (-r["returns_micros"], r["product"]))
