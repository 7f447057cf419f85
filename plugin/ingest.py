"""The service layer: apply new entity states to a shop. The one entry used by webhooks, replay
and backfill alike.

Order of operations for each state, inside the caller's transaction (Cosmic Python's service
layer, dj-stripe's "process in one transaction"):
  load the stored state → reconcile (an older or equal state stops here: "stale"/"duplicate")
  → contribution of every aggregate the entity belongs to, before → keep the new state
  → the same contributions after → counters += after − before.
Duplicates, replays and any delivery order therefore converge by construction.

A `WorkingSet` holds the stored states one batch touches: loaded in bulk (a few IN queries for a
whole batch of deliveries or a backfill page), changed in memory, written back once. Callers must
not apply states of one shop in two transactions at once (plugin.applier serializes per shop;
SQLite serializes all writers anyway).
"""
from __future__ import annotations

import dataclasses

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import counters
from .db import lock_shop_writers
from .kpi.booking import from_epoch_micros, local_day, shop_zone
from .kpi.contributions import (Contribution, cart_contribution, customer_contribution,
                                customer_value_contribution, delta, full_contribution, order_contribution,
                                return_contribution, returns_contribution)
from .kpi.entities import (CartState, OrderState, RefundState, ReturnState, State, placed_after, reconcile,
                           state_from_json, state_to_json)
from .upserts import insert_new, upsert
from .models import EntityState, OrderStatus, Shop
from .pseudonyms import Redactions, has_redactions, names_of

_STATES = EntityState.__table__
_CHUNK = 500
_STATUSES = OrderStatus.__table__


@dataclass(frozen=True)
class ShopContext:
    """What applying needs to know about a shop: its id, its time zone, the secret key of its
    customer hashes and pseudonyms, and the order statuses its merchant excluded."""

    id: int
    zone: ZoneInfo
    customer_hash_key: str = ""
    excluded_statuses: frozenset[str] = frozenset()

    @classmethod
    def of(cls, shop: Shop) -> "ShopContext":
        return cls(id=shop.id, zone=shop_zone(shop.timezone), customer_hash_key=shop.customer_hash_key,
                   excluded_statuses=excluded_statuses(shop))


def excluded_statuses(shop: Shop) -> frozenset[str]:
    """The order statuses the shop's merchant excluded (Shop.excluded_statuses, comma-separated)."""
    return frozenset(s for s in (shop.excluded_statuses or "").split(",") if s)


def with_exclusion(state: State, excluded: frozenset[str]) -> State:
    """`state`, an order with a status marked excluded or not by the shop's setting (section 1)."""
    if isinstance(state, OrderState) and state.status is not None and state.excluded != (state.status in excluded):
        return dataclasses.replace(state, excluded=state.status in excluded)
    return state


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

# Prebuilt statements: building SQLAlchemy statements per entity costs more than running them.
_BY_KEYS = (select(_STATES.c.kind, _STATES.c.key, _STATES.c.data)
            .where(_STATES.c.shop_id == bindparam("shop_id"), _STATES.c.kind == bindparam("kind"),
                   _STATES.c.key.in_(bindparam("keys", expanding=True))))
# an order's refunds and returns, which count with it (one query for both)
_CHILDREN_OF = (select(_STATES.c.kind, _STATES.c.key, _STATES.c.parent_key, _STATES.c.data)
                .where(_STATES.c.shop_id == bindparam("shop_id"),
                       _STATES.c.parent_key.in_(bindparam("keys", expanding=True)),
                       _STATES.c.kind.in_(("refund", "return"))))
# Only order rows carry customer_key, cart_token and checkout_token (see models.EntityState).
_ORDERS_OF_CUSTOMERS = (select(_STATES.c.customer_key, _STATES.c.key, _STATES.c.data)
                        .where(_STATES.c.shop_id == bindparam("shop_id"), _STATES.c.counts.is_(True),
                               _STATES.c.customer_key.in_(bindparam("keys", expanding=True))))
_ORDERS_WITH_CART = (select(_STATES.c.key, _STATES.c.cart_token, _STATES.c.data)
                     .where(_STATES.c.shop_id == bindparam("shop_id"),
                            _STATES.c.cart_token.in_(bindparam("keys", expanding=True))))
_ORDERS_WITH_CHECKOUT = (select(_STATES.c.key, _STATES.c.checkout_token, _STATES.c.data)
                         .where(_STATES.c.shop_id == bindparam("shop_id"),
                                _STATES.c.checkout_token.in_(bindparam("keys", expanding=True))))


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    items = list(items)
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


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


class WorkingSet:
    """The stored states of one shop that a batch reads and changes, cached for the batch.

    Every lookup goes through the cache; what is not cached yet is loaded from the database (in
    bulk by `prefetch`). Changed states are written back by `flush`.
    """

    def __init__(self, session: Session, shop: ShopContext) -> None:
        self.session = session
        self.shop = shop
        self._states: dict[tuple[str, str], State | None] = {}
        self._refunds: dict[str, dict[str, RefundState]] = {}          # order id → refunds
        self._returns: dict[str, dict[str, ReturnState]] = {}          # order id → returns
        self._customers: dict[str, dict[str, OrderState]] = {}        # customer → {order id: counted order}
        self._token_orders: dict[tuple[str, str], set[str]] = {}      # (cart|checkout, token) → orders
        self._dirty: dict[tuple[str, str], State] = {}

    # -- loading ---------------------------------------------------------------------------------
    def _load_keys(self, kind: str, keys: Iterable[str]) -> None:
        missing = sorted({k for k in keys if (kind, k) not in self._states})
        for chunk in _chunks(missing):
            for k in chunk:
                self._states[(kind, k)] = None
            for _, key, data in self.session.execute(_BY_KEYS, {"shop_id": self.shop.id, "kind": kind, "keys": chunk}):
                self._states[(kind, key)] = state_from_json(kind, data)

    def _load_refunds(self, order_ids: Iterable[str]) -> None:
        """Load the refunds and the returns of `order_ids`."""
        missing = sorted({o for o in order_ids if o not in self._refunds})
        for chunk in _chunks(missing):
            for o in chunk:
                self._refunds[o], self._returns[o] = {}, {}
            for kind, key, parent, data in self.session.execute(_CHILDREN_OF, {"shop_id": self.shop.id,
                                                                               "keys": chunk}):
                if (kind, key) in self._dirty:
                    continue  # changed in this batch: the memory copy is newer
                state = state_from_json(kind, data)
                self._states[(kind, key)] = state
                (self._refunds if kind == "refund" else self._returns)[parent][key] = state  # type: ignore[index]
            for (kind, key), state in self._dirty.items():  # refunds and returns new in this batch
                if isinstance(state, RefundState) and state.order_id in chunk:
                    self._refunds[state.order_id][key] = state
                elif isinstance(state, ReturnState) and state.order_id in chunk:
                    self._returns[state.order_id][key] = state  # type: ignore[index]

    def _load_customers(self, customer_keys: Iterable[str]) -> None:
        missing = sorted({c for c in customer_keys if c not in self._customers})
        for chunk in _chunks(missing):
            for c in chunk:
                self._customers[c] = {}
            for customer, key, data in self.session.execute(
                    _ORDERS_OF_CUSTOMERS, {"shop_id": self.shop.id, "keys": chunk}):
                if ("order", key) in self._dirty:
                    continue
                order = state_from_json("order", data)
                self._states.setdefault(("order", key), order)
                self._customers[customer][key] = order  # type: ignore[assignment]
            # orders changed in this batch before the customer was loaded
            for (kind, key), state in self._dirty.items():
                if kind == "order" and isinstance(state, OrderState) and state.counts and state.customer_key in chunk:
                    self._customers[state.customer_key][key] = state  # type: ignore[index]

    def _load_token_orders(self, kind: str, tokens: Iterable[str]) -> None:
        missing = sorted({t for t in tokens if (kind, t) not in self._token_orders})
        statement = _ORDERS_WITH_CART if kind == "cart" else _ORDERS_WITH_CHECKOUT
        for chunk in _chunks(missing):
            for t in chunk:
                self._token_orders[(kind, t)] = set()
            for key, token, data in self.session.execute(statement, {"shop_id": self.shop.id, "keys": chunk}):
                if ("order", key) in self._dirty:
                    continue  # its token may have changed in this batch; added below
                if ("order", key) not in self._states:
                    self._states[("order", key)] = state_from_json("order", data)
                self._token_orders[(kind, token)].add(key)
            for (k, key), state in self._dirty.items():
                if k == "order" and isinstance(state, OrderState):
                    token = state.cart_token if kind == "cart" else state.checkout_token
                    if token in chunk:
                        self._token_orders[(kind, token)].add(key)  # type: ignore[index]

    def prefetch(self, states: Sequence[State]) -> None:
        """Load in bulk what applying `states` will read."""
        by_kind: dict[str, set[str]] = defaultdict(set)
        order_ids: set[str] = set()
        for s in states:
            by_kind[s.kind].add(s.key)
            if isinstance(s, (OrderState, RefundState, ReturnState)) and s.order_id:
                order_ids.add(s.order_id)
        for kind, keys in by_kind.items():
            self._load_keys(kind, keys)
        self._load_keys("order", order_ids)
        self._load_refunds(order_ids)
        customers, carts, checkouts = set(), set(), set()
        # the stored orders and the incoming ones name the customers, carts and checkouts to load
        for s in [self._states.get(("order", o)) for o in order_ids] + list(states):
            if isinstance(s, OrderState):
                for value, bucket in ((s.customer_key, customers), (s.cart_token, carts), (s.checkout_token, checkouts)):
                    if value:
                        bucket.add(value)
        self._load_customers(customers)
        # a customer's lifetime value reads the refunds of all their orders
        self._load_refunds(o for c in customers for o in self._customers.get(c, ()))
        self._load_keys("cart", carts)
        self._load_keys("checkout", checkouts)
        self._load_token_orders("cart", by_kind.get("cart", ()))
        self._load_token_orders("checkout", by_kind.get("checkout", ()))

    # -- reading ---------------------------------------------------------------------------------
    def get(self, kind: str, key: str) -> State | None:
        if (kind, key) not in self._states:
            self._load_keys(kind, [key])
        return self._states[(kind, key)]

    def refunds_of(self, order_id: str) -> list[RefundState]:
        if order_id not in self._refunds:
            self._load_refunds([order_id])
        return list(self._refunds[order_id].values())

    def returns_of(self, order_id: str) -> list[ReturnState]:
        if order_id not in self._returns:
            self._load_refunds([order_id])
        return list(self._returns[order_id].values())

    def customer_orders(self, customer_key: str) -> list[OrderState]:
        if customer_key not in self._customers:
            self._load_customers([customer_key])
        return list(self._customers[customer_key].values())

    def orders_with_token(self, kind: str, token: str) -> set[str]:
        if (kind, token) not in self._token_orders:
            self._load_token_orders(kind, [token])
        return set(self._token_orders[(kind, token)])

    # -- changing --------------------------------------------------------------------------------
    def put(self, state: State) -> None:
        old = self._states.get((state.kind, state.key))
        if isinstance(state, OrderState):
            # keep the indexes of this working set in step with the new state
            if isinstance(old, OrderState):
                if old.customer_key in self._customers:
                    self._customers[old.customer_key].pop(old.order_id, None)
                for kind, token in (("cart", old.cart_token), ("checkout", old.checkout_token)):
                    if token and (kind, token) in self._token_orders:
                        self._token_orders[(kind, token)].discard(old.order_id)
            if state.counts and state.customer_key and state.customer_key in self._customers:
                self._customers[state.customer_key][state.order_id] = state
            for kind, token in (("cart", state.cart_token), ("checkout", state.checkout_token)):
                if token and (kind, token) in self._token_orders:
                    self._token_orders[(kind, token)].add(state.order_id)
        elif isinstance(state, RefundState):
            if isinstance(old, RefundState) and old.order_id in self._refunds:
                self._refunds[old.order_id].pop(old.refund_id, None)
            if state.order_id in self._refunds:
                self._refunds[state.order_id][state.refund_id] = state
        elif isinstance(state, ReturnState):
            if isinstance(old, ReturnState) and old.order_id in self._returns:
                self._returns[old.order_id].pop(old.return_id, None)  # type: ignore[arg-type]
            if state.order_id in self._returns:
                self._returns[state.order_id][state.return_id] = state  # type: ignore[index]
        self._states[(state.kind, state.key)] = state
        self._dirty[(state.kind, state.key)] = state

    def flush(self) -> None:
        """Write every changed state back (one upsert statement for all of them)."""
        if not self._dirty:
            return
        rows = [_row(self.shop.id, s) for _, s in sorted(self._dirty.items())]
        upsert(self.session, _STATES, rows, keys=("shop_id", "kind", "key"))
        record_statuses(self.session, self.shop.id, {s.status for s in self._dirty.values()
                                                     if isinstance(s, OrderState) and s.status})
        self._dirty.clear()

    # -- aggregates ------------------------------------------------------------------------------
    def order_aggregate(self, order_id: str) -> Contribution:
        """What an order counts with its refunds, its cart and checkout days, and its returns."""
        order = self.get("order", order_id)
        out = returns_contribution(order, self.returns_of(order_id), self.shop.zone)  # type: ignore[arg-type]
        if not isinstance(order, OrderState) or not order.counts:
            return out
        cart = self.get("cart", order.cart_token) if order.cart_token else None
        checkout = self.get("checkout", order.checkout_token) if order.checkout_token else None
        out.update(order_contribution(order, self.refunds_of(order_id),
                                      cart.created_at if isinstance(cart, CartState) else None,
                                      checkout.created_at if isinstance(checkout, CartState) else None,
                                      self.shop.zone))
        return out

    def customer_aggregate(self, customer_key: str) -> Contribution:
        zone = self.shop.zone
        orders = self.customer_orders(customer_key)
        self._load_refunds(o.order_id for o in orders)
        total = customer_contribution(local_day(from_epoch_micros(o.booked_at), zone)  # type: ignore[arg-type]
                                      for o in orders)
        total.update(customer_value_contribution(orders, {o.order_id: self.refunds_of(o.order_id) for o in orders},
                                                 zone))
        return total


def _own(state: State | None, zone) -> Contribution:  # noqa: ANN001
    """What a cart, checkout or a return without an order id counts by itself (orders, refunds and
    returns of an order count through the order's aggregate)."""
    if isinstance(state, CartState):
        return cart_contribution(state, zone)
    if isinstance(state, ReturnState) and not state.order_id:
        return return_contribution(state, zone)
    return Counter()


def apply_states(ws: WorkingSet, states: Iterable[State], into: Contribution) -> list[Outcome]:
    """Apply `states` in order to the working set, adding the counter changes to `into`.

    Counters are sums of aggregate contributions (an order with its refunds and its cart and
    checkout days; a customer's order days and value). Each aggregate a state touches is read
    once before the first state of the batch changes it, and once after the whole batch; their
    difference is the batch's change. (Reading it before and after every state gave the same sum
    at many times the cost when a batch touches a customer or an order more than once.)
    """
    outcomes: list[Outcome] = []
    before: dict[tuple[str, str], Contribution] = {}
    for state in states:
        state = with_exclusion(state, ws.shop.excluded_statuses)
        stored = ws.get(state.kind, state.key)
        state = placed_after(stored, state)
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
            for order_id in orders:  # a refund changes its customer's lifetime value
                order = ws.get("order", order_id)
                if isinstance(order, OrderState) and order.counts and order.customer_key:
                    customers.add(order.customer_key)
        elif isinstance(new, ReturnState):   # counts with its order (when it names one)
            orders.update(r.order_id for r in (stored, new) if isinstance(r, ReturnState) and r.order_id)
        elif isinstance(new, CartState):
            orders.update(ws.orders_with_token(new.cart_kind, new.token))
        for order_id in orders:
            if ("order", order_id) not in before:
                before[("order", order_id)] = ws.order_aggregate(order_id)
        for customer_key in customers:
            if ("customer", customer_key) not in before:
                before[("customer", customer_key)] = ws.customer_aggregate(customer_key)
        own_before = _own(stored, ws.shop.zone)
        ws.put(new)
        into.update(delta(own_before, _own(new, ws.shop.zone)))
        outcomes.append(Applied(new.kind, new.key))
    for (kind, key), contribution in before.items():
        after = ws.order_aggregate(key) if kind == "order" else ws.customer_aggregate(key)
        into.update(delta(contribution, after))
    return outcomes


def apply(session: Session, shop: ShopContext, states: Iterable[State],
          into: Contribution | None = None) -> list[Outcome]:
    """Apply new entity states of one shop in the caller's transaction; returns what happened.

    Counter changes are written now, or, when `into` is given, added to it for the caller to
    write with `counters.add` (batching many deliveries into one upsert).
    """
    states = list(states)
    if has_redactions(session, shop.id):   # a redacted customer's orders count under the pseudonym
        states = Redactions(session, shop.id, shop.customer_hash_key,
                            [n for s in states for n in names_of(s)]).apply(states)
    ws = WorkingSet(session, shop)
    ws.prefetch(states)
    pending: Contribution = Counter() if into is None else into
    outcomes = apply_states(ws, states, pending)
    ws.flush()
    if into is None:
        counters.add(session, shop.id, Counter({k: v for k, v in pending.items() if v}))
    return outcomes


def all_states(session: Session, shop_id: int) -> Iterator[State]:
    rows = session.execute(select(_STATES.c.kind, _STATES.c.data).where(_STATES.c.shop_id == shop_id)
                           .execution_options(yield_per=2000))
    for kind, data in rows:
        yield state_from_json(kind, data)


def recompute(session: Session, shop: ShopContext) -> Contribution:
    """Every counter of the shop recomputed from its stored entity states."""
    return full_contribution(all_states(session, shop.id), shop.zone)


def differences(session: Session, shop: ShopContext) -> dict:
    """{stored cell: (running, recomputed)} for every cell where the two differ."""
    expected = counters.comparable(recompute(session, shop))
    running = counters.read_all(session, shop.id)
    return {k: (running.get(k, 0), expected.get(k, 0))
            for k in set(expected) | set(running) if running.get(k, 0) != expected.get(k, 0)}


def rebuild(session: Session, shop: ShopContext) -> None:
    """Rewrite the shop's counters from its stored entity states, holding the shop's writer lock
    as every applier does: a delivery applied between the read and the rewrite would otherwise
    keep its state but lose its counters (PostgreSQL; SQLite has one writer at a time)."""
    lock_shop_writers(session, [shop.id])
    counters.replace_all(session, shop.id, recompute(session, shop))


def apply_exclusions(session: Session, shop: ShopContext) -> int:
    """After the merchant changed the excluded statuses (`shop.excluded_statuses` is the new set):
    mark every stored order of the shop by it and rewrite the counters from the states, under the
    shop's writer lock. Returns how many orders changed."""
    lock_shop_writers(session, [shop.id])
    changed = []
    for data in session.scalars(select(_STATES.c.data).where(_STATES.c.shop_id == shop.id, _STATES.c.kind == "order")):
        state = state_from_json("order", data)
        marked = with_exclusion(state, shop.excluded_statuses)
        if marked is not state:
            changed.append(marked)
    rewrite_states(session, shop, changed)
    return len(changed)


def rewrite_states(session: Session, shop: ShopContext, states: list[State]) -> None:
    """Store changed states of stored entities, then rewrite the shop's counters from all its
    states, under the shop's writer lock: for changes to what states mean (the merchant's
    excluded statuses, a repair), where moving counters by each state's difference is not the point."""
    if not states:
        return
    rows = [_row(shop.id, state) for state in states]
    for i in range(0, len(rows), _CHUNK):
        upsert(session, _STATES, rows[i:i + _CHUNK], keys=("shop_id", "kind", "key"))
    rebuild(session, shop)


def record_statuses(session: Session, shop_id: int, statuses: set[str]) -> None:
    """Remember order statuses the shop has (an insert that skips the known ones)."""
    if not statuses:
        return
    rows = [{"shop_id": shop_id, "status": status[:64]} for status in sorted(statuses)]
    session.execute(insert_new(session, _STATUSES, ["shop_id", "status"]), rows)


def statuses_seen(session: Session, shop_id: int) -> list[str]:
    """The order statuses the shop's orders have had (WooCommerce), for the merchant to choose from."""
    return sorted(session.scalars(select(_STATUSES.c.status).where(_STATUSES.c.shop_id == shop_id)))
