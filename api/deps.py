"""Request dependencies: the services, the authenticated operator and its rights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, Header, Request

from api.bearer import bearer_token
from api.errors import MEMBER_TOKEN_ONLY, ApiError
from api.services import Services
from domain.base import Actor
from domain.jurisdiction import check_role
from domain.operator import Operator


async def get_services(request: Request) -> Services:
    """The app's services: on the event loop (nothing to wait for), so that a route's
    dependencies take no extra trip through the thread pool."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Caller:
    """The caller of a request: the authenticated operator (domain/operator.py), its role
    and the subtree it acts on."""

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


def required_token(authorization: str | None) -> str:
    token = bearer_token(authorization)
    if token is None:
        raise ApiError("unauthenticated", "send Authorization: Bearer <token>")
    return token


def request_id_of(x_request_id: str | None) -> str:
    """The request's own id, recorded on every event it causes: new for each request, so
    that one request's events are told from another's whatever the caller sends; after the
    caller's X-Request-Id (at most 100 characters) and a `/` when it sent one, so that the
    caller's own tracing finds them."""
    own = uuid4().hex
    sent = (x_request_id or "").strip()[:100]
    return f"{sent}/{own}" if sent else own


def get_caller(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_request_id: Annotated[str | None, Header()] = None,
    known: tuple[str, Operator] | None = None,
) -> Caller:
    """The operator of the bearer token (`known`: (token, operator) already looked up for
    this request); a member's own token is refused here (403): it opens the /v1/me routes
    only."""
    token = required_token(authorization)
    found = known[1] if known is not None and known[0] == token else services.ledger.operator_for_token(token)
    if found is None:
        if services.ledger.member_for_token(token) is not None:
            raise ApiError("forbidden", MEMBER_TOKEN_ONLY)
        raise ApiError("unauthenticated", "the token is unknown or revoked")
    return Caller(str(found.id), found.name, found.role, found.organization_code, request_id_of(x_request_id))


def current_caller(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_request_id: Annotated[str | None, Header()] = None,
) -> Caller:
    """The request's operator, looked up once a request: a keyed POST's is looked up by
    api/idempotency.py before the route runs, and taken from there."""
    return get_caller(services, authorization, x_request_id, getattr(request.state, "token_operator", None))


CurrentCaller = Annotated[Caller, Depends(current_caller)]



@dataclass(frozen=True)
class Me:
    """A member acting with its own token (self-service): only the /v1/me routes."""

    registration_no: str
    request_id: str
    organization_code: None = None  # a member reads as no operator of an organization

    @property
    def id(self) -> str:
        """Who read, in the access log: the member itself (as its actor in the events)."""
        return f"member:{self.registration_no}"


def get_member(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_request_id: Annotated[str | None, Header()] = None,
) -> Me:
    token = required_token(authorization)
    found = services.ledger.member_for_token(token)
    if found is None:
        if services.ledger.operator_for_token(token) is not None:
            raise ApiError("forbidden", "/v1/me is a member's own: an operator's token does not open it")
        raise ApiError("unauthenticated", "the token is unknown, replaced or revoked")
    return Me(found.registration_no, request_id_of(x_request_id))


CurrentMember = Annotated[Me, Depends(get_member)]
