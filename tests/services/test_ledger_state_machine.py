"""Ledger invariants under any sequence of earn, redeem, refund and idempotent replays."""

from __future__ import annotations

import uuid
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)
from sqlalchemy import func, select

from tests.factories import Api
from timebank.extensions import db
from timebank.models import Account, LedgerTransaction, Posting
from timebank.services import ledger

RATE = Decimal("10.00")  # the world's "cleanup" category


def test_ledger_invariants_hold_for_any_sequence(app, world, make):
    api = Api(app.test_client())
    offers = {
        cost: make.offer(world.merchants["MA"], f"offer {cost}", cost)
        for cost in ("1.00", "10.00", "33.33")
    }
    members = [world.vol_a, world.vol_a2]
    clock = {"slot": 0}

    class Ledger(RuleBasedStateMachine):
        redemptions = Bundle("redemptions")
        keyed = Bundle("keyed")

        def __init__(self):
            super().__init__()
            # The database lives across examples: the model starts from what is there.
            self.expected = {m.id: Decimal(api.balance(m, world.admin)) for m in members}
            self.refunded: set[int] = set()

        def _slot(self) -> float:
            clock["slot"] += 1
            return 24.0 * clock["slot"] + 1  # hours ago: every record its own day

        @rule(member=st.sampled_from(members),
              quarters=st.integers(min_value=1, max_value=32))
        def earn(self, member, quarters):
            hours = Decimal(quarters) / 4
            api.earn(member, world.staff_a, ago=self._slot(), length=float(hours))
            self.expected[member.id] += hours * RATE

        @rule(target=redemptions, member=st.sampled_from(members),
              cost=st.sampled_from(sorted(offers)))
        def redeem(self, member, cost):
            resp = api.post("/api/v1/redemptions", world.merchant_a,
                            json={"code": api.code(member), "offer_id": offers[cost]})
            if self.expected[member.id] >= Decimal(cost):
                assert resp.status_code == 201, resp.get_json()
                self.expected[member.id] -= Decimal(cost)
                return (resp.get_json()["id"], member.id, Decimal(cost))
            assert resp.status_code == 422
            assert resp.get_json()["code"] == "insufficient_points"
            return multiple()

        @rule(entry=redemptions)
        def refund(self, entry):
            redemption_id, member_id, cost = entry
            resp = api.post(f"/api/v1/redemptions/{redemption_id}/refund", world.merchant_a)
            if redemption_id in self.refunded:
                assert resp.status_code == 409
                assert resp.get_json()["code"] == "invalid_transition"
            else:
                assert resp.status_code == 200, resp.get_json()
                self.refunded.add(redemption_id)
                self.expected[member_id] += cost

        @rule(target=keyed, member=st.sampled_from(members))
        def redeem_with_key(self, member):
            key = uuid.uuid4().hex
            body = {"code": api.code(member), "offer_id": offers["1.00"]}
            resp = api.post("/api/v1/redemptions", world.merchant_a, json=body,
                            headers={"Idempotency-Key": key})
            if resp.status_code == 201:
                self.expected[member.id] -= Decimal("1.00")
                return (key, body, resp.status_code, resp.get_data())
            assert resp.status_code == 422
            return multiple()

        @rule(entry=keyed)
        def replay_same(self, entry):
            key, body, status, data = entry
            before = dict(self.expected)
            resp = api.post("/api/v1/redemptions", world.merchant_a, json=body,
                            headers={"Idempotency-Key": key})
            assert resp.status_code == status
            assert resp.get_data() == data
            assert self.expected == before

        @rule(entry=consumes(keyed), member=st.sampled_from(members))
        def replay_different(self, entry, member):
            key, body, _status, _data = entry
            other = {"code": api.code(member), "offer_id": offers["10.00"]}
            resp = api.post("/api/v1/redemptions", world.merchant_a, json=other,
                            headers={"Idempotency-Key": key})
            assert resp.status_code == 409
            assert resp.get_json()["code"] == "idempotency_conflict"

        @invariant()
        def books_balance(self):
            with app.app_context():
                unbalanced = db.session.execute(
                    select(Posting.transaction_id)
                    .group_by(Posting.transaction_id)
                    .having(func.sum(Posting.amount_minor) != 0)
                ).all()
                assert unbalanced == []
                sums = dict(db.session.execute(
                    select(Posting.account_id, func.sum(Posting.amount_minor))
                    .group_by(Posting.account_id)
                ).all())
                for account_id, balance, allow_negative in db.session.execute(
                    select(Account.id, Account.balance_minor, Account.allow_negative)
                ):
                    assert balance == sums.get(account_id, 0)
                    assert allow_negative or balance >= 0
                assert db.session.scalar(select(func.count(LedgerTransaction.id))) == \
                    db.session.scalar(select(func.count(func.distinct(Posting.transaction_id))))

        @invariant()
        def balances_match_the_model(self):
            for member in members:
                assert Decimal(api.balance(member, world.admin)) == self.expected[member.id]

        def teardown(self):
            with app.app_context():
                report = ledger.verify()
                assert report.ok, report.problems

    Ledger.TestCase.settings = settings(
        max_examples=12, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Ledger.TestCase().runTest()
