"""On PostgreSQL a transaction that only read ends with COMMIT, keeping prepared statements;
anything that changed something still ends in a real rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from timebank.extensions import db
from timebank.models import OrgUnit, User

pytestmark = pytest.mark.postgresql_only

PREPARED_TOKEN_LOOKUPS = (
    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM api_token%'"
)


def test_reading_requests_keep_the_token_lookup_prepared(app, api, world):
    member = world.vol_a
    # psycopg prepares a statement on its sixth run on the same connection; before, the
    # rollback that ends every read threw the prepared statements away each time.
    for _ in range(6):
        assert api.balance(member) == "0.00"
    with app.app_context():
        assert db.session.scalar(text(PREPARED_TOKEN_LOOKUPS)) == 1
    assert api.balance(member) == "0.00"


def test_a_statement_that_wrote_is_still_rolled_back(app, world):
    with app.app_context():
        db.session.execute(text("UPDATE user_account SET display_name = 'changed'"))
        db.session.rollback()
    with app.app_context():
        assert "changed" not in set(db.session.scalars(select(User.display_name)))


def test_an_orm_insert_is_still_rolled_back(app, world):
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.id == world.vol_a.id))
        db.session.add(OrgUnit(kind="street", name="不该留下的街道", path="/ghost/"))
        db.session.flush()
        db.session.rollback()
    with app.app_context():
        assert db.session.scalar(
            select(OrgUnit.id).where(OrgUnit.name == "不该留下的街道")) is None


def test_reads_after_a_commit_keep_their_statements_prepared(app, world):
    with app.app_context():
        db.session.execute(text("UPDATE user_account SET display_name = display_name"))
        db.session.commit()
        for _ in range(6):
            db.session.scalar(select(User.display_name).where(User.id == world.vol_a.id))
            db.session.rollback()
        prepared = db.session.scalar(text(
            "SELECT count(*) FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT user_account.display_name%'"))
        assert prepared == 1


def test_a_failed_statement_rolls_back_what_came_before_it(app, world):
    with app.app_context():
        db.session.execute(text("UPDATE user_account SET display_name = 'changed'"))
        taken = db.session.get(User, world.vol_a.id).username
        with pytest.raises(IntegrityError):
            db.session.add(User(username=taken, password_hash="x", display_name="重复",
                                org_unit_id=world.units["A1"]))
            db.session.flush()
        db.session.rollback()
        # The connection is usable again and reads end as reads.
        assert db.session.scalar(select(User.display_name).where(
            User.id == world.vol_a.id)) == "张小三"
        db.session.rollback()
    with app.app_context():
        assert "changed" not in set(db.session.scalars(select(User.display_name)))
