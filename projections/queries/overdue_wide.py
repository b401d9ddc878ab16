"""The overdue list of a large subtree (a department's, a root's): each kind counted, sorted
and cut to the page in SQL from the open cases' indexes; names only for the page."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import date, timedelta
from typing import Any, NamedTuple

from domain.vocabulary import RECEIPT_DUE_DAYS
from projections.db import ViewDatabase
from projections.queries.base import Reads
from projections.queries.overdue_kinds import inactive_window, overdue_key
from projections.sql import (
    EMPTY,
    Sql,
    certificate_not_closed,
    marks,
    name,
    nearest_committee,
    one_of,
    outside_other_roots,
    still_open_letters,
    table_of,
    valid_until_on,
)

# The columns of a letter still open that its row is made of.
OPEN_LETTER_COLUMNS = ("transfer_id", "registration_no", "from_organization_code", "sending_committee_code",
                       "letter_no", "first_valid_until", "to_organization_code")
LETTER_ROW = ("SELECT t.registration_no, t.from_organization_code AS organization_code, t.letter_no AS reference, ")
LETTER_ROW_REST = (" AS due, t.sending_committee_code AS responsible, t.to_organization_code AS target FROM (")
RECEIPT_ROW = ("SELECT registration_no, from_organization_code AS organization_code, letter_no AS reference, "
               "received_on AS due, receiving_committee_code AS responsible, received_in_code FROM proj_transfers ")
CERTIFICATE_ROW = ("SELECT registration_no, home_organization_code AS organization_code, "
                   "certificate_no AS reference, valid_until AS due, NULL AS responsible FROM proj_certificates ")
INACTIVE_ROW = ("SELECT l.registration_no, l.held_org AS organization_code, l.last_activity_on AS reference "
                "FROM proj_last_activity l WHERE ")
MOVED_ROW = ("SELECT l.registration_no, s.organization_code, l.last_activity_on FROM proj_last_activity l "
             "CROSS JOIN proj_stints s WHERE ")


class Found(NamedTuple):
    """One kind of the overdue list: rows (their key in the list's order, then reference,
    organization, responsible), how many there are in all, and, when the rows were cut
    short, the due day of the last."""

    rows: list[tuple[tuple[str, str, str, str], Any, Any, Any]]
    total: int
    last_due: str | None


class OverdueWide(Reads):
    def _sole_root(self, organization: dict[str, Any]) -> bool:
        """Whether the organization is the ledger's only root: its subtree is everything."""
        return organization["parent_code"] is None and int(self.db.scalar(
            "SELECT COUNT(*) FROM proj_organizations WHERE parent_code IS NULL") or 0) == 1

    def _overdue_wide(self, organization: dict[str, Any], on: date, kinds: list[str], limit: int,
                      offset: int) -> tuple[list[dict[str, Any]], int]:
        """The overdue list of a large subtree. Each kind is one statement that finds its
        rows from the open cases only (letters not received or closed, receipts and
        certificates not returned or closed, members inactive over the window), by index,
        counts them and returns the first `offset + limit` in the list's order; the pages
        are merged here, and the names (and a certificate's responsible committee) are read
        for the rows of the page alone. The rows are those of `_overdue_narrow()`. On
        PostgreSQL, within a snapshot and with a spare connection free, the certificates
        and the inactive members are read on it meanwhile, from the same snapshot."""
        code, day = organization["code"], on.isoformat()
        everything = self._sole_root(organization)
        root = organization["parent_code"] is None
        cut = max(1, min(offset + limit, sys.maxsize))  # one row at least, for the count

        def within(*columns: str) -> Sql:
            """The rows with an organization (of `columns`) in the subtree: for a root, those
            not all in the other roots' subtrees (a short list); else EXISTS, a filter on the
            rows found, never a way in (an IN list of a large subtree would lead SQLite to
            start from the subtree's organizations)."""
            if everything:
                return EMPTY
            if root:
                return " AND (" + Sql.join(" OR ", (outside_other_roots("x." + c, code) for c in columns)) + ")"
            return (Sql(" AND EXISTS (SELECT 1 FROM proj_org_closure k WHERE k.ancestor = ? AND k.descendant IN (",
                        code) + ", ".join(name("x." + c) for c in columns) + "))")

        def page(db: ViewDatabase, kind: str, statement: Sql, due_after_days: int = 0,
                 need: int | None = None) -> Found:
            """The kind's rows: their number, its first `need` (default `cut`) in the list's
            order, and, when that cut them short, the due day of the last (later rows are due
            then or after); with `need` 0 only their number (no sort)."""
            need = cut if need is None else need
            if need <= 0:
                return Found([], int(self._scalar(statement.wrap("SELECT COUNT(*) FROM (", ") x"), db) or 0), None)
            ordered = self._query(
                statement.wrap("SELECT x.registration_no, x.organization_code, x.reference, x.due, x.responsible, "
                               "COUNT(*) OVER () FROM (", ") x ORDER BY x.due, x.registration_no, x.reference")
                + Sql(" LIMIT ?", need), db,
            )
            # Rows as (their key in the list's order, the rest): only the page's become dicts.
            rows = []
            for registration_no, org, reference, due, responsible, _ in ordered:
                due_on = (date.fromisoformat(due) + timedelta(days=due_after_days)).isoformat() \
                    if due_after_days else due
                rows.append((overdue_key(due_on, kind, registration_no, reference), reference, org, responsible))
            return Found(rows, int(ordered[0][5]) if ordered else 0, rows[-1][0][0] if len(rows) == need else None)

        def letters(db: ViewDatabase) -> Found:
            # Letters still open on `on`, with the validity of that day. (The receiving
            # side's list shows the letters addressed into it too.)
            return page(db, "overdue_letter", (
                "SELECT x.* FROM (" + LETTER_ROW + valid_until_on(day) + LETTER_ROW_REST
                + still_open_letters(OPEN_LETTER_COLUMNS, day) + Sql(") t) x WHERE x.due < ?", day)
                + within("organization_code", "responsible", "target")
            ))

        def receipts(db: ViewDatabase) -> Found:
            cutoff = (on - timedelta(days=RECEIPT_DUE_DAYS)).isoformat()
            return page(db, "unreturned_receipt", (
                Sql("SELECT x.* FROM (" + RECEIPT_ROW + "WHERE receipt_returned_on IS NULL AND received_on < ? "
                    "UNION ALL " + RECEIPT_ROW + "WHERE receipt_returned_on > ? AND received_on < ?) x WHERE 1 = 1",
                    cutoff, day, cutoff)
                + within("organization_code", "received_in_code", "responsible")
            ), due_after_days=RECEIPT_DUE_DAYS)

        def certificates(db: ViewDatabase) -> Found:
            return page(db, "unreturned_certificate", (
                Sql("SELECT x.* FROM (" + CERTIFICATE_ROW + "c WHERE returned_on IS NULL "
                    "AND valid_until < ? AND issued_on <= ? AND ", day, day) + certificate_not_closed(day)
                + Sql(" UNION ALL " + CERTIFICATE_ROW + "WHERE returned_on > ? AND valid_until < ? "
                      "AND issued_on <= ?) x WHERE 1 = 1", day, day, day)
                + within("organization_code")
            ))

        window = inactive_window(on)
        due = window.due_on.isoformat()  # every inactive row's due day

        def inactive(db: ViewDatabase, need: int) -> Found:
            first, final, start = window.months[0], window.months[-1], window.start
            idle = ("NOT EXISTS (SELECT 1 FROM proj_activity a WHERE a.registration_no = l.registration_no "
                    "AND a.month IN (" + marks(window.months) + ") AND (a.org_life > 0 OR a.dues > 0))")
            held_on = Sql("s.registration_no = l.registration_no AND s.kind = 'held' AND s.from_on <= ? "
                          "AND (s.to_on IS NULL OR s.to_on > ?) AND l.enrolled_on <= ? AND ", day, day, start) + idle
            return page(db, "inactive_6m", (
                # Held now, since `on` at the latest. With no active month in the window, the
                # latest active month up to the window's end is before it: that is the last
                # active month (before the window), or, when the last is after the window, the
                # one before it, which then began a quiet spell of more than 6 months. Both
                # after the window (a day in the past): check the window. (COALESCE keeps
                # SQLite, without statistics, off the indexes that would not narrow the search.)
                Sql("SELECT x.*, ? AS due, x.organization_code AS responsible FROM (", due)
                + Sql(INACTIVE_ROW + "l.held_to IS NULL AND l.last_month < ? "
                      "AND COALESCE(l.held_from, '') <= ? AND l.enrolled_on <= ?", first, day, start)
                # (quiet since entering the ledger, '', most members: by their last active month)
                + Sql(" UNION ALL " + INACTIVE_ROW + "l.held_to IS NULL AND l.quiet_from IS NOT NULL "
                      "AND l.quiet_from = '' AND l.last_month > ? AND COALESCE(l.held_from, '') <= ? "
                      "AND l.enrolled_on <= ?", final, day, start)
                + Sql(" UNION ALL " + INACTIVE_ROW + "l.held_to IS NULL AND l.quiet_from IS NOT NULL "
                      "AND l.quiet_from > '' AND l.quiet_from < ? AND COALESCE(l.last_month, '') > ? "
                      "AND COALESCE(l.held_from, '') <= ? AND l.enrolled_on <= ?", first, final, day, start)
                + Sql(" UNION ALL " + INACTIVE_ROW + "l.held_to IS NULL AND l.previous_month > ? "
                      "AND COALESCE(l.held_from, '') <= ? AND l.enrolled_on <= ? AND ", final, day, start) + idle
                # Held on `on` but not now, or held now by a stint begun after `on`: the few
                # who moved after it, through their stints (CROSS JOIN: SQLite keeps this order).
                + Sql(" UNION ALL " + MOVED_ROW + "l.held_to > ? AND ", day) + held_on
                + Sql(" UNION ALL " + MOVED_ROW + "l.held_to IS NULL AND l.held_from > ? AND ", day) + held_on
                + ") x WHERE 1 = 1" + within("organization_code")
            ), need=need)

        def aside(db: ViewDatabase) -> tuple[list[Found], Found | None]:
            # The certificates, and the number of inactive members: read beside the letters.
            return ([certificates(db)] if "unreturned_certificate" in kinds else [],
                    inactive(db, 0) if "inactive_6m" in kinds else None)

        with self._beside(aside) as other:
            parts = [*([letters(self.db)] if "overdue_letter" in kinds else []),
                     *([receipts(self.db)] if "unreturned_receipt" in kinds else [])]
            more, counted = other()
        parts += more
        if counted is not None:
            # The inactive rows sort before the other kinds' rows due on `due` ('inactive_6m'
            # comes first), after those due earlier. They were only counted: read the ones the
            # page reaches, none when one kind alone fills the page with rows due earlier.
            before = sum(1 for part in parts for row in part.rows if row[0][0] < due)
            cut_short = any(part.last_due is not None and part.last_due < due for part in parts)
            need = 0 if cut_short else max(0, cut - before)
            parts.append(inactive(self.db, need) if need else counted)
        found = sorted((row for part in parts for row in part.rows), key=lambda row: row[0])
        rows = [{
            "kind": kind, "registration_no": registration_no, "name": None, "organization_code": org,
            "reference": reference, "due_on": due_on, "days_overdue": (on - date.fromisoformat(due_on)).days,
            "responsible_organization_code": responsible,
        } for (due_on, kind, registration_no, _), reference, org, responsible in found[offset:offset + limit]]
        self._fill_page(rows)
        return rows, sum(part.total for part in parts)

    def _fill_page(self, rows: list[dict[str, Any]]) -> None:
        """Names, and the committee responsible for an unreturned certificate, of a page
        (the latter beside the former, as in `_overdue_wide()`)."""
        numbers = sorted({r["registration_no"] for r in rows})
        homes = sorted({r["organization_code"] for r in rows if r["kind"] == "unreturned_certificate"})

        def chasing(db: ViewDatabase) -> dict[str, str | None]:
            return dict(self._query("SELECT h.value, " + nearest_committee("h.value") + " FROM "
                                    + table_of(db, homes), db))

        with self._beside(chasing) if homes else nullcontext(dict) as responsible:
            names: dict[str, str] = dict(self._query(
                "SELECT registration_no, name FROM proj_members WHERE " + one_of(self.db, "registration_no", numbers)
            )) if numbers else {}
            chased = responsible()
        for row in rows:
            row["name"] = names.get(row["registration_no"])
            if row["kind"] == "unreturned_certificate":
                row["responsible_organization_code"] = chased.get(row["organization_code"])
