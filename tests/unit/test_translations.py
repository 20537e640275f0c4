"""Every user-facing string has its Chinese translation, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
ZH = ROOT / "timebank" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w*\}")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def _source_messages() -> set[str]:
    found: set[str] = set()
    for folder, method in (("timebank", "python"), ("templates", "jinja2")):
        pattern = "**.py" if method == "python" else "**.html"
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map=[(pattern, method)], keywords=KEYWORDS):
            # A plural message is catalogued under its singular form.
            text = message[0] if isinstance(message, tuple) else message
            if text:
                found.add(text)
    return found


def _catalogue():
    with ZH.open("rb") as fh:
        return read_po(fh, locale="zh")


def test_every_source_string_is_translated_into_chinese():
    catalogue = _catalogue()
    missing = sorted(m for m in _source_messages()
                     if m not in catalogue or not catalogue[m].string
                     or catalogue[m].fuzzy)
    assert missing == [], f"untranslated (run `make messages`, then translate): {missing}"


def test_translations_keep_their_placeholders():
    wrong = []
    for message in _catalogue():
        if not message.id or not message.string or isinstance(message.id, tuple):
            continue
        if sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            wrong.append(message.id)
    assert wrong == []
