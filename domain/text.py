"""Incoming text: what every string must be before the ledger looks at it.

Every string that comes in (an HTTP request's path, query, headers and JSON body, a web
form, a command-line argument, a spreadsheet cell) is checked once, where it comes in, by
`check_incoming`: it carries no lone surrogate (not text: it can't be encoded, stored or
compared), no NUL and no other C0 control character, no DEL and no C1 control (U+0080-U+009F,
U+0085 a line break among them). Tab, line feed and
carriage return are the only control characters allowed, and only in free text (names,
reasons, notes: JSON bodies and spreadsheet cells); single-line values (paths, query
parameters, headers, web form fields, command-line arguments) refuse them too, and
identifiers refuse them by their patterns (domain/identifiers.py). The aggregates check
every field they record again (`clean_fields`), whoever calls them.

Free text is kept in Unicode NFC (`normalize_text`): the same words typed on two keyboards
are stored, compared and counted alike; but Chinese text round-trips unchanged (API.md), so
the CJK compatibility ideographs (U+F900-U+FAFF, U+2F800-U+2FA1F: 郎 U+F92C is how GBK's
FD9C decodes), which NFC would replace by their unified forms, are kept as they came. A
search looks for both forms (`search_forms`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from domain.errors import ValidationError

# Lone surrogates, NUL and the other C0 controls but tab, LF and CR, DEL and the C1 controls.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The CJK compatibility ideographs, one a match (`split` keeps them as parts of their own).
_CJK_COMPATIBILITY = re.compile("([\uf900-\ufaff\U0002f800-\U0002fa1f])")
# The same, and tab, LF and CR too: for values that are one line.
_FORBIDDEN_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _what(char: str) -> str:
    if "\ud800" <= char <= "\udfff":
        return "a lone surrogate (not valid Unicode text)"
    if char == "\x00":
        return "a NUL character"
    return f"a control character (U+{ord(char):04X})"


def incoming_problem(value: str, *, single_line: bool = False) -> str | None:
    """What is wrong with an incoming string (a few words, without the value), or None."""
    found = (_FORBIDDEN_IN_A_LINE if single_line else _FORBIDDEN).search(value)
    return None if found is None else _what(found.group())


def check_incoming(value: str, field: str, *, single_line: bool = False) -> str:
    """Refuse (`validation_error`, naming `field`) a string with a lone surrogate, NUL or
    another control character; tab, LF and CR only where not `single_line`."""
    problem = incoming_problem(value, single_line=single_line)
    if problem is not None:
        raise ValidationError(f"{field} contains {problem}")
    return value


def incoming_tree_problem(data: Any, path: tuple[str, ...] = ("body",)) -> tuple[tuple[str, ...], str] | None:
    """The first string of a JSON document (keys too) that `check_incoming` refuses: its
    path (("body", "evidence", "reference")) and what is wrong; None if all are text. The
    values are free text; keys are single-line."""
    if isinstance(data, str):
        problem = incoming_problem(data)
        return None if problem is None else (path, problem)
    if isinstance(data, Mapping):
        for key, value in data.items():
            problem = incoming_problem(str(key), single_line=True)
            if problem is not None:
                return (*path, "(a key)"), problem
            found = incoming_tree_problem(value, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found = incoming_tree_problem(value, (*path, str(index)))
            if found is not None:
                return found
    return None


def check_incoming_tree(data: Any, field: str = "body") -> None:
    """`check_incoming` on every string of a JSON document, naming the first refused by
    its path (`body.evidence.reference`)."""
    found = incoming_tree_problem(data, (field,))
    if found is not None:
        path, problem = found
        raise ValidationError(f"{'.'.join(path)} contains {problem}")


def normalize_text(value: str) -> str:
    """Free text in Unicode NFC (composed: "é" is one character however it was typed), but
    for the CJK compatibility ideographs, kept as they are (see the module's documentation)."""
    if unicodedata.is_normalized("NFC", value):
        return value
    if _CJK_COMPATIBILITY.search(value) is None:
        return unicodedata.normalize("NFC", value)
    return "".join(part if _CJK_COMPATIBILITY.fullmatch(part) else unicodedata.normalize("NFC", part)
                   for part in _CJK_COMPATIBILITY.split(value))


def search_forms(value: str) -> list[str]:
    """The forms a search for `value` looks for: as free text is kept (`normalize_text`),
    and, when it holds a CJK compatibility ideograph, with the unified form instead (the
    way almost every name is typed)."""
    kept = normalize_text(value)
    unified = unicodedata.normalize("NFC", value)
    return [kept] if unified == kept else [kept, unified]


def clean_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an aggregate records, their strings checked as incoming free text and
    in NFC (nested dicts alike). Identifiers are ASCII, which NFC leaves as they are."""
    cleaned = dict(fields)
    for key, value in cleaned.items():  # values replaced in place: the keys stay as they are
        if isinstance(value, str):
            if _FORBIDDEN.search(value) is not None:
                check_incoming(value, key)  # raises, naming the field
            if not value.isascii():  # ASCII text is in NFC as it is
                cleaned[key] = normalize_text(value)
        elif isinstance(value, Mapping):
            cleaned[key] = clean_fields(value)
    return cleaned
