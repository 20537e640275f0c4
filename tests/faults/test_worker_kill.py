"""A gunicorn worker killed with SIGKILL in the middle of a storm of redemptions: what was
acknowledged stays, what was cut left nothing behind, and the ledger verifies."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.factories import Api
from tests.faults.till import (
    Round,
    assert_acknowledged_kept,
    assert_nothing_half_done,
    assert_round_left_nothing,
    till_round,
)
from tests.live_server import wait_until
from timebank.extensions import db

pytestmark = pytest.mark.postgresql_only

MEMBERS = 8
ROUNDS = 12  # per member, at 1.00 each: the 20.00 points each member earns cover them all
KILL_AFTER = 20  # acknowledged redemptions before the kill


def _waiting_for_locks(dbname: str) -> int:
    return db.session.execute(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
        "AND wait_event_type = 'Lock'"), {"db": dbname}).scalar_one()


def _replaced(server, victim: int) -> set[int] | None:
    """The workers once the master has replaced `victim`, else None."""
    pids = server.worker_pids()
    return pids if victim not in pids and len(pids) == 2 else None


def test_a_worker_killed_mid_redemption_loses_nothing_acknowledged(
        app, make, world, server, database_url):
    api = Api(app.test_client())
    members = [make.user(["volunteer"], world.units["A1"], display_name=f"会员{n}")
               for n in range(MEMBERS)]
    for member in members:
        api.earn(member, world.staff_a, ago=3, length=2)  # 20.00 points
    offer = make.offer(world.merchants["MA"], "一元券", "1.00")
    merchant = world.merchant_a

    rounds: list[Round] = []
    lock = threading.Lock()

    def shopper(member):
        for n in range(ROUNDS):
            attempt = till_round(server.base, member, merchant, offer, f"till-{member.id}-{n}")
            with lock:
                rounds.append(attempt)
            if attempt.cut:
                return  # the till stops and tries this one again later

    def acknowledged() -> int:
        with lock:
            return sum(r.acknowledged for r in rounds)

    dbname = make_url(database_url).database
    with app.app_context(), ThreadPoolExecutor(max_workers=MEMBERS) as pool:
        storm = [pool.submit(shopper, member) for member in members]
        wait_until(lambda: acknowledged() >= KILL_AFTER, seconds=60,
                   what=f"{KILL_AFTER} redemptions acknowledged")

        # Hold the ledger's chain head: every redemption stops inside its transaction, after
        # taking the code, writing the redemption and changing the balances. Once both
        # workers wait there, one of them is killed in the middle of its transaction.
        head = db.engine.connect()
        head.execute(text("SELECT last_seq FROM ledger_head WHERE id = 1 FOR UPDATE"))
        try:
            wait_until(lambda: _waiting_for_locks(dbname) == 2, seconds=30,
                       what="both workers inside a redemption")
            db.session.rollback()
            workers = server.worker_pids()
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            replaced = wait_until(lambda: _replaced(server, victim), seconds=30,
                                  what="the worker replaced")
        finally:
            head.rollback()
            head.close()
        for shopping in storm:
            shopping.result(timeout=120)

    assert replaced - workers, "the master started a new worker"
    assert len(rounds) > KILL_AFTER
    assert [r for r in rounds if r.status == 500] == []
    cut = [r for r in rounds if r.cut]
    # The killed worker had one request: a redemption, which got no answer.
    assert len(cut) == 1, cut
    assert cut[0].stage == "redeem" and cut[0].error is not None
    assert all(r.acknowledged for r in rounds if not r.cut), \
        [r for r in rounds if not r.cut and not r.acknowledged]

    with app.app_context():
        assert_nothing_half_done()
        assert_round_left_nothing(cut[0], merchant)

    # The till tries the cut round again, with the same code and key: it goes through once.
    retried = [till_round(server.base, next(m for m in members if m.id == r.member_id),
                          merchant, offer, r.key, code=r.code) for r in cut]
    assert [r.status for r in retried] == [201] * len(cut)
    rounds = [r for r in rounds if not r.cut] + retried
    assert server.healthz() == 200

    with app.app_context():
        assert_acknowledged_kept(rounds)
        assert_nothing_half_done()
        for member in members:
            spent = sum(r.acknowledged for r in rounds if r.member_id == member.id)
            assert api.balance(member) == f"{20 - spent}.00"
