"""Resident ID numbers: GB 11643-1999 shape, birth date and the ISO 7064 MOD 11-2 check."""

from __future__ import annotations

from datetime import date

import pytest

from timebank import idnumber
from timebank.privacy import mask_id_number

# The two examples printed in GB 11643-1999 itself, and a few made with an independent
# computation of the check character.
VALID = [
    "11010519491231002X",
    "440524188001010014",
    "110101199003070011",
    "310104198510104417",
    "510107200002290029",  # 29 February of a leap year
]


def _independent_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 written out from its definition: weights 2^(17-i) mod 11."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers_pass(number):
    assert idnumber.validate(number) == number
    assert idnumber.is_valid(number)
    assert _independent_check(number[:17]) == number[17]


def test_a_lowercase_x_spaces_and_full_width_digits_are_normalised():
    assert idnumber.validate("11010519491231002x") == "11010519491231002X"
    assert idnumber.validate(" 110105 19491231 002X ") == "11010519491231002X"
    assert idnumber.validate("４４０５２４１８８００１０１００１４") == "440524188001010014"


@pytest.mark.parametrize("number, reason", [
    ("11010519491231002", "format"),        # 17 characters
    ("11010519491231002XX", "format"),      # 19
    ("1101051949123100X2", "format"),       # X not last
    ("01010519491231002X", "format"),       # area code cannot start with 0
    ("11010519491231002Y", "format"),
    ("", "format"),
    ("1.10105194912E+17", "format"),        # what Excel makes of a number column
    ("110105194902300010", "birth_date"),   # 30 February
    ("110105190002290011", "birth_date"),   # 1900 was not a leap year
    ("110105184912310010", "birth_date"),   # before 1850
    ("110105299912310010", "birth_date"),   # in the future
    ("110105194912310021", "checksum"),     # the standard's example with the wrong check
    ("440524188001010015", "checksum"),
    ("110101199003070012", "checksum"),
])
def test_invalid_numbers_say_why(number, reason):
    with pytest.raises(idnumber.InvalidIdNumber) as caught:
        idnumber.validate(number)
    assert caught.value.reason == reason
    assert not idnumber.is_valid(number)


def test_every_single_digit_typo_is_caught():
    number = "11010519491231002X"
    for position in range(17):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            typo = number[:position] + digit + number[position + 1:]
            if idnumber.birth_date(typo) is None or not typo[0].isdigit() or typo[0] == "0":
                continue
            assert not idnumber.is_valid(typo), typo


def test_birth_date_and_today():
    assert idnumber.birth_date("11010519491231002X") == date(1949, 12, 31)
    born_today = "110105202401010000"[:17]
    number = born_today + idnumber.check_char(born_today)
    assert idnumber.validate(number, today=date(2024, 1, 1)) == number
    with pytest.raises(idnumber.InvalidIdNumber):
        idnumber.validate(number, today=date(2023, 12, 31))


def test_masking_shows_the_area_code_and_the_last_four():
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_id_number(None) == "" and mask_id_number("") == ""
    assert mask_id_number("12345") == "*****"
