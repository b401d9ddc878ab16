"""`clean_fields`, the check every aggregate applies to the fields it records, against its
plain definition: each string checked as incoming text, then put in NFC but for the CJK
compatibility ideographs, kept as they came (Chinese text round-trips unchanged)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.text import check_incoming, clean_fields, search_forms


def nfc_but_compatibility_ideographs(text: str) -> str:
    """NFC, each CJK compatibility ideograph first set aside as a private-use character
    (which NFC keeps, and which composes with nothing), then put back."""
    spare = (chr(point) for point in range(0xF0000, 0x10FFFE) if chr(point) not in text)  # none in the text
    kept: dict[str, str] = {}

    def aside(char: str) -> str:
        if "\uf900" <= char <= "\ufaff" or "\U0002f800" <= char <= "\U0002fa1f":
            placeholder = next(spare)
            kept[placeholder] = char
            return placeholder
        return char

    composed = unicodedata.normalize("NFC", "".join(aside(char) for char in text))
    return "".join(kept.get(char, char) for char in composed)


def reference(fields: dict[str, Any]) -> dict[str, Any]:
    """clean_fields by its definition (the code before its fast path for ASCII)."""
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            cleaned[key] = nfc_but_compatibility_ideographs(check_incoming(value, key))
        elif isinstance(value, dict):
            cleaned[key] = reference(value)
        else:
            cleaned[key] = value
    return cleaned


def outcome(clean: Any, fields: dict[str, Any]) -> Any:
    try:
        return clean(fields)
    except ValidationError as error:
        return ("refused", error.detail)


TEXT = st.text(st.characters(codec="utf-8")
               | st.sampled_from("\t\n\r\x00\x07\x7f\u0301\u0327e\u1100\u1161\uf900\uf92c\U0002f800\u90ce"))
VALUES = st.recursive(TEXT | st.none() | st.integers(), lambda inner: st.dictionaries(st.text(max_size=3), inner),
                      max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=5), VALUES, max_size=6))
def test_clean_fields_is_its_definition(fields: dict[str, Any]) -> None:
    assert outcome(clean_fields, fields) == outcome(reference, fields)


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x\x1b", "\x7f"])
def test_a_string_that_is_not_text_is_refused_naming_its_field(value: str) -> None:
    with pytest.raises(ValidationError, match=r"^name contains"):
        clean_fields({"code": "B1", "name": value})


def test_ascii_and_nfc_text_is_kept_as_it_is_and_the_rest_composed() -> None:
    assert clean_fields({"a": "B-01", "b": "e\u0301", "c": {"d": "\u1100\u1161"}, "e": 5}) == {
        "a": "B-01", "b": "\u00e9", "c": {"d": "\uac00"}, "e": 5}


def test_chinese_text_round_trips_unchanged() -> None:
    """API.md: "Chinese text round-trips unchanged". GBK's FD9C decodes to 郎 U+F92C, a CJK
    compatibility ideograph that NFC would replace by U+90CE; it is kept, beside text that
    is composed around it. A search looks for it as kept and in its unified form."""
    name = b"\xd5\xc5\xfd\x9c".decode("gbk") + "e\u0301"
    assert name[1] == "\uf92c"
    assert clean_fields({"name": name}) == {"name": "\u5f20\uf92c\u00e9"}
    assert clean_fields({"name": "\U0002f800"}) == {"name": "\U0002f800"}
    assert search_forms("\uf92c") == ["\uf92c", "\u90ce"] and search_forms("\u90ce") == ["\u90ce"]
