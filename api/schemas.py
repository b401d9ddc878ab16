"""Request and response bodies of the HTTP API (shared/API.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr


def _iso_date_only(value: Any) -> Any:
    """Dates are ISO strings (YYYY-MM-DD): numbers and datetimes are refused."""
    if isinstance(value, str) and len(value) != 10:
        raise ValueError("a date is YYYY-MM-DD")
    if value is not None and not isinstance(value, str | date):
        raise ValueError("a date is a string YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_date_only), Field(description="ISO date YYYY-MM-DD")]
OptionalDay = Annotated[date | None, BeforeValidator(_iso_date_only),
                        Field(default=None, description="effective date; default today, never in the future")]
Text = Annotated[StrictStr, Field(max_length=500)]
Code = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- organizations ---------------------------------------------------------------------

class OrganizationCreate(Body):
    code: Code
    name: Text
    kind: Literal["department", "work_committee", "committee", "general_branch", "branch", "service_center"]
    parent_code: Code | None = None
    region: StrictStr
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
    name: Text
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
    name: Text
    id_card_no: StrictStr
    gender: Literal["male", "female"]
    birth_date: Day
    joined_on: Day
    status: Literal["probationary", "full"] = "probationary"
    category: Literal["cadre", "student", "military_transferee", "auxiliary_police", "retiree", "worker",
                      "farmer", "other"]
    organization_code: Code
    household_region: StrictStr
    registration_no: StrictStr | None = Field(
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
    month: StrictStr = Field(description="YYYY-MM")
    amount: StrictStr = Field(description='yuan as a decimal string, e.g. "12.50"')
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


class TransferCreate(Body):
    registration_no: StrictStr
    to_organization_code: Code
    reason: Literal["job_change", "graduation", "military_transfer", "retirement_relocation", "mobile_work",
                    "other"]
    basis: Literal["workplace", "residence", "household"]
    evidence: Evidence | None = None
    performance_record: Text | None = None
    probation_override_reason: Text | None = None
    on: OptionalDay = None


class IssueRequest(Body):
    valid_days: StrictInt = Field(default=30, description="validity in days, at most 90")
    on: OptionalDay = None


class ReasonRequest(Body):
    reason: Text
    on: OptionalDay = None


class ReceiveRequest(Body):
    organization_code: Code
    late_certificate: Text | None = None
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
    position: int | None = None


class TransfersPublic(BaseModel):
    data: list[TransferPublic]
    count: int


# --- certificates -------------------------------------------------------------------------

class CertificateCreate(Body):
    registration_no: StrictStr
    kind: Literal["temporary", "mobile"]
    host_organization_code: Code | None = None
    host_description: Text | None = None
    purpose: Text
    valid_until: Day
    contact_person: Text | None = None
    on: OptionalDay = None


class CertificatePublic(BaseModel):
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
    status: str
    returned_on: date | str | None
    position: int | None = None


# --- reports ----------------------------------------------------------------------------------

class FileRequest(Body):
    organization_code: Code
    month: StrictStr


class OverdueRow(BaseModel):
    kind: str
    registration_no: str
    name: str
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
