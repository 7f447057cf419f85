"""Cart-silence hint benchmark (plugin/woocommerce/carts.py): what the hint's lookup adds to every
panel view of a large WooCommerce store.

    .venv/bin/python benchmarks/cart_hint.py --db sqlite
    .venv/bin/python benchmarks/cart_hint.py --db postgres

Three stores with the same `--orders` orders over three years (the states of benchmarks/report.py,
counters written with plugin.counters as there): one whose carts arrive to the last day, one whose
carts stopped a year before it (the plugin switched off and the hint ignored for a year: the
lookup reads every day since the newest cart), and one that never sent a cart. The lookup reads
counters by day, so its cost grows with days, not orders. The store whose carts stopped also has
`--deliveries` stored deliveries (orders and carts, small bodies), to time what the hint does not
do: find the newest cart delivery in the deliveries table, which has no index by topic.

Prints the median of 20 warm runs of each (the stores taking turns; the lookup timed as the view
runs it, in a session that has read the shop), and as the reference measured in the same run,
GET /panel/view.json?range=last30 of the first store (the panel request the hint is part of;
in-process, through Flask's test client).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from benchmarks.report import AMS, END, states  # noqa: E402
from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin import counters, create_app  # noqa: E402
from plugin.credentials import save_credential  # noqa: E402
from plugin.kpi.booking import to_epoch_micros  # noqa: E402
from plugin.kpi.contributions import full_contribution  # noqa: E402
from plugin.kpi.entities import CartState, OrderState  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.models import Delivery, EntityState  # noqa: E402
from plugin.shops import add_shop, find_shop  # noqa: E402
from plugin.woocommerce.auth import PANEL_CREDENTIAL  # noqa: E402
from plugin.woocommerce.carts import silence  # noqa: E402

KEY = "T7J2sW0TuQ3iH3uGWN-XbZoZioiirUzukGKb7yJwSe4="
PANEL_SECRET = "panel-secret-of-the-cart-hint-benchmark-0123456789"
STOPPED = datetime.combine(END - timedelta(days=365), datetime.min.time(), timezone.utc)
STORES = {"https://healthy.example": "carts to the last day",
          "https://stopped.example": "carts stopped a year ago",
          "https://never.example": "never a cart"}


def store_states(n_orders: int, store: str):  # noqa: ANN201
    """The orders, refunds and carts of benchmarks/report.py, with carts until `store` says."""
    cutoff = to_epoch_micros(STOPPED)
    for state in states(n_orders, seed=n_orders):
        if store == "https://healthy.example":
            yield state
        elif isinstance(state, CartState):
            if store == "https://stopped.example" and state.created_at < cutoff:
                yield state
        elif isinstance(state, OrderState) and state.cart_token and (
                store == "https://never.example" or state.booked_at >= cutoff):
            yield replace(state, cart_token=None)
        else:
            yield state


def build_store(app, domain: str, n_orders: int, n_deliveries: int) -> None:  # noqa: ANN001
    db = app.extensions["kompas.db"]
    every = list(store_states(n_orders, domain))
    carts = [s for s in every if isinstance(s, CartState)]
    cells = full_contribution(every, AMS)
    with db.transaction() as session:
        shop = add_shop(session, platform="woocommerce", domain=domain, timezone_name="Europe/Amsterdam",
                        currency="EUR", webhook_secret="benchmark-webhook-secret")
        save_credential(session, app.extensions["kompas.vault"], shop.id, PANEL_CREDENTIAL, {"secret": PANEL_SECRET})
        counters.add(session, shop.id, cells)
        shop_id = shop.id
    rows = [{"shop_id": shop_id, "kind": "cart", "key": c.token, "version": c.version, "data": {}} for c in carts]
    for i in range(0, len(rows), 20_000):
        with db.transaction() as session:
            session.execute(insert(EntityState.__table__), rows[i:i + 20_000])
    if domain == "https://stopped.example" and n_deliveries:
        add_deliveries(db, shop_id, n_deliveries)


def add_deliveries(db, shop_id: int, n: int) -> None:  # noqa: ANN001
    """n deliveries over the three years in arrival order: orders, and carts until STOPPED."""
    first = STOPPED - timedelta(days=2 * 365)
    step = (END - first.date()).days * 86400 / n
    body = b'{"id": 1, "status": "processing"}' * 6
    for start in range(0, n, 20_000):
        rows = []
        for i in range(start, min(n, start + 20_000)):
            at = first + timedelta(seconds=i * step)
            topic = ("cart.created", "cart.updated", "order.created", "order.updated")[i % 4]
            if at >= STOPPED and topic.startswith("cart."):
                topic = "order.updated"
            rows.append({"shop_id": shop_id, "platform": "woocommerce", "topic": topic, "delivery_id": str(i),
                         "received_at": at, "body": body, "status": "processed", "attempts": 1, "applied_at": at})
        with db.transaction() as session:
            session.execute(insert(Delivery.__table__), rows)


def median_ms(runs: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(times[3:]) for name, times in runs.items()}  # the first runs warm caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    args = parser.parse_args()
    with scratch_database(args.db, "chbench", args.pg_url) as url:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEYS": [KEY]})
        db = app.extensions["kompas.db"]
        for domain in STORES:
            t0 = time.monotonic()
            build_store(app, domain, args.orders, args.deliveries)
            print(f"  built {domain} ({STORES[domain]}) in {time.monotonic() - t0:5.1f} s", file=sys.stderr)
        if args.db == "postgres":
            with db.transaction() as session:
                session.connection().exec_driver_sql("ANALYZE")
        client = app.test_client()

        def token() -> str:   # the plugin's panel token lives at most a minute
            now = int(time.time())
            return jwt.encode({"iss": "https://healthy.example", "dest": "https://healthy.example", "aud": "kompas",
                               "sub": "1", "nbf": now, "exp": now + 60}, PANEL_SECRET, algorithm="HS256")
        runs: dict[str, list[float]] = {name: [] for name in ["view", *STORES, "deliveries"]}
        found = {}
        for _ in range(23):
            auth = {"Authorization": "Bearer " + token()}
            t0 = time.perf_counter()
            answer = client.get("/panel/view.json?range=last30&lang=nl", headers=auth)
            runs["view"].append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 200, answer.get_json()
            for domain in STORES:   # as the view runs it: in its open session, the shop at hand
                with db.reading() as session:
                    shop = find_shop(session, domain)
                    t0 = time.perf_counter()
                    found[domain] = silence(session, shop)
                    runs[domain].append((time.perf_counter() - t0) * 1000)
            with db.reading() as session:
                shop_id = find_shop(session, "https://stopped.example").id
                t0 = time.perf_counter()
                newest_delivery = session.scalar(
                    select(Delivery.received_at).where(Delivery.shop_id == shop_id, Delivery.topic.like("cart.%"))
                    .order_by(Delivery.id.desc()).limit(1))
                runs["deliveries"].append((time.perf_counter() - t0) * 1000)
        assert found["https://healthy.example"] is None and found["https://never.example"] is None
        assert found["https://stopped.example"] is not None and newest_delivery is not None
        medians = median_ms(runs)
        reference = medians["view"]
        print(f"cart hint benchmark, {args.db}: stores with {args.orders:,} orders over three years, "
              f"median of 20 warm runs")
        print(f"  GET /panel/view.json?range=last30 (reference)      {reference:7.2f} ms")
        for domain, label in STORES.items():
            print(f"  hint lookup, {label:<26}          {medians[domain]:7.2f} ms   "
                  f"({medians[domain] / reference:.3f} × the reference)")
        stopped = found["https://stopped.example"]
        print(f"    (the stopped store's hint: no new cart since {stopped.since:%Y-%m-%d %H:%M} UTC, "
              f"{stopped.orders:,} orders since)")
        print(f"  not used: newest cart among {args.deliveries:,} deliveries {medians['deliveries']:7.2f} ms   "
              f"({medians['deliveries'] / reference:.3f} × the reference)")
        print(f"  reproduce: .venv/bin/python benchmarks/cart_hint.py --db {args.db}")
        app.extensions["kompas.close"]()


if __name__ == "__main__":
    main()
