"""Background work besides applying deliveries: history backfills, reconciliation passes, and
whatever else runs on a schedule. The worker process of `kompas serve` runs `run_forever` in a
thread next to the delivery applier; nothing here ever runs inside a webhook request.

A job is (name, every, function(app, now)): run when `every` has passed since it last ran in this
process. Jobs that must not run twice across processes claim their work in the database
(plugin.backfill.claim_next compares and sets), so two workers are safe.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import select, update

from . import backfill
from .models import Shop, SyncRun

log = logging.getLogger(__name__)

RECONCILE_EVERY = timedelta(hours=24)
Job = tuple[str, float, Callable]


def source_for(app, shop: Shop, kind: str):  # noqa: ANN001, ANN201
    """(source name, source) that pulls the shop's orders for a backfill or a reconciliation."""
    if shop.platform == "shopify":
        from .shopify import backfill as shopify_history

        if kind == backfill.RECONCILE:
            return "shopify_updated", shopify_history.reconcile_source(app, shop)
        return "shopify_bulk", shopify_history.backfill_source(app, shop)
    from .woocommerce import backfill as woo_history  # issue 7

    return "woocommerce_rest", woo_history.backfill_source(app, shop)


def run_queued(app, now: datetime | None = None) -> int:  # noqa: ANN001
    """Run every queued (or orphaned) backfill and reconciliation; returns how many ran."""
    db = app.extensions["kompas.db"]
    ran = 0
    while (run := backfill.claim_next(db, now)) is not None:
        with db.reading() as session:
            shop = session.get(Shop, run.shop_id)
        if shop is None:
            continue  # deleted (shop/redact) since it was claimed: its runs went with it
        try:
            name, source = source_for(app, shop, run.kind)
            result = backfill.run(db, shop.id, name, source, kind=run.kind, claimed=run.id)
            # a reconciliation's `changed` are its corrections: what webhooks had missed
            log.info("jobs.sync_done", extra={"shop": shop.domain, "kind": run.kind, "orders": result.done,
                                              "changed": result.changed})
        except (backfill.TakenOver, backfill.BackfillBusy):
            log.warning("jobs.sync_elsewhere", extra={"shop": shop.domain, "kind": run.kind})
        except Exception as exc:  # noqa: BLE001 - kept on the run (failed); retry_failed queues it again
            backfill.fail(db, run.id, f"{type(exc).__name__}: {exc}")
            log.exception("jobs.sync_failed", extra={"shop": shop.domain, "kind": run.kind})
        ran += 1
    return ran


RETRY_AFTER = timedelta(minutes=15)


def retry_failed(app, now: datetime | None = None) -> int:  # noqa: ANN001
    """Queue again every history backfill that failed more than RETRY_AFTER ago (a platform down
    for a while must not leave a shop without its history for good). Reconciliations need no
    retry: the next scheduled pass resumes a failed one."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    with app.extensions["kompas.db"].transaction() as session:
        installed = select(Shop.id).where(Shop.uninstalled_at.is_(None))
        return session.execute(update(SyncRun).where(SyncRun.status == backfill.FAILED,
                                                     SyncRun.kind == backfill.BACKFILL,
                                                     SyncRun.shop_id.in_(installed),
                                                     SyncRun.updated_at < now - RETRY_AFTER)
                               .values(status=backfill.QUEUED, updated_at=now)).rowcount or 0


def queue_reconciliations(app, now: datetime | None = None) -> int:  # noqa: ANN001
    """Queue a reconciliation for every installed Shopify shop whose history is in and whose last
    reconciliation (or, before the first, its backfill) started more than RECONCILE_EVERY ago."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    db = app.extensions["kompas.db"]
    with db.reading() as session:
        shops = session.scalars(select(Shop).where(Shop.platform == "shopify", Shop.scopes.is_not(None),
                                                   Shop.uninstalled_at.is_(None))).all()
        due = []
        for shop in shops:
            history = backfill.current(session, shop.id)
            if history is None or history.status != backfill.DONE:
                continue
            last = session.scalar(select(SyncRun.started_at).where(
                SyncRun.shop_id == shop.id, SyncRun.kind == backfill.RECONCILE).order_by(SyncRun.id.desc()).limit(1))
            if (last or history.started_at) <= now - RECONCILE_EVERY:
                due.append(shop.id)
    for shop_id in due:
        backfill.queue(db, shop_id, "shopify_updated", kind=backfill.RECONCILE, now=now)
    return len(due)


def resync_woocommerce(app, now: datetime) -> int:  # noqa: ANN001
    from .woocommerce.resync import run_due  # issue 7: lost deliveries and disabled webhooks

    return run_due(app, now)


def scrub_anonymized_orders(app, now: datetime) -> int:  # noqa: ANN001
    from .woocommerce.privacy import scrub_noted  # orders WooCommerce anonymized: their stored bodies

    return scrub_noted(app, now)


JOBS: list[Job] = [
    ("reconcile.schedule", 600.0, queue_reconciliations),
    ("sync.retry", 300.0, retry_failed),
    ("sync.run", 15.0, run_queued),
    ("woocommerce.resync", 60.0, resync_woocommerce),
    ("woocommerce.scrub_anonymized", 600.0, scrub_anonymized_orders),
]


def run_forever(app, stop: Callable[[], bool], jobs: list[Job] | None = None, tick: float = 1.0) -> None:  # noqa: ANN001
    """Run `jobs` on their schedules until `stop()`; a failing job is logged and tried next time."""
    jobs = JOBS if jobs is None else jobs
    last: dict[str, float] = {}
    while not stop():
        for name, every, job in jobs:
            if time.monotonic() - last.get(name, float("-inf")) < every:
                continue
            last[name] = time.monotonic()
            try:
                job(app, datetime.now(timezone.utc))
            except Exception:  # noqa: BLE001 - one broken job must not stop the others
                log.exception("jobs.failed", extra={"job": name})
        time.sleep(tick)


def start(app, stop: Callable[[], bool]) -> threading.Thread:  # noqa: ANN001
    thread = threading.Thread(target=run_forever, args=(app, stop), name="kompas-jobs", daemon=True)
    thread.start()
    return thread
