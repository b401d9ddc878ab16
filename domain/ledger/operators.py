"""Use cases on operators: a grant over an organization's subtree, a revocation."""

from __future__ import annotations

from domain.base import Context
from domain.errors import NotFound
from domain.identifiers import uuid_key
from domain.ledger.rules import check_scope, jurisdiction
from domain.ledger.session import Recorded, Session
from domain.operator import Operator


def get(session: Session, operator_id: str) -> Operator:
    key = uuid_key(operator_id)
    if key is None:
        raise NotFound(f"operator {operator_id!r} is not in the ledger")
    return session.get(key, Operator, f"operator {operator_id!r}")


def grant(session: Session, ctx: Context, token: str, name: str, role: str, organization_code: str) -> Recorded:
    org = session.org(organization_code)
    org.check_active()
    check_scope(ctx, session, org)

    operator = session.add(Operator.grant(ctx, token, name, role, org.code))
    return Recorded(0, code=str(operator.id))


def revoke(session: Session, ctx: Context, operator_id: str) -> Recorded:
    operator = get(session, operator_id)
    jurisdiction(ctx, session).check(operator.organization_code, f"operator {operator.id}")

    operator.revoke(ctx)
    return Recorded(0, code=str(operator.id))
