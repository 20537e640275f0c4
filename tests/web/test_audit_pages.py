"""The audit log: what each reader may see (reach), the filters, names, and bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from timebank.errors import Forbidden
from timebank.extensions import db
from timebank.models import AuditEvent, User
from timebank.services import audit


def _user(person) -> User:
    return db.session.get(User, person.id)


@dataclass
class Trail:
    ids: dict[str, int]


def _event(key, ids, actor, action, subject_type, subject_id, *, at, on_behalf_of=None,
           unit=None, **details):
    event = audit.record(_user(actor) if actor else None, action, subject_type, subject_id,
                         on_behalf_of=_user(on_behalf_of) if on_behalf_of else None,
                         org_unit_id=unit, **details)
    event.at = at
    ids[key] = event.id


@pytest.fixture
def trail(app, world) -> Trail:
    """Events in A, in B, above both, and without a unit about people of A or B."""
    w, ids = world, {}
    u = w.units
    with app.app_context():
        # 00:30 on 1 March 2024 in Shanghai (still 29 February in UTC).
        _event("team_a", ids, w.staff_a, "team.create", "team", 7, unit=u["A1"],
               at=datetime(2024, 2, 29, 16, 30, tzinfo=UTC), title="<script>x</script>")
        _event("team_b", ids, w.staff_b, "team.create", "team", 8, unit=u["B"],
               at=datetime(2024, 3, 2, 2, 0, tzinfo=UTC))
        _event("user_a", ids, w.admin, "user.password_reset", "user", w.vol_a.id,
               at=datetime(2024, 3, 3, 2, 0, tzinfo=UTC))
        _event("for_a", ids, w.staff_b, "transfer.create", "transfer", 3,
               on_behalf_of=w.vol_a, at=datetime(2024, 3, 4, 2, 0, tzinfo=UTC),
               amount_minor=1250)
        _event("by_b", ids, w.vol_b, "member.something", "thing", None,
               at=datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
        _event("system", ids, None, "org.rebuild", "org_unit", u["street"],
               at=datetime(2024, 3, 6, 2, 0, tzinfo=UTC))
        _event("street", ids, w.admin, "transfer_policy.set", "org_unit", u["street"],
               unit=u["street"], at=datetime(2024, 3, 7, 2, 0, tzinfo=UTC), mode="any")
        _event("about_b", ids, w.vol_a, "user.note", "user", w.vol_b.id,
               at=datetime(2024, 3, 8, 2, 0, tzinfo=UTC))
        _event("check_in_a", ids, w.vol_a, "activity.check_in", "activity", 5,
               unit=u["A"], at=datetime(2024, 3, 9, 2, 0, tzinfo=UTC))
        db.session.commit()
    return Trail(ids)


def _seen(app, trail: Trail, person, **filters) -> set[str]:
    """The names of the trail's events the person reads with these filters."""
    with app.app_context():
        found = set(db.session.scalars(
            audit.events_in_reach(_user(person), **filters).with_only_columns(
                AuditEvent.id)))
    return {key for key, event_id in trail.ids.items() if event_id in found}


ALL = {"team_a", "team_b", "user_a", "for_a", "by_b", "system", "street", "about_b",
       "check_in_a"}


def test_each_reader_sees_their_reach(app, world, trail):
    assert _seen(app, trail, world.admin) == ALL
    # Unit events of A's subtree; without a unit: the member acted for, else the user who is
    # the subject, else the one who acted, when they live in A.
    assert _seen(app, trail, world.staff_a) == {"team_a", "user_a", "for_a", "check_in_a"}
    assert _seen(app, trail, world.staff_b) == {"team_b", "by_b", "about_b"}
    with app.app_context():
        for person in (world.vol_a, world.merchant_a):
            with pytest.raises(Forbidden):
                audit.events_in_reach(_user(person))


def test_the_filters_narrow_within_reach(app, world, trail):
    assert _seen(app, trail, world.admin, action="team") == {"team_a", "team_b"}
    assert _seen(app, trail, world.admin, action="team.create") == {"team_a", "team_b"}
    assert _seen(app, trail, world.admin, action="%") == set()  # no wildcards
    assert _seen(app, trail, world.admin, action="activity.check") == {"check_in_a"}
    assert _seen(app, trail, world.staff_a, actor_id=world.staff_b.id) == {"for_a"}
    assert _seen(app, trail, world.admin, member_id=world.vol_a.id) == {"for_a", "about_b",
                                                                  "check_in_a"}
    assert _seen(app, trail, world.staff_a, member_id=world.vol_b.id) == set()
    # Local days: 00:30 on 1 March (Shanghai) is 1 March, not 29 February.
    assert _seen(app, trail, world.admin, date_from=date(2024, 3, 1),
                 date_to=date(2024, 3, 1)) == {"team_a"}
    assert "team_a" not in _seen(app, trail, world.admin, date_to=date(2024, 2, 29))
    assert _seen(app, trail, world.admin, date_from=date(2024, 3, 8)) == {"about_b", "check_in_a"}


def _rows(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-testid="event-(\d+)"', page)}


def _row(page: str, event_id: int) -> str:
    found = re.search(rf'<tr data-testid="event-{event_id}">(.*?)</tr>', page, re.S)
    return found.group(1) if found else ""


def test_the_page_is_for_staff_and_admins(web_factory, world):
    for person in (world.vol_a, world.merchant_a):
        web = web_factory()
        web.login(person)
        assert web.get("/audit/").status_code == 403
    assert web_factory().get("/audit/").status_code == 302


def test_staff_see_their_reach_with_names_as_the_privacy_rules_say(web, world, trail):
    ids = trail.ids
    web.login(world.staff_a)
    page = web.text(web.get("/audit/"))
    assert _rows(page) == {ids[n] for n in ("team_a", "user_a", "for_a", "check_in_a")}
    for_a = _row(page, ids["for_a"])
    # The member in reach by name; staff of another community masked.
    assert 'data-testid="actor"><a href="/audit/?actor=' in for_a
    assert "林*工" in for_a and "林社工" not in for_a and "张小三" in for_a
    assert "12.50" in for_a  # amount_minor shown as points
    assert "管*员" in _row(page, ids["user_a"])  # the administrator lives above this reach
    team_a = _row(page, ids["team_a"])
    assert "2024-03-01 00:30" in team_a and "第一网格" in team_a
    assert 'href="/recognition/desk/teams/7"' in team_a
    assert "&lt;script&gt;x&lt;/script&gt;" in team_a and "<script>x" not in team_a
    assert 'title="team.create"' in team_a
    assert f'href="/desk/members/{world.vol_a.id}"' in _row(page, ids["user_a"])


def test_admins_see_everything_and_unknown_actions_raw(web, world, trail):
    web.login(world.admin)
    page = web.text(web.get("/audit/"))
    assert _rows(page) == set(trail.ids.values())
    system = _row(page, trail.ids["system"])
    assert 'data-testid="action" title="org.rebuild">org.rebuild<' in system
    assert "林社工" in _row(page, trail.ids["team_b"])


def test_filters_from_the_form(web, world, trail):
    ids = trail.ids
    web.login(world.admin)
    assert _rows(web.text(web.get("/audit/?action=team"))) == {ids["team_a"], ids["team_b"]}
    assert _rows(web.text(web.get(f"/audit/?actor={world.vol_a.id}"))) == {
        ids["about_b"], ids["check_in_a"]}
    assert _rows(web.text(web.get("/audit/?actor=staff_b"))) == {ids["team_b"], ids["for_a"]}
    assert _rows(web.text(web.get(f"/audit/?member={world.vol_a.id}"))) == {
        ids["for_a"], ids["about_b"], ids["check_in_a"]}
    assert _rows(web.text(web.get("/audit/?from=2024-03-01&to=2024-03-01"))) == {ids["team_a"]}
    page = web.text(web.get("/audit/?action=team&from=2024-03-02"))
    assert _rows(page) == {ids["team_b"]}
    assert 'value="team"' in page and 'value="2024-03-02"' in page


def test_a_user_name_outside_reach_is_not_looked_up(web, world, trail):
    web.login(world.staff_a)
    page = web.text(web.get("/audit/?actor=staff_b"))
    assert "alert-warning" in page
    assert len(_rows(page)) == 4  # the filter was ignored, the reach still holds
    assert _rows(web.text(web.get(f"/audit/?actor={world.staff_b.id}"))) == {
        trail.ids["for_a"]}


@pytest.mark.parametrize("query", [
    "action=%25", "action=" + "a" * 65, "action=<b>", "actor=nobody", "actor=99999999999999",
    "member=0", "member=-3", "from=2024-13-01", "to=yesterday", "from=1899-01-01",
    "from=2024-03-09&to=2024-03-01", "page=abc", "page=-2", "page=99999999", "from=" + "9" * 5000,
    "member=" + "x" * 5000,
    # Review: digits int() cannot read ('²', Ethiopic one) were a 500.
    "actor=%C2%B2", "member=%E1%8D%A9",
])
def test_bad_filters_are_told_and_ignored(web, world, trail, query):
    web.login(world.staff_a)
    resp = web.get(f"/audit/?{query}")
    assert resp.status_code == 200
    page = web.text(resp)
    if not query.startswith("page="):
        assert "alert-warning" in page
        assert len(_rows(page)) == 4


def test_the_table_is_paged(app, web, world):
    with app.app_context():
        for n in range(53):
            audit.record(_user(world.staff_a), "team.update", "team", n + 1,
                         org_unit_id=world.units["A"])
        db.session.commit()
    web.login(world.staff_a)
    assert len(_rows(web.text(web.get("/audit/")))) == 50
    assert len(_rows(web.text(web.get("/audit/?page=2")))) == 3
