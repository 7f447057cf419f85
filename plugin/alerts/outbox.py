"""Sending each notification once (the transactional outbox).

A notification row exists before anything is sent: it is written, with a unique key per (event,
channel, kind) or (digest period, channel), in the transaction that records the event. Sending it:

1. claim: one UPDATE sets status "sending", attempts + 1 and a lease (next_attempt_at = now + LEASE)
   where the row is pending (or sending with an expired lease) and due; only the caller whose UPDATE
   changed the row sends it, so a second scheduler run never sends it too;
2. send, outside any transaction;
3. record: "sent", or back to "pending" with a later next_attempt_at (backoff) and the error, or
   "failed" after MAX_ATTEMPTS.
A row not yet sent is "cancelled" when the merchant switches its channel, or what it carries, off
(`cancel_unsent`).

A channel's alerts go out in the order they happened: an alert notification is not claimed while
an earlier one to the same channel is unsent (pending or sending), so that a channel that was down
and comes back never tells "recovered" before the alert it recovers from (it goes on once the
earlier one is sent, or has failed for good). Digests are not alerts and go their own way.

A sender's clock runs on while it sends: each claim's lease starts when the claim is made (the
run's `now` plus the time the run has taken so far), so that a run slowed by channels that time
out never claims with a lease that has already run out, which a second scheduler would take.

A crash between 2 and 3 leaves the row "sending": when the lease expires it is claimed and sent
again, so such a crash costs at most one repeat and never loses a notification. Webhooks carry the
row's key (X-Kompas-Delivery) and e-mails a Message-ID made from it, so receivers can drop that
repeat.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from ..db import Database
from ..models import Shop
from .models import AlertChannel, AlertEvent, AlertNotification, AlertRule

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, CANCELLED = "pending", "sending", "sent", "failed", "cancelled"
ALERT_KINDS = ("firing", "repeat", "resolved")   # what a channel's `alerts` switch covers (not "test")
# a channel's switches, and the notification kinds each stops when off (None: all of them)
SWITCHES = {"enabled": None, "alerts": ALERT_KINDS, "digest_daily": ("digest_daily",),
            "digest_weekly": ("digest_weekly",)}
LEASE = timedelta(minutes=10)
BACKOFF = [timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720)]
MAX_ATTEMPTS = len(BACKOFF) + 1
_N = AlertNotification.__table__


@dataclass
class Sent:
    sent: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def _first_of_its_channel():  # noqa: ANN202
    """Where a notification may go out now by its channel's order: a digest or a test, or an alert
    with no earlier alert notification to its channel unsent (pending or sending). Read by `due`
    and in `claim`'s own UPDATE (a sent, failed or cancelled row never becomes unsent again).

    A test is in no order: the merchant who fixed a channel's address and presses "test" wants it
    now, not after the next retry of the alert that failed at the old address."""
    earlier = _N.alias("earlier")
    return or_(_N.c.event_id.is_(None), _N.c.kind == "test", ~exists().where(
        earlier.c.channel_id == _N.c.channel_id, earlier.c.id < _N.c.id, earlier.c.event_id.is_not(None),
        earlier.c.kind != "test", earlier.c.status.in_((PENDING, SENDING))))


def _cancel(session: Session, which: Any, reason: str) -> int:  # noqa: ANN401
    """Mark the unsent notifications `which` selects cancelled, in the caller's transaction."""
    return session.execute(update(_N).where(_N.c.status.in_((PENDING, SENDING)), which)
                           .values(status=CANCELLED, last_error=reason)).rowcount


def cancel_unsent(session: Session, channel_id: int, kinds: tuple[str, ...] | None, reason: str) -> int:
    """Mark the channel's unsent notifications (of `kinds`; None: all) cancelled, in the caller's
    transaction; returns how many. What a merchant switched off (a channel, its alerts, a digest,
    an unsubscribe) gets nothing more, not even what was waiting for a retry. A row being sent
    right now may still go out (its sender's `record` then finds it no longer its own)."""
    which = _N.c.channel_id == channel_id
    return _cancel(session, which if kinds is None else and_(which, _N.c.kind.in_(kinds)), reason)


def cancel_unsent_of_rule(session: Session, rule_id: int, reason: str) -> int:
    """`cancel_unsent` for the notifications of one rule's alerts (the rule was switched off)."""
    return _cancel(session, _N.c.event_id.in_(select(AlertEvent.id).where(AlertEvent.rule_id == rule_id)), reason)


def switched_off(notification: AlertNotification, channel: AlertChannel, rule_enabled: bool | None) -> str | None:
    """Why a claimed notification must not go out after all (None: it may): its channel, what the
    channel carries of its kind (SWITCHES), or its rule was switched off. Checked again when it is
    sent, as an evaluation or digest run that read the channel before a switch-off committed can
    still write a row for it afterwards (PostgreSQL, READ COMMITTED), which `cancel_unsent` did not
    see."""
    kind = notification.kind
    for switch, kinds in SWITCHES.items():
        if not getattr(channel, switch) and (kinds is None or kind in kinds):
            return switch
    if kind in ALERT_KINDS and rule_enabled is False:
        return "rule"
    return None


def claim(db: Database, notification_id: int, now: datetime) -> int | None:
    """Take a due notification for sending; returns its attempt number, or None when another
    sender has it, it is not due, or an earlier alert to its channel is still unsent."""
    now = now.astimezone(timezone.utc)   # stored times are UTC (SQLite keeps no offset)
    with db.transaction() as session:
        result = session.execute(
            update(_N).where(_N.c.id == notification_id, _N.c.next_attempt_at <= now,
                             or_(_N.c.status == PENDING, _N.c.status == SENDING), _first_of_its_channel())
            .values(status=SENDING, attempts=_N.c.attempts + 1, next_attempt_at=now + LEASE))
        if result.rowcount != 1:
            return None
        return session.scalar(select(_N.c.attempts).where(_N.c.id == notification_id))


def _mine(notification_id: int, attempt: int) -> Any:  # noqa: ANN401
    """The row of one claimed attempt, while that claim is still the current one."""
    return and_(_N.c.id == notification_id, _N.c.status == SENDING, _N.c.attempts == attempt)


def record(db: Database, notification_id: int, attempt: int, now: datetime, error: str | None) -> None:
    """Write what became of one claimed attempt (only while that claim is still the current one)."""
    now = now.astimezone(timezone.utc)
    mine = _mine(notification_id, attempt)
    with db.transaction() as session:
        if error is None:
            session.execute(update(_N).where(mine).values(status=SENT, sent_at=now, last_error=None))
        elif attempt >= MAX_ATTEMPTS:
            session.execute(update(_N).where(mine).values(status=FAILED, last_error=error[:2000]))
        else:
            session.execute(update(_N).where(mine).values(status=PENDING, last_error=error[:2000],
                                                           next_attempt_at=now + backoff(attempt)))


def due(db: Database, now: datetime, limit: int = 200, shop_id: int | None = None) -> list[int]:
    """The ids of up to `limit` notifications to try now, oldest first; of a channel's alerts only
    the first one unsent (the rows behind it would fill the limit while a dead channel's first row
    is retried for a day, and nothing else would be tried): `deliver_due` asks again after each
    pass, so those behind one that went out follow in the same run."""
    now = now.astimezone(timezone.utc)
    with db.reading() as session:
        query = (select(_N.c.id).where(_N.c.next_attempt_at <= now, or_(_N.c.status == PENDING, _N.c.status == SENDING),
                                       _N.c.shop_id.in_(select(Shop.id).where(Shop.uninstalled_at.is_(None))),
                                       _first_of_its_channel())
                 .order_by(_N.c.id).limit(limit))
        if shop_id is not None:
            query = query.where(_N.c.shop_id == shop_id)
        return list(session.scalars(query))


def load(db: Database, notification_id: int
         ) -> tuple[AlertNotification, AlertChannel, AlertEvent | None, Shop, str | None]:
    """A notification with what sending it needs, and why it must not go out after all
    (`switched_off`; None: it may)."""
    with db.reading() as session:
        notification = session.get(AlertNotification, notification_id)
        channel = session.get(AlertChannel, notification.channel_id)
        event = session.get(AlertEvent, notification.event_id) if notification.event_id else None
        shop = session.get(Shop, notification.shop_id)
        rule_enabled = session.scalar(select(AlertRule.enabled).where(AlertRule.id == event.rule_id)) \
            if event is not None and event.rule_id is not None else None
        return notification, channel, event, shop, switched_off(notification, channel, rule_enabled)


Sender = Callable[[AlertNotification, AlertChannel, "AlertEvent | None", Shop, Mapping[str, Any]], None]


def deliver_one(db: Database, notification_id: int, config: Mapping[str, Any], now: datetime,
                send: Sender | None = None, clock: Callable[[], datetime] | None = None) -> str | None:
    """Claim (at `now`), send and record (at `clock()`, default `now`) one notification; returns its
    new status (None: not ours to send; CANCELLED: its channel or rule was switched off meanwhile,
    `switched_off`)."""
    from .channels import send_notification

    attempt = claim(db, notification_id, now)
    if attempt is None:
        return None
    notification, channel, event, shop, off = load(db, notification_id)
    if off is not None:
        with db.transaction() as session:
            session.execute(update(_N).where(_mine(notification_id, attempt))
                            .values(status=CANCELLED, last_error=f"cancelled: {off} switched off"))
        return CANCELLED
    error = None
    try:
        (send or send_notification)(notification, channel, event, shop, config)
    except Exception as exc:  # noqa: BLE001 - any failure of a channel is retried with backoff
        error = f"{type(exc).__name__}: {exc}"
        log.warning("alerts.send_failed", extra={"notification": notification_id, "error": error})
    record(db, notification_id, attempt, clock() if clock else now, error)   # a retry waits from the failure on
    if error is None:
        return SENT
    return FAILED if attempt >= MAX_ATTEMPTS else PENDING


def running_clock(now: datetime) -> Callable[[], datetime]:
    """`now`, moving on with the real time that passes from here on."""
    start = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - start)


def deliver_due(db: Database, config: Mapping[str, Any], now: datetime, send: Sender | None = None,
                shop_id: int | None = None, clock: Callable[[], datetime] | None = None) -> Sent:
    """Send every due notification once; returns how many went out and how many failed. Each one
    is claimed and recorded at `clock()` (default: `now`, moving on as the run takes time)."""
    result = Sent()
    clock = clock or running_clock(now)
    tried: set[int] = set()
    while True:   # passes: an alert sent lets the next one of its channel through (`due`)
        batch = [i for i in due(db, now, shop_id=shop_id) if i not in tried]
        if not batch:
            return result
        for notification_id in batch:
            tried.add(notification_id)
            status = deliver_one(db, notification_id, config, clock(), send, clock)
            if status == SENT:
                result.sent += 1
            elif status in (PENDING, FAILED):   # cancelled after all (switched off) is no failure
                result.failed += 1
