"""Request dependencies: the services, the authenticated operator and its rights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, Header, Request

from api.errors import ApiError
from api.services import Services
from domain.base import Actor
from domain.jurisdiction import check_role
from domain.operator import Operator as DomainOperator


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Operator:
    """The authenticated operator: its role and the subtree it acts on."""

    id: str
    name: str
    role: str
    organization_code: str
    request_id: str

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, organization_code=self.organization_code)

    def require(self, *roles: str) -> None:
        """Roles (domain/jurisdiction.py): admin manages organizations, members and
        operators; clerk acts on members, transfers and certificates; auditor reads."""
        check_role(self.role, roles)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def get_operator(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_request_id: Annotated[str | None, Header()] = None,
    known: tuple[str, DomainOperator] | None = None,
) -> Operator:
    """The operator of the bearer token; `known`: (token, operator) already looked up for
    this request."""
    token = bearer_token(authorization)
    if token is None:
        raise ApiError("unauthenticated", "send Authorization: Bearer <token>")
    found = known[1] if known is not None and known[0] == token else services.ledger.operator_for_token(token)
    if found is None:
        raise ApiError("unauthenticated", "the token is unknown or revoked")
    request_id = (x_request_id or "").strip()[:100] or uuid4().hex
    return Operator(str(found.id), found.name, found.role, found.organization_code, request_id)


def current_operator(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_request_id: Annotated[str | None, Header()] = None,
) -> Operator:
    """The request's operator, looked up once a request: a keyed POST's is looked up by
    api/idempotency.py before the route runs, and taken from there."""
    return get_operator(services, authorization, x_request_id, getattr(request.state, "token_operator", None))


CurrentOperator = Annotated[Operator, Depends(current_operator)]
