"""Points and hours: Decimal at the edges, integer hundredths in the database."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_minor(value: Decimal) -> int:
    """Exact conversion to hundredths; refuses more than two decimal places."""
    if value != value.quantize(CENT):
        raise ValueError("more than two decimal places")
    return int(value * 100)


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(CENT)


def quantize(value: Decimal) -> Decimal:
    """Round half up to 0.01: how hours and points are computed."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_decimal(raw) -> Decimal:
    """A decimal from a JSON string or number; booleans and floats with noise are refused."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not value.is_finite():
        raise ValueError("not a finite number")
    return value


def fmt(minor: int) -> str:
    """'20.00' from 2000."""
    return f"{from_minor(minor):.2f}"
