"""The only module that writes counter rows, and the one that reads them back for a date range.

Two kinds of rows:
- daily counters: value per (day, name); money in micros (plugin.kpi.money); in `daily_counters`,
  with the source and product breakdowns in `source_counters` and the hourly one in `hour_counters`;
- day histograms (`day_histograms`): per (name, day) an array of counts by gap in days, for the
  pair counters of plugin.kpi.contributions (customer_visit, customer_first_second, and the
  purchases on another day than their cart's or checkout's).

Writes are additive, in the caller's transaction, with keys sorted so that two writers never lock
rows in opposite orders (appliers of one shop are serialized anyway, see plugin.applier).
"""
from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.orm import Session

from .kpi.contributions import (BACKDATED_PURCHASES, CUSTOMER_FIRST_SECOND, CUSTOMER_VISIT, HOUR_PREFIX,
                                LATER_PURCHASES, NO_DAY_AFTER, NO_DAY_BEFORE, PRODUCT_PREFIX, SOURCE_PREFIX,
                                CounterKey)
from .models import DailyCounter, DayHistogram, HourCounter, SourceCounter
from .upserts import upsert

_DAILY = DailyCounter.__table__
_SOURCES = SourceCounter.__table__  # every breakdown counter: by traffic source and by product
_BREAKDOWNS = (SOURCE_PREFIX, PRODUCT_PREFIX)
_HOURS = HourCounter.__table__      # by shop-local hour ("hour:HH|…"), for alerts
_HIST = DayHistogram.__table__


def _decode(data: bytes | None) -> array:
    counts = array("i")
    if data:
        counts.frombytes(data)
    return counts


def _encode(counts: array) -> bytes:
    while counts and counts[-1] == 0:  # keep rows short: trailing zeros say nothing
        counts.pop()
    return counts.tobytes()


def histogram_cells(cells: Mapping[CounterKey, int]) -> dict[tuple[str, date], dict[int, int]]:
    """Pair cells as histogram increments {(name, day): {gap: delta}}.

    A visit with no previous order day, and a first order with no second yet, have no gap: the
    range formulas never subtract them, so they are not stored.
    """
    out: dict[tuple[str, date], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for key, value in cells.items():
        if key.ref is None or not value:
            continue
        if key.ref in (NO_DAY_BEFORE, NO_DAY_AFTER):
            continue
        gap = abs((key.day - key.ref).days)
        out[(key.name, key.day)][gap] += value
    return out


def _table_of(name: str):  # noqa: ANN202
    if name.startswith(HOUR_PREFIX):
        return _HOURS
    return _SOURCES if name.startswith(_BREAKDOWNS) else _DAILY


def add(session: Session, shop_id: int, cells: Mapping[CounterKey, int]) -> None:
    """counters[shop_id][key] += value for every cell, in the caller's transaction."""
    rows = [{"shop_id": shop_id, "day": k.day, "name": k.name, "value": v}
            for k, v in sorted(cells.items(), key=lambda kv: (kv[0].day, kv[0].name))
            if v and k.ref is None]
    by_table: dict = {_DAILY: [], _SOURCES: [], _HOURS: []}
    for row in rows:
        by_table[_table_of(row["name"])].append(row)
    for table, mine in by_table.items():
        upsert(session, table, mine, keys=("shop_id", "day", "name"), add=("value",))
    _add_histograms(session, shop_id, histogram_cells(cells))


def _add_histograms(session: Session, shop_id: int, increments: dict[tuple[str, date], dict[int, int]]) -> None:
    if not increments:
        return
    keys = sorted(increments)
    current: dict[tuple[str, date], bytes] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        rows = session.execute(select(_HIST.c.name, _HIST.c.day, _HIST.c.data).where(
            _HIST.c.shop_id == shop_id, tuple_(_HIST.c.name, _HIST.c.day).in_(chunk)))
        current.update({(name, day): data for name, day, data in rows})
    upserts = []
    for key in keys:
        counts = _decode(current.get(key))
        for gap, value in increments[key].items():
            if gap >= len(counts):
                counts.extend([0] * (gap + 1 - len(counts)))
            counts[gap] += value
        upserts.append({"shop_id": shop_id, "name": key[0], "day": key[1], "data": _encode(counts)})
    upsert(session, _HIST, upserts, keys=("shop_id", "name", "day"))


def replace_all(session: Session, shop_id: int, cells: Mapping[CounterKey, int]) -> None:
    """Rewrite every counter of a shop from `cells` (kompas rebuild)."""
    for table in (_DAILY, _SOURCES, _HOURS, _HIST):
        session.execute(delete(table).where(table.c.shop_id == shop_id))
    add(session, shop_id, cells)


def comparable(cells: Mapping[CounterKey, int]) -> dict[tuple, int]:
    """Cells in the form they are stored in, so that stored and recomputed counters compare."""
    out: dict[tuple, int] = {(k.name, k.day): v for k, v in cells.items() if k.ref is None and v}
    for (name, day), gaps in histogram_cells(cells).items():
        for gap, value in gaps.items():
            if value:
                out[(name, day, gap)] = value
    return out


def read_all(session: Session, shop_id: int) -> dict[tuple, int]:
    """Every non-zero stored cell of a shop, in `comparable` form (kompas verify)."""
    out: dict[tuple, int] = {}
    for table in (_DAILY, _SOURCES, _HOURS):
        for day, name, value in session.execute(
                select(table.c.day, table.c.name, table.c.value).where(table.c.shop_id == shop_id)):
            if value:
                out[(name, day)] = value
    for name, day, data in session.execute(
            select(_HIST.c.name, _HIST.c.day, _HIST.c.data).where(_HIST.c.shop_id == shop_id)):
        for gap, value in enumerate(_decode(data)):
            if value:
                out[(name, day, gap)] = value
    return out


_RANGE = (select(_DAILY.c.day, _DAILY.c.name, _DAILY.c.value)
          .where(_DAILY.c.shop_id == bindparam("shop_id"), _DAILY.c.day >= bindparam("start"),
                 _DAILY.c.day <= bindparam("end")))
_HIST_RANGE = (select(_HIST.c.name, _HIST.c.day, _HIST.c.data)
               .where(_HIST.c.shop_id == bindparam("shop_id"), _HIST.c.day >= bindparam("start"),
                      _HIST.c.day <= bindparam("end")))


def daily_in_range(session: Session, shop_id: int, start: date, end: date) -> dict[date, dict[str, int]]:
    """{day: {counter: value}} for start ≤ day ≤ end (both shop-local, included)."""
    out: dict[date, dict[str, int]] = defaultdict(dict)
    for day, name, value in session.execute(_RANGE, {"shop_id": shop_id, "start": start, "end": end}).all():
        out[day][name] = value
    return out


def breakdown_in_range(session: Session, shop_id: int, start: date, end: date, prefix: str) -> dict[str, int]:
    """{"<prefix><key>|<counter>": sum over start..end} of one breakdown's counters."""
    out: dict[str, int] = defaultdict(int)
    for name, value in session.execute(
            select(_SOURCES.c.name, _SOURCES.c.value).where(
                _SOURCES.c.shop_id == shop_id, _SOURCES.c.day >= start, _SOURCES.c.day <= end,
                _SOURCES.c.name.startswith(prefix, autoescape=True))):
        out[name] += value
    return out


@dataclass
class RangePairs:
    """What a range R = [start, end] reads from the pair counters (its figures do not add up over days)."""

    customers: int = 0       # distinct customers with a counted order in R
    singles: int = 0         # customers of R with only one counted order up to R's last day
    # {"cart_purchases": n, "checkout_purchases": n}: orders in R whose cart (checkout) was created
    # on another day of R, to add to the daily same-day purchases
    other_day_purchases: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LATER_PURCHASES.values(), 0))


def pairs_in_range(session: Session, shop_id: int, start: date, end: date,
                   daily: Mapping[date, Mapping[str, int]]) -> RangePairs:
    """The range figures of R = [start, end] from the day histograms:

    customers(R) = Σ_d customers(d) − Σ_d visits on d whose previous order day is ≥ start,
                   i.e. whose gap ≤ d − start;
    singles(R)   = Σ_d new_customers(d) − Σ_d customers first ordering on d whose second order
                   is ≤ end, i.e. whose gap ≤ end − d;
    other-day purchases(R) = Σ_d orders on d whose cart (checkout) was created 1 to d − start days
                   before, or (back-dated orders) 1 to end − d days after.
    `daily` is daily_in_range's answer for the same range. The work is one histogram row per
    day and name, each summed up to a gap bounded by the range's length.
    """
    pairs = RangePairs(customers=sum(cells.get("customers", 0) for cells in daily.values()),
                       singles=sum(cells.get("new_customers", 0) for cells in daily.values()))
    for name, day, data in session.execute(_HIST_RANGE, {"shop_id": shop_id, "start": start, "end": end}):
        counts = _decode(data)
        if name == CUSTOMER_VISIT:
            pairs.customers -= sum(counts[1:(day - start).days + 1])
        elif name == CUSTOMER_FIRST_SECOND:
            pairs.singles -= sum(counts[:(end - day).days + 1])
        elif name in LATER_PURCHASES:
            pairs.other_day_purchases[LATER_PURCHASES[name]] += sum(counts[1:(day - start).days + 1])
        elif name in BACKDATED_PURCHASES:
            pairs.other_day_purchases[BACKDATED_PURCHASES[name]] += sum(counts[1:(end - day).days + 1])
    return pairs
