"""Operators: grant (the token is shown once), revoke, list. Admins only, in their subtree."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api.access import ADMIN_ROLES, AUDIT_ROLES, check_within
from api.deps import CurrentCaller, ServicesDep
from api.presenters import operator_public
from api.routes.common import Limit, MinPosition, Offset, command, router
from api.schemas import OperatorCreate, OperatorCreated, OperatorPublic, OperatorsPublic

routes = router("/v1/operators", "operators")


@routes.post("", status_code=201, response_model=OperatorCreated)
def grant(body: OperatorCreate, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded, token = command(operator, ADMIN_ROLES, services.ledger.grant_operator, body.name, body.role,
                              body.organization_code)
    assert recorded.code is not None
    return {**operator_public(services, recorded.code, recorded.position), "token": token}


@routes.post("/{operator_id}/revoke", response_model=OperatorPublic)
def revoke(operator_id: str, services: ServicesDep, operator: CurrentCaller) -> Any:
    recorded = command(operator, ADMIN_ROLES, services.ledger.revoke_operator, operator_id)
    return operator_public(services, operator_id, recorded.position)


@routes.get("", response_model=OperatorsPublic)
def list_operators(services: ServicesDep, operator: CurrentCaller,
                   organization_code: Annotated[str | None, Query()] = None,
                   limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None) -> Any:
    operator.require(*AUDIT_ROLES)
    code = organization_code or operator.organization_code
    check_within(services, operator, code)
    with services.queries(min_position) as queries:
        data, count = queries.operators(code, limit, offset)
    return {"data": data, "count": count}
