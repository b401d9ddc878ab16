"""Temporary and mobile member certificates: request and response bodies."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from api.schemas.common import FILLED_PATTERN, Body, Code, Day, FilledText, OptionalDay, RegistrationNo, Text
from domain.vocabulary import CertificateKind, CertificateListStatus


class CertificateCreate(Body):
    """The host is named: host_organization_code, or a host_description."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["host_organization_code"], "properties": {"host_organization_code": {"type": "string"}}},
        {"required": ["host_description"], "properties": {"host_description": {"pattern": FILLED_PATTERN}}},
    ]})

    registration_no: RegistrationNo
    kind: CertificateKind
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
    status: CertificateListStatus
    returned_on: date | str | None
    closed_on: date | str | None


class CertificatesPublic(BaseModel):
    data: list[CertificateRow]
    count: int
