"""Read model of the filed months: which organization filed its report of which month, when
and by whom.

Table: proj_filings.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.organization import Organization
from projections.db import ViewDatabase
from projections.organizations import Tree
from projections.tables import Table, originator_key

FILINGS = Table(
    "proj_filings",
    ["organization_code", "month", "filed_on", "actor", "position"],
    ["organization_code", "month"],
    ["CREATE TABLE IF NOT EXISTS proj_filings (organization_code TEXT NOT NULL, month TEXT NOT NULL, "
     "filed_on TEXT NOT NULL, actor TEXT NOT NULL, position INTEGER NOT NULL, "
     "PRIMARY KEY (organization_code, month))"],
)


class FilingsView:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.filings = FILINGS.fresh()
        self.tables = (self.filings,)

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Organization.MonthFiled, position: int, db: ViewDatabase) -> None:
        self.filings.put({"organization_code": self.tree.code_by_id[originator_key(event)],
                     "month": event.month, "filed_on": event.on.isoformat(),
                     "actor": event.actor, "position": position})
