"""History backfills and reconciliation passes: orders pulled from the platform, page by page.

A *source* knows how to read one platform (a Shopify bulk operation, WooCommerce's REST paging,
"orders updated since"); this module runs any source the same way:

- every page's entity states go through `plugin.ingest.apply`, the one function webhooks use, so
  an order that a webhook already brought is not counted twice, and an older state read from
  history never overwrites a newer one a webhook brought meanwhile;
- each page is applied in its own transaction together with the run's progress and its resume
  cursor, so an interrupted run resumes after the last page that was committed, never applying
  a page twice and never skipping one;
- the run row (`SyncRun`) is what the panel and `kompas backfill` show: orders done, total,
  percentage, estimated time left.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from queue import Full, Queue
from typing import Callable, Iterator, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from . import ingest
from .db import Database
from .kpi.entities import State
from .models import Shop, SyncRun

log = logging.getLogger(__name__)

BACKFILL, RECONCILE = "backfill", "reconcile"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STALE_AFTER = timedelta(minutes=10)  # a running run not updated for this long lost its process


@dataclass
class Page:
    """One page of a source: its entity states, how many orders it read, and the cursor after it.

    `total` is the source's estimate of all orders of the run, when it knows one.
    `note` is something the merchant should know about the history (e.g. the 60-day limit).
    """

    states: list[State]
    orders: int
    cursor: str | None
    total: int | None = None
    note: str | None = None
    restarted: bool = False  # the source had to start over (its snapshot expired): count from 0


class BackfillBusy(Exception):
    """Another process is running this shop's run right now."""


class TakenOver(Exception):
    """This runner's run was claimed by another process (it looked dead): stop, change nothing."""


class Source(Protocol):
    def pages(self, cursor: str | None) -> Iterator[Page]:
        """The pages after `cursor` (None: from the start)."""
        ...


@dataclass(frozen=True)
class Progress:
    """Where a run stands. `percent` and `eta_seconds` are None while the total is unknown."""

    id: int
    kind: str
    source: str
    status: str
    done: int
    total: int | None
    changed: int
    percent: float | None
    eta_seconds: float | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    note: str | None = None
    error: str | None = None

    def as_json(self) -> dict:
        return {"kind": self.kind, "source": self.source, "status": self.status, "done": self.done,
                "total": self.total, "changed": self.changed, "percent": self.percent,
                "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds),
                "started_at": _iso(self.started_at), "updated_at": _iso(self.updated_at),
                "finished_at": _iso(self.finished_at), "note": self.note, "error": self.error}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def progress_of(run: SyncRun) -> Progress:
    """Progress of a run: the rate since it (last) resumed gives the time left."""
    total = run.total if run.total is not None else None
    percent = eta = None
    if total:
        percent = round(min(100.0, 100.0 * run.done / total), 1)
        elapsed = (run.updated_at - run.resumed_at).total_seconds()
        read = run.done - run.done_at_resume
        if run.status == RUNNING and read > 0 and elapsed > 0:
            eta = max(0.0, (total - run.done) * elapsed / read)
    if run.status == DONE:
        percent, eta = 100.0, 0.0
    return Progress(id=run.id, kind=run.kind, source=run.source, status=run.status, done=run.done,
                    total=total, changed=run.changed, percent=percent, eta_seconds=eta,
                    started_at=run.started_at, updated_at=run.updated_at, finished_at=run.finished_at,
                    note=run.note, error=run.error)


def current(session: Session, shop_id: int, kind: str = BACKFILL) -> Progress | None:
    """The shop's latest run of `kind`, or None when it never had one."""
    run = session.scalar(select(SyncRun).where(SyncRun.shop_id == shop_id, SyncRun.kind == kind)
                         .order_by(SyncRun.id.desc()).limit(1))
    return None if run is None else progress_of(run)


def last_finished(session: Session, shop_id: int, kind: str) -> SyncRun | None:
    return session.scalar(select(SyncRun).where(SyncRun.shop_id == shop_id, SyncRun.kind == kind,
                                                SyncRun.status == DONE)
                          .order_by(SyncRun.id.desc()).limit(1))


def begin(db: Database, shop_id: int, source_name: str, kind: str = BACKFILL, restart: bool = False,
          now: datetime | None = None, claimed: int | None = None) -> tuple[int, datetime]:
    """(id, lease) of the run to work on: the unfinished run of this shop, kind and source
    (resumed), or a new one. `restart` abandons an unfinished run and starts over. A run another
    process is running (updated within STALE_AFTER) is BackfillBusy, unless it is `claimed`, the
    run this process has just claimed. The lease is the run's `updated_at` as this runner set it:
    every later write checks it is still its own."""
    now = (now or utcnow()).astimezone(timezone.utc)
    with db.transaction() as session:
        open_run = session.scalar(select(SyncRun).where(
            SyncRun.shop_id == shop_id, SyncRun.kind == kind, SyncRun.source == source_name,
            SyncRun.status.in_((QUEUED, RUNNING, FAILED))).order_by(SyncRun.id.desc()).limit(1))
        if (open_run is not None and open_run.status == RUNNING and open_run.id != claimed
                and open_run.updated_at > now - STALE_AFTER):
            raise BackfillBusy(f"a worker is running this {kind} (updated {open_run.updated_at:%H:%M:%S} UTC)")
        if open_run is not None and not restart:
            open_run.status, open_run.error = RUNNING, None
            open_run.resumed_at, open_run.done_at_resume, open_run.updated_at = now, open_run.done, now
            return open_run.id, now
        if open_run is not None:
            open_run.status, open_run.error, open_run.finished_at = FAILED, "abandoned: started over", now
        run = SyncRun(shop_id=shop_id, kind=kind, source=source_name, status=RUNNING, done=0, changed=0,
                      started_at=now, resumed_at=now, done_at_resume=0, updated_at=now)
        session.add(run)
        session.flush()
        return run.id, now


def queue(db: Database, shop_id: int, source_name: str, kind: str = BACKFILL, note: str | None = None,
          now: datetime | None = None) -> int:
    """Ask for a run (the worker of `kompas serve` picks it up); an unfinished one is reused."""
    now = (now or utcnow()).astimezone(timezone.utc)
    with db.transaction() as session:
        open_run = session.scalar(select(SyncRun).where(
            SyncRun.shop_id == shop_id, SyncRun.kind == kind, SyncRun.source == source_name,
            SyncRun.status.in_((QUEUED, RUNNING, FAILED))).order_by(SyncRun.id.desc()).limit(1))
        if open_run is not None:
            if open_run.status == FAILED:
                open_run.status = QUEUED
            if note:
                open_run.note = note
            return open_run.id
        run = SyncRun(shop_id=shop_id, kind=kind, source=source_name, status=QUEUED, done=0, changed=0, note=note,
                      started_at=now, resumed_at=now, done_at_resume=0, updated_at=now)
        session.add(run)
        session.flush()
        return run.id


def fail(db: Database, run_id: int, error: str, now: datetime | None = None) -> None:
    """Mark a run failed (when its source could not even be built)."""
    now = (now or utcnow()).astimezone(timezone.utc)
    with db.transaction() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id, SyncRun.status != DONE)
                        .values(status=FAILED, error=error, updated_at=now))


def claim_next(db: Database, now: datetime | None = None) -> SyncRun | None:
    """A queued run, or a running one whose process died, claimed for this process (compare and
    set on `updated_at`, so two workers never run the same one); None when there is none."""
    now = (now or utcnow()).astimezone(timezone.utc)
    due = or_(SyncRun.status == QUEUED, (SyncRun.status == RUNNING) & (SyncRun.updated_at < now - STALE_AFTER))
    with db.transaction() as session:
        for run in session.scalars(select(SyncRun).where(due).order_by(SyncRun.id).limit(5)):
            taken = session.execute(update(SyncRun).where(SyncRun.id == run.id, SyncRun.updated_at == run.updated_at,
                                                          SyncRun.status == run.status)
                                    .values(status=RUNNING, updated_at=now)).rowcount
            if taken:
                session.expunge(run)
                return run
    return None


@dataclass
class Runner:
    """Runs one source into one shop. `on_page` is told the progress after every page (the CLI's
    progress bar); `clock` is injectable for tests."""

    db: Database
    shop_id: int
    on_page: Callable[[Progress], None] | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    # the lease is renewed from the thread that reads the source and checked by the one that applies
    _lease_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, source: Source, source_name: str, kind: str = BACKFILL, restart: bool = False,
            claimed: int | None = None) -> Progress:
        run_id, self._lease = begin(self.db, self.shop_id, source_name, kind, restart, self._now(), claimed)
        with self.db.reading() as session:
            cursor = session.get(SyncRun, run_id).cursor
        if hasattr(source, "heartbeat"):  # a source that waits (a bulk operation) keeps its lease alive
            source.heartbeat = lambda: self._renew(run_id)
        try:
            for page in _read_ahead(source.pages(cursor)):
                progress = self._apply_page(run_id, page)
                if self.on_page:
                    self.on_page(progress)
        except TakenOver:
            log.warning("backfill.taken_over", extra={"shop": self.shop_id, "run": run_id})
            raise
        except Exception as exc:
            with self.db.transaction() as session:
                if self._still_mine(session, run_id):
                    run = session.get(SyncRun, run_id)
                    run.status, run.error, run.updated_at = FAILED, f"{type(exc).__name__}: {exc}", self._now()
            log.exception("backfill.failed", extra={"shop": self.shop_id, "run": run_id})
            raise
        with self.db.transaction() as session:
            self._own(session, run_id)
            run = session.get(SyncRun, run_id)
            now = self._now()
            run.status, run.finished_at, run.updated_at = DONE, now, now
            if run.total is None or run.total < run.done:
                run.total = run.done
            return progress_of(run)

    def _now(self) -> datetime:
        # stored in UTC: SQLite keeps no offset, so every instant must be in the same zone
        return self.clock().astimezone(timezone.utc)

    def _still_mine(self, session: Session, run_id: int) -> bool:
        stamp = session.scalar(select(SyncRun.updated_at).where(SyncRun.id == run_id))
        return stamp == self._lease

    def _own(self, session: Session, run_id: int) -> None:
        """TakenOver unless the run still carries this runner's lease; then a new lease."""
        now = self._now()
        if session.execute(update(SyncRun).where(SyncRun.id == run_id, SyncRun.updated_at == self._lease)
                           .values(updated_at=now)).rowcount != 1:
            raise TakenOver(f"run {run_id} was claimed by another worker")
        self._lease = now

    def _renew(self, run_id: int) -> None:
        with self._lease_lock, self.db.transaction() as session:
            self._own(session, run_id)

    def _apply_page(self, run_id: int, page: Page) -> Progress:
        with self._lease_lock, self.db.transaction() as session:
            self.db.lock_shops(session, [self.shop_id])
            self._own(session, run_id)  # before applying: a page is applied by the run's owner only
            shop = session.get(Shop, self.shop_id)
            outcomes = ingest.apply(session, ingest.ShopContext.of(shop), page.states) if page.states else []
            run = session.get(SyncRun, run_id)
            if page.restarted:
                run.done = run.done_at_resume = 0
            run.done += page.orders
            # what Kompas did not have yet: counted per order (an order's refunds come with it)
            run.changed += sum(1 for o in outcomes if isinstance(o, ingest.Applied) and o.kind == "order")
            if page.total is not None:
                run.total = page.total
            if page.note:
                run.note = page.note
            run.cursor = page.cursor
            return progress_of(run)


_END = object()


def _read_ahead(pages: Iterator[Page]) -> Iterator[Page]:
    """The pages of a source, the next one read and prepared in a thread of its own while the
    current one is applied: downloading, parsing and turning orders into states overlaps the
    database's work (which releases the GIL) instead of waiting for it. At most one page waits.
    An exception of the source is raised here, after the pages before it."""
    handoff: Queue = Queue(maxsize=1)
    stopped = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stopped.is_set():
                    try:
                        handoff.put(page, timeout=0.2)
                        break
                    except Full:
                        continue
                if stopped.is_set():
                    return
            handoff.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the applying thread
            handoff.put(exc)

    reader = threading.Thread(target=produce, name="kompas-backfill-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()


def run(db: Database, shop_id: int, source_name: str, source: Source, kind: str = BACKFILL,
        restart: bool = False, on_page: Callable[[Progress], None] | None = None,
        claimed: int | None = None) -> Progress:
    """Run `source` into the shop (resuming its unfinished run); returns the final progress."""
    return Runner(db, shop_id, on_page).run(source, source_name, kind, restart, claimed)
