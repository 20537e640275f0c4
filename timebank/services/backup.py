"""A consistent copy of the SQLite database, taken while the app keeps serving.

SQLite's online backup API copies the pages of a live database; a write in the middle makes
it start over, so the copy is always one committed state. PostgreSQL is backed up with its
own tools (pg_dump / pg_restore, see the README).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from timebank.errors import DomainError, ValidationFailed
from timebank.extensions import db


class BackupNotPossible(DomainError):
    code = "backup_not_possible"
    status = 409
    title = _l("This database is not backed up this way")


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size_bytes: int
    pages: int


def backup_sqlite(target: str | os.PathLike) -> BackupReport:
    """Copy the app's SQLite database to `target` (a new file; never overwrites one)."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        raise BackupNotPossible(_("This is a PostgreSQL database: back it up with pg_dump."))
    path = Path(target).expanduser().resolve()
    if path.exists():
        raise ValidationFailed(_("%(path)s already exists; choose a new file name.",
                                 path=str(path)))
    if not path.parent.is_dir():
        raise ValidationFailed(_("The folder %(path)s does not exist.", path=str(path.parent)))
    # Written beside the target and renamed into place: a backup cut short by a crash or a
    # full disk never looks like a finished one.
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        raw = engine.raw_connection()
        try:
            with sqlite3.connect(partial) as copy:
                raw.driver_connection.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                (check,) = copy.execute("PRAGMA integrity_check").fetchone()
                (pages,) = copy.execute("PRAGMA page_count").fetchone()
            copy.close()
        finally:
            raw.close()
        if check != "ok":
            raise BackupNotPossible(_("The copy failed its integrity check: %(detail)s",
                                      detail=check))
        try:  # mkstemp made the file readable by its owner only: it holds personal data
            os.link(partial, path)  # unlike a rename, never replaces a file made meanwhile
        except FileExistsError as exc:
            raise ValidationFailed(_("%(path)s already exists; choose a new file name.",
                                     path=str(path))) from exc
    finally:
        Path(partial).unlink(missing_ok=True)
    return BackupReport(path=path, size_bytes=path.stat().st_size, pages=pages)
