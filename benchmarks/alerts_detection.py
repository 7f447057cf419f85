"""Detection quality of the default alert rules (issue 6) on a synthetic year of orders.

    .venv/bin/python benchmarks/alerts_detection.py [--seed 6] [--trials 24] [--verbose] [--shop big|small|both]

Two synthetic shops in Europe/Amsterdam, one year each, generated in pure Python from a seed: a
daily rhythm (quiet nights, a lunch bump, an evening peak), a weekly rhythm, a yearly season
(December busiest) and a growth trend, day-to-day noise (lognormal, 8 %), and Poisson orders, carts,
checkouts and refunds per hour, each with an arrival minute, written as the same hourly counters
("hour:HH|…") the product keeps. The big shop has about 700 orders a day (≥ 20 an hour from 09:00
to 22:00 even in its quietest season), the small one 20 a day.

Every default rule (plugin.alerts.rules.DEFAULT_RULES) is then run every 5 minutes, the product's
evaluation interval (KOMPAS_ALERTS_INTERVAL = 300 s), through the very functions the product's
evaluator calls (plugin.alerts.detect.assess and .step_rules, with an injected clock); the current hour
holds what arrived before that minute, as the product's counters do:
- false alerts: the year without any incident, after four weeks of history; every firing
  notification is a false alert;
- detection delay: on `--trials` days spread over the year, orders, carts and checkouts fall by
  50 % from 12:00 for a week (a fall in traffic; `--drop orders`: only the orders, a checkout or
  payment fault); the delay is the time from 12:00 to the first firing of an orders, net-sales or
  carts rule (carts_drop_cusum tells a fall of carts only with its orders: one incident);
- two oracles, which know what no detector can: the exact expected number of orders of every hour
  (the day's own swing included, the one thing that orders cannot tell in time):
  - one that also knows when the drop began and tests the orders since 12:00 once a day at a
    false-alarm probability of 1/30.4 (one false alert a month);
  - one that watches, as the product must (it does not know when a drop begins): Page's CUSUM of
    the log-likelihood ratio of "halved" against the exact normal, every 5 minutes, its threshold
    set so that the incident-free year gives one false alert a month (`cusum_oracle`).
  Their figures bound what any detector can do; the gap to them is the price of estimating the
  normal, in the main today's level (8 % day to day), from the orders themselves.
The two shops run in two processes (a few minutes in all).
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.alerts.detect import FIRED, FIRING, AlertState, assess, step_rules  # noqa: E402
from plugin.alerts.rules import DEFAULT_RULES  # noqa: E402

ZONE = ZoneInfo("Europe/Amsterdam")
START = date(2025, 1, 6)   # a Monday
DAYS = 365
PROFILE = [0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.3, 1.5, 1.6, 1.7, 1.6, 1.5, 1.5, 1.5, 1.6, 1.8, 2.0,
           2.0, 1.7, 1.2, 0.6]
WEEKDAY = [1.1, 1.0, 0.95, 0.95, 1.0, 0.85, 1.15]
# The "retail" year (--year retail): weekends have an hourly rhythm of their own (a late Saturday
# morning and an early evening; a slow Sunday morning and a long Sunday evening), and the year has
# the days a Dutch or Belgian webshop sells more on. None of them is a drop: on that year every
# firing of an orders rule is a false alert, however the rule computes its normal.
SATURDAY = [0.3, 0.25, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.4, 1.6, 1.7, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.2,
            1.2, 1.1, 0.9, 0.5]
SUNDAY = [0.35, 0.25, 0.15, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.1, 1.3, 1.4, 1.4, 1.4, 1.5, 1.6, 1.8, 2.0, 2.3,
          2.5, 2.3, 1.6, 0.8]
PRICES = [9.99, 12.95, 14.0, 19.95, 24.5, 34.95, 49.0, 89.99]
DROP_RULES = {"orders_drop_cusum", "carts_drop_cusum", "orders_drop_today", "orders_drop_recent", "orders_drop_half_day", "orders_drop_day", "orders_drop_week",
              "net_sales_drop_today", "no_orders"}
M = 1_000_000
DROP_DAYS = 7                       # a drop lasts a week in the trials
HORIZON = DROP_DAYS * 24 - 12       # hours from the drop's start that a trial watches
STEP_MINUTES = 5                    # the product evaluates every KOMPAS_ALERTS_INTERVAL = 300 s
STEPS_PER_HOUR = 60 // STEP_MINUTES


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


def black_friday(year: int) -> date:
    """The Friday after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def first_weekday(year: int, month: int, weekday: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def retail_day(day: date) -> tuple[float, dict[int, float]]:
    """The retail year's own days: (factor on the day's orders, extra factor per hour). All sell more:
    Black Friday × 3 and the weekend after it × 1.6, Cyber Monday × 2, the first day of the summer and
    winter sales × 1.8, and a monthly newsletter on the first Tuesday, sent at 10:00, that brings
    × 2.5 the orders from 10:00 to 14:00."""
    friday = black_friday(day.year)
    if day == friday:
        return 3.0, {}
    if friday < day < friday + timedelta(days=3):
        return 1.6, {}
    if day == friday + timedelta(days=3):
        return 2.0, {}
    if day in (first_weekday(day.year, 7, 0), date(day.year, 12, 27)):
        return 1.8, {}
    if day == first_weekday(day.year, day.month, 1):
        return 1.0, {hour: 2.5 for hour in range(10, 14)}
    return 1.0, {}


def day_rate(per_day: float, day: date, noise: float) -> float:
    doy = day.timetuple().tm_yday
    season = 1 + 0.25 * math.cos(2 * math.pi * (doy - 340) / 365)
    trend = 0.9 + 0.2 * (day - START).days / DAYS
    return per_day * WEEKDAY[day.weekday()] * season * trend * noise


def generate_day(per_day: float, day: date, seed: int, drop_from: int | None = None, year: str = "plain",
                 drop: str = "traffic") -> tuple[dict, list, list[float]]:
    """One day of events: {(day, hour): [(minute, counters)]} of its orders, carts and checkouts,
    the refunds of its orders as [((day, hour), minute, counters)] booked days later, and the
    expected orders of each hour without a drop. `drop_from`: from this hour on, traffic is halved
    (`drop` "traffic": orders, carts and checkouts) or only orders are ("orders": a checkout or
    payment fault, as many carts and checkouts as without it).
    Every event has an arrival minute within its hour, so that the current hour can be counted for
    the part that has passed, as the product counts it. `year`: "plain" (every day the same rhythm)
    or "retail" (weekends' own rhythm, sale days and newsletters: `retail_day`)."""
    rng = random.Random(seed * 100_003 + day.toordinal())
    total = day_rate(per_day, day, math.exp(rng.gauss(0, 0.08)))
    profile, boost = PROFILE, {}
    if year == "retail":
        profile = {5: SATURDAY, 6: SUNDAY}.get(day.weekday(), PROFILE)
        factor, boost = retail_day(day)
        total *= factor
    weight = sum(profile)
    events: dict = {}
    refunds: list = []
    expected = []
    for hour in range(24):
        factor = 0.5 if drop_from is not None and hour >= drop_from else 1.0
        expected.append(total * profile[hour] / weight * boost.get(hour, 1.0))
        lam = expected[-1] * factor
        orders = poisson(rng, lam)
        hour_events = []
        for _ in range(orders):
            items = 1 + poisson(rng, 0.5)
            gross = sum(rng.choice(PRICES) for _ in range(items))
            discount = gross * 0.1 if rng.random() < 0.2 else 0.0
            order = {"orders": 1, "gross_sales": int(gross * M), "discounts": int(discount * M), "items_sold": items,
                     "carts": 1, "cart_purchases": int(rng.random() < 0.9),
                     "checkouts": 1, "checkout_purchases": int(rng.random() < 0.95)}
            hour_events.append((rng.random() * 60, order))
            if rng.random() < 0.07:
                back = day + timedelta(days=rng.randrange(2, 15))
                price = rng.choice(PRICES)
                refunds.append(((back, rng.choice(range(9, 22))), rng.random() * 60,
                                {"returns": int(price * M), "refunds": int(price * 1.21 * M), "items_returned": 1}))
        # carts and checkouts that did not become an order: 3.5 carts and 1.6 checkouts an order in all
        carts, checkouts = lam * 2.5, lam * 0.6
        if drop == "orders":   # as many as without the drop: the orders alone fell
            carts, checkouts = expected[-1] * 3.5 - lam, expected[-1] * 1.6 - lam
        for _ in range(poisson(rng, carts)):
            hour_events.append((rng.random() * 60, {"carts": 1}))
        for _ in range(poisson(rng, checkouts)):
            hour_events.append((rng.random() * 60, {"checkouts": 1}))
        events[(day, hour)] = hour_events
    return events, refunds, expected


class Shop:
    """A synthetic shop's year: per local hour its counters when the hour is over (`full`) and as
    the product sees them every STEP of the hour (`partial[key][i]`: what arrived before minute
    i × STEP), and the expected orders per hour (`expected`)."""

    def __init__(self, per_day: float, seed: int, year: str = "plain", drop: str = "traffic") -> None:
        self.per_day, self.seed, self.year, self.drop = per_day, seed, year, drop
        self.events: dict = {}
        self.refunds: dict = defaultdict(list)
        self.expected: dict = {}
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            events, refunds, expected = generate_day(per_day, day, seed, year=year)
            self.events.update(events)
            for key, minute, counters in refunds:
                self.refunds[key].append((minute, counters))
            for hour, lam in enumerate(expected):
                self.expected[(day, hour)] = lam
        self.full: dict = {}
        self.partial: dict = {}
        for key in self.events:
            self.full[key], self.partial[key] = counters_by_step(self.events[key] + self.refunds.get(key, []))

    def with_drop(self, day: date, days: int) -> tuple[dict, dict]:
        """(full, partial) with orders, carts and checkouts halved from 12:00 on `day` for `days` days
        (refunds booked on those days by earlier orders stay)."""
        full, partial = dict(self.full), dict(self.partial)
        for offset in range(days):
            d = day + timedelta(days=offset)
            events, _, _ = generate_day(self.per_day, d, self.seed, drop_from=12 if offset == 0 else 0,
                                        year=self.year, drop=self.drop)
            for key, hour_events in events.items():
                full[key], partial[key] = counters_by_step(hour_events + self.refunds.get(key, []))
        return full, partial


def counters_by_step(events: list) -> tuple[dict, list[dict]]:
    """The hour's counters when it is over, and at each STEP within it (what arrived before)."""
    events = sorted(events, key=lambda event: event[0])
    total: Counter = Counter()
    steps = []
    i = 0
    for step in range(STEPS_PER_HOUR):
        while i < len(events) and events[i][0] < step * STEP_MINUTES:
            total.update(events[i][1])
            i += 1
        steps.append(dict(total))
    for _, counters in events[i:]:
        total.update(counters)
    return dict(total), steps


def instants(first: datetime, last: datetime):  # noqa: ANN201
    """Every STEP from `first` to `last` (real time, local clock)."""
    at = first.astimezone(timezone.utc)
    while at <= last:
        yield at.astimezone(ZONE)
        at += timedelta(minutes=STEP_MINUTES)


def run(full: dict, partial: dict, first: datetime, last: datetime, rules=DEFAULT_RULES,  # noqa: ANN001, ANN201
        until_fired_after: datetime | None = None):
    """Every rule every STEP from `first` to `last`, as the product's scheduler runs them, with the
    current hour counted so far: [(time, rule key)] of firing notifications (up to the first one
    after `until_fired_after`, when given: a trial needs no more)."""
    specs = dict(rules)
    states = {key: AlertState() for key in specs}
    fired = []
    cells = dict(full)   # hours after now are never read; the current one is swapped for its part so far
    current = None
    memo: dict = {}      # sums over whole past hours, kept within an hour (detect.assess's `memo`)
    for now in instants(first, last):
        key = (now.date(), now.hour)
        if key != current:
            if current is not None:
                cells[current] = full[current]
            current = key
            memo.clear()
        if now.fold == 0:   # the second pass of a repeated hour (DST) has it all
            cells[key] = partial[key][now.minute // STEP_MINUTES] if key in partial else {}
        breaches = {rule: assess(spec, cells, now, ZONE, START, firing=states[rule].status == FIRING, memo=memo).breach
                    for rule, spec in specs.items()}
        told = step_rules(specs, states, breaches, now, ZONE)   # as the product's evaluate_shop
        for rule, (states[rule], actions) in told.items():
            if FIRED in actions:
                fired.append((now, rule))
        if until_fired_after is not None and fired and fired[-1][0] > until_fired_after:
            return fired
    return fired


def false_alerts(shop: Shop) -> tuple[float, Counter, int, list]:
    first = datetime.combine(START + timedelta(days=28), time(0), ZONE)
    last = datetime.combine(START + timedelta(days=DAYS - 1), time(23, 60 - STEP_MINUTES), ZONE)
    fired = run(shop.full, shop.partial, first, last)
    months = (last - first).days / (365 / 12)
    return len(fired) / months, Counter(key for _, key in fired), int(round(months)), fired


def trial_days(trials: int, year: str = "plain") -> list[date]:
    spacing = (DAYS - 42 - DROP_DAYS - 1) // trials
    # every weekday in turn: trial t falls on START's weekday + t (adding t % 7 days to a spacing of
    # 13 days, 6 mod 7, put every trial on a Monday)
    days = [START + timedelta(days=42 + trial * spacing + (trial - trial * spacing) % 7) for trial in range(trials)]
    if year == "retail":
        # a halving from noon on a newsletter's Tuesday is still above normal until the newsletter's
        # hours end: such a trial moves a week on (the trials' Tuesdays all fell on first Tuesdays)
        days = [day + timedelta(days=7) if retail_day(day) != (1.0, {}) else day for day in days]
    return days


def delays(shop: Shop, trials: int) -> list[float | None]:
    """Hours from 12:00 to the first firing of an orders/net-sales rule, per trial (None: not while
    the drop lasts)."""
    out = []
    for day in trial_days(trials, shop.year):
        full, partial = shop.with_drop(day, DROP_DAYS)
        noon = datetime.combine(day, time(12), ZONE)
        fired = run(full, partial, noon - timedelta(days=2), noon + timedelta(hours=HORIZON),
                    [(k, s) for k, s in DEFAULT_RULES if k in DROP_RULES], until_fired_after=noon)
        after = [(at - noon).total_seconds() / 3600 for at, key in fired if at > noon]
        out.append(min(after) if after else None)
    return out


def poisson_pmf(k: int, lam: float) -> float:
    return math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) if lam > 0 else float(k == 0)


def oracle_power(lam: float, alpha: float) -> float:
    """Detection probability of the best test of "orders halved" against a normal of exactly `lam`
    orders (Neyman-Pearson: reject on few orders, randomized at the boundary) at false-alarm
    probability `alpha`."""
    below, k = 0.0, 0
    while below + poisson_pmf(k, lam) <= alpha:
        below += poisson_pmf(k, lam)
        k += 1
    gamma = (alpha - below) / poisson_pmf(k, lam)
    return sum(poisson_pmf(i, lam / 2) for i in range(k)) + gamma * poisson_pmf(k, lam / 2)


def oracle(shop: Shop, trials: int, hours: int) -> float:
    """Mean over the trial days of the oracle's detection probability for the orders from 12:00 to
    12:00 + `hours`: a test that knows the exact expected number of orders (the day's own noise
    included) and when the drop began, made once a day, so that a false-alarm probability of
    1 / 30.4 per test is one false alert a month."""
    powers = []
    for day in trial_days(trials, shop.year):
        noon = datetime.combine(day, time(12))
        lam = sum(shop.expected.get(((noon + timedelta(hours=h)).date(), (noon + timedelta(hours=h)).hour), 0.0)
                  for h in range(hours))
        powers.append(oracle_power(lam, 1 / (365 / 12)))
    return statistics.mean(powers)


def order_steps(full: dict, partial: dict, first: date, days: int) -> list[tuple[int, float]]:
    """Per STEP of `days` local days from `first`: (its hour's cell key, orders that arrived in it),
    in time order. A local hour the clock skips has no cell."""
    steps = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        for hour in range(24):
            key = (day, hour)
            if key not in partial:
                continue
            cumulative = [step.get("orders", 0) for step in partial[key]] + [full[key].get("orders", 0)]
            steps += [(key, cumulative[i + 1] - cumulative[i]) for i in range(STEPS_PER_HOUR)]
    return steps


def cusum(increments: list[float], threshold: float, stop_after: int | None = None) -> list[int]:
    """Page's CUSUM: the steps at which S = max(0, S + increment) exceeds `threshold` (S then
    starts again from 0); with `stop_after`, up to the first alarm after that step."""
    alarms, total = [], 0.0
    for i, increment in enumerate(increments):
        total = max(0.0, total + increment)
        if total > threshold:
            alarms.append(i)
            total = 0.0
            if stop_after is not None and i > stop_after:
                break
    return alarms


def cusum_oracle(shop: Shop, trials: int) -> list[float | None]:
    """Delays (hours from 12:00) of the watching oracle: Page's CUSUM for "orders halved" with the
    exact expected orders of each STEP (the hour's expectation / STEPS_PER_HOUR): a step with n
    orders where μ were expected adds n ln ½ + μ / 2, the log-likelihood ratio of a halving. Its
    threshold is the lowest that gives at most one alarm a month on the incident-free year."""
    def increments(steps: list) -> list[float]:
        return [n * math.log(0.5) + 0.5 * shop.expected[key] / STEPS_PER_HOUR for key, n in steps]

    first = START + timedelta(days=28)
    year = increments(order_steps(shop.full, shop.partial, first, DAYS - 28))
    budget = round((DAYS - 28) / (365 / 12))
    low, high = 0.0, 100.0
    for _ in range(30):   # the lowest threshold within the budget
        middle = (low + high) / 2
        low, high = (low, middle) if len(cusum(year, middle)) <= budget else (middle, high)
    out = []
    for day in trial_days(trials, shop.year):
        full, partial = shop.with_drop(day, DROP_DAYS)
        start = day - timedelta(days=2)
        steps = increments(order_steps(full, partial, start, DROP_DAYS + 2))
        noon = 2 * 24 * STEPS_PER_HOUR + 12 * STEPS_PER_HOUR   # the step that begins at 12:00 on `day`
        after = [i for i in cusum(steps, high, stop_after=noon) if i >= noon]
        out.append((after[0] + 1 - noon) * STEP_MINUTES / 60 if after else None)
    return out


def describe(values: list[float | None]) -> str:
    found = sorted(v for v in values if v is not None)
    if not found:
        return "never detected"
    return (f"median {statistics.median(found):.2f} h, worst {found[-1]:.2f} h, "
            f"not detected while the drop lasted ({HORIZON} h): {sum(v is None for v in values)}")


def within(values: list[float | None], hours: float) -> int:
    return sum(1 for v in values if v is not None and v <= hours)


def bench_shop(name: str, per_day: float, seed: int, trials: int, verbose: bool, year: str = "plain",
               drop: str = "traffic") -> str:
    """One shop's figures, as printed lines (one process per shop)."""
    shop = Shop(per_day, seed, year, drop)
    rate, by_rule, months, fired = false_alerts(shop)
    lines = [f"\n{name}",
             f"  false alerts: {rate:.2f} per month over {months} months "
             f"({', '.join(f'{k} {v}' for k, v in by_rule.most_common()) or 'none'})"]
    if verbose:
        lines += [f"    false alert {at:%a %Y-%m-%d %H:%M} {key}" for at, key in fired]
    found = delays(shop, trials)
    what = "traffic (orders, carts, checkouts)" if drop == "traffic" else "orders only"
    lines.append(f"  50 % drop in {what} from 12:00, {trials} trials: delay {describe(found)}")
    if verbose:
        lines.append("    delays (h): " + ", ".join("-" if v is None else f"{v:.2f}" for v in found))
    lines.append(f"  reported within 1 h: {within(found, 1)}/{trials}; within 2 h: {within(found, 2)}/{trials}; "
                 f"the same day (by 24:00): {within(found, 12)}/{trials}; within 24 h: {within(found, 24)}/{trials}; "
                 f"within 3 days: {within(found, 72)}/{trials}")
    lines.append("  oracles at one false alert a month, knowing the exact normal of every hour (today's level included):")
    lines.append(f"    knowing also the drop's start, one test a day: by 14:00 {oracle(shop, trials, 2):.0%}, "
                 f"by 24:00 {oracle(shop, trials, 12):.0%}, within 24 h {oracle(shop, trials, 24):.0%}")
    watching = cusum_oracle(shop, trials)
    lines.append(f"    watching every {STEP_MINUTES} minutes (CUSUM): within 2 h {within(watching, 2)}/{trials}; "
                 f"the same day {within(watching, 12)}/{trials}; within 24 h {within(watching, 24)}/{trials}; "
                 f"{describe(watching)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--verbose", action="store_true", help="list every false alert and every delay")
    parser.add_argument("--shop", choices=("big", "small", "both"), default="both")
    parser.add_argument("--year", choices=("plain", "retail"), default="plain",
                        help="retail: weekends' own hourly rhythm, Black Friday, sales and newsletters")
    parser.add_argument("--drop", choices=("traffic", "orders"), default="traffic",
                        help="what the trials halve: traffic (orders, carts and checkouts) or only orders "
                             "(a checkout or payment fault)")
    args = parser.parse_args()
    print(f"reproduce: .venv/bin/python benchmarks/alerts_detection.py --seed {args.seed} --trials {args.trials}"
          + (f" --shop {args.shop}" if args.shop != "both" else "") + (" --year retail" if args.year == "retail" else "")
          + (" --drop orders" if args.drop == "orders" else ""))
    print(f"every default rule evaluated every {STEP_MINUTES} minutes (the product's KOMPAS_ALERTS_INTERVAL), "
          f"the current hour counted so far")
    shops = [("big shop, ~700 orders/day (>= 20 orders/h from 09:00 to 22:00 all year)", 700.0),
             ("small shop, 20 orders/day", 20.0)]
    shops = [s for s in shops if args.shop == "both" or s[0].startswith(args.shop)]
    with ProcessPoolExecutor(max_workers=2) as pool:   # one process per shop
        jobs = [pool.submit(bench_shop, name, per_day, args.seed, args.trials, args.verbose, args.year, args.drop)
                for name, per_day in shops]
        for job in jobs:
            print(job.result(), flush=True)


if __name__ == "__main__":
    main()
