"""Operators: who may act, in which role, over which subtree, and since when.

Invariant: an operator's rights are events (granted, revoked), so an auditor can tell
who could do what on any date. The bearer token itself is never stored: the operator's
id is derived from a hash of it, so a presented token finds its operator directly.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.base import Context, LedgerAggregate
from domain.errors import InvalidTransition, ValidationError
from domain.identifiers import NAMESPACE
from domain.vocabulary import NAME_MAX, ROLES


def new_token() -> str:
    return "ltk_" + secrets.token_urlsafe(32)


def operator_id_for(token: str) -> UUID:
    return uuid5(NAMESPACE, "operator:" + hashlib.sha256(token.encode()).hexdigest())


class Operator(LedgerAggregate):
    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        name: str
        role: str
        organization_code: str
        active: bool
        granted_on: date
        revoked_on: date | None

    class Granted(LedgerAggregate.Created):
        name: str
        role: str
        organization_code: str

        def change(self, op: Operator) -> None:
            op.name, op.role, op.organization_code, op.active = self.name, self.role, self.organization_code, True
            op.granted_on, op.revoked_on = self.on, None

    class Revoked(LedgerAggregate.Event):
        def change(self, op: Operator) -> None:
            op.active, op.revoked_on = False, self.on

    @classmethod
    def grant(cls, ctx: Context, token: str, name: str, role: str, organization_code: str) -> Operator:
        name = (name or "").strip()
        if not name or len(name) > NAME_MAX:
            raise ValidationError(f"name must be 1-{NAME_MAX} characters")
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}")
        return cls._create(
            cls.Granted, id=operator_id_for(token), **ctx.meta(),
            name=name, role=role, organization_code=organization_code,
        )

    def revoke(self, ctx: Context) -> None:
        if not self.active:
            raise InvalidTransition("this operator was already revoked")
        self.record(self.Revoked, ctx)
