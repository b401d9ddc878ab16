"""Use cases on first-responder cases (首问责任制, seed 003): the organization a person first
asks opens the case and owns it until it is closed. Each checks its rules, then records."""

from __future__ import annotations

from domain.base import Context
from domain.case import Case
from domain.errors import ValidationError
from domain.ledger.rules import check_open_period, check_placed, check_scope, jurisdiction
from domain.ledger.session import Recorded, Session


def open_(
    session: Session, ctx: Context, organization_code: str, *, name: str, registration_no: str | None,
    request: str,
) -> Recorded:
    """The organization asked first (the operator's own or one below it) opens the case. A
    registration number given is checked for its form only: whether the ledger knows it is
    nobody's business here until the case is closed."""
    org = session.org(organization_code)
    check_scope(ctx, session, org)
    org.check_active()
    check_open_period(ctx, session, org)
    case = session.add(Case.open(
        ctx, organization_code=org.code, name=name, registration_no=registration_no, request=request,
    ))
    return Recorded(0, registration_no=case.registration_no, code=case.case_id)


def close(
    session: Session, ctx: Context, case_id: str, *, outcome: str, note: str | None,
    registration_no: str | None = None,
) -> Recorded:
    """The owning organization (or an operator above it) closes the case; `placed` only once
    the person is held and has attended org life since the case was opened (rules.py)."""
    case = session.case(case_id)
    jurisdiction(ctx, session).check(case.organization_code, f"case {case.case_id}")
    case.check_open()
    number = Case.linked_number(registration_no)
    if number is not None and case.registration_no not in (None, number):
        raise ValidationError(f"case {case.case_id} names another registration number")
    number = number or case.registration_no
    check_open_period(ctx, session, session.org(case.organization_code))
    if outcome == "placed":
        check_placed(ctx, session, case, number)
    case.close(ctx, outcome, note, number)
    return Recorded(0, registration_no=number, code=case.case_id)
