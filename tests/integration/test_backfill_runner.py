"""The backfill runner: pages through the one apply function, progress kept per page, resumable."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugin import backfill, ingest, report
from plugin.demo import order_payload
from plugin.shops import find_shop
from tests.helpers import SHOP
from webhooks.platforms import shopify
from webhooks.platforms.base import Context

ZONE = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZONE)


def _orders(n: int) -> list[dict]:
    return [order_payload(1000 + i, created=T0 + timedelta(hours=i), updated=T0 + timedelta(hours=i),
                          zone=ZONE, lines=[("Mok", Decimal("12.50"), 2)], customer_id=500 + i % 7)
            for i in range(n)]


class PagedOrders:
    """A source over REST order bodies, `size` per page; the cursor is the page number.
    `fail_at` raises before yielding that page, as a network failure would."""

    def __init__(self, shop, orders: list[dict], size: int, fail_at: int | None = None) -> None:
        self.ctx = Context(received_at=datetime.now(timezone.utc), triggered_at=None,
                           customer_hash_key=shop.customer_hash_key)
        self.orders, self.size, self.fail_at = orders, size, fail_at
        self.asked: list[str | None] = []

    def pages(self, cursor):  # noqa: ANN001, ANN201
        self.asked.append(cursor)
        start = 0 if cursor is None else int(cursor)
        for number in range(start, (len(self.orders) + self.size - 1) // self.size):
            if number == self.fail_at:
                raise ConnectionError("connection reset")
            chunk = self.orders[number * self.size:(number + 1) * self.size]
            states = [s for o in chunk for s in shopify.TOPICS["orders/updated"](o, self.ctx)]
            yield backfill.Page(states=states, orders=len(chunk), cursor=str(number + 1), total=len(self.orders))


def _orders_on(db, day: date) -> int:
    with db.reading() as session:
        return report.build(session, find_shop(session, SHOP), day, day + timedelta(days=3))["kpis"]["orders"]


def test_an_interrupted_backfill_resumes_after_its_last_committed_page(db, shopify_shop):
    orders = _orders(25)
    with pytest.raises(ConnectionError):
        backfill.run(db, shopify_shop.id, "shopify_bulk", PagedOrders(shopify_shop, orders, 10, fail_at=2))
    with db.reading() as session:
        failed = backfill.current(session, shopify_shop.id)
    assert (failed.status, failed.done, failed.total, failed.percent) == ("failed", 20, 25, 80.0)
    assert "connection reset" in failed.error

    again = PagedOrders(shopify_shop, orders, 10)
    final = backfill.run(db, shopify_shop.id, "shopify_bulk", again)
    assert again.asked == ["2"]  # resumed after the two committed pages, not from the start
    assert (final.status, final.done, final.percent, final.changed) == ("done", 25, 100.0, 25)
    assert _orders_on(db, T0.date()) == 25
    with db.reading() as session:
        assert ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP))) == {}


def test_history_never_overwrites_a_newer_state_a_webhook_brought(db, shopify_shop, send):
    orders = _orders(3)
    newer = order_payload(1001, created=T0 + timedelta(hours=1), updated=T0 + timedelta(days=2), zone=ZONE,
                          lines=[("Mok", Decimal("12.50"), 2)], customer_id=501,
                          cancelled_at=T0 + timedelta(days=2))
    assert send("shopify", "orders/cancelled", newer).status_code == 200
    final = backfill.run(db, shopify_shop.id, "shopify_bulk", PagedOrders(shopify_shop, orders, 2))
    assert final.changed == 2  # order 1001 was already known in a newer state
    with db.reading() as session:
        kpis = report.build(session, find_shop(session, SHOP), T0.date(), T0.date() + timedelta(days=3))["kpis"]
    assert kpis["orders"] == 3 and kpis["orders_cancelled"] == 1


def test_a_second_backfill_of_the_same_history_changes_nothing(db, shopify_shop):
    orders = _orders(12)
    backfill.run(db, shopify_shop.id, "shopify_bulk", PagedOrders(shopify_shop, orders, 5))
    second = backfill.run(db, shopify_shop.id, "shopify_bulk", PagedOrders(shopify_shop, orders, 5))
    assert (second.done, second.changed) == (12, 0)
    assert _orders_on(db, T0.date()) == 12


def test_progress_estimates_the_time_left_from_the_rate_since_resuming(db, shopify_shop):
    clock = iter(T0 + timedelta(seconds=s) for s in range(0, 1000, 10))
    seen = []
    runner = backfill.Runner(db, shopify_shop.id, on_page=seen.append, clock=lambda: next(clock))
    runner.run(PagedOrders(shopify_shop, _orders(40), 10), "shopify_bulk")
    # each page took 10 s of the injected clock for 10 orders: 1 order per second
    assert [(p.done, p.percent, p.eta_seconds) for p in seen] == [
        (10, 25.0, 30.0), (20, 50.0, 20.0), (30, 75.0, 10.0), (40, 100.0, 0.0)]


def test_a_run_claimed_away_from_a_live_runner_stops_it_before_its_next_page(db, shopify_shop):
    """Worker A looks dead (no word for longer than STALE_AFTER), worker B claims the run: A's next
    page is refused, B goes on after A's last committed page, nothing is counted twice."""
    orders = _orders(30)
    clock = [datetime.now(timezone.utc)]
    taken = []

    def after_a_page(progress):  # noqa: ANN001, ANN202
        if progress.done == 10:  # A stalls after its first page; B claims the run meanwhile
            clock[0] += backfill.STALE_AFTER + timedelta(minutes=1)
            taken.append(backfill.claim_next(db, clock[0]))

    backfill.queue(db, shopify_shop.id, "shopify_bulk")
    first = backfill.claim_next(db, clock[0])
    with pytest.raises(backfill.TakenOver):
        backfill.Runner(db, shopify_shop.id, on_page=after_a_page, clock=lambda: clock[0]).run(
            PagedOrders(shopify_shop, orders, 10), "shopify_bulk", claimed=first.id)
    assert taken[0] is not None and taken[0].id == first.id
    with db.reading() as session:
        assert backfill.current(session, shopify_shop.id).done == 10  # only A's first page
    later = PagedOrders(shopify_shop, orders, 10)
    final = backfill.Runner(db, shopify_shop.id, clock=lambda: clock[0]).run(later, "shopify_bulk", claimed=first.id)
    assert later.asked == ["1"] and (final.status, final.done) == ("done", 30)
    assert _orders_on(db, T0.date()) == 30


def test_a_run_another_worker_is_running_is_not_started_twice(db, shopify_shop):
    backfill.queue(db, shopify_shop.id, "shopify_bulk")
    assert backfill.claim_next(db) is not None  # a worker has it, and is alive
    with pytest.raises(backfill.BackfillBusy):
        backfill.run(db, shopify_shop.id, "shopify_bulk", PagedOrders(shopify_shop, _orders(3), 2))
