"""Transfers: request and response bodies."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from api.schemas.common import Body, Code, Day, FilledText, OptionalDay, RegistrationNo, Text, WholeNumber
from domain.vocabulary import (
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    Basis,
    EvidenceKind,
    Presenter,
    TransferReason,
)


class Evidence(Body):
    kind: EvidenceKind
    reference: Text


class OwnTransferCreate(Body):
    """A transfer request's body; a member's own request (POST /v1/me/transfer-requests)
    names no member: it is the member's."""

    to_organization_code: Code
    reason: TransferReason
    basis: Basis
    evidence: Evidence | None = None
    performance_record: Text | None = None
    probation_override_reason: Text | None = None
    on: OptionalDay = None


class TransferCreate(OwnTransferCreate):
    registration_no: RegistrationNo


class IssueRequest(Body):
    # Bounds stated, not checked here: the domain's codes refuse what lies outside them.
    valid_days: WholeNumber = Field(default=DEFAULT_VALID_DAYS,
                                    description=f"validity in days, at most {MAX_VALID_DAYS}",
                                    json_schema_extra={"minimum": 1, "maximum": MAX_VALID_DAYS})
    on: OptionalDay = None


class ReasonRequest(Body):
    reason: FilledText
    on: OptionalDay = None


class ReceiveRequest(Body):
    organization_code: Code
    late_certificate: Text | None = None
    presented_by: Presenter = Field(
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
