"""Read-only helpers of the time bank for the pages: phone lookup, own requests, links in reach."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from timebank.errors import Forbidden
from timebank.extensions import db
from timebank.models import ServiceRecord, User
from timebank.models.base import utcnow
from timebank.services import helping, records


def _user(person) -> User:
    return db.session.get(User, person.id)


@pytest.fixture
def people(make, world):
    """Phones for members of A, B, another street, a deactivated member and staff."""
    other_street = make.unit("street", "平安街道")
    other_community = make.unit("community", "新村社区", other_street)
    extra = {
        "near": make.user(["volunteer"], world.units["A2"], display_name="赵六",
                          phone="13900000001"),
        "over_b": make.user(["gridworker"], world.units["B1"], display_name="钱七",
                            phone="13900000002"),
        "far": make.user(["volunteer"], other_community, display_name="孙八",
                         phone="13900000003"),
        "gone": make.user(["volunteer"], world.units["A1"], display_name="周九",
                          phone="13900000004"),
        "clerk": make.user(["staff"], world.units["A"], display_name="吴十",
                           phone="13900000005"),
    }
    with make.app.app_context():
        _user(extra["gone"]).is_active = False
        db.session.commit()
    return extra


def test_member_by_phone_finds_active_members_of_the_same_street_only(app, world, people):
    with app.app_context():
        me = _user(world.vol_a)
        assert helping.member_by_phone(me, "13900000001").id == people["near"].id
        assert helping.member_by_phone(me, " 139-0000 0001 ").id == people["near"].id
        assert helping.member_by_phone(me, "13900000002").id == people["over_b"].id
        for phone in ("13900000003", "13900000004", "13900000005", "13900000009", "", None,
                      "1" * 500, "%", "139000000%"):
            assert helping.member_by_phone(me, phone) is None, phone


def _request(world, beneficiary, *, offer: int = 0) -> int:
    return helping.post_request(
        actor=_user(beneficiary), title="买菜", description="", category="cleanup",
        org_unit_id=beneficiary.org_unit_id, needed_at=utcnow() - timedelta(hours=3),
        offered_points_minor=offer).id


def test_requests_asked_and_taken_by_a_member_newest_first(app, world):
    with app.app_context():
        first = _request(world, world.vol_a)
        second = _request(world, world.vol_a)
        theirs = _request(world, world.vol_a2)
        helping.claim(theirs, volunteer=_user(world.vol_a))
        asked = [r.id for r in db.session.scalars(helping.requests_asked_by(world.vol_a.id))]
        taken = [r.id for r in db.session.scalars(helping.requests_taken_by(world.vol_a.id))]
        assert asked == [second, first]
        assert taken == [theirs]
        assert list(db.session.scalars(helping.requests_taken_by(world.vol_a2.id))) == []


def test_points_state_follows_the_held_points(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    with app.app_context():
        free = _request(world, world.vol_a)
        paid = _request(world, world.vol_a, offer=300)
        returned = _request(world, world.vol_a, offer=200)

        def state(request_id):
            return helping.points_state(helping.visible_request(_user(world.vol_a), request_id))

        assert (state(free), state(paid), state(returned)) == ("none", "held", "held")
        helping.cancel(returned, actor=_user(world.vol_a))
        helping.claim(paid, volunteer=_user(world.vol_a2))
        helping.complete(paid, actor=_user(world.vol_a), rating=5)
        assert state(paid) == "held"
        record_id = db.session.scalar(select(ServiceRecord.id)
                                      .where(ServiceRecord.member_id == world.vol_a2.id))
        records.approve(record_id, reviewer=_user(world.staff_a))
        assert (state(paid), state(returned)) == ("paid", "returned")


def test_links_in_reach_cover_either_member_and_only_staff_ask(app, world, people):
    with app.app_context():
        inside = helping.request_link(actor=_user(world.vol_a), member_id=world.vol_a.id,
                                      relative_id=world.vol_a2.id, relation="spouse").id
        across = helping.request_link(actor=_user(world.vol_a), member_id=world.vol_a.id,
                                      relative_id=people["over_b"].id, relation="child").id
        only_b = helping.request_link(actor=_user(world.vol_b), member_id=world.vol_b.id,
                                      relative_id=people["over_b"].id, relation="parent").id

        def listed(person, status="pending"):
            return [link.id for link in db.session.scalars(
                helping.links_in_reach(_user(person), status=status))]

        assert listed(world.staff_a) == [inside, across]
        assert listed(world.staff_b) == [across, only_b]
        assert listed(world.admin) == [inside, across, only_b]
        assert listed(world.staff_a, "confirmed") == []
        helping.confirm_link(inside, staff=_user(world.staff_a))
        assert listed(world.staff_a) == [across]
        assert listed(world.staff_a, "confirmed") == [inside]
        with pytest.raises(Forbidden):
            helping.links_in_reach(_user(world.vol_a))
