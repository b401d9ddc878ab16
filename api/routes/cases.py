"""First-responder cases (首问责任制, seed 003): the organization a person first asks opens
the case and owns it until it is closed (`placed` only once the person is held and has
attended org life since); its subtree lists them with the days they have been open."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api.access import CASE_ROLES, check_case_visible, list_scope
from api.deps import CurrentCaller, ServicesDep
from api.presenters import case_public
from api.routes.common import Limit, MinPosition, Offset, command, router
from api.schemas import CaseClose, CaseCreate, CasePublic, CasesPublic
from domain.vocabulary import CaseStatus

routes = router("/v1/cases", "cases")


@routes.post("", status_code=201, response_model=CasePublic)
def open_case(body: CaseCreate, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(
        operator, CASE_ROLES, services.ledger.open_case,
        body.organization_code, name=body.name, registration_no=body.registration_no, request=body.request,
        on=body.on)
    assert recorded.code is not None
    return case_public(services, recorded.code, recorded.position)


@routes.post("/{case_id}/close", response_model=CasePublic)
def close_case(case_id: str, body: CaseClose, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(operator, CASE_ROLES, services.ledger.close_case, case_id, body.outcome, body.note,
                       body.registration_no, on=body.on)
    return case_public(services, case_id, recorded.position)


@routes.get("", response_model=CasesPublic)
def list_cases(
    services: ServicesDep, operator: CurrentCaller,
    organization_code: Annotated[str | None, Query()] = None,
    status: Annotated[CaseStatus | None, Query()] = None,
    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    code = list_scope(services, operator, organization_code)
    with services.queries(min_position) as queries:
        rows, count = queries.cases(code, services.ledger.today(), status=status, limit=limit, offset=offset)
    return {"data": rows, "count": count}


@routes.get("/{case_id}", response_model=CasePublic)
def get_case(case_id: str, services: ServicesDep, operator: CurrentCaller, min_position: MinPosition = None) -> Any:
    check_case_visible(services, operator, case_id)
    return case_public(services, case_id)
