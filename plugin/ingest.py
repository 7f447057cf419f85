"""The service layer: apply new entity states to a shop. The one entry used by webhooks, replay
and backfill alike.

Order of operations for each state, inside the caller's transaction (Cosmic Python's service
layer, dj-stripe's "process in one transaction"):
  load the stored state → reconcile (an older or equal state stops here: "stale"/"duplicate")
  → contribution of every aggregate the entity belongs to, before → store the new state
  → the same contributions after → counters += after − before.
Duplicates, replays and any delivery order therefore converge by construction.

Callers must not apply states of one shop in two transactions at once (see plugin.applier, which
serializes per shop); SQLite serializes all writers anyway.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import counters
from .kpi.booking import from_epoch_micros, local_day, shop_zone
from .kpi.contributions import (Contribution, cart_contribution, customer_contribution, delta,
                                full_contribution, order_contribution, return_contribution)
from .kpi.entities import (CartState, OrderState, RefundState, ReturnState, State, reconcile,
                           state_from_json, state_to_json)
from .models import EntityState, Shop

_STATES = EntityState.__table__


@dataclass(frozen=True)
class ShopContext:
    """What applying needs to know about a shop: its id and its time zone."""

    id: int
    zone: ZoneInfo

    @classmethod
    def of(cls, shop: Shop) -> "ShopContext":
        return cls(id=shop.id, zone=shop_zone(shop.timezone))


@dataclass(frozen=True)
class Applied:
    kind: str
    key: str


@dataclass(frozen=True)
class Dropped:
    kind: str
    key: str
    reason: str  # "stale" (older than the stored state) or "duplicate" (the same state)


Outcome = Applied | Dropped


# --- entity store ------------------------------------------------------------------------------

def load(session: Session, shop_id: int, kind: str, key: str) -> State | None:
    data = session.execute(select(_STATES.c.data).where(
        _STATES.c.shop_id == shop_id, _STATES.c.kind == kind, _STATES.c.key == key)).scalar_one_or_none()
    return None if data is None else state_from_json(kind, data)


def _row(shop_id: int, state: State) -> dict:
    row = {"shop_id": shop_id, "kind": state.kind, "key": state.key, "data": state_to_json(state),
           "version": getattr(state, "version", 0), "parent_key": None, "customer_key": None,
           "cart_token": None, "checkout_token": None, "counts": False, "booked_at": None}
    if isinstance(state, OrderState):
        row.update(customer_key=state.customer_key, cart_token=state.cart_token,
                   checkout_token=state.checkout_token, counts=state.counts, booked_at=state.booked_at)
    elif isinstance(state, (RefundState, ReturnState)):
        row.update(parent_key=state.order_id)
    return row


def save(session: Session, shop_id: int, state: State) -> None:
    """Insert or replace the stored state of `state`'s entity."""
    row = _row(shop_id, state)
    dialect = session.get_bind().dialect.name
    stmt = (postgresql.insert(_STATES) if dialect == "postgresql" else sqlite.insert(_STATES)).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "kind", "key"],
        set_={k: stmt.excluded[k] for k in row if k not in ("shop_id", "kind", "key")})
    session.execute(stmt)


def all_states(session: Session, shop_id: int) -> Iterator[State]:
    rows = session.execute(select(_STATES.c.kind, _STATES.c.data).where(_STATES.c.shop_id == shop_id)
                           .execution_options(yield_per=2000))
    for kind, data in rows:
        yield state_from_json(kind, data)


# --- aggregates --------------------------------------------------------------------------------

def _created_at(session: Session, shop_id: int, kind: str, token: str | None) -> int | None:
    if not token:
        return None
    state = load(session, shop_id, kind, token)
    return state.created_at if isinstance(state, CartState) else None


def _order_aggregate(session: Session, shop: ShopContext, order_id: str) -> Contribution:
    order = load(session, shop.id, "order", order_id)
    if not isinstance(order, OrderState) or not order.counts:
        return Counter()
    refunds = [state_from_json("refund", data) for data in session.execute(
        select(_STATES.c.data).where(_STATES.c.shop_id == shop.id, _STATES.c.kind == "refund",
                                     _STATES.c.parent_key == order_id)).scalars()]
    return order_contribution(order, refunds,  # type: ignore[arg-type]
                              _created_at(session, shop.id, "cart", order.cart_token),
                              _created_at(session, shop.id, "checkout", order.checkout_token),
                              shop.zone)


def _customer_aggregate(session: Session, shop: ShopContext, customer_key: str) -> Contribution:
    instants = session.execute(select(_STATES.c.booked_at).where(
        _STATES.c.shop_id == shop.id, _STATES.c.customer_key == customer_key,
        _STATES.c.kind == "order", _STATES.c.counts.is_(True))).scalars()
    days: list[date] = [local_day(from_epoch_micros(i), shop.zone) for i in instants]
    return customer_contribution(days)


def _orders_with_token(session: Session, shop_id: int, kind: str, token: str) -> list[str]:
    column = _STATES.c.cart_token if kind == "cart" else _STATES.c.checkout_token
    return list(session.execute(select(_STATES.c.key).where(
        _STATES.c.shop_id == shop_id, _STATES.c.kind == "order", column == token)).scalars())


def _contribution(session: Session, shop: ShopContext, orders: set[str], customers: set[str],
                  own: State | None) -> Contribution:
    total: Contribution = Counter()
    for order_id in sorted(orders):
        total.update(_order_aggregate(session, shop, order_id))
    for customer_key in sorted(customers):
        total.update(_customer_aggregate(session, shop, customer_key))
    if isinstance(own, CartState):
        total.update(cart_contribution(own, shop.zone))
    elif isinstance(own, ReturnState):
        total.update(return_contribution(own, shop.zone))
    return total


# --- the one entry -----------------------------------------------------------------------------

def apply(session: Session, shop: ShopContext, states: Iterable[State],
          into: Contribution | None = None) -> list[Outcome]:
    """Apply new entity states of one shop; returns what happened to each.

    Counter changes are written in the caller's transaction, or, when `into` is given, added to
    it for the caller to write with `counters.add` (batching many deliveries into one upsert).
    """
    pending: Contribution = Counter() if into is None else into
    outcomes: list[Outcome] = []
    for state in states:
        stored = load(session, shop.id, state.kind, state.key)
        new = reconcile(stored, state)
        if new is None:
            same = stored is not None and getattr(stored, "version", None) == getattr(state, "version", None)
            outcomes.append(Dropped(state.kind, state.key, "duplicate" if same else "stale"))
            continue
        orders: set[str] = set()
        customers: set[str] = set()
        if isinstance(new, OrderState):
            orders.add(new.order_id)
            for s in (stored, new):
                if isinstance(s, OrderState) and s.counts and s.customer_key:
                    customers.add(s.customer_key)
        elif isinstance(new, RefundState):
            orders.add(new.order_id)
            if isinstance(stored, RefundState):
                orders.add(stored.order_id)
        elif isinstance(new, CartState):
            orders.update(_orders_with_token(session, shop.id, new.cart_kind, new.token))
        before = _contribution(session, shop, orders, customers, stored)
        save(session, shop.id, new)
        after = _contribution(session, shop, orders, customers, new)
        pending.update(delta(before, after))
        outcomes.append(Applied(new.kind, new.key))
    if into is None:
        counters.add(session, shop.id, Counter({k: v for k, v in pending.items() if v}))
    return outcomes


def recompute(session: Session, shop: ShopContext) -> Contribution:
    """Every counter of the shop recomputed from its stored entity states."""
    return full_contribution(all_states(session, shop.id), shop.zone)


def differences(session: Session, shop: ShopContext) -> dict:
    """{counter key: (running, recomputed)} for every cell where the two differ."""
    expected = recompute(session, shop)
    running = counters.read_all(session, shop.id)
    return {k: (running.get(k, 0), expected.get(k, 0))
            for k in set(expected) | set(running) if running.get(k, 0) != expected.get(k, 0)}


def rebuild(session: Session, shop: ShopContext) -> None:
    """Rewrite the shop's counters from its stored entity states."""
    counters.replace_all(session, shop.id, recompute(session, shop))


def forget_shop_states(session: Session, shop_id: int) -> None:
    session.execute(delete(_STATES).where(_STATES.c.shop_id == shop_id))
