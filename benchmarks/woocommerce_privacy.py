"""What scrubbing orders WooCommerce anonymized costs (plugin/woocommerce/privacy.py).

    .venv/bin/python benchmarks/woocommerce_privacy.py --db sqlite
    .venv/bin/python benchmarks/woocommerce_privacy.py --db postgres --orders 20000 --anonymized 1000

A store whose retention cleanup anonymizes many old orders at once: the shop has `--orders`
orders, three stored deliveries each (real v3 bodies, compact as WooCommerce sends them), and
`--anonymized` of them arrive anonymized. Two figures, each against a reference measured in the
same run on the same database:
- applying: receiving and draining the anonymized updates (noting the orders, scrubbing the bodies
  being applied), against receiving and draining as many ordinary updates of other orders;
- the background pass (`scrub_noted`) that scrubs the earlier bodies of all of them, against one
  plain read of the shop's stored order bodies (the least such a pass can do).
The benchmark fails if a body of an anonymized order still names its customer.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from benchmarks.scratch import PG_URL, scratch_database  # noqa: E402
from plugin import applier, create_app  # noqa: E402
from plugin.migrate import upgrade  # noqa: E402
from plugin.models import Delivery  # noqa: E402
from plugin.shops import add_shop  # noqa: E402
from plugin.woocommerce.privacy import order_id_of, scrub_noted  # noqa: E402

KEY = "T7J2sW0TuQ3iH3uGWN-XbZoZioiirUzukGKb7yJwSe4="
SITE = "https://winkel.example"
PAYLOAD = ROOT / "tests" / "payloads" / "woocommerce" / "order.updated__airbytehq-airbyte.json"
START = datetime(2025, 1, 1, 9, tzinfo=timezone.utc)


def _gmt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def order(n: int, version: int) -> dict:
    o = json.loads(PAYLOAD.read_text())
    created = START + timedelta(hours=n)
    modified = created + timedelta(minutes=10 * version)
    o.update(id=n, number=str(n), status="completed", refunds=[], customer_id=0,
             date_created_gmt=_gmt(created), date_modified_gmt=_gmt(modified), date_paid_gmt=_gmt(created),
             customer_ip_address="203.0.113.7", customer_note="Graag bij de buren afgeven")
    o["billing"].update(first_name="Anna", last_name="de Vries", address_1="Prinsengracht 263",
                        city="Amsterdam", postcode="1016 GV", phone="+31 20 555 0101", email=f"klant{n % 5000}@example.nl")
    return o


def anonymized(o: dict) -> dict:
    o = json.loads(json.dumps(o))
    o["billing"] = {k: ("" if k != "email" else "deleted@site.invalid") for k in o["billing"]}
    o.update(customer_ip_address="203.0.113.0", date_modified_gmt=_gmt(datetime.fromisoformat(
        o["date_modified_gmt"]).replace(tzinfo=timezone.utc) + timedelta(days=400)))
    o["meta_data"] = [*o["meta_data"], {"key": "_anonymized", "value": "yes"}]
    return o


def raw(o: dict) -> bytes:
    return json.dumps(o, separators=(",", ":")).encode()


def receive_and_drain(app, bodies: list[bytes]) -> float:  # noqa: ANN001
    store = app.extensions["kompas.deliveries"]
    started = time.perf_counter()
    for body in bodies:
        store.store(platform="woocommerce", domain=SITE, topic="order.updated", delivery_id=None, dedupe_key=None,
                    triggered_at=None, body=body, status=applier.RECEIVED, error=None)
    applier.drain(app.extensions["kompas.db"])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--anonymized", type=int, default=999)
    args = parser.parse_args()
    print(f"# reproduce: .venv/bin/python benchmarks/woocommerce_privacy.py --db {args.db} "
          f"--orders {args.orders} --anonymized {args.anonymized}")
    with scratch_database(args.db, "privacy", PG_URL) as url:
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEYS": [KEY], "APPLY_INLINE": False})
        db = app.extensions["kompas.db"]
        with db.transaction() as session:
            shop = add_shop(session, platform="woocommerce", domain=SITE, timezone_name="Europe/Amsterdam",
                            currency="EUR", webhook_secret="bench")
            shop_id = shop.id
        now = datetime.now(timezone.utc)
        rows = [{"shop_id": shop_id, "platform": "woocommerce", "topic": "order.updated", "delivery_id": None,
                 "dedupe_key": None, "received_at": now, "triggered_at": None, "body": raw(order(n, v)),
                 "status": applier.PROCESSED, "error": None, "attempts": 1}
                for n in range(1, args.orders + 1) for v in range(3)]
        for start in range(0, len(rows), 5000):
            with db.transaction() as session:
                session.execute(insert(Delivery), rows[start:start + 5000])
        size = sum(len(r["body"]) for r in rows)
        print(f"shop: {args.orders} orders, {len(rows)} stored deliveries, {size / 1e6:.0f} MB of bodies")

        # in three rounds that alternate, each on orders of its own: the machine's load drifts
        m, rounds = args.anonymized, 3
        share = m // rounds
        ratios = []
        for r in range(rounds):
            first = r * share + 1
            reference = receive_and_drain(app, [raw(order(n, 5)) for n in range(m + first, m + first + share)])
            anonymizing = receive_and_drain(app, [raw(anonymized(order(n, 5))) for n in range(first, first + share)])
            ratios.append(anonymizing / reference)
            print(f"round {r + 1}: applying {share} anonymized updates {anonymizing:.2f} s, "
                  f"{share} ordinary updates {reference:.2f} s ({anonymizing / reference:.2f} ×)")
        m = share * rounds
        print(f"applying anonymized updates: median {sorted(ratios)[1]:.2f} × ordinary updates")

        started = time.perf_counter()
        with db.reading() as session:
            read = sum(len(body) for body in session.scalars(
                select(Delivery.body).where(Delivery.shop_id == shop_id, Delivery.topic.like("order.%"))
                .execution_options(yield_per=500)))
        plain_read = time.perf_counter() - started
        started = time.perf_counter()
        rewritten = scrub_noted(app, datetime.now(timezone.utc))
        scrub = time.perf_counter() - started
        print(f"background pass: {rewritten} bodies rewritten in {scrub:.2f} s; one plain read of the "
              f"{read / 1e6:.0f} MB of order bodies: {plain_read:.2f} s ({scrub / plain_read:.2f} ×)")

        with db.reading() as session:
            left = [order_id_of(body) for body in session.scalars(select(Delivery.body))
                    if b"example.nl" in body and int(order_id_of(body)) <= m]
        if left or rewritten != 3 * m:
            raise SystemExit(f"FAIL: {len(left)} bodies of anonymized orders still name the customer "
                             f"({rewritten} rewritten, {3 * m} expected)")


if __name__ == "__main__":
    main()
