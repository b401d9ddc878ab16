"""Members: request and response bodies, a member's history, a roster."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, StrictStr

from api.schemas.common import (
    AMOUNT_PATTERN,
    Body,
    Code,
    Day,
    IdCardNo,
    Month,
    Name,
    OptionalDay,
    Region,
    RegistrationNo,
    Text,
)
from domain.vocabulary import Category, Gender, LeaveReason, MemberStatus, Origin, PlaceKind


class MemberCreate(Body):
    name: Name
    id_card_no: IdCardNo
    gender: Gender
    birth_date: Day
    joined_on: Day
    status: MemberStatus = "probationary"
    category: Category
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
    reason: LeaveReason
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
    kind: PlaceKind
    organization_code: str
    transfer_id: str | None


class MemberPublic(BaseModel):
    registration_no: str
    name: str
    status: MemberStatus
    probation_ends_on: date | None
    place: Place
    flags: list[str]
    gender: str
    category: str
    joined_on: date
    origin: Origin
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
