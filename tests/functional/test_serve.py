"""`kompas serve` as it runs in production (gunicorn with gthread workers, plus the delivery
worker), over real HTTP: a signed delivery is acknowledged, applied by the worker, and reported."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from plugin.cli import main
from plugin.demo import order_payload
from tests.helpers import SHOP, SHOPIFY_SECRET, shopify_headers

AMS = ZoneInfo("Europe/Amsterdam")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, raw, headers):
    request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_kompas_serve_acknowledges_applies_and_reports(database_url, shopify_shop, runner, tmp_path):
    port = free_port()
    env = dict(os.environ, KOMPAS_DATABASE_URL=database_url, KOMPAS_SHOPIFY_API_SECRET=SHOPIFY_SECRET,
               KOMPAS_INSTANCE_PATH=str(tmp_path))
    env.pop("KOMPAS_APPLY_INLINE", None)
    server = subprocess.Popen([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        created = datetime(2026, 6, 1, 10, tzinfo=AMS)
        raw = json.dumps(order_payload(1, created=created, updated=created, zone=AMS,
                                       lines=[("Sjaal", Decimal("34.95"), 2)])).encode()
        status, body = post(base + "/webhooks/shopify", raw, shopify_headers("orders/create", raw))
        assert (status, body["status"]) == (200, "accepted")
        status, _ = post(base + "/webhooks/shopify", raw, dict(shopify_headers("orders/create", raw),
                                                                **{"X-Shopify-Hmac-Sha256": "AAAA"}))
        assert status == 401
        # the server's own worker applies it: no drain here
        report = ["report", "--shop", SHOP, "--from", "2026-06-01", "--to", "2026-06-01", "--json"]
        deadline = time.monotonic() + 20
        while json.loads(runner.invoke(main, report).output)["kpis"]["gross_sales"] != "69.90":
            assert time.monotonic() < deadline, "the worker did not apply the delivery"
            time.sleep(0.2)
        drained = runner.invoke(main, ["drain", "--timeout", "30"])
        assert drained.exit_code == 0 and "applied 0 deliveries" in drained.output
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
