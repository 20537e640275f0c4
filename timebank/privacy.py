"""Masking personal data shown to others (志愿服务条例 Art. 20)."""

from __future__ import annotations


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def mask_name(name: str) -> str:
    """张三 → 张*, 张小三 → 张*三, Alice Smith → A*** S****."""
    name = (name or "").strip()
    if not name:
        return ""
    if any(_is_cjk(ch) for ch in name):
        chars = [ch for ch in name if not ch.isspace()]
        if len(chars) == 1:
            return chars[0]
        if len(chars) == 2:
            return chars[0] + "*"
        return chars[0] + "*" * (len(chars) - 2) + chars[-1]
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


def mask_phone(phone: str | None) -> str:
    """13812345678 → 138****5678."""
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(number: str | None) -> str:
    """11010519491231002X → 110105********002X: the area code and the last four only."""
    if not number:
        return ""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
