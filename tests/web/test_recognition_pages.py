"""Recognition pages: a member's stars, certificates and teams; the staff desk for certificates,
star notices, volunteer teams and the red flag."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pypdf
import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import (
    Certificate,
    StarAward,
    TeamMembership,
    User,
    VolunteerTeam,
)
from timebank.services import awards, certificates, records, teams
from timebank.timeutil import start_of_day, today

BIG = "99999999999999999999999"


# --- helpers ----------------------------------------------------------------------------


def _login(web, person) -> None:
    """Sign this browser session in as the person, whoever was signed in before."""
    web.post("/logout")
    web._token = None
    web.login(person)


def _user(person) -> User:
    return db.session.get(User, person.id)


def _past_day(app, days_back: int) -> date:
    with app.app_context():
        return today() - timedelta(days=days_back)


def _serve(app, member, staff, *, days_back: int, hours: int = 2) -> None:
    """Approved hours for the member on a past local day, through the records service."""
    day = _past_day(app, days_back)
    with app.app_context():
        start = start_of_day(day) + timedelta(hours=1)
        record = records.log_hours(
            actor=_user(staff), member_id=member.id, category="cleanup", started_at=start,
            ended_at=start + timedelta(hours=hours), place="社区广场", description="清理")
        records.approve(record.id, reviewer=_user(staff))


def _hundred_hours(app, member, staff) -> None:
    """Five records of 20 h on different past days: the first star (100 h)."""
    for n in range(5):
        _serve(app, member, staff, days_back=20 + n, hours=20)


def _issue(app, staff, member, kind="service_record", **fields) -> str:
    """A certificate issued through the service; its serial."""
    with app.app_context():
        issued = certificates.issue(actor=_user(staff), member_id=member.id, kind=kind, **fields)
        return issued.serial


def _certs(app) -> list[tuple[str, int, str, bool]]:
    with app.app_context():
        return [(c.kind, c.member_id, c.serial, c.revoked_at is not None)
                for c in db.session.scalars(select(Certificate).order_by(Certificate.id))]


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def _form_key(page: str) -> str:
    found = re.search(r'name="form_key" type="hidden" value="([0-9a-f]{32})"', page) or \
        re.search(r'name="form_key" value="([0-9a-f]{32})"', page)
    assert found, "no form key on the page"
    return found.group(1)


def _issue_form(member, kind="service_record", **extra) -> dict:
    return {"member_id": str(member.id), "kind": kind, "period_from": "", "period_to": "",
            "person_in_charge": "陈主任", "title": "", "citation": "", **extra}


def _post_issue(web, member, kind="service_record", **extra):
    page = web.text(web.get("/recognition/desk/issue"))
    return web.post("/recognition/desk/issue",
                    {**_issue_form(member, kind, **extra), "form_key": _form_key(page)})


def _flashes(page: str) -> str:
    return " ".join(re.findall(r'<div class="alert[^"]*"[^>]*role="alert"[^>]*>(.*?)</div>',
                               page, re.S))


def _has_danger_flash(page: str) -> bool:
    return re.search(r'class="alert alert-danger[^"]*"[^>]*role="alert"', page) is not None


def _team(app, staff, unit_id: int, name: str = "环保志愿服务队") -> int:
    with app.app_context():
        return teams.create_team(actor=_user(staff), org_unit_id=unit_id, name=name).id


def _members(app, team_id: int) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(TeamMembership.member_id)
                                      .where(TeamMembership.team_id == team_id)))


def _team_row(app, team_id: int) -> tuple[str, str, int | None]:
    with app.app_context():
        found = db.session.get(VolunteerTeam, team_id)
        return found.name, found.description, found.leader_id


def _on_boards(app, person) -> bool:
    with app.app_context():
        return db.session.get(User, person.id).is_on_boards


# --- who may open which page ------------------------------------------------------------


DESK_PAGES = ["/recognition/desk", "/recognition/desk/issue", "/recognition/desk/teams",
              "/recognition/desk/red-flag"]


@pytest.mark.parametrize("who, status", [
    ("vol_a", 200), ("vol_a2", 200), ("merchant_a", 403), ("staff_a", 302), ("admin", 302),
])
def test_my_page_belongs_to_volunteers_and_gridworkers(web, world, who, status):
    _login(web, getattr(world, who))
    resp = web.get("/recognition/")
    assert resp.status_code == status
    if status == 302:  # staff have the desk instead
        assert resp.location.endswith("/recognition/desk")


@pytest.mark.parametrize("path", DESK_PAGES)
@pytest.mark.parametrize("who, status", [
    ("vol_a", 403), ("vol_a2", 403), ("merchant_a", 403), ("staff_a", 200), ("staff_b", 200),
    ("admin", 200),
])
def test_desk_pages_belong_to_staff_and_admins(web, world, path, who, status):
    _login(web, getattr(world, who))
    assert web.get(path).status_code == status


@pytest.mark.parametrize("suffix, who, status", [
    ("", "vol_a", 200), (".pdf", "vol_a", 200),
    ("", "staff_a", 200), (".pdf", "staff_a", 200),
    ("", "admin", 200), (".pdf", "admin", 200),
    ("", "staff_b", 404), (".pdf", "staff_b", 404),
    ("", "vol_a2", 404), (".pdf", "vol_a2", 404),
    ("", "vol_b", 404), (".pdf", "vol_b", 404),
    ("", "merchant_a", 403), (".pdf", "merchant_a", 403),
])
def test_a_certificate_is_for_its_holder_and_staff_in_reach(app, web, api, world, suffix, who,
                                                            status):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    _login(web, getattr(world, who))
    resp = web.get(f"/recognition/certificates/{serial}{suffix}")
    assert resp.status_code == status
    if status == 404:
        assert serial not in web.text(resp)


@pytest.mark.parametrize("path", [
    "/recognition/", "/recognition/desk", "/recognition/desk/issue", "/recognition/desk/teams",
    "/recognition/desk/teams/1", "/recognition/desk/red-flag",
    "/recognition/certificates/TB2026-000001-AAAAAAAAAA",
    "/recognition/certificates/TB2026-000001-AAAAAAAAAA.pdf",
])
def test_signed_out_visitors_are_sent_to_sign_in(web, path):
    resp = web.get(path)
    assert resp.status_code == 302 and "/login" in resp.location


@pytest.mark.parametrize("path", [
    "/recognition/boards-choice", "/recognition/desk/issue", "/recognition/desk/teams",
    "/recognition/desk/teams/1/members",
])
def test_signed_out_posts_change_nothing(app, web, world, path):
    resp = web.post(path, {"member_id": str(world.vol_a.id), "kind": "honor", "shown": "0",
                           "name": "x", "org_unit_id": str(world.units["A"])})
    assert resp.status_code == 302 and "/login" in resp.location
    assert _count(app, Certificate) == 0 and _count(app, VolunteerTeam) == 0
    assert _on_boards(app, world.vol_a)


def test_unknown_and_forged_serials_are_not_found(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    forged = serial[:-1] + ("A" if serial[-1] != "A" else "B")
    _login(web, world.staff_a)
    for bad in (forged, "nonsense", "TB2026-999999-AAAAAAAAAA", "x" * 300):
        assert web.get(f"/recognition/certificates/{bad}").status_code == 404
        assert web.get(f"/recognition/certificates/{bad}.pdf").status_code == 404
    # The serial is read as typed on paper: spaces and small letters are fine.
    assert web.get(f"/recognition/certificates/{serial.lower()}").status_code == 200


def test_the_menu_links_to_the_recognition_pages(web, world):
    _login(web, world.vol_a)
    assert 'href="/recognition/"' in web.text(web.get("/me/"))
    _login(web, world.staff_a)
    assert 'href="/recognition/desk"' in web.text(web.get("/recognition/desk/teams"))


# --- a member's own page ------------------------------------------------------------------


def test_my_page_shows_stars_hours_progress_certificates_and_teams(app, web, api, world):
    _hundred_hours(app, world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    team_id = _team(app, world.staff_a, world.units["A"])
    with app.app_context():
        teams.add_member(actor=_user(world.staff_a), team_id=team_id, member_id=world.vol_a.id)
        teams.add_member(actor=_user(world.staff_a), team_id=team_id,
                         member_id=world.vol_a2.id)
        teams.set_leader(actor=_user(world.staff_a), team_id=team_id,
                         member_id=world.vol_a2.id)
    _login(web, world.vol_a)
    page = web.text(web.get("/recognition/"))
    assert re.search(r'data-testid="star-level" data-level="1"', page)
    assert re.search(r'data-testid="total-hours">\s*100\.00<', page)
    progress = re.search(r'data-testid="star-progress"', page)
    assert progress and 'max="100" value="0"' in page  # 100 h of the 100 → 300 span
    assert 'data-testid="next-star"' in page and "300" in page
    item = re.search(rf'data-testid="certificate-{serial}">(.*?)</li>', page, re.S).group(1)
    assert f'href="/recognition/certificates/{serial}.pdf"' in item
    assert f'href="/verify/{serial}"' in item
    assert 'data-testid="valid"' in item
    with app.app_context():
        issued = local_issue_date(app, serial)
    assert f'data-testid="issued-on">{issued.year}年{issued.month}月{issued.day}日<' in item
    team = re.search(rf'data-testid="team-{team_id}">(.*?)</li>', page, re.S).group(1)
    assert "环保志愿服务队" in team
    assert re.search(r'data-testid="leader">李\*<', team)  # another member: masked
    assert "李四" not in page


def local_issue_date(app, serial: str) -> date:
    from timebank.timeutil import local_date

    found = db.session.scalar(select(Certificate).where(Certificate.serial == serial))
    return local_date(found.issued_at)


def test_my_page_in_english_shows_iso_dates(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    _login(web, world.vol_a)
    web.post("/language", {"lang": "en"})
    page = web.text(web.get("/recognition/"))
    with app.app_context():
        issued = local_issue_date(app, serial)
    assert f'data-testid="issued-on">{issued.isoformat()}<' in page


def test_the_leader_sees_their_own_name_in_full(app, web, world):
    team_id = _team(app, world.staff_a, world.units["A"])
    with app.app_context():
        teams.add_member(actor=_user(world.staff_a), team_id=team_id, member_id=world.vol_a.id)
        teams.set_leader(actor=_user(world.staff_a), team_id=team_id, member_id=world.vol_a.id)
    _login(web, world.vol_a)
    page = web.text(web.get("/recognition/"))
    assert re.search(r'data-testid="leader">张小三<', page)


def test_the_top_star_level_has_no_progress_bar(app, web, world):
    for n in range(75):  # 75 × 20 h = 1500 h: five stars
        _serve(app, world.vol_a, world.staff_a, days_back=20 + n, hours=20)
    _login(web, world.vol_a)
    page = web.text(web.get("/recognition/"))
    assert re.search(r'data-testid="star-level" data-level="5"', page)
    assert 'data-testid="top-level"' in page and 'data-testid="star-progress"' not in page


def test_a_member_without_hours_has_no_star_and_an_empty_bar(web, world):
    _login(web, world.vol_a)
    page = web.text(web.get("/recognition/"))
    assert re.search(r'data-testid="star-level" data-level="0"', page)
    assert 'value="0"' in page and 'data-testid="no-certificates"' in page
    assert 'data-testid="no-teams"' in page


def test_the_boards_choice_flips_and_bad_values_change_nothing(app, web, world):
    _login(web, world.vol_a)
    page = web.text(web.get("/recognition/"))
    assert re.search(r'data-testid="boards-1"[^>]*checked|checked[^>]*data-testid="boards-1"',
                     page)
    resp = web.post("/recognition/boards-choice", {"shown": "0"})
    assert resp.status_code == 302 and resp.location.endswith("/recognition/")
    assert _on_boards(app, world.vol_a) is False
    page = web.text(web.follow(resp))
    assert re.search(r'data-testid="boards-0"[^>]*checked|checked[^>]*data-testid="boards-0"',
                     page)
    for bad in ({"shown": "maybe"}, {}, {"shown": ""}):
        resp = web.post("/recognition/boards-choice", bad)
        assert resp.status_code == 302
        assert _has_danger_flash(web.text(web.follow(resp)))
        assert _on_boards(app, world.vol_a) is False
    assert web.post("/recognition/boards-choice", {"shown": "1"}).status_code == 302
    assert _on_boards(app, world.vol_a) is True
    assert web.post("/recognition/boards-choice", {"shown": "0"}, csrf=False).status_code == 302
    assert _on_boards(app, world.vol_a) is True  # no CSRF token: nothing changed


def test_staff_cannot_use_the_boards_choice_for_themselves(app, web, world):
    _login(web, world.merchant_a)
    assert web.post("/recognition/boards-choice", {"shown": "0"}).status_code == 403
    assert _on_boards(app, world.merchant_a)


# --- one certificate ----------------------------------------------------------------------


def test_the_pdf_download_names_the_holder_and_the_serial(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    _login(web, world.vol_a)
    resp = web.get(f"/recognition/certificates/{serial}.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and f"{serial}.pdf" in disposition
    assert "no-store" in resp.headers["Cache-Control"]
    reader = pypdf.PdfReader(io.BytesIO(resp.data))
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    assert "张小三" in text and serial in text


def test_the_detail_page_shows_what_was_issued(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a, person_in_charge="陈主任")
    _login(web, world.vol_a)
    page = web.text(web.get(f"/recognition/certificates/{serial}"))
    assert re.search(rf'data-testid="serial">{serial}<', page)
    assert re.search(r'data-testid="holder">张小三<', page)
    assert re.search(r'data-testid="hours">2\.00<', page)
    assert re.search(r'data-testid="person-in-charge">陈主任<', page)
    assert f'href="/recognition/certificates/{serial}.pdf"' in page
    assert f'href="/verify/{serial}"' in page
    assert 'data-testid="revoke-form"' not in page  # the holder cannot revoke
    _login(web, world.staff_a)
    page = web.text(web.get(f"/recognition/certificates/{serial}"))
    assert 'data-testid="revoke-form"' in page and 'data-testid="recognition-nav"' in page


def test_staff_revoke_a_certificate_with_a_reason(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    _login(web, world.staff_a)
    web.get(f"/recognition/certificates/{serial}")
    resp = web.post(f"/recognition/certificates/{serial}/revoke", {"reason": ""})
    assert resp.status_code == 302
    assert _has_danger_flash(web.text(web.follow(resp)))
    assert _certs(app)[0][3] is False
    resp = web.post(f"/recognition/certificates/{serial}/revoke", {"reason": "x" * 201})
    assert _certs(app)[0][3] is False
    resp = web.post(f"/recognition/certificates/{serial}/revoke", {"reason": "信息有误"})
    assert resp.status_code == 302
    assert resp.location.endswith(f"/recognition/certificates/{serial}")
    assert _certs(app)[0][3] is True
    page = web.text(web.follow(resp))
    assert 'data-testid="revoked"' in page and "信息有误" in page
    assert 'data-testid="revoke-form"' not in page
    again = web.post(f"/recognition/certificates/{serial}/revoke", {"reason": "再来一次"})
    assert again.status_code == 302 and _has_danger_flash(web.text(web.follow(again)))
    _login(web, world.vol_a)
    mine = web.text(web.get("/recognition/"))
    assert 'data-testid="revoked"' in mine


@pytest.mark.parametrize("who, status", [("staff_b", 302), ("vol_a", 403), ("merchant_a", 403)])
def test_only_staff_in_reach_may_revoke(app, web, api, world, who, status):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(app, world.staff_a, world.vol_a)
    _login(web, getattr(world, who))
    resp = web.post(f"/recognition/certificates/{serial}/revoke", {"reason": "不对"})
    assert resp.status_code == status
    assert _certs(app)[0][3] is False


# --- issuing through the form -------------------------------------------------------------


@pytest.mark.parametrize("kind, member, extra", [
    ("service_record", "vol_a", {}),
    ("star", "vol_a", {}),
    ("appointment", "vol_a2", {}),
    ("honor", "vol_a", {"title": "优秀志愿者标兵", "citation": "在环境整治中表现突出"}),
])
def test_each_kind_is_issued_through_the_form(app, web, api, world, kind, member, extra):
    _hundred_hours(app, world.vol_a, world.staff_a)
    person = getattr(world, member)
    _login(web, world.staff_a)
    resp = _post_issue(web, person, kind, **extra)
    assert resp.status_code == 302, _flashes(web.text(resp))
    found = re.search(r"/recognition/certificates/([A-Z0-9-]+)$", resp.location)
    assert found
    serial = found.group(1)
    assert _certs(app) == [(kind, person.id, serial, False)]
    page = web.text(web.follow(resp))
    assert re.search(rf'data-testid="serial">{serial}<', page)
    assert "alert-success" in page
    with app.app_context():
        data = db.session.scalar(select(Certificate.data))
        assert data["person_in_charge"] == "陈主任" and data["handler"] == "陈社工"
        if kind == "honor":
            assert data["honor_title"] == "优秀志愿者标兵"
            assert data["citation"] == "在环境整治中表现突出"
        if kind == "star":
            assert data["star_level"] == 1
        if kind == "appointment":
            assert data["grid"] == "第二网格"


def test_a_period_limits_the_hours_of_a_service_record(app, web, world):
    _serve(app, world.vol_a, world.staff_a, days_back=40, hours=3)
    _serve(app, world.vol_a, world.staff_a, days_back=5, hours=2)
    _login(web, world.staff_a)
    start, end = _past_day(app, 10), _past_day(app, 1)
    resp = _post_issue(web, world.vol_a, period_from=start.isoformat(),
                       period_to=end.isoformat())
    assert resp.status_code == 302
    with app.app_context():
        cert = db.session.scalar(select(Certificate))
        assert (cert.hours_minor, cert.period_from, cert.period_to) == (200, start, end)


def test_a_double_submit_of_one_rendered_form_issues_one_certificate(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    _login(web, world.staff_a)
    page = web.text(web.get("/recognition/desk/issue"))
    form = {**_issue_form(world.vol_a), "form_key": _form_key(page)}
    first = web.post("/recognition/desk/issue", form)
    assert first.status_code == 302 and "/recognition/certificates/" in first.location
    second = web.post("/recognition/desk/issue", form)
    assert second.status_code == 302
    assert "/recognition/certificates/" not in second.location
    assert len(_certs(app)) == 1
    # A fresh form is a new certificate.
    assert _post_issue(web, world.vol_a).status_code == 302
    assert len(_certs(app)) == 2


@pytest.mark.parametrize("bad, field", [
    ({"period_from": "2024-13-45"}, "period_from"),
    ({"period_from": "abc"}, "period_from"),
    ({"period_to": "0001-01-01"}, "period_to"),
    ({"period_to": "9999-12-31"}, "period_to"),
    ({"period_from": "REVERSED_FROM", "period_to": "REVERSED_TO"}, "period_to"),
    ({"period_to": "FUTURE"}, "period_to"),
    ({"period_from": "EMPTY_FROM", "period_to": "EMPTY_TO"}, "period_from"),
    ({"member_id": "999999"}, "member_id"),
    ({"member_id": BIG}, "member_id"),
    ({"member_id": "abc"}, "member_id"),
    ({"member_id": ""}, "member_id"),
    ({"member_id": "-1"}, "member_id"),
    ({"member_id": "VOL_B"}, "member_id"),
    ({"member_id": "STAFF_A"}, "member_id"),
    ({"member_id": "MERCHANT_A"}, "member_id"),
    ({"kind": "nope"}, "kind"),
    ({"kind": ""}, "kind"),
    ({"kind": "appointment"}, "member_id"),  # a volunteer is not a gridworker
    ({"kind": "star"}, "member_id"),  # no star level yet
    ({"person_in_charge": "x" * 201}, "person_in_charge"),
    ({"kind": "honor", "citation": "x" * 201}, "citation"),
])
def test_bad_issue_forms_are_told_and_issue_nothing(app, web, api, world, bad, field):
    _serve(app, world.vol_a, world.staff_a, days_back=30, hours=2)
    swap = {
        "REVERSED_FROM": _past_day(app, 2).isoformat(),
        "REVERSED_TO": _past_day(app, 20).isoformat(),
        "FUTURE": _past_day(app, -3).isoformat(),
        "EMPTY_FROM": _past_day(app, 10).isoformat(),  # no approved hours in this period
        "EMPTY_TO": _past_day(app, 5).isoformat(),
        "VOL_B": str(world.vol_b.id),
        "STAFF_A": str(world.staff_a.id),
        "MERCHANT_A": str(world.merchant_a.id),
    }
    bad = {key: swap.get(value, value) for key, value in bad.items()}
    _login(web, world.staff_a)
    page = web.text(web.get("/recognition/desk/issue"))
    form = {**_issue_form(world.vol_a), "form_key": _form_key(page), **bad}
    resp = web.post("/recognition/desk/issue", form)
    assert resp.status_code == 422
    page = web.text(resp)
    assert _has_danger_flash(page)
    assert f'data-testid="error-{field}"' in page
    assert _count(app, Certificate) == 0
    # The same form, corrected, still goes through: the failed try did not use up its key.
    fixed = {**form, "member_id": str(world.vol_a.id), "kind": "service_record",
             "period_from": "", "period_to": "", "person_in_charge": "", "citation": ""}
    assert web.post("/recognition/desk/issue", fixed).status_code == 302
    assert _count(app, Certificate) == 1


def test_the_issue_form_is_prefilled_and_searchable(app, web, make, world):
    _login(web, world.staff_a)
    page = web.text(web.get(f"/recognition/desk/issue?member_id={world.vol_a2.id}"
                            "&kind=appointment"))
    assert re.search(rf'<option selected value="{world.vol_a2.id}"|'
                     rf'<option value="{world.vol_a2.id}" selected', page)
    assert re.search(r'<option selected value="appointment"|<option value="appointment" selected',
                     page)
    assert "Alice Smith" not in page  # out of reach
    found = web.text(web.get("/recognition/desk/issue?q=李"))
    assert f'value="{world.vol_a2.id}"' in found and f'value="{world.vol_a.id}"' not in found
    # The chosen member stays in the list, whatever the search.
    kept = web.text(web.get(f"/recognition/desk/issue?q=李&member_id={world.vol_a.id}"))
    assert f'value="{world.vol_a.id}"' in kept
    assert web.get(f"/recognition/desk/issue?member_id={world.vol_b.id}").status_code == 403
    assert web.get("/recognition/desk/issue?member_id=999999").status_code == 404
    assert web.get(f"/recognition/desk/issue?member_id={BIG}").status_code == 404
    assert web.get("/recognition/desk/issue?q=" + "x" * 300).status_code == 200


def test_staff_of_another_community_cannot_issue_to_a_member_out_of_reach(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    _login(web, world.staff_b)
    resp = _post_issue(web, world.vol_a)
    assert resp.status_code == 422 and 'data-testid="error-member_id"' in web.text(resp)
    assert _count(app, Certificate) == 0


# --- the desk: star certificates due and the certificates issued ---------------------------


def test_a_star_reached_shows_on_the_desk_until_its_certificate_is_issued(app, web, world):
    _login(web, world.staff_a)
    assert f'data-testid="due-{world.vol_a.id}"' not in web.text(web.get("/recognition/desk"))
    _hundred_hours(app, world.vol_a, world.staff_a)
    desk = web.text(web.get("/recognition/desk"))
    row = re.search(rf'data-testid="due-{world.vol_a.id}">(.*?)</li>', desk, re.S)
    assert row, "the member who reached a star is listed"
    assert re.search(r'data-testid="due-name">张小三<', row.group(1))
    assert 'data-level="1"' in row.group(1)
    assert re.search(r'data-testid="due-count">1<', desk)
    # The notice also shows in the menu on every page of staff in reach.
    assert re.search(r'data-testid="nav-badge">1<', web.text(web.get("/desk/")))
    # Staff of the other community do not see it.
    other = web.__class__(app.test_client())
    _login(other, world.staff_b)
    assert f'data-testid="due-{world.vol_a.id}"' not in other.text(other.get("/recognition/desk"))
    assert 'data-testid="nav-badge"' not in other.text(other.get("/desk/"))
    # One click issues the star certificate; a second click of the same button does nothing.
    form = {"member_id": str(world.vol_a.id), "kind": "star", "form_key": _form_key(row.group(1))}
    resp = web.post("/recognition/desk/issue", form)
    assert resp.status_code == 302 and "/recognition/certificates/" in resp.location
    assert web.post("/recognition/desk/issue", form).status_code == 302
    assert [c[:2] for c in _certs(app)] == [("star", world.vol_a.id)]
    with app.app_context():
        assert db.session.scalar(select(StarAward.certificate_id)) is not None
    desk = web.text(web.get("/recognition/desk"))
    assert f'data-testid="due-{world.vol_a.id}"' not in desk
    assert 'data-testid="no-stars-due"' in desk
    assert 'data-testid="nav-badge"' not in desk
    # Revoking the star certificate puts the notice back.
    serial = _certs(app)[0][2]
    web.post(f"/recognition/certificates/{serial}/revoke", {"reason": "重新出具"})
    assert f'data-testid="due-{world.vol_a.id}"' in web.text(web.get("/recognition/desk"))


def test_the_desk_lists_certificates_in_reach_by_kind(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    api.earn(world.vol_b, world.staff_b)
    record = _issue(app, world.staff_a, world.vol_a)
    honor = _issue(app, world.staff_a, world.vol_a, kind="honor")
    theirs = _issue(app, world.staff_b, world.vol_b)
    _login(web, world.staff_a)
    page = web.text(web.get("/recognition/desk"))
    assert f'data-testid="certificate-{record}"' in page
    assert f'data-testid="certificate-{honor}"' in page
    assert f'data-testid="certificate-{theirs}"' not in page
    row = re.search(rf'data-testid="certificate-{record}">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-testid="member">张小三<', row)  # staff in reach: in full
    only = web.text(web.get("/recognition/desk?kind=honor"))
    assert f'data-testid="certificate-{honor}"' in only
    assert f'data-testid="certificate-{record}"' not in only
    odd = web.get("/recognition/desk?kind=nope&page=abc")
    assert odd.status_code == 200 and "alert-warning" in web.text(odd)
    assert f'data-testid="certificate-{record}"' in web.text(odd)
    _login(web, world.admin)
    page = web.text(web.get("/recognition/desk"))
    assert f'data-testid="certificate-{theirs}"' in page


# --- volunteer teams ----------------------------------------------------------------------


def test_staff_create_a_team_add_members_name_a_leader_and_remove_them(app, web, world):
    _login(web, world.staff_a)
    page = web.text(web.get("/recognition/desk/teams"))
    assert f'value="{world.units["A1"]}"' in page and f'value="{world.units["B1"]}"' not in page
    resp = web.post("/recognition/desk/teams", {"org_unit_id": str(world.units["A"]),
                                                "name": "助老服务队", "description": "陪伴老人"})
    assert resp.status_code == 302
    team_id = int(re.search(r"/recognition/desk/teams/(\d+)$", resp.location).group(1))
    assert _team_row(app, team_id) == ("助老服务队", "陪伴老人", None)
    page = web.text(web.follow(resp))
    assert f'<option value="{world.vol_a.id}"' in page
    for person in (world.vol_a, world.vol_a2):
        resp = web.post(f"/recognition/desk/teams/{team_id}/members",
                        {"member_id": str(person.id)})
        assert resp.status_code == 302 and resp.location.endswith(f"/teams/{team_id}")
    assert _members(app, team_id) == {world.vol_a.id, world.vol_a2.id}
    resp = web.post(f"/recognition/desk/teams/{team_id}/members",
                    {"member_id": str(world.vol_a.id)})  # already in
    assert _has_danger_flash(web.text(web.follow(resp)))
    resp = web.post(f"/recognition/desk/teams/{team_id}/leader",
                    {"member_id": str(world.vol_a2.id)})
    assert resp.status_code == 302 and _team_row(app, team_id)[2] == world.vol_a2.id
    page = web.text(web.follow(resp))
    assert re.search(r'data-testid="leader">李四<', page)  # staff in reach: in full
    listing = web.text(web.get("/recognition/desk/teams"))
    row = re.search(rf'data-testid="team-{team_id}">(.*?)</tr>', listing, re.S).group(1)
    assert re.search(r'data-testid="member-count">2<', row) and "李四" in row
    resp = web.post(f"/recognition/desk/teams/{team_id}/members/{world.vol_a2.id}/remove")
    assert resp.status_code == 302
    assert _members(app, team_id) == {world.vol_a.id}
    assert _team_row(app, team_id)[2] is None  # the leader left
    resp = web.post(f"/recognition/desk/teams/{team_id}/members/{world.vol_a2.id}/remove")
    assert resp.status_code == 302 and _has_danger_flash(web.text(web.follow(resp)))
    resp = web.post(f"/recognition/desk/teams/{team_id}/rename",
                    {"name": "助老志愿服务队", "description": ""})
    assert resp.status_code == 302
    assert _team_row(app, team_id) == ("助老志愿服务队", "", None)


@pytest.mark.parametrize("form, field", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"description": "x" * 1001}, "description"),
    ({"org_unit_id": ""}, "org_unit_id"),
    ({"org_unit_id": "abc"}, "org_unit_id"),
    ({"org_unit_id": BIG}, "org_unit_id"),
    ({"org_unit_id": "B1"}, "org_unit_id"),
    ({"org_unit_id": "999999"}, "org_unit_id"),
    ({"name": "DUPLICATE"}, "name"),
])
def test_a_bad_team_form_creates_nothing(app, web, world, form, field):
    existing = _team(app, world.staff_a, world.units["A"], name="已有队伍")
    values = {"org_unit_id": str(world.units["A"]), "name": "新队伍", "description": ""}
    values.update(form)
    if values["org_unit_id"] == "B1":
        values["org_unit_id"] = str(world.units["B1"])
    if values["name"] == "DUPLICATE":
        values["name"] = "已有队伍"
    _login(web, world.staff_a)
    web.get("/recognition/desk/teams")
    resp = web.post("/recognition/desk/teams", values)
    assert resp.status_code == 422
    page = web.text(resp)
    assert _has_danger_flash(page)
    assert f'data-testid="error-{field}"' in page
    with app.app_context():
        assert list(db.session.scalars(select(VolunteerTeam.id))) == [existing]


def test_teams_out_of_reach_are_not_found(app, web, world):
    team_id = _team(app, world.staff_a, world.units["A"])
    _login(web, world.staff_b)
    assert web.get(f"/recognition/desk/teams/{team_id}").status_code == 404
    assert f'data-testid="team-{team_id}"' not in web.text(web.get("/recognition/desk/teams"))
    for path, form in [
        (f"/recognition/desk/teams/{team_id}/members", {"member_id": str(world.vol_b.id)}),
        (f"/recognition/desk/teams/{team_id}/rename", {"name": "改名"}),
        (f"/recognition/desk/teams/{team_id}/leader", {"member_id": ""}),
    ]:
        assert web.post(path, form).status_code in (302, 403, 404)
    assert _members(app, team_id) == set() and _team_row(app, team_id)[0] == "环保志愿服务队"
    _login(web, world.staff_a)
    assert web.get("/recognition/desk/teams/999999").status_code == 404
    assert web.get(f"/recognition/desk/teams/{BIG}").status_code == 404
    assert web.post(f"/recognition/desk/teams/{BIG}/members",
                    {"member_id": "1"}).status_code == 404
    # A member of the team still has no desk page.
    with app.app_context():
        teams.add_member(actor=_user(world.staff_a), team_id=team_id, member_id=world.vol_a.id)
    _login(web, world.vol_a)
    assert web.get(f"/recognition/desk/teams/{team_id}").status_code == 403


@pytest.mark.parametrize("member", ["vol_b", "staff_a", "merchant_a", "999999", BIG, "abc", ""])
def test_only_members_of_the_community_join_a_team(app, web, world, member):
    team_id = _team(app, world.staff_a, world.units["A"])
    value = str(getattr(world, member).id) if hasattr(world, member) else member
    _login(web, world.staff_a)
    web.get(f"/recognition/desk/teams/{team_id}")
    resp = web.post(f"/recognition/desk/teams/{team_id}/members", {"member_id": value})
    assert resp.status_code == 302
    assert _has_danger_flash(web.text(web.follow(resp)))
    assert _members(app, team_id) == set()


def test_the_leader_must_be_in_the_team(app, web, world):
    team_id = _team(app, world.staff_a, world.units["A"])
    _login(web, world.staff_a)
    web.get(f"/recognition/desk/teams/{team_id}")
    for value in (str(world.vol_a.id), "abc", BIG):
        resp = web.post(f"/recognition/desk/teams/{team_id}/leader", {"member_id": value})
        assert resp.status_code == 302 and _has_danger_flash(web.text(web.follow(resp)))
    assert _team_row(app, team_id)[2] is None


# --- the red flag -------------------------------------------------------------------------


def test_the_red_flag_history_shows_each_months_scores(app, web, world):
    _serve(app, world.vol_a, world.staff_a, days_back=45, hours=3)
    _serve(app, world.vol_a2, world.staff_a, days_back=45, hours=1)
    month = _past_day(app, 45).replace(day=1)
    with app.app_context():
        outcomes = awards.award_red_flag(month)
        award = next(o.award for o in outcomes if o.community.id == world.units["A"])
        scores = {row["grid_id"]: row for row in award.scores}
    _login(web, world.staff_a)
    page = web.text(web.get("/recognition/desk/red-flag"))
    assert 'data-testid="cli-note"' in page and "awards red-flag --month" in page
    section = re.search(rf'data-testid="award-{month:%Y-%m}"(.*?)</section>', page, re.S)
    assert section
    body = section.group(1)
    assert re.search(rf'data-testid="month">{month.year}年{month.month}月<', body)
    assert re.search(r'data-testid="winner">⚑ 第一网格<', body)
    a1 = re.search(rf'data-testid="score-{world.units["A1"]}"(.*?)</tr>', body, re.S).group(1)
    assert re.search(r'data-testid="hours">3\.00<', a1)
    expected = scores[world.units["A1"]]["score_minor"]
    assert re.search(rf'data-testid="grid-score">{expected // 100}\.{expected % 100:02d}<', a1)
    assert f'data-testid="score-{world.units["A2"]}"' in body
    # Another community's staff see their own community only; asking for A is not found.
    _login(web, world.staff_b)
    assert web.get(f"/recognition/desk/red-flag?community_id={world.units['A']}"
                   ).status_code == 404
    assert f'data-testid="award-{month:%Y-%m}"' not in web.text(
        web.get("/recognition/desk/red-flag"))
    for bad in ("abc", BIG, str(world.units["A1"]), "-1"):
        assert web.get(f"/recognition/desk/red-flag?community_id={bad}").status_code == 404
    _login(web, world.admin)
    page = web.text(web.get(f"/recognition/desk/red-flag?community_id={world.units['A']}"))
    assert f'data-testid="award-{month:%Y-%m}"' in page
    assert 'data-testid="community-filter"' in page


def test_a_community_without_awards_says_so(web, world):
    _login(web, world.staff_a)
    page = web.text(web.get("/recognition/desk/red-flag"))
    assert 'data-testid="no-awards"' in page


def test_the_red_flag_page_takes_no_unicode_digits_for_an_id(web, world):
    _login(web, world.staff_a)
    assert web.get("/recognition/desk/red-flag?community_id=²").status_code == 404
    assert web.get(f"/recognition/desk/red-flag?community_id={world.units['A']}"
                   ).status_code == 200
