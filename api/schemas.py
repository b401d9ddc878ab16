"""Request and response bodies of the HTTP API (shared/API.md).

Identifiers are typed by the domain's own validators (domain/identifiers.py): ASCII, whole,
with the pattern the OpenAPI document states. Free text (names, reasons, notes) is stored in
Unicode NFC. Every string of a request was checked for lone surrogates and control
characters before it got here (api/boundary.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

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

# Free text never holds a control character (tab, line feed and carriage return are text), as
# domain.base.check_text rules; a text that is required also holds something besides white space
# (str.isspace()), as the domain's strip() rules. The domain refuses, with its own words; these
# patterns say the same in the OpenAPI document.
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_SHOWN_CHAR = r"[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
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


def _iso_date_only(value: Any, info: ValidationInfo) -> Any:
    """Dates are ISO strings (YYYY-MM-DD, ASCII digits): numbers and datetimes are refused."""
    if isinstance(value, str):
        return domain_check(parse_iso_date)(value, info)
    if value is not None and not isinstance(value, date):
        raise ValueError("a date is a string YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_date_only),
                Field(description="ISO date YYYY-MM-DD", json_schema_extra={"pattern": DATE_PATTERN})]
OptionalDay = Annotated[date | None, BeforeValidator(_iso_date_only),
                        Field(default=None, description="effective date YYYY-MM-DD; default today, never in the "
                              "future", json_schema_extra={"pattern": DATE_PATTERN})]
Text = Annotated[StrictStr, Field(max_length=500, description="free text, stored in Unicode NFC; no control "
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
_FILLED = "something besides white space, stored in Unicode NFC; no control characters but tab, line feed and " \
    "carriage return"
Name = Annotated[StrictStr, Field(max_length=100, description=_FILLED, json_schema_extra={"pattern": FILLED_PATTERN})]
OrganizationName = Annotated[StrictStr, Field(max_length=200, description=_FILLED,
                                              json_schema_extra={"pattern": FILLED_PATTERN})]
FilledText = Annotated[StrictStr, Field(max_length=500, description=_FILLED,
                                        json_schema_extra={"pattern": FILLED_PATTERN})]
# Yuan, positive, below a million, at most 2 decimal places: "12.50".
AMOUNT_PATTERN = r"^(0*[1-9][0-9]{0,5}(\.[0-9]{1,2})?|0+\.(0?[1-9]|[1-9][0-9]))$"


# --- organizations ---------------------------------------------------------------------

class OrganizationCreate(Body):
    code: Code
    name: OrganizationName
    kind: Literal["department", "work_committee", "committee", "general_branch", "branch", "service_center"]
    parent_code: Code | None = None
    region: Region
    on: OptionalDay = None


class DissolveRequest(Body):
    successor_code: Code
    on: OptionalDay = None


class MoveRequest(Body):
    parent_code: Code
    on: OptionalDay = None


class OrganizationPublic(BaseModel):
    code: str
    name: str
    kind: str
    parent_code: str | None
    region: str
    status: Literal["active", "dissolved"]
    successor_code: str | None
    position: int | None = None


class OrganizationsPublic(BaseModel):
    data: list[OrganizationPublic]
    count: int


# --- operators ----------------------------------------------------------------------------

class OperatorCreate(Body):
    name: Name
    role: Literal["admin", "clerk", "auditor"]
    organization_code: Code


class OperatorPublic(BaseModel):
    operator_id: str
    name: str
    role: str
    organization_code: str
    active: bool
    granted_on: str | None = None
    revoked_on: str | None = None
    position: int | None = None


class OperatorCreated(OperatorPublic):
    token: str = Field(description="the bearer token: shown this once, stored nowhere")


class OperatorsPublic(BaseModel):
    data: list[OperatorPublic]
    count: int


# --- members --------------------------------------------------------------------------------

class MemberCreate(Body):
    name: Name
    id_card_no: IdCardNo
    gender: Literal["male", "female"]
    birth_date: Day
    joined_on: Day
    status: Literal["probationary", "full"] = "probationary"
    category: Literal["cadre", "student", "military_transferee", "auxiliary_police", "retiree", "worker",
                      "farmer", "other"]
    organization_code: Code
    household_region: Region
    registration_no: RegistrationNo | None = Field(
        default=None, description="an existing number (import); without it the ledger issues one")
    workplace: Text | None = None
    residence: Text | None = None
    on: OptionalDay = None


class OnRequest(Body):
    on: OptionalDay = None


class LeaveRequest(Body):
    reason: Literal["expelled", "withdrew", "self_withdrawal"]
    on: OptionalDay = None


class OrgLifeRequest(Body):
    organization_code: Code
    on: OptionalDay = None


class DuesRequest(Body):
    month: Month
    amount: StrictStr = Field(max_length=20, pattern=AMOUNT_PATTERN,
                              description='yuan as a decimal string, e.g. "12.50": positive, below a million, '
                                          'at most 2 decimal places')
    on: OptionalDay = None


class Place(BaseModel):
    kind: Literal["held", "in_transit", "deceased", "left"]
    organization_code: str
    transfer_id: str | None


class MemberPublic(BaseModel):
    registration_no: str
    name: str
    status: Literal["probationary", "full"]
    probation_ends_on: date | None
    place: Place
    flags: list[str]
    gender: str
    category: str
    joined_on: date
    origin: Literal["admitted", "imported"]
    position: int | None = None


class HistoryEvent(BaseModel):
    position: int
    type: str
    on: str
    recorded_at: str
    actor: str
    actor_organization: str | None
    request_id: str
    data: dict[str, Any]


class HistoryPublic(BaseModel):
    data: list[HistoryEvent]
    count: int


class RosterRow(BaseModel):
    registration_no: str
    name: str
    status: str
    organization_code: str
    since: str
    place: str


class RosterPublic(BaseModel):
    data: list[RosterRow]
    count: int


# --- transfers ------------------------------------------------------------------------------

class Evidence(Body):
    kind: Literal["labor_contract", "property_deed", "lease"]
    reference: Text


class OwnTransferCreate(Body):
    """A transfer request's body; a member's own request (POST /v1/me/transfer-requests)
    names no member: it is the member's."""

    to_organization_code: Code
    reason: Literal["job_change", "graduation", "military_transfer", "retirement_relocation", "mobile_work",
                    "other"]
    basis: Literal["workplace", "residence", "household"]
    evidence: Evidence | None = None
    performance_record: Text | None = None
    probation_override_reason: Text | None = None
    on: OptionalDay = None


class TransferCreate(OwnTransferCreate):
    registration_no: RegistrationNo


class IssueRequest(Body):
    valid_days: WholeNumber = Field(default=30, description="validity in days, at most 90",
                                  json_schema_extra={"minimum": 1, "maximum": 90})  # the domain's codes refuse
    on: OptionalDay = None


class ReasonRequest(Body):
    reason: FilledText
    on: OptionalDay = None


class ReceiveRequest(Body):
    organization_code: Code
    late_certificate: Text | None = None
    presented_by: Literal["member", "agent"] = Field(
        default="member", description="who presented the letter: the member, or an agent (他人代办)")
    agent_name: Text | None = Field(default=None, description="the agent's name, when an agent presented it")
    on: OptionalDay = None


class ExtendRequest(Body):
    valid_until: Day
    on: OptionalDay = None


class TransferPublic(BaseModel):
    transfer_id: str
    letter_no: str | None
    registration_no: str
    from_organization_code: str
    to_organization_code: str
    received_in_code: str | None
    status: str
    reason: str
    basis: str | None = None
    route: str
    paper_stops: int
    network_stops: int
    requested_on: date | str | None
    issued_on: date | str | None
    valid_until: date | str | None
    received_on: date | str | None
    on_time: bool | None = None
    receipt_returned_on: date | str | None
    presented_by: str | None = None
    agent_name: str | None = None
    position: int | None = None


class TransfersPublic(BaseModel):
    data: list[TransferPublic]
    count: int


# --- certificates -------------------------------------------------------------------------

class CertificateCreate(Body):
    """The host is named: host_organization_code, or a host_description."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["host_organization_code"], "properties": {"host_organization_code": {"type": "string"}}},
        {"required": ["host_description"], "properties": {"host_description": {"pattern": FILLED_PATTERN}}},
    ]})

    registration_no: RegistrationNo
    kind: Literal["temporary", "mobile"]
    host_organization_code: Code | None = None
    host_description: Text | None = None
    purpose: FilledText
    valid_until: Day
    contact_person: Text | None = None
    on: OptionalDay = None


class CertificateFields(BaseModel):
    certificate_no: str
    kind: str
    registration_no: str
    home_organization_code: str
    host_organization_code: str | None
    host_description: str | None
    purpose: str
    contact_person: str | None = None
    issued_on: date | str
    valid_until: date | str


class CertificatePublic(CertificateFields):
    status: str  # issued | returned | closed
    returned_on: date | str | None
    closed_on: date | str | None = None
    position: int | None = None


class CertificateRow(CertificateFields):
    """A certificate in a list: `status` is open, returned or closed."""

    name: str | None
    status: Literal["open", "returned", "closed"]
    returned_on: date | str | None
    closed_on: date | str | None


class CertificatesPublic(BaseModel):
    data: list[CertificateRow]
    count: int


# --- first-responder cases (首问责任制) ---------------------------------------------------------

class CaseCreate(Body):
    organization_code: Code
    name: Name
    registration_no: RegistrationNo | None = Field(
        default=None, description="the person's registration number, when known (its form is checked)")
    request: FilledText
    on: OptionalDay = None


class CaseClose(Body):
    outcome: Literal["placed", "not_a_member", "withdrawn"]
    note: Text | None = None
    registration_no: RegistrationNo | None = Field(
        default=None, description="the person placed, when the case named no one (or the same number)")
    on: OptionalDay = None


class CasePublic(BaseModel):
    case_id: str
    organization_code: str
    name: str
    registration_no: str | None
    request: str | None = None
    opened_on: date | str
    days_open: int | None = None
    status: Literal["open", "closed"]
    outcome: str | None = None
    note: str | None = None
    closed_on: date | str | None = None
    position: int | None = None


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


# --- reports ----------------------------------------------------------------------------------

class FileRequest(Body):
    organization_code: Code
    month: Month


class OverdueRow(BaseModel):
    kind: str
    registration_no: str | None  # none on a first-responder case for a person not yet known
    name: str | None
    organization_code: str
    reference: str | None
    due_on: str
    days_overdue: int
    responsible_organization_code: str | None


class OverduePublic(BaseModel):
    data: list[OverdueRow]
    count: int


class Recorded(BaseModel):
    position: int


# --- members' own access (self-service) ----------------------------------------------------------

class MemberAccessCreated(BaseModel):
    registration_no: str
    token: str = Field(description="the member's bearer token, shown this once; it replaces the earlier one")
    position: int | None = None


class MemberAccessRevoked(BaseModel):
    registration_no: str
    active: bool
    position: int | None = None


class ReportCreate(Body):
    text: Annotated[StrictStr, Field(max_length=2000, description=_FILLED,
                                     json_schema_extra={"pattern": FILLED_PATTERN})]


class ReportPublic(BaseModel):
    registration_no: str
    sent_on: date
    recorded_at: str
    organization_code: str = Field(description="the home organization the report went to")
    certificate_no: str = Field(description="the mobile member certificate the member held")
    text: str
    position: int | None = None


class ReportsPublic(BaseModel):
    data: list[ReportPublic]
    count: int


class OwnTransfer(BaseModel):
    transfer_id: str
    status: str
    letter_no: str | None
    valid_until: date | str | None
    from_organization_code: str
    from_organization_name: str
    to_organization_code: str
    to_organization_name: str
    requested_on: date | str | None
    issued_on: date | str | None


class MePublic(MemberPublic):
    organization_name: str
    transfer: OwnTransfer | None = Field(description="the member's open transfer, with its letter once issued")
    certificates: list[CertificatePublic] = Field(description="certificates not yet returned")
