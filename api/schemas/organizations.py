"""Organizations and operators: request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import Body, Code, Name, OptionalDay, OrganizationName, Region
from domain.vocabulary import OrganizationKind, OrganizationStatus, Role


class OrganizationCreate(Body):
    code: Code
    name: OrganizationName
    kind: OrganizationKind
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
    status: OrganizationStatus
    successor_code: str | None
    position: int | None = None


class OrganizationsPublic(BaseModel):
    data: list[OrganizationPublic]
    count: int


# --- operators ----------------------------------------------------------------------------

class OperatorCreate(Body):
    name: Name
    role: Role
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
