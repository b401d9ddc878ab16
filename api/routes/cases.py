"""First-responder cases (首问责任制, seed 003): the organization a person first asks opens
the case and owns it until it is closed (`placed` only once the person is held and has
attended org life since); its subtree lists them with the days they have been open."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from api.deps import CurrentOperator, ServicesDep
from api.routes.common import Limit, MinPosition, Offset, check_within, rights, router
from api.schemas import CaseClose, CaseCreate, CasePublic, CasesPublic
from api.services import Services

routes = router("/v1/cases", "cases")
CASE_ROLES = ("admin", "clerk")


def public(services: Services, case_id: str, position: int | None = None) -> dict[str, Any]:
    return {**services.ledger.case(case_id).summary(services.ledger.today()), "position": position}


@routes.post("", status_code=201, response_model=CasePublic)
def open_case(body: CaseCreate, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*CASE_ROLES)
    recorded = services.ledger.open_case(
        body.organization_code, name=body.name, registration_no=body.registration_no, request=body.request,
        actor=operator.actor, on=body.on, request_id=operator.request_id)
    assert recorded.code is not None
    return public(services, recorded.code, recorded.position)


@routes.post("/{case_id}/close", response_model=CasePublic)
def close_case(case_id: str, body: CaseClose, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require(*CASE_ROLES)
    recorded = services.ledger.close_case(
        case_id, body.outcome, body.note, body.registration_no, actor=operator.actor, on=body.on,
        request_id=operator.request_id)
    return public(services, case_id, recorded.position)


@routes.get("", response_model=CasesPublic)
def list_cases(
    services: ServicesDep, operator: CurrentOperator,
    organization_code: Annotated[str | None, Query()] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
) -> Any:
    code = organization_code or operator.organization_code
    check_within(services, operator, code)
    with services.queries(min_position) as queries:
        rows, count = queries.cases(code, services.ledger.today(), status=status, limit=limit, offset=offset)
    return {"data": rows, "count": count}


@routes.get("/{case_id}", response_model=CasePublic)
def get_case(case_id: str, services: ServicesDep, operator: CurrentOperator) -> Any:
    case = services.ledger.case(case_id)
    rights(services, operator).check(case.organization_code, f"case {case.case_id}")  # names no organization
    return public(services, case_id)
