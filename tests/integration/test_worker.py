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


def test_the_worker_rests_during_a_burst_and_catches_up_at_full_speed(app, db, shopify_shop):
    store = app.extensions["kompas.deliveries"]
    sent = 0

    def arrive(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            sent += 1
            created = datetime(2026, 5, 1, 8, tzinfo=AMS) + timedelta(seconds=sent)
            body = order_payload(sent, created=created, updated=created, zone=AMS,
                                 lines=[("x", Decimal("10.00"), 1)], customer_id=sent % 5 + 1)
            store.store(platform="shopify", domain=SHOP, topic="orders/create", delivery_id=f"w{sent}",
                        dedupe_key=f"w{sent}", triggered_at=None, body=json.dumps(body).encode(), status="received")

    arrive(100)                      # a backlog, then 40 more during each of the first three batches
    now = [0.0]
    slept: list[float] = []
    rounds = 0

    def clock() -> float:            # every reading is 10 ms later: a batch takes 10 ms
        now[0] += 0.01
        return now[0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    def stop() -> bool:
        nonlocal rounds
        rounds += 1
        if rounds <= 3:
            arrive(40)
        return rounds > 9

    applier.run_worker(db, batch=50, busy_rate=20.0, busy_duty=0.05, clock=clock, sleep=sleep, stop=stop)
    # three full batches during the burst, each followed by a rest 19× its length (5 % duty);
    # then the remaining 70 in two batches without a rest; then idle polls
    assert slept[:3] == [pytest.approx(0.19)] * 3
    assert slept[3:] == [0.2] * 4
    with db.reading() as session:
        assert session.scalar(select(func.count()).where(Delivery.status == "processed")) == sent == 220
