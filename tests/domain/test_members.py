"""Members (DOMAIN.md §4, §7, §9): numbers, admission and import, one registration per
person, confirmation, death and leaving, dues, effective dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from domain.base import Actor
from domain.errors import (
    BeforeLastEvent,
    CannotHoldMembers,
    DuplicateRegistration,
    FutureDate,
    InvalidRegistrationNo,
    InvalidTransition,
    MemberNotHeld,
    OrganizationDissolved,
    OutOfJurisdiction,
    ProbationNotOver,
    TransferOpen,
    ValidationError,
)
from domain.identifiers import check_character, make_registration_no
from domain.ledger import Ledger
from domain.member import Member
from tests.conftest import TODAY
from tests.factories import admit, build_tree, person, refused


def probationary(ledger: Ledger, n: int, joined_on: date, org: str = "XW-C1-B1") -> str:
    number = ledger.admit_member(org, on=joined_on, **person(n, joined_on=joined_on)).registration_no
    assert number is not None
    return number


def imported(ledger: Ledger, n: int, registration_no: str | None, org: str = "XW-C1-B1",
             status: str = "full", **overrides: Any) -> str:
    number = ledger.import_member(
        org, registration_no=registration_no, status=status, on=date(2020, 3, 1),
        **person(n, **overrides),
    ).registration_no
    assert number is not None
    return number


def dues_paid(ledger: Ledger, number: str) -> list[tuple[str, Decimal]]:
    """(month, amount) of every DuesPaid event, as read back from the store."""
    return [
        (e.month, e.amount)  # type: ignore[attr-defined]
        for e in ledger.aggregate_events(ledger.member(number).id)
        if isinstance(e, Member.DuesPaid)
    ]


def test_admission_gives_a_new_number_with_a_valid_check_character(ledger: Ledger) -> None:
    build_tree(ledger)
    joined = date(2026, 7, 1)
    first = probationary(ledger, 1, joined)
    second = probationary(ledger, 2, joined)

    assert first[:17] == "320102" + "20260701" + "001"
    assert second[:17] == "320102" + "20260701" + "002"
    for number in (first, second):
        assert number[17] == check_character(number[:17])
    member = ledger.member(first)
    assert (member.registration_no, member.name, member.origin) == (first, "党员1", "admitted")
    assert (member.place, member.organization_code) == ("held", "XW-C1-B1")
    assert set(ledger.organization("XW-C1-B1").members) == {first, second}


def test_admitted_member_is_probationary_for_one_year(ledger: Ledger) -> None:
    build_tree(ledger)
    number = probationary(ledger, 1, date(2026, 3, 15))
    member = ledger.member(number)
    assert member.status == "probationary"
    assert member.joined_on == date(2026, 3, 15)
    assert member.probation_ends_on == date(2027, 3, 15)


def test_import_keeps_the_given_registration_number(ledger: Ledger) -> None:
    build_tree(ledger)
    given = make_registration_no("320104", date(2010, 7, 1), 9)
    assert given.endswith("X")
    number = imported(ledger, 1, given.lower(), org="QH-C1-B1", joined_on=date(2010, 7, 1))
    member = ledger.member(given)
    assert number == given
    assert (member.registration_no, member.origin, member.status) == (given, "imported", "full")
    assert member.probation_ends_on is None
    assert given in ledger.organization("QH-C1-B1").members


def test_imported_probationary_member_keeps_its_joining_date(ledger: Ledger) -> None:
    build_tree(ledger)
    given = make_registration_no("320102", date(2019, 12, 1), 5)
    imported(ledger, 1, given, status="probationary", joined_on=date(2019, 12, 1))
    member = ledger.member(given)
    assert (member.status, member.probation_ends_on) == ("probationary", date(2020, 12, 1))


def test_import_with_a_malformed_registration_number_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    for number in (
        "32010220150701001",  # too short
        "32010220151301001" + check_character("32010220151301001"),  # month 13
        "not a number at all",
        "",
    ):
        with refused(ledger, InvalidRegistrationNo, "invalid_registration_no", case=number):
            imported(ledger, 1, number)


def test_import_with_a_wrong_check_character_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    right = make_registration_no("320102", date(2015, 7, 1), 3)
    wrong = right[:17] + ("0" if right[17] != "0" else "1")
    with refused(ledger, InvalidRegistrationNo, "invalid_registration_no"):
        imported(ledger, 1, wrong)
    assert imported(ledger, 1, right) == right


def test_same_resident_id_twice_is_duplicate_registration(ledger: Ledger) -> None:
    build_tree(ledger)
    first = admit(ledger, 1)
    same_person = person(1)
    with refused(ledger, DuplicateRegistration, "duplicate_registration"):
        ledger.admit_member("QH-C1-B1", on=date(2026, 7, 1), **{**same_person, "name": "改名",
                                                                "joined_on": date(2026, 7, 1)})
    with refused(ledger, DuplicateRegistration, "duplicate_registration"):
        imported(ledger, 1, make_registration_no("320104", date(2015, 7, 1), 1), org="QH-C1-B1")
    assert ledger.organization("QH-C1-B1").members == {}
    assert ledger.member(first).place == "held"


def test_same_registration_number_twice_is_duplicate_registration(ledger: Ledger) -> None:
    build_tree(ledger)
    given = make_registration_no("320102", date(2015, 7, 1), 42)
    imported(ledger, 1, given)
    with refused(ledger, DuplicateRegistration, "duplicate_registration"):
        imported(ledger, 2, given, org="QH-C1-B1")
    assert ledger.member(given).name == "党员1"


def test_resident_id_is_free_again_after_death_but_the_number_is_not(ledger: Ledger) -> None:
    build_tree(ledger)
    old = admit(ledger, 1)
    ledger.record_death(old, on=date(2026, 1, 10))
    new = imported(ledger, 1, make_registration_no("320104", date(2015, 7, 1), 1), org="QH-C1-B1")
    assert new != old
    assert ledger.member(new).place == "held"
    assert ledger.member(old).place == "deceased"
    with refused(ledger, DuplicateRegistration, "duplicate_registration"):
        imported(ledger, 2, old)  # a dead member's number is never given again


def test_resident_id_number_is_not_stored_in_any_event(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_death(number, on=date(2026, 1, 10))
    imported(ledger, 1, make_registration_no("320104", date(2015, 7, 1), 1), org="QH-C1-B1")
    id_card_no = person(1)["id_card_no"]
    stored = [repr(vars(event)) for _, event in ledger.read_events()]
    assert stored
    assert not any(id_card_no in text or id_card_no[6:] in text for text in stored)


def test_malformed_personal_fields_are_validation_error(ledger: Ledger) -> None:
    build_tree(ledger)
    cases: list[dict[str, Any]] = [
        {"gender": "unknown"},
        {"category": "astronaut"},
        {"name": "  "},
        {"household_region": "3201"},
        {"id_card_no": "11010519491231002"},
        {"joined_on": date(2026, 7, 2)},  # after the effective date
        {"birth_date": date(2016, 1, 1)},  # a child
        {"birth_date": date(2026, 7, 1)},  # born the day they joined
    ]
    for overrides in cases:
        fields = {**person(1, joined_on=date(2026, 7, 1)), **overrides}
        with refused(ledger, ValidationError, "validation_error", case=overrides):
            ledger.admit_member("XW-C1-B1", on=date(2026, 7, 1), **fields)
    assert probationary(ledger, 1, date(2026, 7, 1))


def test_admission_into_an_organization_that_holds_no_members_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    for code in ("XW-C1", "XW-C1-G1", "XW"):
        with refused(ledger, CannotHoldMembers, "cannot_hold_members"):
            probationary(ledger, 1, date(2026, 7, 1), org=code)
    assert probationary(ledger, 1, date(2026, 7, 1), org="XW-S")


def test_admission_outside_the_operators_jurisdiction_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    fields = person(1, joined_on=date(2026, 7, 1))
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        ledger.admit_member("QH-C1-B1", on=date(2026, 7, 1), actor=Actor("c", "XW-C1"), **fields)
    ledger.admit_member("XW-C1-B1", on=date(2026, 7, 1), actor=Actor("c", "XW-C1"), **fields)


def test_confirmation_on_the_probation_end_date_makes_a_full_member(ledger: Ledger) -> None:
    build_tree(ledger)
    number = probationary(ledger, 1, date(2025, 6, 1))
    ledger.confirm_member(number, on=date(2026, 6, 1))
    member = ledger.member(number)
    assert (member.status, member.probation_ends_on) == ("full", None)


def test_confirmation_before_probation_ends_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = probationary(ledger, 1, date(2025, 6, 1))
    with refused(ledger, ProbationNotOver, "probation_not_over"):
        ledger.confirm_member(number, on=date(2026, 5, 31))
    assert ledger.member(number).status == "probationary"


def test_confirmation_while_in_transit_is_member_not_held(ledger: Ledger) -> None:
    build_tree(ledger)
    number = probationary(ledger, 1, date(2025, 6, 1))
    transfer_id = ledger.request_transfer(
        number, "QH-C1-B1", reason="job_change", basis="household", on=date(2025, 8, 1)
    ).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2025, 8, 1))
    with refused(ledger, MemberNotHeld, "member_not_held"):
        ledger.confirm_member(number, on=date(2026, 6, 1))  # probation is over: only transit stops it
    assert ledger.member(number).status == "probationary"


def test_confirming_a_full_member_is_invalid_transition(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.confirm_member(number, on=date(2026, 6, 1))


def test_death_takes_the_member_off_the_roster_for_good(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_death(number, on=date(2026, 2, 1))
    assert ledger.member(number).place == "deceased"
    assert number not in ledger.organization("XW-C1-B1").members
    with refused(ledger, MemberNotHeld, "member_not_held"):
        ledger.record_dues(number, "2026-02", "12.50", on=date(2026, 3, 1))
    with refused(ledger, MemberNotHeld, "member_not_held"):
        ledger.record_leaving(number, "withdrew", on=date(2026, 3, 1))


def test_leaving_records_its_reason_and_takes_the_member_off_the_roster(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_leaving(number, "self_withdrawal", on=date(2026, 2, 1))
    member = ledger.member(number)
    assert (member.place, member.left_reason) == ("left", "self_withdrawal")
    assert number not in ledger.organization("XW-C1-B1").members
    with refused(ledger, MemberNotHeld, "member_not_held"):
        ledger.record_death(number, on=date(2026, 3, 1))


def test_leaving_for_an_unknown_reason_is_validation_error(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.record_leaving(number, "moved_abroad", on=date(2026, 2, 1))


def test_death_or_leaving_with_an_open_transfer_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    transfer_id = ledger.request_transfer(
        number, "QH-C1-B1", reason="job_change", basis="household", on=date(2026, 5, 1)
    ).transfer_id
    assert transfer_id is not None
    for stage in ("requested", "in transit"):
        if stage == "in transit":
            ledger.issue_letter(transfer_id, on=date(2026, 5, 1))
        with refused(ledger, TransferOpen, "transfer_open", case=("leave", stage)):
            ledger.record_leaving(number, "withdrew", on=date(2026, 6, 1))
        with refused(ledger, TransferOpen, "transfer_open", case=("death", stage)):
            ledger.record_death(number, on=date(2026, 6, 1))
    assert ledger.member(number).place == "in_transit"


def test_dues_as_a_decimal_string_or_a_decimal_are_recorded_exactly(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_dues(number, "2026-01", "12.50", on=date(2026, 2, 1))
    ledger.record_dues(number, "2026-02", Decimal("3"), on=date(2026, 3, 1))
    ledger.record_dues(number, "2026-03", Decimal("0.10"), on=date(2026, 4, 1))
    assert dues_paid(ledger, number) == [
        ("2026-01", Decimal("12.50")), ("2026-02", Decimal("3.00")), ("2026-03", Decimal("0.10")),
    ]


def test_dues_as_a_float_are_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.record_dues(number, "2026-01", 12.5, on=date(2026, 2, 1))
    assert dues_paid(ledger, number) == []


def test_malformed_dues_are_validation_error(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    cases = [("2026-01", "12.345"), ("2026-01", "0"), ("2026-01", "-5.00"), ("2026-01", "twelve"),
             ("2026-01", "NaN"), ("2026-01", "Infinity"), ("2026-01", True),
             ("2026-13", "12.50"), ("202601", "12.50")]
    for month, amount in cases:
        with refused(ledger, ValidationError, "validation_error", case=(month, amount)):
            ledger.record_dues(number, month, amount, on=date(2026, 2, 1))
    assert dues_paid(ledger, number) == []


def test_dues_for_a_month_before_the_member_joined_are_refused(ledger: Ledger) -> None:
    """Dues are for a month of membership: one before the month the member joined is bad
    input (422), the month joined is the first that may be paid."""
    build_tree(ledger)
    number = admit(ledger, 1)
    joined = ledger.member(number).joined_on
    before = f"{joined.year - 1:04d}-12" if joined.month == 1 else f"{joined.year:04d}-{joined.month - 1:02d}"
    for month in (before, "2001-05"):
        with refused(ledger, ValidationError, "validation_error", case=month):
            ledger.record_dues(number, month, "1.00", on=date(2026, 2, 1))
    ledger.record_dues(number, f"{joined:%Y-%m}", "1.00", on=date(2026, 2, 1))
    assert dues_paid(ledger, number) == [(f"{joined:%Y-%m}", Decimal("1.00"))]


def test_dues_as_an_integer_are_cents(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_dues(number, "2026-01", 1250, on=date(2026, 2, 1))
    assert dues_paid(ledger, number) == [("2026-01", Decimal("12.50"))]


def test_effective_date_in_the_future_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    tomorrow = date(2026, 11, 21)
    with refused(ledger, FutureDate, "future_date"):
        ledger.record_dues(number, "2026-10", "12.50", on=tomorrow)
    with refused(ledger, FutureDate, "future_date"):
        ledger.admit_member("XW-C1-B1", on=tomorrow, **person(2, joined_on=date(2026, 11, 1)))
    ledger.record_dues(number, "2026-10", "12.50", on=TODAY)


def test_event_before_the_members_last_event_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_dues(number, "2026-02", "12.50", on=date(2026, 3, 1))
    with refused(ledger, BeforeLastEvent, "before_last_event"):
        ledger.record_dues(number, "2026-01", "12.50", on=date(2026, 2, 28))
    with refused(ledger, BeforeLastEvent, "before_last_event"):
        ledger.record_death(number, on=date(2026, 2, 1))
    ledger.record_dues(number, "2026-01", "12.50", on=date(2026, 3, 1))  # the same day is fine
    assert [m for m, _ in dues_paid(ledger, number)] == ["2026-02", "2026-01"]


def test_org_life_is_recorded_at_home_or_at_an_active_host(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.record_org_life(number, "XW-C1-B1", on=date(2026, 2, 1))
    first = ledger.issue_certificate(number, kind="temporary", purpose="培训", valid_until=date(2026, 8, 1),
                                     host_organization_code="SC-C1-B1", on=date(2026, 2, 20)).certificate_no
    assert first is not None
    ledger.record_org_life(number, "SC-C1-B1", on=date(2026, 3, 1), actor=Actor("h", "XW-C1"))
    ledger.return_certificate(first, on=date(2026, 3, 1))
    ledger.issue_certificate(number, kind="temporary", purpose="培训", valid_until=date(2026, 8, 1),
                             host_organization_code="QH-C1-B1", on=date(2026, 3, 1))
    ledger.dissolve_organization("QH-C1-B1", "XW-S", on=date(2026, 3, 1))
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):  # no longer its host
        ledger.record_org_life(number, "SC-C1-B1", on=date(2026, 4, 1), actor=Actor("h", "SC-C1"))
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        ledger.record_org_life(number, "QH-C1-B1", on=date(2026, 4, 1))
    hosts = [e.organization_code for e in ledger.aggregate_events(ledger.member(number).id)  # type: ignore[attr-defined]
             if isinstance(e, Member.OrgLifeAttended)]
    assert hosts == ["XW-C1-B1", "SC-C1-B1"]
