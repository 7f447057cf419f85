"""Worker memory benchmark (issue 3): the applier's resident memory over 100,000 deliveries.

    .venv/bin/python benchmarks/memory.py --db sqlite
    .venv/bin/python benchmarks/memory.py --db postgres

Stores 100,000 signed-shape orders/create, orders/updated and refunds/create deliveries (25,000
customers) through the receiver's DeliveryStore, then applies them in this process with the
worker's own loop (plugin.applier.apply_batch), printing the resident set size as it goes. The
reference, measured in the same run, is the size after the first 10,000 deliveries.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin import applier  # noqa: E402
from plugin.db import make_database  # noqa: E402
from plugin.demo import CATALOGUE, order_payload, refund_payload  # noqa: E402
from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.shops import add_shop  # noqa: E402
from webhooks.store import DeliveryStore  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
SHOP = "memory.myshopify.com"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def deliveries(count: int):
    start = datetime(2025, 1, 1, 9, tzinfo=AMS)
    n = 0
    while n < count:
        created = start + timedelta(minutes=n)
        lines = [(title, Decimal(price), 1) for title, price in CATALOGUE[n % 7:n % 7 + 2]]
        order = order_payload(20_000_000 + n, created=created, updated=created, zone=AMS, lines=lines,
                              customer_id=900 + n % 25_000)
        yield "orders/create", order
        n += 1
        if n % 5 == 0 and n < count:
            later = created + timedelta(days=3)
            refund = refund_payload(30_000_000 + n, order, at=later, zone=AMS)
            yield "refunds/create", refund
            n += 1
            if n < count:
                yield "orders/updated", dict(order, updated_at=later.isoformat(), refunds=[refund])
                n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    with scratch_database(args.db, "mbench", args.pg_url) as url:
        upgrade(url)
        db = make_database(url)
        with db.transaction() as session:
            add_shop(session, platform="shopify", domain=SHOP, timezone_name="Europe/Amsterdam", currency="EUR")
        store = DeliveryStore(db)
        t0 = time.monotonic()
        for topic, body in deliveries(args.count):
            store.store(platform="shopify", domain=SHOP, topic=topic, delivery_id=None,
                        dedupe_key=str(uuid.uuid4()), triggered_at=None, body=json.dumps(body).encode(),
                        status=applier.RECEIVED)
        store.close()
        print(f"  stored {args.count:,} deliveries in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        gc.collect()
        samples: list[tuple[int, float]] = []
        done, t0, cursor = 0, time.monotonic(), 0
        next_sample = 10_000
        while True:
            taken, cursor = applier.apply_batch(db, 500, after_id=cursor)
            if not taken:
                break
            done += taken
            if done >= next_sample:
                samples.append((done, rss_mib()))
                next_sample += 10_000
        seconds = time.monotonic() - t0
        reference = samples[0][1]
        print(f"memory benchmark, {args.db}: applier resident memory over {done:,} deliveries "
              f"(applied in {seconds:.1f} s, {done / seconds:,.0f} deliveries/s)")
        for count, mib in samples:
            print(f"  after {count:>7,}: {mib:6.1f} MiB   ({mib / reference:.2f} × after 10,000)")
        print(f"  growth from 10,000 to {done:,}: {samples[-1][1] - reference:+.1f} MiB")
        print(f"  reproduce: .venv/bin/python benchmarks/memory.py --db {args.db}")
        db.dispose()


if __name__ == "__main__":
    main()
