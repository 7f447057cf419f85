"""Applies stored deliveries: the queue is the deliveries table itself.

A delivery is committed with status "received" before the platform gets its 2xx; applying it turns
its payload into entity states (the platform adapter) and hands them to `plugin.ingest.apply`.
Deliveries are applied in batches, one transaction per batch, one savepoint per delivery, so a
broken payload fails alone (status "failed", error kept, `kompas replay` applies it again) while
the counter upserts of the whole batch go out at once.

Two appliers may run at once (the server's worker and `kompas drain`, or several instances):
PostgreSQL hands out rows with FOR UPDATE SKIP LOCKED and serializes appliers per shop with a
transaction-level advisory lock; SQLite serializes all writers (BEGIN IMMEDIATE).
"""
from __future__ import annotations

import json
import logging
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from webhooks.platforms.base import Context, PayloadError
from webhooks.registry import ADAPTERS

from . import counters, ingest
from .db import Database
from .kpi.booking import InstantError, parse_instant
from .kpi.entities import OrderState
from .models import Delivery, Shop
from .pseudonyms import Redactions, has_redactions, names_of, scrub_body
from .woocommerce import privacy as woo_privacy

log = logging.getLogger(__name__)

RECEIVED, PROCESSED, IGNORED, FAILED = "received", "processed", "ignored", "failed"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _triggered_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_instant(value)
    except InstantError:
        return None


@dataclass
class Claimed:
    """A delivery taken for applying, and what became of it (written back in bulk)."""

    id: int
    shop_id: int
    platform: str
    topic: str
    body: bytes
    received_at: datetime
    triggered_at: str | None
    status: str = RECEIVED
    error: str | None = None


_D = Delivery.__table__
_CLAIM_COLUMNS = (_D.c.id, _D.c.shop_id, _D.c.platform, _D.c.topic, _D.c.body, _D.c.received_at, _D.c.triggered_at)


def states_of(delivery: Claimed, shop: Shop) -> tuple[str, list]:
    """(status, entity states) of one delivery: PROCESSED with its states, or IGNORED.

    Raises PayloadError (or ValueError) for a body that does not fit its topic.
    """
    adapter = ADAPTERS[delivery.platform]
    handler = adapter.TOPICS.get(delivery.topic)
    if handler is None:
        return IGNORED, []
    payload = json.loads(delivery.body)
    ctx = Context(received_at=delivery.received_at,
                  triggered_at=_triggered_at(delivery.triggered_at),
                  customer_hash_key=shop.customer_hash_key)
    states = handler(payload, ctx)
    if not states and hasattr(adapter, "is_rest_error") and adapter.is_rest_error(payload):
        delivery.error = "body is a REST error object, not an order"
        return IGNORED, []
    return PROCESSED, states


def _claim(session: Session, db: Database, limit: int, shop_id: int | None, after_id: int,
           delivery_id: int | None = None) -> list[Claimed]:
    # `after_id` lets a loop start where its previous batch ended: on PostgreSQL the index entries
    # of applied deliveries linger until vacuum, and a scan from the start would step over all of
    # them on every claim.
    query = select(*_CLAIM_COLUMNS).where(_D.c.status == RECEIVED)
    if delivery_id is not None:
        query = query.where(_D.c.id == delivery_id)
    else:
        query = query.where(_D.c.id > after_id).order_by(_D.c.id).limit(limit)
    if shop_id is not None:
        query = query.where(_D.c.shop_id == shop_id)
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [Claimed(*row) for row in session.execute(query)]


def _record(session: Session, deliveries: list[Claimed], now: datetime) -> None:
    """Write back each delivery's status and error: one UPDATE per status for the clean ones."""
    clean: dict[str, list[int]] = {}
    with_error = []
    for d in deliveries:
        if d.error is None:
            clean.setdefault(d.status, []).append(d.id)
        else:
            with_error.append({"b_id": d.id, "b_status": d.status, "b_error": d.error})
    for status, ids in clean.items():
        session.execute(update(_D).where(_D.c.id.in_(ids))
                        .values(status=status, error=None, attempts=_D.c.attempts + 1, applied_at=now))
    if with_error:
        session.execute(update(_D).where(_D.c.id == bindparam("b_id"))
                        .values(status=bindparam("b_status"), error=bindparam("b_error"),
                                attempts=_D.c.attempts + 1, applied_at=now), with_error)


class Batch(NamedTuple):
    taken: int     # deliveries applied (or failed) by this batch
    last_id: int   # the highest delivery id it took: where the next claim may start


def apply_batch(db: Database, limit: int = 200, shop_id: int | None = None, after_id: int = 0) -> Batch:
    """Apply up to `limit` received deliveries with ids above `after_id`, in one transaction."""
    with db.transaction() as session:
        deliveries = _claim(session, db, limit, shop_id, after_id)
        _apply_claimed(session, db, deliveries)
        _record(session, deliveries, utcnow())
        return Batch(len(deliveries), max((d.id for d in deliveries), default=after_id))


def apply_one(db: Database, delivery_id: int) -> str:
    """Apply one received delivery now (the receiver's inline mode); returns its status."""
    with db.transaction() as session:
        claimed = _claim(session, db, 1, None, 0, delivery_id=delivery_id)
        if not claimed:  # a worker or drain took it first
            return RECEIVED
        _apply_claimed(session, db, claimed)
        _record(session, claimed, utcnow())
        return claimed[0].status


def _apply_claimed(session: Session, db: Database, deliveries: list[Claimed]) -> None:
    """Apply claimed deliveries: each shop's deliveries through one working set, in id order.

    A body that does not fit its topic fails alone. Should applying a batch raise (a bug), the
    batch is applied again one delivery at a time, so only the delivery that raises is kept as
    failed, with its traceback, for `kompas replay`.
    """
    if not deliveries:
        return
    shop_ids = sorted({d.shop_id for d in deliveries})
    db.lock_shops(session, shop_ids)
    shops = {s.id: s for s in session.scalars(select(Shop).where(Shop.id.in_(shop_ids)))}
    parsed: dict[int, list[tuple[Claimed, list]]] = {sid: [] for sid in shop_ids}
    for delivery in deliveries:
        try:
            status, states = states_of(delivery, shops[delivery.shop_id])
        except (PayloadError, ValueError) as exc:
            delivery.status, delivery.error = FAILED, f"{type(exc).__name__}: {exc}"
            log.warning("applier.payload_error", extra={"delivery": delivery.id, "error": str(exc)})
            continue
        except Exception:  # noqa: BLE001 - a bug in an adapter: this delivery fails, not its batch
            delivery.status, delivery.error = FAILED, traceback.format_exc(limit=20)
            log.exception("applier.failed", extra={"delivery": delivery.id})
            continue
        delivery.status = status
        if status == PROCESSED:
            delivery.error = None
            parsed[delivery.shop_id].append((delivery, states))
    for sid in shop_ids:
        if shops[sid].platform == "woocommerce":
            # orders the store anonymized: the copies Kompas keeps lose the person too, also a
            # delivery that fails (a scrubbed body gives the same state, for `kompas replay`)
            woo_privacy.on_batch(session, shops[sid], [d for d in deliveries if d.shop_id == sid], utcnow())
    for sid, items in parsed.items():
        if not items:
            continue
        items = _under_pseudonyms(session, shops[sid], items)
        context = ingest.ShopContext.of(shops[sid])
        try:
            with session.begin_nested():
                _apply_items(session, context, items)
        except Exception:  # noqa: BLE001 - isolate the delivery that raises
            log.exception("applier.batch_failed", extra={"shop": sid})
            for item in items:
                try:
                    with session.begin_nested():
                        _apply_items(session, context, [item])
                except Exception:  # noqa: BLE001 - kept with its traceback for `kompas replay`
                    item[0].status, item[0].error = FAILED, traceback.format_exc(limit=20)
                    log.exception("applier.failed", extra={"delivery": item[0].id})


def _under_pseudonyms(session: Session, shop: Shop, items: list[tuple[Claimed, list]]) -> list[tuple[Claimed, list]]:
    """The deliveries with the orders of customers (or the orders) that customers/redact redacted
    before they arrived under their pseudonym, and those deliveries' stored bodies scrubbed as the
    redaction scrubbed the others, checkouts of such a customer too (plugin.pseudonyms), so that
    nothing leads back to the person and a replay gives the same."""
    if not has_redactions(session, shop.id):
        return items
    ctx = Context(received_at=utcnow(), triggered_at=None, customer_hash_key=shop.customer_hash_key)
    checkouts = [_checkout_key(delivery, ctx) for delivery, _ in items]
    names = [{n for s in states for n in names_of(s)} | ({checkout} if checkout else set())
             for (_, states), checkout in zip(items, checkouts)]
    redactions = Redactions(session, shop.id, shop.customer_hash_key, set().union(*names))
    if not redactions:
        return items
    out = []
    for (delivery, states), mine, checkout in zip(items, names, checkouts):
        if mine & redactions.redacted:
            key = next((s.customer_key for s in states if isinstance(s, OrderState)), None) or checkout
            body = scrub_body(json.loads(delivery.body), key, redactions.pseudonyms)
            delivery.body = json.dumps(body).encode()
            session.execute(update(Delivery).where(Delivery.id == delivery.id).values(body=delivery.body))
            states = redactions.apply(states)
        out.append((delivery, states))
    return out


def _checkout_key(delivery: Claimed, ctx: Context) -> str | None:
    """The customer key of a Shopify checkout body (its states carry none)."""
    if delivery.platform != "shopify" or not delivery.topic.startswith("checkouts/"):
        return None
    body = json.loads(delivery.body)
    customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
    return ctx.customer_key(customer.get("id"), body.get("email"))


def _apply_items(session: Session, shop: ingest.ShopContext, items: list[tuple[Claimed, list]]) -> None:
    ws = ingest.WorkingSet(session, shop)
    ws.prefetch([state for _, states in items for state in states])
    pending: Counter = Counter()
    for _, states in items:
        ingest.apply_states(ws, states, pending)
    ws.flush()
    counters.add(session, shop.id, Counter({k: v for k, v in pending.items() if v}))


def pending_count(db: Database, shop_id: int | None = None) -> int:
    with db.reading() as session:
        query = select(func.count()).select_from(Delivery).where(Delivery.status == RECEIVED)
        if shop_id is not None:
            query = query.where(Delivery.shop_id == shop_id)
        return session.execute(query).scalar_one()


def drain(db: Database, batch: int = 200, shop_id: int | None = None, timeout: float | None = None) -> int:
    """Apply received deliveries until none is left; returns how many this call applied.

    Batches another applier holds locked (PostgreSQL) are not seen as pending by this call's
    claim, so after applying what it can, drain waits until the count of received rows is zero.
    """
    done, cursor = 0, 0
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        taken, cursor = apply_batch(db, batch, shop_id, cursor)
        done += taken
        if taken:
            continue
        cursor = 0  # start over once: a delivery below the cursor may have been requeued
        if pending_count(db, shop_id) == 0:
            return done
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("deliveries still pending")
        time.sleep(0.05)


def requeue(db: Database, *, shop_id: int | None = None, statuses: tuple[str, ...] = (FAILED,),
            delivery_ids: list[int] | None = None) -> int:
    """Mark deliveries as received again so that they are applied anew (kompas replay)."""
    with db.transaction() as session:
        stmt = update(Delivery).where(Delivery.status.in_(statuses))
        if shop_id is not None:
            stmt = stmt.where(Delivery.shop_id == shop_id)
        if delivery_ids:
            stmt = stmt.where(Delivery.id.in_(delivery_ids))
        return session.execute(stmt.values(status=RECEIVED)).rowcount


def latest_delivery_id(db: Database) -> int:
    """The id of the newest stored delivery (0 when there is none)."""
    with db.reading() as session:
        return session.scalar(select(func.max(Delivery.id))) or 0


def run_worker(db: Database, poll_seconds: float = 0.2, stop=None, batch: int = 50,  # noqa: ANN001
               busy_rate: float = 20.0, busy_duty: float = 0.05, max_yield: float = 60.0,
               clock=time.monotonic, sleep=time.sleep) -> None:
    """Apply deliveries as they arrive until `stop()` is true (the server's worker process).

    Acknowledging deliveries quickly matters more than applying them at once. While deliveries
    arrive faster than `busy_rate` a second (a burst), the worker applies for at most `busy_duty`
    of the time and rests the remainder, leaving the CPU and, on SQLite, the one write lock (an
    applied batch holds it for tens of milliseconds, during which no receiver can commit) to the
    receivers. When arrivals slow down it catches up at full speed. A burst that lasts longer than
    `max_yield` is a load to keep up with rather than a peak to ride out: from then on the worker
    applies at full speed, so the counters do not fall ever further behind. `kompas drain` waits
    until everything is applied. Units: seconds, deliveries per second, a fraction of wall time.
    """
    cursor = 0
    seen, seen_at = latest_delivery_id(db), clock()
    busy_since: float | None = None
    while stop is None or not stop():
        try:
            started = clock()
            taken, cursor = apply_batch(db, batch, after_id=cursor)
            if taken == 0:
                cursor = 0  # look from the start again: replays requeue old deliveries
                sleep(poll_seconds)
                continue
            now, latest = clock(), latest_delivery_id(db)
            arriving = (latest - seen) / max(now - seen_at, 1e-3)
            seen, seen_at = latest, now
            if arriving <= busy_rate:
                busy_since = None
                continue
            busy_since = now if busy_since is None else busy_since
            if now - busy_since < max_yield:
                sleep((now - started) * (1 / busy_duty - 1))
        except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
            log.exception("applier.batch_failed")
            sleep(1.0)
