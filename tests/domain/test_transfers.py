"""Formal transfers (DOMAIN.md §5): request, issue, receive, return receipt; every refusal;
routes; jurisdiction; and where the member is of record at each step (§4)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from domain.base import Actor
from domain.errors import (
    BeforeLastEvent,
    CannotHoldMembers,
    ConfirmationDue,
    EvidenceRequired,
    InvalidTransition,
    LetterExpired,
    MemberNotHeld,
    NotFound,
    NotInTargetSubtree,
    OrganizationDissolved,
    OutOfJurisdiction,
    PerformanceRecordRequired,
    ProbationEnding,
    SameOrganization,
    TransferOpen,
    ValidationError,
    ValidityTooLong,
)
from domain.ledger import Ledger
from domain.transfer import Transfer
from tests.factories import admit, build_tree, person, refused

REQUESTED = date(2026, 9, 1)
ISSUED = date(2026, 9, 2)
RECEIVED = date(2026, 9, 10)

SENDER = Actor("clerk-xw-c1", "XW-C1")  # the sending committee
RECEIVER = Actor("clerk-qh-c1", "QH-C1")  # the receiving committee




def member(ledger: Ledger) -> str:
    """The tree, and a full member held by XW-C1-B1 (committee XW-C1, county 320102)."""
    build_tree(ledger)
    return admit(ledger, 1, org="XW-C1-B1")


def request(ledger: Ledger, number: str, to: str = "QH-C1-B1", on: date = REQUESTED, **fields: Any) -> str:
    fields.setdefault("reason", "job_change")
    fields.setdefault("basis", "household")
    transfer_id = ledger.request_transfer(number, to, on=on, **fields).transfer_id
    assert transfer_id is not None
    return transfer_id


def issued(ledger: Ledger, number: str, to: str = "QH-C1-B1") -> str:
    """Requested on REQUESTED, letter issued on ISSUED for 30 days (until 2026-10-02)."""
    transfer_id = request(ledger, number, to)
    ledger.issue_letter(transfer_id, on=ISSUED)
    return transfer_id


def probationer(ledger: Ledger, joined_on: date) -> str:
    build_tree(ledger)
    number = ledger.admit_member("XW-C1-B1", on=joined_on, **person(1, joined_on=joined_on)).registration_no
    assert number is not None
    return number


# --- the happy path ---------------------------------------------------------------------


def test_request_issue_receive_and_return_receipt(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = request(ledger, number)
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.registration_no, transfer.requested_on) == ("requested", number, REQUESTED)
    assert (transfer.from_organization_code, transfer.to_organization_code) == ("XW-C1-B1", "QH-C1-B1")
    assert (ledger.member(number).place, ledger.member(number).transfer_id) == ("held", transfer_id)

    letter_no = ledger.issue_letter(transfer_id, actor=SENDER, on=ISSUED).letter_no
    transfer = ledger.transfer(transfer_id)
    assert transfer.status == "issued"
    assert transfer.letter_no == letter_no
    assert letter_no is not None and re.fullmatch(r"XW-C1-2026-\d{5}", letter_no)
    assert (transfer.issued_on, transfer.issuing_organization_code) == (ISSUED, "XW-C1")
    assert ledger.member(number).place == "in_transit"

    ledger.receive_member(transfer_id, "QH-C1-B1", actor=RECEIVER, on=RECEIVED)
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.received_in_code, transfer.received_on) == (
        "received", "QH-C1-B1", RECEIVED,
    )
    assert transfer.on_time is True
    arrived = ledger.member(number)
    assert (arrived.place, arrived.organization_code, arrived.transfer_id) == ("held", "QH-C1-B1", None)

    before = ledger.max_position()
    ledger.return_receipt(transfer_id, actor=RECEIVER, on=date(2026, 9, 15))
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.receipt_returned_on) == ("receipt_returned", date(2026, 9, 15))
    returned = [e for _, e in ledger.read_events(after=before) if isinstance(e, Transfer.ReceiptReturned)]
    assert [e.days for e in returned] == [5]  # type: ignore[attr-defined]


def test_letter_numbers_run_per_issuing_committee_and_year(ledger: Ledger) -> None:
    build_tree(ledger)
    numbers = [admit(ledger, n, org="XW-C1-B1") for n in (1, 2, 3)]
    other = admit(ledger, 4, org="XW-C2-B1")
    first = ledger.issue_letter(request(ledger, numbers[0]), on=ISSUED).letter_no
    second = ledger.issue_letter(request(ledger, numbers[1]), on=ISSUED).letter_no
    last_year = ledger.issue_letter(
        request(ledger, numbers[2], on=date(2025, 5, 1)), on=date(2025, 5, 2)
    ).letter_no
    elsewhere = ledger.issue_letter(request(ledger, other), on=ISSUED).letter_no
    assert (first, second) == ("XW-C1-2026-00001", "XW-C1-2026-00002")
    assert last_year == "XW-C1-2025-00001"
    assert elsewhere == "XW-C2-2026-00001"


def test_letter_is_valid_for_30_days_by_default(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    assert ledger.transfer(transfer_id).valid_until == ISSUED + timedelta(days=30) == date(2026, 10, 2)


def test_letter_validity_over_90_days_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = request(ledger, number)
    with refused(ledger, ValidityTooLong, "validity_too_long"):
        ledger.issue_letter(transfer_id, valid_days=91, on=ISSUED)
    assert ledger.transfer(transfer_id).status == "requested"
    ledger.issue_letter(transfer_id, valid_days=90, on=ISSUED)
    assert ledger.transfer(transfer_id).valid_until == ISSUED + timedelta(days=90)


def test_extension_beyond_90_days_from_issue_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    with refused(ledger, ValidityTooLong, "validity_too_long"):
        ledger.extend_letter(transfer_id, ISSUED + timedelta(days=91), on=date(2026, 9, 20))
    ledger.extend_letter(transfer_id, ISSUED + timedelta(days=60), on=date(2026, 9, 20))
    with refused(ledger, ValidityTooLong, "validity_too_long"):  # extensions add up
        ledger.extend_letter(transfer_id, ISSUED + timedelta(days=91), on=date(2026, 10, 20))
    ledger.extend_letter(transfer_id, ISSUED + timedelta(days=90), on=date(2026, 10, 20))
    assert ledger.transfer(transfer_id).valid_until == ISSUED + timedelta(days=90)


def test_extension_must_lengthen_the_validity(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)  # valid until ISSUED + 30 days
    for days in (30, 29):
        with refused(ledger, ValidationError, "validation_error", case=days):
            ledger.extend_letter(transfer_id, ISSUED + timedelta(days=days), on=date(2026, 9, 20))
    assert ledger.transfer(transfer_id).valid_until == ISSUED + timedelta(days=30)



def test_an_extension_must_reach_at_least_its_own_day(ledger: Ledger) -> None:
    """Valid until 2026-10-02; extended on 2026-10-20 to 2026-10-19 it could never make a
    receipt on time: refused, nothing recorded. To the extension's own day it is accepted."""
    number = member(ledger)
    transfer_id = issued(ledger, number)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.extend_letter(transfer_id, date(2026, 10, 19), on=date(2026, 10, 20))
    assert ledger.transfer(transfer_id).valid_until == ISSUED + timedelta(days=30)
    ledger.extend_letter(transfer_id, date(2026, 10, 20), on=date(2026, 10, 20))
    assert ledger.transfer(transfer_id).valid_until == date(2026, 10, 20)

# --- who can be sent, and where -----------------------------------------------------------


def test_letter_for_a_member_who_is_not_held_is_refused(ledger: Ledger) -> None:
    in_transit = member(ledger)
    deceased, left = admit(ledger, 2), admit(ledger, 3)
    issued(ledger, in_transit)
    ledger.record_death(deceased, on=REQUESTED)
    ledger.record_leaving(left, "withdrew", on=REQUESTED)
    for number in (in_transit, deceased, left):
        with refused(ledger, MemberNotHeld, "member_not_held", case=ledger.member(number).place):
            request(ledger, number, to="XW-C2-B1", on=date(2026, 9, 5))


def test_second_open_transfer_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    first = request(ledger, number)
    with refused(ledger, TransferOpen, "transfer_open"):
        request(ledger, number, to="XW-C2-B1")
    assert ledger.member(number).transfer_id == first


def test_target_that_is_the_members_own_organization_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, SameOrganization, "same_organization"):
        request(ledger, number, to="XW-C1-B1")


def test_unknown_target_is_not_found(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, NotFound, "not_found"):
        request(ledger, number, to="NOWHERE")


def test_dissolved_target_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    ledger.dissolve_organization("QH-C1-B1", "XW-S", on=date(2026, 8, 1))
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        request(ledger, number, to="QH-C1-B1")


def test_department_target_is_refused_but_a_committee_target_is_not(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, CannotHoldMembers, "cannot_hold_members"):
        request(ledger, number, to="QH")
    assert ledger.transfer(request(ledger, number, to="QH-C1")).to_organization_code == "QH-C1"


def test_target_dissolved_after_the_request_is_refused_at_issue(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = request(ledger, number)
    ledger.dissolve_organization("QH-C1-B1", "XW-S", on=ISSUED)
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        ledger.issue_letter(transfer_id, on=ISSUED)


def test_a_request_effective_before_its_target_was_registered_or_moved_is_refused(ledger: Ledger) -> None:
    """As its issue would be (nothing recorded); from the day the target stands as it
    does, it is accepted. The target's filed month is not the request's to respect: a
    request changes none of its figures."""
    number = member(ledger)
    ledger.register_organization("QH-C1-B9", "秦淮第九支部", "branch", "QH-C1", "320104", on=date(2026, 9, 5))
    with refused(ledger, BeforeLastEvent, "before_last_event"):
        request(ledger, number, to="QH-C1-B9", on=date(2026, 9, 4))
    ledger.move_organization("SC-C1", "QH", on=date(2026, 9, 6))  # the target's committee moves
    with refused(ledger, BeforeLastEvent, "before_last_event"):
        request(ledger, number, to="SC-C1-B1", on=date(2026, 9, 5))
    ledger.file_month("QH", "2026-09", on=date(2026, 10, 1))
    first = request(ledger, number, to="QH-C1-B9", on=date(2026, 9, 5))
    ledger.decline_transfer(first, "改投他处", on=date(2026, 10, 6))
    assert ledger.transfer(request(ledger, number, to="SC-C1-B1", on=date(2026, 10, 6))).status == "requested"


def test_unknown_reason_basis_or_evidence_kind_is_validation_error(ledger: Ledger) -> None:
    number = member(ledger)
    cases: list[dict[str, Any]] = [
        {"reason": "holiday"},
        {"basis": "hometown"},
        {"basis": "workplace", "evidence": {"kind": "payslip", "reference": "2026-08"}},
    ]
    for fields in cases:
        with refused(ledger, ValidationError, "validation_error", case=fields):
            request(ledger, number, **fields)


# --- receiving ----------------------------------------------------------------------------


def test_receiving_into_an_organization_that_holds_no_members_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number, to="QH-C1")
    with refused(ledger, CannotHoldMembers, "cannot_hold_members"):
        ledger.receive_member(transfer_id, "QH-C1", on=RECEIVED)
    ledger.receive_member(transfer_id, "QH-C1-B1", on=RECEIVED)
    assert ledger.member(number).organization_code == "QH-C1-B1"


def test_receiving_outside_the_targets_subtree_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number, to="QH-C1")
    with refused(ledger, NotInTargetSubtree, "not_in_target_subtree"):
        ledger.receive_member(transfer_id, "SC-C1-B1", on=RECEIVED)
    with refused(ledger, NotInTargetSubtree, "not_in_target_subtree"):
        ledger.receive_member(transfer_id, "XW-C2-B1", on=RECEIVED)
    assert ledger.member(number).place == "in_transit"


def test_receiving_twice_is_invalid_transition(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number, to="QH-C1")
    ledger.register_organization("QH-C1-B2", "秦淮第二支部", "branch", "QH-C1", "320104", on=REQUESTED)
    ledger.receive_member(transfer_id, "QH-C1-B1", on=RECEIVED)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.receive_member(transfer_id, "QH-C1-B2", on=RECEIVED)
    assert ledger.member(number).organization_code == "QH-C1-B1"
    assert number not in ledger.organization("QH-C1-B2").members


def test_receiving_a_requested_declined_cancelled_or_rejected_transfer_is_invalid_transition(
    ledger: Ledger,
) -> None:
    declined = request(ledger, member(ledger))
    requested = request(ledger, admit(ledger, 2))
    cancelled, rejected = issued(ledger, admit(ledger, 3)), issued(ledger, admit(ledger, 4))
    ledger.decline_transfer(declined, "缺少材料", on=ISSUED)
    ledger.cancel_transfer(cancelled, "不再调动", on=date(2026, 9, 5))
    ledger.reject_transfer(rejected, "无法接收", on=date(2026, 9, 5))
    transfers = (requested, declined, cancelled, rejected)
    for transfer_id in transfers:
        status = ledger.transfer(transfer_id).status
        with refused(ledger, InvalidTransition, "invalid_transition", case=status):
            ledger.receive_member(transfer_id, "QH-C1-B1", on=RECEIVED)
    assert [ledger.transfer(t).status for t in transfers] == ["requested", "declined", "cancelled", "rejected"]
    assert ledger.organization("QH-C1-B1").members == {}


def test_receipt_after_validity_needs_late_certificate(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    late = date(2026, 10, 3)  # valid until 2026-10-02
    # expiry voids nothing: the letter is still open and the member still in transit
    assert (ledger.transfer(transfer_id).status, ledger.member(number).place) == ("issued", "in_transit")
    with refused(ledger, LetterExpired, "letter_expired"):
        ledger.receive_member(transfer_id, "QH-C1-B1", on=late)
    with refused(ledger, LetterExpired, "letter_expired"):
        ledger.receive_member(transfer_id, "QH-C1-B1", late_certificate="  ", on=late)
    ledger.receive_member(transfer_id, "QH-C1-B1", late_certificate="上城支部延期证明 2026-07", on=late)
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.on_time) == ("received", False)
    assert transfer.late_certificate == "上城支部延期证明 2026-07"
    assert ledger.member(number).organization_code == "QH-C1-B1"


def test_receipt_on_the_last_valid_day_is_on_time(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    ledger.receive_member(transfer_id, "QH-C1-B1", on=date(2026, 10, 2))
    assert ledger.transfer(transfer_id).on_time is True


def test_extended_letter_is_received_on_time(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    ledger.extend_letter(transfer_id, date(2026, 10, 20), on=date(2026, 10, 1))
    ledger.receive_member(transfer_id, "QH-C1-B1", on=date(2026, 10, 15))
    assert ledger.transfer(transfer_id).on_time is True


def test_receiving_before_the_letter_was_issued_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    with refused(ledger, BeforeLastEvent, "before_last_event"):
        ledger.receive_member(transfer_id, "QH-C1-B1", on=ISSUED - timedelta(days=1))


def test_receipt_is_returned_only_after_receiving_and_once(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.return_receipt(transfer_id, on=RECEIVED)
    ledger.receive_member(transfer_id, "QH-C1-B1", on=RECEIVED)
    ledger.return_receipt(transfer_id, on=RECEIVED)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.return_receipt(transfer_id, on=RECEIVED)


# --- voiding: cancel, reject, decline ------------------------------------------------------


@pytest.mark.parametrize("outcome", ["cancelled", "rejected"])
def test_cancel_or_reject_puts_the_member_back_home(ledger: Ledger, outcome: str) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    if outcome == "cancelled":
        ledger.cancel_transfer(transfer_id, "本人放弃调动", actor=SENDER, on=date(2026, 9, 5))
    else:
        ledger.reject_transfer(transfer_id, "接收方无岗位", actor=RECEIVER, on=date(2026, 9, 5))
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.closed_on) == (outcome, date(2026, 9, 5))
    back = ledger.member(number)
    assert (back.place, back.organization_code, back.transfer_id) == ("held", "XW-C1-B1", None)
    assert number in ledger.organization("XW-C1-B1").members
    assert number not in ledger.organization("QH-C1-B1").members
    # back home means free to go again
    assert ledger.transfer(request(ledger, number, to="XW-C2-B1", on=date(2026, 9, 6))).status == "requested"


def test_cancel_or_reject_of_a_requested_transfer_is_invalid_transition(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = request(ledger, number)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.cancel_transfer(transfer_id, "不再调动", on=ISSUED)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.reject_transfer(transfer_id, "不再调动", on=ISSUED)


def test_decline_frees_the_member_for_a_new_request(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = request(ledger, number)
    ledger.decline_transfer(transfer_id, "缺少劳动合同", actor=SENDER, on=ISSUED)
    assert ledger.transfer(transfer_id).status == "declined"
    assert (ledger.member(number).place, ledger.member(number).transfer_id) == ("held", None)
    second = request(ledger, number, to="XW-C2-B1", on=ISSUED)
    assert ledger.member(number).transfer_id == second
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.issue_letter(transfer_id, on=ISSUED)


# --- probation rules (seed 003) ------------------------------------------------------------


def test_member_whose_probation_has_ended_must_be_confirmed_first(ledger: Ledger) -> None:
    number = probationer(ledger, date(2025, 6, 1))  # probation ends 2026-06-01
    evidence = {"performance_record": "考察表", "probation_override_reason": "工作调动"}
    with refused(ledger, ConfirmationDue, "confirmation_due"):
        request(ledger, number, on=date(2026, 6, 1), **evidence)
    ledger.confirm_member(number, on=date(2026, 6, 1))
    assert ledger.transfer(request(ledger, number, on=date(2026, 6, 2))).status == "requested"


def test_letter_for_a_member_whose_probation_ended_after_the_request_is_refused(ledger: Ledger) -> None:
    number = probationer(ledger, date(2025, 6, 1))  # probation ends 2026-06-01
    transfer_id = request(ledger, number, on=date(2026, 2, 1), performance_record="考察表")
    with refused(ledger, ConfirmationDue, "confirmation_due"):
        ledger.issue_letter(transfer_id, on=date(2026, 6, 2))


def test_probation_ending_within_90_days_needs_an_override_reason(ledger: Ledger) -> None:
    number = probationer(ledger, date(2025, 12, 1))  # probation ends 2026-12-01
    # 91 days left: no override needed (a request, then declined to free the member)
    first = request(ledger, number, on=date(2026, 9, 1), performance_record="考察表")
    assert ledger.transfer(first).probation_override_reason is None
    ledger.decline_transfer(first, "改期", on=date(2026, 9, 1))

    ninety_days_left = date(2026, 9, 2)
    for override in (None, "   "):
        with refused(ledger, ProbationEnding, "probation_ending", case=override):
            request(ledger, number, on=ninety_days_left, performance_record="考察表",
                    probation_override_reason=override)
    transfer_id = request(ledger, number, on=ninety_days_left, performance_record="考察表",
                          probation_override_reason="随军调动, 组织部同意")
    assert ledger.transfer(transfer_id).probation_override_reason == "随军调动, 组织部同意"


def test_more_than_180_days_into_probation_needs_a_performance_record(ledger: Ledger) -> None:
    number = probationer(ledger, date(2026, 3, 1))  # day 180 is 2026-08-28
    first = request(ledger, number, on=date(2026, 8, 28))
    assert ledger.transfer(first).performance_record is None
    ledger.decline_transfer(first, "改期", on=date(2026, 8, 28))

    for record in (None, " "):
        with refused(ledger, PerformanceRecordRequired, "performance_record_required", case=record):
            request(ledger, number, on=date(2026, 8, 29), performance_record=record)
    transfer_id = request(ledger, number, on=date(2026, 8, 29), performance_record="预备期考察表")
    assert ledger.transfer(transfer_id).performance_record == "预备期考察表"


# --- basis and evidence (seed 003) ---------------------------------------------------------


def test_workplace_needs_a_labor_contract_and_residence_a_deed_or_lease(ledger: Ledger) -> None:
    number = member(ledger)
    cases: list[tuple[str, dict[str, str] | None]] = [
        ("workplace", None),
        ("workplace", {"kind": "lease", "reference": "租赁合同 2026-001"}),
        ("workplace", {"kind": "labor_contract", "reference": "  "}),
        ("residence", None),
        ("residence", {"kind": "labor_contract", "reference": "劳动合同 2026-001"}),
        ("residence", {"kind": "property_deed"}),
    ]
    for basis, evidence in cases:
        with refused(ledger, EvidenceRequired, "evidence_required", case=(basis, evidence)):
            request(ledger, number, basis=basis, evidence=evidence)


def test_basis_with_its_evidence_and_household_without_any_are_accepted(ledger: Ledger) -> None:
    build_tree(ledger)
    cases: list[tuple[str, dict[str, str] | None]] = [
        ("workplace", {"kind": "labor_contract", "reference": "劳动合同 2026-001"}),
        ("residence", {"kind": "property_deed", "reference": "苏(2026)南京市不动产权第001号"}),
        ("residence", {"kind": "lease", "reference": "租赁合同 2026-001"}),
        ("household", None),
    ]
    for n, (basis, evidence) in enumerate(cases, start=1):
        transfer = ledger.transfer(request(ledger, admit(ledger, n), basis=basis, evidence=evidence))
        assert (transfer.basis, transfer.evidence) == (basis, evidence)


# --- routes ----------------------------------------------------------------------------


def test_route_and_stops_follow_where_the_two_sides_sit(ledger: Ledger) -> None:
    build_tree(ledger)
    ledger.register_organization("SZ", "苏州市委组织部", "department", "JS", "320500", on=REQUESTED)
    ledger.register_organization("SZ-B1", "姑苏区某支部", "branch", "SZ", "320508", on=REQUESTED)
    expected = {  # from XW-C1-B1: committee XW-C1, county 320102 (Nanjing), province 32
        "XW-C1-B3": ("within_committee", 3),  # same committee
        "XW-C2-B1": ("within_county", 4),  # another committee, county 320102
        "QH-C1-B1": ("cross_county", 6),  # county 320104, same city
        "SZ-B1": ("cross_county", 6),  # county 320508, another city of the province
        "SC-C1-B1": ("cross_province", 6),  # 330102
    }
    routes = {}
    for n, to in enumerate(expected, start=1):
        transfer = ledger.transfer(issued(ledger, admit(ledger, n), to=to))
        summary = transfer.summary()
        assert (transfer.route, transfer.paper_stops) == (summary["route"], summary["paper_stops"])
        assert transfer.network_stops == summary["network_stops"] == 2
        routes[to] = (transfer.route, transfer.paper_stops)
    assert routes == expected


# --- jurisdiction ----------------------------------------------------------------------


def test_issuing_below_the_sending_committee_or_elsewhere_is_out_of_jurisdiction(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = request(ledger, number, actor=Actor("branch-clerk", "XW-C1-B1"))
    for scope in ("XW-C1-B1", "XW-C1-G1", "XW-C2", "QH-C1", "ZJ"):
        with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction", case=scope):
            ledger.issue_letter(transfer_id, actor=Actor("clerk", scope), on=ISSUED)
    assert ledger.transfer(transfer_id).status == "requested"


def test_issuing_by_the_sending_committee_or_above_is_allowed(ledger: Ledger) -> None:
    build_tree(ledger)
    for n, scope in enumerate(("XW-C1", "XW", "JS"), start=1):
        transfer_id = request(ledger, admit(ledger, n))
        ledger.issue_letter(transfer_id, actor=Actor("clerk", scope), on=ISSUED)
        assert ledger.transfer(transfer_id).status == "issued", scope


def test_requesting_for_a_member_outside_the_operators_subtree_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        request(ledger, number, actor=Actor("clerk", "XW-C1-B2"))


def test_receiving_outside_the_target_side_is_out_of_jurisdiction(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    for scope in ("XW-C1", "XW", "SC-C1"):  # the sender, above the sender, elsewhere
        with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction", case=scope):
            ledger.receive_member(transfer_id, "QH-C1-B1", actor=Actor("clerk", scope), on=RECEIVED)
    assert ledger.member(number).place == "in_transit"
    ledger.receive_member(transfer_id, "QH-C1-B1", actor=Actor("clerk", "QH"), on=RECEIVED)
    assert ledger.member(number).organization_code == "QH-C1-B1"


def test_each_side_acts_only_on_its_own_steps(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    wrong_side: dict[str, tuple[Callable[[Actor], object], Actor]] = {
        "cancel-by-receiver": (
            lambda a: ledger.cancel_transfer(transfer_id, "撤回", actor=a, on=RECEIVED), RECEIVER,
        ),
        "extend-by-receiver": (
            lambda a: ledger.extend_letter(transfer_id, date(2026, 10, 10), actor=a, on=RECEIVED), RECEIVER,
        ),
        "reject-by-sender": (
            lambda a: ledger.reject_transfer(transfer_id, "拒收", actor=a, on=RECEIVED), SENDER,
        ),
    }
    for case, (command, actor) in wrong_side.items():
        with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction", case=case):
            command(actor)
    wrong_side["extend-by-receiver"][0](SENDER)
    wrong_side["reject-by-sender"][0](RECEIVER)
    transfer = ledger.transfer(transfer_id)
    assert (transfer.valid_until, transfer.status) == (date(2026, 10, 10), "rejected")


# --- of record -------------------------------------------------------------------------


def test_member_stays_of_record_at_the_sender_until_received(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = issued(ledger, number)
    in_transit = ledger.member(number)
    assert (in_transit.place, in_transit.organization_code) == ("in_transit", "XW-C1-B1")
    assert number in ledger.organization("XW-C1-B1").members
    assert number not in ledger.organization("QH-C1-B1").members

    ledger.receive_member(transfer_id, "QH-C1-B1", on=RECEIVED)
    assert ledger.member(number).organization_code == "QH-C1-B1"
    assert number not in ledger.organization("XW-C1-B1").members
    assert number in ledger.organization("QH-C1-B1").members


# --- who presented the letter (seed 001: 他人代办) -----------------------------------------


def test_receipt_records_whether_the_member_or_an_agent_presented_the_letter(ledger: Ledger) -> None:
    build_tree(ledger)
    by_member, by_agent, unnamed = (issued(ledger, admit(ledger, n)) for n in (11, 12, 13))
    ledger.receive_member(by_member, "QH-C1-B1", actor=RECEIVER, on=RECEIVED)
    ledger.receive_member(by_agent, "QH-C1-B1", presented_by="agent", agent_name="  张代办 ",
                          actor=RECEIVER, on=RECEIVED)
    ledger.receive_member(unnamed, "QH-C1-B1", presented_by="agent", actor=RECEIVER, on=RECEIVED)
    assert [(ledger.transfer(t).presented_by, ledger.transfer(t).agent_name)
            for t in (by_member, by_agent, unnamed)] == [("member", None), ("agent", "张代办"), ("agent", None)]
    received = [e for _, e in ledger.read_events() if isinstance(e, Transfer.MemberReceived)]
    assert [(e.presented_by, e.agent_name) for e in received] == [
        ("member", None), ("agent", "张代办"), ("agent", None)]


def test_an_agent_name_without_an_agent_or_an_unknown_presenter_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    transfer_id = issued(ledger, admit(ledger, 1))
    for fields in ({"agent_name": "张代办"}, {"presented_by": "member", "agent_name": "张代办"},
                   {"presented_by": "courier"}, {"presented_by": "agent", "agent_name": "张" * 101}):
        with refused(ledger, ValidationError, "validation_error", case=fields):
            ledger.receive_member(transfer_id, "QH-C1-B1", actor=RECEIVER, on=RECEIVED, **fields)
    assert ledger.transfer(transfer_id).status == "issued"
