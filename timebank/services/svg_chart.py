"""Small bar and line charts drawn on the server as inline SVG: no script, nothing fetched.

Every text that reaches the SVG (title, labels, series names, numbers) goes through
`markupsafe.escape`, so the result is safe to embed in a page. Each chart carries a <title>
and a <desc> (the chart is `role="img"`), and prints its numbers next to the bars and points;
pages still show the same figures in a table beside it.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

Number = int | float | Decimal

# Colours that stay apart for most colour-blind readers, on white, with dark text.
PALETTE = ("#2e7d32", "#1565c0", "#c62828", "#ef6c00", "#6a1b9a", "#00838f")
TEXT = "#212529"
MUTED = "#6c757d"
GRID = "#dee2e6"
FONT = "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif"

WIDTH = 720
HEIGHT = 320
FONT_SIZE = 12
VALUE_SIZE = 11
LEFT = 64
RIGHT = 16
LEGEND = 26
MAX_LABEL = 16  # characters of an x label before it is shortened (the <title> keeps it whole)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number]


def plain_number(value: Number) -> str:
    """12 → '12', Decimal('12.50') → '12.5', 0.333 → '0.33'."""
    if isinstance(value, int):
        return str(value)
    text = f"{Decimal(str(value)):.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _safe_id(raw: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]", "-", raw.lower()).strip("-")
    return f"chart-{cleaned or 'x'}"


def _text_width(text: str, size: float) -> float:
    """A rough width: wide (CJK) characters a full em, others about 0.6 em."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _scale(values: list[float]) -> tuple[float, float, float]:
    """Low end, high end and tick step of the value axis; zero is always on it."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if high == low:
        high = low + 1
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _tick_label(value: float) -> str:
    return plain_number(int(round(value)) if abs(value - round(value)) < 1e-9 else value)


class _Canvas:
    """The parts of one chart: the frame, the axes, the legend; the plot area in between."""

    def __init__(self, *, title: str, description: str | None, labels: Sequence[str],
                 series: Sequence[Series], value_format: Callable[[Number], str],
                 chart_id: str | None, width: int, height: int, kind: str):
        self.labels = [str(label) for label in labels]
        self.series = list(series)
        for one in self.series:
            if len(one.values) != len(self.labels):
                raise ValueError("every series needs one value per label")
        self.value_format = value_format
        self.width, self.height = width, height
        fallback = zlib.crc32("\x1f".join((title, *self.labels)).encode())
        self.id = _safe_id(chart_id or f"{kind}-{fallback:08x}")
        self.title = title
        self.description = description or self._describe()
        numbers = [float(v) for one in self.series for v in one.values]
        self.low, self.high, self.step = _scale(numbers)
        slots = max(len(self.labels), 1)
        self.plot_left, self.plot_right = LEFT, width - RIGHT
        self.slot = (self.plot_right - self.plot_left) / slots
        widest_label = max((_text_width(_shorten(t), FONT_SIZE) for t in self.labels), default=0)
        self.rotate_labels = widest_label > self.slot * 0.92
        bottom = 12 + (widest_label * 0.72 + FONT_SIZE if self.rotate_labels else FONT_SIZE + 8)
        self.plot_bottom = height - bottom
        self.plot_top = LEGEND + 8
        self.parts: list[str] = []

    def _describe(self) -> str:
        pieces = []
        for one in self.series:
            pairs = ", ".join(f"{label} {self.value_format(value)}"
                              for label, value in zip(self.labels, one.values, strict=True))
            pieces.append(f"{one.name}: {pairs}" if pairs else one.name)
        return "; ".join(pieces)

    def y(self, value: float) -> float:
        span = self.high - self.low
        return self.plot_bottom - (value - self.low) / span * (self.plot_bottom - self.plot_top)

    def reserve_headroom(self, needed: float) -> None:
        """Lower the plot's top so labels printed above the highest value stay inside."""
        self.plot_top = max(self.plot_top, LEGEND + 8 + needed)
        self.plot_top = min(self.plot_top, self.plot_bottom - 40)

    def open(self) -> None:
        title_id, desc_id = f"{self.id}-title", f"{self.id}-desc"
        self.parts.append(
            f'<svg xmlns="http://www.w3.org/2000/svg" class="tb-chart" id="{self.id}" '
            f'viewBox="0 0 {self.width} {self.height}" width="100%" role="img" '
            f'aria-labelledby="{title_id} {desc_id}" focusable="false" '
            f'font-family="{escape(FONT)}" font-size="{FONT_SIZE}" fill="{TEXT}">'
            f'<title id="{title_id}">{escape(self.title)}</title>'
            f'<desc id="{desc_id}">{escape(self.description)}</desc>')

    def legend(self) -> None:
        x = float(self.plot_left)
        for index, one in enumerate(self.series):
            colour = PALETTE[index % len(PALETTE)]
            self.parts.append(
                f'<g class="legend"><rect x="{x:.1f}" y="6" width="12" height="12" '
                f'fill="{colour}"/><text x="{x + 16:.1f}" y="16">{escape(one.name)}</text></g>')
            x += 16 + _text_width(one.name, FONT_SIZE) + 20

    def axes(self) -> None:
        value = self.low
        while value <= self.high + self.step / 2:
            y = self.y(value)
            self.parts.append(
                f'<line x1="{self.plot_left}" x2="{self.plot_right}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{GRID}" stroke-width="1"/>'
                f'<text x="{self.plot_left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                f'fill="{MUTED}">{escape(_tick_label(value))}</text>')
            value += self.step
        zero = self.y(0)
        self.parts.append(f'<line x1="{self.plot_left}" x2="{self.plot_right}" y1="{zero:.1f}" '
                          f'y2="{zero:.1f}" stroke="{MUTED}" stroke-width="1"/>')
        for index, label in enumerate(self.labels):
            x = self.plot_left + self.slot * (index + 0.5)
            y = self.plot_bottom + FONT_SIZE + 6
            shown = escape(_shorten(label))
            if self.rotate_labels:
                self.parts.append(
                    f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" '
                    f'transform="rotate(-45 {x:.1f} {y:.1f})"><title>{escape(label)}</title>'
                    f'{shown}</text>')
            else:
                self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle">'
                                  f'<title>{escape(label)}</title>{shown}</text>')

    def value_text(self, x: float, y: float, text: str, *, room: float,
                   below: bool = False) -> None:
        """A number at (x, y): level when it fits in `room`, turned upright when it does not."""
        shown = escape(text)
        if _text_width(text, VALUE_SIZE) <= room:
            ty = y + VALUE_SIZE + 2 if below else y - 4
            self.parts.append(f'<text class="value" x="{x:.1f}" y="{ty:.1f}" '
                              f'text-anchor="middle" font-size="{VALUE_SIZE}">{shown}</text>')
        else:
            tx, ty = x + VALUE_SIZE / 3, (y + 4 if below else y - 4)
            anchor = "end" if below else "start"
            self.parts.append(f'<text class="value" x="{tx:.1f}" y="{ty:.1f}" '
                              f'text-anchor="{anchor}" font-size="{VALUE_SIZE}" '
                              f'transform="rotate(-90 {tx:.1f} {ty:.1f})">{shown}</text>')

    def close(self) -> Markup:
        self.parts.append("</svg>")
        return Markup("".join(self.parts))

    def empty(self, text: str) -> Markup:
        self.parts.append(f'<text x="{self.width / 2:.1f}" y="{self.height / 2:.1f}" '
                          f'text-anchor="middle" fill="{MUTED}">{escape(text)}</text>')
        return self.close()

    def headroom_for_values(self, room: float) -> float:
        widest = max((_text_width(self.value_format(v), VALUE_SIZE)
                      for one in self.series for v in one.values), default=0.0)
        return VALUE_SIZE + 6 if widest <= room else widest + 8


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *,
              description: str | None = None,
              value_format: Callable[[Number], str] = plain_number,
              empty_text: str = "—", chart_id: str | None = None,
              width: int = WIDTH, height: int = HEIGHT, label_zero: bool = True) -> Markup:
    """Vertical bars, one group per label and one bar per series, each with its number
    (`label_zero=False` leaves zeros unprinted where many would crowd the chart)."""
    canvas = _Canvas(title=title, description=description, labels=labels, series=series,
                     value_format=value_format, chart_id=chart_id, width=width,
                     height=height, kind="bar")
    canvas.open()
    if not canvas.labels or not canvas.series:
        return canvas.empty(empty_text)
    groups = len(canvas.series)
    inner = canvas.slot * 0.8
    bar = inner / groups
    canvas.reserve_headroom(canvas.headroom_for_values(bar + 2))
    canvas.legend()
    canvas.axes()
    zero = canvas.y(0)
    for s_index, one in enumerate(canvas.series):
        colour = PALETTE[s_index % len(PALETTE)]
        for index, (label, value) in enumerate(zip(canvas.labels, one.values, strict=True)):
            x = canvas.plot_left + canvas.slot * index + (canvas.slot - inner) / 2 + bar * s_index
            top = canvas.y(float(value))
            y, h = min(top, zero), abs(zero - top)
            text = value_format(value)
            canvas.parts.append(
                f'<g class="bar"><title>{escape(label)} · {escape(one.name)}: {escape(text)}'
                f'</title><rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{colour}"/></g>')
            if label_zero or value:
                canvas.value_text(x + bar / 2, top, text, room=bar + 2,
                                  below=float(value) < 0)
    return canvas.close()


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *,
               description: str | None = None,
               value_format: Callable[[Number], str] = plain_number,
               empty_text: str = "—", chart_id: str | None = None,
               width: int = WIDTH, height: int = HEIGHT) -> Markup:
    """One line per series through its points, each point with its number."""
    canvas = _Canvas(title=title, description=description, labels=labels, series=series,
                     value_format=value_format, chart_id=chart_id, width=width,
                     height=height, kind="line")
    canvas.open()
    if not canvas.labels or not canvas.series:
        return canvas.empty(empty_text)
    canvas.reserve_headroom(canvas.headroom_for_values(canvas.slot - 2))
    canvas.legend()
    canvas.axes()
    for s_index, one in enumerate(canvas.series):
        colour = PALETTE[s_index % len(PALETTE)]
        points = [(canvas.plot_left + canvas.slot * (i + 0.5), canvas.y(float(v)))
                  for i, v in enumerate(one.values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        canvas.parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                            f'stroke-width="2"/>')
        for (x, y), label, value in zip(points, canvas.labels, one.values, strict=True):
            text = value_format(value)
            canvas.parts.append(
                f'<g class="point"><title>{escape(label)} · {escape(one.name)}: '
                f'{escape(text)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                f'fill="{colour}"/></g>')
            canvas.value_text(x, y - 2, text, room=canvas.slot - 2)
    return canvas.close()
