"""Jurisdiction in the Ledger's commands (domain/jurisdiction.py): org life and dues only
by the side that holds the member, org life away from home only at the host of a
certificate valid that day, and refusals that name nothing outside the operator's subtree."""

from __future__ import annotations

from datetime import date

import pytest

from domain.base import Actor
from domain.errors import (
    DuplicateRegistration,
    LedgerError,
    MemberNotHeld,
    NotFound,
    OutOfJurisdiction,
    PeriodClosed,
)
from domain.identifiers import make_registration_no
from domain.jurisdiction import Jurisdiction, check_role
from domain.ledger import Ledger
from domain.member import Member
from tests.factories import admit, build_tree, person, refused

XW_CLERK, XW_C2_CLERK, SC_CLERK = Actor("c1", "XW-C1"), Actor("c2", "XW-C2"), Actor("sc", "SC-C1")


def org_life_hosts(ledger: Ledger, number: str) -> list[str]:
    return [e.organization_code for e in ledger.aggregate_events(ledger.member(number).id)  # type: ignore[attr-defined]
            if isinstance(e, Member.OrgLifeAttended)]


def test_org_life_of_a_sibling_committees_member_is_refused_either_way(ledger: Ledger) -> None:
    build_tree(ledger)
    mine, theirs = admit(ledger, 1, "XW-C1-B1"), admit(ledger, 2, "XW-C2-B1")
    for actor, number, at in ((XW_CLERK, theirs, "XW-C1-B1"), (XW_CLERK, theirs, "XW-C2-B1"),
                              (XW_C2_CLERK, mine, "XW-C2-B1"), (XW_C2_CLERK, mine, "XW-C1-B1")):
        with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction", (actor, number, at)):
            ledger.record_org_life(number, at, actor=actor, on=date(2026, 10, 1))
    assert org_life_hosts(ledger, mine) == org_life_hosts(ledger, theirs) == []


def test_dues_of_a_sibling_committees_member_are_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    theirs = admit(ledger, 2, "XW-C2-B1")
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        ledger.record_dues(theirs, "2026-10", "8.00", actor=XW_CLERK, on=date(2026, 10, 1))
    ledger.record_dues(theirs, "2026-10", "8.00", actor=XW_C2_CLERK, on=date(2026, 10, 1))


def test_org_life_away_from_home_needs_a_certificate_hosted_there_and_valid_that_day(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, "XW-C1-B1")
    ledger.record_org_life(number, "XW-C1-B1", actor=XW_CLERK, on=date(2026, 2, 1))
    with refused(ledger, MemberNotHeld, "member_not_held"):  # no certificate
        ledger.record_org_life(number, "SC-C1-B1", actor=XW_CLERK, on=date(2026, 2, 2))
    with refused(ledger, MemberNotHeld, "member_not_held"):  # another branch of the same committee
        ledger.record_org_life(number, "XW-C1-B2", actor=XW_CLERK, on=date(2026, 2, 2))
    certificate = ledger.issue_certificate(
        number, kind="temporary", purpose="培训", valid_until=date(2026, 6, 30), host_organization_code="SC-C1",
        actor=XW_CLERK, on=date(2026, 3, 1)).certificate_no
    assert certificate is not None
    ledger.record_org_life(number, "SC-C1", actor=XW_CLERK, on=date(2026, 3, 10))
    ledger.record_org_life(number, "SC-C1-B1", actor=XW_CLERK, on=date(2026, 4, 10))  # a branch of the host
    with refused(ledger, MemberNotHeld, "member_not_held"):  # not the host
        ledger.record_org_life(number, "QH-C1-B1", actor=XW_CLERK, on=date(2026, 4, 11))
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):  # the host's side, at home
        ledger.record_org_life(number, "XW-C1-B1", actor=SC_CLERK, on=date(2026, 4, 11))
    ledger.record_org_life(number, "SC-C1-B1", actor=SC_CLERK, on=date(2026, 4, 11))  # the host's side
    ledger.return_certificate(certificate, actor=XW_CLERK, on=date(2026, 5, 1))
    with refused(ledger, MemberNotHeld, "member_not_held"):  # returned
        ledger.record_org_life(number, "SC-C1-B1", actor=XW_CLERK, on=date(2026, 5, 2))
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):  # no longer hosted: as if unknown
        ledger.record_org_life(number, "SC-C1-B1", actor=SC_CLERK, on=date(2026, 5, 2))
    assert org_life_hosts(ledger, number) == ["XW-C1-B1", "SC-C1", "SC-C1-B1", "SC-C1-B1"]


def test_org_life_at_a_host_ends_with_the_certificates_validity(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, "XW-C1-B1")
    ledger.issue_certificate(number, kind="temporary", purpose="培训", valid_until=date(2026, 4, 30),
                             host_organization_code="SC-C1-B1", on=date(2026, 3, 1))
    ledger.record_org_life(number, "SC-C1-B1", on=date(2026, 4, 30))
    with refused(ledger, MemberNotHeld, "member_not_held"):
        ledger.record_org_life(number, "SC-C1-B1", on=date(2026, 5, 1))


def test_an_unknown_member_is_refused_to_an_operator_like_one_outside(ledger: Ledger) -> None:
    build_tree(ledger)
    theirs = admit(ledger, 2, "XW-C2-B1")
    unknown = make_registration_no("320102", date(2001, 1, 3), 997)
    details = []
    for number in (theirs, unknown):
        for command in (lambda n: ledger.record_dues(n, "2026-10", "8.00", actor=XW_CLERK),
                        lambda n: ledger.record_org_life(n, "XW-C1-B1", actor=XW_CLERK),
                        lambda n: ledger.confirm_member(n, actor=XW_CLERK),
                        lambda n: ledger.request_transfer(n, "XW-C1", reason="job_change", basis="household",
                                                          actor=XW_CLERK),
                        lambda n: ledger.issue_certificate(n, kind="temporary", purpose="培训",
                                                           valid_until=date(2027, 1, 1),
                                                           host_description="党校", actor=XW_CLERK)):
            with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
                command(number)
            with pytest.raises(OutOfJurisdiction) as caught:
                command(number)
            details.append(caught.value.detail.replace(number, "<number>"))
    assert len(set(details)) == 1, details
    with refused(ledger, NotFound, "not_found"):  # the system sees the whole ledger
        ledger.record_dues(unknown, "2026-10", "8.00")


def test_a_member_in_transit_elsewhere_is_refused_as_outside_not_as_in_transit(ledger: Ledger) -> None:
    build_tree(ledger)
    theirs = admit(ledger, 2, "XW-C2-B1")
    transfer = ledger.request_transfer(theirs, "QH-C1", reason="job_change", basis="household").transfer_id
    assert transfer is not None
    ledger.issue_letter(transfer)
    for command in (
        lambda: ledger.request_transfer(theirs, "XW-C1", reason="job_change", basis="household", actor=XW_CLERK),
        lambda: ledger.issue_certificate(theirs, kind="temporary", purpose="培训", valid_until=date(2027, 1, 1),
                                         host_description="党校", actor=XW_CLERK),
    ):
        with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
            command()


def test_a_duplicate_resident_id_names_its_holder_only_to_an_operator_who_holds_it(ledger: Ledger) -> None:
    build_tree(ledger)
    holder = admit(ledger, 7, "XW-C2-B1")
    same_person = {**person(7), "joined_on": date(2016, 7, 1)}
    with refused(ledger, DuplicateRegistration, "duplicate_registration"):
        ledger.admit_member("XW-C1-B1", actor=XW_CLERK, **same_person)
    with pytest.raises(DuplicateRegistration) as outside:
        ledger.import_member("XW-C1-B1", registration_no=None, status="full", actor=XW_CLERK, **same_person)
    assert holder not in outside.value.detail
    with pytest.raises(DuplicateRegistration) as inside:
        ledger.import_member("XW-C2-B1", registration_no=None, status="full", actor=XW_C2_CLERK, **same_person)
    assert holder in inside.value.detail


def test_a_closed_period_on_the_other_side_names_no_organization_above_it(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, "XW-C1-B1")
    transfer = ledger.request_transfer(number, "SC-C1", reason="job_change", basis="household",
                                       on=date(2026, 9, 1)).transfer_id
    assert transfer is not None
    ledger.issue_letter(transfer, on=date(2026, 9, 2))
    ledger.file_month("XW", "2026-09")  # the sending side's county has filed September
    with pytest.raises(PeriodClosed) as caught:  # a receipt counts on both sides
        ledger.receive_member(transfer, "SC-C1-B1", actor=SC_CLERK, on=date(2026, 9, 20))
    assert "XW" not in caught.value.detail.replace("XW-C1-B1", "")
    with pytest.raises(PeriodClosed) as seen:  # the same refusal, to one who sees the side that filed, names it
        ledger.receive_member(transfer, "SC-C1-B1", on=date(2026, 9, 20))
    assert "XW has filed 2026-09" in seen.value.detail


def test_roles_and_subtrees_are_decided_by_one_rule() -> None:
    tree = {"JS": ["JS"], "XW": ["XW", "JS"], "XW-C1": ["XW-C1", "XW", "JS"], "XW-C2": ["XW-C2", "XW", "JS"]}
    rights = Jurisdiction("XW-C1", lambda code: tree[code])
    assert rights.holds("XW-C1") and not rights.holds("XW-C2") and not rights.holds("XW")
    assert rights.sees("XW") and rights.sees("JS") and not rights.sees("XW-C2")
    assert Jurisdiction(None, lambda code: tree[code]).holds("XW-C2")
    with pytest.raises(LedgerError) as caught:
        check_role("auditor", ("admin", "clerk"))
    assert caught.value.code == "forbidden"
    check_role("clerk", ("admin", "clerk"))


def test_the_hosts_side_records_dues_of_the_members_it_hosts_while_the_certificate_is_valid(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, "XW-C1-B1")
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):  # not hosted yet: as if unknown
        ledger.record_dues(number, "2026-02", "8.00", actor=SC_CLERK, on=date(2026, 2, 20))
    ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 3, 1),
                             host_organization_code="SC-C1-B1", actor=XW_CLERK, on=date(2026, 3, 1))
    ledger.record_dues(number, "2026-03", "8.00", actor=SC_CLERK, on=date(2026, 3, 20))
    ledger.record_dues(number, "2026-04", "8.00", actor=XW_CLERK, on=date(2026, 4, 20))  # home still may
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):  # a committee beside the host
        ledger.record_dues(number, "2026-05", "8.00", actor=Actor("qh", "QH-C1"), on=date(2026, 5, 20))
    paid = [e.month for e in ledger.aggregate_events(ledger.member(number).id)  # type: ignore[attr-defined]
            if isinstance(e, Member.DuesPaid)]
    assert paid == ["2026-03", "2026-04"]


def test_a_branch_below_a_hosting_committee_records_the_dues_of_those_it_hosts(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, "XW-C1-B1")
    ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 3, 1),
                             host_organization_code="SC-C1", actor=XW_CLERK, on=date(2026, 3, 1))
    ledger.record_dues(number, "2026-03", "8.00", actor=Actor("b1", "SC-C1-B1"), on=date(2026, 3, 20))
    ledger.record_org_life(number, "SC-C1-B1", actor=Actor("b1", "SC-C1-B1"), on=date(2026, 3, 20))
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):  # a branch of another host
        ledger.record_dues(number, "2026-04", "8.00", actor=Actor("qb", "QH-C1-B1"), on=date(2026, 4, 20))
    paid = [e.month for e in ledger.aggregate_events(ledger.member(number).id)  # type: ignore[attr-defined]
            if isinstance(e, Member.DuesPaid)]
    assert paid == ["2026-03"]
