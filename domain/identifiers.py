"""Numbers with check characters, and aggregate ids derived from natural keys.

A registration number (党员登记号码) and a resident ID number (身份证号) both end in an
ISO 7064 MOD 11-2 check character. Aggregate ids are uuid5 of the natural key, so the
store itself refuses a second aggregate with the same number: uniqueness by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date
from uuid import UUID, uuid5

from domain.errors import InvalidRegistrationNo, ValidationError

NAMESPACE = UUID("6f1c7a52-3b0e-4d38-9a57-2c1b8f0e4d11")

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = "10X98765432"
_REGNO = re.compile(r"^(\d{6})(\d{8})(\d{3})([0-9X])$")
_REGION = re.compile(r"^\d{6}$")


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of 17 digits (as on a resident ID card)."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _parse_yyyymmdd(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def validate_region(region: str, field: str = "region") -> str:
    if not isinstance(region, str) or not _REGION.match(region) or region[:2] == "00":
        raise ValidationError(f"{field} must be a 6-digit administrative region code")
    return region


def validate_registration_no(number: str) -> str:
    """Return the number, upper-cased, or refuse it as `invalid_registration_no`."""
    text = (number or "").strip().upper()
    match = _REGNO.match(text)
    if not match:
        raise InvalidRegistrationNo(
            "a registration number is 18 characters: 6-digit region, 8-digit date joined, "
            "3-digit sequence and a check character 0-9 or X"
        )
    if match.group(1)[:2] == "00" or _parse_yyyymmdd(match.group(2)) is None:
        raise InvalidRegistrationNo("the registration number's region or date is not valid")
    if check_character(text[:17]) != text[17]:
        raise InvalidRegistrationNo("the registration number's check character is wrong")
    return text


def make_registration_no(region: str, joined_on: date, sequence: int) -> str:
    if not 1 <= sequence <= 999:
        raise ValueError("sequence runs from 1 to 999")
    first17 = f"{region}{joined_on:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def registration_joined_on(number: str) -> date:
    parsed = _parse_yyyymmdd(number[6:14])
    assert parsed is not None
    return parsed


def validate_id_card_no(number: str) -> str:
    """Return the resident ID number, upper-cased, or refuse it as `validation_error`."""
    text = (number or "").strip().upper()
    if not re.match(r"^\d{17}[0-9X]$", text) or _parse_yyyymmdd(text[6:14]) is None:
        raise ValidationError("id_card_no must be an 18-character resident ID number")
    if check_character(text[:17]) != text[17]:
        raise ValidationError("id_card_no has a wrong check character")
    return text


def id_card_digest(number: str, key: bytes) -> str:
    """A keyed digest of a resident ID number: enough for uniqueness, useless for lookup
    without the key (the 18 digits have too little entropy for a plain hash)."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def mask_id_card_no(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


def organization_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"organization:{code}")


def member_id(registration_no: str) -> UUID:
    return uuid5(NAMESPACE, f"member:{registration_no}")


def id_claim_id(digest: str) -> UUID:
    return uuid5(NAMESPACE, f"id-card:{digest}")


def certificate_id(certificate_no: str) -> UUID:
    return uuid5(NAMESPACE, f"certificate:{certificate_no}")
