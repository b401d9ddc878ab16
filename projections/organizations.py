"""Read model of the organization tree: current organizations, their parent over time and
the ancestor closure (for subtree queries).

Tables: proj_organizations, proj_org_tree (parent intervals), proj_org_closure. The engine
also keeps the whole tree in memory (`Tree`): the read models ask it for an organization's
ancestors at the moment an event is applied. The engine moves it after every read model has
applied the event, so they all see the tree as it stood before the event.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.organization import Organization, nearest_committee
from projections.db import ViewDatabase
from projections.tables import Table, originator_key

ORGANIZATIONS = Table(
    "proj_organizations",
    ["code", "org_id", "name", "kind", "parent_code", "region", "status", "successor_code",
     "registered_on", "dissolved_on", "tree_key"],
    ["code"],
    ["CREATE TABLE IF NOT EXISTS proj_organizations (code TEXT PRIMARY KEY, org_id TEXT NOT NULL, "
     "name TEXT NOT NULL, kind TEXT NOT NULL, parent_code TEXT, region TEXT NOT NULL, "
     "status TEXT NOT NULL, successor_code TEXT, registered_on TEXT NOT NULL, dissolved_on TEXT, "
     "tree_key INTEGER NOT NULL)",
     "CREATE INDEX IF NOT EXISTS proj_organizations_parent ON proj_organizations (parent_code)"],
)
TREE = Table(
    "proj_org_tree",
    ["code", "start_position", "parent_code", "from_on", "to_on"],
    ["code", "start_position"],
    ["CREATE TABLE IF NOT EXISTS proj_org_tree (code TEXT NOT NULL, start_position INTEGER NOT NULL, "
     "parent_code TEXT, from_on TEXT NOT NULL, to_on TEXT, PRIMARY KEY (code, start_position))",
     "CREATE INDEX IF NOT EXISTS proj_org_tree_parent ON proj_org_tree (parent_code, from_on)",
     # The organizations whose parent changed (closed intervals) or began after a day: only
     # their subtrees can have stood otherwise on that day than they stand now.
     "CREATE INDEX IF NOT EXISTS proj_org_tree_changed ON proj_org_tree (to_on, from_on, code)"],
)
CLOSURE = Table(
    "proj_org_closure",
    ["ancestor", "descendant", "depth"],
    ["ancestor", "descendant"],
    ["CREATE TABLE IF NOT EXISTS proj_org_closure (ancestor TEXT NOT NULL, descendant TEXT NOT NULL, "
     "depth INTEGER NOT NULL, PRIMARY KEY (ancestor, descendant)) WITHOUT ROWID",
     # Each organization's ancestors, nearest first, without reading the table.
     "CREATE INDEX IF NOT EXISTS proj_org_closure_up ON proj_org_closure (descendant, depth, ancestor)"],
    index_only=True,  # counted and listed from covering indexes
)


class Tree:
    """The current tree in memory: parents, kinds, children, ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.kind: dict[str, str] = {}
        self.children: dict[str, set[str]] = {}
        self.code_by_id: dict[str, str] = {}
        # Each organization's chain of ancestors as asked for, forgotten whenever the tree changes.
        self._chains: dict[str, tuple[str, ...]] = {}
        self.tables: tuple[Table, ...] = ()  # in memory only (loaded from proj_organizations)

    def load(self, db: ViewDatabase) -> None:
        self.__init__()  # type: ignore[misc]
        for code, org_id, kind, parent in db.query(
            "SELECT code, org_id, kind, parent_code FROM proj_organizations"
        ):
            self.add(code, org_id, kind, parent)

    def add(self, code: str, org_id: str, kind: str, parent: str | None) -> None:
        self.parent[code], self.kind[code], self.code_by_id[org_id] = parent, kind, code
        self.children.setdefault(code, set())
        if parent is not None:
            self.children.setdefault(parent, set()).add(code)
        self._chains.clear()

    def reparent(self, code: str, parent: str) -> None:
        old = self.parent[code]
        if old is not None:
            self.children[old].discard(code)
        self.parent[code] = parent
        self.children.setdefault(parent, set()).add(code)
        self._chains.clear()

    def ancestors(self, code: str) -> tuple[str, ...]:
        """The organization and its ancestors, nearest first."""
        chain = self._chains.get(code)
        if chain is None:
            found = [code]
            while (up := self.parent.get(found[-1])) is not None:
                found.append(up)
            chain = self._chains[code] = tuple(found)
        return chain

    def subtree(self, code: str) -> list[str]:
        found, pending = [], [code]
        while pending:
            node = pending.pop()
            found.append(node)
            pending.extend(self.children.get(node, ()))
        return found

    def committee_of(self, code: str) -> str:
        return nearest_committee(self.ancestors(code), self.kind.get)

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds leave the tree as it is."""

    @apply.register
    def _(self, event: Organization.Registered, position: int, db: ViewDatabase) -> None:
        self.add(event.code, originator_key(event), event.kind, event.parent_code)

    @apply.register
    def _(self, event: Organization.Moved, position: int, db: ViewDatabase) -> None:
        self.reparent(self.code_by_id[originator_key(event)], event.to_parent_code)


class OrganizationsView:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.organizations, self.intervals, self.closure = ORGANIZATIONS.fresh(), TREE.fresh(), CLOSURE.fresh()
        self.tables = (self.organizations, self.intervals, self.closure)

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Organization.Registered, position: int, db: ViewDatabase) -> None:
        self.organizations.put({
            "code": event.code, "org_id": originator_key(event), "name": event.name,
            "kind": event.kind, "parent_code": event.parent_code, "region": event.region,
            "status": "active", "successor_code": None, "registered_on": event.on.isoformat(),
            "dissolved_on": None, "tree_key": position,
        })
        self.intervals.put({"code": event.code, "start_position": position, "parent_code": event.parent_code,
                  "from_on": event.on.isoformat(), "to_on": None}, new=True)
        ancestors = self.tree.ancestors(event.parent_code) if event.parent_code else ()
        for depth, ancestor in enumerate([event.code, *ancestors]):
            self.closure.put({"ancestor": ancestor, "descendant": event.code, "depth": depth})

    @apply.register
    def _(self, event: Organization.Moved, position: int, db: ViewDatabase) -> None:
        code = self.tree.code_by_id[originator_key(event)]
        org = self.organizations.get(db, (code,))
        assert org is not None
        current = self.intervals.get(db, (code, org["tree_key"]))
        assert current is not None
        current["to_on"] = event.on.isoformat()
        self.intervals.touch(current)
        self.intervals.put({"code": code, "start_position": position, "parent_code": event.to_parent_code,
                  "from_on": event.on.isoformat(), "to_on": None}, new=True)
        org["parent_code"], org["tree_key"] = event.to_parent_code, position
        self.organizations.touch(org)
        old_above = self.tree.ancestors(code)[1:]
        new_above = self.tree.ancestors(event.to_parent_code)
        for descendant in self.tree.subtree(code):
            depth_below = len(self.tree.ancestors(descendant)) - len(old_above) - 1
            for ancestor in old_above:
                self.closure.delete((ancestor, descendant))
            for i, ancestor in enumerate(new_above):
                self.closure.put({"ancestor": ancestor, "descendant": descendant,
                             "depth": depth_below + 1 + i})

    @apply.register
    def _(self, event: Organization.Dissolved, position: int, db: ViewDatabase) -> None:
        org = self.organizations.get(db, (self.tree.code_by_id[originator_key(event)],))
        assert org is not None
        org.update(status="dissolved", successor_code=event.successor_code,
                   dissolved_on=event.on.isoformat())
        self.organizations.touch(org)
