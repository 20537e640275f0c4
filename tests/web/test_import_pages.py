"""Member import pages, and the party and ID fields of the staff member form."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import MemberImport, User

ZH = "姓名,手机号,网格,身份证号,角色,党员,党组织,用户名"
ID1, ID2 = "11010519491231002X", "440524188001010014"
PASSWORD = "first-pass-2026"


def _csv(*rows: str, header: str = ZH) -> bytes:
    return ("\ufeff" + "\r\n".join([header, *rows]) + "\r\n").encode()


def _upload(web, unit_id, data: bytes, filename: str = "名单.csv", **kw):
    return web.post("/members/import/", {"org_unit_id": unit_id,
                                         "file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data", **kw)


def _count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def _imports(app) -> list[MemberImport]:
    with app.app_context():
        return list(db.session.scalars(select(MemberImport).order_by(MemberImport.id)))


def _batch_id(resp) -> int:
    found = re.search(r"/members/import/(\d+)$", resp.location)
    assert found, resp.location
    return int(found.group(1))


def test_upload_preview_confirm_and_the_new_members_sign_in(app, web, web_factory, world):
    web.login(world.staff_a)
    page = web.text(web.get("/members/import/"))
    assert "<progress" in page and "js/member_import.js" in page
    assert 'enctype="multipart/form-data"' in page and 'name="csrf_token"' in page
    assert "<script>" not in page  # no inline script: the progress bar is a served file
    assert web.get("/static/js/member_import.js").status_code == 200

    resp = _upload(web, world.units["A"], _csv(
        f"王五,13812345678,第一网格,{ID1},志愿者,是,阳光社区党支部,wangwu",
        "赵六,13912345678,第二网格,,网格员,否,,"))
    assert resp.status_code == 302
    batch_id = _batch_id(resp)
    preview = web.text(web.follow(resp))
    assert "王五" in preview and "赵六" in preview
    assert "110105********002X" in preview and ID1 not in preview
    assert "138****5678" in preview and "13812345678" not in preview
    assert f"imp{batch_id}-3" in preview  # the made-up username is shown before confirming
    confirm_button = re.search(r'<button[^>]*data-testid="confirm"[^>]*>', preview).group(0)
    assert "disabled" not in confirm_button
    before = _count_users(app)

    resp = web.post(f"/members/import/{batch_id}/confirm", {"password": PASSWORD})
    assert resp.status_code == 302 and resp.location.endswith(f"/{batch_id}/result")
    result = web.text(web.follow(resp))
    assert 'data-testid="imported"' in result and "wangwu" in result
    assert ID1 not in result
    assert _count_users(app) == before + 2
    assert web.get(f"/members/import/{batch_id}").status_code == 302  # on to the result

    newcomer = web_factory()
    assert newcomer.post("/login", {"username": "wangwu", "password": PASSWORD}
                         ).status_code == 302
    members = web.text(web.get("/desk/members"))
    assert "王五" in members and "110105********002X" in members and ID1 not in members

    again = web.post(f"/members/import/{batch_id}/confirm", {"password": PASSWORD})
    assert again.status_code == 302
    assert _count_users(app) == before + 2


def test_the_progress_script_gets_json_and_plain_forms_get_redirects(app, web, world):
    web.login(world.staff_a)
    web.get("/members/import/")
    resp = _upload(web, world.units["A"], _csv("王五,13812345678,第一网格,,,,,"),
                   headers={"X-Upload-Progress": "1"})
    assert resp.status_code == 200
    location = resp.get_json()["location"]
    assert re.fullmatch(r"/members/import/\d+", location)
    refused = _upload(web, world.units["A"], b"", headers={"X-Upload-Progress": "1"})
    assert refused.status_code == 200 and refused.get_json()["location"] == "/members/import/"


def test_row_errors_are_shown_and_confirming_is_refused(app, make, web, world):
    make.user(["volunteer"], world.units["A1"], phone="13700000000")
    web.login(world.staff_a)
    resp = _upload(web, world.units["A"], _csv(
        "王五,13812345678,第一网格,,,,,",
        ",13700000000,第九网格,110105194912310021,队长,也许,,"))
    batch_id = _batch_id(resp)
    preview = web.text(web.follow(resp))
    row = re.search(r'<tr data-testid="errors-3".*?</tr>', preview, re.S).group(0)
    for code in ("name_missing", "phone_taken", "grid_unknown", "id_checksum",
                 "role_unknown", "party_unknown"):
        assert f'data-code="{code}"' in row, code
    assert 'data-testid="row-3" class="table-danger"' in preview
    assert 'data-testid="errors-2"' not in preview
    confirm_button = re.search(r'<button[^>]*data-testid="confirm"[^>]*>', preview).group(0)
    assert "disabled" in confirm_button
    assert 'data-testid="row-2"' not in web.text(web.get(
        f"/members/import/{batch_id}?errors=1"))
    before = _count_users(app)
    resp = web.post(f"/members/import/{batch_id}/confirm", {"password": PASSWORD})
    assert resp.status_code == 302 and resp.location.endswith(f"/members/import/{batch_id}")
    assert "alert-danger" in web.text(web.follow(resp))
    assert _count_users(app) == before


def test_a_long_preview_is_paginated(app, web, world):
    rows = [f"成员{i},138{i:08d},第一网格,,,,," for i in range(250)]
    web.login(world.staff_a)
    resp = _upload(web, world.units["A"], _csv(*rows))
    batch_id = _batch_id(resp)
    first = web.text(web.follow(resp))
    assert 'data-testid="row-2"' in first and 'data-testid="row-102"' not in first
    assert 'data-testid="pages"' in first
    third = web.text(web.get(f"/members/import/{batch_id}?page=3"))
    assert 'data-testid="row-202"' in third and 'data-testid="row-251"' in third
    assert 'data-testid="row-2"' not in third
    assert web.get(f"/members/import/{batch_id}?page=999").status_code == 200


@pytest.mark.parametrize("filename, data", [
    ("l.csv", b""),
    ("l.csv", bytes(range(256)) * 40),
    ("l.xlsx", b"PK\x03\x04 broken"),
    ("l.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    ("photo.png", b"\x89PNG\r\n\x1a\n"),
    ("l.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
    ("l.csv", "名字啊\r\n张三\r\n".encode()),
])
def test_a_garbage_upload_is_told_in_a_flash(app, web, world, filename, data):
    web.login(world.staff_a)
    web.get("/members/import/")
    resp = _upload(web, world.units["A"], data, filename)
    assert resp.status_code == 302 and resp.location == "/members/import/"
    page = web.text(web.follow(resp))
    assert "alert-danger" in page
    assert _imports(app) == []


def test_a_form_without_a_file_or_unit_stores_nothing(app, web, world):
    web.login(world.staff_a)
    web.get("/members/import/")
    no_file = web.post("/members/import/", {"org_unit_id": world.units["A"]},
                       content_type="multipart/form-data")
    assert no_file.status_code == 302
    assert "alert-danger" in web.text(web.follow(no_file))
    no_unit = _upload(web, "", _csv("王五,13812345678,第一网格,,,,,"))
    assert no_unit.status_code == 302
    assert _imports(app) == []


def test_other_communities_imports_are_refused(app, web, web_factory, world):
    web.login(world.staff_a)
    batch_id = _batch_id(_upload(web, world.units["A"], _csv("王五,13812345678,第一网格,,,,,")))
    other = web_factory()
    other.login(world.staff_b)
    assert other.get(f"/members/import/{batch_id}").status_code == 403
    assert other.get(f"/members/import/{batch_id}/result").status_code == 403
    assert other.get("/members/import/99999999").status_code == 404
    before = _count_users(app)
    other.get("/members/import/")
    for action in ("confirm", "discard"):
        resp = other.post(f"/members/import/{batch_id}/{action}", {"password": PASSWORD})
        assert resp.status_code in (302, 403)
    assert _count_users(app) == before and _imports(app)[0].status == "preview"
    # staff of B cannot choose community A for an upload either
    resp = _upload(other, world.units["A"], _csv("赵六,13912345678,第一网格,,,,,"))
    assert resp.status_code == 302 and len(_imports(app)) == 1
    assert f'data-testid="import-{batch_id}"' not in other.text(other.get("/members/import/"))


@pytest.mark.parametrize("who", ["vol_a", "merchant_a"])
def test_only_staff_reach_the_import_pages(web, world, who):
    web.login(getattr(world, who))
    for path in ("/members/import/", "/members/import/template.csv"):
        assert web.get(path).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(web):
    assert web.get("/members/import/").status_code == 302


def test_forms_without_the_csrf_token_change_nothing(app, web, world):
    web.login(world.staff_a)
    batch_id = _batch_id(_upload(web, world.units["A"], _csv("王五,13812345678,第一网格,,,,,")))
    before = _count_users(app)
    upload = web.client.post("/members/import/", data={
        "org_unit_id": world.units["A"], "file": (io.BytesIO(_csv("赵六,,第一网格,,,,,")),
                                                  "l.csv")},
        content_type="multipart/form-data")
    assert upload.status_code == 302
    for action in ("confirm", "discard"):
        resp = web.post(f"/members/import/{batch_id}/{action}", {"password": PASSWORD},
                        csrf=False)
        assert resp.status_code == 302
    assert _count_users(app) == before
    assert [b.status for b in _imports(app)] == ["preview"]


def test_discarding_a_list(app, web, world):
    web.login(world.staff_a)
    batch_id = _batch_id(_upload(web, world.units["A"], _csv("王五,13812345678,第一网格,,,,,")))
    web.get(f"/members/import/{batch_id}")
    resp = web.post(f"/members/import/{batch_id}/discard")
    assert resp.status_code == 302 and resp.location == "/members/import/"
    batch = _imports(app)[0]
    assert batch.status == "discarded" and batch.rows == []
    assert 'data-testid="discarded"' in web.text(web.get(f"/members/import/{batch_id}"))
    resp = web.post(f"/members/import/{batch_id}/confirm", {"password": PASSWORD})
    assert resp.status_code == 302 and _imports(app)[0].status == "discarded"


def test_the_template_is_a_csv_with_the_headers(web, world):
    web.login(world.staff_a)
    resp = web.get("/members/import/template.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.data.startswith(b"\xef\xbb\xbf")
    assert resp.data.decode("utf-8-sig").strip() == ZH
    link = re.search(r'href="([^"]+)"[^>]*data-testid="template-link"',
                     web.text(web.get("/members/import/"))).group(1)
    assert link == "/members/import/template.csv"


def test_a_file_above_the_upload_limit_is_refused(app, web, world):
    web.login(world.staff_a)
    web.get("/members/import/")
    big = _csv(*[f"成员{i},,第一网格,,,,," + "x" * 300 for i in range(4000)])
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    assert _upload(web, world.units["A"], big).status_code == 413
    assert _imports(app) == []


# --- the member form: party membership and the ID number ---------------------------------


def _new_member(world, **extra):
    return {"username": "wang_wu", "display_name": "王五", "phone": "13812345678",
            "password": "long-enough-1", "roles": ["volunteer"],
            "org_unit_id": world.units["A2"], **extra}


def _member(app, username: str) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == username))


def test_staff_add_a_party_member_with_an_id_number_shown_masked(app, web, world):
    web.login(world.staff_a)
    form = web.text(web.get("/desk/members/new"))
    assert 'name="is_party_member"' in form and 'name="id_number"' in form
    resp = web.post("/desk/members/new", _new_member(
        world, is_party_member="y", party_unit="阳光社区第一党支部", id_number=ID1.lower()))
    assert resp.status_code == 302, web.text(resp)[:2000]
    member = _member(app, "wang_wu")
    assert member.is_party_member and member.party_unit == "阳光社区第一党支部"
    assert member.id_number == ID1
    listing = web.text(web.get("/desk/members"))
    assert "110105********002X" in listing and ID1 not in listing
    assert 'data-testid="party-member"' in listing
    edit = web.text(web.get(f"/desk/members/{member.id}"))
    assert "110105********002X" in edit
    assert ID1 not in edit and ID1.lower() not in edit


@pytest.mark.parametrize("bad, field", [
    ({"id_number": "110105194912310021"}, "id_number"),   # check character
    ({"id_number": "11010519491231"}, "id_number"),       # too short
    ({"id_number": "110105194902300010"}, "id_number"),   # 30 February
    ({"party_unit": "某党支部"}, "party_unit"),           # not a party member
    ({"is_party_member": "y", "party_unit": "党" * 101}, "party_unit"),
])
def test_a_bad_id_number_or_party_unit_is_told_next_to_its_field(app, web, world, bad, field):
    before = _count_users(app)
    web.login(world.staff_a)
    resp = web.post("/desk/members/new", _new_member(world, **bad))
    assert resp.status_code == 422
    assert f'data-testid="error-{field}"' in web.text(resp)
    assert _count_users(app) == before
    assert bad.get("id_number", "~") not in web.text(resp)  # not even what was typed


def test_an_id_number_of_another_member_is_refused_on_create_and_edit(app, web, world):
    web.login(world.staff_a)
    web.post(f"/desk/members/{world.vol_a2.id}", {
        "display_name": "李四", "org_unit_id": world.units["A2"], "roles": ["gridworker"],
        "id_number": ID2})
    assert _member(app, "vol_a2").id_number == ID2
    before = _count_users(app)
    resp = web.post("/desk/members/new", _new_member(world, id_number=ID2))
    assert resp.status_code == 422
    page = web.text(resp)
    error = re.search(r'data-testid="error-id_number">([^<]+)<', page).group(1)
    assert "ID number" in error or "身份证" in error
    assert _count_users(app) == before
    resp = web.post(f"/desk/members/{world.vol_a.id}", {
        "display_name": "张小三", "org_unit_id": world.units["A1"], "roles": ["volunteer"],
        "id_number": ID2})
    assert resp.status_code == 422 and 'data-testid="error-id_number"' in web.text(resp)
    assert _member(app, "vol_a").id_number is None


def test_editing_keeps_replaces_or_removes_the_id_number(app, web, world):
    web.login(world.staff_a)
    base = {"display_name": "张小三", "org_unit_id": world.units["A1"], "roles": ["volunteer"]}
    path = f"/desk/members/{world.vol_a.id}"
    assert web.post(path, {**base, "id_number": ID1, "is_party_member": "y",
                           "party_unit": "一支部"}).status_code == 302
    assert web.post(path, {**base, "id_number": "", "is_party_member": "y",
                           "party_unit": "一支部"}).status_code == 302
    member = _member(app, "vol_a")
    assert member.id_number == ID1 and member.party_unit == "一支部"  # empty keeps it
    page = web.text(web.get(path))
    assert 'data-testid="id-number-on-file">110105********002X<' in page and ID1 not in page
    assert web.post(path, {**base, "id_number": ID2}).status_code == 302
    member = _member(app, "vol_a")
    assert member.id_number == ID2 and not member.is_party_member and member.party_unit is None
    assert web.post(path, {**base, "remove_id_number": "y"}).status_code == 302
    assert _member(app, "vol_a").id_number is None
    assert 'data-testid="id-number-on-file"' not in web.text(web.get(path))
