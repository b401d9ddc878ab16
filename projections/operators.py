"""Read model of the operators: who may act for which organization, in which role, and
since when (granted, revoked).

Table: proj_operators.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.operator import Operator
from projections.db import ViewDatabase
from projections.tables import Table, originator_key

OPERATORS = Table(
    "proj_operators",
    ["operator_id", "name", "role", "organization_code", "active", "granted_on", "revoked_on"],
    ["operator_id"],
    ["CREATE TABLE IF NOT EXISTS proj_operators (operator_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
     "role TEXT NOT NULL, organization_code TEXT NOT NULL, active INTEGER NOT NULL, granted_on TEXT NOT NULL, "
     "revoked_on TEXT)",
     "CREATE INDEX IF NOT EXISTS proj_operators_org ON proj_operators (organization_code)"],
)


class OperatorsView:
    def __init__(self) -> None:
        self.operators = OPERATORS.fresh()
        self.tables = (self.operators,)

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Operator.Granted, position: int, db: ViewDatabase) -> None:
        self.operators.put({
            "operator_id": originator_key(event), "name": event.name, "role": event.role,
            "organization_code": event.organization_code, "active": 1,
            "granted_on": event.on.isoformat(), "revoked_on": None,
        })

    @apply.register
    def _(self, event: Operator.Revoked, position: int, db: ViewDatabase) -> None:
        row = self.operators.get(db, (originator_key(event),))
        assert row is not None
        row.update(active=0, revoked_on=event.on.isoformat())
        self.operators.touch(row)

