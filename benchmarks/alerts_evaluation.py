"""Alert evaluation cost (issue 6): one `kompas alerts run` evaluation of the demo shop, with the
hourly counters per traffic source that name an alert's biggest contributor, against the same
evaluation without them (the reference, in the same run, on the same database).

    .venv/bin/python benchmarks/alerts_evaluation.py --db sqlite [--days 60] [--runs 15]
    .venv/bin/python benchmarks/alerts_evaluation.py --db postgres

The demo shop's history (plugin.demo, about 150 orders a day with carts, refunds and returns) is
sent through the real receiver and applied; every default rule is then evaluated at 14:00 of its
last day (plugin.alerts.evaluate.evaluate_all, in a transaction that is rolled back, so every run
evaluates the same state). Prints the median time of each and their ratio, and the hour-counter
rows the evaluation reads. The evaluator reads the last HISTORY_DAYS days of hour counters once per
shop and evaluation (every KOMPAS_ALERTS_INTERVAL, 5 minutes).

A third figure: the default rules with carts_drop_cusum (the same CUSUM over carts) against them
without it (the reference, same database).

A second figure: the default rules with orders_drop_cusum (Page's CUSUM over the last week, which
sums every hour of the week against its four weeks) against the defaults before it, with the
half-day, day and week rules it replaced (the reference, same database).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, time as clock_time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin import applier, create_app  # noqa: E402
from plugin.alerts import evaluate  # noqa: E402
from plugin.alerts.detect import RuleSpec  # noqa: E402
from plugin.alerts.models import AlertRule  # noqa: E402
from plugin.alerts.rules import DEFAULT_RULES, _apply_spec  # noqa: E402
from plugin.demo import load_demo  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.shops import find_shop  # noqa: E402

DOMAIN = "bench-alerts.myshopify.com"
ZONE = ZoneInfo("Europe/Amsterdam")
HOUR_SOURCES = "hour:__|src:%"
# the defaults orders_drop_cusum replaced (plugin.alerts.rules before it; migration 0018)
REPLACED = {
    "orders_drop_half_day": RuleSpec(kpi="orders", kind="drop", window="hours", window_hours=12, change_pct=35,
                                     min_volume=8, for_minutes=30, repeat_minutes=1440),
    "orders_drop_day": RuleSpec(kpi="orders", kind="drop", window="hours", window_hours=24, change_pct=35,
                                min_volume=12, for_minutes=0, repeat_minutes=1440),
    "orders_drop_week": RuleSpec(kpi="orders", kind="drop", window="hours", window_hours=168, change_pct=30,
                                 min_volume=50, for_minutes=0, repeat_minutes=4320),
}


def evaluation_ms(db, now: datetime, runs: int) -> float:  # noqa: ANN001
    """Median milliseconds of evaluating the shop's rules at `now`, each run rolled back."""
    times = []
    for _ in range(runs):
        with db.write_sessions() as session:
            session.begin()
            shop = find_shop(session, DOMAIN)
            t0 = time.perf_counter()
            evaluate.evaluate_shop(session, shop, now)
            times.append((time.perf_counter() - t0) * 1000)
            session.rollback()
    return statistics.median(times)


def hour_rows(db, pattern: str = "%") -> int:  # noqa: ANN001
    with db.reading() as session:
        return session.scalar(text("SELECT count(*) FROM hour_counters WHERE name LIKE :p"), {"p": pattern})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    print(f"reproduce: .venv/bin/python benchmarks/alerts_evaluation.py --db {args.db} --days {args.days} "
          f"--runs {args.runs}")
    with scratch_database(args.db, "abench", args.pg_url) as url:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SHOPIFY_API_SECRETS": ["shpss_bench_secret_0123456789abcdef"],
                          "APPLY_INLINE": False})
        db = app.extensions["kompas.db"]
        t0 = time.monotonic()
        sent = load_demo(app, domain=DOMAIN, days=args.days, seed=6)
        applier.drain(db)
        print(f"demo shop: {sent} deliveries over {args.days} days, applied in {time.monotonic() - t0:.0f} s "
              f"(not timed)")
        evaluate.ensure_default_rules(db)
        with db.reading() as session:
            last = datetime.now(ZONE).date() - timedelta(days=1)
            orders = session.scalar(text("SELECT coalesce(sum(value), 0) FROM daily_counters WHERE name = 'orders'"
                                         " AND shop_id = :s"), {"s": find_shop(session, DOMAIN).id})
        now = datetime.combine(last, clock_time(14), ZONE)
        evaluation_ms(db, now, 3)   # warm up
        with_sources, rows_with = evaluation_ms(db, now, args.runs), hour_rows(db)
        by_source = hour_rows(db, HOUR_SOURCES)
        with_cusum = with_sources
        with db.transaction() as session:   # the reference: the defaults without carts_drop_cusum
            session.execute(text("UPDATE alert_rules SET enabled = false WHERE key = 'carts_drop_cusum'"))
        evaluation_ms(db, now, 3)
        without_carts = evaluation_ms(db, now, args.runs)
        with db.transaction() as session:
            session.execute(text("UPDATE alert_rules SET enabled = true WHERE key = 'carts_drop_cusum'"))
        with db.transaction() as session:   # the reference: the rules orders_drop_cusum replaced
            shop = find_shop(session, DOMAIN)
            session.execute(text("UPDATE alert_rules SET enabled = false WHERE key = 'orders_drop_cusum'"))
            for key, spec in REPLACED.items():
                rule = AlertRule(shop_id=shop.id, key=key, enabled=True, status="ok", owed_resolved=False, incident=0)
                _apply_spec(rule, spec)
                session.add(rule)
        evaluation_ms(db, now, 3)
        replaced = evaluation_ms(db, now, args.runs)
        with db.transaction() as session:   # back to the defaults
            session.execute(text("DELETE FROM alert_rules WHERE key IN ('orders_drop_half_day', 'orders_drop_day', "
                                 "'orders_drop_week')"))
            session.execute(text("UPDATE alert_rules SET enabled = true WHERE key = 'orders_drop_cusum'"))
        with db.transaction() as session:   # the reference: the same shop without them
            session.execute(text("DELETE FROM hour_counters WHERE name LIKE :p"), {"p": HOUR_SOURCES})
        evaluation_ms(db, now, 3)
        without, rows_without = evaluation_ms(db, now, args.runs), hour_rows(db)
        print(f"{orders} orders; hour-counter rows: {rows_with} ({by_source} of them per source), "
              f"{rows_without} without")
        print(f"evaluation of the {len(DEFAULT_RULES)} default rules "
              f"({args.db}), median of {args.runs}: {with_sources:.1f} ms with the hourly sources, "
              f"{without:.1f} ms without (reference); ratio {with_sources / without:.2f}")
        print(f"with carts_drop_cusum {with_sources:.1f} ms, without it {without_carts:.1f} ms (reference); "
              f"ratio {with_sources / without_carts:.2f}")
        print(f"with orders_drop_cusum {with_cusum:.1f} ms, with the half-day, day and week rules it replaced "
              f"{replaced:.1f} ms (reference); ratio {with_cusum / replaced:.2f}")
        db.dispose()


if __name__ == "__main__":
    main()
