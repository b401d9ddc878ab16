"""Who is where: rosters (now, and as of any past date), where a member was ever held,
a member's history entries, and the operators of a subtree."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.calendar import check_day
from domain.text import search_forms
from projections.db import Row
from projections.queries.base import Reads
from projections.sql import EMPTY, Sql, in_subtree, like, marks, subtree_as_of

ROSTER_COLUMNS = ("registration_no", "name", "status", "organization_code", "since", "place")
OPERATOR_COLUMNS = ("operator_id", "name", "role", "organization_code", "active", "granted_on", "revoked_on")


class Rosters(Reads):
    def roster(
        self, code: str, as_of: date | None = None, subtree: bool = False,
        include_in_transit: bool = False, limit: int = 100, offset: int = 0,
        search: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Members of an organization (or its subtree) now, or as of a past date. An
        in-transit member appears, when asked, at the sending organization."""
        check_day(as_of, "as_of")
        self.organization(code)
        kinds = marks(("held", "in_transit") if include_in_transit else ("held",))
        forms = search_forms(search) if search else []  # as names are kept (NFC but CJK compatibility ideographs)
        found = (Sql(" AND (") + Sql.join(" OR ", (like("m.name", form) for form in forms))
                 + " OR " + like("m.registration_no", forms[0].upper(), anywhere=False) + ")") if forms else EMPTY
        page = Sql(" LIMIT ? OFFSET ?", limit, offset)
        if as_of is None:
            base = ("FROM proj_members m WHERE "
                    + (in_subtree("m.organization_code", code) if subtree else Sql("m.organization_code = ?", code))
                    + " AND m.place IN (" + kinds + ")" + found)
            count = self._scalar("SELECT COUNT(*) " + base)
            rows = self._query("SELECT m.registration_no, m.name, m.status, m.organization_code, m.since, m.place "
                               + base + " ORDER BY m.organization_code, m.registration_no" + page)
        else:
            day = as_of.isoformat()
            prefix = subtree_as_of(code, day) if subtree else EMPTY
            base = ("FROM proj_stints s JOIN proj_members m ON m.registration_no = s.registration_no "
                    "WHERE s.organization_code " + (Sql("IN (SELECT code FROM sub)") if subtree else Sql("= ?", code))
                    + Sql(" AND s.from_on <= ? AND (s.to_on IS NULL OR s.to_on > ?)", day, day)
                    + " AND s.kind IN (" + kinds + ")" + found)
            status = Sql("CASE WHEN m.status = 'full' AND (m.confirmed_on IS NULL OR m.confirmed_on <= ?) "
                         "THEN 'full' ELSE 'probationary' END", day)
            count = self._scalar(prefix + "SELECT COUNT(*) " + base)
            # `|| ''`: the same order, which no index gives, so that PostgreSQL joins from the
            # subtree's organizations instead of walking every stint in index order.
            rows = self._query(prefix + "SELECT m.registration_no, m.name, " + status
                               + ", s.organization_code, s.since, s.kind " + base
                               + " ORDER BY s.organization_code || '', m.registration_no" + page)
        return [dict(zip(ROSTER_COLUMNS, row, strict=True)) for row in rows], int(count or 0)

    def ever_held_within(self, registration_no: str, code: str) -> bool:
        """Whether the member was ever held (or in transit) in the organization's subtree."""
        return bool(self.db.scalar(
            "SELECT COUNT(*) FROM proj_stints s JOIN proj_org_closure c ON c.descendant = s.organization_code "
            "WHERE s.registration_no = ? AND c.ancestor = ?", (registration_no, code),
        ))

    def history_entries(self, registration_no: str, limit: int = 1000,
                        offset: int = 0) -> tuple[list[Row], int]:
        """A page of the member's events, oldest first, as (position, aggregate id,
        version), and how many there are in all."""
        count = self.db.scalar("SELECT COUNT(*) FROM proj_history WHERE registration_no = ?", (registration_no,))
        rows = self.db.query(
            "SELECT position, aggregate_id, version FROM proj_history WHERE registration_no = ? "
            "ORDER BY position LIMIT ? OFFSET ?", (registration_no, limit, offset),
        )
        return rows, int(count or 0)

    def operators(self, code: str, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The operators of an organization's subtree, by organization and name."""
        where = " FROM proj_operators WHERE " + in_subtree("organization_code", code)
        count = self._scalar("SELECT COUNT(*)" + where)
        rows = self._query("SELECT " + ", ".join(OPERATOR_COLUMNS) + where
                           + Sql(" ORDER BY organization_code, name, operator_id LIMIT ? OFFSET ?", limit, offset))
        data = [dict(zip(OPERATOR_COLUMNS, row, strict=True)) for row in rows]
        for row in data:
            row["active"] = bool(row["active"])
        return data, int(count or 0)
