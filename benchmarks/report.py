"""Report benchmark (issue 3): `report` for a 365-day range on shops with 100,000 and 1,000,000
orders over three years, warm. Its cost must grow with days, not orders.

    .venv/bin/python benchmarks/report.py --db sqlite
    .venv/bin/python benchmarks/report.py --db postgres

The shops' counters are built from generated order states with the same pure contribution
functions the applier uses (plugin.kpi.contributions.full_contribution) and written with
plugin.counters: the report reads only counters, and applying a million orders through the
webhook path would only make the benchmark slow to set up. Prints the median of 20 warm runs per
shop (the shops take turns), and as the reference measured in the same run, the same report on a
1,000-order shop.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin import counters, report  # noqa: E402
from plugin.db import make_database  # noqa: E402
from plugin.kpi.booking import to_epoch_micros  # noqa: E402
from plugin.kpi.contributions import full_contribution  # noqa: E402
from plugin.kpi.entities import CartState, OrderState, RefundState  # noqa: E402
from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.shops import add_shop, find_shop  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
END = date(2026, 10, 31)
DAYS = 3 * 365


def states(n_orders: int, seed: int):
    """Order, refund and cart states of a shop with `n_orders` orders over three years."""
    rng = random.Random(seed)
    customers = max(1, n_orders // 3)
    start = datetime.combine(END - timedelta(days=DAYS - 1), datetime.min.time(), timezone.utc)
    for n in range(n_orders):
        at = to_epoch_micros(start + timedelta(seconds=rng.randrange(DAYS * 86400)))
        customer = rng.randrange(customers) if rng.random() < 0.9 else None
        cart = f"c{n}" if rng.random() < 0.7 else None
        gross = Decimal(rng.randrange(1000, 20000)) / 100
        yield OrderState(order_id=str(n), version=at, counted=True, booked_at=at, gross_sales=gross,
                         discounts=Decimal(0), shipping=Decimal("4.95"), taxes=(gross * Decimal("0.21")).quantize(Decimal("0.01")),
                         items_sold=rng.randrange(1, 4), customer_key=f"c:{customer}" if customer is not None else None,
                         cart_token=cart)
        if cart:
            yield CartState("cart", cart, at, at - 600_000_000)
        if rng.random() < 0.08:
            later = at + rng.randrange(1, 20) * 86_400_000_000
            yield RefundState(f"r{n}", str(n), later, later, returns=gross / 2, refunds=gross / 2, items_returned=1)


def build_shop(db, domain: str, n_orders: int) -> None:  # noqa: ANN001
    cells = full_contribution(states(n_orders, seed=n_orders), AMS)
    with db.transaction() as session:
        shop = add_shop(session, platform="shopify", domain=domain, timezone_name="Europe/Amsterdam", currency="EUR")
        counters.add(session, shop.id, cells)


def time_reports(db, domains: list[str], runs: int = 20) -> dict[str, float]:  # noqa: ANN001
    """Median ms of a warm 365-day report per shop. The shops take turns, run after run, so that
    load from other tenants of this shared machine hits them alike."""
    start, end = END - timedelta(days=364), END
    timings: dict[str, list[float]] = {domain: [] for domain in domains}
    for _ in range(runs + 3):
        for domain in domains:
            t0 = time.perf_counter()
            with db.reading() as session:
                report.build(session, find_shop(session, domain), start, end)
            timings[domain].append((time.perf_counter() - t0) * 1000)
    return {domain: statistics.median(times[3:]) for domain, times in timings.items()}  # the first runs warm the caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with scratch_database(args.db, "rbench", args.pg_url) as url:
        upgrade(url)
        db = make_database(url)
        for n in sizes:
            t0 = time.monotonic()
            build_shop(db, f"shop{n}.myshopify.com", n)
            print(f"  built shop with {n:>9,} orders in {time.monotonic() - t0:5.1f} s", file=sys.stderr)
        if args.db == "postgres":
            with db.transaction() as session:
                session.connection().exec_driver_sql("ANALYZE")
        medians = time_reports(db, [f"shop{n}.myshopify.com" for n in sizes])
        results = {n: medians[f"shop{n}.myshopify.com"] for n in sizes}
        reference = results[sizes[0]]
        print(f"report benchmark, {args.db}: 365-day range, median of 20 warm runs (the shops taking turns)")
        for n in sizes:
            print(f"  {n:>9,} orders: {results[n]:6.1f} ms   ({results[n] / reference:.2f} × the {sizes[0]:,}-order shop)")
        if len(sizes) >= 3:
            print(f"  1,000,000 vs 100,000 orders: {results[sizes[2]] / results[sizes[1]]:.2f} × (target ≤ 1, under 50 ms)")
        print(f"  reproduce: .venv/bin/python benchmarks/report.py --db {args.db}")
        db.dispose()


if __name__ == "__main__":
    main()
