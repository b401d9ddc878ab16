"""Calendar arithmetic: years and months after a day, and months written YYYY-MM.

Months are written "YYYY-MM" in ASCII digits. Checking a date or month someone typed is
domain/identifiers.py's (`parse_iso_date`, `validate_month`), with the other shapes.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date

from domain.errors import ValidationError


def years_after(day: date, years: int) -> date:
    """The same day `years` years later (earlier when negative); 29 February becomes the 28th
    in a year without one."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def one_year_after(day: date) -> date:
    return years_after(day, 1)


def add_months(day: date, months: int) -> date:
    """The same day `months` months later (earlier when negative), or the month's last day
    when it has no such day (31 January + 1 month is 28 or 29 February)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def month_text(day: date) -> str:
    """The day's month, YYYY-MM (`f"{day:%Y-%m}"` without strftime, which pads no year below
    1000: those still take it)."""
    return day.isoformat()[:7] if day.year >= 1000 else f"{day:%Y-%m}"


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last day of a month YYYY-MM."""
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1), date(year, mon, monthrange(year, mon)[1])


def months_before(day: date, count: int) -> list[str]:
    """The `count` full months before `day`'s month, oldest first."""
    months, year, mon = [], day.year, day.month
    for _ in range(count):
        year, mon = (year, mon - 1) if mon > 1 else (year - 1, 12)
        months.append(f"{year:04d}-{mon:02d}")
    return months[::-1]


def months_ending(month: str, count: int = 12) -> list[str]:
    """The `count` months that end with `month` (YYYY-MM), oldest first."""
    year, mon = int(month[:4]), int(month[5:7])
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year, mon - 1) if mon > 1 else (year - 1, 12)
    return months[::-1]


def months_between(earlier: str, later: str) -> int:
    """How many months `later` (YYYY-MM) is after `earlier`."""
    return (int(later[:4]) - int(earlier[:4])) * 12 + int(later[5:7]) - int(earlier[5:7])


def check_day(day: date | None, field: str = "date") -> None:
    """A date the ledger counts with lies in 1900-2999 (as the shapes of dates and months)."""
    if day is not None and not 1900 <= day.year <= 2999:
        raise ValidationError(f"{field} must be between 1900 and 2999")
