"""The only module that writes counter rows, and the one that reads them back for a date range.

Writes are additive upserts (INSERT … ON CONFLICT DO UPDATE SET value = value + excluded.value) in
the caller's transaction, with the keys sorted so that two writers never lock rows in opposite
orders. Money is in micros, see plugin.kpi.money.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .kpi.contributions import CUSTOMER_FIRST_SECOND, CUSTOMER_VISIT, CounterKey
from .models import DailyCounter, PairCounter

_DAILY = DailyCounter.__table__
_PAIR = PairCounter.__table__


def _insert(session: Session, table):  # noqa: ANN001
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


def add(session: Session, shop_id: int, cells: Mapping[CounterKey, int]) -> None:
    """counters[shop_id][key] += value for every cell, in the caller's transaction."""
    daily, pairs = [], []
    for key in sorted(cells, key=lambda k: (k.name, k.day, k.ref or k.day)):
        value = cells[key]
        if not value:
            continue
        if key.ref is None:
            daily.append({"shop_id": shop_id, "day": key.day, "name": key.name, "value": value})
        else:
            pairs.append({"shop_id": shop_id, "name": key.name, "day": key.day, "ref_day": key.ref,
                          "value": value})
    for table, rows, keys in ((_DAILY, daily, ["shop_id", "day", "name"]),
                              (_PAIR, pairs, ["shop_id", "name", "day", "ref_day"])):
        if not rows:
            continue
        stmt = _insert(session, table)
        stmt = stmt.on_conflict_do_update(index_elements=keys,
                                          set_={"value": table.c.value + stmt.excluded.value})
        session.execute(stmt, rows)


def replace_all(session: Session, shop_id: int, cells: Mapping[CounterKey, int]) -> None:
    """Rewrite every counter of a shop from `cells` (kompas rebuild)."""
    session.execute(delete(_DAILY).where(_DAILY.c.shop_id == shop_id))
    session.execute(delete(_PAIR).where(_PAIR.c.shop_id == shop_id))
    add(session, shop_id, cells)


def read_all(session: Session, shop_id: int) -> dict[CounterKey, int]:
    """Every non-zero counter cell of a shop (kompas verify)."""
    out: dict[CounterKey, int] = {}
    for day, name, value in session.execute(
            select(_DAILY.c.day, _DAILY.c.name, _DAILY.c.value).where(_DAILY.c.shop_id == shop_id)):
        if value:
            out[CounterKey(name, day)] = value
    for name, day, ref, value in session.execute(
            select(_PAIR.c.name, _PAIR.c.day, _PAIR.c.ref_day, _PAIR.c.value)
            .where(_PAIR.c.shop_id == shop_id)):
        if value:
            out[CounterKey(name, day, ref)] = value
    return out


def daily_in_range(session: Session, shop_id: int, start: date, end: date) -> dict[date, dict[str, int]]:
    """{day: {counter: value}} for start ≤ day ≤ end (both shop-local, included)."""
    out: dict[date, dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(_DAILY.c.day, _DAILY.c.name, _DAILY.c.value)
        .where(_DAILY.c.shop_id == shop_id, _DAILY.c.day >= start, _DAILY.c.day <= end))
    for day, name, value in rows:
        out[day][name] = value
    return out


def customers_in_range(session: Session, shop_id: int, start: date, end: date) -> tuple[int, int]:
    """(customers(R), customers of R with only one counted order up to R's last day).

    customers(R) = Σ customer_visit(d, previous) over start ≤ d ≤ end with previous < start;
    single-order customers = Σ customer_first_second(first, second) over first in R, second > end.
    """
    visits = session.execute(
        select(func.coalesce(func.sum(_PAIR.c.value), 0)).where(
            _PAIR.c.shop_id == shop_id, _PAIR.c.name == CUSTOMER_VISIT,
            _PAIR.c.day >= start, _PAIR.c.day <= end, _PAIR.c.ref_day < start)).scalar_one()
    singles = session.execute(
        select(func.coalesce(func.sum(_PAIR.c.value), 0)).where(
            _PAIR.c.shop_id == shop_id, _PAIR.c.name == CUSTOMER_FIRST_SECOND,
            _PAIR.c.day >= start, _PAIR.c.day <= end, _PAIR.c.ref_day > end)).scalar_one()
    return int(visits), int(singles)
