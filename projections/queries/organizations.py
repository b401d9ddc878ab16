"""The tree as users see it: an organization's subtree (with each node's figures), the
organizations a letter may be addressed to, and names by code."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from domain.calendar import check_day, month_text
from projections.queries.base import Reads
from projections.sql import Sql, like, marks

NAMES_A_QUERY = 500  # keys in one IN list


class Organizations(Reads):
    def targets_named(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Active organizations a letter may be addressed to (any kind but a department)
        whose name contains `text` or whose code begins with it, by name: for a member
        choosing where to go (organization codes and names are no secret)."""
        statement = (Sql("SELECT code, name, kind FROM proj_organizations WHERE status = 'active' "
                         "AND kind <> 'department' AND (") + like("name", text) + " OR "
                     + like("code", text, anywhere=False) + Sql(") ORDER BY name, code LIMIT ?", limit))
        rows = self._query(statement)
        return [dict(zip(("code", "name", "kind"), row, strict=True)) for row in rows]

    def subtree(self, code: str, depth: int | None = None) -> list[dict[str, Any]]:
        """An organization's subtree (down to `depth` levels below it, or all of it) in
        depth-first order: code, name, kind, parent_code, status, depth."""
        self.organization(code)
        statement = Sql(
            "SELECT o.code, o.name, o.kind, o.parent_code, o.status, c.depth FROM proj_org_closure c "
            "JOIN proj_organizations o ON o.code = c.descendant WHERE c.ancestor = ? ", code)
        if depth is not None:
            statement += Sql("AND c.depth <= ? ", depth)
        rows = self._query(statement + "ORDER BY c.depth, o.code")
        children: dict[str | None, list[tuple[Any, ...]]] = {}
        for row in rows:
            children.setdefault(row[3], []).append(row)
        ordered: list[dict[str, Any]] = []

        def visit(row: tuple[Any, ...]) -> None:
            ordered.append({"code": row[0], "name": row[1], "kind": row[2], "parent_code": row[3],
                            "status": row[4], "depth": int(row[5])})
            for child in children.get(row[0], []):
                visit(child)

        visit(rows[0])
        return ordered

    def organization_tree(self, code: str, on: date, depth: int | None = None) -> list[dict[str, Any]]:
        """`subtree()`, each node with the members of record in its subtree (held there,
        and in transit from it) and its letters overdue on `on`. The member counts are the
        running stock figures of the monthly reports, so a province's root costs no more
        than a branch."""
        check_day(on, "on")
        nodes = self.subtree(code, depth)
        by_code = {n["code"]: n for n in nodes}
        for node in nodes:
            node.update(held=0, in_transit=0, overdue=0)
        codes = list(by_code)
        month = month_text(on)
        for start in range(0, len(codes), NAMES_A_QUERY):  # bounded IN lists
            part = codes[start:start + NAMES_A_QUERY]
            for org, figure, value in self._query(
                "SELECT organization_code, figure, SUM(value) FROM proj_counts WHERE organization_code IN ("
                + marks(part) + Sql(") AND month <= ? AND figure IN ('net', 'in_transit') "
                                    "GROUP BY organization_code, figure", month)
            ):
                by_code[org]["in_transit" if figure == "in_transit" else "held"] += int(value or 0)
            for org, n in self._query(
                Sql("SELECT c.ancestor, COUNT(*) FROM proj_transfers t JOIN proj_org_closure c "
                    "ON c.descendant = t.from_organization_code WHERE t.status = 'issued' AND t.valid_until < ? "
                    "AND c.ancestor IN (", on.isoformat()) + marks(part) + ") GROUP BY c.ancestor"
            ):
                by_code[org]["overdue"] = int(n)
        for node in nodes:  # "net" is everyone of record: those held are net - in transit
            node["held"] -= node["in_transit"]
        return nodes

    def organization_names(self, codes: Iterable[str | None]) -> dict[str, str]:
        """The names of organizations by code (codes the ledger doesn't know are left out)."""
        return self._names("SELECT code, name FROM proj_organizations WHERE code IN (", codes)

    def member_names(self, registration_nos: Iterable[str | None]) -> dict[str, str]:
        """The names of members by registration number."""
        return self._names("SELECT registration_no, name FROM proj_members WHERE registration_no IN (",
                           registration_nos)

    def _names(self, head: str, keys: Iterable[str | None]) -> dict[str, str]:
        """(key, name) rows of `head` (a constant ending in an open IN list) for the keys
        given, NAMES_A_QUERY a query."""
        wanted = sorted({k for k in keys if k})
        names: dict[str, str] = {}
        for start in range(0, len(wanted), NAMES_A_QUERY):
            names.update(self._query(head + marks(wanted[start:start + NAMES_A_QUERY]) + ")"))
        return names
