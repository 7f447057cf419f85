"""Backfill benchmark (issue 4): 100,000 orders from a recorded bulk operation result, applied.

    .venv/bin/python benchmarks/backfill.py --db sqlite            # target: under 60 s
    .venv/bin/python benchmarks/backfill.py --db postgres --orders 100000

What is timed is the whole history path of a real install except Shopify itself: the bulk
operation is started and polled (answers from `responses`, with the recorded shapes), the JSONL
result is streamed over HTTP from a local server, line by line, each refunded order's refunds are
read with nodes(ids:) (answered from the same history), GraphQL orders become REST bodies, the
adapter turns them into states and plugin.backfill applies them page by page, with progress.

The reference, measured in the same run on the same database right after: applying the very
same entity states straight through plugin.ingest.apply in pages of the same size into a second
shop (no HTTP, no JSON, no GraphQL). The ratio says what the history path costs on top of applying.
Both shops' reports are compared at the end: the benchmark fails if they differ.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import responses  # noqa: E402

from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin import backfill, create_app, ingest, report  # noqa: E402
from plugin.credentials import save_credential  # noqa: E402
from plugin.demo import bulk_jsonl, generate_shop_history, graphql_refund  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.models import Shop  # noqa: E402
from plugin.shopify.backfill import PAGE_ORDERS, BulkOrders, api_for  # noqa: E402
from plugin.shops import add_shop  # noqa: E402
from webhooks.platforms import shopify as adapter  # noqa: E402
from webhooks.platforms.base import Context  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
KEY = "T7J2sW0TuQ3iH3uGWN-XbZoZioiirUzukGKb7yJwSe4="


def history(orders_wanted: int) -> list[dict]:
    """The final REST state of each order of a generated shop history (refunds inside), kept in
    the temp folder between runs (generating 100,000 orders takes minutes)."""
    cache = Path(tempfile.gettempdir()) / f"kompas-bench-history-{orders_wanted}-seed11.json"
    if cache.exists():
        return json.loads(cache.read_text())
    orders = _generate(orders_wanted)
    cache.write_text(json.dumps(orders))
    return orders


def _generate(orders_wanted: int) -> list[dict]:
    days = 1100
    latest: dict[int, dict] = {}
    for delivery in generate_shop_history(days=days, end=date(2026, 10, 31), zone=AMS, seed=11,
                                          orders_per_day=orders_wanted / days * 1.25):
        if delivery.topic.startswith("orders/"):
            order = json.loads(delivery.body)
            if order["id"] not in latest or order["updated_at"] >= latest[order["id"]]["updated_at"]:
                latest[order["id"]] = order
    return list(latest.values())[:orders_wanted]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def serve(folder: str) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def fake_admin_api(mock: responses.RequestsMock, domain: str, url: str, refunds: dict[str, dict],
                   orders_in_file: int) -> None:
    def answer(request):  # noqa: ANN001, ANN202
        body = json.loads(request.body)
        query = body["query"]
        if "bulkOperationRunQuery" in query:
            data = {"bulkOperationRunQuery": {"bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "CREATED"},
                                              "userErrors": []}}
        elif "bulkOperation(id:" in query:
            data = {"bulkOperation": {"id": "gid://shopify/BulkOperation/1", "status": "COMPLETED", "errorCode": None,
                                      "objectCount": "0", "rootObjectCount": str(orders_in_file), "url": url,
                                      "partialDataUrl": None}}
        else:
            data = {"nodes": [refunds[i] for i in body["variables"]["ids"]]}
        return 200, {}, json.dumps({"data": data})

    mock.add_callback(responses.POST, f"https://{domain}/admin/api/2026-04/graphql.json", callback=answer)
    mock.add_passthru(url.rsplit("/", 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    print(f"# reproduce: .venv/bin/python benchmarks/backfill.py --db {args.db} --orders {args.orders}")

    started = time.perf_counter()
    orders = history(args.orders)
    refunds = {f"gid://shopify/Refund/{r['id']}": graphql_refund(r) for o in orders for r in o["refunds"]}
    folder = tempfile.mkdtemp(prefix="kompas-bulk-")
    (Path(folder) / "bulk.jsonl").write_bytes(bulk_jsonl(orders))
    size = (Path(folder) / "bulk.jsonl").stat().st_size
    print(f"history: {len(orders)} orders, {len(refunds)} refunds, bulk file {size / 1e6:.1f} MB "
          f"(made in {time.perf_counter() - started:.0f} s, not timed)")
    server, base = serve(folder)

    with scratch_database(args.db, "backfill", PG_URL) as url:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEYS": [KEY], "SHOPIFY_API_KEY": "bench",
                          "SHOPIFY_API_SECRETS": ["bench-secret"]})
        db = app.extensions["kompas.db"]
        with db.transaction() as session:
            bulk_shop = add_shop(session, platform="shopify", domain="bulk.myshopify.com",
                                 timezone_name="Europe/Amsterdam", currency="EUR")
            bulk_shop.scopes = "read_orders,read_all_orders"
            direct_shop = add_shop(session, platform="shopify", domain="direct.myshopify.com",
                                   timezone_name="Europe/Amsterdam", currency="EUR")
            direct_shop.customer_hash_key = bulk_shop.customer_hash_key
            save_credential(session, app.extensions["kompas.vault"], bulk_shop.id, "shopify_offline",
                            {"access_token": "shpat_bench", "scope": bulk_shop.scopes, "expires_at": None,
                             "refresh_token": None, "refresh_token_expires_at": None})
            bulk_id, direct_id = bulk_shop.id, direct_shop.id

        # Timed first, on the empty database. The generated history stays in memory for the
        # reference below; frozen out of the garbage collector's sight, as a worker holds none of it.
        gc.collect()
        gc.freeze()
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            fake_admin_api(mock, "bulk.myshopify.com", f"{base}/bulk.jsonl", refunds, len(orders))
            with db.reading() as session:
                shop = session.get(Shop, bulk_id)
            t0 = time.perf_counter()
            done = backfill.run(db, bulk_id, "shopify_bulk", BulkOrders(api_for(app, shop), shop, poll_seconds=0))
            bulk = time.perf_counter() - t0

        # the reference: the same states straight into ingest.apply, same page size, second
        ctx = Context(received_at=datetime.now(timezone.utc), triggered_at=None,
                      customer_hash_key=bulk_shop.customer_hash_key)
        pages = [[s for o in orders[i:i + PAGE_ORDERS] for s in adapter.on_order(o, ctx)]
                 for i in range(0, len(orders), PAGE_ORDERS)]
        gc.collect()
        gc.freeze()
        t0 = time.perf_counter()
        for states in pages:
            with db.transaction() as session:
                db.lock_shops(session, [direct_id])
                ingest.apply(session, ingest.ShopContext(direct_id, AMS), states)
        direct = time.perf_counter() - t0
        server.shutdown()

        # what `kompas rebuild` and a data migration that recounts (plugin.migrate.recount) cost
        t0 = time.perf_counter()
        with db.transaction() as session:
            ingest.rebuild(session, ingest.ShopContext.of(session.get(Shop, direct_id)))
        rebuild = time.perf_counter() - t0

        with db.reading() as session:
            first, last = date(2023, 10, 1), date(2026, 10, 31)
            a = report.build(session, session.get(Shop, bulk_id), first, last)["kpis"]
            b = report.build(session, session.get(Shop, direct_id), first, last)["kpis"]
        if a != b:
            raise SystemExit(f"the backfilled shop differs from the reference: {a} vs {b}")
        app.extensions["kompas.close"]()

    print(f"bulk backfill ({args.db}): {done.done} orders in {bulk:.1f} s = {done.done / bulk:,.0f} orders/s "
          f"(target: 100,000 in under 60 s)")
    print(f"reference, the same states applied directly: {direct:.1f} s")
    print(f"ratio bulk / direct apply: {bulk / direct:.2f} (the history path's overhead on top of applying)")
    print(f"kompas rebuild of the direct shop (every counter recomputed from its states, as a recounting data "
          f"migration does): {rebuild:.1f} s, {rebuild / direct:.2f} x the direct apply")
    print(f"reports of both shops equal: yes ({a['orders']} orders, net sales {a['net_sales']})")


if __name__ == "__main__":
    main()
