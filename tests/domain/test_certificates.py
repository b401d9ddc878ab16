"""Temporary and mobile member certificates (DOMAIN.md §6): the member stays home, a
temporary one covers at most 6 months, each is returned once."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from domain.base import Actor
from domain.certificate import Certificate
from domain.errors import (
    CertificateOpen,
    InvalidTransition,
    MemberNotHeld,
    NotFound,
    NotInTargetSubtree,
    OrganizationDissolved,
    OutOfJurisdiction,
    SameOrganization,
    UseFormalTransfer,
    ValidationError,
)
from domain.ledger import Ledger
from domain.transfer import Transfer
from tests.factories import admit, build_tree, refused

ISSUED = date(2026, 5, 20)
SIX_MONTHS_LATER = date(2026, 11, 20)




def member(ledger: Ledger) -> str:
    """The tree, and a full member held by XW-C1-B1 (committee XW-C1)."""
    build_tree(ledger)
    return admit(ledger, 1, org="XW-C1-B1")


def certify(ledger: Ledger, number: str, **fields: Any) -> str:
    fields = {
        "kind": "temporary", "purpose": "参加中央党校培训", "valid_until": SIX_MONTHS_LATER,
        "host_organization_code": "SC-C1-B1", "on": ISSUED, **fields,
    }
    certificate_no = ledger.issue_certificate(number, **fields).certificate_no
    assert certificate_no is not None
    return certificate_no


def test_temporary_certificate_of_six_months_keeps_the_member_home(ledger: Ledger) -> None:
    number = member(ledger)
    certificate_no = certify(ledger, number)
    certificate = ledger.certificate(certificate_no)
    assert re.fullmatch(r"XW-C1-T2026-\d{5}", certificate_no)
    assert (certificate.kind, certificate.status, certificate.registration_no) == ("temporary", "issued", number)
    assert (certificate.home_organization_code, certificate.host_organization_code) == ("XW-C1-B1", "SC-C1-B1")
    assert (certificate.issued_on, certificate.valid_until) == (ISSUED, SIX_MONTHS_LATER)
    assert certificate.purpose == "参加中央党校培训"
    home = ledger.member(number)
    assert (home.place, home.organization_code, home.transfer_id) == ("held", "XW-C1-B1", None)
    assert number in ledger.organization("XW-C1-B1").members
    assert number not in ledger.organization("SC-C1-B1").members


def test_temporary_certificate_longer_than_six_months_needs_a_formal_transfer(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, UseFormalTransfer, "use_formal_transfer"):
        certify(ledger, number, valid_until=date(2026, 11, 21))
    with refused(ledger, UseFormalTransfer, "use_formal_transfer"):  # 31 August + 6 months
        certify(ledger, number, on=date(2025, 8, 31), valid_until=date(2026, 3, 1))
    assert certify(ledger, number, on=date(2025, 8, 31), valid_until=date(2026, 2, 28))


def test_mobile_certificate_may_run_longer_than_six_months(ledger: Ledger) -> None:
    number = member(ledger)
    certificate_no = certify(
        ledger, number, kind="mobile", on=date(2025, 3, 1), valid_until=date(2027, 3, 1),
        host_organization_code=None, host_description="杭州某民营企业(无党组织)",
        contact_person="王经理 13800000000", purpose="外出务工",
    )
    certificate = ledger.certificate(certificate_no)
    assert re.fullmatch(r"XW-C1-M2025-\d{5}", certificate_no)
    assert (certificate.kind, certificate.valid_until) == ("mobile", date(2027, 3, 1))
    assert (certificate.host_description, certificate.contact_person) == (
        "杭州某民营企业(无党组织)", "王经理 13800000000",
    )
    assert ledger.member(number).place == "held"


def test_certificate_names_its_host(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, ValidationError, "validation_error"):
        certify(ledger, number, host_organization_code=None, host_description="  ")
    certificate_no = certify(ledger, number, host_organization_code=None, host_description="北京某培训中心")
    assert ledger.certificate(certificate_no).host_organization_code is None


def test_certificate_host_is_a_known_active_other_organization(ledger: Ledger) -> None:
    number = member(ledger)
    ledger.dissolve_organization("QH-C1-B1", "XW-S", on=date(2026, 5, 1))
    with refused(ledger, NotFound, "not_found"):
        certify(ledger, number, host_organization_code="NOWHERE")
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        certify(ledger, number, host_organization_code="QH-C1-B1")
    with refused(ledger, SameOrganization, "same_organization"):
        certify(ledger, number, host_organization_code="XW-C1-B1")


def test_malformed_certificate_is_validation_error(ledger: Ledger) -> None:
    number = member(ledger)
    cases: list[dict[str, Any]] = [
        {"kind": "permanent"},
        {"purpose": " "},
        {"valid_until": ISSUED},  # not after the effective date
    ]
    for fields in cases:
        with refused(ledger, ValidationError, "validation_error", case=fields):
            certify(ledger, number, **fields)


def test_certificate_for_a_member_in_transit_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    transfer_id = ledger.request_transfer(
        number, "QH-C1-B1", reason="job_change", basis="household", on=date(2026, 5, 1)
    ).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2026, 5, 2))
    with refused(ledger, MemberNotHeld, "member_not_held"):
        certify(ledger, number)


def test_certificate_is_returned_once(ledger: Ledger) -> None:
    number = member(ledger)
    certificate_no = certify(ledger, number)
    ledger.return_certificate(certificate_no, on=date(2026, 8, 1))
    certificate = ledger.certificate(certificate_no)
    assert (certificate.status, certificate.returned_on) == ("returned", date(2026, 8, 1))
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.return_certificate(certificate_no, on=date(2026, 8, 2))


def test_certificate_is_returned_by_the_home_or_the_host_side_only(ledger: Ledger) -> None:
    number = member(ledger)
    by_host = certify(ledger, number)
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        ledger.return_certificate(by_host, actor=Actor("clerk", "QH-C1"), on=date(2026, 8, 1))
    ledger.return_certificate(by_host, actor=Actor("clerk", "SC-C1"), on=date(2026, 8, 1))
    by_home = certify(ledger, number, on=date(2026, 8, 1), valid_until=date(2026, 9, 1))
    ledger.return_certificate(by_home, actor=Actor("clerk", "XW-C1-B1"), on=date(2026, 8, 2))
    assert {ledger.certificate(no).status for no in (by_host, by_home)} == {"returned"}


def test_certificate_numbers_are_unique_per_committee_and_year(ledger: Ledger) -> None:
    number = member(ledger)
    other = admit(ledger, 2, org="XW-C2-B1")
    first = certify(ledger, number)
    ledger.return_certificate(first, on=date(2026, 6, 1))
    numbers = [first, certify(ledger, number, on=date(2026, 6, 1)), certify(ledger, other)]
    assert numbers[:2] == ["XW-C1-T2026-00001", "XW-C1-T2026-00002"]
    assert numbers[2] == "XW-C2-T2026-00001"


def test_issuing_a_certificate_outside_the_operators_jurisdiction_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        certify(ledger, number, actor=Actor("clerk", "XW-C2"))


# --- counted once (issue 23): one open certificate per member, closed by a receipt --------


def mobile(ledger: Ledger, number: str, **fields: Any) -> str:
    """A mobile certificate for a year from 2026-03-01, hosted by SC-C1-B1 in Hangzhou."""
    return certify(ledger, number, **{
        "kind": "mobile", "purpose": "外出务工", "on": date(2026, 3, 1), "valid_until": date(2027, 3, 1),
        "host_organization_code": "SC-C1-B1", "contact_person": "王联络", **fields,
    })


def transfer_to(ledger: Ledger, number: str, target: str, on: date) -> str:
    transfer_id = ledger.request_transfer(number, target, reason="mobile_work", basis="household",
                                          on=on).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=on)
    return transfer_id


def test_a_second_open_certificate_of_either_kind_is_refused(ledger: Ledger) -> None:
    number = member(ledger)
    first = mobile(ledger, number)
    for kind, fields in (("mobile", {}), ("temporary", {"valid_until": date(2026, 6, 1)})):
        with refused(ledger, CertificateOpen, "certificate_open", case=kind):
            certify(ledger, number, kind=kind, on=date(2026, 4, 1), **fields)
    assert ledger.member(number).open_certificates == (first,)
    ledger.return_certificate(first, on=date(2026, 5, 1))
    second = certify(ledger, number, on=date(2026, 5, 1), valid_until=date(2026, 6, 1))
    assert ledger.member(number).open_certificates == (second,)
    assert (ledger.certificate(first).status, ledger.certificate(second).status) == ("returned", "issued")


def test_a_mobile_certificate_is_for_more_than_six_months(ledger: Ledger) -> None:
    number = member(ledger)
    for until in (date(2026, 9, 1), date(2026, 6, 1)):  # exactly six months, and three
        with refused(ledger, ValidationError, "validation_error", case=until):
            mobile(ledger, number, valid_until=until)
    assert ledger.certificate(mobile(ledger, number, valid_until=date(2026, 9, 2))).kind == "mobile"


def test_a_formal_transfers_receipt_closes_the_open_certificate(ledger: Ledger) -> None:
    number = member(ledger)
    certificate_no = mobile(ledger, number)
    transfer_id = transfer_to(ledger, number, "SC-C1", date(2026, 7, 1))
    with refused(ledger, NotInTargetSubtree, "not_in_target_subtree"):  # a refused receipt closes nothing
        ledger.receive_member(transfer_id, "QH-C1-B1", on=date(2026, 7, 5))
    assert ledger.certificate(certificate_no).status == "issued"
    received = ledger.receive_member(transfer_id, "SC-C1-B1", on=date(2026, 7, 5))
    certificate = ledger.certificate(certificate_no)
    assert (certificate.status, certificate.closed_on, certificate.returned_on) == (
        "closed", date(2026, 7, 5), None)
    assert certificate.summary()["status"] == "closed"
    assert ledger.member(number).open_certificates == ()
    # in the receipt's own save: the same request, recorded with it
    closing = [(position, event) for position, event in ledger.read_events()
               if isinstance(event, Certificate.Closed)]
    assert len(closing) == 1 and closing[0][1].transfer_id == transfer_id  # type: ignore[attr-defined]
    receipt = [(position, event) for position, event in ledger.read_events()
               if isinstance(event, Transfer.MemberReceived)]
    assert closing[0][1].request_id == receipt[0][1].request_id  # type: ignore[attr-defined]
    assert closing[0][0] <= received.position
    with refused(ledger, InvalidTransition, "invalid_transition"):  # closed is not returned
        ledger.return_certificate(certificate_no, on=date(2026, 7, 6))


def test_a_transfer_cancelled_or_rejected_leaves_the_certificate_open(ledger: Ledger) -> None:
    number = member(ledger)
    certificate_no = mobile(ledger, number)
    first = transfer_to(ledger, number, "SC-C1", date(2026, 7, 1))
    ledger.reject_transfer(first, "信息有误", on=date(2026, 7, 2))
    second = transfer_to(ledger, number, "QH-C1", date(2026, 7, 3))
    ledger.cancel_transfer(second, "本人放弃", on=date(2026, 7, 4))
    assert ledger.certificate(certificate_no).status == "issued"
    assert ledger.member(number).open_certificates == (certificate_no,)


@pytest.mark.parametrize("end", ["death", "leave"])
def test_a_member_who_dies_or_leaves_has_no_certificate_out(ledger: Ledger, end: str) -> None:
    number = member(ledger)
    certificate_no = certify(ledger, number)
    if end == "death":
        ledger.record_death(number, on=date(2026, 6, 1))
    else:
        ledger.record_leaving(number, "withdrew", on=date(2026, 6, 1))
    certificate = ledger.certificate(certificate_no)
    assert (certificate.status, certificate.closed_on) == ("closed", date(2026, 6, 1))


def test_a_dissolution_closes_the_certificates_its_members_hold(ledger: Ledger) -> None:
    """DOMAIN §3: the members of a dissolved organization move to the successor in the same
    save; a certificate the dissolved one issued ends with it there, as when a member is
    received elsewhere (else it stayed out at a home that holds no one, which the
    successor could neither return nor replace), and the successor issues its own."""
    number = member(ledger)
    certificate_no = mobile(ledger, number)
    dissolved = ledger.dissolve_organization("XW-C1-B1", "QH-C1-B1", on=date(2026, 7, 1))
    certificate = ledger.certificate(certificate_no)
    assert (certificate.status, certificate.closed_on, certificate.returned_on) == ("closed", date(2026, 7, 1), None)
    assert ledger.member(number).open_certificates == ()
    assert ledger.member(number).organization_code == "QH-C1-B1"
    closing = [(position, event) for position, event in ledger.read_events() if isinstance(event, Certificate.Closed)]
    assert [event.reason for _, event in closing] == ["dissolved"]  # type: ignore[attr-defined]
    assert closing[0][0] <= dissolved.position
    again = mobile(ledger, number, on=date(2026, 7, 2))
    assert ledger.certificate(again).home_organization_code == "QH-C1-B1"
