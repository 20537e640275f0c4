"""Custom marshmallow fields: points as two-decimal strings, times in the local zone."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields

from timebank.timeutil import zone
from timebank.units import fmt, parse_decimal, to_minor

MAX_POINTS = Decimal("10000000")


class MinorUnits(fields.Field):
    """'20.00' at the edge, 2000 inside. More than two decimals is refused, never rounded."""

    def __init__(self, *, positive: bool = True, maximum: Decimal = MAX_POINTS, **kwargs):
        super().__init__(**kwargs)
        self.positive = positive
        self.maximum = maximum

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else fmt(value)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            number = parse_decimal(value)
        except ValueError as exc:
            raise ValidationError(str(_l("Enter a number such as \"20.00\"."))) from exc
        if abs(number) > self.maximum:  # before to_minor: a huge exponent cannot be quantized
            raise ValidationError(str(_l("Too large.")))
        try:
            minor = to_minor(number)
        except ValueError as exc:
            raise ValidationError(str(_l("At most two decimal places."))) from exc
        if self.positive and minor <= 0:
            raise ValidationError(str(_l("Must be more than zero.")))
        if minor < 0:
            raise ValidationError(str(_l("Must not be negative.")))
        if number > self.maximum:
            raise ValidationError(str(_l("Too large.")))
        return minor


class LocalDateTime(fields.AwareDateTime):
    """ISO 8601 with offset; input must carry one, output is in the configured zone."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    # Beyond these years a time cannot even be converted to UTC; no real date lies there.
    FIRST_YEAR, LAST_YEAR = 1900, 2999

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not self.FIRST_YEAR <= moment.year <= self.LAST_YEAR:
            raise ValidationError(str(_l("Choose a date between the years %(first)d and "
                                         "%(last)d.", first=self.FIRST_YEAR,
                                         last=self.LAST_YEAR)))
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(zone()).isoformat()


class Day(fields.Date):
    """An ISO date (2026-03-01) within the years the service can hold."""

    FIRST_YEAR, LAST_YEAR = 2000, 2999

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not self.FIRST_YEAR <= day.year <= self.LAST_YEAR:
            raise ValidationError(str(_l("Choose a date between the years %(first)d and "
                                         "%(last)d.", first=self.FIRST_YEAR,
                                         last=self.LAST_YEAR)))
        return day


class Text(fields.String):
    """A trimmed string with a length limit and no control characters."""

    def __init__(self, *, max_length: int = 200, min_length: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.min_length = min_length

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
            raise ValidationError(str(_l("Contains control characters.")))
        if len(text) > self.max_length:
            raise ValidationError(str(_l("At most %(n)d characters.", n=self.max_length)))
        if len(text) < self.min_length:
            raise ValidationError(str(_l("Must not be empty.")))
        return text


def shown_name(person) -> str:
    """A person's name as the API caller may see it."""
    from flask import g

    from timebank.services import access

    return access.shown_name(g.get("api_user"), person)
