"""Engines and sessions. Built in create_app (never at import) and kept on app.extensions.

SQLite: WAL mode, a busy timeout, and every write transaction opened with BEGIN IMMEDIATE, so a
writer waits for the lock up front instead of failing later with "database is locked" when it
upgrades a read lock (the classic SQLite deadlock of two deferred transactions). Reads use a
second engine with ordinary deferred transactions, which never block writers under WAL.
PostgreSQL: one engine through psycopg 3.
"""
from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import ContextManager, Iterator

from sqlalchemy import (ColumnElement, Connection, Engine, LargeBinary, Text, cast, create_engine, event, func,
                        literal, text)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 60_000
ADVISORY_NAMESPACE = 0x4B4F  # "KO": keeps our advisory lock ids apart from other programs' locks
# `Database.exclusive`'s named locks, each its own advisory namespace (PostgreSQL takes two int4 keys)
EXCLUSIVE_NAMESPACES = {"shopify_token": 0x4B50,
                        # a WooCommerce store's connection: connect, disconnect and the resync's webhook repair
                        "woocommerce_connection": 0x4B57}
_ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:ns, :id)")


def advisory_xact_lock(executor: Session | Connection, namespace: int, key: int) -> None:
    """PostgreSQL: wait for the transaction-level advisory lock (namespace, key), held until the
    executor's transaction ends."""
    executor.execute(_ADVISORY_XACT_LOCK, {"ns": namespace, "id": int(key)})


def bytes_contain(session: Session, column: ColumnElement, needle: bytes, any_case: bool = False
                  ) -> ColumnElement[bool]:
    """`column` (bytes) contains `needle`, searched by the database (SQLite's instr, PostgreSQL's
    position on bytea), so that only the rows that can matter are read into Python. `any_case`:
    ASCII letters in any case (an e-mail address as a shopper typed it); the body is read as text
    for that (PostgreSQL: its escape encoding, which never fails on bytes that are not UTF-8)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if any_case:
        text_needle = needle.decode("utf-8", "replace").lower()
        body = func.lower(cast(column, Text) if sqlite else func.encode(column, "escape"))
        return (func.instr(body, text_needle) if sqlite else func.position(literal(text_needle).op("IN")(body))) > 0
    value = literal(needle, LargeBinary)
    if sqlite:
        return func.instr(column, value) > 0
    return func.position(value.op("IN")(column)) > 0


def lock_shop_writers(session: Session, shop_ids: list[int]) -> None:
    """Serialize writers of the same shops' states and counters until the transaction ends: every
    applier, and `kompas rebuild`, which rewrites them all.

    PostgreSQL: transaction-level advisory locks, taken in sorted order so two writers never
    wait on each other in a cycle. SQLite: nothing to do, it has one writer at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for shop_id in sorted(set(shop_ids)):
        advisory_xact_lock(session, ADVISORY_NAMESPACE, shop_id)


class SqliteWriteLock:
    """A fair, cross-process lock that every SQLite writer takes before BEGIN IMMEDIATE.

    SQLite's own busy handler makes waiting writers poll with sleeps of up to 100 ms, so under load
    a writer can wait a second for a lock that was free most of that time. flock(2) queues waiters
    in the kernel and wakes one the moment the lock is released. Re-entrant within a thread.
    """

    def __init__(self, database: str) -> None:
        self.database = database   # the SQLite file; the lock file is beside it
        self._path = database + ".writelock"
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                if self._fd is None or self._pid != os.getpid():  # a forked child needs its own
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                    self._pid = os.getpid()
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)


@dataclass
class Database:
    write_engine: Engine
    read_engine: Engine
    write_sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    sqlite_lock: SqliteWriteLock | None = field(default=None)
    # PostgreSQL: where `exclusive` waits, outside the shared pool (see there)
    lock_engine: Engine | None = field(default=None)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def write_lock(self) -> ContextManager[None]:
        """Held around every write transaction on SQLite; nothing on PostgreSQL."""
        return self.sqlite_lock.hold() if self.sqlite_lock else nullcontext()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self.write_lock(), self.write_sessions() as session, session.begin():
            yield session

    def lock_shops(self, session: Session, shop_ids: list[int]) -> None:
        """Serialize writers of the same shops' states and counters until the transaction ends
        (`lock_shop_writers`)."""
        lock_shop_writers(session, shop_ids)

    @contextmanager
    def exclusive(self, name: str, key: int) -> Iterator[None]:
        """Hold the lock `name` (one of EXCLUSIVE_NAMESPACES) for `key` across threads and processes,
        without holding a write transaction: for work that calls out (a token refresh) and must
        happen once at a time per key, while webhooks keep being written.

        PostgreSQL: a transaction-level advisory lock on a connection of its own (the transaction
        does nothing else), opened for it outside the shared pool (`lock_engine`): every thread
        that waits holds its connection while it waits, and waiters taking the pool's connections
        would leave none for the holder's own writes (a deadlock until the pool times out). SQLite: flock(2) on a file beside the database, one per name and key
        (SQLite runs on one machine, so a file lock reaches every process that writes it)."""
        namespace = EXCLUSIVE_NAMESPACES[name]
        if self.sqlite_lock is None:
            with (self.lock_engine or self.write_engine).connect() as conn, conn.begin():
                advisory_xact_lock(conn, namespace, key)
                yield
            return
        fd = os.open(f"{self.sqlite_lock.database}.{name}-{int(key)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)   # a lock per open file: threads of one process exclude each other too
            yield
        finally:
            os.close(fd)   # releases the lock

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.read_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.lock_engine is not None:
            self.lock_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _sqlite_engine(url: str, *, immediate: bool, synchronous: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False,
                                              "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (SQLAlchemy pysqlite recipe)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_database(url: str, *, sqlite_synchronous: str = "FULL") -> Database:
    """Engines and session factories for `url` (a SQLAlchemy URL)."""
    parsed = make_url(url)
    lock = lock_engine = None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("Kompas needs an SQLite file, not an in-memory database")
        write = _sqlite_engine(url, immediate=True, synchronous=sqlite_synchronous)
        read = _sqlite_engine(url, immediate=False, synchronous=sqlite_synchronous)
        lock = SqliteWriteLock(parsed.database)
    else:
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        # No server-side prepared statements: after five runs PostgreSQL would switch the
        # statements with long IN lists to a generic plan that filters every row of a shop.
        write = read = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                                     connect_args={"prepare_threshold": None})
        lock_engine = create_engine(url, poolclass=NullPool)   # a connection per wait: Database.exclusive
    return Database(
        write_engine=write,
        read_engine=read,
        write_sessions=sessionmaker(write, expire_on_commit=False),
        read_sessions=sessionmaker(read, expire_on_commit=False),
        sqlite_lock=lock,
        lock_engine=lock_engine,
    )
