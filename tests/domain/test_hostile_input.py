"""Hostile input at the domain itself, on both stores: identifiers are ASCII and whole, so
no person or organization gets a second spelling; lookups with keys that can't be
identifiers find nothing (and never crash); free text is checked and kept in NFC. Each
call goes to the Ledger or the aggregates directly, past every entry point's own checks."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest

from domain.base import Context
from domain.errors import InvalidRegistrationNo, NotFound, ValidationError
from domain.identifiers import (
    check_character,
    make_registration_no,
    parse_iso_date,
    validate_code,
    validate_id_card_no,
    validate_month,
    validate_region,
    validate_registration_no,
)
from domain.ledger import Ledger
from domain.member import Member
from domain.organization import Organization
from domain.text import check_incoming, check_incoming_tree, normalize_text
from tests.factories import admit, build_tree, id_card, person, refused

FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def other_digits(number: str) -> list[str]:
    """The same number in other scripts' digits (Python's `\\d` and `int()` accept them all)."""
    return [number.translate(FULLWIDTH), number.translate(ARABIC_INDIC), number.translate(DEVANAGARI),
            number[:17].translate(FULLWIDTH) + number[17:]]


def same_person_id() -> str:
    """A resident ID number whose check character is X, so only the digits differ."""
    for n in range(1000):
        number = id_card(n)
        if number.endswith("X"):
            return number
    raise AssertionError("no ID number with check character X")


# --- the validators -------------------------------------------------------------------------


def test_numbers_in_other_scripts_digits_are_refused() -> None:
    number = make_registration_no("320102", date(2015, 7, 1), 7)
    identity = same_person_id()
    for spelling in other_digits(number):
        with pytest.raises(InvalidRegistrationNo):
            validate_registration_no(spelling)
    for spelling in other_digits(identity):
        with pytest.raises(ValidationError):
            validate_id_card_no(spelling)
    with pytest.raises(ValueError):
        check_character(identity[:17].translate(FULLWIDTH))


@pytest.mark.parametrize("region", ["３２０１０２", "٣٢٠١٠٢", "320102\n", "320102\r", " 320102", "32010２"])
def test_region_is_six_ascii_digits_and_nothing_after(region: str) -> None:
    with pytest.raises(ValidationError):
        validate_region(region)


@pytest.mark.parametrize("code", ["NJ-GA-C02\n", "NJ-GA-C02\r\n", "ＮＪ-GA", "NJ\x00", "NJ\ud800", "NJ-C２"])
def test_organization_code_is_ascii_and_nothing_after(code: str) -> None:
    with pytest.raises(ValidationError):
        validate_code(code)


@pytest.mark.parametrize("month", ["2026-11\n", "２０２６-11", "2026-１1", "2026-11 ", "٢٠٢٦-١١"])
def test_month_is_ascii_and_nothing_after(month: str) -> None:
    with pytest.raises(ValidationError):
        validate_month(month)


@pytest.mark.parametrize("text", ["2026-11-20\n", "２０２６-11-20", "20261120", "2026-W47-5", "2026-02-30"])
def test_a_date_is_yyyy_mm_dd_in_ascii(text: str) -> None:
    assert parse_iso_date("2026-11-20") == date(2026, 11, 20)
    with pytest.raises(ValidationError):
        parse_iso_date(text)


def test_a_number_with_a_trailing_newline_is_refused() -> None:
    number = make_registration_no("320102", date(2015, 7, 1), 7)
    with pytest.raises(InvalidRegistrationNo):
        validate_registration_no(number + "\n")
    with pytest.raises(ValidationError):
        validate_id_card_no(same_person_id() + "\n")


def test_incoming_text_refuses_surrogates_nul_and_controls_naming_the_field() -> None:
    for bad in ("\ud800", "a\x00b", "\x1b[31m", "\x7f"):
        with pytest.raises(ValidationError) as caught:
            check_incoming(bad, "reason")
        assert caught.value.detail.startswith("reason contains")
        assert bad not in caught.value.detail
    assert check_incoming("第一行\n第二行\t完", "reason") == "第一行\n第二行\t完"
    with pytest.raises(ValidationError):
        check_incoming("第一行\n第二行", "q", single_line=True)
    with pytest.raises(ValidationError) as caught:
        check_incoming_tree({"evidence": {"kind": "lease", "reference": "\ud800"}})
    assert caught.value.detail.startswith("body.evidence.reference contains")
    assert normalize_text("e\u0301") == "\u00e9"


# --- the Ledger, called directly ------------------------------------------------------------


def test_one_person_is_registered_once_whatever_digits_the_id_is_written_in(ledger: Ledger) -> None:
    build_tree(ledger)
    identity = same_person_id()
    admit(ledger, 1, id_card_no=identity)
    for n, spelling in enumerate(other_digits(identity), start=2):
        with refused(ledger, ValidationError, "validation_error", case=spelling):
            ledger.admit_member("XW-C1-B1", on=date(2026, 7, 1),
                                **person(n, id_card_no=spelling, joined_on=date(2026, 7, 1)))
    assert len(ledger.organization("XW-C1-B1").members) == 1


def test_registration_numbers_in_other_digits_are_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = make_registration_no("320102", date(2015, 7, 1), 7)
    for n, spelling in enumerate(other_digits(number), start=1):
        with refused(ledger, InvalidRegistrationNo, "invalid_registration_no", case=spelling):
            ledger.import_member("XW-C1-B1", registration_no=spelling, status="full", on=date(2020, 3, 1),
                                 **person(n, joined_on=date(2015, 7, 1)))


@pytest.mark.parametrize("region", ["３２０１０２", "٣٢٠١٠٢", "320102\n"])
def test_regions_in_other_digits_or_with_a_newline_are_refused(ledger: Ledger, region: str) -> None:
    build_tree(ledger)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.register_organization("XW-C9", "新党委", "committee", "XW", region)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.admit_member("XW-C1-B1", on=date(2026, 7, 1),
                            **person(1, household_region=region, joined_on=date(2026, 7, 1)))


@pytest.mark.parametrize("code", ["NJ-GA-C02\n", "NJ-GA-C02\r\n", "NJ-GA-C０2"])
def test_organization_codes_with_a_newline_or_other_digits_are_refused(ledger: Ledger, code: str) -> None:
    build_tree(ledger)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.register_organization(code, "新党委", "committee", "NJ", "320100")


def test_filing_a_month_with_a_trailing_newline_is_refused_and_the_month_is_filed_once(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.file_month("XW", "2026-10\n")
    ledger.file_month("XW", "2026-10")
    assert ledger.organization("XW").filed_months == ["2026-10"]
    with refused(ledger, ValidationError, "validation_error"):
        ledger.record_dues(number, "2026-11\n", "1.00")


def test_dues_amounts_are_ascii_decimals(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    for amount in ("１２.５０", "١٢.٥٠", " 12.50", "12.50\n", "1e3", "1_000"):
        with refused(ledger, ValidationError, "validation_error", case=amount):
            ledger.record_dues(number, "2026-10", amount, on=date(2026, 11, 1))
    ledger.record_dues(number, "2026-10", "12.50", on=date(2026, 11, 1))


def test_aggregates_refuse_bad_identifiers_even_when_called_directly() -> None:
    ctx = Context(on=date(2026, 11, 20))
    for code, region in (("NJ-GA-C02\n", "320100"), ("NJ-GA-C03", "３２０１００"), ("NJ-GA-C04", "320100\n")):
        with pytest.raises(ValidationError):
            Organization.register(ctx, code, "南京", "department", None, region)
    number = make_registration_no("320102", date(2015, 7, 1), 7)
    fields: dict[str, Any] = {
        **{k: v for k, v in person(1).items() if k != "id_card_no"},
        "registration_no": number, "status": "full", "organization_code": "XW-C1-B1",
        "id_digest": "d" * 64, "probation_ends_on": None, "workplace": None, "residence": None,
    }
    assert Member.enroll(ctx, Member.Imported, **fields).registration_no == number
    for bad in {"registration_no": number.translate(FULLWIDTH)}, {"household_region": "３２０１０２"}, \
            {"registration_no": number + "\n"}, {"household_region": "320102\n"}:
        with pytest.raises((ValidationError, InvalidRegistrationNo)):
            Member.enroll(ctx, Member.Imported, **{**fields, **bad})


def test_lookups_by_keys_that_cant_be_identifiers_find_nothing(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    transfer = ledger.request_transfer(number, "XW-C1-B2", reason="job_change", basis="household",
                                       on=date(2026, 11, 1))
    assert transfer.transfer_id is not None
    ledger.issue_letter(transfer.transfer_id, on=date(2026, 11, 1))
    lookups = [
        lambda: ledger.member("\ud800"), lambda: ledger.member(number + "\n"),
        lambda: ledger.member(number.translate(FULLWIDTH)),
        lambda: ledger.organization("\ud800"), lambda: ledger.organization("XW\n"),
        lambda: ledger.certificate("\ud800"), lambda: ledger.certificate("XW-C1-T2026-00001\n"),
        lambda: ledger.transfer(transfer.transfer_id.translate(FULLWIDTH)),  # type: ignore[union-attr]
        lambda: ledger.transfer("{" + str(transfer.transfer_id) + "}"),
        lambda: ledger.transfer("\ud800"), lambda: ledger.operator("\ud800"),
    ]
    for index, lookup in enumerate(lookups):
        with pytest.raises(NotFound):
            lookup()
        assert index >= 0
    for command in (
        lambda: ledger.request_transfer("\ud800", "XW-C1-B2", reason="job_change", basis="household"),
        lambda: ledger.issue_certificate("\ud800", kind="temporary", purpose="学习", valid_until=date(2026, 12, 1),
                                         host_description="党校"),
        lambda: ledger.return_certificate("\ud800"),
        lambda: ledger.receive_member(transfer.transfer_id or "", "\ud800"),
    ):
        with refused(ledger, NotFound, "not_found"):
            command()


def test_free_text_with_nul_or_a_surrogate_is_refused_and_kept_in_nfc(ledger: Ledger) -> None:
    build_tree(ledger)
    for bad in ("张\x00三", "张\ud800三", "张\x1b三"):
        with refused(ledger, ValidationError, "validation_error", case=bad):
            ledger.admit_member("XW-C1-B1", on=date(2026, 7, 1), **person(1, name=bad, joined_on=date(2026, 7, 1)))
    decomposed = unicodedata.normalize("NFD", "José 阮文")
    assert decomposed != "José 阮文"
    number = admit(ledger, 2, name=decomposed, workplace="Cafe\u0301")
    member = ledger.member(number)
    assert (member.name, member.workplace) == ("José 阮文", "Café")
    transfer = ledger.request_transfer(number, "XW-C1-B2", reason="job_change", basis="household",
                                       on=date(2026, 11, 1))
    ledger.decline_transfer(transfer.transfer_id or "", "re\u0301sume\u0301 manquant", on=date(2026, 11, 2))
    assert ledger.transfer(transfer.transfer_id or "").closing_reason == "résumé manquant"
