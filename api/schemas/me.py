"""A member's own access (self-service): tokens, reports to the home organization, the
member's own page."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StrictStr

from api.schemas.certificates import CertificatePublic
from api.schemas.common import FILLED_DESCRIPTION, FILLED_PATTERN, Body
from api.schemas.members import MemberPublic
from domain.vocabulary import REPORT_MAX_CHARS


class MemberAccessCreated(BaseModel):
    registration_no: str
    token: str = Field(description="the member's bearer token, shown this once; it replaces the earlier one")
    position: int | None = None


class MemberAccessRevoked(BaseModel):
    registration_no: str
    active: bool
    position: int | None = None


class ReportCreate(Body):
    text: Annotated[StrictStr, Field(max_length=REPORT_MAX_CHARS, description=FILLED_DESCRIPTION,
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
