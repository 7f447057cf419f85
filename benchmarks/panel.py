"""Panel benchmark (issue 5): GET /api/kpis for a 365-day range, and the panel's first meaningful
paint in Debian's Chromium, on the 1,000,000-order shop of benchmarks/report.py.

    .venv/bin/python benchmarks/panel.py --db sqlite
    .venv/bin/python benchmarks/panel.py --db postgres

/api/kpis is timed over HTTP against a threaded server (median of 20 warm requests); the paint is
the time from navigation to the first KPI tile with its value on screen (median of 5 loads). The
reference measured in the same run is GET /healthz on the same server.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

from werkzeug.serving import make_server  # noqa: E402

from benchmarks.report import END, build_shop  # noqa: E402
from plugin import create_app  # noqa: E402
from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.panel.auth import mint_session_token  # noqa: E402

KEY, SECRET = "bench-client-id", "shpss_bench_secret_0123456789abcdef0123"
SHOP = "shop1000000.myshopify.com"


def timed_get(url: str, headers: dict[str, str]) -> float:
    request = urllib.request.Request(url, headers=headers)
    t0 = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        response.read()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    with scratch_database(args.db, "pbench", args.pg_url) as url:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SHOPIFY_API_KEY": KEY, "SHOPIFY_API_SECRETS": [SECRET]})
        t0 = time.monotonic()
        build_shop(app.extensions["kompas.db"], SHOP, args.orders)
        if args.db == "postgres":
            with app.extensions["kompas.db"].transaction() as session:
                session.connection().exec_driver_sql("ANALYZE")
        print(f"  built a shop with {args.orders:,} orders in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        token = mint_session_token(SHOP, api_key=KEY, secret=SECRET, lifetime=600)
        auth = {"Authorization": f"Bearer {token}"}
        start, end = END - timedelta(days=364), END
        api = f"{base}/api/kpis?from={start}&to={end}&compare=previous"
        health = [timed_get(f"{base}/healthz", {}) for _ in range(23)][3:]
        kpis = [timed_get(api, auth) for _ in range(23)][3:]
        paints = first_paints(f"{base}/panel/?id_token={token}&range=custom&from={start}&to={end}&compare=previous")
        server.shutdown()
        app.extensions["kompas.close"]()
        h, k = statistics.median(health), statistics.median(kpis)
        print(f"panel benchmark, {args.db}: shop with {args.orders:,} orders, 365-day range")
        print(f"  GET /healthz (reference)        {h:7.1f} ms")
        print(f"  GET /api/kpis (with compare)    {k:7.1f} ms   ({k / h:.0f} × the reference; target < 100 ms)")
        print(f"  first meaningful paint          {statistics.median(paints):7.0f} ms   (Chromium; target < 1000 ms)")
        print(f"  reproduce: .venv/bin/python benchmarks/panel.py --db {args.db}")


def first_paints(url: str, loads: int = 5) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        page = browser.new_page()
        page.route("https://cdn.shopify.com/**", lambda route: route.fulfill(content_type="text/javascript", body=""))
        for _ in range(loads + 1):
            t0 = time.perf_counter()
            page.goto(url)
            page.locator('.tile[data-kpi="net_sales"] .tile-value').wait_for()
            out.append((time.perf_counter() - t0) * 1000)
        browser.close()
    return out[1:]  # the first load warms the browser's caches


if __name__ == "__main__":
    main()
