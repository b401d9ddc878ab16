"""Calendar arithmetic (domain/calendar.py): years and months after a day, months YYYY-MM."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import (
    add_months,
    check_day,
    month_bounds,
    month_text,
    months_before,
    months_between,
    months_ending,
    one_year_after,
    years_after,
)
from domain.errors import ValidationError

DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31))


def test_a_year_after_29_february_is_28_february() -> None:
    assert one_year_after(date(2024, 2, 29)) == date(2025, 2, 28)
    assert years_after(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert years_after(date(2024, 2, 29), -1) == date(2023, 2, 28)
    assert years_after(date(2000, 6, 1), 18) == date(2018, 6, 1)


def test_a_month_after_a_long_months_end_is_the_next_months_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)


@given(DAYS, st.integers(min_value=-120, max_value=120))
def test_add_months_moves_by_whole_months_and_keeps_the_day_when_it_can(day: date, months: int) -> None:
    later = add_months(day, months)
    assert months_between(month_text(day), month_text(later)) == months
    first, last = month_bounds(month_text(later))
    assert later.day == min(day.day, last.day) and first.day == 1


def test_months_are_written_yyyy_mm() -> None:
    assert month_text(date(2026, 3, 9)) == "2026-03"
    assert month_text(date(999, 12, 1)) == "999-12"  # as f"{day:%Y-%m}" writes it
    assert month_bounds("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert months_before(date(2026, 2, 15), 3) == ["2025-11", "2025-12", "2026-01"]
    assert months_ending("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    assert months_ending("2026-02", 0) == []
    assert months_between("2025-11", "2026-02") == 3


@given(DAYS, st.integers(min_value=1, max_value=30))
def test_months_before_a_day_end_with_the_month_before_it(day: date, count: int) -> None:
    months = months_before(day, count)
    assert len(months) == count
    assert months[-1] == month_text(month_bounds(month_text(day))[0] - timedelta(days=1))
    assert months == months_ending(months[-1], count)
    assert all(months_between(a, b) == 1 for a, b in pairwise(months))


def test_a_day_the_ledger_counts_with_lies_in_1900_2999() -> None:
    check_day(None)
    check_day(date(1900, 1, 1))
    check_day(date(2999, 12, 31))
    for day in (date(1899, 12, 31), date(3000, 1, 1)):
        with pytest.raises(ValidationError):
            check_day(day, "on")
