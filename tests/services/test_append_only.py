"""The database itself refuses to rewrite the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from timebank.extensions import db


@pytest.fixture
def posted(api, world, app):
    api.earn(world.vol_a, world.staff_a)
    return app


@pytest.mark.parametrize("statement", [
    "UPDATE posting SET amount_minor = amount_minor + 100",
    "DELETE FROM posting",
    "UPDATE ledger_transaction SET memo = 'changed'",
    "DELETE FROM ledger_transaction",
])
def test_raw_update_or_delete_of_the_ledger_fails(posted, statement):
    with posted.app_context():
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
        assert db.session.scalar(text("SELECT COUNT(*) FROM posting")) == 2


@pytest.mark.postgresql_only
@pytest.mark.parametrize("table", ["posting", "ledger_transaction"])
def test_truncate_of_the_ledger_fails_on_postgresql(posted, table):
    with posted.app_context():
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(f"TRUNCATE {table} CASCADE"))
        db.session.rollback()


@pytest.mark.postgresql_only
def test_an_unbalanced_transaction_is_refused_at_commit_on_postgresql(posted):
    with posted.app_context():
        tx_id = db.session.scalar(text("SELECT MAX(id) FROM ledger_transaction"))
        account_id = db.session.scalar(text("SELECT MIN(id) FROM account"))
        db.session.execute(
            text("INSERT INTO posting (transaction_id, account_id, amount_minor, "
                 "balance_after_minor) VALUES (:t, :a, 1, 1)"),
            {"t": tx_id, "a": account_id},
        )
        with pytest.raises(DatabaseError, match="unbalanced"):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(text("SELECT COUNT(*) FROM posting")) == 2
