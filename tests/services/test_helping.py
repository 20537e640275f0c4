"""The time bank: held offers, claiming under a race, completion into records, family, transfers."""

from __future__ import annotations

import inspect
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from timebank import create_app
from timebank.errors import (
    AlreadyClaimed,
    AlreadyExists,
    DomainError,
    Forbidden,
    InsufficientPoints,
    InvalidTransition,
    NotFound,
    TransferNotAllowed,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import (
    Account,
    AuditEvent,
    FamilyLink,
    HelpRequest,
    LedgerTransaction,
    ServiceRecord,
    Transfer,
    User,
)
from timebank.models.base import utcnow
from timebank.services import helping, ledger, org, records, tx

# Until records.py calls the hooks itself, the tests call them in the same unit of work.
RECORDS_PAY_HELPERS = "helping.settle_for_record" in inspect.getsource(records)
RECORDS_RETURN_HELD = "helping.return_for_record" in inspect.getsource(records)
_day = itertools.count(1)


def _user(person) -> User:
    return db.session.get(User, person.id)


def _balance(person) -> int:
    return db.session.scalar(select(Account.balance_minor).where(Account.user_id == person.id))


def _hold_balance(unit_id: int) -> int | None:
    return db.session.scalar(select(Account.balance_minor)
                             .where(Account.key == f"hold:{unit_id}"))


def _earn(member, staff, hours: int = 2) -> None:
    """Approved hours for the member on a day of its own: hours × 10.00 points."""
    end = utcnow() - timedelta(days=next(_day), hours=1)
    record = records.log_hours(actor=_user(staff), member_id=member.id, category="cleanup",
                               started_at=end - timedelta(hours=hours), ended_at=end,
                               place="社区广场", description="清理垃圾")
    records.approve(record.id, reviewer=_user(staff))


def _approve(record_id: int, staff) -> None:
    with tx.held_commit():
        records.approve(record_id, reviewer=_user(staff))
        if not RECORDS_PAY_HELPERS:
            helping.settle_for_record(db.session.get(ServiceRecord, record_id),
                                      actor=_user(staff))


def _reject(record_id: int, staff) -> None:
    with tx.held_commit():
        records.reject(record_id, reviewer=_user(staff), reason="没有完成")
        if not RECORDS_RETURN_HELD:
            helping.return_for_record(db.session.get(ServiceRecord, record_id),
                                      actor=_user(staff))


def _refused(exc_type, call, *args, **kwargs):
    """The call fails with the error, and the surface rolls back as the API and web do."""
    with pytest.raises(exc_type) as info:
        call(*args, **kwargs)
    db.session.rollback()
    return info.value


def _post(world, actor, *, offer: int = 500, beneficiary=None, unit: str = "A1",
          needed_in: timedelta = timedelta(hours=-3)) -> HelpRequest:
    return helping.post_request(
        actor=_user(actor), title="陪同就医", description="周三上午去社区医院",
        category="cleanup", org_unit_id=world.units[unit], needed_at=utcnow() + needed_in,
        offered_points_minor=offer,
        beneficiary_id=beneficiary.id if beneficiary is not None else None)


@pytest.fixture
def elder(make, world):
    return make.user(["volunteer"], world.units["A1"], username="elder", display_name="王奶奶")


@pytest.fixture
def ctx(app, world, elder):
    with app.app_context():
        yield


def _kinds() -> list[str]:
    return list(db.session.scalars(select(LedgerTransaction.kind)
                                   .order_by(LedgerTransaction.seq)))


# --- requests for help ---------------------------------------------------------------------


def test_posting_holds_the_offer_at_once_and_too_few_points_save_nothing(ctx, world, elder):
    _earn(elder, world.staff_a)
    request = _post(world, elder, offer=500)
    assert request.status == "open" and request.hold_transaction_id is not None
    assert _balance(elder) == 1500
    assert _hold_balance(world.units["A"]) == 500
    hold = db.session.scalar(select(Account).where(Account.key == f"hold:{world.units['A']}"))
    assert (hold.kind, hold.org_unit_id, hold.allow_negative) == ("hold", world.units["A"], False)

    _refused(InsufficientPoints, _post, world, elder, offer=1501)
    assert db.session.scalar(select(func.count(HelpRequest.id))) == 1
    assert _balance(elder) == 1500 and _hold_balance(world.units["A"]) == 500
    # a second offer in the community uses the same hold account
    _post(world, elder, offer=1000)
    assert _hold_balance(world.units["A"]) == 1500
    assert db.session.scalar(select(func.count(Account.id)).where(Account.kind == "hold")) == 1
    assert _kinds() == ["earn", "help_hold", "help_hold"]
    assert ledger.verify().ok


def test_a_request_without_an_offer_moves_no_points(ctx, world, elder):
    request = _post(world, elder, offer=0)
    assert request.hold_transaction_id is None
    assert _kinds() == []


def test_who_may_post_and_where(ctx, world, elder):
    error = _refused(ValidationFailed, _post, world, elder, unit="B1")
    assert "org_unit_id" in error.errors
    _refused(Forbidden, _post, world, world.staff_b, beneficiary=elder)
    _refused(Forbidden, _post, world, world.vol_a, beneficiary=elder)
    _refused(Forbidden, _post, world, world.staff_a)  # staff are not members themselves
    error = _refused(ValidationFailed, _post, world, elder, offer=-1,
                     needed_in=timedelta(days=-30))
    assert set(error.errors) == {"offered_points", "needed_at"}
    assert db.session.scalar(select(func.count(HelpRequest.id))) == 0


def test_claim_rules_the_beneficiary_others_and_a_second_volunteer(ctx, world, elder):
    request_id = _post(world, elder, offer=0).id
    _refused(Forbidden, helping.claim, request_id, volunteer=_user(elder))
    _refused(NotFound, helping.claim, request_id, volunteer=_user(world.vol_b))
    _refused(Forbidden, helping.claim, request_id, volunteer=_user(world.staff_a))
    claimed = helping.claim(request_id, volunteer=_user(world.vol_a))
    assert (claimed.status, claimed.helper_id) == ("claimed", world.vol_a.id)
    error = _refused(AlreadyClaimed, helping.claim, request_id, volunteer=_user(world.vol_a2))
    assert (error.code, error.status) == ("already_claimed", 409)


def test_the_helper_may_give_a_request_back_for_another_to_take(ctx, world, elder):
    request_id = _post(world, elder, offer=0).id
    helping.claim(request_id, volunteer=_user(world.vol_a))
    _refused(Forbidden, helping.release, request_id, actor=_user(world.vol_a2))
    released = helping.release(request_id, actor=_user(world.vol_a))
    assert (released.status, released.helper_id) == ("open", None)
    assert helping.claim(request_id, volunteer=_user(world.vol_a2)).helper_id == world.vol_a2.id


def test_complete_makes_a_pending_record_and_approval_pays_the_helper_from_the_hold(
        ctx, world, elder):
    _earn(elder, world.staff_a)
    request = _post(world, elder, offer=500)
    request_id, needed_at = request.id, request.needed_at
    helping.claim(request_id, volunteer=_user(world.vol_a))
    done = helping.complete(request_id, actor=_user(elder), rating=5, comment="很耐心")
    assert (done.status, done.rating, done.comment) == ("completed", 5, "很耐心")
    assert done.completed_by_id == elder.id
    record = db.session.get(ServiceRecord, done.service_record_id)
    assert (record.member_id, record.status, record.title) == (world.vol_a.id, "pending",
                                                                "陪同就医")
    assert record.org_unit_id == world.units["A1"] and record.place == "第一网格"
    assert record.category.code == "cleanup" and record.hours_minor == 100
    assert (record.started_at, record.ended_at) == (needed_at, needed_at + timedelta(hours=1))
    assert _balance(world.vol_a) == 0 and _hold_balance(world.units["A"]) == 500
    _refused(InvalidTransition, helping.complete, request_id, actor=_user(elder), rating=4)

    _approve(record.id, world.staff_a)
    assert _balance(world.vol_a) == 1000 + 500  # 1 h × 10.00 earned, plus the offer
    assert _balance(elder) == 1500 and _hold_balance(world.units["A"]) == 0
    assert _kinds() == ["earn", "help_hold", "earn", "help_pay"]
    pay = db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.kind == "help_pay"))
    assert pay.idempotency_key == f"help_pay:{request_id}" and pay.actor_id == world.staff_a.id
    assert db.session.get(HelpRequest, request_id).settle_transaction_id == pay.id
    # paying twice is harmless: the hook finds nothing left to pay
    assert helping.settle_for_record(db.session.get(ServiceRecord, record.id)) is None
    report = ledger.verify()
    assert report.ok, report.problems


@pytest.mark.postgresql_only
def test_approving_a_helpers_record_locks_its_accounts_before_the_ledger_head(
        app, ctx, world, elder):
    """The approval also pays the helper from the hold account. Another writer holding the
    hold account (and about to take the ledger's head) must find the head free: were the
    approval to take the head first and then wait for the hold account, the two would
    deadlock and PostgreSQL would fail one of them."""
    _earn(elder, world.staff_a)
    request = _post(world, elder, offer=500)
    helping.claim(request.id, volunteer=_user(world.vol_a))
    record_id = helping.complete(request.id, actor=_user(elder), rating=5).service_record_id
    hold_id = db.session.scalar(select(Account.id)
                                .where(Account.key == f"hold:{world.units['A']}"))
    db.session.commit()

    other = db.engine.connect()  # the other writer: holds the hold account
    other.begin()
    other.execute(select(Account.id).where(Account.id == hold_id).with_for_update())

    def approve():
        with app.app_context():
            _approve(record_id, world.staff_a)

    with ThreadPoolExecutor(max_workers=1) as pool:
        approving = pool.submit(approve)
        for _ in range(3000):  # until the approval waits for the hold account's lock
            waiting = db.session.scalar(select(func.count()).select_from(
                db.text("pg_locks")).where(db.text("NOT granted")))
            db.session.rollback()
            if waiting or approving.done():
                break
            time.sleep(0.01)
        assert waiting, "the approval should wait for the hold account"
        head = other.execute(db.text(  # the head is free: no deadlock is possible
            "SELECT last_seq FROM ledger_head WHERE id = 1 FOR UPDATE NOWAIT")).scalar()
        assert head is not None
        other.rollback()
        other.close()
        approving.result(30)

    assert _balance(world.vol_a) == 1000 + 500
    assert _hold_balance(world.units["A"]) == 0
    assert ledger.verify().ok


def test_rejecting_the_helpers_record_returns_the_points(ctx, world, elder):
    _earn(elder, world.staff_a)
    request_id = _post(world, elder, offer=500).id
    helping.claim(request_id, volunteer=_user(world.vol_a))
    record_id = helping.complete(request_id, actor=_user(elder), rating=2).service_record_id
    _reject(record_id, world.staff_a)
    assert _balance(elder) == 2000 and _balance(world.vol_a) == 0
    assert _hold_balance(world.units["A"]) == 0
    assert _kinds()[-1] == "help_return"
    assert ledger.verify().ok


def test_cancel_returns_the_held_points_and_only_while_open_or_claimed(ctx, world, elder):
    _earn(elder, world.staff_a)
    open_id = _post(world, elder, offer=500).id
    claimed_id = _post(world, elder, offer=700).id
    assert _balance(elder) == 800
    helping.claim(claimed_id, volunteer=_user(world.vol_a))
    _refused(Forbidden, helping.cancel, claimed_id, actor=_user(world.vol_a))  # the helper
    _refused(Forbidden, helping.cancel, claimed_id, actor=_user(world.vol_a2))
    assert helping.cancel(open_id, actor=_user(elder)).status == "cancelled"
    assert helping.cancel(claimed_id, actor=_user(world.staff_a)).status == "cancelled"
    assert _balance(elder) == 2000 and _hold_balance(world.units["A"]) == 0
    _refused(InvalidTransition, helping.cancel, open_id, actor=_user(elder))
    _refused(InvalidTransition, helping.claim, open_id, volunteer=_user(world.vol_a))
    _refused(InvalidTransition, helping.complete, claimed_id, actor=_user(elder), rating=5)
    assert _kinds() == ["earn", "help_hold", "help_hold", "help_return", "help_return"]
    assert ledger.verify().ok


def test_staff_acting_for_an_elder_leave_both_names_in_the_audit_trail(ctx, world, elder):
    _earn(elder, world.staff_a)
    request = _post(world, world.staff_a, offer=300, beneficiary=elder)
    request_id = request.id
    assert request.beneficiary_id == elder.id and request.created_by_id == world.staff_a.id
    assert _balance(elder) == 1700  # held from the elder, not from the staff member
    helping.claim(request_id, volunteer=_user(world.vol_a))
    helping.complete(request_id, actor=_user(world.staff_a), rating=4)
    _refused(NotFound, helping.complete, _post(world, elder, offer=0).id,
             actor=_user(world.staff_b), rating=4)
    events = {e.action: e for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "help_request",
                                 AuditEvent.subject_id == request_id))}
    for action in ("help_request.post", "help_request.complete"):
        assert events[action].actor_id == world.staff_a.id
        assert events[action].on_behalf_of_id == elder.id
    assert events["help_request.claim"].on_behalf_of_id is None


def test_completion_rules_rating_span_and_the_helper_himself(ctx, world, elder):
    request_id = _post(world, elder, offer=0, needed_in=timedelta(hours=2)).id
    helping.claim(request_id, volunteer=_user(world.vol_a))
    _refused(Forbidden, helping.complete, request_id, actor=_user(world.vol_a), rating=5)
    for bad in (0, 6, True, "5"):
        error = _refused(ValidationFailed, helping.complete, request_id, actor=_user(elder),
                         rating=bad)
        assert "rating" in error.errors
    now = utcnow()
    _refused(ValidationFailed, helping.complete, request_id, actor=_user(elder), rating=5,
             started_at=now, ended_at=now + timedelta(hours=2))
    _refused(ValidationFailed, helping.complete, request_id, actor=_user(elder), rating=5,
             started_at=now - timedelta(hours=1))
    start = now - timedelta(hours=3)
    done = helping.complete(request_id, actor=_user(elder), rating=5, started_at=start,
                            ended_at=start + timedelta(minutes=90))
    assert db.session.get(ServiceRecord, done.service_record_id).hours_minor == 150


def test_confirming_before_the_needed_hour_counts_the_hour_ending_now(ctx, world, elder):
    request_id = _post(world, elder, offer=0, needed_in=timedelta(days=1)).id
    helping.claim(request_id, volunteer=_user(world.vol_a))
    done = helping.complete(request_id, actor=_user(elder), rating=5)
    record = db.session.get(ServiceRecord, done.service_record_id)
    assert record.hours_minor == 100 and record.ended_at <= utcnow()


@pytest.mark.parametrize(("current", "target"), [
    (c, t) for c in ("open", "claimed", "completed", "cancelled")
    for t in ("open", "claimed", "completed", "cancelled") if c != t])
def test_the_request_transition_table(current, target):
    allowed = (current, target) in {("open", "claimed"), ("open", "cancelled"),
                                    ("claimed", "open"), ("claimed", "cancelled"),
                                    ("claimed", "completed")}
    if allowed:
        helping.check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition):
            helping.check_transition(current, target)


@pytest.fixture
def wide_app(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "t",
                      "DB_POOL_SIZE": 10, "DB_MAX_OVERFLOW": 5})
    yield app
    with app.app_context():
        db.engine.dispose()


def _at_once(app, calls):
    """Run every call at the same moment, each thread with its own session and connection."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        with app.app_context():
            barrier.wait()
            try:
                call()
            except DomainError as err:
                db.session.rollback()
                return err.code
            return "ok"

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_volunteers_claiming_at_once_exactly_one_wins(wide_app, make, world, elder):
    volunteers = [make.user(["volunteer"], world.units["A1"]) for _ in range(5)]
    with wide_app.app_context():
        request_id = _post(world, elder, offer=0).id

    def claim_as(person):
        return lambda: helping.claim(request_id, volunteer=_user(person))

    outcomes = _at_once(wide_app, [claim_as(v) for v in volunteers])
    assert sorted(outcomes) == ["already_claimed"] * 4 + ["ok"]
    winner = volunteers[outcomes.index("ok")]
    with wide_app.app_context():
        request = db.session.get(HelpRequest, request_id)
        assert (request.status, request.helper_id) == ("claimed", winner.id)
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "help_request.claim")) == 1


# --- family links --------------------------------------------------------------------------


def test_family_links_are_stored_in_order_confirmed_by_staff_in_reach_and_revoked(ctx, world):
    high, low = sorted((world.vol_a.id, world.vol_a2.id), reverse=True)
    link = helping.request_link(actor=db.session.get(User, high), member_id=high,
                                relative_id=low, relation="子女")
    assert (link.member_id, link.relative_id, link.status) == (low, high, "pending")
    link_id = link.id
    _refused(AlreadyExists, helping.request_link, actor=_user(world.vol_a),
             member_id=world.vol_a.id, relative_id=world.vol_a2.id, relation="配偶")
    _refused(Forbidden, helping.request_link, actor=_user(world.vol_b),
             member_id=world.vol_a.id, relative_id=world.vol_a2.id, relation="配偶")
    _refused(ValidationFailed, helping.request_link, actor=_user(world.vol_a),
             member_id=world.vol_a.id, relative_id=world.merchant_a.id, relation="子女")
    _refused(Forbidden, helping.confirm_link, link_id, staff=_user(world.staff_b))
    _refused(Forbidden, helping.confirm_link, link_id, staff=_user(world.vol_a))
    assert not helping.is_family(world.vol_a.id, world.vol_a2.id)
    confirmed = helping.confirm_link(link_id, staff=_user(world.staff_a))
    assert (confirmed.status, confirmed.confirmed_by_id) == ("confirmed", world.staff_a.id)
    assert helping.is_family(world.vol_a2.id, world.vol_a.id)
    _refused(InvalidTransition, helping.confirm_link, link_id, staff=_user(world.staff_a))
    assert helping.revoke_link(link_id, actor=_user(world.vol_a2)).status == "revoked"
    assert not helping.is_family(world.vol_a.id, world.vol_a2.id)
    again = helping.request_link(actor=_user(world.staff_a), member_id=world.vol_a.id,
                                 relative_id=world.vol_a2.id, relation="子女")
    assert (again.id, again.status) == (link_id, "pending")
    assert db.session.scalar(select(func.count(FamilyLink.id))) == 1


def test_a_link_across_communities_needs_staff_reaching_both(ctx, world):
    link_id = helping.request_link(actor=_user(world.vol_a), member_id=world.vol_a.id,
                                   relative_id=world.vol_b.id, relation="兄妹").id
    _refused(Forbidden, helping.confirm_link, link_id, staff=_user(world.staff_a))
    assert helping.confirm_link(link_id, staff=_user(world.admin)).status == "confirmed"


# --- transfer policy and transfers ---------------------------------------------------------


def _policy(world, unit: str, mode: str, per: int = 10000, monthly: int = 30000,
            actor=None):
    return helping.set_policy(actor=_user(actor or world.staff_a),
                              org_unit_id=world.units[unit], mode=mode,
                              per_transfer_limit_minor=per, monthly_limit_minor=monthly)


def _give(sender, receiver, amount: int, *, actor=None, memo: str = ""):
    return helping.transfer(actor=_user(actor or sender), to_member_id=receiver.id,
                            amount_minor=amount, memo=memo,
                            from_member_id=sender.id if actor is not None else None)


def test_policy_is_inherited_from_the_nearest_unit_and_set_only_by_staff_in_reach(ctx, world):
    grid_a = org.get_unit(world.units["A1"])
    assert helping.policy_for(grid_a) == helping.DEFAULT_POLICY
    assert helping.policy_for(grid_a).mode == "off"
    _policy(world, "street", "any", actor=world.admin)
    assert helping.policy_for(grid_a).org_unit_id == world.units["street"]
    _policy(world, "A", "family", per=500, monthly=1000)
    found = helping.policy_for(grid_a)
    assert (found.mode, found.per_transfer_limit_minor, found.monthly_limit_minor,
            found.org_unit_id) == ("family", 500, 1000, world.units["A"])
    assert helping.policy_for(org.get_unit(world.units["B1"])).mode == "any"
    _policy(world, "A", "off")  # changing it again updates the one row
    assert helping.policy_for(grid_a).mode == "off"

    _refused(Forbidden, _policy, world, "A", "any", actor=world.vol_a)
    _refused(Forbidden, _policy, world, "B", "any", actor=world.staff_a)
    _refused(Forbidden, _policy, world, "street", "any", actor=world.staff_a)
    for unit, mode, per, monthly, field in (("A1", "any", 100, 100, "org_unit_id"),
                                            ("A", "everyone", 100, 100, "mode"),
                                            ("A", "any", 0, 100, "per_transfer_limit"),
                                            ("A", "any", 200, 100, "per_transfer_limit")):
        error = _refused(ValidationFailed, _policy, world, unit, mode, per, monthly)
        assert field in error.errors
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "points_policy.set")
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event.actor_id == world.staff_a.id and event.details["transfer_mode"] == "off"


def test_transfers_are_refused_while_the_policy_is_off(ctx, world):
    _earn(world.vol_a, world.staff_a)
    error = _refused(TransferNotAllowed, _give, world.vol_a, world.vol_a2, 100)
    assert (error.code, error.status) == ("transfer_not_allowed", 403)
    assert _balance(world.vol_a) == 2000


def test_family_mode_allows_only_a_confirmed_link(ctx, world):
    _earn(world.vol_a, world.staff_a)
    _policy(world, "A", "family")
    _refused(TransferNotAllowed, _give, world.vol_a, world.vol_a2, 100)
    link_id = helping.request_link(actor=_user(world.vol_a), member_id=world.vol_a.id,
                                   relative_id=world.vol_a2.id, relation="父子").id
    _refused(TransferNotAllowed, _give, world.vol_a, world.vol_a2, 100)  # not yet confirmed
    helping.confirm_link(link_id, staff=_user(world.staff_a))
    gift = _give(world.vol_a, world.vol_a2, 100)
    assert (gift.from_member_id, gift.to_member_id, gift.amount_minor) == (
        world.vol_a.id, world.vol_a2.id, 100)
    _refused(TransferNotAllowed, _give, world.vol_a, world.vol_b, 100)  # not family
    helping.revoke_link(link_id, actor=_user(world.staff_a))
    _refused(TransferNotAllowed, _give, world.vol_a, world.vol_a2, 100)
    assert (_balance(world.vol_a), _balance(world.vol_a2)) == (1900, 100)


def test_any_mode_allows_members_of_the_same_street_as_the_senders_policy_says(
        ctx, world, make):
    other_street = make.unit("street", "另一街道")
    other_community = make.unit("community", "远方社区", other_street)
    stranger = make.user(["volunteer"], other_community)
    _earn(world.vol_a, world.staff_a)
    _earn(world.vol_b, world.staff_b)
    _policy(world, "A", "any")
    _give(world.vol_a, world.vol_b, 300)
    _refused(TransferNotAllowed, _give, world.vol_a, stranger, 100)
    _refused(TransferNotAllowed, _give, world.vol_b, world.vol_a, 100)  # B's policy is off
    for receiver, amount in ((world.vol_a, 100), (world.merchant_a, 100), (world.vol_a2, 0),
                             (world.vol_a2, -5)):
        _refused(ValidationFailed, _give, world.vol_a, receiver, amount)
    _refused(NotFound, helping.transfer, actor=_user(world.vol_a), to_member_id=999_999,
             amount_minor=100)
    assert (_balance(world.vol_a), _balance(world.vol_b)) == (1700, 2300)


def test_per_transfer_and_monthly_limits(ctx, world):
    _earn(world.vol_a, world.staff_a, hours=4)
    _policy(world, "A", "any", per=1000, monthly=1500)
    error = _refused(ValidationFailed, _give, world.vol_a, world.vol_a2, 1001)
    assert "amount" in error.errors
    _give(world.vol_a, world.vol_a2, 1000)
    _refused(ValidationFailed, _give, world.vol_a, world.vol_a2, 501)
    _give(world.vol_a, world.vol_b, 500)
    _refused(ValidationFailed, _give, world.vol_a, world.vol_a2, 1)
    assert helping.sent_this_month(world.vol_a.id) == 1500
    # last month's gifts do not count against this month
    start, _end = helping.month_bounds(utcnow())
    db.session.execute(update(Transfer).values(created_at=start - timedelta(days=1)))
    db.session.commit()
    assert helping.sent_this_month(world.vol_a.id) == 0
    _give(world.vol_a, world.vol_a2, 1000)
    assert _balance(world.vol_a) == 4000 - 2500


def test_a_gift_larger_than_the_balance_is_refused(ctx, world):
    _earn(world.vol_a, world.staff_a, hours=1)
    _policy(world, "A", "any")
    _refused(InsufficientPoints, _give, world.vol_a, world.vol_a2, 1001)
    assert db.session.scalar(select(func.count(Transfer.id))) == 0
    assert _balance(world.vol_a) == 1000


def test_a_transfer_shows_in_both_histories_with_its_transaction(ctx, world):
    _earn(world.vol_a, world.staff_a)
    _policy(world, "A", "any")
    gift = _give(world.vol_a, world.vol_a2, 250, memo="给妈妈")
    sent = ledger.member_history(world.vol_a.id, page=1, per_page=10).items[0]
    received = ledger.member_history(world.vol_a2.id, page=1, per_page=10).items[0]
    for row, amount in ((sent, -250), (received, 250)):
        assert (row.transaction_id, row.kind, row.amount_minor, row.memo) == (
            gift.transaction_id, "transfer", amount, "给妈妈")
    assert [t.id for t in db.session.scalars(helping.transfers_of(world.vol_a2.id))] == [gift.id]
    assert ledger.verify().ok


def test_staff_may_give_for_an_elder_in_reach_and_the_audit_names_both(ctx, world, elder):
    _earn(elder, world.staff_a)
    _policy(world, "A", "any")
    gift = _give(elder, world.vol_a, 400, actor=world.staff_a)
    assert (gift.from_member_id, gift.created_by_id) == (elder.id, world.staff_a.id)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "transfer.create"))
    assert (event.actor_id, event.on_behalf_of_id) == (world.staff_a.id, elder.id)
    assert event.details == {"to_member_id": world.vol_a.id, "amount_minor": 400}
    _refused(Forbidden, _give, elder, world.vol_a, 100, actor=world.staff_b)
    _refused(Forbidden, _give, elder, world.vol_a, 100, actor=world.vol_a2)
    assert _balance(elder) == 1600 and _balance(world.vol_a) == 400


def test_gifts_at_once_never_pass_the_monthly_limit(wide_app, world):
    with wide_app.app_context():
        _earn(world.vol_a, world.staff_a, hours=4)
        _policy(world, "A", "any", per=1000, monthly=1500)

    def give():
        return _give(world.vol_a, world.vol_a2, 1000)

    outcomes = _at_once(wide_app, [give for _ in range(4)])
    assert sorted(outcomes) == ["ok"] + ["validation_error"] * 3
    with wide_app.app_context():
        assert helping.sent_this_month(world.vol_a.id) == 1000
        assert _balance(world.vol_a) == 3000
        assert ledger.verify().ok
