"""Alert rules: the defaults every new shop gets, and the rule row as detection sees it.

The defaults, with detect.ALPHA, detect.PHI and detect.CUSUM_SCORE, were tuned with
`benchmarks/alerts_detection.py --seed 6 --trials 24` (a synthetic year of a busy and of a small
shop, every rule evaluated every 5 minutes as the product does; seed 7 to check, seeds 8 to 10 held
out). All of them together: at most one false alert a month on every seed (busy shop 0.63, 0.91,
0.45, 0.54, 0.27 on seeds 6–10, most by orders_drop_recent; small shop 0.36, 0.54, 0.27, 0.81,
0.72). A halving of a busy shop's orders (from 20 an hour) is told within two hours in most trials
(20, 18, 17, 20, 18 of 24), mostly by orders_drop_recent, and the same day in all. A small shop's
(20 a day) is told by orders_drop_cusum (Page's CUSUM over the last week, detect.cusum_scan), which
replaced rules over the last 12 hours, 24 hours and 7 days: within 24 h in 6, 8, 6, 8, 11 of 24
trials (before 2, 6, 4, 6, 9), within 3 days in 20, 22, 22, 20, 21 (12, 19, 15, 18, 21), median 32,
30, 29, 30, 25 h (56, 51, 42, 32, 28). The benchmark prints what a test that knows the exact normal
could do at that volume: watching as the product must, 7 to 17 of 24 within 24 h.
carts_drop_cusum (session 14) tells a busy shop's fall in traffic sooner: with it, more of its
halvings are told within two hours at about as many false alerts (README, "Alerts", for the figures).
The merchant can change or switch off each one in the panel.
"""
from __future__ import annotations

import math

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ..refusals import Refusal
from .detect import KINDS, KPIS, WINDOWS, AlertState, RuleSpec, minutes_of
from .models import AlertRule
from .outbox import cancel_unsent_of_rule

DAY = 24 * 60

# (key, spec): what each default watches
DEFAULT_RULES: list[tuple[str, RuleSpec]] = [
    # orders and net sales well below normal for the time of day
    ("orders_drop_today", RuleSpec(kpi="orders", kind="drop", window="today", change_pct=40, min_volume=12,
                                   for_minutes=60, repeat_minutes=DAY)),
    # a busy shop (from 20 orders an hour): the last hour and the current one so far, told within two
    # hours of a halving; 25 minutes below normal first, so that one slow quarter of an hour does not
    # fire. Judged against the weeks and against today's own level, the 12 hours before the window
    # that fall on its own day (detect.share_test), so that a halving on a busy day is not taken
    # for a small dip
    ("orders_drop_recent", RuleSpec(kpi="orders", kind="drop", window="hours", window_hours=1, change_pct=30,
                                    min_volume=20, reference_hours=12, for_minutes=25, repeat_minutes=DAY)),
    ("net_sales_drop_today", RuleSpec(kpi="net_sales", kind="drop", window="today", change_pct=40, min_volume=12,
                                      for_minutes=60, repeat_minutes=DAY)),
    # a small shop's drop needs many hours to tell from chance: Page's CUSUM of "orders halved" over
    # the last week of hours (detect.cusum_scan), which finds when the drop began by itself
    ("orders_drop_cusum", RuleSpec(kpi="orders", kind="drop", window="cusum", window_hours=168, change_pct=50,
                                   min_volume=10, for_minutes=30, repeat_minutes=DAY)),
    # the same over carts made (about three an order, so traffic's fall shows sooner), told only when
    # the orders over the same stretch point down too (detect._assess_cusum): one incident with the
    # orders rules (detect.SAME_INCIDENT). Only from 5,000 carts a week (about 200 orders a day): a
    # small shop's carts fell that far by chance and with the season more often than one false
    # alert a month allows (benchmarks/alerts_detection.py, small shop, seed 9: 1.5 a month)
    ("carts_drop_cusum", RuleSpec(kpi="carts", kind="drop", window="cusum", window_hours=168, change_pct=50,
                                  min_volume=5000, for_minutes=30, repeat_minutes=DAY)),
    # no orders at all for much longer than usual: webhooks broken or the shop down
    ("no_orders", RuleSpec(kpi="orders", kind="drop", window="silence", change_pct=100, min_volume=10,
                           for_minutes=0, repeat_minutes=DAY)),
    ("checkout_conversion_drop", RuleSpec(kpi="checkout_conversion", kind="drop", window="today", change_pct=30,
                                          min_volume=30, for_minutes=60, repeat_minutes=DAY)),
    ("cart_abandonment_rise", RuleSpec(kpi="cart_abandonment_rate", kind="rise", window="today", change_pct=15,
                                       min_volume=50, for_minutes=60, repeat_minutes=DAY)),
    # returns and refunds up, over the last week against the same week of the previous four
    ("return_rate_rise", RuleSpec(kpi="return_rate", kind="rise", window="hours", window_hours=168, change_pct=50,
                                  min_volume=50, for_minutes=0, repeat_minutes=7 * DAY)),
    ("refunds_rise", RuleSpec(kpi="refunds", kind="rise", window="hours", window_hours=168, change_pct=50,
                              min_volume=30, for_minutes=0, repeat_minutes=7 * DAY)),
]


class RuleError(Refusal):
    """A rule setting the panel or CLI was given is not valid (texts: plugin.alerts.texts)."""

    default_key = "alerts.refused.rule"


# the panel's label of each setting a merchant edits there (plugin.alerts.texts)
SETTING_LABELS = {"for_minutes": "alerts.for", "repeat_minutes": "alerts.repeat", "change_pct": "alerts.change_pct",
                  "threshold": "alerts.threshold", "min_volume": "alerts.min_volume", "quiet_start": "alerts.quiet",
                  "quiet_end": "alerts.quiet", "enabled": "alerts.enabled", "muted_until": "alerts.mute"}


def install_default_rules(session: Session, shop_id: int) -> list[AlertRule]:
    """Add the default rules a shop does not have yet (by key); returns those added."""
    have = set(session.scalars(select(AlertRule.key).where(AlertRule.shop_id == shop_id)))
    added = []
    for key, spec in DEFAULT_RULES:
        if key in have:
            continue
        rule = AlertRule(shop_id=shop_id, key=key, enabled=True, status="ok", owed_resolved=False, incident=0)
        _apply_spec(rule, spec)
        session.add(rule)
        added.append(rule)
    session.flush()
    return added


def _apply_spec(rule: AlertRule, spec: RuleSpec) -> None:
    rule.kpi, rule.kind, rule.window, rule.window_hours = spec.kpi, spec.kind, spec.window, spec.window_hours
    rule.change_pct, rule.min_volume, rule.reference_hours = spec.change_pct, spec.min_volume, spec.reference_hours
    rule.threshold = None if spec.threshold is None else str(spec.threshold)
    rule.direction, rule.for_minutes, rule.repeat_minutes = spec.direction, spec.for_minutes, spec.repeat_minutes


def spec_of(rule: AlertRule) -> RuleSpec:
    return RuleSpec(kpi=rule.kpi, kind=rule.kind, window=rule.window, window_hours=rule.window_hours,
                    change_pct=rule.change_pct, threshold=None if rule.threshold is None else float(rule.threshold),
                    direction=rule.direction, min_volume=rule.min_volume, reference_hours=rule.reference_hours or 0,
                    for_minutes=rule.for_minutes,
                    repeat_minutes=rule.repeat_minutes, quiet_start=minutes_of(rule.quiet_start),
                    quiet_end=minutes_of(rule.quiet_end), muted_until=rule.muted_until)


def settings_of(spec: RuleSpec) -> dict[str, Any]:
    """What a rule watches, as kept with each of its events (channels.rule_title names it by them)."""
    return {"kind": spec.kind, "window": spec.window, "window_hours": spec.window_hours,
            "reference_hours": spec.reference_hours, "change_pct": spec.change_pct, "threshold": spec.threshold,
            "direction": spec.direction}


def state_of(rule: AlertRule) -> AlertState:
    return AlertState(status=rule.status, since=rule.since,
                      fired_at=rule.fired_at,
                      notified_at=rule.notified_at,
                      owed_resolved=rule.owed_resolved, incident=rule.incident)


def store_state(rule: AlertRule, state: AlertState) -> None:
    rule.status, rule.since, rule.fired_at = state.status, state.since, state.fired_at
    rule.notified_at, rule.owed_resolved, rule.incident = state.notified_at, state.owed_resolved, state.incident


MAX_MINUTES = 366 * 24 * 60       # a "for" or repeat interval of at most a year
MAX_AMOUNT = 1e12                 # thresholds, percentages and volumes: finite and sane

# the settings that are whole numbers, and their bounds: windows of up to four weeks of hours
_WHOLE_RANGES = {"window_hours": (1, 24 * 28), "reference_hours": (0, 24 * 28), "for_minutes": (0, MAX_MINUTES),
                 "repeat_minutes": (0, MAX_MINUTES)}

EDITABLE = ("kpi", "kind", "window", "window_hours", "reference_hours", "change_pct", "threshold", "direction",
            "min_volume", "for_minutes", "repeat_minutes", "quiet_start", "quiet_end", "enabled")


def update_rule(rule: AlertRule, changes: dict[str, Any]) -> None:
    """Apply the panel's (or the API's) changes to a rule, checking each; raises RuleError.

    Switched off, a rule is no longer watched: whatever it was firing about is closed without a
    word (a recovery owed too) and its notifications not sent yet are cancelled; switched on again
    it starts afresh, not in an old incident."""
    was_enabled = rule.enabled
    for name, value in changes.items():
        if name not in EDITABLE:
            raise RuleError(f"unknown rule setting {name!r}")
        try:
            setattr(rule, name, _checked(name, value))
        except (TypeError, ValueError, InvalidOperation) as exc:
            raise RuleError(f"{name}: {exc}", "alerts.refused.setting", setting=SETTING_LABELS.get(name, name),
                            value=str(value)[:40]) from exc
    if rule.kind == "threshold" and rule.threshold is None:
        raise RuleError("a threshold rule needs a threshold", "alerts.refused.threshold")
    if rule.window == "silence" and rule.kpi != "orders":
        raise RuleError("the silence window watches orders only")
    if rule.window == "cusum" and (KPIS[rule.kpi].kind != "count" or rule.kind != "drop"):
        raise RuleError("the cusum window watches a drop in a count (orders, carts) only")
    if rule.window == "cusum" and not 0 < rule.change_pct < 100:
        raise RuleError("the cusum window needs a drop of more than 0 and less than 100 %")
    if rule.kind == "threshold" and rule.window == "today" and rule.direction == "below":
        # at midnight today's figure is 0, below any limit: such a rule would fire every night
        raise RuleError("a 'below' threshold over 'today so far' would fire every night: use the last hours",
                        "alerts.refused.today_below")
    if rule.kind == "drop" and rule.change_pct > 100:
        raise RuleError("a drop of more than 100 % cannot happen", "alerts.refused.setting",
                        setting=SETTING_LABELS["change_pct"], value=str(rule.change_pct))
    if rule.enabled != was_enabled:
        store_state(rule, replace(AlertState(), incident=rule.incident))
        session = object_session(rule)
        if not rule.enabled and session is not None and rule.id is not None:
            cancel_unsent_of_rule(session, rule.id, "cancelled: rule switched off")


def _checked(name: str, value: Any) -> Any:  # noqa: ANN401
    choices = {"kpi": tuple(KPIS), "kind": KINDS, "window": WINDOWS, "direction": ("below", "above")}
    if name in choices:
        if value not in choices[name]:
            raise ValueError(f"one of {', '.join(choices[name])}")
        return value
    if name in _WHOLE_RANGES:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("a whole number")
        number = int(value)
        low, high = _WHOLE_RANGES[name]
        if not low <= number <= high:
            raise ValueError("out of range")
        return number
    if name in ("change_pct", "min_volume"):
        if isinstance(value, bool):
            raise ValueError("a number")
        number = float(value)
        if not math.isfinite(number) or not 0 <= number <= MAX_AMOUNT:
            raise ValueError(f"a number from 0 to {MAX_AMOUNT:g}")
        return number
    if name == "threshold":
        if value in (None, ""):
            return None
        amount = Decimal(str(value))
        if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
            raise ValueError(f"a number between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}")
        return str(amount)
    if name in ("quiet_start", "quiet_end"):
        if value in (None, ""):
            return None
        minutes = minutes_of(str(value))
        return f"{minutes // 60:02d}:{minutes % 60:02d}"   # type: ignore[operator]
    if name == "enabled":
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    raise ValueError("unknown")
