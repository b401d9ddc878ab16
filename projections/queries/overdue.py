"""The overdue list (pocket members) as of a day, for an organization's subtree or one
member: letters overdue, receipts and certificates not returned, members inactive over the
last six full months, and people waiting (projections/cases.py). A smaller subtree is read
whole, starting from the subtree (`_overdue_narrow`); a department's, from the open cases
(overdue_wide.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.calendar import check_day
from domain.errors import ValidationError
from domain.vocabulary import RECEIPT_DUE_DAYS
from projections.cases import waiting_statements
from projections.queries.overdue_kinds import OVERDUE_KINDS, WAITING_KINDS, inactive_window, overdue_order
from projections.queries.overdue_wide import OverdueWide
from projections.sql import (
    EMPTY,
    Sql,
    certificate_not_closed,
    in_subtree,
    marks,
    nearest_committee,
    transfers_of,
    valid_until_on,
)


class Overdue(OverdueWide):
    def overdue(
        self, code: str, on: date, kind: str | None = None, limit: int = 1000, offset: int = 0,
        member: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Pocket-member detection as of `on`, for an organization's subtree: rows whose
        organization or whose responsible organization is in it, most overdue first (then
        by kind, member and reference); one page and the number of rows in all."""
        check_day(on, "on")
        if kind is not None and kind not in OVERDUE_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(OVERDUE_KINDS)}")
        kinds: list[str] = [kind] if kind else list(OVERDUE_KINDS)
        organization = self.organization(code)
        waiting = [k for k in kinds if k in WAITING_KINDS]
        if waiting:
            # People waiting (few rows), merged with the first `offset + limit` of the rest.
            more = [row for k, statement, days in waiting_statements(code, on, waiting, member)
                    for row in self._rows(k, statement, on, due_after_days=days)]
            rest = [k for k in kinds if k not in WAITING_KINDS]
            rows, total = self._overdue_kinds(organization, on, rest, offset + limit, 0, member) \
                if rest else ([], 0)
            merged = sorted(rows + more, key=overdue_order)
            return merged[offset:offset + limit], total + len(more)
        return self._overdue_kinds(organization, on, kinds, limit, offset, member)

    def member_flags(self, registration_no: str, on: date) -> tuple[set[str], int]:
        """The overdue kinds that name this member as of `on`; and how many rows."""
        rows = self.db.query(
            "SELECT ancestor FROM proj_org_closure WHERE descendant = "
            "(SELECT organization_code FROM proj_members WHERE registration_no = ?) ORDER BY depth DESC LIMIT 1",
            (registration_no,))
        if not rows:
            return set(), 0
        found, count = self.overdue(rows[0][0], on, member=registration_no)
        return {r["kind"] for r in found}, count

    def _overdue_kinds(self, organization: dict[str, Any], on: date, kinds: list[str], limit: int, offset: int,
                       member: str | None) -> tuple[list[dict[str, Any]], int]:
        code = organization["code"]
        if member is None and organization["kind"] == "department":
            # A department's subtree holds most rows: each kind is counted, sorted and cut
            # to the page in SQL from the open cases' indexes; names only for the page.
            return self._overdue_wide(organization, on, kinds, limit, offset)
        rows = self._overdue_narrow(code, on, kinds, member)
        rows.sort(key=overdue_order)
        return rows[offset:offset + limit], len(rows)

    def _overdue_narrow(self, code: str, on: date, kinds: list[str], member: str | None) -> list[dict[str, Any]]:
        """Every row of a smaller subtree, starting from the subtree; or of one member,
        starting from the member."""

        def transfer_in_subtree(*columns: str) -> Sql:
            if member:
                return Sql.join(" OR ", (in_subtree("t." + c, code) for c in columns)).wrap("(", ")")
            return Sql.join(" UNION ", (transfers_of(c, code) for c in columns)).wrap("t.transfer_id IN (", ")")

        rows: list[dict[str, Any]] = []
        day = on.isoformat()

        def only(alias: str) -> Sql:
            return Sql(" AND " + alias + ".registration_no = ?", member) if member else EMPTY

        if "overdue_letter" in kinds:
            rows += self._rows("overdue_letter", (
                "SELECT t.registration_no, m.name, t.from_organization_code, t.letter_no, " + valid_until_on(day)
                + ", t.sending_committee_code FROM proj_transfers t JOIN proj_members m "
                + Sql("ON m.registration_no = t.registration_no WHERE t.issued_on <= ? AND ", day) + valid_until_on(day)
                + Sql(" < ? AND (t.received_on IS NULL OR t.received_on > ?) "
                      "AND (t.closed_on IS NULL OR t.closed_on > ?) AND ", day, day, day)
                + transfer_in_subtree("from_organization_code", "sending_committee_code", "to_organization_code")
                + only("t")
            ), on)
        if "unreturned_receipt" in kinds:
            cutoff = (on - timedelta(days=RECEIPT_DUE_DAYS)).isoformat()
            rows += self._rows("unreturned_receipt", (
                Sql("SELECT t.registration_no, m.name, t.from_organization_code, t.letter_no, t.received_on, "
                    "t.receiving_committee_code FROM proj_transfers t JOIN proj_members m "
                    "ON m.registration_no = t.registration_no WHERE t.received_on < ? "
                    "AND (t.receipt_returned_on IS NULL OR t.receipt_returned_on > ?) AND ", cutoff, day)
                + transfer_in_subtree("from_organization_code", "received_in_code", "receiving_committee_code")
                + only("t")
            ), on, due_after_days=RECEIPT_DUE_DAYS)
        if "unreturned_certificate" in kinds:
            rows += self._rows("unreturned_certificate", (
                "SELECT c.registration_no, m.name, c.home_organization_code, c.certificate_no, c.valid_until, "
                + nearest_committee("c.home_organization_code")
                + Sql(" FROM proj_certificates c JOIN proj_members m ON m.registration_no = c.registration_no "
                      "WHERE c.issued_on <= ? AND c.valid_until < ? "
                      "AND (c.returned_on IS NULL OR c.returned_on > ?) AND ", day, day, day)
                + certificate_not_closed(day) + " AND " + in_subtree("c.home_organization_code", code) + only("c")
            ), on)
        if "inactive_6m" in kinds:
            rows += self._inactive(code, on, member)
        return rows

    def _rows(self, kind: str, statement: Sql, on: date, due_after_days: int = 0) -> list[dict[str, Any]]:
        found = []
        for registration_no, name, org, reference, due, responsible in self._query(statement):
            due_on = date.fromisoformat(due) + timedelta(days=due_after_days)
            found.append({
                "kind": kind, "registration_no": registration_no, "name": name,
                "organization_code": org, "reference": reference, "due_on": due_on.isoformat(),
                "days_overdue": (on - due_on).days, "responsible_organization_code": responsible,
            })
        return found

    def _inactive(self, code: str, on: date, member: str | None = None) -> list[dict[str, Any]]:
        """Held members of a smaller subtree (or one member) with neither org life nor dues
        in each of the last 6 full months, who were in the ledger for all of them. The
        ledger flags; it removes no one."""
        window = inactive_window(on)
        day = on.isoformat()
        rows = self._query(
            "SELECT m.registration_no, m.name, s.organization_code, l.last_activity_on "
            "FROM proj_stints s JOIN proj_members m ON m.registration_no = s.registration_no "
            "JOIN proj_last_activity l ON l.registration_no = s.registration_no WHERE "
            + in_subtree("s.organization_code", code)
            + Sql(" AND s.kind = 'held' AND s.from_on <= ? AND (s.to_on IS NULL OR s.to_on > ?) "
                  "AND m.enrolled_on <= ? ", day, day, window.start)
            + "AND NOT EXISTS (SELECT 1 FROM proj_activity a WHERE a.registration_no = m.registration_no "
            + "AND a.month IN (" + marks(window.months) + ") AND (a.org_life > 0 OR a.dues > 0))"
            + (Sql(" AND m.registration_no = ?", member) if member else EMPTY)
        )
        due_on = window.due_on
        return [{
            "kind": "inactive_6m", "registration_no": no, "name": name, "organization_code": org,
            "reference": last, "due_on": due_on.isoformat(), "days_overdue": (on - due_on).days,
            "responsible_organization_code": org,
        } for no, name, org, last in rows]
