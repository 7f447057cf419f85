"""A fresh database for one benchmark run: an SQLite file in a temporary folder, or a new
PostgreSQL database that is dropped afterwards."""
from __future__ import annotations

import shutil
import tempfile
import uuid
from contextlib import contextmanager
from typing import Iterator

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(kind: str, label: str, pg_url: str = PG_URL) -> Iterator[str]:
    """The URL of an empty database of `kind` ("sqlite" or "postgres"), gone after the block."""
    if kind == "postgres":
        import psycopg

        name = f"kompas_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield pg_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        folder = tempfile.mkdtemp(prefix=f"kompas-{label}-")
        try:
            yield f"sqlite:///{folder}/{label}.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
