r"""Numbers with check characters, the shapes of every identifier, and aggregate ids
derived from natural keys.

A registration number (党员登记号码) and a resident ID number (身份证号) both end in an
ISO 7064 MOD 11-2 check character. Aggregate ids are uuid5 of the natural key, so the
store itself refuses a second aggregate with the same number: uniqueness by construction.
That holds only if each key has one spelling: every identifier (organization codes,
regions, registration and resident ID numbers, months, dates, certificate numbers,
transfer and operator ids) is ASCII and checked as a whole, so "１１０１…"
(fullwidth digits), "١١٠١…" (Arabic-Indic) or "320102\n" never name a second person or
place. The patterns below are the ones the OpenAPI document states; Python checks them
with `re.fullmatch` and `re.ASCII` (its `\d` matches any script's digits, and its `$`
matches before a trailing newline).
"""

from __future__ import annotations

import hashlib
import hmac
import operator
import re
from datetime import date
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from domain.errors import InvalidRegistrationNo, ValidationError

NAMESPACE = UUID("6f1c7a52-3b0e-4d38-9a57-2c1b8f0e4d11")

# The shapes, as anchored patterns (the OpenAPI document's `pattern`: ECMAScript and the
# Rust engine of pydantic read `$` as the end of the text).
CODE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
REGION_PATTERN = "^(0[1-9]|[1-9][0-9])[0-9]{4}$"
REGISTRATION_NO_PATTERN = "^[0-9]{17}[0-9Xx]$"
ID_CARD_NO_PATTERN = "^[0-9]{17}[0-9Xx]$"
MONTH_PATTERN = "^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"  # 1900-2999
DATE_PATTERN = "^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"  # 1900-2999
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
CERTIFICATE_NO_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-[TM][0-9]{4}-[0-9]{5,9}$"


def _shape(pattern: str) -> re.Pattern[str]:
    """The pattern without its anchors, for `fullmatch` with ASCII classes."""
    return re.compile(pattern.removeprefix("^").removesuffix("$"), re.ASCII)


_CODE = _shape(CODE_PATTERN)
_REGION = _shape(REGION_PATTERN)
_NUMBER = _shape(REGISTRATION_NO_PATTERN)  # registration and resident ID numbers alike
_MONTH = _shape(MONTH_PATTERN)
_DATE = _shape(DATE_PATTERN)
_UUID = _shape(UUID_PATTERN)
_CERTIFICATE_NO = _shape(CERTIFICATE_NO_PATTERN)
_DECIMAL = re.compile(r"[+-]?[0-9]+(?:[.][0-9]+)?", re.ASCII)  # what money may look like, before its rules

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = "10X98765432"


def _fullmatch(shape: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and shape.fullmatch(value) is not None


_SEVENTEEN_DIGITS = re.compile("[0-9]{17}", re.ASCII)
_ZERO_WEIGHT = ord("0") * sum(_WEIGHTS)  # what the weighted sum of the digits' code points adds


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 ASCII digits (as on a resident ID card)."""
    if len(first17) != 17 or _SEVENTEEN_DIGITS.fullmatch(first17) is None:
        raise ValueError("the check character is computed over 17 ASCII digits")
    # the digits' code points, weighted (ASCII: one byte each), less the zeros' share
    return _CHECK[(sum(map(operator.mul, first17.encode("ascii"), _WEIGHTS)) - _ZERO_WEIGHT) % 11]


def _parse_yyyymmdd(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def validate_code(code: str, field: str = "code") -> str:
    """An organization code: 1-64 ASCII letters, digits, '.', '_' or '-', the first a letter
    or a digit; as given (codes are case-sensitive)."""
    if not _fullmatch(_CODE, code):
        raise ValidationError(
            f"{field} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return code


def validate_region(region: str, field: str = "region") -> str:
    """A 6-digit administrative region code (GB/T 2260), not starting with 00."""
    if not _fullmatch(_REGION, region):
        raise ValidationError(f"{field} must be a 6-digit administrative region code")
    return region


def validate_month(month: str, field: str = "month") -> str:
    if not _fullmatch(_MONTH, month) or not "1900" <= month[:4] <= "2999":
        raise ValidationError(f"{field} must be YYYY-MM (1900-2999)")
    return month


def parse_iso_date(text: str, field: str = "date") -> date:
    """A date written YYYY-MM-DD in ASCII digits (not the other forms `date.fromisoformat`
    reads, such as 20261120 or 2026-W47-5)."""
    if not _fullmatch(_DATE, text):
        raise ValidationError(f"{field} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field} must be a date YYYY-MM-DD: no such day") from None


def _trimmed_upper(number: Any) -> str:
    """Surrounding spaces off (as pasted), upper-cased: only an ASCII space is trimmed."""
    return number.strip(" ").upper() if isinstance(number, str) else ""


def validate_registration_no(number: str, field: str = "registration_no") -> str:
    """Return the number, upper-cased, or refuse it as `invalid_registration_no`."""
    text = _trimmed_upper(number)
    if not _fullmatch(_NUMBER, text):
        raise InvalidRegistrationNo(
            f"{field}: a registration number is 18 characters: 6-digit region, 8-digit date "
            "joined, 3-digit sequence and a check character 0-9 or X"
        )
    if not _fullmatch(_REGION, text[:6]) or _parse_yyyymmdd(text[6:14]) is None:
        raise InvalidRegistrationNo(f"{field}: the registration number's region or date is not valid")
    if check_character(text[:17]) != text[17]:
        raise InvalidRegistrationNo(f"{field}: the registration number's check character is wrong")
    return text


def registration_key(number: Any) -> str | None:
    """The registration number a lookup names (its shape only, upper-cased), or None when
    it can't name one."""
    text = _trimmed_upper(number)
    return text if _fullmatch(_NUMBER, text) else None


def uuid_key(text: Any) -> UUID | None:
    """The id a lookup of a transfer or an operator names (the canonical 8-4-4-4-12 form in
    ASCII hex digits), or None when it can't name one."""
    if isinstance(text, UUID):
        return text
    return UUID(text) if _fullmatch(_UUID, text) else None


def is_code(code: Any) -> bool:
    return _fullmatch(_CODE, code)


def is_certificate_no(text: Any) -> bool:
    return _fullmatch(_CERTIFICATE_NO, text)


def is_decimal_text(text: Any) -> bool:
    """A decimal number in ASCII digits (`Decimal()` also reads other scripts' digits,
    surrounding whitespace, exponents, NaN and Infinity)."""
    return _fullmatch(_DECIMAL, text)


def make_registration_no(region: str, joined_on: date, sequence: int) -> str:
    validate_region(region)
    if not 1 <= sequence <= 999:
        raise ValueError("sequence runs from 1 to 999")
    first17 = f"{region}{joined_on:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def registration_joined_on(number: str) -> date:
    parsed = _parse_yyyymmdd(number[6:14])
    assert parsed is not None
    return parsed


def validate_id_card_no(number: str, field: str = "id_card_no") -> str:
    """Return the resident ID number, upper-cased, or refuse it as `validation_error`: 17
    ASCII digits and a check character, so that one person has one spelling."""
    text = _trimmed_upper(number)
    if not _fullmatch(_NUMBER, text) or _parse_yyyymmdd(text[6:14]) is None:
        raise ValidationError(f"{field} must be an 18-character resident ID number")
    if check_character(text[:17]) != text[17]:
        raise ValidationError(f"{field} has a wrong check character")
    return text


def id_card_digest(number: str, key: bytes) -> str:
    """A keyed digest of a resident ID number: enough for uniqueness, useless for lookup
    without the key (the 18 digits have too little entropy for a plain hash)."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def mask_id_card_no(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


@lru_cache(maxsize=1 << 16)  # read at every step of a walk up the organization tree
def organization_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"organization:{code}")


@lru_cache(maxsize=1 << 16)
def member_id(registration_no: str) -> UUID:
    return uuid5(NAMESPACE, f"member:{registration_no}")


@lru_cache(maxsize=1 << 16)  # an import's row asks for it three times (the lookup, the rule, the claim)
def id_claim_id(digest: str) -> UUID:
    return uuid5(NAMESPACE, f"id-card:{digest}")


def certificate_id(certificate_no: str) -> UUID:
    return uuid5(NAMESPACE, f"certificate:{certificate_no}")
