"""Resident ID numbers (居民身份证号码, GB 11643-1999): 18 characters, ISO 7064 MOD 11-2.

Six digits of area code, eight of birth date (YYYYMMDD), three of sequence, and a check
character (0-9 or X). Only the shape, the birth date and the check character are verified:
area codes change over the years and an old one stays valid on the card.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

LENGTH = 18
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
EARLIEST_BIRTH = date(1850, 1, 1)  # the standard's own example was born in 1880
_SHAPE = re.compile(r"^[1-9][0-9]{16}[0-9X]$")


class InvalidIdNumber(ValueError):
    """Why a number is not a resident ID number: `reason` is format, birth_date or checksum."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_char(first17: str) -> str:
    """The check character for the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalise(raw: str) -> str:
    """Spaces and full-width forms removed, a lowercase x made X; nothing else is changed."""
    text = unicodedata.normalize("NFKC", raw or "")
    return "".join(text.split()).upper()


def birth_date(number: str) -> date | None:
    """The birth date the (normalised) number states, or None if it is not a real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def validate(raw: str, *, today: date | None = None) -> str:
    """The normalised number, or InvalidIdNumber naming the first thing wrong with it."""
    number = normalise(raw)
    if not _SHAPE.match(number):
        raise InvalidIdNumber("format")
    born = birth_date(number)
    if born is None or not EARLIEST_BIRTH <= born <= (today or date.today()):
        raise InvalidIdNumber("birth_date")
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumber("checksum")
    return number


def is_valid(raw: str) -> bool:
    try:
        validate(raw)
    except InvalidIdNumber:
        return False
    return True
