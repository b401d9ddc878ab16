"""Read model of first-responder cases (首问责任制, seed 003): who asked which organization
for a home, since when, and how the case ended; for the case lists, the overdue list's
`open_case` rows and the monthly report's open cases.

Table: proj_cases (one row a case).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import singledispatchmethod
from typing import Any

from domain.case import Case
from domain.vocabulary import BOUNCED_AFTER, CASE_OVERDUE_AFTER_DAYS, STALE_REQUEST_AFTER_DAYS
from projections.db import ViewDatabase
from projections.sql import EMPTY, Sql, in_subtree, name, names, subtree_as_of
from projections.tables import Table, originator_key

CASES = Table(
    "proj_cases",
    ["case_id", "organization_code", "name", "registration_no", "request", "opened_on", "status", "outcome",
     "note", "closed_on"],
    ["case_id"],
    ["CREATE TABLE IF NOT EXISTS proj_cases (case_id TEXT PRIMARY KEY, organization_code TEXT NOT NULL, "
     "name TEXT NOT NULL, registration_no TEXT, request TEXT NOT NULL, opened_on TEXT NOT NULL, "
     "status TEXT NOT NULL, outcome TEXT, note TEXT, closed_on TEXT)",
     "CREATE INDEX IF NOT EXISTS proj_cases_org ON proj_cases (organization_code, status, opened_on)",
     # cases still open on a date: not closed by then (never, or later), by the day opened
     "CREATE INDEX IF NOT EXISTS proj_cases_open ON proj_cases (closed_on, opened_on)"],
)


class CasesView:
    def __init__(self) -> None:
        self.cases = CASES.fresh()
        self.tables = (self.cases,)

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Case.Opened, position: int, db: ViewDatabase) -> None:
        self.cases.put({
            "case_id": originator_key(event), "organization_code": event.organization_code,
            "name": event.name, "registration_no": event.registration_no, "request": event.request,
            "opened_on": event.on.isoformat(), "status": "open", "outcome": None, "note": None,
            "closed_on": None,
        }, new=True)

    @apply.register
    def _(self, event: Case.Closed, position: int, db: ViewDatabase) -> None:
        row = self.cases.originator_row(db, event)
        assert row is not None, f"no case row for {event.originator_id}"
        row.update(status="closed", outcome=event.outcome, note=event.note, closed_on=event.on.isoformat())
        if event.registration_no is not None:
            row["registration_no"] = event.registration_no
        self.cases.touch(row)


# --- what the cases answer (used by projections/queries/) -----------------------------------

CASE_COLUMNS = ("case_id", "organization_code", "name", "registration_no", "request", "opened_on", "status",
                "outcome", "note", "closed_on")
STALE_COLUMNS = ("t.transfer_id", "t.registration_no", "t.from_organization_code", "t.sending_committee_code",
                 "t.requested_on")


def still_requested(columns: Sequence[str], cutoff: str, day: str) -> Sql:
    """The transfers (their `columns`, a transfer row aliased `t`) requested before `cutoff`
    and still neither issued nor closed on `day`: three ranges of the (issued_on, closed_on,
    requested_on) index."""
    select = "SELECT " + names(columns) + " FROM proj_transfers t WHERE "
    return Sql.join(" UNION ALL ", (
        Sql(select + "t.issued_on IS NULL AND t.closed_on IS NULL AND t.requested_on < ?", cutoff),
        Sql(select + "t.issued_on IS NULL AND t.closed_on > ? AND t.requested_on < ?", day, cutoff),
        Sql(select + "t.issued_on > ? AND t.requested_on < ?", day, cutoff),
    ))


def case_rows(db: ViewDatabase, code: str, status: str | None, on: date, limit: int,
              offset: int, as_of: bool = False) -> tuple[list[dict[str, Any]], int]:
    """The cases owned in an organization's subtree (oldest open first), with days open as
    of `on` (to the day closed, for a closed one), and how many in all. With `as_of`, the
    subtree's cases as they stood on `on`: those opened by then, closed only if closed by
    then (a case closed later is open, without its outcome, note or day closed); else every
    case as it stands."""
    day = on.isoformat()
    where = " WHERE " + in_subtree("organization_code", code)
    if not as_of:
        where += Sql(" AND status = ?", status) if status else EMPTY
        order = Sql(" ORDER BY status DESC, opened_on, case_id")
    else:
        where += Sql(" AND opened_on <= ?", day) + {
            None: EMPTY, "open": Sql(" AND (closed_on IS NULL OR closed_on > ?)", day),
            "closed": Sql(" AND closed_on <= ?", day)}[status]
        order = Sql(" ORDER BY CASE WHEN closed_on <= ? THEN 1 ELSE 0 END, opened_on, case_id", day)
    count = "SELECT COUNT(*) FROM proj_cases" + where
    select = ("SELECT " + names(CASE_COLUMNS) + " FROM proj_cases") + where + order + Sql(
        " LIMIT ? OFFSET ?", limit, offset)
    total = db.scalar(count.text, count.params)
    found = []
    for row in db.query(select.text, select.params):
        case = dict(zip(CASE_COLUMNS, row, strict=True))
        if as_of and case["closed_on"] and case["closed_on"] > day:  # closed after `on`: open then
            case.update(status="open", outcome=None, note=None, closed_on=None)
        end = date.fromisoformat(case["closed_on"]) if case["closed_on"] else on
        case["days_open"] = (end - date.fromisoformat(case["opened_on"])).days
        found.append(case)
    return found, int(total or 0)


def waiting_statements(code: str, on: date, kinds: list[str], member: str | None) -> list[tuple[str, Sql, int]]:
    """The statements of the overdue list's waiting kinds (kind, statement, days the wait
    may last), each giving (registration_no, name, organization, reference, day the wait
    began, responsible):
    `stale_request` (a request neither issued nor declined within 30 days; the sending
    committee acts on it) and `open_case` (a first-responder case open more than 30 days;
    its organization owns it)."""
    day = on.isoformat()

    def of_member(column: str) -> Sql:
        return Sql(" AND " + name(column) + " = ?", member) if member else EMPTY

    found = []
    if "stale_request" in kinds:
        cutoff = (on - timedelta(days=STALE_REQUEST_AFTER_DAYS)).isoformat()
        found.append(("stale_request", (
            "SELECT r.registration_no, m.name, r.from_organization_code, r.transfer_id, r.requested_on, "
            "r.sending_committee_code FROM (" + still_requested(STALE_COLUMNS, cutoff, day) + Sql(
                ") r JOIN proj_members m ON m.registration_no = r.registration_no WHERE EXISTS (SELECT 1 FROM "
                "proj_org_closure k WHERE k.ancestor = ? AND k.descendant IN (r.from_organization_code, "
                "r.sending_committee_code))", code) + of_member("r.registration_no")
        ), STALE_REQUEST_AFTER_DAYS))
    if "open_case" in kinds:
        cutoff = (on - timedelta(days=CASE_OVERDUE_AFTER_DAYS)).isoformat()
        found.append(("open_case", (
            Sql("SELECT c.registration_no, c.name, c.organization_code, c.case_id, c.opened_on, c.organization_code "
                "FROM proj_cases c WHERE c.opened_on < ? AND (c.closed_on IS NULL OR c.closed_on > ?) AND ",
                cutoff, day) + in_subtree("c.organization_code", code) + of_member("c.registration_no")
        ), CASE_OVERDUE_AFTER_DAYS))
    return found


def bounced(db: ViewDatabase, registration_no: str, on: date) -> bool:
    """Whether the member's transfers were declined or rejected twice or more by `on`."""
    return int(db.scalar(
        "SELECT COUNT(*) FROM proj_transfers WHERE registration_no = ? AND status IN ('declined', 'rejected') "
        "AND closed_on <= ?", (registration_no, on.isoformat())) or 0) >= BOUNCED_AFTER


def report_waiting(db: ViewDatabase, code: str, first: date, last: date) -> dict[str, int]:
    """The monthly report's lines on people waiting for a home: cases open at the month's
    end, opened and closed in the month (placed among them), and the members of record in
    the subtree at the month's end whose transfers were declined or rejected twice or more."""
    start, end = first.isoformat(), last.isoformat()
    # The subtree as it stood at the month's end, as the closing counts it: a later move
    # changes no month already over (a filed month stays as filed).
    cases = subtree_as_of(code, end) + Sql(
        "SELECT COALESCE(SUM(CASE WHEN opened_on >= ? AND opened_on <= ? THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN closed_on >= ? AND closed_on <= ? THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN closed_on >= ? AND closed_on <= ? AND outcome = 'placed' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN opened_on <= ? AND (closed_on IS NULL OR closed_on > ?) THEN 1 ELSE 0 END), 0) "
        "FROM proj_cases WHERE organization_code IN (SELECT code FROM sub)",
        start, end, start, end, start, end, end, end)
    opened, closed, placed, still_open = db.query(cases.text, cases.params)[0]
    # From the few bounced members (by the transfers' status index), to their stint at the
    # month's end, in the subtree as it stood then.
    members = subtree_as_of(code, end) + Sql(
        "SELECT COUNT(*) FROM (SELECT registration_no FROM proj_transfers WHERE status IN ('declined', 'rejected') "
        "AND closed_on <= ? GROUP BY registration_no HAVING COUNT(*) >= ?) b WHERE EXISTS (SELECT 1 FROM "
        "proj_stints s WHERE s.registration_no = b.registration_no AND s.organization_code IN (SELECT code FROM sub) "
        "AND s.from_on <= ? AND (s.to_on IS NULL OR s.to_on > ?))", end, BOUNCED_AFTER, end, end)
    bounced_members = db.scalar(members.text, members.params)
    return {"open_cases": int(still_open), "cases_opened": int(opened), "cases_closed": int(closed),
            "cases_placed": int(placed), "bounced_members": int(bounced_members or 0)}
