"""Merchant settlement: a local month's figures net of refunds, settled once, within reach."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from timebank import create_app
from timebank.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import AuditEvent, MerchantSettlement, Redemption, User
from timebank.services import merchants, settlements
from timebank.timeutil import today

MONTH = "2024-03"  # a leap February before it: its last local day is the 29th


def _user(person) -> User:
    return db.session.get(User, person.id)


def redeem_at(world, when: datetime, offer: str = "OA", *, member=None, till=None) -> int:
    """A redemption at the till, then dated `when` (UTC) as if it had happened then."""
    member = member or world.vol_a
    till = till or (world.merchant_b if offer == "OB" else world.merchant_a)
    code = merchants.issue_code(member=_user(member), ttl_seconds=300)
    made = merchants.redeem(actor=_user(till), code=code.code, offer_id=world.offers[offer])
    db.session.execute(update(Redemption).where(Redemption.id == made.id)
                       .values(created_at=when))
    db.session.commit()
    return made.id


@pytest.fixture
def funded(api, world, make):
    """vol_a with 100.00 points, a second offer at shop A (5.00)."""
    api.earn(world.vol_a, world.staff_a, length=10)
    world.offers["OA2"] = make.offer(world.merchants["MA"], "免费理发", "5.00")
    return world


def _count_settlements(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(MerchantSettlement.id)))


def test_figures_count_the_local_month_net_of_refunds_per_offer(app, funded):
    world = funded
    with app.app_context():
        # 00:30 on 1 March in Shanghai is still 29 February in UTC: it belongs to March.
        first = redeem_at(world, datetime(2024, 2, 29, 16, 30, tzinfo=UTC))
        # 23:59 on 29 February in Shanghai: February.
        redeem_at(world, datetime(2024, 2, 29, 15, 59, tzinfo=UTC))
        redeem_at(world, datetime(2024, 3, 10, 2, 0, tzinfo=UTC), "OA2")
        refunded = redeem_at(world, datetime(2024, 3, 15, 2, 0, tzinfo=UTC))
        # 23:59:59 on 31 March in Shanghai: March; a second later it is April.
        redeem_at(world, datetime(2024, 3, 31, 15, 59, 59, tzinfo=UTC))
        redeem_at(world, datetime(2024, 3, 31, 16, 0, 0, tzinfo=UTC))
        redeem_at(world, datetime(2024, 3, 12, 2, 0, tzinfo=UTC), "OB")  # another shop
        merchants.refund(refunded, actor=_user(world.merchant_a))

        march = settlements.month_statement(_user(world.staff_a), world.merchants["MA"], MONTH)
        assert (march.count, march.points_total_minor, march.refunded_count) == (3, 2500, 1)
        assert [(o.title, o.count, o.points_minor) for o in march.per_offer] == [
            ("八折优惠", 2, 2000), ("免费理发", 1, 500)]
        assert first in {r.id for r in db.session.scalars(
            settlements.redemptions_query(march))}
        assert len(list(settlements.lines(march))) == 4  # the refunded line is listed too
        feb = settlements.month_statement(_user(world.staff_a), world.merchants["MA"], "2024-02")
        april = settlements.month_statement(_user(world.staff_a), world.merchants["MA"],
                                            "2024-04")
        assert (feb.count, feb.points_total_minor) == (1, 1000)
        assert (april.count, april.points_total_minor) == (1, 1000)

        overview = settlements.month_overview(_user(world.admin), MONTH)
        by_id = {row.merchant.id: row for row in overview.rows}
        assert (by_id[world.merchants["MA"]].count,
                by_id[world.merchants["MA"]].points_total_minor) == (3, 2500)
        assert (by_id[world.merchants["MB"]].count,
                by_id[world.merchants["MB"]].points_total_minor) == (1, 1000)
        assert (overview.count, overview.points_total_minor, overview.settled) == (4, 3500, 0)


def test_settling_keeps_the_figures_and_is_audited_and_happens_once(app, funded):
    world = funded
    with app.app_context():
        redeem_at(world, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
        redeem_at(world, datetime(2024, 3, 6, 2, 0, tzinfo=UTC), "OA2")
        done = settlements.settle(_user(world.staff_a), world.merchants["MA"], MONTH,
                                  "  转账 2024-04-02  ")
        assert (done.redemption_count, done.points_total_minor) == (2, 1500)
        assert done.note == "转账 2024-04-02" and done.settled_by_id == world.staff_a.id
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "merchant_settlement.settle"))
        assert event.subject_id == done.id and event.actor_id == world.staff_a.id
        assert event.org_unit_id == world.units["A"]
        assert event.details["month"] == MONTH and event.details["points_total_minor"] == 1500

        with pytest.raises(InvalidTransition):
            settlements.settle(_user(world.admin), world.merchants["MA"], MONTH)
        db.session.rollback()
        again = db.session.scalars(select(MerchantSettlement)).all()
        assert len(again) == 1 and again[0].settled_by_id == world.staff_a.id
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "merchant_settlement.settle")) == 1


def test_a_refund_after_settlement_leaves_the_settlement_and_shows_the_difference(app, funded):
    world = funded
    with app.app_context():
        keep = redeem_at(world, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
        redeem_at(world, datetime(2024, 3, 6, 2, 0, tzinfo=UTC))
        settlements.settle(_user(world.staff_a), world.merchants["MA"], MONTH)
        merchants.refund(keep, actor=_user(world.staff_a))
        march = settlements.month_statement(_user(world.merchant_a), world.merchants["MA"],
                                            MONTH)
        assert (march.count, march.points_total_minor) == (1, 1000)
        assert (march.settlement.redemption_count,
                march.settlement.points_total_minor) == (2, 2000)
        assert march.differs
        row = next(r for r in settlements.month_overview(_user(world.staff_a), MONTH).rows
                   if r.merchant.id == world.merchants["MA"])
        assert row.differs and row.settlement is not None


def test_a_month_that_has_not_ended_cannot_be_settled(app, world):
    with app.app_context():
        this_month = today().strftime("%Y-%m")
        for month in (this_month, "2099-12"):
            with pytest.raises(ValidationFailed):
                settlements.settle(_user(world.staff_a), world.merchants["MA"], month)
            db.session.rollback()
        for junk in ("2024-13", "24-03", "2024-3", "", "1999-12", "2024-03-01", "２０２４-03"):
            with pytest.raises(ValidationFailed):
                settlements.settle(_user(world.staff_a), world.merchants["MA"], junk)
            db.session.rollback()
    assert _count_settlements(app) == 0


def test_only_staff_in_reach_see_and_settle(app, funded):
    world = funded
    with app.app_context():
        redeem_at(world, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
        for person, error in ((world.staff_b, NotFound), (world.merchant_a, Forbidden),
                              (world.vol_a, Forbidden)):
            with pytest.raises(error):
                settlements.settle(_user(person), world.merchants["MA"], MONTH)
            db.session.rollback()
        for person in (world.staff_b, world.merchant_b, world.vol_a):
            with pytest.raises(NotFound):
                settlements.month_statement(_user(person), world.merchants["MA"], MONTH)
        for huge in (0, -1, 2**31, 10**20):
            with pytest.raises(NotFound):
                settlements.month_statement(_user(world.admin), huge, MONTH)
        with pytest.raises(Forbidden):
            settlements.month_overview(_user(world.merchant_a), MONTH)
        seen_b = [r.merchant.id for r in settlements.month_overview(_user(world.staff_b),
                                                                    MONTH).rows]
        assert seen_b == [world.merchants["MB"]]
        seen_admin = {r.merchant.id for r in settlements.month_overview(_user(world.admin),
                                                                        MONTH).rows}
        assert seen_admin == {world.merchants["MA"], world.merchants["MB"]}
        own = settlements.month_statement(_user(world.merchant_a), world.merchants["MA"], MONTH)
        assert own.count == 1
    assert _count_settlements(app) == 0


def test_the_unique_constraint_keeps_one_settlement_when_both_pass_the_check(
        app, funded, monkeypatch):
    """Two settling at once both find no settlement; the database refuses the second."""
    world = funded
    monkeypatch.setattr(settlements, "_existing", lambda merchant_id, first: None)
    with app.app_context():
        redeem_at(world, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
        settlements.settle(_user(world.staff_a), world.merchants["MA"], MONTH)
        with pytest.raises(InvalidTransition):
            settlements.settle(_user(world.admin), world.merchants["MA"], MONTH, "again")
        db.session.rollback()
        rows = db.session.scalars(select(MerchantSettlement)).all()
        assert [(r.settled_by_id, r.note) for r in rows] == [(world.staff_a.id, "")]
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "merchant_settlement.settle")) == 1


@pytest.fixture
def wide_app(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "t",
                      "DB_POOL_SIZE": 12, "DB_MAX_OVERFLOW": 4})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_simultaneous_settles_make_one_settlement(wide_app, make, world):
    """Several staff press 'settle' at the same moment, each on their own connection."""
    with wide_app.app_context():
        from tests.factories import Api

        Api(wide_app.test_client()).earn(world.vol_a, world.staff_a, length=3)
        redeem_at(world, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
    people = [world.staff_a, world.admin] * 4
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(person):
        with wide_app.app_context():
            actor = _user(person)
            db.session.rollback()  # start the race from a fresh transaction
            barrier.wait()
            try:
                settlements.settle(actor, world.merchants["MA"], MONTH, f"by {person.username}")
                outcome = "settled"
            except InvalidTransition:
                db.session.rollback()
                outcome = "refused"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * (len(people) - 1) + ["settled"]
    with wide_app.app_context():
        rows = db.session.scalars(select(MerchantSettlement)).all()
        assert len(rows) == 1 and (rows[0].redemption_count, rows[0].points_total_minor) == (
            1, 1000)
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "merchant_settlement.settle")) == 1
