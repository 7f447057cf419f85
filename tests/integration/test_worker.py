"""The delivery worker (`kompas worker`, started by `kompas serve`): it yields to the receivers
while deliveries pour in and catches up at full speed once they stop. Clock and sleep injected."""
import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from plugin import applier
from plugin.demo import order_payload
from plugin.models import Delivery
from tests.helpers import SHOP

AMS = ZoneInfo("Europe/Amsterdam")


def _arrivals(app):  # noqa: ANN001, ANN202
    """A function that stores `count` new orders/create deliveries, and the running total."""
    store = app.extensions["kompas.deliveries"]
    sent = [0]

    def arrive(count: int) -> None:
        for _ in range(count):
            sent[0] += 1
            n = sent[0]
            created = datetime(2026, 5, 1, 8, tzinfo=AMS) + timedelta(seconds=n)
            body = order_payload(n, created=created, updated=created, zone=AMS,
                                 lines=[("x", Decimal("10.00"), 1)], customer_id=n % 5 + 1)
            store.store(platform="shopify", domain=SHOP, topic="orders/create", delivery_id=f"w{n}",
                        dedupe_key=f"w{n}", triggered_at=None, body=json.dumps(body).encode(), status="received")

    return arrive, sent


class FakeTime:
    """The worker's clock and sleep: every reading is 10 ms later (a batch takes 10 ms)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        self.now += 0.01
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def processed(db) -> int:  # noqa: ANN001
    with db.reading() as session:
        return session.scalar(select(func.count()).where(Delivery.status == "processed"))


def test_the_worker_rests_during_a_burst_and_catches_up_at_full_speed(app, db, shopify_shop):
    arrive, sent = _arrivals(app)
    arrive(100)                      # a backlog, then 40 more during each of the first three batches
    fake = FakeTime()
    rounds = 0

    def stop() -> bool:
        nonlocal rounds
        rounds += 1
        if rounds <= 3:
            arrive(40)
        return rounds > 9

    applier.run_worker(db, batch=50, busy_rate=20.0, busy_duty=0.05, clock=fake.clock, sleep=fake.sleep, stop=stop)
    # three full batches during the burst, each followed by a rest 19× its length (5 % duty);
    # then the remaining 70 in two batches without a rest; then idle polls
    assert fake.slept[:3] == [pytest.approx(0.19)] * 3
    assert fake.slept[3:] == [0.2] * 4
    assert processed(db) == sent[0] == 220


def test_a_burst_longer_than_max_yield_is_applied_at_full_speed(app, db, shopify_shop):
    arrive, sent = _arrivals(app)
    arrive(300)
    fake = FakeTime()
    rounds = 0

    def stop() -> bool:
        nonlocal rounds
        rounds += 1
        arrive(30 if rounds <= 6 else 0)   # deliveries keep pouring in during the first six batches
        return rounds > 12

    applier.run_worker(db, batch=50, busy_rate=20.0, busy_duty=0.05, max_yield=0.5, clock=fake.clock,
                       sleep=fake.sleep, stop=stop)
    # rests after the batches at 0, ~0.21 and ~0.42 s into the burst; from ~0.63 s on none,
    # although deliveries still pour in; after ten batches everything is applied: two idle polls
    assert fake.slept == [pytest.approx(0.19)] * 3 + [0.2] * 2
    assert processed(db) == sent[0] == 480
