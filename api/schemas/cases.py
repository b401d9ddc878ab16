"""First-responder cases: request and response bodies."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from api.schemas.common import Body, Code, FilledText, Name, OptionalDay, RegistrationNo, Text
from domain.vocabulary import CaseOutcome, CaseStatus


class CaseCreate(Body):
    organization_code: Code
    name: Name
    registration_no: RegistrationNo | None = Field(
        default=None, description="the person's registration number, when known (its form is checked)")
    request: FilledText
    on: OptionalDay = None


class CaseClose(Body):
    outcome: CaseOutcome
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
    status: CaseStatus
    outcome: str | None = None
    note: str | None = None
    closed_on: date | str | None = None
    position: int | None = None


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int
