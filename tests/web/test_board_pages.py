"""Leaderboards, the public certificate check and the community screen."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from timebank.extensions import db
from timebank.models import User
from timebank.services import awards, boards, certificates, teams

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Every record of the crowd starts this many hours ago, so all fall on one local day.
STARTED_HOURS_AGO = 30
_ROW = re.compile(r'<tr data-testid="board-row" data-rank="(\d+)"\s+data-tied="([01])">'
                  r'.*?<td data-testid="name">([^<]*)</td>'
                  r'.*?<td class="text-end value-col" data-testid="value">([^<]*)</td>', re.S)
_SCREEN_ROW = re.compile(r'<li data-testid="board-row" data-rank="(\d+)"\s+data-tied="([01])">'
                         r'.*?<span class="screen-name" data-testid="name">([^<]*)</span>', re.S)


def _user(person) -> User:
    return db.session.get(User, person.id)


def _started_day(hours_ago: float):
    return (datetime.now(SHANGHAI) - timedelta(hours=hours_ago)).date()


def _earn(api, member, reviewer, hours: int, started_hours_ago: float = STARTED_HOURS_AGO):
    """Approved hours that started `started_hours_ago` hours ago."""
    api.earn(member, reviewer, ago=started_hours_ago - hours, length=hours)


def _rows(html: str) -> list[tuple[int, bool, str, str]]:
    return [(int(rank), tied == "1", name, value) for rank, tied, name, value in _ROW.findall(html)]


def _screen_section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start:html.index("</section>", start)]


@pytest.fixture
def crowd(make, world, api):
    """Community A: 王五六 3 h, 张小三 and 李四 2 h each (a tie), 赵六 1 h, all on one day."""
    wang = make.user(["volunteer"], world.units["A1"], display_name="王五六")
    zhao = make.user(["volunteer"], world.units["A2"], display_name="赵六")
    _earn(api, wang, world.staff_a, 3)
    _earn(api, world.vol_a, world.staff_a, 2)
    _earn(api, world.vol_a2, world.staff_a, 2)
    _earn(api, zhao, world.staff_a, 1)
    return {"wang": wang, "zhao": zhao, "day": _started_day(STARTED_HOURS_AGO)}


# --- leaderboards --------------------------------------------------------------------------


def test_a_member_sees_masked_names_with_ties_sharing_a_rank(web, world, crowd):
    web.login(world.vol_a)
    resp = web.get(f"/leaderboards?date={crowd['day'].isoformat()}")
    assert resp.status_code == 200
    html = web.text(resp)
    assert _rows(html) == [(1, False, "王*六", "3.00"), (2, True, "张*三", "2.00"),
                           (2, True, "李*", "2.00"), (4, False, "赵*", "1.00")]
    for full in ("王五六", "赵六", "李四"):
        assert full not in html
    day = crowd["day"]
    first = day.replace(day=1)
    dates = re.search(r'data-testid="period-dates">(.*?)</p>', html, re.S).group(1)
    assert f"{first.year}年{first.month}月1日" in dates
    assert 'alert-warning' not in html


def test_staff_see_the_same_ranks_by_points_and_can_narrow_to_a_grid(web, world, crowd):
    web.login(world.staff_a)
    day = crowd["day"].isoformat()
    html = web.text(web.get(f"/leaderboards?date={day}&metric=points&limit=20"))
    assert _rows(html) == [(1, False, "王*六", "30.00"), (2, True, "张*三", "20.00"),
                           (2, True, "李*", "20.00"), (4, False, "赵*", "10.00")]
    grid = web.text(web.get(f"/leaderboards?date={day}&scope={world.units['A1']}"))
    assert _rows(grid) == [(1, False, "王*六", "3.00"), (2, False, "张*三", "2.00")]
    grids = web.text(web.get(f"/leaderboards?date={day}&group=grid"))
    assert [(rank, name, value) for rank, _t, name, value in _rows(grids)] == [
        (1, "第一网格", "5.00"), (2, "第二网格", "3.00")]


def test_the_member_scope_list_holds_the_street_community_and_grids(web, world, crowd):
    web.login(world.vol_a)
    html = web.text(web.get(f"/leaderboards?date={crowd['day'].isoformat()}"))
    select = re.search(r'<select class="form-select" id="scope".*?</select>', html, re.S).group(0)
    offered = {int(v) for v in re.findall(r'value="(\d+)"', select)}
    assert offered == {world.units[k] for k in ("street", "A", "A1", "A2")}
    street = web.text(web.get(
        f"/leaderboards?date={crowd['day'].isoformat()}&scope={world.units['street']}"))
    assert [name for *_r, name, _v in _rows(street)] == ["王*六", "张*三", "李*", "赵*"]


def test_an_opted_out_member_is_left_out(app, web, world, crowd):
    with app.app_context():
        boards.set_on_boards(_user(crowd["zhao"]), shown=False)
    web.login(world.vol_a)
    html = web.text(web.get(f"/leaderboards?date={crowd['day'].isoformat()}"))
    assert [name for *_r, name, _v in _rows(html)] == ["王*六", "张*三", "李*"]
    assert "赵*" not in html


def test_anonymous_visitors_are_sent_to_sign_in(web, world):
    resp = web.get("/leaderboards")
    assert resp.status_code == 302
    assert resp.location.startswith("/login")


@pytest.mark.parametrize("query", [
    "period=decade", "metric=likes", "group=family", "limit=7", "limit=-1", "scope=abc",
    "scope=99999999999999999999", "date=2026-13-45", "date=yesterday", "date=1899-01-01",
    "group=%E2%80%AE",  # a NUL anywhere in a query is a 400 page (test_bad_input_pages)
])
def test_bad_filter_values_show_the_defaults_with_a_message(web, world, query):
    web.login(world.vol_a)
    resp = web.get(f"/leaderboards?{query}")
    assert resp.status_code == 200
    html = web.text(resp)
    assert "alert-warning" in html
    assert '<option value="month" selected>' in html
    assert '<option value="hours" selected>' in html
    assert '<option value="member" selected>' in html
    assert '<option value="10" selected>' in html
    assert f'<option value="{world.units["A"]}" selected>' in html


def test_a_scope_outside_the_members_reach_falls_back_to_their_community(web, world):
    web.login(world.vol_a)
    html = web.text(web.get(f"/leaderboards?scope={world.units['B']}"))
    assert "alert-warning" in html
    assert f'<option value="{world.units["A"]}" selected>' in html
    assert f'value="{world.units["B"]}"' not in html


def test_an_empty_period_says_so(web, world):
    web.login(world.staff_b)
    resp = web.get("/leaderboards?date=2024-02-10&period=week")
    assert resp.status_code == 200
    assert 'data-testid="board-empty"' in web.text(resp)


# --- certificate check ---------------------------------------------------------------------


@pytest.fixture
def certificate(app, world, api):
    _earn(api, world.vol_a, world.staff_a, 2)
    with app.app_context():
        return certificates.issue(actor=_user(world.staff_a), member_id=world.vol_a.id,
                                  kind="service_record").serial


def test_anyone_can_check_a_certificate_and_sees_only_the_masked_name(web, certificate):
    resp = web.get(f"/verify/{certificate}")
    assert resp.status_code == 200
    html = web.text(resp)
    assert 'data-testid="verify-status" data-status="valid"' in html
    assert '<meta name="robots" content="noindex">' in html
    assert "张*三" in html and "张小三" not in html
    assert certificate in html
    assert '<dd class="col-7 col-sm-8" data-testid="hours">2.00</dd>' in html
    assert "阳光社区" in html
    assert resp.headers["Cache-Control"] == "no-store"


def test_the_form_sends_a_typed_number_to_its_page(web, certificate):
    assert web.get("/verify").status_code == 200
    typed = f"  {certificate.lower()[:8]} {certificate.lower()[8:]} "
    resp = web.get(f"/verify?serial={quote(typed)}")
    assert resp.status_code == 302
    assert resp.location == f"/verify/{certificate}"
    empty = web.get("/verify?serial=+")
    assert empty.status_code == 200 and "alert-warning" in web.text(empty)


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),       # a forged signature
    lambda s: s.replace("-0000", "-0009", 1),                  # another number, old signature
    lambda s: "TB2026-000001-AAAAAAAAAA",
    lambda s: "x" * 5000,
    lambda s: "%E2%80%AE%F0%9F%98%80%EF%BF%BD",
    lambda s: "%00",
    lambda s: "..%2F..%2Fetc%2Fpasswd",
])
def test_an_unknown_or_forged_number_is_plainly_not_found(web, certificate, mangle):
    resp = web.get(f"/verify/{mangle(certificate)}")
    assert resp.status_code == 404
    assert 'data-status="missing"' in web.text(resp)
    assert "张*三" not in web.text(resp)


def test_junk_typed_into_the_form_is_not_found(web, certificate):
    for typed in ("a/b", "x" * 100, "证书"):
        resp = web.get(f"/verify?serial={quote(typed)}")
        assert resp.status_code == 404
        assert 'data-status="missing"' in web.text(resp)


def test_a_revoked_certificate_says_so_with_the_day(app, web, world, certificate):
    with app.app_context():
        certificates.revoke(actor=_user(world.staff_a), serial=certificate, reason="信息有误")
    html = web.text(web.get(f"/verify/{certificate}"))
    assert 'data-testid="verify-status" data-status="revoked"' in html
    today = datetime.now(SHANGHAI).date()
    assert f'data-testid="revoked-on">{today.isoformat()}<' in html


# --- community screen ----------------------------------------------------------------------


def test_the_community_screen_shows_masked_names_ranks_teams_and_totals(
        app, web, world, crowd):
    with app.app_context():
        staff = _user(world.staff_a)
        team = teams.create_team(actor=staff, org_unit_id=world.units["A"], name="红马甲")
        teams.add_member(actor=staff, team_id=team.id, member_id=crowd["wang"].id)
    resp = web.get(f"/board/{world.units['A']}?date={crowd['day'].isoformat()}")
    assert resp.status_code == 200
    html = web.text(resp)
    assert '<meta http-equiv="refresh" content="300">' in html
    members = _SCREEN_ROW.findall(_screen_section(html, "top-members"))
    assert [(int(r), t == "1", n) for r, t, n in members] == [
        (1, False, "王*六"), (2, True, "张*三"), (2, True, "李*"), (4, False, "赵*")]
    for full in ("王五六", "张小三", "李四", "赵六", "陈社工"):
        assert full not in html
    grids = _screen_section(html, "grids")
    assert "第一网格" in grids and "第二网格" in grids
    assert "红马甲" in _screen_section(html, "teams")
    assert 'data-testid="total-hours">8.00<' in html
    assert 'data-testid="total-active">4<' in html
    assert 'data-testid="total-records">4<' in html
    assert 'data-testid="flag-none"' in html


def test_the_red_flag_holder_and_its_history_are_on_the_screen(app, web, world, api):
    started = 24 * 45  # always in an earlier month, and within the last six
    _earn(api, world.vol_a, world.staff_a, 3, started_hours_ago=started)
    month = _started_day(started).replace(day=1)
    with app.app_context():
        awards.award_red_flag(month)
    html = web.text(web.get(f"/board/{world.units['A']}"))
    assert f'data-testid="flag-holder" data-grid="{world.units["A1"]}"' in html
    assert re.search(r'data-testid="flag-grid">第一网格<', html)
    assert f'data-month="{month.isoformat()}"' in html
    assert f"{month.year}年{month.month}月" in html
    assert "张小三" not in html


@pytest.mark.parametrize("target", ["grid", "street", "unknown", "huge"])
def test_only_a_community_has_a_screen(web, world, target):
    unit = {"grid": world.units["A1"], "street": world.units["street"], "unknown": 999999,
            "huge": 10**20}[target]
    assert web.get(f"/board/{unit}").status_code == 404


def test_a_screen_with_no_data_at_all_shows_its_empty_state(make, web):
    community = make.unit("community", "新建社区")
    resp = web.get(f"/board/{community}?date=bad")
    assert resp.status_code == 200
    html = web.text(resp)
    assert "新建社区" in html
    assert 'data-testid="flag-none"' in html
    assert html.count('data-testid="empty"') == 3
    assert 'data-testid="total-hours">0.00<' in html


def test_the_board_index_lists_communities_and_works_empty(web, world):
    html = web.text(web.get("/board"))
    linked = {int(i) for i in re.findall(r'data-testid="community" data-id="(\d+)"', html)}
    assert linked == {world.units["A"], world.units["B"]}
    assert f'href="/board/{world.units["A"]}"' in html


def test_the_board_index_without_communities(web):
    resp = web.get("/board")
    assert resp.status_code == 200
    assert 'data-testid="board-empty"' in web.text(resp)
