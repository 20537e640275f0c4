"""Database transaction helpers shared by the use cases."""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from timebank.extensions import db

_write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)
_commit_held: ContextVar[int] = ContextVar("commit_held", default=0)


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def begin_write() -> None:
    """Start the use case's write transaction.

    On SQLite this is `BEGIN IMMEDIATE`, taking the write lock before anything is read, so
    no read-then-write can interleave; a read transaction already open is ended first. On
    PostgreSQL row locks and conditional updates do the work, so nothing special happens.
    """
    if not is_sqlite():
        return
    session = db.session()
    if session.in_transaction():
        if _commit_held.get():
            return  # an outer unit of work already began the write transaction
        conn = session.connection()
        if conn.info.get("write"):
            return
        session.rollback()
    token = _write_intent.set(True)
    try:
        session.connection()
    finally:
        _write_intent.reset(token)


def commit() -> None:
    """Commit the use case, unless an outer unit of work holds the commit."""
    if _commit_held.get():
        db.session.flush()
        return
    db.session.commit()


@contextmanager
def held_commit():
    """Run several steps as one transaction; the use cases inside only flush."""
    begin_write()
    token = _commit_held.set(_commit_held.get() + 1)
    try:
        yield
    except BaseException:
        _commit_held.reset(token)
        db.session.rollback()
        raise
    _commit_held.reset(token)
    if not _commit_held.get():
        db.session.commit()


def close_sessions_quietly(app: Flask) -> None:
    """End each request's session before Flask-SQLAlchemy removes it, so that a connection the
    database dropped after the response was made (a restart, a crash) does not turn that
    response into a 500. Ending the transaction then fails only because the connection is
    gone, and with it the transaction: the server rolls back whatever it had not committed."""

    @app.teardown_appcontext
    def _close_session(_exc):  # runs before Flask-SQLAlchemy's, registered earlier
        try:
            db.session.close()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            app.logger.warning("database connection lost after the response: %s", error.orig)


def install_sqlite_pragmas(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout and explicit BEGIN for SQLite connections."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        write = _write_intent.get()
        conn.info["write"] = write
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_ONLY_READS = re.compile(r"\s*SELECT\b", re.IGNORECASE)


def keep_prepared_statements(engine: Engine) -> None:
    """End a PostgreSQL transaction that only read with COMMIT instead of ROLLBACK.

    psycopg forgets every prepared statement at a ROLLBACK (the transaction might have
    dropped what they refer to). A request that only reads ends in a rollback when its
    session closes, so no statement ever stayed prepared and PostgreSQL planned every query
    of every request again, about 0.3 ms for the token lookup alone. For a transaction that
    ran nothing but SELECTs, COMMIT leaves the database exactly as ROLLBACK would. Anything
    else (a write, a savepoint, a SET, a failed statement) still ends in a real rollback.
    The rule trusts that a SELECT does not write: the app runs no SELECT … INTO and calls no
    function that changes data (nextval and setval are outside transactions anyway).
    """
    dialect = engine.dialect
    rollback, commit = dialect.do_rollback, dialect.do_commit

    @event.listens_for(engine, "before_cursor_execute")
    def _note_changes(conn, _cursor, statement, _parameters, _context, _executemany):
        if not _ONLY_READS.match(statement):
            conn.info["changed"] = True

    @event.listens_for(engine, "handle_error")
    def _note_failure(context):
        if context.connection is not None and not context.connection.invalidated:
            context.connection.info["changed"] = True

    def do_rollback(dbapi_connection) -> None:
        info = _pooled_info(dbapi_connection)
        if info is None or info.get("changed"):
            rollback(dbapi_connection)
            if info is not None:  # only once the rollback is done: a failed one is retried
                info.pop("changed", None)
        else:
            commit(dbapi_connection)

    def do_commit(dbapi_connection) -> None:
        commit(dbapi_connection)
        info = _pooled_info(dbapi_connection)
        if info is not None:
            info.pop("changed", None)

    dialect.do_rollback = do_rollback
    dialect.do_commit = do_commit


def _pooled_info(dbapi_connection) -> dict | None:
    """The pool's per-connection dict; None for the engine's first, unpooled connection."""
    try:
        return dbapi_connection.info
    except (AttributeError, NotImplementedError):
        return None
