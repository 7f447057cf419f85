"""Alert detection: pure functions of hourly counters, a rule, the alert's state and an injected clock.

Nothing here reads a database or the system clock (plugin.alerts.evaluate does the reading, the
benchmark feeds synthetic counters), so the product and `benchmarks/alerts_detection.py` run the
same code.

Hourly counters are `Cells`: {(shop-local date, hour 0..23): {counter: value}}, the "hour:HH|…"
breakdown of plugin.kpi.contributions (money in micros).

A rule watches one KPI over a window of shop-local hours:
- "today": from local midnight up to now;
- "hours": the last `window_hours` whole hours plus the current hour so far;
- "silence": the hours since the last hour with an order (for "no orders at all for much longer
  than usual": the KPI is 0 there by construction, and the rule fires when the normal number of
  orders over that stretch is large);
- "cusum" (a count, kind drop): every stretch of the last `window_hours` hours that ends now, the
  one whose counts most favour "down by change_pct %" over the weeks' normal (Page's CUSUM,
  `cusum_scan`: it finds when a drop began by itself, what a small shop's slow evidence needs);
  each hour's normal is the mean of its weeks (only sums over many hours matter there), a week
  whose day was far above the others left out, and so is a week's hour far above the others'.
and compares it either with a fixed value ("threshold": below or above), or with its own normal
("drop" / "rise"): the same weekday and hours of the previous four weeks, the current hour counted
for the part of it that has passed. The normal is the median of the weeks (one odd week, a sale or
an outage, does not move it much); for a drop, a week whose orders over the window were far above
the others' (ODD_HOUR quasi-Poisson deviations: a newsletter, a sale day) is left out first, as a
median of four is the mean of the middle two and that week would still lift it. Weeks before the
shop's first day are left out, and at least two are needed.

A drop (rise) is a breach when all three hold:
- volume: the normal count behind the KPI (orders; for a rate its observed denominator) is at
  least `min_volume`, so that two orders never fire an alert;
- size: the KPI is at least `change_pct` % below (above) its normal;
- significance: the change is unlikely to be chance. Counts are compared as two quasi-Poisson
  counts (today's, and the weeks' total): a count of λ orders varies by λ (1 + PHI λ), chance
  plus day-to-day swings of the whole level that a busy window shows and plain Poisson misses,
  so both counts are divided by 1 + PHI λ (`dispersion`) and then, given their sum, today's share
  is binomial; the one-sided tail must be ≤ ALPHA. Money is first turned into order equivalents
  (value / (2 × the weeks' average order value): a compound Poisson sum with an order-value spread
  of cv ≈ 1 has the variance of that many orders). A rate compares its numerator's share with its
  denominator's (binomial: a swing of the whole level moves both and cancels out).
  The tail is only computed when the change is big enough to matter (p_value None otherwise).
A drop/rise rule over "hours" with `reference_hours` R > 0 (orders only) is also judged against
today's own level, the R whole hours right before the window that fall on the window's first day
(`reference_cells`: yesterday evening's newsletter says nothing of this morning's level): the share
test (`share_test`) compares the window's count with theirs, the shape of the day taken from the
weeks (the median of their shapes: one week's newsletter does not set it), so that the day's level (season, trend, a busy or a slow day) cancels out; its normal is the
weeks' normal at today's level (the figures shown are the share test's unless only the weeks'
breach). A breach then needs one of the two tests at ALPHA and the other pointing the same way at
HOLD_ALPHA (a day slow throughout is no sudden drop: the "today" rules are for it; a busy morning
does not make a normal afternoon one); a firing alert is held by either (a drop older than the
reference hours is in them too, and only the weeks still see it).
Rules that watch one thing through different windows tell of one incident once
(`one_per_incident`): orders and net sales below normal (today, the last hours, the last day…)
are one family; while one of them has told the merchant, another that starts firing says nothing,
and the recovery is told when the last of them has recovered.
Once firing, an alert stays firing while the KPI is still at least half that change away from
normal at 5 % significance (hysteresis: no flapping around the threshold). When the volume is too
small to say anything, the state is kept as it is.

ALPHA and PHI, like the default rules, were tuned with `benchmarks/alerts_detection.py`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from statistics import median
from typing import Callable, Mapping, Sequence, TypeVar
from zoneinfo import ZoneInfo

Cells = Mapping[tuple[date, int], Mapping[str, int]]
T = TypeVar("T")

ALPHA = 0.002          # one-sided tail a breach must reach
PHI = 0.005            # relative variance of a window's level beyond chance (about 7 % day to day)
HOLD_ALPHA = 0.05      # ... and, once firing, the tail that keeps it firing
BASELINE_WEEKS = 4
MIN_WEEKS = 2
SILENCE_LOOKBACK_HOURS = 7 * 24
SHAPE_ALPHA = 0.01     # share test: the reference hours' shape beyond this is a burst, they tell no level ...
SHAPE_MIN_EXPECTED = 5.0   # ... judged on the hours expecting at least this many orders
ODD_DAY = 2.0          # "cusum" window: a week's day more deviations than this above the weeks' median is odd
ODD_HOUR = 3.0         # ... and a week's hour more deviations than this above the weeks' median of that hour;
                       # for a drop over "today"/"hours", a week's orders over the window likewise
CUSUM_SCORE = 5.0      # "cusum" window: the score a breach must reach at one order an hour (more above, see cusum_scan)
CUSUM_PRECHECK_VOLUME = 1000.0   # "cusum" rules needing this normal or more check their volume cheaply first
MICROS = 1_000_000
OK, PENDING, FIRING = "ok", "pending", "firing"
FIRED, REPEAT, RESOLVED = "firing", "repeat", "resolved"   # notification kinds


@dataclass(frozen=True)
class Kpi:
    """A KPI an alert can watch, as sums of hourly counters: num (and den for a rate, in %)."""

    kind: str                                     # "count" | "money" | "rate"
    num: tuple[tuple[str, int], ...]
    den: tuple[tuple[str, int], ...] = ()
    lag_days: int = 0   # refunds come days after their orders: history counts from first day + lag
    # "cusum": the KPI (a key of KPIS, a count) that must favour the drop too before it is told
    # (see _assess_cusum)
    confirm: str | None = None

    def part(self, cells: Mapping[str, int], terms: tuple[tuple[str, int], ...]) -> float:
        return float(sum(sign * cells.get(name, 0) for name, sign in terms))


KPIS: dict[str, Kpi] = {
    "orders": Kpi("count", (("orders", 1),)),
    "net_sales": Kpi("money", (("gross_sales", 1), ("discounts", -1), ("returns", -1))),
    "refunds": Kpi("money", (("refunds", 1),), lag_days=14),
    "checkout_conversion": Kpi("rate", (("checkout_purchases", 1),), (("checkouts", 1),)),
    "cart_abandonment_rate": Kpi("rate", (("carts", 1), ("cart_purchases", -1)), (("carts", 1),)),
    "return_rate": Kpi("rate", (("items_returned", 1),), (("items_sold", 1),), lag_days=14),
    # carts made (section 4's carts): about three an order, so a fall in traffic shows sooner in them
    "carts": Kpi("count", (("carts", 1),), confirm="orders"),
}
WINDOWS = ("today", "hours", "silence", "cusum")
KINDS = ("drop", "rise", "threshold")


@dataclass(frozen=True)
class RuleSpec:
    """What detection needs of a rule (plugin.alerts.models.AlertRule holds it)."""

    kpi: str
    kind: str                       # drop | rise | threshold
    window: str = "today"           # today | hours | silence
    window_hours: int = 3
    change_pct: float = 40.0        # drop/rise: at least this many % away from normal
    threshold: float | None = None  # threshold: the value (money in the shop's currency, rates in %)
    direction: str = "below"        # threshold: below | above
    min_volume: float = 10.0
    reference_hours: int = 0        # drop/rise over "hours": also compare with the hours before (share test)
    for_minutes: int = 60
    repeat_minutes: int = 24 * 60   # 0: never repeat
    quiet_start: int | None = None  # minutes after local midnight; quiet from start to end
    quiet_end: int | None = None
    muted_until: datetime | None = None


@dataclass(frozen=True)
class Figures:
    """One assessment of a rule: the KPI over its window, its normal and whether it breaches.

    `breach` is True (breach), False (clearly fine) or None (too little data to say).
    """

    kpi: str
    value: float | None
    normal: float | None
    change: float | None            # % against normal
    p_value: float | None           # None when not computed (too little data, or a change too small to matter)
    volume: float
    weeks: int
    breach: bool | None
    reason: str                     # breach | fine | low_volume | no_history | not_significant | small_change
    window_start: datetime | None = None
    # a KPI with `confirm` (carts) that scored a breach: the confirming counts (orders) over the same
    # stretch and their normal, {"kpi", "value", "normal"}, which the messages tell too
    confirmed: dict | None = None

    def as_json(self) -> dict:
        return {"kpi": self.kpi, "value": self.value, "normal": self.normal, "change": self.change,
                "p_value": self.p_value, "volume": self.volume, "weeks": self.weeks, "breach": self.breach,
                "reason": self.reason, "confirmed": self.confirmed,
                "window_start": self.window_start.isoformat() if self.window_start else None}


# --- statistics ------------------------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-12:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for real a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def binomial_tail(k: float, n: float, p: float, lower: bool) -> float:
    """P(X ≤ k) (lower) or P(X ≥ k) for X ~ Binomial(n, p), continuous in k and n."""
    if lower:
        if k >= n:
            return 1.0
        return incomplete_beta(n - k, k + 1.0, 1.0 - p)
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return incomplete_beta(k, n - k + 1.0, p)


def dispersion(expected: float) -> float:
    """How much more a count of `expected` orders varies than a Poisson count: its variance is
    expected × (1 + PHI × expected), the Poisson variance plus day-to-day swings of the whole
    level (weather, a newsletter, the season moving on since the weeks of the normal) of relative
    variance PHI. Dividing counts by this factor makes them Poisson-like again (quasi-Poisson)."""
    return 1.0 + PHI * max(expected, 0.0)


# --- windows ---------------------------------------------------------------------------------

def _floor_hour(instant: datetime, zone: ZoneInfo) -> datetime:
    local = instant.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0)


@lru_cache(maxsize=256)
def _local_hours(start_utc: datetime, count: int, zone: ZoneInfo
                 ) -> tuple[tuple[tuple[date, int, float], ...], float]:
    """The `count` real hours ending with the one that starts at `start_utc` as counter cells (local
    date, hour, 1.0), oldest first, and how many real hours the last cell stands for: 2.0 when it is
    a local hour the clock repeats (DST) and both of its passes are among them (its counters hold
    both: one cell, of weight at most 1), else 1.0.

    Keyed by a UTC time: local times are no cache key, as 02:00 and the repeated 02:00 of the night
    the clock goes back compare and hash equal (fold is ignored)."""
    real: dict[tuple[date, int], float] = {}
    for i in range(count - 1, -1, -1):
        start = (start_utc - timedelta(hours=i)).astimezone(zone)
        key = (start.date(), start.hour)
        real[key] = real.get(key, 0.0) + 1.0
    cells = tuple((day, hour, 1.0) for day, hour in real)
    return cells, real[cells[-1][:2]]


def window_cells(spec: RuleSpec, now: datetime, zone: ZoneInfo, cells: Cells | None = None
                 ) -> list[tuple[date, int, float]]:
    """The window's hours as (local date, hour, weight), oldest first: weight is the part of that hour
    inside the window. Every window ends with the current hour, counted for the part that has passed
    (none on the hour: then it is left out), a silence only if that hour is silent too. A local hour
    the clock repeats (DST) is one cell: its counters hold both passes."""
    current = _floor_hour(now, zone)
    utc = timezone.utc   # differences in real time: aware datetimes of one zone subtract as wall clocks
    passed = (now.astimezone(utc) - current.astimezone(utc)).total_seconds() / 3600
    if spec.window == "today":
        midnight = datetime.combine(current.date(), time(0), zone)
        count = int(round((current.astimezone(utc) - midnight.astimezone(utc)).total_seconds() / 3600)) + 1
    elif spec.window in ("hours", "cusum"):
        count = max(1, spec.window_hours) + 1
    elif spec.window == "silence":
        count = len(_silent_hours(current, zone, cells or {}))
        if count == 0:
            return []
    else:
        raise ValueError(f"unknown window {spec.window!r}")
    hours, last_real = _local_hours(current.astimezone(utc), count, zone)
    window = list(hours)
    # only the last cell is partial: the current hour (with, on the night the clock goes back, the
    # whole first pass of that hour before it)
    weight = min(last_real - 1.0 + passed, 1.0)
    if weight > 0:
        window[-1] = (*hours[-1][:2], weight)
    else:
        window.pop()
    return window


def _silent_hours(current: datetime, zone: ZoneInfo, cells: Cells) -> list[datetime]:
    """The hours after the last hour with an order, up to the current one."""
    utc = current.astimezone(timezone.utc)
    silent: list[datetime] = []
    for i in range(SILENCE_LOOKBACK_HOURS):
        start = (utc - timedelta(hours=i)).astimezone(zone)
        if cells.get((start.date(), start.hour), {}).get("orders", 0) > 0:
            break
        silent.append(start)
    return list(reversed(silent))


def reference_cells(spec: RuleSpec, now: datetime, zone: ZoneInfo, window: list[tuple[date, int, float]]
                    ) -> list[tuple[date, int, float]]:
    """The `spec.reference_hours` whole hours right before the window (an "hours" window), as
    (local date, hour, 1.0), oldest first; only those of the window's first local day, as the
    share test judges the window against that day's level (days swing by themselves: on the
    synthetic year, hours taken from the evening before caused 2 of seed 7's 12 false alerts)."""
    if spec.reference_hours <= 0 or not window:
        return []
    wider = window_cells(replace(spec, window_hours=spec.window_hours + spec.reference_hours), now, zone)
    first = window[0][:2]
    for i, cell in enumerate(wider):
        if cell[:2] == first:
            return [ref for ref in wider[:i] if ref[0] == first[0]]
    return []


# --- assessing a rule ------------------------------------------------------------------------

def history_days(spec: RuleSpec) -> int:
    """How many local days before today's the counters assessing `spec` can reach back: its window
    (with the reference hours before it, a day more for the clock's changes and a window's first
    partial day) and the BASELINE_WEEKS before that. Fewer days read would leave the older weeks of
    a long window partly empty and its normal too low."""
    if spec.window == "today":
        back_hours = 0
    elif spec.window == "silence":
        back_hours = SILENCE_LOOKBACK_HOURS
    else:
        back_hours = max(1, spec.window_hours) + max(0, spec.reference_hours)
    return math.ceil(back_hours / 24) + 1 + 7 * BASELINE_WEEKS


def week_shifts(first: date | None, first_day: date | None, lag_days: int = 0) -> list[int]:
    """The days back (7, 14, …) of the weeks a normal is taken from, for a window whose first
    local day is `first`: the BASELINE_WEEKS before it, less those that start before the shop's
    first day with data (`first_day`, plus `lag_days` for a KPI booked days after its orders)."""
    if first_day is not None:
        first_day += timedelta(days=lag_days)
    return [7 * j for j in range(1, BASELINE_WEEKS + 1)
            if first_day is None or first is None or first - timedelta(days=7 * j) >= first_day]


def _remembered(memo: dict | None, key: tuple, compute: Callable[[], T]) -> T:
    """compute(), kept in `memo` under `key` when the caller gives one (see `assess`)."""
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _sum(kpi: Kpi, cells: Cells, window: list[tuple[date, int, float]], shift_days: int,
         weighted: bool, memo: dict | None = None) -> tuple[float, float, float, float]:
    """(num, den, orders, sales) over the window shifted back by `shift_days` (sales only for a money
    KPI, the only one that uses it; 0 otherwise).

    With `memo`, the sums over the window's whole hours (weight 1: all but a current hour that has
    partly passed) are kept there and reused; the caller promises that their counters do not change
    meanwhile. Those sums are whole numbers, so the result is the very same float as without it.
    """
    whole = len(window) if window and window[-1][2] == 1.0 else len(window) - 1   # the current hour has passed < 1
    if memo is None or whole < 1:
        return _sum_cells(kpi, cells, window, shift_days, weighted, (0.0, 0.0, 0.0, 0.0))
    # a window is a run of consecutive real hours: its first and last hour and its length name it
    key = (kpi, shift_days, weighted, window[0][:2], window[whole - 1][:2], whole)
    past = _remembered(memo, key, lambda: _sum_cells(kpi, cells, window[:whole], shift_days, weighted,
                                                     (0.0, 0.0, 0.0, 0.0)))
    return _sum_cells(kpi, cells, window[whole:], shift_days, weighted, past)


def _sum_cells(kpi: Kpi, cells: Cells, window: list[tuple[date, int, float]], shift_days: int, weighted: bool,
               start: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    num, den, orders, sales = start
    get = cells.get
    shift = timedelta(days=shift_days)
    days = {day: day - shift for day, _, _ in window}
    num_terms, den_terms = kpi.num, kpi.den
    money = kpi.kind == "money"
    for day, hour, weight in window:
        cell = get((days[day], hour))
        if not cell:
            continue
        w = weight if weighted else 1.0
        value = cell.get
        for name, sign in num_terms:
            num += w * sign * value(name, 0)
        for name, sign in den_terms:
            den += w * sign * value(name, 0)
        orders += w * value("orders", 0)
        if money:
            sales += w * (value("gross_sales", 0) - value("discounts", 0))
    return num, den, orders, sales


def _value(kpi: Kpi, num: float, den: float) -> float | None:
    if kpi.kind == "rate":
        return None if den <= 0 else num / den * 100
    if kpi.kind == "money":
        return num / MICROS
    return num


def volume_counter(kpi_key: str, window: str) -> str:
    """The counter a rule's `min_volume` counts (`assess` compares that volume with it): the KPI's own
    count for a "cusum" window (orders or carts, in the normal), the denominator for a rate
    (checkouts, carts, items sold, as observed), orders otherwise (the normal's; a threshold's: as observed)."""
    kpi = KPIS[kpi_key]
    if window == "cusum" and kpi.kind == "count":
        return kpi.num[0][0]
    if kpi.kind == "rate":
        return kpi.den[0][0]
    return "orders"


def assess(spec: RuleSpec, cells: Cells, now: datetime, zone: ZoneInfo, first_day: date | None = None,
           firing: bool = False, memo: dict | None = None) -> Figures:
    """The rule's KPI over its window at `now`, its normal, and whether it breaches.

    `first_day` is the shop's first day with data: earlier weeks are not part of the normal.
    `firing` applies the looser hold thresholds (hysteresis).
    `memo`: a dict the caller keeps between assessments of the same counters, to sum the past
    hours of a window once instead of at every assessment (the benchmark evaluates a year every
    five minutes); only valid while the counters of past hours do not change. Same figures either way.
    """
    kpi = KPIS[spec.kpi]
    window = window_cells(spec, now, zone, cells)
    if spec.window == "cusum":
        return _assess_cusum(spec, kpi, cells, window, zone, first_day, firing, memo)
    start = _window_start(window, zone)
    num, den, orders, _ = _sum(kpi, cells, window, 0, weighted=False, memo=memo)
    value = _value(kpi, num, den)
    if spec.window == "silence" and not window:   # an order in the current hour: not silent
        return Figures(kpi=spec.kpi, value=value, normal=None, change=None, p_value=None, volume=0.0, weeks=0,
                       breach=False, reason="fine", window_start=None)
    first = window[0][0] if window else None   # oldest first
    shifts = week_shifts(first, first_day, kpi.lag_days)
    weeks = [_sum(kpi, cells, window, shift, weighted=True, memo=memo) for shift in shifts]
    base = dict(kpi=spec.kpi, value=value, weeks=len(weeks), window_start=start)
    if spec.kind == "threshold":
        volume = den if kpi.kind == "rate" else orders
        if value is None or volume < spec.min_volume:
            return Figures(normal=None, change=None, p_value=None, volume=volume, breach=None, reason="low_volume",
                           **base)
        limit = float(spec.threshold or 0)
        breach = value < limit if spec.direction == "below" else value > limit
        return Figures(normal=None, change=None, p_value=None, volume=volume, breach=breach,
                       reason="breach" if breach else "fine", **base)
    if len(weeks) < MIN_WEEKS:
        return Figures(normal=None, change=None, p_value=None, volume=orders, breach=None, reason="no_history", **base)
    if spec.kind == "drop" and kpi.kind != "rate" and len(weeks) > MIN_WEEKS:
        # one week far above the others over the window (a newsletter's morning, a sale day) is
        # left out: a median of four is the mean of the middle two, so that week still lifted it
        odd = _lone_high([w[2] for w in weeks], ODD_HOUR, SHAPE_MIN_EXPECTED)
        if odd is not None:
            weeks, shifts = weeks[:odd] + weeks[odd + 1:], shifts[:odd] + shifts[odd + 1:]
            base["weeks"] = len(weeks)
    b_num = median(w[0] for w in weeks)
    b_den = median(w[1] for w in weeks)
    b_orders = median(w[2] for w in weeks)
    b_sales = median(w[3] for w in weeks)
    k = len(weeks)
    lower = spec.kind == "drop"
    if kpi.kind == "rate":
        volume = den
        normal = _value(kpi, b_num, b_den)
        if normal is None or value is None or volume < spec.min_volume or b_den <= 0:
            return Figures(normal=normal, change=None, p_value=None, volume=volume, breach=None,
                           reason="low_volume", **base)
        tail = (num, num + b_num * k, den / (den + b_den * k))
    else:
        volume = b_orders
        normal = _value(kpi, b_num, 0.0)
        if volume < spec.min_volume or b_num <= 0:
            return Figures(normal=normal, change=None, p_value=None, volume=volume, breach=None,
                           reason="low_volume", **base)
        unit = 1.0
        if kpi.kind == "money":
            unit = 2 * b_sales / b_orders if b_orders > 0 and b_sales > 0 else b_num / max(b_orders, 1.0)
        obs, expected = max(num, 0.0) / unit, b_num / unit
        spread = dispersion(expected)   # quasi-Poisson: counts of `spread` orders vary like one
        tail = (obs / spread, (obs + expected * k) / spread, 1.0 / (k + 1))
    change = (value - normal) / abs(normal) * 100 if normal else None   # type: ignore[operator]
    by_weeks = _verdict(spec, change, tail, lower, firing, normal, volume, base)
    if not (kpi.kind == "count" and spec.window == "hours" and spec.reference_hours > 0):
        return by_weeks
    ref = reference_cells(spec, now, zone, window)
    b_refs = [_sum(kpi, cells, ref, shift, weighted=True, memo=memo)[0] for shift in shifts]
    b_counts = [w[0] for w in weeks]
    if not ref or sum(b_refs) < spec.min_volume * k or median(b_refs) <= 0:   # too little before the window
        return by_weeks                                                       # to tell today's level
    # whole hours of one day: within an hour (the promise of `memo`) the answer stays the same
    if not _remembered(memo, ("follows_the_day", kpi, ref[0][:2], len(ref), tuple(shifts)),
                       lambda: follows_the_day(kpi, cells, ref, shifts)):
        return by_weeks   # a burst (a newsletter, a sale) in them: they tell no level
    ref_count = _sum(kpi, cells, ref, 0, weighted=False, memo=memo)[0]
    s_normal, s_tail = share_test(max(num, 0.0), ref_count, b_counts, b_refs)
    s_change = (value - s_normal) / s_normal * 100 if s_normal else None   # type: ignore[operator]
    share = _verdict(spec, s_change, s_tail, lower, firing, s_normal, volume, base)
    if firing:   # either keeps it firing: a drop older than the reference hours is in them too (only the weeks see it)
        return share if share.breach or not by_weeks.breach else by_weeks
    # a breach of either needs the other to point the same way at least at HOLD_ALPHA: a slow day
    # is no sudden drop, and a busy morning (a newsletter) does not make a normal afternoon one
    if share.breach:
        return share if _points(change, tail, lower) else replace(share, breach=False, reason="not_significant")
    if by_weeks.breach and _points(s_change, s_tail, lower):
        return by_weeks
    return share


def follows_the_day(kpi: Kpi, cells: Cells, ref: list[tuple[date, int, float]], shifts: list[int]) -> bool:
    """Whether today's reference hours `ref` (whole hours) look like the weeks' same hours at some
    level, so that their count tells today's level: Pearson's chi-square of today's count of each
    hour against its weeks' median times the level of all of them (hours expecting at least
    SHAPE_MIN_EXPECTED, each count's variance the quasi-Poisson one widened by 1.5 / weeks for the
    median's own error) must not be beyond SHAPE_ALPHA. A newsletter's or a sale's burst of a few
    hours fails it: those hours are no level of the hours after them, and counted as one they made
    an ordinary afternoon look like a drop against its morning (found on the retail year of
    benchmarks/alerts_detection.py: false alerts on the afternoons of newsletter days). On that
    year (seeds 6 and 7) the afternoons of newsletter days fail it 97-100 % of the time, ordinary
    afternoons 0.4-0.6 % (those then lose only the share test's view of today's level). Fewer than
    three such hours: True, nothing to judge a shape on."""
    get = cells.get
    today = [kpi.part(get((day, hour)) or {}, kpi.num) for day, hour, _ in ref]
    normals = [median(kpi.part(get((day - timedelta(days=shift), hour)) or {}, kpi.num) for shift in shifts)
               for day, hour, _ in ref]
    total = sum(normals)
    if total <= 0:
        return True
    level = sum(today) / total
    judged = [(n, m) for n, m in zip(today, normals) if level * m >= SHAPE_MIN_EXPECTED]
    if len(judged) < 3:
        return True
    level = sum(n for n, _ in judged) / sum(m for _, m in judged)   # the level of the hours judged
    widen = 1.0 + 1.5 / len(shifts)
    chi2 = sum((n - level * m) ** 2 / (level * m * dispersion(level * m) * widen) for n, m in judged)
    return chi_square_tail(chi2, len(judged) - 1) > SHAPE_ALPHA


def chi_square_tail(x: float, df: int) -> float:
    """P(X² ≥ x) for `df` degrees of freedom, by the Wilson-Hilferty cube-root normal approximation
    (at 0.01 and 0.001 within about 15 % of the exact tail from df 3 on: enough for a threshold)."""
    if x <= 0:
        return 1.0
    v = 2.0 / (9.0 * df)
    z = ((x / df) ** (1.0 / 3.0) - (1.0 - v)) / math.sqrt(v)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _points(change: float | None, tail: tuple[float, float, float], lower: bool) -> bool:
    """Whether a change points the rule's way at least at HOLD_ALPHA."""
    return change is not None and (change < 0) == lower and binomial_tail(*tail, lower) <= HOLD_ALPHA


def share_test(count: float, ref_count: float, b_counts: Sequence[float], b_refs: Sequence[float]
               ) -> tuple[float, tuple[float, float, float]]:
    """The level-free test of a window's `count` against the `ref_count` of the hours right before
    it: (the window's normal at today's level, the binomial tail's (k, n, p) for binomial_tail).

    `b_counts` and `b_refs` are the same two stretches in each baseline week: they give the shape
    of the day, the window's share p0 of the two, the median of the weeks' shares (a week whose
    morning had a newsletter has a share of its own, and it would otherwise set the next weeks'
    shape). Given N = count + ref_count, and no change, count ~ Binomial(N, p0) whatever the day's
    level (season, trend, a busy or a slow day), so the normal is ref_count × p0 / (1 − p0). The
    binomial variance is widened for p0's own uncertainty (estimated from the weeks' orders B:
    × (1 + N / B)) and for swings of the window's level against the hours before it (relative
    variance PHI each, so p0 moves by p0 (1 − p0) √(2 PHI)): count and N are divided by the factor,
    as in the quasi-Poisson test of `assess`."""
    p0 = median(c / (c + r) for c, r in zip(b_counts, b_refs) if c + r > 0)
    n = count + ref_count
    spread = 1.0 + n / (sum(b_counts) + sum(b_refs)) + 2 * PHI * p0 * (1 - p0) * n
    return ref_count * p0 / (1 - p0), (count / spread, n / spread, p0)


def cusum_scan(counts: list[float], normals: list[float], ratio: float, phi: float = 0.0
               ) -> tuple[float, int, float, float]:
    """Page's CUSUM as a scan over the window's starts: of the stretches that end with the last
    hour, the one whose counts most favour "the level is `ratio` × normal" over "normal", as
    (score, its first index, its count, its normal); score 0 and index len(counts) when none does.

    `counts` and `normals` are per hour, oldest first. A Poisson count n of normal μ adds
    n ln ratio + (1 − ratio) μ, the log-likelihood ratio of the two; with `phi` 0 the score is the
    largest sum over a stretch ending now, which is Page's recursion S = max(0, S + increment) run
    over the window (without its resets after an alarm: the alert's state machine is the memory).
    With `phi` (detect.PHI), a stretch's sum is divided by 1 + phi × its normal, the quasi-Poisson
    dispersion of `dispersion`: over many orders the level's own swings, not chance, dominate."""
    log_ratio = math.log(ratio)
    best, best_at, best_n, best_m = 0.0, len(counts), 0.0, 0.0
    total = n_sum = m_sum = 0.0
    for i in range(len(counts) - 1, -1, -1):
        total += counts[i] * log_ratio + (1.0 - ratio) * normals[i]
        n_sum += counts[i]
        m_sum += normals[i]
        score = total / (1.0 + phi * m_sum)
        if score > best:
            best, best_at, best_n, best_m = score, i, n_sum, m_sum
    return best, best_at, best_n, best_m


def cusum_threshold(per_hour: float) -> float:
    """The score a "cusum" rule needs at a normal of `per_hour` orders an hour: CUSUM_SCORE, plus
    ln(per_hour) from one an hour up. Page's CUSUM raises a false alarm about once in e^h units of
    information, and a shop of 30 orders an hour gathers them 30 times as fast as one of one an
    hour: ln 30 more keeps both at the same false alerts a month (the busy shop has its hourly rule
    for quick drops)."""
    return CUSUM_SCORE + math.log(max(per_hour, 1.0))


def _cusum_hours(kpi: Kpi, cells: Cells, window: list[tuple[date, int, float]], shifts: list[int],
                 ordinary: dict[date, list[int]]) -> tuple[list[float], list[float]]:
    """Per hour of the window: its count (the KPI's numerator), and its normal, the mean of the same
    weekday and hour of the weeks `shifts` days back, the current hour weighted by the part passed.

    A week whose day was far above the others (Black Friday, a sale, a newsletter) is left out
    (`ordinary_weeks`): its full count would raise the normal of that weekday for a month and make
    every ordinary day after it look like a drop. `ordinary` keeps each day's ordinary weeks, filled
    as needed."""
    counts, normals = [], []
    get = cells.get
    for day, hour, weight in window:
        cell = get((day, hour)) or {}
        counts.append(kpi.part(cell, kpi.num))
        if day not in ordinary:
            ordinary[day] = ordinary_weeks(kpi, cells, day, shifts)
        past = ordinary_counts([kpi.part(get((day - timedelta(days=shift), hour)) or {}, kpi.num)
                                for shift in ordinary[day]])
        normals.append(weight * sum(past) / len(past))
    return counts, normals


def _lone_high(values: list[float], deviations: float, floor: float = 0.0) -> int | None:
    """The index of the one value far above the others, or None: the highest, when it is more than
    `deviations` quasi-Poisson deviations (`dispersion`, at least that of one order) above the
    median of the others and the second highest is not. Two weeks up there are no odd week but a
    shop whose level moved (it grew, a season began): leaving them out would judge it against its
    old level, so both stay. None too when the others' median is below `floor`."""
    if len(values) < 2:
        return None
    order = sorted(range(len(values)), key=lambda i: values[i])
    top, second = order[-1], order[-2]
    middle = median(values[i] for i in order[:-1])
    if middle < floor:
        return None
    bound = middle + deviations * math.sqrt(max(middle, 1.0) * dispersion(middle))
    return top if values[top] > bound >= values[second] else None


def ordinary_counts(counts: list[float]) -> list[float]:
    """The weeks' counts of one hour less one far above the others (`_lone_high`, ODD_HOUR
    deviations): a burst of a few hours (a newsletter's morning) hardly moves its whole day, so
    `ordinary_weeks` keeps it, and its hours raised the normal of the same hours for four weeks
    (retail year of benchmarks/alerts_detection.py, seeds 14 and 15: the busy shop's CUSUM told
    ordinary Tuesday mornings one and two weeks after a newsletter as halved). Only from a median
    of SHAPE_MIN_EXPECTED orders: below it a burst is no different from chance, and leaving out a
    small shop's rare busy hours cost it a trial or two told later a year (plain year, seeds 6-10)."""
    odd = _lone_high(counts, ODD_HOUR, SHAPE_MIN_EXPECTED)
    return counts if odd is None else counts[:odd] + counts[odd + 1:]


def ordinary_weeks(kpi: Kpi, cells: Cells, day: date, shifts: list[int]) -> list[int]:
    """Of the weeks `shifts` days back, those whose `day`'s weekday was ordinary: one odd day, whose
    whole-day count is more than ODD_DAY deviations above the other weeks' median (`_lone_high`),
    is left out.

    Left out, not scaled down: taken at the median's level (as first built), a newsletter's day
    kept its burst hours' share of that level, and the busy shop's CUSUM then told ordinary
    Tuesday mornings after a newsletter as drops (retail year of benchmarks/alerts_detection.py,
    seeds 8 to 10: one or two a year each, none since). An ordinary week stays (about one in forty
    is left out), so the normal keeps the precision of the mean of all weeks where the median of
    a few small counts would lose it."""
    get = cells.get
    totals = [sum(kpi.part(get((day - timedelta(days=shift), hour)) or {}, kpi.num) for hour in range(24))
              for shift in shifts]
    odd = _lone_high(totals, ODD_DAY)
    return [shift for i, shift in enumerate(shifts) if i != odd]


def _assess_cusum(spec: RuleSpec, kpi: Kpi, cells: Cells, window: list[tuple[date, int, float]], zone: ZoneInfo,
                  first_day: date | None, firing: bool, memo: dict | None) -> Figures:
    """A "cusum" rule (a count KPI, kind drop): Page's CUSUM of "down by change_pct %" against the
    weeks' normal over the last window_hours hours (`cusum_scan`). The figures are those of the
    stretch that scores best: its count, normal and change since its first hour (window_start); the
    p_value is e^−score (a likelihood ratio: "normal" is that many times likelier than the drop).
    A breach needs a score of CUSUM_SCORE (half that while firing) and a normal of at least
    min_volume over the whole window (less: too little to say).

    A KPI with `confirm` (carts: orders) is told only when those counts over the same stretch
    favour the drop too (their log-likelihood ratio of "down by change_pct %" is above 0: orders at
    most about 72 % of normal for a halving). Carts fall with traffic and tell it about three times
    sooner than orders; without orders falling too, a fall of carts alone is no lost sale (a bot
    that stopped, the shop's cart events switched off), and once told, carts alone keep it firing."""
    shifts = week_shifts(window[0][0] if window else None, first_day, kpi.lag_days)
    base = dict(kpi=spec.kpi, weeks=len(shifts))
    if kpi.kind != "count" or spec.kind != "drop" or not window:
        return Figures(value=None, normal=None, change=None, p_value=None, volume=0.0, breach=None,
                       reason="no_history", window_start=None, **base)
    if len(shifts) < MIN_WEEKS:
        return Figures(value=None, normal=None, change=None, p_value=None, volume=0.0, breach=None,
                       reason="no_history", window_start=_window_start(window, zone), **base)
    if spec.min_volume >= CUSUM_PRECHECK_VOLUME:
        # The weeks' plain mean over the window is at least the normal (leaving an odd week or hour
        # out only lowers it): below min_volume, the normal's sums are not needed to say so, at about
        # a third of their cost (a small shop's carts rule, every five minutes). A rule with a small
        # minimum (orders_drop_cusum's 10) is above it nearly everywhere: there the check only adds.
        # The volume shown is then that mean.
        plain = sum(_sum(kpi, cells, window, shift, weighted=True, memo=memo)[0] for shift in shifts) / len(shifts)
        if plain < spec.min_volume:
            return Figures(value=None, normal=None, change=None, p_value=None, volume=plain, breach=None,
                           reason="low_volume", window_start=_window_start(window, zone), **base)
    ratio = min(max(1.0 - spec.change_pct / 100.0, 0.01), 0.99)
    whole = len(window) if window[-1][2] == 1.0 else len(window) - 1
    key = ("cusum", spec.kpi, ratio, window[0][:2], len(window), whole, tuple(shifts))
    ordinary: dict[date, list[int]] = {}   # per day of the window, shared by its whole hours and the current one
    # the whole hours do not change within an hour: with `memo`, they are read once
    counts, normals = _remembered(memo, key, lambda: _cusum_hours(kpi, cells, window[:whole], shifts, ordinary))
    if whole < len(window):
        now_counts, now_normals = _cusum_hours(kpi, cells, window[whole:], shifts, ordinary)
        counts, normals = counts + now_counts, normals + now_normals
    volume = sum(normals)
    if volume < spec.min_volume:
        return Figures(value=None, normal=None, change=None, p_value=None, volume=volume, breach=None,
                       reason="low_volume", window_start=_window_start(window, zone), **base)
    score, at, value, normal = cusum_scan(counts, normals, ratio, PHI)
    change = (value - normal) / normal * 100 if normal > 0 else None
    need = cusum_threshold(volume / sum(w for _, _, w in window))
    need = need / 2 if firing else need
    breach = score >= need
    confirmed = None
    if breach and kpi.confirm:
        counts_c, normals_c = _cusum_hours(KPIS[kpi.confirm], cells, window[at:], shifts, {})
        n, m = sum(counts_c), sum(normals_c)
        confirmed = {"kpi": kpi.confirm, "value": n, "normal": m}
        if not firing:   # told only when they favour the drop too; once told, the KPI alone holds it
            breach = n * math.log(ratio) + (1.0 - ratio) * m > 0
    reason = "breach" if breach else ("fine" if score == 0 else "not_significant")
    return Figures(value=value if at < len(window) else None, normal=normal if at < len(window) else None,
                   change=change, p_value=math.exp(-score), volume=volume, breach=breach, reason=reason,
                   window_start=_window_start(window[at:], zone), confirmed=confirmed, **base)


def _verdict(spec: RuleSpec, change: float | None, tail: tuple[float, float, float], lower: bool, firing: bool,
             normal: float | None, volume: float, base: dict) -> Figures:
    """One test's figures: a breach when the change is at least change_pct (half that when firing)
    and its tail at most ALPHA (HOLD_ALPHA when firing); the tail is not computed for a small change."""
    need_change, need_alpha = (spec.change_pct / 2, HOLD_ALPHA) if firing else (spec.change_pct, ALPHA)
    big = change is not None and (change <= -need_change if lower else change >= need_change)
    if not big:   # too small to matter whatever the chance: the tail is not computed
        return Figures(normal=normal, change=change, p_value=None, volume=volume, breach=False,
                       reason="small_change", **base)
    p_value = binomial_tail(*tail, lower)
    breach = p_value <= need_alpha
    reason = "breach" if breach else "not_significant"
    return Figures(normal=normal, change=change, p_value=p_value, volume=volume, breach=breach, reason=reason, **base)


def _window_start(window: list[tuple[date, int, float]], zone: ZoneInfo) -> datetime | None:
    if not window:
        return None
    day, hour, _ = window[0]
    return datetime.combine(day, time(hour), zone)


def chart_series(spec: RuleSpec, cells: Cells, now: datetime, zone: ZoneInfo, first_day: date | None = None
                 ) -> list[tuple[str, float, float | None]]:
    """Observed and normal per hour of the rule's window (per day when the window is longer than
    two days), for the small chart in a notification; silence and threshold rules show today's hours."""
    if spec.window == "silence" or spec.kind == "threshold":
        spec = replace(spec, window="today")
    kpi = KPIS[spec.kpi]
    window = window_cells(spec, now, zone, cells)
    shifts = week_shifts(min(d for d, _, _ in window) if window else None, first_day)
    # one bar per hour (per day), in time order: a window over two days has two bars labelled 14:00
    groups: dict[tuple[date, int], tuple[str, list[tuple[date, int, float]]]] = {}
    by_day = len(window) > 48
    for day, hour, weight in window:
        key, label = ((day, 0), day.isoformat()) if by_day else ((day, hour), f"{hour:02d}:00")
        groups.setdefault(key, (label, []))[1].append((day, hour, weight))
    out = []
    for label, part in groups.values():
        num, den, _, _ = _sum(kpi, cells, part, 0, weighted=False)
        normals = [_sum(kpi, cells, part, shift, weighted=True) for shift in shifts]
        observed = _value(kpi, num, den)
        normal = None
        if len(normals) >= MIN_WEEKS:
            normal = _value(kpi, median(n[0] for n in normals), median(n[1] for n in normals))
        out.append((label, round(observed or 0.0, 2), None if normal is None else round(normal, 2)))
    while out and not out[0][1] and not out[0][2]:   # quiet night hours say nothing
        out.pop(0)
    return out


# --- why it changed --------------------------------------------------------------------------

def biggest_contributor(observed: Mapping[str, float], normal: Mapping[str, float], lower: bool
                        ) -> tuple[str, float, float] | None:
    """(key, observed, normal) of the part (traffic source, product) that moved most in the alert's
    direction, or None when no part moved that way."""
    best = None
    for key in set(observed) | set(normal):
        moved = observed.get(key, 0.0) - normal.get(key, 0.0)
        moved = -moved if lower else moved
        if moved > 0 and (best is None or moved > best[0]):
            best = (moved, key)
    if best is None:
        return None
    return best[1], observed.get(best[1], 0.0), normal.get(best[1], 0.0)


# --- the state machine -----------------------------------------------------------------------

@dataclass(frozen=True)
class AlertState:
    """Where a rule's alert stands: ok → pending → firing → (resolved) ok, as in Alertmanager.

    `notified_at` is when the last firing/repeat notification went out (None: nobody was told
    yet, e.g. it fired in quiet hours); `owed_resolved`: it recovered while silenced after its
    firing was sent, so the recovery is told when the silence ends.
    """

    status: str = OK
    since: datetime | None = None
    fired_at: datetime | None = None
    notified_at: datetime | None = None
    owed_resolved: bool = False
    incident: int = 0   # how many times the rule has started firing: the number of its current (last) incident


_TIME_OF_DAY = re.compile(r"([01]?[0-9]|2[0-3])(?::([0-5][0-9]))?", re.ASCII)


def minutes_of(value: str | None) -> int | None:
    """"22:30" (or "7", "7:05") → 1350 (minutes after midnight); None or "" → None; ValueError for
    anything that is not a time of day ("10:99" is not 11:39)."""
    if not value:
        return None
    match = _TIME_OF_DAY.fullmatch(value)
    if match is None:
        raise ValueError(f"not a time of day (HH:MM): {value!r}")
    return int(match[1]) * 60 + int(match[2] or 0)


def in_quiet_hours(spec: RuleSpec, now: datetime, zone: ZoneInfo) -> bool:
    if spec.quiet_start is None or spec.quiet_end is None or spec.quiet_start == spec.quiet_end:
        return False
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if spec.quiet_start < spec.quiet_end:
        return spec.quiet_start <= minute < spec.quiet_end
    return minute >= spec.quiet_start or minute < spec.quiet_end


def is_muted(spec: RuleSpec, now: datetime) -> bool:
    return spec.muted_until is not None and now < spec.muted_until


# KPIs whose drops (rises) are one incident, whatever the window: net sales are orders times
# their value, so a drop in orders is a drop in net sales, and carts fall with the traffic whose
# orders fall (a carts rule is told only with its orders pointing down too); a silence (no orders at all: webhooks
# broken, the shop down) is a different matter and is told on its own
SAME_INCIDENT = {"orders": "sales", "net_sales": "sales", "carts": "sales"}


def incident_family(spec: RuleSpec) -> tuple[str, str, bool] | None:
    """The family of rules whose alerts tell of one incident (None: a threshold, the merchant's own
    line, is always told)."""
    if spec.kind == "threshold":
        return None
    return SAME_INCIDENT.get(spec.kpi, spec.kpi), spec.kind, spec.window == "silence"


def one_per_incident(specs: Mapping[str, RuleSpec], before: Mapping[str, AlertState],
                     after: Mapping[str, tuple[AlertState, list[str]]], now: datetime
                     ) -> dict[str, tuple[AlertState, list[str]]]:
    """One evaluation's states and notifications (`after`, from `step`, in rule order) with one
    incident told once per family (`incident_family`), as Alertmanager's inhibition does:
    - a rule that starts firing while another of its family has told the merchant, less than the
      rule's repeat interval ago, says nothing (it stays firing, not notified: it is covered); told
      longer ago, it is news (a drop that worsens after a week running low);
    - a rule that told and recovers while another of its family still fires says nothing either:
      the incident goes on; the first one still firing takes it over (as told at the same time, so
      that it repeats and tells the recovery in its place).
    The merchant hears one firing, its repeats, and one recovery per incident."""
    result = dict(after)
    families: dict[tuple, list[str]] = {}
    for key, spec in specs.items():
        family = incident_family(spec)
        if family is not None:
            families.setdefault(family, []).append(key)
    for keys in families.values():
        if len(keys) < 2:
            continue
        firing = [key for key in keys if result[key][0].status == FIRING]
        speaking = {key for key in firing if before[key].status == FIRING and before[key].notified_at is not None}
        for key in keys:
            told, (state, actions) = before[key], result[key]
            if told.status != FIRING or told.notified_at is None or state.status == FIRING or not firing:
                continue
            result[key] = (replace(state, owed_resolved=False), [a for a in actions if a != RESOLVED])
            if not speaking:   # the first one still firing carries the incident on
                heir = firing[0]
                heir_state, heir_actions = result[heir]
                result[heir] = (replace(heir_state, notified_at=told.notified_at), [a for a in heir_actions if a != FIRED])
                speaking.add(heir)
        for key in keys:
            state, actions = result[key]
            if FIRED not in actions:
                continue
            recent = timedelta(minutes=specs[key].repeat_minutes) if specs[key].repeat_minutes else timedelta.max
            if any(now - result[other][0].notified_at < recent for other in speaking - {key}):  # type: ignore[operator]
                result[key] = (replace(state, notified_at=None), [a for a in actions if a != FIRED])
            else:
                speaking.add(key)
    return result


def step_rules(specs: Mapping[str, RuleSpec], before: Mapping[str, AlertState],
               breaches: Mapping[str, bool | None], now: datetime, zone: ZoneInfo
               ) -> dict[str, tuple[AlertState, list[str]]]:
    """One evaluation of a shop's rules (keyed alike, in rule order): each rule's `step`, then one
    incident told once (`one_per_incident`). What the evaluator and the benchmark both call."""
    after = {key: step(before[key], breaches[key], now, spec, zone) for key, spec in specs.items()}
    return one_per_incident(specs, before, after, now)


def told_incident(state: AlertState, kind: str) -> int:
    """The incident a notification of `kind` that `step` called for (ending in `state`) tells of.
    An incident is numbered when it starts firing, so a recovery is the current incident's, unless
    the step that told it also started a new one (an owed recovery told as a dip begins to fire)."""
    return state.incident - 1 if kind == RESOLVED and state.status == FIRING else state.incident


def step(state: AlertState, breach: bool | None, now: datetime, spec: RuleSpec, zone: ZoneInfo
         ) -> tuple[AlertState, list[str]]:
    """The next state after one assessment at `now`, and the notifications it calls for
    (FIRED, REPEAT, RESOLVED). `breach` None (too little data) keeps the state as it is."""
    actions: list[str] = []
    silenced = in_quiet_hours(spec, now, zone) or is_muted(spec, now)
    if breach is None:
        if state.status == OK and state.owed_resolved and not silenced:
            return replace(state, owed_resolved=False), [RESOLVED]
        return state, actions
    if breach:
        if state.status == OK:   # a recovery still owed stays owed while the new breach is only pending
            state = AlertState(PENDING, since=now, incident=state.incident, owed_resolved=state.owed_resolved)
        if state.status == PENDING and state.owed_resolved and not silenced:
            state = replace(state, owed_resolved=False)
            actions.append(RESOLVED)   # the last incident did recover: say so before any new firing
        if state.status == PENDING and now - state.since >= timedelta(minutes=spec.for_minutes):  # type: ignore[operator]
            # firing again, still silenced: the owed recovery is moot (the merchant's last word, "down", is true)
            state = replace(state, status=FIRING, fired_at=now, owed_resolved=False, incident=state.incident + 1)
        if state.status == FIRING and not silenced:
            if state.notified_at is None:
                state = replace(state, notified_at=now)
                actions.append(FIRED)
            elif spec.repeat_minutes > 0 and now - state.notified_at >= timedelta(minutes=spec.repeat_minutes):
                state = replace(state, notified_at=now)
                actions.append(REPEAT)
        return state, actions
    if state.status == PENDING:
        state = AlertState(OK, incident=state.incident, owed_resolved=state.owed_resolved)
    if state.status == FIRING:
        told = state.notified_at is not None
        state = AlertState(OK, incident=state.incident, owed_resolved=told and silenced)
        if told and not silenced:
            actions.append(RESOLVED)
        return state, actions
    if state.owed_resolved and not silenced:
        return replace(state, owed_resolved=False), [RESOLVED]
    return state, actions
