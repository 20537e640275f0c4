"""Certificate PDFs: one A4 page per kind, Chinese text extractable, QR and verification URL."""

from __future__ import annotations

import io
import re

import pypdf
import pytest

from timebank.services.certificate_pdf import chinese_date, render

URL = "https://timebank.example.org/verify/TB2026-000042-K7Q2M9XA"
BASE = {
    "serial": "TB2026-000042-K7Q2M9XA",
    "holder_name": "张小三",
    "volunteer_number": "TB00000042",
    "id_number_masked": "1101**********1234",
    "hours": "12.50",
    "period_from": "2026-03-01",
    "period_to": "2026-06-30",
    "content": [
        {"category": "助老服务", "hours": "8.00", "records": 3},
        {"category": "环境清洁", "hours": "4.50", "records": 2},
    ],
    "recording_unit": "幸福社区居民委员会",
    "street": "朝阳门街道",
    "person_in_charge": "李主任",
    "handler": "王小明",
    "issued_on": "2026-07-01",
}
EXTRA = {
    "service_record": {},
    "star": {"star_level": 3, "hours": "612.50"},
    "appointment": {"grid": "第一网格", "term_from": "2026-01-01", "term_to": "2026-12-31"},
    "honor": {"honor_title": "优秀志愿者", "citation": "在社区助老服务中表现突出"},
}
TITLES = {
    "service_record": "志愿服务记录证明",
    "star": "星级志愿者证书",
    "appointment": "聘书",
    "honor": "荣誉证书",
}


def _data(kind: str, **overrides) -> dict:
    return {**BASE, **EXTRA[kind], "kind": kind, **overrides}


def _reader(pdf: bytes) -> pypdf.PdfReader:
    assert pdf.startswith(b"%PDF")
    return pypdf.PdfReader(io.BytesIO(pdf))


def _compact(text: str) -> str:
    """Text without whitespace, so wrapped lines compare equal to the original."""
    return re.sub(r"\s+", "", text)


def _page_text(pdf: bytes) -> str:
    reader = _reader(pdf)
    assert len(reader.pages) == 1
    return _compact(reader.pages[0].extract_text())


def _positions(pdf: bytes) -> list[tuple[str, float, float]]:
    """Every extracted text run with its position on the page."""
    runs: list[tuple[str, float, float]] = []

    def visit(text, cm, tm, _font, _size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.append((text, x, y))

    _reader(pdf).pages[0].extract_text(visitor_text=visit)
    return runs


def _y_of(runs, needle: str) -> float:
    found = [y for text, _x, y in runs if needle in text]
    assert found, f"{needle!r} not on the page"
    return found[0]


def _assert_on_page(pdf: bytes) -> None:
    page = _reader(pdf).pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    for text, x, y in _positions(pdf):
        assert 0 <= x <= width and 0 <= y <= height, f"{text!r} off the page at ({x}, {y})"


@pytest.mark.parametrize("kind", list(TITLES))
def test_every_kind_is_one_a4_page_with_the_essentials(kind):
    pdf = render(_data(kind), URL)
    reader = _reader(pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    text = _page_text(pdf)
    assert TITLES[kind] in text
    assert "张小三" in text
    assert BASE["serial"] in text
    assert "幸福社区居民委员会" in text
    assert "2026年7月1日" in text
    assert URL in text


@pytest.mark.parametrize("kind", list(TITLES))
def test_every_kind_draws_a_qr_code(kind):
    content = _reader(render(_data(kind), URL)).pages[0].get_contents().get_data()
    # The QR modules are drawn as filled rectangles; the rest of the page has a handful.
    assert len(re.findall(rb" re\b", content)) > 100


def test_service_record_fields():
    text = _page_text(render(_data("service_record"), URL))
    for label in ("姓名", "证件号码", "服务时长", "服务内容", "服务时段", "记录单位",
                  "负责人", "经办人", "证书编号", "出具日期"):
        assert label in text
    assert "1101**********1234" in text
    assert "TB00000042" in text
    assert "12.50小时" in text
    assert "助老服务8.00小时（3条记录）" in text
    assert "环境清洁4.50小时" in text
    assert "2026年3月1日至2026年6月30日" in text
    assert "朝阳门街道幸福社区居民委员会" in text
    assert "李主任" in text and "王小明" in text
    assert "兹证明张小三同志在2026年3月1日至2026年6月30日期间参加志愿服务" in text
    assert "累计服务时长12.50小时" in text
    assert "本证明可通过扫描二维码或访问下方网址查验真伪" in text


def test_service_record_without_period_start_reads_until_now():
    text = _page_text(render(_data("service_record", period_from="2026-03-01",
                                   period_to=None, id_number_masked=None), URL))
    assert "2026年3月1日至今" in text
    assert "证件号码" not in text
    assert "TB00000042" in text


def test_service_record_with_only_required_keys():
    data = {key: BASE[key] for key in ("serial", "holder_name", "volunteer_number", "hours",
                                       "recording_unit", "handler", "issued_on")}
    text = _page_text(render({**data, "kind": "service_record"}, URL))
    assert "张小三" in text and "12.50小时" in text
    assert "服务时段" not in text and "负责人" not in text


def test_star_certificate_names_the_level_and_hours():
    text = _page_text(render(_data("star"), URL))
    assert "三星级志愿者" in text
    assert "612.50小时" in text
    assert "TB00000042" in text


@pytest.mark.parametrize("level", [0, 6, None, "x"])
def test_star_certificate_needs_a_level_from_one_to_five(level):
    with pytest.raises(ValueError):
        render(_data("star", star_level=level), URL)


def test_appointment_names_grid_and_term():
    text = _page_text(render(_data("appointment"), URL))
    assert "兹聘请张小三同志为第一网格兼职网格员" in text
    assert "聘期自2026年1月1日至2026年12月31日" in text


def test_honor_certificate_carries_title_citation_and_hours():
    text = _page_text(render(_data("honor"), URL))
    assert "张小三同志" in text
    assert "“优秀志愿者”" in text
    assert "在社区助老服务中表现突出" in text
    assert "12.50小时" in text


def test_honor_certificate_leaves_out_zero_hours():
    text = _page_text(render(_data("honor", hours="0.00"), URL))
    assert "“优秀志愿者”" in text
    assert "小时" not in text


@pytest.mark.parametrize("kind", list(TITLES))
def test_markup_characters_in_names_are_printed_verbatim(kind):
    name = "A<b>&amp; 张<&>三"
    pdf = render(_data(kind, holder_name=name, grid="<网格&1>"), URL)
    text = _page_text(pdf)
    assert _compact(name) in text
    if kind == "appointment":
        assert "<网格&1>" in text


def test_many_content_rows_are_capped_and_stay_above_the_footer():
    content = [{"category": f"服务类别{i:02d}", "hours": "1.00", "records": 1} for i in range(30)]
    pdf = render(_data("service_record", content=content), URL)
    text = _page_text(pdf)
    assert "服务类别00" in text and "服务类别07" in text
    assert "服务类别08" not in text
    assert "等（共30类）" in text
    runs = _positions(pdf)
    # The last table row is still printed, and above the verification note.
    assert _y_of(runs, "出具日期") > _y_of(runs, "本证明可通过")
    _assert_on_page(pdf)


def test_long_texts_wrap_and_stay_on_the_page():
    citation = "长期坚持为辖区孤寡老人提供上门陪护、代购和清洁服务，" * 80
    pdf = render(_data("honor", holder_name="欧阳" * 30, citation=citation,
                       recording_unit="幸福社区居民委员会" * 4), URL)
    text = _page_text(pdf)
    assert "欧阳" * 30 in text
    assert "特发此证，以资鼓励" in text
    runs = _positions(pdf)
    assert _y_of(runs, "以资鼓励") > _y_of(runs, "本证书可通过")
    _assert_on_page(pdf)


def test_a_long_service_record_stays_on_the_page():
    content = [{"category": "社区环境整治与垃圾分类宣传指导" * 3, "hours": "10.00", "records": 40}
               for _ in range(8)]
    pdf = render(_data("service_record", holder_name="张" * 60, content=content), URL)
    runs = _positions(pdf)
    assert _y_of(runs, "出具日期") > _y_of(runs, "本证明可通过")
    _assert_on_page(pdf)


def test_metadata():
    meta = _reader(render(_data("appointment"), URL)).metadata
    assert meta.title == f"聘书 {BASE['serial']}"
    assert meta.author == "幸福社区居民委员会"
    assert "Letter of Appointment" in meta.subject


def test_rendering_is_deterministic():
    assert render(_data("star"), URL) == render(_data("star"), URL)


@pytest.mark.parametrize("kind", ["", None, "diploma"])
def test_unknown_kind_is_rejected(kind):
    with pytest.raises(ValueError):
        render({**BASE, "kind": kind}, URL)


def test_chinese_date():
    assert chinese_date("2026-03-01") == "2026年3月1日"
    assert chinese_date("2026-12-31") == "2026年12月31日"
    assert chinese_date(None) == ""
    assert chinese_date("") == ""
