"""Self-healing: WooCommerce never retries a failed delivery and disables a webhook after a few
failures in a row (shared/platforms/woocommerce.md §1), so Kompas regularly

- reads the orders modified since its last pass (REST `modified_after`, then once more with
  `status=trash` for orders trashed meanwhile, up to a few minutes ago so
  that deliveries still queued in the store's Action Scheduler are not taken for lost) and applies
  them through the one apply function: a state a webhook already brought changes nothing, a lost
  one is applied now and counted as "missed";
- checks that its four order webhooks exist and are active, re-enables disabled or paused ones and
  recreates deleted ones;
- records what it repaired, for the panel and `kompas woocommerce resync`.

A shop whose history backfill has not finished waits for it (the worker's jobs run it; a failed
one is queued again). `run_due` is a job of plugin.jobs, in the worker of `kompas serve`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from sqlalchemy import select

from .. import backfill as runs
from ..models import Shop, WooCommerceSite
from .backfill import NotConnectedError, OrderPages, client_for, context_for, newer_than_stored
from .privacy import noter
from .client import WooClient, WooError
from .connect import CONNECTION_LOCK, SOURCE_NAME, WEBHOOK_TOPICS, create_webhook, our_webhooks, urls

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=5)      # deliveries younger than this may still be on their way
OVERLAP = timedelta(minutes=5)    # each window starts a little before the last one ended
INTERVAL = timedelta(minutes=15)  # how often each shop is resynced


@dataclass
class Outcome:
    shop: str
    backfilled: runs.Progress | None = None
    orders_read: int = 0
    missed_orders: int = 0
    repaired_webhooks: int = 0
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"{self.shop}: failed: {self.error}"
        if self.backfilled is not None:
            return (f"{self.shop}: waiting for the history backfill ({self.backfilled.status}, "
                    f"{self.backfilled.done} orders); {self.repaired_webhooks} webhooks repaired")
        return (f"{self.shop}: {self.orders_read} orders read, {self.missed_orders} missed deliveries repaired, "
                f"{self.repaired_webhooks} webhooks repaired")


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def check_webhooks(client: WooClient, events_url: str, secret: str,
                   known: dict[str, int]) -> tuple[dict[str, int], int]:
    """({topic: id}, how many were repaired): every order topic has an active webhook to Kompas."""
    found = our_webhooks(client, events_url)
    current, repaired = {}, 0
    for topic in WEBHOOK_TOPICS:
        candidates = sorted((w for w in found if w.get("topic") == topic),
                            key=lambda w: (w.get("id") != known.get(topic), w.get("status") != "active"))
        if not candidates:
            current[topic] = create_webhook(client, topic, events_url, secret)
            log.warning("woocommerce.webhook_recreated", extra={"topic": topic, "webhook": current[topic]})
            repaired += 1
            continue
        hook = candidates[0]
        if hook.get("status") != "active":
            client.put(f"wc/v3/webhooks/{hook['id']}", {"status": "active"})
            log.warning("woocommerce.webhook_reenabled", extra={"topic": topic, "webhook": hook["id"],
                                                               "was": hook.get("status")})
            repaired += 1
        current[topic] = hook["id"]
    return current, repaired


def _still_connected(db, shop_id: int, secret: str | None, connected_at: datetime | None) -> bool:  # noqa: ANN001
    with db.reading() as session:
        shop, site = session.get(Shop, shop_id), session.get(WooCommerceSite, shop_id)
        return (site is not None and shop is not None and shop.webhook_secret == secret
                and site.connected_at == connected_at)


def _record(db, shop_id: int, outcome: Outcome, webhooks: dict[str, int], until: datetime | None,  # noqa: ANN001
            now: datetime) -> None:
    with db.transaction() as session:
        row = session.get(WooCommerceSite, shop_id)
        row.webhooks, row.checked_at, row.last_error = webhooks, now, None
        if until is not None:
            row.synced_until = until
        row.missed_orders_total += outcome.missed_orders
        row.repaired_webhooks_total += outcome.repaired_webhooks
        if outcome.missed_orders or outcome.repaired_webhooks:
            row.last_repair_at = now
            row.last_repair_orders, row.last_repair_webhooks = outcome.missed_orders, outcome.repaired_webhooks


def resync_shop(app, shop_id: int, now: datetime | None = None) -> Outcome:  # noqa: ANN001
    """One pass for one connected shop (see the module's docstring)."""
    db = app.extensions["kompas.db"]
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    with db.reading() as session:
        shop = session.get(Shop, shop_id)
        site = session.get(WooCommerceSite, shop_id)
        history = runs.last_finished(session, shop_id, runs.BACKFILL)
    outcome = Outcome(shop=shop.domain)
    try:
        client = client_for(app, shop)
        if history is None:  # the history comes first: the worker's jobs run it (queued again if it failed)
            runs.queue(db, shop_id, SOURCE_NAME)
            with db.reading() as session:
                outcome.backfilled = runs.current(session, shop_id)
            until = None
        else:
            since, until = site.synced_until or history.started_at, now - GRACE
            if since - OVERLAP < until:  # type: ignore[operator]
                window = {"modified_after": _iso(since - OVERLAP), "modified_before": _iso(until)}  # type: ignore[operator]
                source = OrderPages(client, context_for(shop), window, seen=newer_than_stored(app, shop_id),
                                    anonymized=noter(app, shop_id))
                progress = runs.run(db, shop_id, SOURCE_NAME, source, kind=runs.RECONCILE)
                # REST's default status "any" leaves trashed orders out: a lost order.deleted shows up here.
                # Same source name: a pass resumed by plugin.jobs reads its window from its cursor.
                trashed = OrderPages(client, context_for(shop), {**source.window, "status": "trash"},
                                     seen=newer_than_stored(app, shop_id), anonymized=noter(app, shop_id))
                trash_progress = runs.run(db, shop_id, SOURCE_NAME, trashed, kind=runs.RECONCILE)
                outcome.orders_read = progress.done + trash_progress.done
                outcome.missed_orders = source.counted + trashed.counted
                until = datetime.fromisoformat(source.window["modified_before"]).replace(tzinfo=timezone.utc)
            else:
                until = since
        # The orders above went through the one apply function, whatever happened meanwhile. The
        # webhooks and the pass's record only while the store is connected as it was when the pass
        # began: a disconnect (or reconnect) while it read orders deleted the webhooks and forgot
        # (replaced) their secret, and they must not come back with the old one.
        with db.exclusive(CONNECTION_LOCK, shop_id):
            if not _still_connected(db, shop_id, shop.webhook_secret, site.connected_at):
                outcome.error = "the store was disconnected or reconnected during the pass"
                log.info("woocommerce.resync_superseded", extra={"shop": shop.domain})
                return outcome
            webhooks, outcome.repaired_webhooks = check_webhooks(client, urls(app).events, shop.webhook_secret or "",
                                                                 dict(site.webhooks or {}))
            _record(db, shop_id, outcome, webhooks, until, now)
    except (WooError, NotConnectedError, ValueError) as exc:  # ValueError: a store answering nonsense
        outcome.error = str(exc)
        log.warning("woocommerce.resync_failed", extra={"shop": shop.domain, "error": str(exc)})
        with db.transaction() as session:
            row = session.get(WooCommerceSite, shop_id)
            if row is not None:   # None: disconnected meanwhile
                row.last_error, row.checked_at = outcome.error, now
        return outcome
    log.info("woocommerce.resynced", extra={"shop": shop.domain, "missed": outcome.missed_orders,
                                           "webhooks": outcome.repaired_webhooks})
    return outcome


def connected_shops(app) -> list[int]:  # noqa: ANN001
    with app.extensions["kompas.db"].reading() as session:
        return list(session.scalars(select(WooCommerceSite.shop_id).order_by(WooCommerceSite.shop_id)))


def due(app, now: datetime) -> list[int]:  # noqa: ANN001
    """Connected shops whose last pass is older than INTERVAL (or that never had one)."""
    with app.extensions["kompas.db"].reading() as session:
        rows = session.execute(select(WooCommerceSite.shop_id, WooCommerceSite.checked_at)).all()
    return [shop_id for shop_id, checked in rows if checked is None or now - checked >= INTERVAL]  # type: ignore[operator]


def run_due(app, now: datetime) -> int:  # noqa: ANN001
    """Resync every due shop (a job of plugin.jobs, in the worker of `kompas serve`); returns how many."""
    shops = due(app, now)
    for shop_id in shops:
        try:
            resync_shop(app, shop_id, now)
        except Exception:  # noqa: BLE001 - one shop's failure must not stop the others
            log.exception("woocommerce.resync_crashed", extra={"shop": shop_id})
    return len(shops)
