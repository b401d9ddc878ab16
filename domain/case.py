"""First-responder cases (首问责任制, seed 003): a person asks an organization for a home for
their relationship; that organization owns the case until it is closed.

Invariant: a case is opened once, by one organization, and closed once, with one outcome;
`placed` only when the person it names is held by an organization and has attended org
life since the case was opened (a rule across aggregates: domain/ledger/rules.py).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from domain.base import Context, LedgerAggregate
from domain.errors import InvalidTransition, ValidationError
from domain.identifiers import validate_registration_no
from domain.vocabulary import CASE_OUTCOMES as OUTCOMES
from domain.vocabulary import CASE_OVERDUE_AFTER_DAYS as OVERDUE_AFTER_DAYS  # noqa: F401 (projections/cases.py)
from domain.vocabulary import NAME_MAX
from domain.vocabulary import TEXT_MAX as REQUEST_MAX


def _filled(value: Any, field: str, longest: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > longest:
        raise ValidationError(f"{field} must be 1-{longest} characters")
    return text


class Case(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        case_id: str
        organization_code: str
        name: str
        registration_no: str | None
        request: str
        opened_on: date
        status: str  # open | closed
        outcome: str | None
        note: str | None
        closed_on: date | None

    class Opened(LedgerAggregate.Created):
        organization_code: str
        name: str
        registration_no: str | None
        request: str

        def change(self, c: Case) -> None:
            c.case_id = str(self.originator_id)
            c.organization_code, c.name = self.organization_code, self.name
            c.registration_no, c.request = self.registration_no, self.request
            c.opened_on, c.status = self.on, "open"
            c.outcome = c.note = c.closed_on = None

    class Closed(LedgerAggregate.Event):
        outcome: str
        note: str | None
        registration_no: str | None  # the person's number, when it was linked only now

        def change(self, c: Case) -> None:
            c.status, c.outcome, c.note, c.closed_on = "closed", self.outcome, self.note, self.on
            if self.registration_no is not None:
                c.registration_no = self.registration_no

    @classmethod
    def open(
        cls, ctx: Context, *, organization_code: str, name: Any, registration_no: str | None, request: Any,
    ) -> Case:
        number = validate_registration_no(registration_no) if registration_no is not None else None
        return cls._create(
            cls.Opened, id=uuid4(), **ctx.meta(), organization_code=organization_code,
            name=_filled(name, "name", NAME_MAX), registration_no=number,
            request=_filled(request, "request", REQUEST_MAX),
        )

    @staticmethod
    def linked_number(registration_no: str | None) -> str | None:
        """A registration number given when closing, in its one spelling."""
        return validate_registration_no(registration_no) if registration_no is not None else None

    def check_open(self) -> None:
        """A case is closed once."""
        if self.status != "open":
            raise InvalidTransition(f"case {self.case_id} was closed on {self.closed_on} ({self.outcome})")

    def close(self, ctx: Context, outcome: str, note: str | None, registration_no: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValidationError(f"outcome must be one of {', '.join(OUTCOMES)}")
        self.check_open()
        number = registration_no if registration_no != self.registration_no else None
        self.record(self.Closed, ctx, outcome=outcome, note=(note or "").strip() or None, registration_no=number)

    def summary(self, today: date | None = None) -> dict[str, Any]:
        end = self.closed_on or today
        return {
            "case_id": self.case_id, "organization_code": self.organization_code, "name": self.name,
            "registration_no": self.registration_no, "request": self.request, "opened_on": self.opened_on,
            "days_open": (end - self.opened_on).days if end is not None else None,
            "status": self.status, "outcome": self.outcome, "note": self.note, "closed_on": self.closed_on,
        }

