"""The overdue list's kinds, its order, and the window of the inactive kind."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

from domain.calendar import month_bounds, months_before
from domain.vocabulary import INACTIVE_MONTHS, OVERDUE_KINDS

# Kinds of people waiting for someone to act (projections/cases.py): few rows, read whole
# for any subtree and merged with the page of the other kinds.
WAITING_KINDS = ("stale_request", "open_case")
# The fields of an overdue row, as the API's lists and the CLI's files give them.
OVERDUE_COLUMNS = ("kind", "registration_no", "name", "organization_code", "reference", "due_on", "days_overdue",
                   "responsible_organization_code")

__all__ = ["OVERDUE_COLUMNS", "OVERDUE_KINDS", "WAITING_KINDS"]


def overdue_key(due_on: str, kind: str, registration_no: str, reference: str | None) -> tuple[str, str, str, str]:
    """The overdue list's order: most overdue first (the earliest due day: one list is of
    one day), then kind, member and reference."""
    return (due_on, kind, registration_no, reference or "")


def overdue_order(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return overdue_key(row["due_on"], row["kind"], row["registration_no"] or "", row["reference"])


class Window(NamedTuple):
    """The full months a member must have been inactive in to be `inactive_6m` on a day:
    the months, the window's first day, and the day every such row is due (the day after
    the window)."""

    months: list[str]
    start: str
    due_on: date


def inactive_window(on: date) -> Window:
    months = months_before(on, INACTIVE_MONTHS)
    return Window(months, month_bounds(months[0])[0].isoformat(),
                  month_bounds(months[-1])[1] + timedelta(days=1))
