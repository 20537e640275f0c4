"""Member import: reading CSV and XLSX, checking every row, and creating all or nobody."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import event, func, select
from werkzeug.security import check_password_hash

from timebank.errors import (
    AlreadyExists,
    Forbidden,
    InvalidTransition,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import Account, AuditEvent, MemberImport, User
from timebank.services import ledger, member_import, users

ZH = ["姓名", "手机号", "网格", "身份证号", "角色", "党员", "党组织", "用户名"]
EN = ["name", "phone", "grid", "id_number", "role", "party_member", "party_unit", "username"]
ID1, ID2, ID3 = "11010519491231002X", "440524188001010014", "110101199003070011"
PASSWORD = "first-pass-2026"


def _user(person) -> User:
    return db.session.get(User, person.id)


def _csv(rows, header=ZH, encoding="utf-8-sig", delimiter=",") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(str(c) for c in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _xlsx(rows, header=EN) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _count(model, *where) -> int:
    db.session.rollback()  # a fresh look: the tests' own session may hold an old snapshot
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _codes(batch: MemberImport) -> dict[int, list[str]]:
    return {row["line"]: [e["code"] for e in row["errors"]] for row in batch.rows if row["errors"]}


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


# --- reading files ----------------------------------------------------------------------


def test_a_clean_csv_with_bom_becomes_members_with_accounts_in_one_go(ctx, world):
    staff = _user(world.staff_a)
    data = _csv([
        ["王五", "13812345678", "第一网格", ID1, "志愿者", "是", "阳光社区党支部", "wangwu"],
        ["赵六", "139 1234 5678", str(world.units["A2"]), ID2.lower(), "网格员", "否", "", ""],
        ["钱七", "", "第二网格", "", "", "", "", ""],
    ])
    batch = member_import.preview(staff, world.units["A"], "名单.csv", data)
    assert (batch.row_count, batch.error_count, batch.status) == (3, 0, "preview")
    assert batch.filename == "名单.csv"
    users_before, accounts_before = _count(User), _count(Account)

    assert member_import.confirm(_user(world.staff_a), batch.id, password=PASSWORD) == 3

    assert _count(User) == users_before + 3 and _count(Account) == accounts_before + 3
    wang = db.session.scalar(select(User).where(User.username == "wangwu"))
    assert (wang.display_name, wang.phone, wang.org_unit_id) == ("王五", "13812345678",
                                                                 world.units["A1"])
    assert wang.roles == ["volunteer"] and wang.is_party_member
    assert (wang.party_unit, wang.id_number) == ("阳光社区党支部", ID1)
    zhao = db.session.scalar(select(User).where(User.display_name == "赵六"))
    assert zhao.username == f"imp{batch.id}-3"  # made up from the import and the line
    assert (zhao.phone, zhao.id_number, zhao.roles) == ("13912345678", ID2, ["gridworker"])
    assert zhao.org_unit_id == world.units["A2"] and not zhao.is_party_member
    qian = db.session.scalar(select(User).where(User.display_name == "钱七"))
    assert qian.phone is None and qian.id_number is None and qian.roles == ["volunteer"]
    for member in (wang, zhao, qian):
        assert ledger.member_account(member.id).balance_minor == 0
        assert check_password_hash(member.password_hash, PASSWORD)
    assert users.authenticate("wangwu", PASSWORD).id == wang.id

    batch = db.session.get(MemberImport, batch.id)
    assert batch.status == "imported" and batch.imported_at is not None
    assert ID1 not in str(batch.rows)  # the full number now lives on the member only
    events = list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "members.imported")))
    assert len(events) == 1
    assert events[0].subject_id == batch.id and events[0].details["count"] == 3
    assert events[0].actor_id == world.staff_a.id


def test_a_gb18030_csv_from_chinese_excel_is_read(ctx, world):
    data = _csv([["王五", "13812345678", "第一网格", "", "志愿者", "否", "", ""]],
                encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    batch = member_import.preview(_user(world.staff_a), world.units["A"], "list.csv", data)
    assert batch.error_count == 0 and batch.rows[0]["values"]["name"] == "王五"
    assert batch.rows[0]["grid_id"] == world.units["A1"]


def test_utf8_without_bom_and_a_tab_separated_file_are_read(ctx, world):
    plain = _csv([["王五", "13812345678", "第一网格", "", "", "", "", ""]], encoding="utf-8")
    tabbed = _csv([["赵六", "13812345679", "第一网格", "", "", "", "", ""]], delimiter="\t")
    for data in (plain, tabbed):
        batch = member_import.preview(_user(world.staff_a), world.units["A"], "l.txt", data)
        assert batch.error_count == 0 and batch.row_count == 1


def test_an_xlsx_with_english_headers_numbers_and_blank_lines(ctx, world):
    data = _xlsx([
        ["Wang Wu", 13812345678, "第一网格", ID3, "volunteer", "yes", "Party branch", None],
        [None, None, None, None, None, None, None, None],  # a blank line is skipped
        ["Zhao Liu", 13912345678.0, world.units["A2"], None, "gridworker", "no", None, "zhaoliu"],
        ["Qian Qi", None, "第一网格", 1.10105194912310e17, None, None, None, None],
    ])
    batch = member_import.preview(_user(world.staff_a), world.units["A"], "members.xlsx", data)
    assert batch.row_count == 3
    assert _codes(batch) == {5: ["id_as_number"]}
    assert batch.rows[0]["values"]["phone"] == "13812345678"
    assert batch.rows[1]["grid_id"] == world.units["A2"] and batch.rows[1]["line"] == 4


def test_a_grid_as_the_chosen_unit_needs_no_grid_column(ctx, world):
    data = _csv([["王五", "13812345678"]], header=["姓名", "手机号"])
    batch = member_import.preview(_user(world.staff_a), world.units["A2"], "l.csv", data)
    assert batch.error_count == 0 and batch.rows[0]["grid_id"] == world.units["A2"]
    in_community = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv", data)
    assert _codes(in_community) == {2: ["grid_missing"]}


# --- what is wrong with a row -----------------------------------------------------------


def test_every_kind_of_row_error_is_listed(ctx, make, world):
    make.user(["volunteer"], world.units["A1"], username="taken", phone="13700000000")
    users.update_member(_user(world.admin), world.vol_a.id, id_number=ID3)
    rows = [
        ["", "13800000001", "第一网格", "", "", "", "", ""],                  # 2 name missing
        ["名" * 101, "13800000002", "第一网格", "", "", "", "", ""],          # 3 too long
        ["甲", "12345", "第一网格", "", "", "", "", ""],                      # 4 bad phone
        ["乙", "13800000005", "第一网格", "", "", "", "", ""],                # 5 (first)
        ["丙", "13800000005", "第一网格", "", "", "", "", ""],                # 6 same phone
        ["丁", "13700000000", "第一网格", "", "", "", "", ""],                # 7 phone taken
        ["戊", "13800000008", "", "", "", "", "", ""],                        # 8 no grid
        ["己", "13800000009", "第九网格", "", "", "", "", ""],                # 9 unknown grid
        ["庚", "13800000010", str(world.units["B1"]), "", "", "", "", ""],    # 10 out of reach
        ["辛", "13800000011", "第一网格", "110105194912310021", "", "", "", ""],  # 11 checksum
        ["壬", "13800000012", "第一网格", "1101051949", "", "", "", ""],      # 12 format
        ["癸", "13800000013", "第一网格", "110105194902300010", "", "", "", ""],  # 13 date
        ["子", "13800000014", "第一网格", ID1, "", "", "", ""],               # 14 (first)
        ["丑", "13800000015", "第一网格", ID1.lower(), "", "", "", ""],       # 15 same ID
        ["寅", "13800000016", "第一网格", ID3, "", "", "", ""],               # 16 ID taken
        ["卯", "13800000017", "第一网格", "", "队长", "", "", ""],            # 17 role
        ["辰", "13800000018", "第一网格", "", "", "也许", "", ""],            # 18 party?
        ["巳", "13800000019", "第一网格", "", "", "否", "某支部", ""],        # 19 unit w/o party
        ["午", "13800000020", "第一网格", "", "", "", "", "a b"],             # 20 username
        ["未", "13800000021", "第一网格", "", "", "", "", "same"],            # 21 (first)
        ["申", "13800000022", "第一网格", "", "", "", "", "SAME"],            # 22 same name
        ["酉", "13800000023", "第一网格", "", "", "", "", "taken"],           # 23 taken
        ["戌\x07", "13800000024", "第一网格", "", "", "", "", ""],            # 24 control char
        ["亥", "13800000025", "第一网格", "", "staff", "", "", ""],           # 25 not a member
        ["甲乙", "13800000026", "第一网格", "", "", "", "党" * 101, ""],      # 26 unit length
    ]
    batch = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv", _csv(rows))
    assert _codes(batch) == {
        2: ["name_missing"], 3: ["name_too_long"], 4: ["phone_invalid"],
        6: ["phone_in_file"], 7: ["phone_taken"], 8: ["grid_missing"], 9: ["grid_unknown"],
        10: ["grid_unknown"], 11: ["id_checksum"], 12: ["id_format"], 13: ["id_birth_date"],
        15: ["id_in_file"], 16: ["id_taken"], 17: ["role_unknown"], 18: ["party_unknown"],
        19: ["party_unit_not_member"], 20: ["username_invalid"], 22: ["username_in_file"],
        23: ["username_taken"], 24: ["bad_characters"], 25: ["role_unknown"],
        26: ["too_long"],
    }
    assert batch.error_count == 22 and batch.row_count == 25
    same_phone = next(r for r in batch.rows if r["line"] == 6)["errors"][0]
    assert same_phone["line"] == 5
    assert "5" in member_import.error_text(same_phone)
    with pytest.raises(ValidationFailed):
        member_import.confirm(_user(world.staff_a), batch.id, password=PASSWORD)
    assert db.session.scalar(select(func.count(User.id)).where(User.display_name == "甲")) == 0


def test_several_errors_of_one_row_are_all_listed(ctx, world):
    data = _csv([["", "123", "无此网格", "123", "队长", "也许", "", "a b"]])
    batch = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv", data)
    assert _codes(batch) == {2: ["name_missing", "phone_invalid", "grid_unknown", "id_format",
                                 "role_unknown", "party_unknown", "username_invalid"]}


def test_a_grid_written_in_digits_int_cannot_read_is_unknown_not_a_crash(ctx, world):
    """Review: '፩' (Ethiopic one) passed isdigit() and int() failed: a 500 on upload."""
    data = _csv([["王五", "13812345678", "፩", "", "", "", "", ""]])
    batch = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv", data)
    assert _codes(batch) == {2: ["grid_unknown"]}


def test_a_grid_name_used_in_two_communities_is_ambiguous_for_the_street(ctx, world):
    data = _csv([["王五", "13812345678", "第一网格", "", "", "", "", ""],
                 ["赵六", "13812345679", str(world.units["B1"]), "", "", "", "", ""]])
    batch = member_import.preview(_user(world.admin), world.units["street"], "l.csv", data)
    assert _codes(batch) == {2: ["grid_ambiguous"]}
    assert batch.rows[1]["grid_id"] == world.units["B1"]


# --- what is wrong with the file --------------------------------------------------------


def _refusal(world, filename, data) -> str:
    before = _count(MemberImport)
    with pytest.raises(member_import.FileRefused) as caught:
        member_import.preview(_user(world.staff_a), world.units["A"], filename, data)
    assert _count(MemberImport) == before  # nothing is kept of a refused file
    assert caught.value.detail and caught.value.errors == {"file": [caught.value.detail]}
    return caught.value.reason


@pytest.mark.parametrize("filename, data, reason", [
    ("l.csv", b"", "empty"),
    ("l.csv", b"  \r\n\r\n", "empty"),
    ("l.csv", "姓名,手机号\r\n".encode(), "no_rows"),
    ("l.csv", "\ufeff名字啊,电话号码吗\r\n张三,1\r\n".encode(), "no_header"),
    ("l.csv", "\ufeff姓名,电话号码吗\r\n张三,1\r\n".encode(), "unknown_columns"),
    ("l.csv", "手机号,网格\r\n13812345678,第一网格\r\n".encode(), "missing_column"),
    ("l.csv", "姓名,name\r\n张三,张三\r\n".encode(), "duplicate_column"),
    ("l.csv", bytes(range(256)) * 20, "unreadable"),
    ("l.csv", b"\x00\x01\x02garbage\xff\xfe\x00", "unreadable"),
    ("l.xlsx", b"PK\x03\x04 this is not really a zip file", "unreadable"),
    ("l.xlsx", "姓名\r\n张三\r\n".encode(), "unreadable"),
    ("l.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old_xls"),
    ("l.pdf", b"%PDF-1.4 ...", "wrong_type"),
    ("photo.png", b"\x89PNG\r\n\x1a\n", "wrong_type"),
    ("l.csv", ("姓名," * 40 + "\r\n张三\r\n").encode(), "too_many_columns"),
])
def test_a_bad_file_is_refused_with_a_readable_message(ctx, world, filename, data, reason):
    assert _refusal(world, filename, data) == reason


def test_a_zip_that_is_not_a_workbook_is_refused(ctx, world):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert _refusal(world, "l.xlsx", out.getvalue()) == "unreadable"


def test_a_zip_bomb_is_refused_before_it_is_unpacked(ctx, world):
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"0" * (member_import.MAX_UNPACKED_BYTES + 1))
    assert len(out.getvalue()) < 1024 * 1024
    assert _refusal(world, "l.xlsx", out.getvalue()) == "too_large_unpacked"


def test_more_than_the_row_limit_is_refused_and_the_limit_itself_is_read(ctx, world):
    rows = [[f"成员{i}", "", "第一网格", "", "", "", "", ""]
            for i in range(member_import.MAX_ROWS + 1)]
    assert _refusal(world, "l.csv", _csv(rows)) == "too_many_rows"
    batch = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv",
                                  _csv(rows[:member_import.MAX_ROWS]))
    assert batch.row_count == member_import.MAX_ROWS and batch.error_count == 0


# --- confirming -------------------------------------------------------------------------


def _clean_batch(world, n=3) -> int:
    rows = [[f"成员{i}", f"1380000{i:04d}", "第一网格", "", "", "", "", ""] for i in range(n)]
    return member_import.preview(_user(world.staff_a), world.units["A"], "l.csv",
                                 _csv(rows)).id


def test_a_conflict_appearing_after_the_preview_aborts_everything(ctx, make, world):
    batch_id = _clean_batch(world, n=3)
    make.user(["volunteer"], world.units["B1"], phone="13800000002")  # someone meanwhile
    before = _count(User)
    with pytest.raises(ValidationFailed) as caught:
        member_import.confirm(_user(world.staff_a), batch_id, password=PASSWORD)
    assert "1" in caught.value.detail
    assert _count(User) == before
    batch = db.session.get(MemberImport, batch_id)
    assert batch.status == "preview" and batch.error_count == 1
    assert _codes(batch) == {4: ["phone_taken"]}  # the preview now shows why


def test_a_failure_while_creating_leaves_nobody_created(ctx, world, monkeypatch):
    batch_id = _clean_batch(world, n=5)
    before_users, before_accounts = _count(User), _count(Account)
    opened = []

    def failing_open(user):
        opened.append(user.id)
        if len(opened) == 4:
            raise RuntimeError("the disk is full")
        return real_open(user)

    real_open = ledger.open_member_account
    monkeypatch.setattr(ledger, "open_member_account", failing_open)
    with pytest.raises(RuntimeError):
        member_import.confirm(_user(world.staff_a), batch_id, password=PASSWORD)
    db.session.rollback()
    assert (_count(User), _count(Account)) == (before_users, before_accounts)
    assert db.session.get(MemberImport, batch_id).status == "preview"


def test_a_database_conflict_the_check_missed_aborts_everything(ctx, make, world,
                                                                monkeypatch):
    batch_id = _clean_batch(world, n=3)
    make.user(["volunteer"], world.units["B1"], phone="13800000001")
    monkeypatch.setattr(member_import, "_existing", lambda column, values: set())
    before = _count(User)
    with pytest.raises(AlreadyExists):
        member_import.confirm(_user(world.staff_a), batch_id, password=PASSWORD)
    assert _count(User) == before
    assert db.session.get(MemberImport, batch_id).status == "preview"
    assert _count(AuditEvent) == 0


def test_confirming_twice_or_after_discarding_is_an_invalid_transition(ctx, world):
    batch_id = _clean_batch(world)
    assert member_import.confirm(_user(world.staff_a), batch_id, password=PASSWORD) == 3
    before = _count(User)
    with pytest.raises(InvalidTransition):
        member_import.confirm(_user(world.staff_a), batch_id, password=PASSWORD)
    with pytest.raises(InvalidTransition):
        member_import.discard(_user(world.staff_a), batch_id)
    assert _count(User) == before

    other = _clean_batch(world)  # the same people again: now every phone is taken
    member_import.discard(_user(world.staff_a), other)
    discarded = db.session.get(MemberImport, other)
    assert discarded.status == "discarded" and discarded.rows == []
    with pytest.raises(InvalidTransition):
        member_import.confirm(_user(world.staff_a), other, password=PASSWORD)


def test_a_short_password_is_refused_and_no_password_locks_the_accounts(ctx, world):
    batch_id = _clean_batch(world, n=1)
    with pytest.raises(ValidationFailed):
        member_import.confirm(_user(world.staff_a), batch_id, password="short")
    assert member_import.confirm(_user(world.staff_a), batch_id) == 1
    member = db.session.scalar(select(User).where(User.display_name == "成员0"))
    with pytest.raises(Unauthenticated):
        users.authenticate(member.username, "")


# --- reach ------------------------------------------------------------------------------


def test_staff_import_only_within_their_reach(ctx, world):
    data = _csv([["王五", "13812345678", "第一网格", "", "", "", "", ""]])
    with pytest.raises(Forbidden):
        member_import.preview(_user(world.staff_b), world.units["A"], "l.csv", data)
    with pytest.raises(Forbidden):
        member_import.preview(_user(world.vol_a), world.units["A1"], "l.csv", data)
    with pytest.raises(NotFound):
        member_import.preview(_user(world.staff_a), 999999, "l.csv", data)
    batch_id = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv", data).id
    for outsider in (world.staff_b, world.vol_a):
        with pytest.raises(Forbidden):
            member_import.confirm(_user(outsider), batch_id, password=PASSWORD)
        with pytest.raises(Forbidden):
            member_import.get_import(_user(outsider), batch_id)
        with pytest.raises(Forbidden):
            member_import.discard(_user(outsider), batch_id)
    with pytest.raises(NotFound):
        member_import.get_import(_user(world.staff_a), 999999)
    assert member_import.recent_imports(_user(world.staff_b)) == []
    assert [b.id for b in member_import.recent_imports(_user(world.staff_a))] == [batch_id]
    assert member_import.confirm(_user(world.admin), batch_id, password=PASSWORD) == 1


# --- size -------------------------------------------------------------------------------


def test_a_large_list_takes_a_fixed_number_of_queries(app, ctx, world, db_kind):
    n = 1200
    rows = [[f"成员{i}", f"138{i:08d}", "第一网格" if i % 2 else str(world.units["A2"]),
             _id_for(i), "志愿者", "是" if i % 3 == 0 else "否",
             "党支部" if i % 3 == 0 else "", ""] for i in range(n)]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        batch = member_import.preview(_user(world.staff_a), world.units["A"], "l.csv",
                                      _csv(rows))
        assert batch.error_count == 0, _codes(batch)
        previewed = statements[:]
        del statements[:]
        assert member_import.confirm(_user(world.staff_a), batch.id, password=PASSWORD) == n
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Bulk lookups, not one query per row.
    assert len(previewed) < 40, previewed
    assert statements.count("SELECT") < 30, statements.count("SELECT")
    if db_kind == "postgresql":
        # The ORM batches the inserts where the database returns their ids in order;
        # SQLite cannot, so there each user and account is one (in-process) INSERT.
        assert len(statements) < 80, len(statements)
    assert _count(Account, Account.user_id.in_(
        select(User.id).where(User.display_name.like("成员%")))) == n


def _id_for(i: int) -> str:
    from timebank.idnumber import check_char

    first17 = f"110105198001{(i // 900) % 28 + 1:02d}{i % 900 + 100:03d}"
    return first17 + check_char(first17)
