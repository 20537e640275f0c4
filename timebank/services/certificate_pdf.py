"""Issued certificates (志愿服务证明, 星级证书, 聘书, 荣誉证书) rendered as one-page A4 PDFs."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from math import cos, pi, sin
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Frame, KeepInFrame, Paragraph, Spacer, Table, TableStyle

FONT = "STSong-Light"
LATIN_ITALIC = "Times-Italic"
LATIN = "Helvetica"

PAGE_W, PAGE_H = A4
MARGIN = 72
BODY_W = PAGE_W - 2 * MARGIN
BODY_BOTTOM = 250
QR_SIZE = 100
QR_Y = 112
MAX_CONTENT_ROWS = 8
MAX_CITATION_CHARS = 600
MAX_URL_LINES = 3

RED = colors.Color(0.62, 0.09, 0.09)
GOLD = colors.Color(0.85, 0.62, 0.05)
GREY = colors.Color(0.35, 0.35, 0.35)
LABEL_BG = colors.Color(0.96, 0.93, 0.90)

TITLES = {
    "service_record": ("志愿服务记录证明", "Certificate of Volunteer Service Record"),
    "star": ("星级志愿者证书", "Star Volunteer Certificate"),
    "appointment": ("聘书", "Letter of Appointment"),
    "honor": ("荣誉证书", "Certificate of Honour"),
}
STAR_WORDS = {1: "一星级", 2: "二星级", 3: "三星级", 4: "四星级", 5: "五星级"}


def chinese_date(iso: str | None) -> str:
    """An ISO date as 2026年3月1日; empty for None or ''."""
    if not iso:
        return ""
    day = date.fromisoformat(str(iso)[:10])
    return f"{day.year}年{day.month}月{day.day}日"


def render(data: dict, verify_url: str) -> bytes:
    """The certificate as a one-page A4 PDF."""
    kind = data.get("kind")
    if kind not in TITLES:
        raise ValueError(f"unknown certificate kind: {kind!r}")
    if not verify_url:
        raise ValueError("verify_url is required")
    star_level = _star_level(data) if kind == "star" else None
    _ensure_font()

    title, subtitle = TITLES[kind]
    serial = _text(data.get("serial"))
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    pdf.setTitle(f"{title} {serial}".strip())
    pdf.setAuthor(_text(data.get("recording_unit")))
    pdf.setSubject(f"{subtitle} · {serial}".strip(" ·"))
    pdf.setCreator("timebank")

    _draw_border(pdf)
    _draw_title(pdf, title, subtitle)
    body_top = PAGE_H - 185
    if star_level:
        _draw_stars(pdf, star_level, y=PAGE_H - 200)
        body_top = PAGE_H - 230

    builders = {
        "service_record": _service_record_body,
        "star": _star_body,
        "appointment": _appointment_body,
        "honor": _honor_body,
    }
    _draw_body(pdf, builders[kind](data), top=body_top)
    _draw_footer(pdf, data, kind, verify_url)
    if data.get("revoked_on"):
        _draw_revoked(pdf, _text(data.get("revoked_on")))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- data helpers -------------------------------------------------------------------------------


def _ensure_font() -> None:
    """Register the built-in CID font once."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _text(value) -> str:
    """A value as stripped text; empty for None."""
    return "" if value is None else str(value).strip()


def _star_level(data: dict) -> int:
    """The star level, 1–5."""
    try:
        level = int(data.get("star_level"))
    except (TypeError, ValueError):
        raise ValueError("star_level must be an integer from 1 to 5") from None
    if level not in STAR_WORDS:
        raise ValueError("star_level must be an integer from 1 to 5")
    return level


def _hours(value) -> str:
    """Hours as printed: '12.50 小时'; empty when missing."""
    text = _text(value)
    return f"{text} 小时" if text else ""


def _nonzero(value) -> bool:
    """Whether an hours value is given and not zero."""
    try:
        return Decimal(_text(value)) != 0
    except InvalidOperation:
        return bool(_text(value))


def _period(start, end, *, open_end: str = "至今") -> str:
    """A date range in Chinese: 'A 至 B', 'A 至今', '截至 B' or ''."""
    first, last = chinese_date(start), chinese_date(end)
    if first and last:
        return f"{first} 至 {last}"
    if first:
        return f"{first} {open_end}"
    if last:
        return f"截至 {last}"
    return ""


def _unit(data: dict) -> str:
    """The recording unit, after its street when known."""
    return " ".join(part for part in (_text(data.get("street")),
                                      _text(data.get("recording_unit"))) if part)


def _content_lines(content: Iterable[dict] | None) -> list[str]:
    """The service content, one line per category, capped with '等'."""
    rows = [row for row in (content or []) if isinstance(row, dict)]
    lines = []
    for row in rows[:MAX_CONTENT_ROWS]:
        line = _text(row.get("category")) or "志愿服务"
        if _text(row.get("hours")):
            line += f"　{_hours(row.get('hours'))}"
        if _text(row.get("records")):
            line += f"（{_text(row.get('records'))} 条记录）"
        lines.append(line)
    if len(rows) > MAX_CONTENT_ROWS:
        lines.append(f"等（共 {len(rows)} 类）")
    return lines


def _clip(text: str, limit: int) -> str:
    """Text cut to a character limit, marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- paragraph styles ---------------------------------------------------------------------------


def _style(name: str, size: float, **extra) -> ParagraphStyle:
    """A CJK-wrapping paragraph style in the certificate font."""
    options = {"fontName": FONT, "fontSize": size, "leading": size * 1.6, "wordWrap": "CJK",
               "alignment": TA_LEFT}
    options.update(extra)
    return ParagraphStyle(name, **options)


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    """Plain text as a paragraph, escaped for Paragraph markup."""
    return Paragraph(escape(text), style)


def _mark(text: str) -> str:
    """Escaped text emphasised inside a sentence (underlined, with spaces around it)."""
    return f" <u>{escape(text)}</u> " if text else ""


# --- bodies -------------------------------------------------------------------------------------


def _service_record_body(data: dict) -> list[Flowable]:
    """The sentence and the field table of a 志愿服务记录证明 (Art. 15)."""
    lead = _style("lead", 13, firstLineIndent=26)
    cell = _style("cell", 10.5, leading=15)
    label = _style("label", 10.5, leading=15, alignment=TA_CENTER)

    name = _text(data.get("holder_name"))
    hours = _text(data.get("hours"))
    first = chinese_date(data.get("period_from"))
    last = chinese_date(data.get("period_to"))
    if first and last:
        when = f"在 {escape(first)} 至 {escape(last)} 期间"
    elif first:
        when = f"自 {escape(first)} 起至今"
    elif last:
        when = f"截至 {escape(last)}"
    else:
        when = ""
    sentence = (f"兹证明{_mark(name)}同志{when}参加志愿服务，"
                f"累计服务时长{_mark(hours)}小时。")

    rows: list[tuple[str, str]] = [("姓名", name)]
    if _text(data.get("id_number_masked")):
        rows.append(("证件号码", _text(data.get("id_number_masked"))))
    rows.append(("志愿者编号", _text(data.get("volunteer_number"))))
    rows.append(("服务时长", _hours(hours)))
    content = _content_lines(data.get("content"))
    if content:
        rows.append(("服务内容", "\n".join(content)))
    period = _period(data.get("period_from"), data.get("period_to"))
    if period:
        rows.append(("服务时段", period))
    rows.append(("记录单位", _unit(data)))
    if _text(data.get("person_in_charge")):
        rows.append(("负责人", _text(data.get("person_in_charge"))))
    rows.append(("经办人", _text(data.get("handler"))))
    rows.append(("证书编号", _text(data.get("serial"))))
    rows.append(("出具日期", chinese_date(data.get("issued_on"))))

    cells = [[Paragraph(escape(key), label),
              Paragraph(escape(value).replace("\n", "<br/>"), cell)] for key, value in rows]
    table = Table(cells, colWidths=[88, BODY_W - 88])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, GREY),
        ("BACKGROUND", (0, 0), (0, -1), LABEL_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]))
    return [Paragraph(sentence, lead), Spacer(1, 12), table]


def _star_body(data: dict) -> list[Flowable]:
    """The award sentence of a 星级志愿者证书."""
    level_name = f"{STAR_WORDS[_star_level(data)]}志愿者"
    body = _style("body", 14, firstLineIndent=28, leading=26)
    banner = _style("banner", 22, alignment=TA_CENTER, textColor=RED, leading=30)
    name = _text(data.get("holder_name"))
    number = _text(data.get("volunteer_number"))
    hours = _text(data.get("hours"))
    as_of = chinese_date(data.get("period_to")) or chinese_date(data.get("issued_on"))

    parts = [f"{_mark(name)}同志"]
    if number:
        parts.append(f"（志愿者编号 {escape(number)}）")
    if hours:
        parts.append(f"{'截至 ' + escape(as_of) + '，' if as_of else ''}"
                     f"累计志愿服务时长{_mark(hours)}小时，")
    parts.append(f"经认定，授予“{escape(level_name)}”称号。")
    return [_para(level_name, banner), Spacer(1, 16), Paragraph("".join(parts), body),
            Spacer(1, 8), _para("特发此证。", body)]


def _appointment_body(data: dict) -> list[Flowable]:
    """The appointment sentence of a 聘书 for a part-time gridworker."""
    body = _style("body", 15, firstLineIndent=30, leading=28)
    name = _text(data.get("holder_name"))
    grid = _text(data.get("grid"))
    first, last = chinese_date(data.get("term_from")), chinese_date(data.get("term_to"))
    if first and last:
        term = f"，聘期自 {escape(first)} 至 {escape(last)}"
    elif first:
        term = f"，聘期自 {escape(first)} 起"
    elif last:
        term = f"，聘期至 {escape(last)}"
    else:
        term = ""
    sentence = f"兹聘请{_mark(name)}同志为{_mark(grid)}兼职网格员{term}。"
    flowables: list[Flowable] = [Paragraph(sentence, body), Spacer(1, 8)]
    number = _text(data.get("volunteer_number"))
    if number:
        flowables.append(_para(f"志愿者编号：{number}", _style("small", 11, leading=18)))
        flowables.append(Spacer(1, 8))
    flowables.append(_para("特发此聘书。", body))
    return flowables


def _honor_body(data: dict) -> list[Flowable]:
    """The salutation, citation and award of a 荣誉证书."""
    body = _style("body", 14, firstLineIndent=28, leading=26)
    salutation = _style("salutation", 15, leading=26)
    name = _text(data.get("holder_name"))
    honor = _text(data.get("honor_title"))
    hours = _text(data.get("hours")) if _nonzero(data.get("hours")) else ""
    citation = _clip(_text(data.get("citation")), MAX_CITATION_CHARS)
    period = _period(data.get("period_from"), data.get("period_to"))

    if citation:
        text = escape(citation)
        if text[-1] not in "。！；.!":
            text += "。"
    else:
        text = f"{'在 ' + escape(period) + ' 期间' if period else ''}积极参加志愿服务，表现突出。"
    if hours:
        text += f"累计志愿服务时长{_mark(hours)}小时。"
    if honor:
        text += f"特授予“{escape(honor)}”称号。"
    flowables: list[Flowable] = [Paragraph(f"{escape(name)} 同志：", salutation),
                                 Spacer(1, 6), Paragraph(text, body)]
    number = _text(data.get("volunteer_number"))
    if number:
        flowables.append(_para(f"志愿者编号：{number}", _style("small", 11, leading=18)))
    flowables += [Spacer(1, 8), _para("特发此证，以资鼓励。", body)]
    return flowables


# --- drawing ------------------------------------------------------------------------------------


def _draw_revoked(pdf: Canvas, revoked_on: str) -> None:
    """A red stamp across the page: a revoked certificate must not pass for a valid one."""
    pdf.saveState()
    pdf.setFillColorRGB(0.8, 0.1, 0.1, alpha=0.35)
    pdf.translate(PAGE_W / 2, PAGE_H / 2)
    pdf.rotate(35)
    pdf.setFont(FONT, 72)
    pdf.drawCentredString(0, 20, "已撤销 REVOKED")
    pdf.setFont(FONT, 20)
    pdf.drawCentredString(0, -20, f"{chinese_date(revoked_on)} 撤销")
    pdf.restoreState()


def _draw_border(pdf: Canvas) -> None:
    """A double frame around the page."""
    pdf.saveState()
    pdf.setStrokeColor(RED)
    pdf.setLineWidth(3)
    pdf.rect(24, 24, PAGE_W - 48, PAGE_H - 48)
    pdf.setLineWidth(0.8)
    pdf.rect(32, 32, PAGE_W - 64, PAGE_H - 64)
    pdf.restoreState()


def _draw_title(pdf: Canvas, title: str, subtitle: str) -> None:
    """The Chinese title with its English subtitle below."""
    pdf.saveState()
    pdf.setFillColor(RED)
    pdf.setFont(FONT, 32)
    pdf.drawCentredString(PAGE_W / 2, PAGE_H - 120, title)
    pdf.setFillColor(GREY)
    pdf.setFont(LATIN_ITALIC, 13)
    pdf.drawCentredString(PAGE_W / 2, PAGE_H - 146, subtitle)
    pdf.restoreState()


def _star_path(pdf: Canvas, cx: float, cy: float, radius: float):
    """A five-pointed star outline centred at (cx, cy)."""
    path = pdf.beginPath()
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.382
        angle = pi / 2 + i * pi / 5
        x, y = cx + r * cos(angle), cy + r * sin(angle)
        if i == 0:
            path.moveTo(x, y)
        else:
            path.lineTo(x, y)
    path.close()
    return path


def _draw_stars(pdf: Canvas, level: int, y: float) -> None:
    """The star level as vector stars, the same in every viewer (the CID font is not embedded)."""
    radius, gap = 14, 36
    x0 = PAGE_W / 2 - gap * (level - 1) / 2
    pdf.saveState()
    pdf.setFillColor(GOLD)
    pdf.setStrokeColor(RED)
    pdf.setLineWidth(0.6)
    for i in range(level):
        pdf.drawPath(_star_path(pdf, x0 + i * gap, y, radius), fill=1, stroke=1)
    pdf.restoreState()


def _draw_body(pdf: Canvas, flowables: list[Flowable], top: float) -> None:
    """The body, shrunk if needed to fit between the title and the footer."""
    height = top - BODY_BOTTOM
    frame = Frame(MARGIN, BODY_BOTTOM, BODY_W, height,
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    frame.addFromList([KeepInFrame(BODY_W, height, flowables, mode="shrink")], pdf)


def _split_chars(text: str, font: str, size: float, width: float) -> list[str]:
    """Text broken into lines of at most `width` points, anywhere (for URLs)."""
    lines, line = [], ""
    for ch in text:
        if line and pdfmetrics.stringWidth(line + ch, font, size) > width:
            lines.append(line)
            line = ""
        line += ch
    if line:
        lines.append(line)
    if len(lines) > MAX_URL_LINES:
        lines = lines[:MAX_URL_LINES]
        lines[-1] = lines[-1][:-1] + "…"
    return lines


def _draw_qr(pdf: Canvas, url: str, x: float, y: float, size: float) -> None:
    """A QR code encoding `url`, `size` points square, lower-left at (x, y)."""
    widget = QrCodeWidget(url, barLevel="M", barBorder=2)
    left, bottom, right, top = widget.getBounds()
    width, height = right - left, top - bottom
    drawing = Drawing(size, size, transform=[size / width, 0, 0, size / height, 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, pdf, x, y)


def _draw_footer(pdf: Canvas, data: dict, kind: str, verify_url: str) -> None:
    """The QR code, the verification URL, the serial and the issuer's signature block."""
    word = "证明" if kind == "service_record" else ("聘书" if kind == "appointment" else "证书")
    note = _style("note", 9.5, leading=14, textColor=GREY)
    para = _para(f"本{word}可通过扫描二维码或访问下方网址查验真伪。", note)
    para.wrap(BODY_W, 40)
    para.drawOn(pdf, MARGIN, QR_Y + QR_SIZE + 14)

    _draw_qr(pdf, verify_url, MARGIN - 6, QR_Y, QR_SIZE)

    pdf.saveState()
    pdf.setFillColor(GREY)
    url_size = 6.5
    pdf.setFont(LATIN, url_size)
    y = QR_Y - 6
    for line in _split_chars(verify_url, LATIN, url_size, 215):
        pdf.drawString(MARGIN, y, line)
        y -= url_size + 2
    pdf.setFont(FONT, 8.5)
    pdf.drawString(MARGIN, y - 4, f"证书编号：{_text(data.get('serial'))}")
    pdf.restoreState()

    sign_w, sign_h = 220, 110
    right = _style("sign", 12.5, leading=20, alignment=TA_RIGHT)
    lines = [_unit(data)]
    if kind != "service_record" and _text(data.get("handler")):
        lines.append(f"经办人：{_text(data.get('handler'))}")
    lines.append(chinese_date(data.get("issued_on")))
    block = Paragraph("<br/>".join(escape(line) for line in lines if line), right)
    frame = Frame(PAGE_W - MARGIN - sign_w, QR_Y - 10, sign_w, sign_h,
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    frame.addFromList([KeepInFrame(sign_w, sign_h, [block], mode="shrink", vAlign="MIDDLE")],
                      pdf)
