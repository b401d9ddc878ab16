"""Flags and colours read off the records alone (domain/flags.py): no database, no Ledger."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

from domain.flags import (
    done_since,
    due_soon_window,
    member_flags,
    overdue_band,
    overdue_bands,
    receipt_due,
    receipt_window_start,
)
from domain.transfer import RECEIPT_DUE_DAYS

TODAY = date(2026, 3, 15)


def member(status: str = "full", probation_ends_on: date | None = None, place: str = "held") -> Any:
    return SimpleNamespace(status=status, probation_ends_on=probation_ends_on, place=place)


def transfer(valid_until: date | None) -> Any:
    return SimpleNamespace(valid_until=valid_until)


def test_confirmation_is_due_from_the_day_probation_ends() -> None:
    assert member_flags(member("probationary", date(2026, 3, 15)), None, TODAY) == ["confirmation_due"]
    assert member_flags(member("probationary", date(2026, 3, 14)), None, TODAY) == ["confirmation_due"]
    assert member_flags(member("probationary", date(2026, 3, 16)), None, TODAY) == []
    assert member_flags(member("probationary", None), None, TODAY) == []
    assert member_flags(member("full", date(2026, 1, 1)), None, TODAY) == []


def test_a_letter_is_overdue_the_day_after_its_validity_while_the_member_is_in_transit() -> None:
    in_transit = member(place="in_transit")
    assert member_flags(in_transit, transfer(date(2026, 3, 14)), TODAY) == ["overdue_letter"]
    assert member_flags(in_transit, transfer(date(2026, 3, 15)), TODAY) == []
    assert member_flags(in_transit, transfer(None), TODAY) == []
    assert member_flags(in_transit, None, TODAY) == []
    assert member_flags(member(place="held"), transfer(date(2026, 1, 1)), TODAY) == []


def test_both_flags_in_order() -> None:
    both = member("probationary", date(2026, 3, 1), "in_transit")
    assert member_flags(both, transfer(date(2026, 3, 1)), TODAY) == ["confirmation_due", "overdue_letter"]


def test_the_overdue_ledger_colours_each_kind() -> None:
    assert overdue_band("due_soon") == overdue_band("receipt_missing") == "yellow"
    assert overdue_band("done") == "green"
    assert overdue_band("overdue_letter") == overdue_band("open_case") == "red"
    bands = overdue_bands(("overdue_letter", "unreturned_receipt"))
    assert list(bands.items()) == [("overdue_letter", "red"), ("unreturned_receipt", "red"),
                                   ("due_soon", "yellow"), ("receipt_missing", "yellow"), ("done", "green")]


def test_the_yellow_and_green_windows() -> None:
    assert due_soon_window(TODAY) == (TODAY, date(2026, 3, 22))  # seven days on
    assert RECEIPT_DUE_DAYS == 30
    assert receipt_window_start(TODAY) == date(2026, 2, 13)
    assert receipt_due(date(2026, 2, 13)) == TODAY
    assert done_since(TODAY) == date(2026, 3, 1)
    assert done_since(date(2026, 1, 1)) == date(2026, 1, 1)
