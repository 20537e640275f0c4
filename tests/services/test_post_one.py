"""`ledger.post_one`: one transaction under an id drawn beforehand, postings written first."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from tests.factories import Api
from timebank.errors import InsufficientPoints, NotFound
from timebank.extensions import db
from timebank.models import Account, LedgerTransaction, Posting
from timebank.services import ledger


def _draw_id() -> int:
    return db.session.execute(select(ledger.next_transaction_id())).scalar_one()


def _accounts(world):
    member = ledger.member_account(world.vol_a.id)
    shop = ledger.merchant_account(world.merchants["MA"])
    return member.id, shop.id


@pytest.fixture
def funded(app, world):
    """The world with 20.00 points on vol_a's account."""
    Api(app.test_client()).earn(world.vol_a, world.staff_a, ago=3, length=2)


def _balances(world) -> tuple[int, int]:
    return tuple(db.session.get(Account, acc_id).balance_minor for acc_id in _accounts(world))


def _post(kind: str, lines: tuple[tuple[int, int], ...], key: str, **kw) -> int:
    txn_id = _draw_id()
    ledger.post_one(kind, ledger.NewTransaction(lines=lines, key=key, **kw), actor=None,
                    transaction_id=txn_id)
    return txn_id


def _assert_verified() -> None:
    report = ledger.verify()
    assert report.ok, report.problems


@pytest.mark.usefixtures("funded")
def test_the_transaction_gets_the_drawn_id_and_the_postings_their_balances(app, world):
    with app.app_context():
        member, shop = _accounts(world)
        txn_id = _post("redemption", ((member, -750), (shop, 750)), "test:post-one", memo="tea")
        db.session.commit()

        txn = db.session.get(LedgerTransaction, txn_id)
        assert (txn.kind, txn.idempotency_key, txn.memo) == ("redemption", "test:post-one", "tea")
        rows = db.session.execute(
            select(Posting.account_id, Posting.amount_minor, Posting.balance_after_minor)
            .where(Posting.transaction_id == txn_id)).all()
        assert sorted(rows) == sorted([(member, -750, 1250), (shop, 750, 750)])
        assert _balances(world) == (1250, 750)
        _assert_verified()


@pytest.mark.usefixtures("funded")
def test_a_posting_whose_transaction_never_comes_is_refused_at_commit(app, world):
    with app.app_context():
        member, shop = _accounts(world)
        missing = _draw_id() + 1000
        # Balanced, so that only the reference to the transaction can refuse them.
        db.session.execute(Posting.__table__.insert(), [
            {"transaction_id": missing, "account_id": member, "amount_minor": -1,
             "balance_after_minor": 1999},
            {"transaction_id": missing, "account_id": shop, "amount_minor": 1,
             "balance_after_minor": 1}])
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert _balances(world) == (2000, 0)
        _assert_verified()


def _issuance_account() -> int:
    return db.session.scalar(select(Account.id).where(Account.kind == "issuance",
                                                      Account.allow_negative))


@pytest.mark.usefixtures("funded")
@pytest.mark.postgresql_only
def test_a_spend_that_waited_for_a_credit_counts_the_credit(app, world):
    """20.00 on the account, a credit of 10.00 in progress, a spend of 25.00 waiting for it:
    once the credit commits, the spend sees 30.00 and goes through."""
    credited, release = threading.Event(), threading.Event()

    def credit():
        with app.app_context():
            member, _shop = _accounts(world)
            _post("earn", ((_issuance_account(), -1000), (member, 1000)), "test:credit")
            credited.set()
            release.wait(30)
            db.session.commit()

    def spend():
        with app.app_context():
            member, shop = _accounts(world)
            _post("redemption", ((member, -2500), (shop, 2500)), "test:spend")
            db.session.commit()

    with ThreadPoolExecutor(max_workers=2) as pool:
        crediting = pool.submit(credit)
        assert credited.wait(30)
        spending = pool.submit(spend)
        with app.app_context():  # the spend is waiting for the credit's row lock
            for _ in range(3000):
                waiting = db.session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
                db.session.rollback()
                if waiting:
                    break
                time.sleep(0.01)
            assert waiting
        release.set()
        crediting.result(30)
        spending.result(30)

    with app.app_context():
        assert _balances(world) == (500, 2500)
        _assert_verified()


@pytest.mark.usefixtures("funded")
def test_too_few_points_refuses_and_the_rollback_keeps_every_balance(app, world):
    with app.app_context():
        member, shop = _accounts(world)
        with pytest.raises(InsufficientPoints):
            _post("redemption", ((member, -2001), (shop, 2001)), "test:too-much")
        db.session.rollback()
        assert _balances(world) == (2000, 0)
        assert db.session.scalar(select(LedgerTransaction.id).where(
            LedgerTransaction.idempotency_key == "test:too-much")) is None


def test_an_account_that_does_not_exist_is_not_found(app, world):
    with app.app_context():
        member, _shop = _accounts(world)
        with pytest.raises(NotFound):
            _post("redemption", ((member, 100), (member + 10_000, -100)), "test:nowhere")
        db.session.rollback()
