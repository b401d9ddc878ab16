"""Filing a month, and the overdue list."""

from __future__ import annotations

from pydantic import BaseModel

from api.schemas.common import Body, Code, Month


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
