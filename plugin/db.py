"""Engines and sessions. Built in create_app (never at import) and kept on app.extensions.

SQLite: WAL mode, a busy timeout, and every write transaction opened with BEGIN IMMEDIATE, so a
writer waits for the lock up front instead of failing later with "database is locked" when it
upgrades a read lock (the classic SQLite deadlock of two deferred transactions). Reads use a
second engine with ordinary deferred transactions, which never block writers under WAL.
PostgreSQL: one engine through psycopg 3.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 60_000


@dataclass
class Database:
    write_engine: Engine
    read_engine: Engine
    write_sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self.write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.read_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.write_engine.dispose()
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
    if parsed.get_backend_name() == "sqlite":
        write = _sqlite_engine(url, immediate=True, synchronous=sqlite_synchronous)
        read = _sqlite_engine(url, immediate=False, synchronous=sqlite_synchronous)
    else:
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        write = read = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    return Database(
        write_engine=write,
        read_engine=read,
        write_sessions=sessionmaker(write, expire_on_commit=False),
        read_sessions=sessionmaker(read, expire_on_commit=False),
    )
