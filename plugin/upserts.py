"""Upserting many rows at once, the fast way for each database.

SQLite: one executemany of a cached INSERT … ON CONFLICT (its executemany is a C loop in-process).
PostgreSQL: one INSERT … SELECT FROM json_to_recordset(:rows) ON CONFLICT per call: a single
statement of constant text whatever the number of rows, its rows sent as one JSON document
(json.dumps is C; per-element array escaping in the driver was slower than the database's own
work), parsed and upserted by the server as one set instead of one execution per row.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_PG = postgresql.dialect()
_STATEMENTS: dict[tuple, Any] = {}


def upsert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
           add: Sequence[str] = ()) -> None:
    """Insert `rows` (dicts with the same columns); on a conflict on `keys`, columns in `add` are
    added to the stored value and the others replaced."""
    if not rows:
        return
    columns = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        session.execute(_sqlite_statement(table, tuple(columns), tuple(keys), tuple(add)), rows)
        return
    statement = _pg_statement(table, tuple(columns), tuple(keys), tuple(add))
    session.execute(statement, {"rows": json.dumps(rows, default=_json_value, separators=(",", ":"))})


def insert_new(session: Session, table: Table, keys: Sequence[str]) -> Any:  # noqa: ANN401
    """INSERT into `table` that leaves a row whose `keys` are stored already as it is (ON CONFLICT
    DO NOTHING), for the session's database; execute it with the rows (or add `.values`)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))


def _json_value(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()  # bytea's hex input form
    raise TypeError(f"cannot send {type(value).__name__} in an upsert")


def _sqlite_statement(table: Table, columns: tuple, keys: tuple, add: tuple):  # noqa: ANN202
    cached = _STATEMENTS.get(("sqlite", table.name, columns, keys, add))
    if cached is None:
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={
            c: (table.c[c] + stmt.excluded[c]) if c in add else stmt.excluded[c] for c in columns if c not in keys})
        cached = _STATEMENTS[("sqlite", table.name, columns, keys, add)] = stmt
    return cached


def _pg_statement(table: Table, columns: tuple, keys: tuple, add: tuple):  # noqa: ANN202
    cached = _STATEMENTS.get(("postgresql", table.name, columns, keys, add))
    if cached is None:
        record = ", ".join(f"{c} {table.c[c].type.compile(_PG)}" for c in columns)
        updates = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
                            for c in columns if c not in keys)
        cached = _STATEMENTS[("postgresql", table.name, columns, keys, add)] = text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} "
            f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}")
    return cached
