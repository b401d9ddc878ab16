"""Organizations: register, dissolve, move (whole-organization transfer), read, rosters,
overdue lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from api.access import ADMIN_ROLES, check_within, within_or_above
from api.deps import CurrentCaller, ServicesDep
from api.presenters import organization_public, page_of
from api.routes.common import LIST_TYPES, Limit, MinPosition, Offset, QueryDay, command, list_answer, router
from api.schemas import (
    DissolveRequest,
    MoveRequest,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationsPublic,
    OverduePublic,
    RosterPublic,
)
from api.services import check_not_future
from domain.vocabulary import OverdueKind
from projections.queries.overdue_kinds import OVERDUE_COLUMNS

routes = router("/v1/organizations", "organizations")


@routes.post("", status_code=201, response_model=OrganizationPublic)
def register_organization(body: OrganizationCreate, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(operator, ADMIN_ROLES, services.ledger.register_organization,
                       body.code, body.name, body.kind, body.parent_code, body.region, on=body.on)
    return organization_public(services, body.code, recorded.position)


@routes.get("/{code}", response_model=OrganizationPublic)
def get_organization(code: str, services: ServicesDep, operator: CurrentCaller,
                     min_position: MinPosition = None) -> Any:
    within_or_above(services, operator, code)
    return organization_public(services, code)


@routes.get("/{code}/children", response_model=OrganizationsPublic)
def get_children(code: str, services: ServicesDep, operator: CurrentCaller,
                 limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None) -> Any:
    within_or_above(services, operator, code)
    children = sorted(services.ledger.organization(code).children)
    return page_of(children, offset, limit, lambda child: organization_public(services, child))


@routes.post("/{code}/dissolve", response_model=OrganizationPublic)
def dissolve(code: str, body: DissolveRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(operator, ADMIN_ROLES, services.ledger.dissolve_organization, code, body.successor_code,
                       on=body.on)
    return organization_public(services, code, recorded.position)


@routes.post("/{code}/move", response_model=OrganizationPublic)
def move(code: str, body: MoveRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(operator, ADMIN_ROLES, services.ledger.move_organization, code, body.parent_code, on=body.on)
    return organization_public(services, code, recorded.position)


ROSTER_COLUMNS = ["registration_no", "name", "status", "organization_code", "since", "place"]
@routes.get("/{code}/roster", response_model=RosterPublic, responses=LIST_TYPES)
def roster(
    request: Request, code: str, services: ServicesDep, operator: CurrentCaller,
    as_of: QueryDay = None, subtree: bool = False, include_in_transit: bool = False,
    q: Annotated[str | None, Query(max_length=50, description="name or registration number")] = None,
    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    check_within(services, operator, code)
    check_not_future(as_of, "as_of", services.ledger.today())
    with services.queries(min_position) as queries:
        rows, count = queries.roster(code, as_of=as_of, subtree=subtree, include_in_transit=include_in_transit,
                                     limit=limit, offset=offset, search=q)
    services.record_access(operator, "roster", scope=code)
    return list_answer(request, ROSTER_COLUMNS, rows, count)


@routes.get("/{code}/overdue", response_model=OverduePublic, responses=LIST_TYPES)
def overdue(
    request: Request, code: str, services: ServicesDep, operator: CurrentCaller,
    on: QueryDay = None,
    kind: Annotated[OverdueKind | None, Query()] = None,
    limit: Limit = 1000, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    check_within(services, operator, code)
    today = services.ledger.today()
    check_not_future(on, "on", today)
    with services.queries(min_position) as queries:
        rows, count = queries.overdue(code, on or today, kind=kind, limit=limit, offset=offset)
    services.record_access(operator, "overdue", scope=code)  # the rows name members
    return list_answer(request, list(OVERDUE_COLUMNS), rows, count)
