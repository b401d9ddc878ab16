"""First-responder cases (首问责任制, seed 003): the organization a person first asks opens
the case and owns it until it is closed; `placed` only once the person is held and has
attended org life since the case was opened. Each refusal records nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.base import Actor
from domain.errors import (
    BeforeLastEvent,
    InvalidRegistrationNo,
    InvalidTransition,
    NotFound,
    OrganizationDissolved,
    OutOfJurisdiction,
    ValidationError,
)
from domain.identifiers import make_registration_no
from domain.ledger import Ledger
from tests.factories import admit, build_tree, refused

OPENED = date(2026, 6, 1)
CLERK = Actor("玄武区党员服务中心工作人员", "XW-S")


def open_case(ledger: Ledger, **fields: Any) -> str:
    fields = {"name": "刘洋", "request": "毕业后落实组织关系", "actor": CLERK, "on": OPENED, **fields}
    case_id = ledger.open_case(fields.pop("organization_code", "XW-S"), **fields).code
    assert case_id is not None
    return case_id


def test_a_case_is_owned_by_the_organization_first_asked(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, org="QH-C1-B1")
    case_id = open_case(ledger, registration_no=number.lower())
    case = ledger.case(case_id)
    assert (case.organization_code, case.name, case.registration_no) == ("XW-S", "刘洋", number)
    assert (case.status, case.opened_on, case.outcome, case.closed_on) == ("open", OPENED, None, None)
    assert case.summary(date(2026, 7, 2))["days_open"] == 31
    # a person the ledger may not know yet: no number at all
    assert ledger.case(open_case(ledger, name="王某")).registration_no is None


def test_opening_a_case_is_refused_outside_the_subtree_or_malformed(ledger: Ledger) -> None:
    build_tree(ledger)
    ledger.dissolve_organization("XW-C2-B1", "XW-C1-B3", on=date(2026, 5, 1))
    clerk = Actor("clerk", "XW")
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        open_case(ledger, organization_code="QH-C1")
    with refused(ledger, NotFound, "not_found"):
        open_case(ledger, organization_code="NOWHERE", actor=clerk)
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        open_case(ledger, organization_code="XW-C2-B1", actor=clerk)
    for fields in ({"name": " "}, {"request": ""}, {"name": "名" * 101}, {"request": "事" * 501}):
        with refused(ledger, ValidationError, "validation_error", case=fields):
            open_case(ledger, **fields)
    for number in ("320102202001010011", "３２０１０２２０１５０７０１００１X", "32010220150701001X\n"):
        with refused(ledger, InvalidRegistrationNo, "invalid_registration_no", case=number):
            open_case(ledger, registration_no=number)


def test_a_case_is_closed_once_by_its_owner(ledger: Ledger) -> None:
    build_tree(ledger)
    case_id = open_case(ledger)
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        ledger.close_case(case_id, "withdrawn", actor=Actor("clerk", "XW-C1"), on=OPENED)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.close_case(case_id, "forgotten", actor=CLERK, on=OPENED)
    with refused(ledger, BeforeLastEvent, "before_last_event"):
        ledger.close_case(case_id, "withdrawn", actor=CLERK, on=date(2026, 5, 31))
    with refused(ledger, NotFound, "not_found"):
        ledger.close_case("0d5b6a8e-0000-4000-8000-000000000000", "withdrawn", actor=CLERK, on=OPENED)
    ledger.close_case(case_id, "not_a_member", "查无入党材料", actor=Actor("admin", "XW"), on=date(2026, 6, 3))
    case = ledger.case(case_id)
    assert (case.status, case.outcome, case.note, case.closed_on) == ("closed", "not_a_member", "查无入党材料",
                                                                      date(2026, 6, 3))
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.close_case(case_id, "withdrawn", actor=CLERK, on=date(2026, 6, 4))


def test_placed_only_once_held_with_org_life_since_the_case_was_opened(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, org="QH-C1-B1")
    ledger.record_org_life(number, "QH-C1-B1", on=date(2026, 5, 20))  # before the case
    case_id = open_case(ledger)
    # no member named
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.close_case(case_id, "placed", actor=CLERK, on=OPENED)
    # a number the ledger doesn't know: refused like one not yet placed
    unknown = refused_detail(ledger, case_id, make_registration_no("110101", date(2015, 7, 1), 18))
    not_yet = refused_detail(ledger, case_id, number)
    assert unknown == not_yet
    transfer_id = ledger.request_transfer(number, "XW-S", reason="other", basis="household", on=OPENED).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2026, 6, 2))
    refused_detail(ledger, case_id, number)  # in transit
    ledger.receive_member(transfer_id, "XW-S", actor=CLERK, on=date(2026, 6, 5))
    refused_detail(ledger, case_id, number)  # held, no org life since
    ledger.record_org_life(number, "XW-S", actor=CLERK, on=date(2026, 6, 10))
    with refused(ledger, InvalidTransition, "invalid_transition"):  # placed before the org life
        ledger.close_case(case_id, "placed", registration_no=number, actor=CLERK, on=date(2026, 6, 9))
    ledger.close_case(case_id, "placed", "已在服务中心参加组织生活", registration_no=number, actor=CLERK,
                      on=date(2026, 6, 10))
    case = ledger.case(case_id)
    assert (case.status, case.outcome, case.registration_no) == ("closed", "placed", number)


def test_a_number_given_at_closing_is_the_one_the_case_names(ledger: Ledger) -> None:
    build_tree(ledger)
    number, other = admit(ledger, 1, org="XW-S"), admit(ledger, 2, org="XW-S")
    case_id = open_case(ledger, registration_no=number)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.close_case(case_id, "withdrawn", registration_no=other, actor=CLERK, on=OPENED)


def refused_detail(ledger: Ledger, case_id: str, number: str) -> str:
    """Closing as placed is refused as `invalid_transition`, recording nothing; its words."""
    before = ledger.max_position()
    with pytest.raises(InvalidTransition) as caught:
        ledger.close_case(case_id, "placed", registration_no=number, actor=CLERK, on=date(2026, 6, 12))
    assert ledger.max_position() == before
    return caught.value.detail
