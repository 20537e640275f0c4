"""Shared column types and helpers for the models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Store naive UTC, return aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class next_id(ColumnElement[int]):  # noqa: N801 - used like an SQL function
    """The id the next row of `table` will get, drawn before the row is written, so rows that
    point at each other can each be written once, complete.

    PostgreSQL draws it from the column's sequence (safe under concurrency; an unused draw is
    a gap, as after any rollback). On SQLite it is one more than the largest id, which is safe
    because a write transaction there holds the database's write lock from its start.
    """

    type = Integer()
    inherit_cache = True
    _traverse_internals = [("table", InternalTraversal.dp_clauseelement)]

    def __init__(self, table: Table):
        self.table = table


@compiles(next_id, "postgresql")
def _next_id_postgresql(element: next_id, compiler, **kw) -> str:
    name = compiler.preparer.format_table(element.table).replace("'", "''")
    return f"nextval(pg_get_serial_sequence('{name}', 'id'))"


@compiles(next_id, "sqlite")
def _next_id_sqlite(element: next_id, compiler, **kw) -> str:
    return f"(SELECT coalesce(max(id), 0) + 1 FROM {compiler.preparer.format_table(element.table)})"
