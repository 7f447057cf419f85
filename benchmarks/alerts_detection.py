"""Detection quality of the default alert rules (issue 6) on a synthetic year of orders.

    .venv/bin/python benchmarks/alerts_detection.py [--seed 6] [--trials 24] [--verbose] [--sweep-small]

Two synthetic shops in Europe/Amsterdam, one year each, generated in pure Python from a seed: a
daily rhythm (quiet nights, a lunch bump, an evening peak), a weekly rhythm, a yearly season
(December busiest) and a growth trend, day-to-day noise (lognormal, 8 %), and Poisson orders, carts,
checkouts and refunds per hour, written as the same hourly counters ("hour:HH|…") the product
keeps. The big shop has about 700 orders a day (≥ 20 an hour from 09:00 to 22:00 even in its quietest
season), the small one 20 a day.

Every default rule (plugin.alerts.rules.DEFAULT_RULES) is then run hour by hour through the very
functions the product's evaluator calls (plugin.alerts.detect.assess and .step, with an injected
clock):
- false alerts: the year without any incident, after four weeks of history; every firing
  notification is a false alert;
- detection delay: on `--trials` days spread over the year, orders, carts and checkouts fall by
  50 % from 12:00 for a week; the delay is the time from 12:00 to the first firing of an orders or
  net-sales rule.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.alerts.detect import FIRED, FIRING, AlertState, assess, step  # noqa: E402
from plugin.alerts.rules import DEFAULT_RULES  # noqa: E402

ZONE = ZoneInfo("Europe/Amsterdam")
START = date(2025, 1, 6)   # a Monday
DAYS = 365
PROFILE = [0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.3, 1.5, 1.6, 1.7, 1.6, 1.5, 1.5, 1.5, 1.6, 1.8, 2.0,
           2.0, 1.7, 1.2, 0.6]
WEEKDAY = [1.1, 1.0, 0.95, 0.95, 1.0, 0.85, 1.15]
PRICES = [9.99, 12.95, 14.0, 19.95, 24.5, 34.95, 49.0, 89.99]
DROP_RULES = {"orders_drop_today", "orders_drop_recent", "orders_drop_week", "net_sales_drop_today", "no_orders"}
M = 1_000_000
DROP_DAYS = 7                       # a drop lasts a week in the trials
HORIZON = DROP_DAYS * 24 - 12       # hours from the drop's start that a trial watches
VERBOSE = False


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 60:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def day_rate(per_day: float, day: date, noise: float) -> float:
    doy = day.timetuple().tm_yday
    season = 1 + 0.25 * math.cos(2 * math.pi * (doy - 340) / 365)
    trend = 0.9 + 0.2 * (day - START).days / DAYS
    return per_day * WEEKDAY[day.weekday()] * season * trend * noise


def generate_day(cells: dict, refunds: dict, per_day: float, day: date, seed: int,
                 drop_from: int | None = None) -> None:
    """The hourly counters of one day (orders, sales, carts, checkouts) into `cells`; refunds of its
    orders into `refunds`, booked days later. `drop_from`: from this hour on, traffic is halved."""
    rng = random.Random(seed * 100_003 + day.toordinal())
    total = day_rate(per_day, day, math.exp(rng.gauss(0, 0.08)))
    weight = sum(PROFILE)
    for hour in range(24):
        factor = 0.5 if drop_from is not None and hour >= drop_from else 1.0
        lam = total * PROFILE[hour] / weight * factor
        orders = poisson(rng, lam)
        cell = Counter()
        for _ in range(orders):
            items = 1 + poisson(rng, 0.5)
            gross = sum(rng.choice(PRICES) for _ in range(items))
            discount = gross * 0.1 if rng.random() < 0.2 else 0.0
            cell["gross_sales"] += int(gross * M)
            cell["discounts"] += int(discount * M)
            cell["items_sold"] += items
            if rng.random() < 0.07:
                back = day + timedelta(days=rng.randrange(2, 15))
                price = rng.choice(PRICES)
                key = (back, rng.choice(range(9, 22)))
                refunds[key]["returns"] += int(price * M)
                refunds[key]["refunds"] += int(price * 1.21 * M)
                refunds[key]["items_returned"] += 1
        cell["orders"] = orders
        cell["carts"] = poisson(rng, lam * 2.5) + orders
        cell["cart_purchases"] = sum(1 for _ in range(orders) if rng.random() < 0.9)
        cell["checkouts"] = poisson(rng, lam * 0.6) + orders
        cell["checkout_purchases"] = sum(1 for _ in range(orders) if rng.random() < 0.95)
        cells[(day, hour)] = cell


def generate_year(per_day: float, seed: int) -> dict:
    cells: dict = {}
    refunds: dict = defaultdict(Counter)
    for offset in range(DAYS):
        generate_day(cells, refunds, per_day, START + timedelta(days=offset), seed)
    for key, values in refunds.items():
        if key in cells:
            cells[key].update(values)
    return cells


def hours(first: datetime, last: datetime):  # noqa: ANN201
    at = first.astimezone(timezone.utc)
    while at <= last:
        yield at.astimezone(ZONE)
        at += timedelta(hours=1)


def run(cells: dict, first: datetime, last: datetime, rules=DEFAULT_RULES):  # noqa: ANN001, ANN201
    """Every rule hour by hour from `first` to `last`: [(time, rule key)] of firing notifications."""
    states = {key: AlertState() for key, _ in rules}
    fired = []
    for now in hours(first, last):
        for key, spec in rules:
            figures = assess(spec, cells, now, ZONE, START, firing=states[key].status == FIRING)
            states[key], actions = step(states[key], figures.breach, now, spec, ZONE)
            if FIRED in actions:
                fired.append((now, key))
    return fired


def false_alerts(cells: dict) -> tuple[float, Counter, int]:
    first = datetime.combine(START + timedelta(days=28), time(0), ZONE)
    last = datetime.combine(START + timedelta(days=DAYS - 1), time(23), ZONE)
    fired = run(cells, first, last)
    if VERBOSE:
        for at, key in fired:
            print(f"    false alert {at:%a %Y-%m-%d %H:%M} {key}")
    months = (last - first).days / (365 / 12)
    return len(fired) / months, Counter(key for _, key in fired), int(round(months))


def delays(per_day: float, seed: int, base: dict, trials: int) -> list[float | None]:
    """Hours from 12:00 to the first firing of an orders/net-sales rule, per trial (None: not while
    the drop lasts)."""
    out = []
    spacing = (DAYS - 42 - DROP_DAYS - 1) // trials
    for trial in range(trials):
        day = START + timedelta(days=42 + trial * spacing + trial % 7)   # every weekday in turn
        cells = dict(base)
        scratch: dict = defaultdict(Counter)
        for offset in range(DROP_DAYS):
            d = day + timedelta(days=offset)
            generate_day(cells, scratch, per_day, d, seed, drop_from=12 if offset == 0 else 0)
            for hour in range(24):   # refunds booked on these days by earlier orders stay
                for name in ("returns", "refunds", "items_returned"):
                    cells[(d, hour)][name] = base[(d, hour)][name]
        noon = datetime.combine(day, time(12), ZONE)
        fired = run(cells, noon - timedelta(days=2), noon + timedelta(hours=HORIZON),
                    [(k, s) for k, s in DEFAULT_RULES if k in DROP_RULES])
        after = [(at - noon).total_seconds() / 3600 for at, key in fired if at > noon]
        out.append(min(after) if after else None)
    return out


def describe(values: list[float | None]) -> str:
    found = sorted(v for v in values if v is not None)
    if not found:
        return "never detected"
    return (f"median {statistics.median(found):.0f} h, worst {found[-1]:.0f} h, "
            f"not detected while the drop lasted ({HORIZON} h): {sum(v is None for v in values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--verbose", action="store_true", help="list every false alert")
    parser.add_argument("--sweep-small", action="store_true",
                        help="then the small shop again at looser significance levels (what same-day detection costs)")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    print(f"reproduce: .venv/bin/python benchmarks/alerts_detection.py --seed {args.seed} --trials {args.trials}"
          + (" --sweep-small" if args.sweep_small else ""))
    big = "big shop, ~700 orders/day (>= 20 orders/h from 09:00 to 22:00 all year)"
    for name, per_day, target in ((big, 700.0, 2.0),
                                  ("small shop, 20 orders/day", 20.0, None)):
        cells = generate_year(per_day, args.seed)
        rate, by_rule, months = false_alerts(cells)
        print(f"\n{name}")
        print(f"  false alerts: {rate:.2f} per month over {months} months "
              f"({', '.join(f'{k} {v}' for k, v in by_rule.most_common()) or 'none'})")
        found = delays(per_day, args.seed, cells, args.trials)
        print(f"  50 % drop in orders from 12:00, {args.trials} trials: delay {describe(found)}")
        within = sum(1 for v in found if v is not None and v <= (target or 12))
        if target:
            print(f"  reported within {target:.0f} h: {within}/{len(found)}")
        else:
            same_day = within
            day_long = sum(1 for v in found if v is not None and v <= 24)
            print(f"  reported the same day (by 24:00): {same_day}/{len(found)}; within 24 h: {day_long}/{len(found)}; "
                  f"within 3 days: {sum(1 for v in found if v is not None and v <= 72)}/{len(found)}")
    if args.sweep_small:
        sweep(args)


def sweep(args: argparse.Namespace) -> None:
    """The small shop with the default rules at looser significance levels than detect.ALPHA: the
    price of same-day detection in false alerts (a what-if; the product uses detect.ALPHA)."""
    from plugin.alerts import detect

    product_alpha = detect.ALPHA
    cells = generate_year(20.0, args.seed)
    print(f"\nsmall shop at other significance levels (the product uses {product_alpha:g}):")
    try:
        for alpha in (1e-3, 1e-2, 3e-2):
            detect.ALPHA = alpha
            rate, by_rule, _ = false_alerts(cells)
            found = delays(20.0, args.seed, cells, args.trials)
            same_day = sum(1 for v in found if v is not None and v <= 12)
            print(f"  alpha {alpha:g}: {rate:.2f} false alerts per month; same-day detection {same_day}/{len(found)}, "
                  f"within 24 h {sum(1 for v in found if v is not None and v <= 24)}/{len(found)}")
    finally:
        detect.ALPHA = product_alpha


if __name__ == "__main__":
    main()
