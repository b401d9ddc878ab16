"""Operators: grant (the token is shown once), revoke, list. Admins only, in their subtree."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api.deps import CurrentOperator, ServicesDep
from api.routes.common import Limit, MinPosition, Offset, check_within, router
from api.schemas import OperatorCreate, OperatorCreated, OperatorPublic, OperatorsPublic
from api.services import Services

routes = router("/v1/operators", "operators")


def public(services: Services, operator_id: str, position: int | None = None) -> dict[str, Any]:
    found = services.ledger.operator(operator_id)
    return {"operator_id": str(found.id), "name": found.name, "role": found.role,
            "organization_code": found.organization_code, "active": found.active, "position": position}


@routes.post("", status_code=201, response_model=OperatorCreated)
def grant(body: OperatorCreate, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require("admin")
    recorded, token = services.ledger.grant_operator(
        body.name, body.role, body.organization_code, actor=operator.actor, request_id=operator.request_id)
    assert recorded.code is not None
    return {**public(services, recorded.code, recorded.position), "token": token}


@routes.post("/{operator_id}/revoke", response_model=OperatorPublic)
def revoke(operator_id: str, services: ServicesDep, operator: CurrentOperator) -> Any:
    operator.require("admin")
    recorded = services.ledger.revoke_operator(operator_id, actor=operator.actor, request_id=operator.request_id)
    return public(services, operator_id, recorded.position)


@routes.get("", response_model=OperatorsPublic)
def list_operators(services: ServicesDep, operator: CurrentOperator,
                   organization_code: Annotated[str | None, Query()] = None,
                   limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None) -> Any:
    operator.require("admin", "auditor")
    code = organization_code or operator.organization_code
    check_within(services, operator, code)
    with services.queries(min_position) as queries:
        data, count = queries.operators(code, limit, offset)
    return {"data": data, "count": count}
