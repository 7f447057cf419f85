"""Durable storage of verified deliveries: the hot path of every webhook, with group commit.

Every delivery is committed before it is acknowledged. Committing each one alone makes the
database's commit (an fsync with PostgreSQL's synchronous_commit on, and SQLite's
synchronous=FULL) the ceiling, and on SQLite it makes a crowd of request threads poll for the
single write lock. Instead, the request threads of one process queue their rows; one of them at
a time commits everything queued in one transaction, wakes the threads whose rows it committed,
and hands the next commit to the first thread that queued meanwhile (group commit: each waiting
thread is woken once). Nothing is acknowledged before its commit, and a failed commit
fails every request in it (the platforms retry them): nothing accepted is lost.

This path speaks SQL to the DB-API connection directly: building SQLAlchemy statements cost more
CPU per request than everything else the receiver does. The statement is one INSERT … SELECT
that also resolves the shop by its key, so a batch costs one round trip; on PostgreSQL it runs in
autocommit mode, so that one statement is the whole transaction (no BEGIN and COMMIT trips).
"""
from __future__ import annotations

import os
import threading
import time
from _thread import allocate_lock as _allocate_lock
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any

import psycopg

from plugin.db import Database
from plugin.sealed import open_sealed_text

STORED, DUPLICATE, UNKNOWN_SHOP = "stored", "duplicate", "unknown_shop"
GATHER_SECONDS = 0.002   # how long a commit waits at most for rows of requests already being read
GATHER_SHARE = 0.5       # ... and for how many of them: this share of the process's requests in flight
RECEIVER_WAL_AUTOCHECKPOINT = 10_000   # SQLite pages (4 kB): the receivers' commits leave checkpoints to the applier
SQLITE_WAL_AUTOCHECKPOINT = 1_000      # SQLite's default, which every other connection keeps
_COLUMNS = ("platform", "topic", "delivery_id", "dedupe_key", "received_at", "triggered_at", "body", "status",
            "error", "attempts")


_PG_TYPES = {"platform": "varchar", "topic": "varchar", "delivery_id": "varchar", "dedupe_key": "varchar",
             "received_at": "timestamptz", "triggered_at": "varchar", "body": "bytea", "status": "varchar",
             "error": "text", "attempts": "integer", "domain": "varchar"}


def _sql(param: str) -> tuple[str, str]:
    if param.startswith("%"):  # psycopg: the same parameter in two places needs one explicit type
        param_of = lambda c: f"CAST(%({c})s AS {_PG_TYPES[c]})"  # noqa: E731
    else:
        param_of = lambda c: f":{c}"  # noqa: E731
    values = ", ".join(param_of(c) for c in _COLUMNS)
    insert = (f"INSERT INTO deliveries (shop_id, {', '.join(_COLUMNS)}) "
              f"SELECT id, {values} FROM shops WHERE domain = {param_of('domain')} "
              f"AND platform = {param_of('platform')} "
              f"ON CONFLICT (shop_id, dedupe_key) DO NOTHING RETURNING id")
    exists = f"SELECT 1 FROM shops WHERE domain = {param_of('domain')} AND platform = {param_of('platform')}"
    return insert, exists


_VALUES = ("domain",) + _COLUMNS   # the order of a row's parameters in _insert_many


@lru_cache(maxsize=64)
def _insert_many(rows: int, pg: bool) -> str:
    """One INSERT of `rows` deliveries that resolves each one's shop by its key, skips those already
    stored, and returns (id, dedupe_key) of those it inserted. VALUES columns are column1…N in both
    SQLite and PostgreSQL; WHERE true keeps SQLite from reading ON CONFLICT as part of the join.
    PostgreSQL's form is written with the server's own $n placeholders for psycopg's RawCursor:
    with more than 50 parameters psycopg would otherwise parse the query text on every call."""
    width = len(_VALUES)
    if pg:
        row = lambda r: "(" + ", ".join(f"CAST(${r * width + i + 1} AS {_PG_TYPES[c]})"  # noqa: E731
                                        for i, c in enumerate(_VALUES)) + ")"
    else:
        row = lambda r: "(" + ", ".join("?" for _ in _VALUES) + ")"  # noqa: E731
    picked = ", ".join(f"v.column{i}" for i in range(2, len(_VALUES) + 1))
    return (f"INSERT INTO deliveries (shop_id, {', '.join(_COLUMNS)}) "
            f"SELECT s.id, {picked} FROM (VALUES {', '.join(row(r) for r in range(rows))}) AS v "
            f"JOIN shops s ON s.domain = v.column1 AND s.platform = v.column2 WHERE true "
            f"ON CONFLICT (shop_id, dedupe_key) DO NOTHING RETURNING id, dedupe_key")


@dataclass
class Stored:
    outcome: str          # STORED, DUPLICATE or UNKNOWN_SHOP
    delivery_id: int | None = None


class _Ticket:
    """One request's row on its way into a commit. `wake()` is called exactly once, so a plain
    lock taken at birth is the whole signal: `wait()` blocks on it until `wake()` releases it
    (a C-level hand-off; threading.Event builds a Condition in Python for every wait)."""

    __slots__ = ("params", "result", "error", "done", "_signal")

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.result: Stored | None = None
        self.error: BaseException | None = None
        self.done = False
        self._signal = _allocate_lock()
        self._signal.acquire()

    def wait(self) -> None:
        self._signal.acquire()

    def wake(self) -> None:
        self._signal.release()


class _Receiving:
    """The context of one webhook request in DeliveryStore.receiving (a class: it runs per request)."""

    __slots__ = ("_store",)

    def __init__(self, store: "DeliveryStore") -> None:
        self._store = store

    def __enter__(self) -> None:
        store = self._store
        with store._lock:
            store._in_flight += 1

    def __exit__(self, *exc: object) -> None:
        store = self._store
        with store._lock:
            store._in_flight -= 1
            store._wake_gatherer()


class DeliveryStore:
    """One per process (built in create_app)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sqlite = db.dialect == "sqlite"
        self._insert, self._exists = _sql(":{}" if self._sqlite else "%({})s")
        self._pending: list[_Ticket] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)   # a row was queued, or a request ended
        self._in_flight = 0
        self._gathering = False      # a committing thread waits on _arrived
        self._committing = False
        # Only the one committing thread writes, so one connection per process is enough; it
        # is kept between requests (a connection, not state) and replaced after any error.
        self._connection = None
        self._pid = 0

    def _wake_gatherer(self) -> None:
        """With _lock held: wake the committing thread in _gather once enough rows are queued
        (each wake of a sleeping thread is a system call and a GIL hand-off: only the useful one)."""
        if self._gathering and len(self._pending) >= self._in_flight * GATHER_SHARE:
            self._arrived.notify()

    def receiving(self) -> _Receiving:
        """Around each webhook request: the requests in flight are the rows a commit may wait for."""
        return _Receiving(self)

    def store(self, *, platform: str, domain: str, topic: str, delivery_id: str | None, dedupe_key: str | None,
              triggered_at: str | None, body: bytes, status: str, error: str | None = None) -> Stored:
        """Commit one verified delivery of the shop whose key is `domain`; returns what happened."""
        now = datetime.now(timezone.utc)
        # SQLAlchemy keeps SQLite datetimes as naive UTC text, "YYYY-MM-DD HH:MM:SS.ffffff"; match it.
        received = now.replace(tzinfo=None).isoformat(" ", "microseconds") if self._sqlite else now
        ticket = _Ticket(dict(platform=platform, domain=domain, topic=topic, delivery_id=delivery_id,
                              dedupe_key=dedupe_key, received_at=received, triggered_at=triggered_at,
                              body=body, status=status, error=error, attempts=0))
        with self._lock:
            self._pending.append(ticket)
            leads = not self._committing
            self._committing = True
            self._wake_gatherer()
        if not leads:
            ticket.wait()  # woken once: either its row is committed, or it is to commit
        if not ticket.done:
            self._lead()
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _lead(self) -> None:
        """Commit everything pending (this thread's row included), wake each thread whose row it
        committed, and hand the next commit to the first thread that arrived meanwhile: every
        waiting thread is woken exactly once.

        The batch is taken only once the write lock is held: on SQLite the lock is often busy with
        another process's commit, and the rows that arrive meanwhile ride along in this commit
        instead of waiting for the next one (fewer fsyncs per delivery, shorter waits). PostgreSQL
        has no such lock to wait on, so there the committing thread first waits up to
        GATHER_SECONDS until half (GATHER_SHARE) of the requests this process is serving have
        queued their rows: a commit costs the database far more than a row (a one-row commit took
        four times the CPU per row of an eight-row one), so under load a little patience pays. Not
        for all of them: the other half keep the process busy verifying while this batch is flushed
        and become the next batch. Waiting for every request left the process with nothing to do
        during each flush (15-17 % of the machine idle; with half, 12-16 % and about 10 % more
        requests/s, benchmarks/ingest.py). On SQLite the wait measured slower: the lock's wait
        gathers already."""
        batch: list[_Ticket] = []
        self._gather()
        try:
            with self._db.write_lock():
                with self._lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        except BaseException as exc:  # noqa: BLE001 - taking the write lock failed (_commit never raises)
            with self._lock:
                if not batch:
                    batch, self._pending = self._pending, []
            for ticket in batch:  # each request fails (500) and its platform retries it
                if not ticket.done:
                    ticket.error, ticket.result, ticket.done = exc, None, True
        finally:
            with self._lock:
                successor = self._pending[0] if self._pending else None
                self._committing = successor is not None
            for ticket in batch:
                ticket.wake()
            if successor is not None:  # woken while not done: it commits next
                successor.wake()

    def _gather(self) -> None:
        if self._sqlite:
            return
        deadline = time.monotonic() + GATHER_SECONDS
        with self._lock:
            self._gathering = True
            try:
                while len(self._pending) < self._in_flight * GATHER_SHARE:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    self._arrived.wait(left)
            finally:
                self._gathering = False

    def _connect(self):  # noqa: ANN202
        if self._connection is None or self._pid != os.getpid():
            self._connection = self._db.write_engine.raw_connection()
            self._pid = os.getpid()
            self._receiving_settings(self._connection, True)
        return self._connection

    def _receiving_settings(self, connection, on: bool) -> None:  # noqa: ANN001
        """Set (on) or undo (off, before the connection goes back to the pool) what the receivers'
        connection does differently from every other connection of the pool.

        SQLite: checkpointing the WAL into the database file is left to the applier's commits
        (SQLite's default, 1,000 pages), which follow these anyway: done here it stalled the very
        commit a webhook waits for. The larger limit only bounds the WAL should no applier run.
        Measured: −20 % CPU per request, about +10 % requests/s.
        PostgreSQL: autocommit. A batch written by one statement is its own transaction: no BEGIN
        and COMMIT round trips (a quarter of PostgreSQL's CPU per commit). psycopg returns from
        execute only at ReadyForQuery, after the commit is flushed (synchronous_commit)."""
        if self._sqlite:
            pages = RECEIVER_WAL_AUTOCHECKPOINT if on else SQLITE_WAL_AUTOCHECKPOINT
            connection.cursor().execute(f"PRAGMA wal_autocheckpoint={pages}")
        else:
            connection.driver_connection.autocommit = on

    def _discard(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
        self._connection = None

    def _commit(self, batch: list[_Ticket]) -> None:
        try:
            connection = self._connect()
            cursor = connection.cursor()
            keys = {ticket.params["dedupe_key"] for ticket in batch}
            together = len(batch) > 1 and None not in keys and len(keys) == len(batch)
            if self._sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            elif len(batch) > 1 and not together:   # several statements: one transaction
                cursor.execute("BEGIN")
            if together:
                self._insert_together(connection, cursor, batch)
            else:  # one row (the plain statement costs PostgreSQL about half the VALUES join), or
                # rows only their position tells apart (WooCommerce has no dedupe key)
                for ticket in batch:
                    self._insert_one(cursor, ticket)
            cursor.close()
            connection.commit()  # commits an open BEGIN (sqlite3 even with isolation_level None,
            # psycopg in autocommit mode); nothing to do after a single PostgreSQL statement
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            self._discard()
            for ticket in batch:
                ticket.error, ticket.result = exc, None
        finally:
            for ticket in batch:
                ticket.done = True

    def _insert_one(self, cursor, ticket: _Ticket) -> None:  # noqa: ANN001
        if self._sqlite:
            cursor.execute(self._insert, ticket.params)
        else:  # the same statement every time: let PostgreSQL parse and plan it once
            cursor.execute(self._insert, ticket.params, prepare=True)
        row = cursor.fetchone()
        self._settle(cursor, ticket, None if row is None else row[0])

    def _insert_together(self, connection, cursor, batch: list[_Ticket]) -> None:  # noqa: ANN001
        """The whole batch in one statement (one round trip on PostgreSQL); rows are told apart by
        their dedupe keys, which the caller made sure are present and distinct."""
        params = [ticket.params[name] for ticket in batch for name in _VALUES]
        if self._sqlite:
            cursor.execute(_insert_many(len(batch), False), params)
            rows = cursor.fetchall()
        else:
            with psycopg.RawCursor(connection.driver_connection) as raw:
                raw.execute(_insert_many(len(batch), True), params, prepare=True)
                rows = raw.fetchall()
        inserted = {key: delivery_id for delivery_id, key in rows}
        for ticket in batch:
            self._settle(cursor, ticket, inserted.get(ticket.params["dedupe_key"]))

    def _settle(self, cursor, ticket: _Ticket, delivery_id: int | None) -> None:  # noqa: ANN001
        """Stored with its id, or else a duplicate (its shop exists) or of an unknown shop."""
        if delivery_id is not None:
            ticket.result = Stored(STORED, delivery_id)
            return
        cursor.execute(self._exists, {"domain": ticket.params["domain"], "platform": ticket.params["platform"]})
        ticket.result = Stored(DUPLICATE if cursor.fetchone() else UNKNOWN_SHOP)

    def close(self) -> None:
        """Close the kept connection (the app is shutting down: no request is being stored)."""
        with self._lock:
            if self._connection is not None:
                self._receiving_settings(self._connection, False)  # back to the pool as it handed it out
                self._connection.close()
            self._connection = None


def shop_secret(db: Database, platform: str, domain: str) -> tuple[int, str | None] | None:
    """(shop id, webhook secret) of the shop whose key is `domain`, or None. The secret is stored
    sealed (plugin.sealed.SealedText) and opened here."""
    sqlite = db.dialect == "sqlite"
    sql = ("SELECT id, webhook_secret FROM shops WHERE domain = :domain AND platform = :platform" if sqlite else
           "SELECT id, webhook_secret FROM shops WHERE domain = %(domain)s AND platform = %(platform)s")
    connection = db.read_engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql, {"domain": domain, "platform": platform})
        row = cursor.fetchone()
        cursor.close()
        connection.rollback()
        return None if row is None else (row[0], open_sealed_text(row[1]) if row[1] else None)
    finally:
        connection.close()
