"""The types the HTTP API's bodies are made of (shared/API.md): dates, identifiers, text.

Identifiers are typed by the domain's own validators (domain/identifiers.py): ASCII, whole,
with the pattern the OpenAPI document states. Free text (names, reasons, notes) is stored in
Unicode NFC. Every string of a request was checked for lone surrogates and control
characters before it got here (api/boundary.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
)

from domain.errors import ValidationError
from domain.identifiers import (
    CODE_PATTERN,
    DATE_PATTERN,
    ID_CARD_NO_PATTERN,
    MONTH_PATTERN,
    REGION_PATTERN,
    REGISTRATION_NO_PATTERN,
    parse_iso_date,
    validate_code,
    validate_id_card_no,
    validate_month,
    validate_region,
    validate_registration_no,
)
from domain.vocabulary import NAME_MAX, ORGANIZATION_NAME_MAX, TEXT_MAX

# Free text never holds a control character (tab, line feed and carriage return are text), as
# domain.base.check_text rules; a text that is required also holds something besides white space
# (str.isspace()), as the domain's strip() rules. The domain refuses, with its own words; these
# patterns say the same in the OpenAPI document.
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_SHOWN_CHAR = r"[^\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TEXT_PATTERN = f"^{_TEXT_CHAR}*$"
FILLED_PATTERN = f"^{_TEXT_CHAR}*{_SHOWN_CHAR}{_TEXT_CHAR}*$"


def domain_check(check: Callable[[Any, str], Any]) -> Callable[[Any, ValidationInfo], Any]:
    """A domain validator as a pydantic one, told the field's name. Its `validation_error`
    becomes pydantic's (422 `validation_error` with the field's `loc`); another refusal
    (`invalid_registration_no`) keeps its own code."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return check(value, info.field_name or "value")
        except ValidationError as error:
            raise ValueError(error.detail) from None

    return validate


def iso_date_only(value: Any, info: ValidationInfo) -> Any:
    """Dates are ISO strings (YYYY-MM-DD, ASCII digits): numbers and datetimes are refused."""
    if isinstance(value, str):
        return domain_check(parse_iso_date)(value, info)
    if value is not None and not isinstance(value, date):
        raise ValueError("a date is a string YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(iso_date_only),
                Field(description="ISO date YYYY-MM-DD", json_schema_extra={"pattern": DATE_PATTERN})]
OptionalDay = Annotated[date | None, BeforeValidator(iso_date_only),
                        Field(default=None, description="effective date YYYY-MM-DD; default today, never in the "
                              "future", json_schema_extra={"pattern": DATE_PATTERN})]
Text = Annotated[StrictStr, Field(max_length=TEXT_MAX, description="free text, stored in Unicode NFC; no control "
                                  "characters but tab, line feed and carriage return",
                                  json_schema_extra={"pattern": TEXT_PATTERN})]
Code = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=CODE_PATTERN,
                                  description="organization code: 1-64 ASCII letters, digits, '.', '_' or '-', "
                                              "the first a letter or digit"),
                 AfterValidator(domain_check(validate_code))]
Region = Annotated[StrictStr, Field(pattern=REGION_PATTERN, description="6-digit administrative region code "
                                    "(ASCII digits)"),
                   AfterValidator(domain_check(validate_region))]
IdCardNo = Annotated[StrictStr, Field(pattern=ID_CARD_NO_PATTERN, description="resident ID number: 17 ASCII "
                                      "digits and a check character 0-9 or X (ISO 7064 MOD 11-2)"),
                     AfterValidator(domain_check(validate_id_card_no))]
# Not a pydantic `pattern`: a malformed number is refused by the domain's check, as
# `invalid_registration_no` (the pattern is stated in the OpenAPI document all the same).
RegistrationNo = Annotated[StrictStr, Field(description="registration number: 17 ASCII digits (region, date "
                                            "joined, sequence) and a check character 0-9 or X",
                                            json_schema_extra={"pattern": REGISTRATION_NO_PATTERN}),
                           AfterValidator(domain_check(validate_registration_no))]
Month = Annotated[StrictStr, Field(pattern=MONTH_PATTERN, description="month YYYY-MM (ASCII digits)"),
                  AfterValidator(domain_check(validate_month))]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _whole_number(value: Any) -> Any:
    """JSON has one kind of number: 30.0 is the whole number 30 (as JSON Schema's `integer`
    says); 30.5, "30" and true are not a number of days."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]
FILLED_DESCRIPTION = "something besides white space, stored in Unicode NFC; no control characters but tab, line " \
    "feed and carriage return"
Name = Annotated[StrictStr, Field(max_length=NAME_MAX, description=FILLED_DESCRIPTION,
                                  json_schema_extra={"pattern": FILLED_PATTERN})]
OrganizationName = Annotated[StrictStr, Field(max_length=ORGANIZATION_NAME_MAX, description=FILLED_DESCRIPTION,
                                              json_schema_extra={"pattern": FILLED_PATTERN})]
FilledText = Annotated[StrictStr, Field(max_length=TEXT_MAX, description=FILLED_DESCRIPTION,
                                        json_schema_extra={"pattern": FILLED_PATTERN})]
# Yuan, positive, below a million, at most 2 decimal places: "12.50".
AMOUNT_PATTERN = r"^(0*[1-9][0-9]{0,5}(\.[0-9]{1,2})?|0+\.(0?[1-9]|[1-9][0-9]))$"
