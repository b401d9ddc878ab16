"""Numbers with check characters (DOMAIN.md §4): registration numbers and resident IDs.

Plain functions, no store: every check character is compared with an independent
implementation of ISO 7064 MOD 11-2, not with the code under test.
"""

from __future__ import annotations

import random
from datetime import date

import pytest

from domain.errors import InvalidRegistrationNo, ValidationError
from domain.identifiers import (
    check_character,
    id_card_digest,
    id_claim_id,
    make_registration_no,
    mask_id_card_no,
    member_id,
    organization_id,
    registration_joined_on,
    validate_id_card_no,
    validate_region,
    validate_registration_no,
)

KNOWN_ID_CARD = "11010519491231002X"  # the sample number of GB 11643, check character X


def mod11_2(digits: str) -> str:
    """ISO 7064 MOD 11-2 by its recursive definition (not the weighted sum the code uses)."""
    p = 0
    for c in digits:
        p = (p + int(c)) * 2 % 11
    return "0123456789X"[(12 - p) % 11]


def with_wrong_check(number: str) -> list[str]:
    return [number[:17] + c for c in "0123456789X" if c != number[17]]


def test_check_character_is_iso_7064_mod_11_2() -> None:
    rng = random.Random(20261120)
    samples = ["".join(rng.choice("0123456789") for _ in range(17)) for _ in range(500)]
    assert [check_character(s) for s in samples] == [mod11_2(s) for s in samples]
    assert {check_character(s) for s in samples} == set("0123456789X")


def test_check_character_of_the_standard_sample_id_is_x() -> None:
    assert check_character(KNOWN_ID_CARD[:17]) == "X"


def test_check_character_is_only_computed_over_17_ascii_digits() -> None:
    for bad in ("1" * 16, "1" * 18, "١" * 17, "１" * 17, "1" * 16 + "a", "1" * 16 + "\n", "1" * 17 + "\n", ""):
        with pytest.raises(ValueError):
            check_character(bad)


def test_registration_no_is_region_date_sequence_and_check() -> None:
    number = make_registration_no("320102", date(2015, 7, 1), 7)
    assert number[:17] == "320102" + "20150701" + "007"
    assert number[17] == mod11_2(number[:17])
    assert validate_registration_no(number) == number
    assert registration_joined_on(number) == date(2015, 7, 1)


@pytest.mark.parametrize("sequence", [0, 1000, -1])
def test_registration_sequence_runs_from_1_to_999(sequence: int) -> None:
    with pytest.raises(ValueError):
        make_registration_no("320102", date(2015, 7, 1), sequence)


def test_valid_registration_no_is_accepted_trimmed_and_upper_cased() -> None:
    number = make_registration_no("320104", date(2010, 7, 1), 9)
    assert number.endswith("X")
    assert validate_registration_no(f"  {number.lower()} ") == number


def test_registration_no_with_wrong_check_character_is_refused() -> None:
    number = make_registration_no("320102", date(2015, 7, 1), 1)
    for wrong in with_wrong_check(number):
        with pytest.raises(InvalidRegistrationNo) as caught:
            validate_registration_no(wrong)
        assert caught.value.code == "invalid_registration_no"


def checked(first17: str) -> str:
    """17 characters and their right check character: only the other parts can be wrong."""
    return first17 + mod11_2(first17)


@pytest.mark.parametrize(
    "number",
    [
        "",
        "32010220150701001",  # 17 characters
        "3201022015070100100",  # 19 characters
        "32010A201507010011",  # a letter in the region
        "32010220150701001Y",  # check character outside 0-9, X
        checked("00010220150701001"),  # region 00
        checked("32010220151301001"),  # month 13
        checked("32010220150230001"),  # 30 February
    ],
)
def test_malformed_registration_no_is_refused(number: str) -> None:
    with pytest.raises(InvalidRegistrationNo) as caught:
        validate_registration_no(number)
    assert caught.value.code == "invalid_registration_no"


def test_valid_id_card_is_accepted_and_upper_cased() -> None:
    assert validate_id_card_no(KNOWN_ID_CARD.lower()) == KNOWN_ID_CARD
    other = checked("32010219800101001")
    assert validate_id_card_no(f" {other} ") == other


def test_id_card_with_wrong_check_character_is_validation_error() -> None:
    for wrong in with_wrong_check(KNOWN_ID_CARD):
        with pytest.raises(ValidationError) as caught:
            validate_id_card_no(wrong)
        assert caught.value.code == "validation_error"


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002",  # 17 characters
        "11010519491231002XX",  # 19 characters
        "1101051949123100AX",  # a letter before the check character
        checked("11010519491331002"),  # month 13
        checked("11010519490230002"),  # 30 February
    ],
)
def test_malformed_id_card_is_validation_error(number: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_id_card_no(number)
    assert caught.value.code == "validation_error"


def test_id_card_digest_is_keyed_and_does_not_contain_the_number() -> None:
    first = id_card_digest(KNOWN_ID_CARD, b"k" * 32)
    assert first == id_card_digest(KNOWN_ID_CARD, b"k" * 32)
    assert first != id_card_digest(KNOWN_ID_CARD, b"j" * 32)
    assert first != id_card_digest(checked("32010219800101001"), b"k" * 32)
    assert KNOWN_ID_CARD not in first and KNOWN_ID_CARD[:14] not in first


def test_masked_id_card_shows_only_its_ends() -> None:
    masked = mask_id_card_no(KNOWN_ID_CARD)
    assert masked == "110" + "*" * 11 + "002X"
    assert len(masked) == 18


@pytest.mark.parametrize("region", ["32010", "3201021", "32010a", "000000", "", None])
def test_region_is_a_6_digit_administrative_code(region: str) -> None:
    assert validate_region("320102") == "320102"
    with pytest.raises(ValidationError) as caught:
        validate_region(region)
    assert caught.value.code == "validation_error"


def test_aggregate_ids_are_derived_from_natural_keys() -> None:
    number = make_registration_no("320102", date(2015, 7, 1), 1)
    other = make_registration_no("320102", date(2015, 7, 1), 2)
    assert member_id(number) == member_id(number)
    assert member_id(number) != member_id(other)
    # each kind of key has its own space: the same text never names two aggregates
    assert len({member_id("X1"), organization_id("X1"), id_claim_id("X1")}) == 3
