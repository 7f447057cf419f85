"""The worker's scheduled jobs: each on its own schedule, a failing one never stops the others,
and a queued backfill is run by exactly one worker."""
import threading
from datetime import datetime, timedelta, timezone

from plugin import backfill, jobs


def test_jobs_run_on_their_schedule_and_a_failing_job_does_not_stop_the_others(app):
    ran: list[str] = []
    rounds = iter(range(3))

    def broken(app, now):  # noqa: ANN001, ANN202
        ran.append("broken")
        raise RuntimeError("a bug")

    schedule = [("often", 0.0, lambda app, now: ran.append("often")), ("broken", 0.0, broken),
                ("rarely", 3600.0, lambda app, now: ran.append("rarely"))]
    jobs.run_forever(app, stop=lambda: next(rounds, None) is None, jobs=schedule, tick=0)
    assert ran == ["often", "broken", "rarely", "often", "broken", "often", "broken"]


def test_a_queued_run_is_claimed_by_one_worker_only(app, db, shopify_shop):
    run_id = backfill.queue(db, shopify_shop.id, "shopify_bulk")
    assert backfill.queue(db, shopify_shop.id, "shopify_bulk") == run_id  # asked twice, queued once
    claimed = []
    barrier = threading.Barrier(2)

    def claim():  # noqa: ANN202
        barrier.wait()
        claimed.append(backfill.claim_next(db))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c is not None for c in claimed) == [False, True]


def test_a_run_whose_worker_died_is_claimed_again_after_a_while(app, db, shopify_shop):
    backfill.queue(db, shopify_shop.id, "shopify_bulk")
    now = datetime.now(timezone.utc)
    assert backfill.claim_next(db, now) is not None       # a worker takes it, then dies
    assert backfill.claim_next(db, now + timedelta(minutes=1)) is None
    assert backfill.claim_next(db, now + backfill.STALE_AFTER + timedelta(minutes=1)) is not None


def test_a_failed_backfill_is_queued_again_after_a_while(app, db, shopify_shop):
    run_id = backfill.queue(db, shopify_shop.id, "shopify_bulk")
    now = datetime.now(timezone.utc)
    backfill.fail(db, run_id, "ShopifyApiError: 503", now=now)
    assert jobs.retry_failed(app, now + timedelta(minutes=5)) == 0
    assert jobs.retry_failed(app, now + jobs.RETRY_AFTER + timedelta(minutes=1)) == 1
    with db.reading() as session:
        assert backfill.current(session, shopify_shop.id).status == backfill.QUEUED
