"""Concurrent receivers and appliers in separate processes, as `kompas serve` runs them: no write
ever fails ("database is locked" on SQLite, deadlocks on PostgreSQL), and nothing is counted
twice or lost."""
import json
import multiprocessing
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from plugin import applier, ingest, report
from plugin.demo import order_payload
from plugin.shops import find_shop
from tests.helpers import SHOP, SHOPIFY_SECRET, shopify_headers

AMS = ZoneInfo("Europe/Amsterdam")
PER_PROCESS = 60


def _receive(url: str, first: int) -> int:
    from plugin import create_app
    app = create_app({"DATABASE_URL": url, "SHOPIFY_API_SECRETS": [SHOPIFY_SECRET], "APPLY_INLINE": False})
    client = app.test_client()
    accepted = 0
    for n in range(first, first + PER_PROCESS):
        created = datetime(2026, 5, 1, 8, tzinfo=AMS) + timedelta(seconds=n)
        order = order_payload(n, created=created, updated=created, zone=AMS, lines=[("x", Decimal("10.00"), 1)],
                              customer_id=n % 7 + 1)
        raw = json.dumps(order).encode()
        r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
        accepted += r.status_code == 200
        if n % 3 == 0:  # a redelivery with a new webhook id: the same state again
            r = client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw))
            accepted += r.status_code == 200
    app.extensions["kompas.close"]()
    return accepted


def _apply(url: str, rounds: int) -> int:
    from plugin.db import make_database
    db = make_database(url)
    done = 0
    for _ in range(rounds):
        done += applier.apply_batch(db, 7).taken
    db.dispose()
    return done


def test_parallel_receivers_and_appliers_lose_and_double_nothing(app, db, shopify_shop, database_url):
    context = multiprocessing.get_context("spawn")
    with context.Pool(5) as pool:
        receivers = [pool.apply_async(_receive, (database_url, 1000 + i * PER_PROCESS)) for i in range(3)]
        appliers = [pool.apply_async(_apply, (database_url, 40)) for _ in range(2)]
        accepted = sum(r.get(timeout=240) for r in receivers)
        for a in appliers:
            a.get(timeout=240)
    assert accepted == 3 * (PER_PROCESS + PER_PROCESS // 3)
    applier.drain(db)
    with db.reading() as s:
        shop = find_shop(s, SHOP)
        k = report.build(s, shop, date(2026, 5, 1), date(2026, 5, 1))["kpis"]
        assert ingest.differences(s, ingest.ShopContext.of(shop)) == {}
    assert k["orders"] == 3 * PER_PROCESS and k["customers"] == 7


def test_a_delivery_applied_while_kompas_rebuild_runs_keeps_its_counters(app, db, client, shopify_shop, monkeypatch):
    """`kompas rebuild` reads every stored state, then rewrites all counters. A delivery applied in
    between (the server keeps running) must wait for it: else its state is stored, but its counters
    are erased by the rewrite. The rebuild pauses after its read until the delivery is seen waiting
    for the shop's lock in pg_locks, or has finished (the defect). PostgreSQL only: SQLite has one
    writer at a time, whatever it writes."""
    import threading
    import time

    import pytest
    from sqlalchemy import text

    from plugin.db import ADVISORY_NAMESPACE

    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")

    def post_order(n: int) -> int:
        created = datetime(2026, 5, 1, 8, tzinfo=AMS) + timedelta(minutes=n)
        order = order_payload(n, created=created, updated=created, zone=AMS, lines=[("x", Decimal("10.00"), 1)],
                              customer_id=n)
        raw = json.dumps(order).encode()
        return client.post("/webhooks/shopify", data=raw, headers=shopify_headers("orders/create", raw)).status_code

    def waiting_for_the_shop() -> bool:
        with db.reading() as session:
            return bool(session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                            " AND NOT granted AND classid = :ns"), {"ns": ADVISORY_NAMESPACE}))

    assert post_order(1) == 200
    delivered, answers, threads = threading.Event(), [], []
    real_recompute = ingest.recompute

    def recompute_then_let_a_delivery_in(session, shop):  # noqa: ANN001, ANN202
        cells = real_recompute(session, shop)
        if threads:   # kompas verify's recompute, after the rebuild
            return cells
        threads.append(threading.Thread(target=lambda: (answers.append(post_order(2)), delivered.set())))
        threads[0].start()
        end = time.monotonic() + 30
        while not delivered.is_set() and not waiting_for_the_shop() and time.monotonic() < end:
            time.sleep(0.01)
        return cells

    monkeypatch.setattr(ingest, "recompute", recompute_then_let_a_delivery_in)
    with db.transaction() as session:
        ingest.rebuild(session, ingest.ShopContext.of(find_shop(session, SHOP)))
    threads[0].join(30)
    assert answers == [200]
    with db.reading() as session:
        kpis = report.build(session, find_shop(session, SHOP), date(2026, 5, 1), date(2026, 5, 1))["kpis"]
        assert ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP))) == {}
    assert kpis["orders"] == 2
