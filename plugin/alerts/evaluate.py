"""Evaluation: read a shop's hourly counters, run detection for each enabled rule, and record what
it calls for (alert events, and for each event one outbox row per channel), in one transaction.

Never called from a webhook request: `kompas alerts run` (cron) and the scheduler that `kompas
serve` starts call `run_once`. Two evaluations of one shop never interleave: PostgreSQL takes a
transaction-level advisory lock per shop (its own namespace, so it never waits on the delivery
applier), SQLite serializes all writers; the second one then reads the state the first left.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import Database, advisory_xact_lock
from ..kpi.booking import shop_zone
from ..kpi.contributions import HOUR_PREFIX, PRODUCT_PREFIX, SOURCE_PREFIX
from ..models import DailyCounter, HourCounter, Shop, SourceCounter
from . import detect
from .detect import FIRING, Cells, Figures, RuleSpec
from .models import AlertChannel, AlertEvent, AlertNotification, AlertRule
from .rules import install_default_rules, settings_of, spec_of, state_of, store_state

log = logging.getLogger(__name__)

_ADVISORY_NAMESPACE = 0x4B41   # "KA": alert evaluation, apart from the applier's "KO"
HISTORY_DAYS = 7 * detect.BASELINE_WEEKS + 8   # at least: a week's window and four weeks before it
_SC = SourceCounter.__table__
_HC = HourCounter.__table__


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def read_cells(session: Session, shop_id: int, first: date, last: date) -> dict[tuple[date, int], dict[str, int]]:
    """The hourly counters ("hour:HH|name") of first..last as detection's Cells."""
    cells: dict[tuple[date, int], dict[str, int]] = defaultdict(dict)
    rows = session.execute(select(_HC.c.day, _HC.c.name, _HC.c.value).where(
        _HC.c.shop_id == shop_id, _HC.c.day >= first, _HC.c.day <= last))
    for day, name, value in rows:
        hour, _, counter = name[len(HOUR_PREFIX):].partition("|")
        cells[(day, int(hour))][counter] = value
    return cells


def first_day(session: Session, shop_id: int) -> date | None:
    """The shop's first day with any counter: weeks before it are not part of a normal."""
    return session.scalar(select(func.min(DailyCounter.day)).where(DailyCounter.shop_id == shop_id))


# --- why it changed --------------------------------------------------------------------------

# By product, per day (returns and refunds are watched over a week): (prefix, counters with their sign)
_BY_PRODUCT: dict[str, tuple[tuple[str, int], ...]] = {
    "return_rate": (("items_returned", 1),),
    "refunds": (("returns", 1),),
}
# By traffic source, per hour (plugin.kpi.contributions.hour_source_counter): the cell counter
# carts have no source: a fall of carts (told with their orders') names the source whose orders fell most
_BY_SOURCE = {"orders": "orders", "net_sales": "sales", "checkout_conversion": "orders", "carts": "orders"}


def _breakdown(session: Session, shop_id: int, prefix: str, first: date, last: date,
               terms: tuple[tuple[str, int], ...]) -> dict[str, float]:
    signs = dict(terms)
    out: dict[str, float] = defaultdict(float)
    for name, value in session.execute(select(_SC.c.name, _SC.c.value).where(
            _SC.c.shop_id == shop_id, _SC.c.day >= first, _SC.c.day <= last,
            _SC.c.name.startswith(prefix, autoescape=True))):
        part, _, counter = name[len(prefix):].rpartition("|")
        if counter in signs:
            out[part] += signs[counter] * value
    return out


def _sources_in(cells: Cells, window: list[tuple[date, int, float]], shift_days: int, counter: str,
                weighted: bool) -> dict[str, float]:
    """Per traffic source, the hourly `counter` ("orders" | "sales") over the window's hours shifted
    back by `shift_days` (the current hour weighted by the part that has passed when `weighted`,
    as a normal counts it)."""
    out: dict[str, float] = defaultdict(float)
    suffix = "|" + counter
    for day, hour, weight in window:
        for name, value in (cells.get((day - timedelta(days=shift_days), hour)) or {}).items():
            if name.startswith(SOURCE_PREFIX) and name.endswith(suffix):
                out[name[len(SOURCE_PREFIX):-len(suffix)]] += value * (weight if weighted else 1.0)
    return out


def _since(window: list[tuple[date, int, float]], start: datetime, zone: ZoneInfo) -> list[tuple[date, int, float]]:
    """The window's cells from the hour that starts at `start` on."""
    local = start.astimezone(zone)
    first = (local.date(), local.hour)
    for i, cell in enumerate(window):
        if cell[:2] == first:
            return window[i:]
    return window


def contributor(session: Session, shop_id: int, spec: RuleSpec, figures: Figures, now: datetime,
                zone: ZoneInfo, cells: Cells | None = None, first: date | None = None) -> dict[str, Any] | None:
    """The traffic source (or product) that moved most in the alert's direction, against the
    previous weeks scaled to the window's normal: sources hour by hour over the window's own hours
    (`cells`), products day by day over the window's days. None where the data does not allow it
    (a silence, a threshold, weeks from before the shop's hourly sources were kept)."""
    if (spec.kind == "threshold" or spec.window == "silence" or figures.window_start is None
            or (spec.kpi not in _BY_SOURCE and spec.kpi not in _BY_PRODUCT)):
        return None
    if spec.kpi in _BY_SOURCE:
        what, counter = "source", _BY_SOURCE[spec.kpi]
        unit = 1_000_000 if counter == "sales" else 1
        window = detect.window_cells(spec, now, zone, cells or {})
        if spec.window == "cusum":   # the figures are of the stretch since the drop began, not the whole week
            window = _since(window, figures.window_start, zone)
        shifts = detect.week_shifts(window[0][0] if window else None, first)
        observed = {k: v / unit for k, v in _sources_in(cells or {}, window, 0, counter, weighted=False).items()}
        weeks = [w for w in (_sources_in(cells or {}, window, shift, counter, weighted=True) for shift in shifts) if w]
    else:
        what, unit = "product", 1_000_000 if _BY_PRODUCT[spec.kpi][0][0] == "returns" else 1
        last = now.astimezone(zone).date()
        first_day = figures.window_start.astimezone(zone).date()
        observed = {k: v / unit for k, v in _breakdown(session, shop_id, PRODUCT_PREFIX, first_day, last,
                                                         _BY_PRODUCT[spec.kpi]).items()}
        weeks = [_breakdown(session, shop_id, PRODUCT_PREFIX, first_day - timedelta(days=7 * j),
                            last - timedelta(days=7 * j), _BY_PRODUCT[spec.kpi])
                 for j in range(1, detect.BASELINE_WEEKS + 1)]
    if not weeks:
        return None
    normal = {key: sum(w.get(key, 0.0) for w in weeks) / len(weeks) / unit for key in set().union(*weeks)}
    base_total = sum(normal.values())
    if base_total <= 0:
        return None
    # the parts are shared out to the window's own observed and normal totals (a rate compares the
    # mix: the normal scaled to today's total)
    obs_total = sum(observed.values())
    if detect.KPIS[spec.kpi].confirm:   # carts: the source's orders and their normal as they are
        scale = 1.0
    elif detect.KPIS[spec.kpi].kind != "rate" and figures.normal and figures.value is not None:
        if obs_total > 0:
            observed = {k: v * figures.value / obs_total for k, v in observed.items()}
        scale = figures.normal / base_total
    else:
        scale = obs_total / base_total
    found = detect.biggest_contributor(observed, {k: v * scale for k, v in normal.items()}, spec.kind == "drop")
    if found is None:
        return None
    return {"by": what, "name": found[0], "observed": round(found[1], 2), "normal": round(found[2], 2),
            "money": unit != 1}


# --- evaluating ------------------------------------------------------------------------------

@dataclass
class Outcome:
    shops: int = 0
    rules: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)   # (shop, rule key, kind)
    notifications: int = 0
    failed_shops: int = 0   # shops whose evaluation raised (logged; the others went on)


def _lock(session: Session, shop_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        advisory_xact_lock(session, _ADVISORY_NAMESPACE, shop_id)


def evaluate_shop(session: Session, shop: Shop, now: datetime, outcome: Outcome | None = None) -> Outcome:
    """Assess every enabled rule of `shop` at `now` and record its state, events and outbox rows,
    in the caller's transaction."""
    outcome = outcome or Outcome()
    now = now.astimezone(timezone.utc)   # stored times are UTC (SQLite keeps no offset)
    _lock(session, shop.id)
    zone = shop_zone(shop.timezone)
    rules = list(session.scalars(select(AlertRule).where(AlertRule.shop_id == shop.id, AlertRule.enabled.is_(True))
                                 .order_by(AlertRule.id).with_for_update()))
    if not rules:
        return outcome
    today = now.astimezone(zone).date()
    # a longer window than a week (a merchant's, up to four weeks) needs its own four weeks before it
    back = max([HISTORY_DAYS] + [detect.history_days(spec_of(rule)) for rule in rules])
    cells = read_cells(session, shop.id, today - timedelta(days=back), today)
    first = first_day(session, shop.id)
    channels = list(session.scalars(select(AlertChannel).where(
        AlertChannel.shop_id == shop.id, AlertChannel.enabled.is_(True), AlertChannel.alerts.is_(True))
        .order_by(AlertChannel.id)))
    outcome.shops += 1
    specs = {rule.key: spec_of(rule) for rule in rules}
    before = {rule.key: state_of(rule) for rule in rules}
    assessed = {key: detect.assess(spec, cells, now, zone, first, firing=before[key].status == FIRING)
                for key, spec in specs.items()}
    told = detect.step_rules(specs, before, {key: f.breach for key, f in assessed.items()}, now, zone)
    for rule in rules:
        new_state, actions = told[rule.key]
        figures = assessed[rule.key]
        store_state(rule, new_state)
        rule.evaluated_at, rule.figures = now, figures.as_json()
        outcome.rules += 1
        for kind in actions:
            event = record_event(session, shop, rule, kind, figures, now, cells, zone, first, specs[rule.key],
                                 incident=detect.told_incident(new_state, kind))
            outcome.events.append((shop.domain, rule.key, kind))
            outcome.notifications += enqueue(session, event, channels, now)
    return outcome


def record_event(session: Session, shop: Shop, rule: AlertRule | None, kind: str, figures: Figures, now: datetime,
                 cells: Cells, zone: ZoneInfo, first: date | None, spec: RuleSpec, incident: int | None = None
                 ) -> AlertEvent:
    """The event of one notification `kind` of `rule` (None: a test), of `incident` (the rule's
    current one by default), with the figures, chart and contributor the channels tell."""
    now = now.astimezone(timezone.utc)
    if incident is None:
        incident = rule.incident if rule else 0
    details = {"figures": figures.as_json(), "series": detect.chart_series(spec, cells, now, zone, first),
               "rule": settings_of(spec),
               "contributor": contributor(session, shop.id, spec, figures, now, zone, cells, first)
               if kind != "resolved" else None}
    event = AlertEvent(shop_id=shop.id, rule_id=rule.id if rule else None, rule_key=rule.key if rule else "test",
                       incident=incident, kind=kind, at=now, kpi=spec.kpi, value=figures.value,
                       normal=figures.normal, change=figures.change, details=details)
    session.add(event)
    session.flush()
    return event


def notification_key(event_id: int, channel_id: int, kind: str) -> str:
    return f"event:{event_id}:channel:{channel_id}:{kind}"


def enqueue(session: Session, event: AlertEvent, channels: list[AlertChannel], now: datetime) -> int:
    """One outbox row per channel for `event`, in the transaction that records the event."""
    now = now.astimezone(timezone.utc)
    for channel in channels:
        session.add(AlertNotification(shop_id=event.shop_id, channel_id=channel.id, event_id=event.id, kind=event.kind,
                                      dedupe_key=notification_key(event.id, channel.id, event.kind), status="pending",
                                      attempts=0, next_attempt_at=now, created_at=now))
    session.flush()
    return len(channels)


def ensure_default_rules(db: Database) -> int:
    """Default rules for shops that have none (shops created before alerts existed)."""
    try:
        with db.transaction() as session:
            have = select(AlertRule.shop_id).distinct()
            shops = list(session.scalars(select(Shop.id).where(Shop.id.not_in(have))))
            for shop_id in shops:
                install_default_rules(session, shop_id)
            return len(shops)
    except IntegrityError:   # a concurrent run installed them first
        return 0


def evaluate_all(db: Database, now: datetime | None = None, shop_ids: list[int] | None = None) -> Outcome:
    """Evaluate every shop once (one transaction per shop, so one broken shop stops nobody)."""
    now = (now or utcnow()).astimezone(timezone.utc)
    ensure_default_rules(db)
    with db.reading() as session:
        # an uninstalled shop keeps its figures until shop/redact, but hears nothing more
        query = select(Shop.id).where(Shop.uninstalled_at.is_(None)).order_by(Shop.id)
        if shop_ids is not None:
            query = query.where(Shop.id.in_(shop_ids))
        ids = list(session.scalars(query))
    outcome = Outcome()
    for shop_id in ids:
        try:
            with db.transaction() as session:
                shop = session.get(Shop, shop_id)
                if shop is not None:
                    evaluate_shop(session, shop, now, outcome)
        except Exception:  # noqa: BLE001 - one shop's failure must not stop the others
            log.exception("alerts.evaluate_failed", extra={"shop": shop_id})
            outcome.failed_shops += 1
    return outcome


def run_once(db: Database, config: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """What `kompas alerts run` and the scheduler do: evaluate, schedule digests, send what is due."""
    from . import digest, outbox

    real = now is None
    now = (now or utcnow()).astimezone(timezone.utc)
    outcome = evaluate_all(db, now)
    digests = digest.schedule(db, now)
    # sending claims at the real time when it runs on it (evaluating many shops takes a while)
    sent = outbox.deliver_due(db, config, now, clock=utcnow if real else None)
    return {"shops": outcome.shops, "failed_shops": outcome.failed_shops, "rules": outcome.rules,
            "events": outcome.events,
            "digests": digests, "sent": sent.sent, "failed": sent.failed}


def create_test_event(session: Session, shop: Shop, now: datetime, channel_ids: list[int] | None = None) -> list[int]:
    """A "test" alert event with the shop's real figures of now (orders today against normal) and an
    outbox row per chosen channel (all enabled ones by default); returns the rows' ids, [] (and no
    event) when no channel is chosen."""
    query = select(AlertChannel).where(AlertChannel.shop_id == shop.id, AlertChannel.enabled.is_(True))
    if channel_ids:
        query = query.where(AlertChannel.id.in_(channel_ids))
    channels = list(session.scalars(query.order_by(AlertChannel.id)))
    if not channels:
        return []
    zone = shop_zone(shop.timezone)
    now = now.astimezone(timezone.utc)
    today = now.astimezone(zone).date()
    cells = read_cells(session, shop.id, today - timedelta(days=HISTORY_DAYS), today)
    first = first_day(session, shop.id)
    spec = RuleSpec(kpi="orders", kind="drop", window="today", min_volume=0)
    figures = detect.assess(spec, cells, now, zone, first)
    event = record_event(session, shop, None, "test", figures, now, cells, zone, first, spec)
    enqueue(session, event, channels, now)
    return list(session.scalars(select(AlertNotification.id).where(AlertNotification.event_id == event.id)))
