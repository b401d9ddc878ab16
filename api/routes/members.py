"""Members: admit or import, read (with flags), history, confirm, death, leave, activity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.access import MEMBER_ROLES, check_member_visible
from api.deps import Caller, CurrentCaller, ServicesDep
from api.presenters import member_public
from api.routes.common import Limit, MinPosition, Offset, command, router
from api.schemas import DuesRequest, HistoryPublic, LeaveRequest, MemberCreate, MemberPublic, OnRequest, OrgLifeRequest
from api.services import Services, member_history
from domain.ledger.session import Recorded

routes = router("/v1/members", "members")


@routes.post("", status_code=201, response_model=MemberPublic)
def create_member(body: MemberCreate, services: ServicesDep, operator: CurrentCaller) -> Any:
    fields: dict[str, Any] = body.model_dump(exclude={"registration_no", "status", "organization_code", "on"})
    if body.registration_no is None and body.status == "probationary":
        recorded = command(operator, MEMBER_ROLES, services.ledger.admit_member, body.organization_code, **fields,
                           on=body.on)
    else:
        recorded = command(operator, MEMBER_ROLES, services.ledger.import_member, body.organization_code,
                           registration_no=body.registration_no, status=body.status, **fields, on=body.on)
    assert recorded.registration_no is not None
    return member_public(services, recorded.registration_no, recorded.position)


@routes.get("/{registration_no}", response_model=MemberPublic)
def get_member(registration_no: str, services: ServicesDep, operator: CurrentCaller,
               min_position: MinPosition = None) -> Any:
    if min_position:
        services.wait_for(min_position)
    check_member_visible(services, operator, registration_no)
    answer = member_public(services, registration_no)
    services.record_access(operator, "member", registration_no=answer["registration_no"])
    return answer


def visible_history(registration_no: str, services: Services, operator: Caller,
                    limit: int = 1000, offset: int = 0, min_position: int | None = None) -> dict[str, Any]:
    """A member's history for an operator who may see it (else refused), not logged."""
    check_member_visible(services, operator, registration_no)
    with services.queries(min_position) as queries:
        return member_history(services.ledger, queries, registration_no, limit, offset)


@routes.get("/{registration_no}/history", response_model=HistoryPublic)
def history(registration_no: str, services: ServicesDep, operator: CurrentCaller,
            limit: Limit = 1000, offset: Offset = 0, min_position: MinPosition = None) -> Any:
    answer = visible_history(registration_no, services, operator, limit, offset, min_position)
    services.record_access(operator, "history", registration_no=services.ledger.member(registration_no)
                           .registration_no)
    return answer


# The commands on one member: each answers the member as it stands after it.

def acted_on(services: Services, operator: Caller, run: Callable[..., Recorded], registration_no: str,
             *args: Any, **fields: Any) -> dict[str, Any]:
    """A command of an admin or clerk on one member, answered with the member after it."""
    recorded = command(operator, MEMBER_ROLES, run, registration_no, *args, **fields)
    return member_public(services, registration_no, recorded.position)


@routes.post("/{registration_no}/confirm", response_model=MemberPublic)
def confirm(registration_no: str, services: ServicesDep, operator: CurrentCaller,
            body: OnRequest | None = None) -> Any:
    return acted_on(services, operator, services.ledger.confirm_member, registration_no,
                    on=body.on if body else None)


@routes.post("/{registration_no}/death", response_model=MemberPublic)
def death(registration_no: str, services: ServicesDep, operator: CurrentCaller,
          body: OnRequest | None = None) -> Any:
    return acted_on(services, operator, services.ledger.record_death, registration_no,
                    on=body.on if body else None)


@routes.post("/{registration_no}/leave", response_model=MemberPublic)
def leave(registration_no: str, body: LeaveRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.record_leaving, registration_no, body.reason, on=body.on)


@routes.post("/{registration_no}/org-life", response_model=MemberPublic)
def org_life(registration_no: str, body: OrgLifeRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.record_org_life, registration_no, body.organization_code,
                    on=body.on)


@routes.post("/{registration_no}/dues", response_model=MemberPublic)
def dues(registration_no: str, body: DuesRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    return acted_on(services, operator, services.ledger.record_dues, registration_no, body.month, str(body.amount),
                    on=body.on)
