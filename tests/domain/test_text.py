"""`clean_fields`, the check every aggregate applies to the fields it records, against its
plain definition: each string checked as incoming text, then put in NFC."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.text import check_incoming, clean_fields


def reference(fields: dict[str, Any]) -> dict[str, Any]:
    """clean_fields by its definition (the code before its fast path for ASCII)."""
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            cleaned[key] = unicodedata.normalize("NFC", check_incoming(value, key))
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


TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from("\t\n\r\x00\x07\x7f\u0301\u0327e\u1100\u1161"))
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
