"""What users ask of the views: rosters (now and as of any date), the locator, transfer
and certificate lists, the overdue list (pocket members) and the monthly and annual
reports of DOMAIN.md §8. Every query reads only the view tables.
"""

from __future__ import annotations

import logging
import sys
import threading
from calendar import monthrange
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date, timedelta
from typing import Any, NamedTuple, TypeVar

from domain.errors import NotFound, ValidationError
from domain.member import CATEGORIES, validate_month
from domain.transfer import NETWORK_STOPS, PAPER_STOPS, REASONS, RECEIPT_DUE_DAYS
from projections.cases import bounced, case_rows, report_waiting, waiting_statements
from projections.certificates import certificate_figures, certificate_rows, with_return_rate
from projections.db import ViewDatabase
from projections.figures import STOCKS
from projections.transfers import VALID_UNTIL_ON

log = logging.getLogger(__name__)
SUBTREE = "SELECT descendant FROM proj_org_closure WHERE ancestor = ?"
# Every organization outside a root's subtree: those of the other roots.
OTHER_ROOTS_SUBTREES = (
    "SELECT descendant FROM proj_org_closure WHERE ancestor IN "
    "(SELECT code FROM proj_organizations WHERE parent_code IS NULL AND code <> ?)"
)
# The subtree as it stood on a date, from the parent intervals. (Its root is read from a
# view table, not given as a parameter, so that both terms have the views' collation.)
SUBTREE_AS_OF = (
    "WITH RECURSIVE sub(code) AS (SELECT code FROM proj_organizations WHERE code = ? "
    "UNION SELECT t.code FROM proj_org_tree t "
    "JOIN sub ON t.parent_code = sub.code WHERE t.from_on <= ? AND (t.to_on IS NULL OR t.to_on > ?)) "
)
# The transfers whose organization in a column (a fixed name) is in a subtree, by that
# column's index: for a small subtree a union of these, not an OR of IN clauses, which
# scans every transfer.
TRANSFERS_OF = f"SELECT transfer_id FROM proj_transfers WHERE %s IN ({SUBTREE})"
ROUTES = ("within_committee", "within_county", "cross_county", "cross_province")
# The timely rate's breakdowns (seed 001): by the member's category, by route, and from
# inside versus outside the reporting organization's subtree.
TIMELY_GROUPS = {"category": CATEGORIES, "route": ROUTES, "side": ("internal", "external")}
LEFT_REASONS = ("expelled", "withdrew", "self_withdrawal")
OVERDUE_KINDS = ("overdue_letter", "unreturned_receipt", "unreturned_certificate", "inactive_6m",
                 "stale_request", "open_case")
# Kinds of people waiting for someone to act (projections/cases.py): few rows, read whole
# for any subtree and merged with the page of the other kinds.
WAITING_KINDS = ("stale_request", "open_case")
INACTIVE_MONTHS = 6
# The committee (or department) that chases a certificate (either kind): the nearest one above
# its member's home organization, for a certificate row aliased `c`.
CHASING_KINDS = "('committee', 'work_committee', 'service_center', 'department')"
RESPONSIBLE_FOR = (  # (of an organization: its column, or `h.value`)
    "(SELECT o.code FROM proj_org_closure k JOIN proj_organizations o ON o.code = k.ancestor "
    f"WHERE k.descendant = %s AND o.kind IN {CHASING_KINDS} ORDER BY k.depth LIMIT 1)"
)
RESPONSIBLE_FOR_HOME = RESPONSIBLE_FOR % "c.home_organization_code"
# A certificate (of either kind, row aliased `c`) not yet closed on a day (the `?`): one
# closed by a receipt elsewhere, a death or a leaving is no longer out, nor overdue.
CERTIFICATE_NOT_CLOSED = "(c.closed_on IS NULL OR c.closed_on > ?)"
T = TypeVar("T")


class Found(NamedTuple):
    """One kind of the overdue list: rows (their key in the list's order, then reference,
    organization, responsible), how many there are in all, and, when the rows were cut
    short, the due day of the last."""

    rows: list[tuple[tuple[str, str, str, str], Any, Any, Any]]
    total: int
    last_due: str | None


def overdue_key(due_on: str, kind: str, registration_no: str, reference: str | None) -> tuple[str, str, str, str]:
    """The overdue list's order: most overdue first (the earliest due day: one list is of
    one day), then kind, member and reference."""
    return (due_on, kind, registration_no, reference or "")


def overdue_order(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return overdue_key(row["due_on"], row["kind"], row["registration_no"] or "", row["reference"])


def check_day(day: date | None, field: str = "date") -> None:
    if day is not None and not 1900 <= day.year <= 2999:
        raise ValidationError(f"{field} must be between 1900 and 2999")


def month_bounds(month: str) -> tuple[date, date]:
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1), date(year, mon, monthrange(year, mon)[1])


def months_before(day: date, count: int) -> list[str]:
    """The `count` full months before `day`'s month, oldest first."""
    months, year, mon = [], day.year, day.month
    for _ in range(count):
        year, mon = (year, mon - 1) if mon > 1 else (year - 1, 12)
        months.append(f"{year:04d}-{mon:02d}")
    return months[::-1]


# A spare view connection, when one is free (else None), for work beside the main one.
Spare = Callable[[], AbstractContextManager[ViewDatabase | None]]
_helpers: ThreadPoolExecutor | None = None
_helpers_lock = threading.Lock()


def _helper_threads() -> ThreadPoolExecutor:
    global _helpers
    with _helpers_lock:
        if _helpers is None:
            _helpers = ThreadPoolExecutor(4, thread_name_prefix="view-reads")
        return _helpers


class Queries:
    def __init__(self, db: ViewDatabase, spare: Spare | None = None) -> None:
        self.db = db
        self.spare = spare

    @contextmanager
    def _beside(self, work: Callable[[ViewDatabase], T]) -> Iterator[Callable[[], T]]:
        """`work` started on a spare connection that reads the same snapshot as this one
        (PostgreSQL, inside `db.snapshot()`, when a spare is free), while this thread goes
        on; else run on this connection when its result is asked for. Yields the function
        that returns the result (never None); leaving the block waits for the work to end.
        Should the spare fail (no connection to be had, the snapshot gone), the work runs
        here."""
        here: Callable[[], T] = lambda: work(self.db)  # noqa: E731
        spare = self.spare
        snapshot = self.db.export_snapshot() if spare is not None else None
        if spare is None or snapshot is None:
            yield here
            return

        def run() -> T | None:
            with spare() as other:
                if other is None:  # none free
                    return None
                with other.shared(snapshot):
                    return work(other)

        future = _helper_threads().submit(run)

        def result() -> T:
            try:
                found = future.result()
            except Exception as error:  # e.g. the server's connection limit, the snapshot gone
                log.warning("a read on a spare view connection failed (%s): reading on one",
                            type(error).__name__)
                return here()
            return here() if found is None else found

        try:
            yield result
        finally:
            wait([future])

    # --- organizations -----------------------------------------------------------------

    def organization(self, code: str) -> dict[str, Any]:
        rows = self.db.query(
            "SELECT code, name, kind, parent_code, region, status, successor_code, registered_on, "
            "dissolved_on FROM proj_organizations WHERE code = ?", (code,),
        )
        if not rows:
            raise NotFound(f"organization {code!r} is not in the ledger")
        keys = ("code", "name", "kind", "parent_code", "region", "status", "successor_code",
                "registered_on", "dissolved_on")
        return dict(zip(keys, rows[0], strict=True))

    def targets_named(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Active organizations a letter may be addressed to (any kind but a department)
        whose name contains `text` or whose code begins with it, by name: for a member
        choosing where to go (organization codes and names are no secret)."""
        rows = self.db.query(
            "SELECT code, name, kind FROM proj_organizations WHERE status = 'active' AND kind <> 'department' "
            "AND (name LIKE ? OR code LIKE ?) ORDER BY name, code LIMIT ?", (f"%{text}%", f"{text}%", limit),
        )
        return [dict(zip(("code", "name", "kind"), row, strict=True)) for row in rows]

    def children(self, code: str) -> list[dict[str, Any]]:
        self.organization(code)
        rows = self.db.query(
            "SELECT code FROM proj_organizations WHERE parent_code = ? ORDER BY code", (code,)
        )
        return [self.organization(row[0]) for row in rows]

    def position(self) -> int:
        return int(self.db.scalar("SELECT position FROM proj_tracking WHERE name = 'views'") or 0)

    # --- rosters and the locator -------------------------------------------------------

    def roster(
        self, code: str, as_of: date | None = None, subtree: bool = False,
        include_in_transit: bool = False, limit: int = 100, offset: int = 0,
        search: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Members of an organization (or its subtree) now, or as of a past date. An
        in-transit member appears, when asked, at the sending organization."""
        check_day(as_of, "as_of")
        self.organization(code)
        kinds = ("held", "in_transit") if include_in_transit else ("held",)
        kind_marks = ", ".join("?" for _ in kinds)
        filters, params = "", []
        if search:
            filters = " AND (m.name LIKE ? OR m.registration_no LIKE ?)"
            params = [f"%{search}%", f"{search.upper()}%"]
        if as_of is None:
            orgs = f"({SUBTREE})" if subtree else "(?)"
            base = (
                "FROM proj_members m WHERE m.organization_code IN " + orgs
                + f" AND m.place IN ({kind_marks})" + filters
            )
            args = [code, *kinds, *params]
            select = ("SELECT m.registration_no, m.name, m.status, m.organization_code, m.since, m.place "
                      + base + " ORDER BY m.organization_code, m.registration_no LIMIT ? OFFSET ?")
            count = self.db.scalar("SELECT COUNT(*) " + base, args)
            rows = self.db.query(select, [*args, limit, offset])
        else:
            day = as_of.isoformat()
            prefix = SUBTREE_AS_OF if subtree else ""
            orgs = "(SELECT code FROM sub)" if subtree else "(?)"
            base = (
                "FROM proj_stints s JOIN proj_members m ON m.registration_no = s.registration_no "
                "WHERE s.organization_code IN " + orgs
                + " AND s.from_on <= ? AND (s.to_on IS NULL OR s.to_on > ?)"
                + f" AND s.kind IN ({kind_marks})" + filters
            )
            head = [code, day, day] if subtree else []
            org_param = [] if subtree else [code]
            tail = [day, day, *kinds, *params]
            status = ("CASE WHEN m.status = 'full' AND (m.confirmed_on IS NULL OR m.confirmed_on <= ?) "
                      "THEN 'full' ELSE 'probationary' END")
            # `|| ''`: the same order, which no index gives, so that PostgreSQL joins from the
            # subtree's organizations instead of walking every stint in index order.
            select = (prefix + f"SELECT m.registration_no, m.name, {status}, s.organization_code, "
                      "s.from_on, s.kind " + base
                      + " ORDER BY s.organization_code || '', m.registration_no LIMIT ? OFFSET ?")
            count = self.db.scalar(prefix + "SELECT COUNT(*) " + base, [*head, *org_param, *tail])
            rows = self.db.query(select, [*head, day, *org_param, *tail, limit, offset])
        keys = ("registration_no", "name", "status", "organization_code", "since", "place")
        return [dict(zip(keys, row, strict=True)) for row in rows], int(count or 0)

    def locate(self, registration_no: str) -> dict[str, Any]:
        rows = self.db.query(
            "SELECT registration_no, name, status, probation_ends_on, place, organization_code, "
            "transfer_id, since, category, gender, origin, left_reason, gone_on, "
            "(SELECT l.last_activity_on FROM proj_last_activity l WHERE l.registration_no = m.registration_no) "
            "FROM proj_members m WHERE registration_no = ?", ((registration_no or "").upper(),),
        )
        if not rows:
            raise NotFound(f"member {registration_no!r} is not in the ledger")
        keys = ("registration_no", "name", "status", "probation_ends_on", "place",
                "organization_code", "transfer_id", "since", "category", "gender", "origin",
                "left_reason", "gone_on", "last_activity_on")
        return dict(zip(keys, rows[0], strict=True))

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

    def subtree(self, code: str, depth: int | None = None) -> list[dict[str, Any]]:
        """An organization's subtree (down to `depth` levels below it, or all of it) in
        depth-first order: code, name, kind, parent_code, status, depth."""
        self.organization(code)
        rows = self.db.query(
            "SELECT o.code, o.name, o.kind, o.parent_code, o.status, c.depth FROM proj_org_closure c "
            "JOIN proj_organizations o ON o.code = c.descendant WHERE c.ancestor = ? "
            + ("AND c.depth <= ? " if depth is not None else "") + "ORDER BY c.depth, o.code",
            (code, depth) if depth is not None else (code,),
        )
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
        month = f"{on:%Y-%m}"
        for start in range(0, len(codes), 500):  # bounded IN lists
            part = codes[start:start + 500]
            marks = ", ".join("?" for _ in part)
            for org, figure, value in self.db.query(
                f"SELECT organization_code, figure, SUM(value) FROM proj_counts WHERE organization_code IN ({marks}) "
                "AND month <= ? AND figure IN ('net', 'in_transit') GROUP BY organization_code, figure",
                (*part, month),
            ):
                by_code[org]["in_transit" if figure == "in_transit" else "held"] += int(value or 0)
            for org, n in self.db.query(
                "SELECT c.ancestor, COUNT(*) FROM proj_transfers t JOIN proj_org_closure c "
                "ON c.descendant = t.from_organization_code WHERE t.status = 'issued' AND t.valid_until < ? "
                f"AND c.ancestor IN ({marks}) GROUP BY c.ancestor", (on.isoformat(), *part),
            ):
                by_code[org]["overdue"] = int(n)
        for node in nodes:  # "net" is everyone of record: those held are net - in transit
            node["held"] -= node["in_transit"]
        return nodes

    # --- lists ---------------------------------------------------------------------------

    TRANSFER_COLUMNS = (
        "transfer_id", "letter_no", "registration_no", "from_organization_code",
        "to_organization_code", "received_in_code", "status", "reason", "basis", "route",
        "paper_stops", "network_stops", "requested_on", "issued_on", "valid_until", "received_on",
        "on_time", "receipt_returned_on",
    )

    def organization_names(self, codes: Iterable[str | None]) -> dict[str, str]:
        """The names of organizations by code (codes the ledger doesn't know are left out)."""
        return self._names("SELECT code, name FROM proj_organizations WHERE code IN ({})", codes)

    def member_names(self, registration_nos: Iterable[str | None]) -> dict[str, str]:
        """The names of members by registration number."""
        return self._names("SELECT registration_no, name FROM proj_members WHERE registration_no IN ({})",
                           registration_nos)

    def _names(self, statement: str, keys: Iterable[str | None]) -> dict[str, str]:
        """(key, name) rows of `statement` (a constant of this module with one IN list) for
        the keys given, 500 a query."""
        wanted = sorted({k for k in keys if k})
        names: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            names.update(self.db.query(statement.format(", ".join("?" for _ in chunk)), chunk))
        return names

    def transfers(
        self, organization_code: str | None = None, status: str | None = None,
        letter_no: str | None = None, registration_no: str | None = None,
        direction: str = "both", limit: int = 100, offset: int = 0,
        search: str | None = None, valid_until_from: date | None = None, valid_until_to: date | None = None,
        received_since: date | None = None, done_since: date | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Transfers by organization subtree (sent from, addressed to, or either), status,
        letter number or member; `search` finds a member's name, a registration number or a
        letter number (a part of it); the dates narrow to letters valid until within a range,
        received since a day, or received or with the receipt back since a day."""
        clauses, params = [], []
        if search:
            clauses.append("(letter_no LIKE ? OR registration_no LIKE ? OR registration_no IN "
                           "(SELECT registration_no FROM proj_members WHERE name LIKE ?))")
            params += [f"%{search.upper()}%", f"{search.upper()}%", f"%{search}%"]
        for clause, day in (("valid_until >= ?", valid_until_from), ("valid_until <= ?", valid_until_to),
                            ("received_on >= ?", received_since)):
            if day is not None:
                clauses.append(clause)
                params.append(day.isoformat())
        if done_since is not None:
            clauses.append("(received_on >= ? OR receipt_returned_on >= ?)")
            params += [done_since.isoformat(), done_since.isoformat()]
        if organization_code:
            sides = {"out": ["from_organization_code"], "in": ["to_organization_code", "received_in_code"],
                     "both": ["from_organization_code", "to_organization_code", "received_in_code"]}
            if direction not in sides:
                raise ValidationError("direction must be in, out or both")
            clauses.append("(" + " OR ".join(f"{c} IN ({SUBTREE})" for c in sides[direction]) + ")")
            params += [organization_code] * len(sides[direction])
        for column, value in (("status", status), ("letter_no", letter_no),
                              ("registration_no", registration_no)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        count = self.db.scalar("SELECT COUNT(*) FROM proj_transfers" + where, params)
        rows = self.db.query(
            "SELECT " + ", ".join(self.TRANSFER_COLUMNS) + " FROM proj_transfers" + where
            + " ORDER BY requested_on DESC, transfer_id LIMIT ? OFFSET ?", [*params, limit, offset],
        )
        data = [dict(zip(self.TRANSFER_COLUMNS, row, strict=True)) for row in rows]
        for row in data:
            row["on_time"] = None if row["on_time"] is None else bool(row["on_time"])
        return data, int(count or 0)

    def certificates(
        self, organization_code: str, kind: str | None = None, status: str | None = None,
        side: str | None = None, registration_no: str | None = None, limit: int = 100, offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """The certificates of a subtree, from the home side or the host's
        (projections/certificates.py)."""
        self.organization(organization_code)
        return certificate_rows(self.db, organization_code, kind=kind, status=status, side=side,
                                registration_no=registration_no, limit=limit, offset=offset)

    # --- the overdue list (pocket members) ---------------------------------------------

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
        kinds = [kind] if kind else list(OVERDUE_KINDS)
        organization = self.organization(code)
        waiting = [k for k in kinds if k in WAITING_KINDS]
        if waiting:
            # People waiting (few rows), merged with the first `offset + limit` of the rest.
            more = [row for k, statement, params, days in waiting_statements(code, on, waiting, member)
                    for row in self._rows(k, statement, params, on, due_after_days=days)]
            rest = [k for k in kinds if k not in WAITING_KINDS]
            rows, total = self._overdue_kinds(organization, on, rest, offset + limit, 0, member) \
                if rest else ([], 0)
            merged = sorted(rows + more, key=overdue_order)
            return merged[offset:offset + limit], total + len(more)
        return self._overdue_kinds(organization, on, kinds, limit, offset, member)

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

        def transfer_in_subtree(*columns: str) -> str:
            if member:
                return "(" + " OR ".join(f"t.{c} IN ({SUBTREE})" for c in columns) + ")"
            return "t.transfer_id IN (" + " UNION ".join(TRANSFERS_OF % c for c in columns) + ")"
        rows: list[dict[str, Any]] = []
        day = on.isoformat()
        only, who = (" AND t.registration_no = ?", [member]) if member else ("", [])
        if "overdue_letter" in kinds:
            rows += self._rows("overdue_letter", (
                f"SELECT t.registration_no, m.name, t.from_organization_code, t.letter_no, {VALID_UNTIL_ON}, "
                "t.sending_committee_code FROM proj_transfers t JOIN proj_members m "
                f"ON m.registration_no = t.registration_no WHERE t.issued_on <= ? AND {VALID_UNTIL_ON} < ? "
                "AND (t.received_on IS NULL OR t.received_on > ?) AND (t.closed_on IS NULL OR t.closed_on > ?) "
                "AND " + transfer_in_subtree("from_organization_code", "sending_committee_code",
                                             "to_organization_code") + only
            ), [day, day, day, day, day, day, code, code, code, *who], on)
        if "unreturned_receipt" in kinds:
            cutoff = (on - timedelta(days=RECEIPT_DUE_DAYS)).isoformat()
            rows += self._rows("unreturned_receipt", (
                "SELECT t.registration_no, m.name, t.from_organization_code, t.letter_no, t.received_on, "
                "t.receiving_committee_code FROM proj_transfers t JOIN proj_members m "
                "ON m.registration_no = t.registration_no WHERE t.received_on < ? "
                "AND (t.receipt_returned_on IS NULL OR t.receipt_returned_on > ?) "
                "AND " + transfer_in_subtree("from_organization_code", "received_in_code", "receiving_committee_code")
                + only
            ), [cutoff, day, code, code, code, *who], on, due_after_days=RECEIPT_DUE_DAYS)
        if "unreturned_certificate" in kinds:
            rows += self._rows("unreturned_certificate", (
                "SELECT c.registration_no, m.name, c.home_organization_code, c.certificate_no, c.valid_until, "
                f"{RESPONSIBLE_FOR_HOME} "
                "FROM proj_certificates c JOIN proj_members m ON m.registration_no = c.registration_no "
                "WHERE c.issued_on <= ? AND c.valid_until < ? "
                f"AND (c.returned_on IS NULL OR c.returned_on > ?) AND {CERTIFICATE_NOT_CLOSED} "
                f"AND c.home_organization_code IN ({SUBTREE})" + only.replace("t.", "c.")
            ), [day, day, day, day, code, *who], on)
        if "inactive_6m" in kinds:
            rows += self._inactive(code, on, member)
        return rows

    def _rows(self, kind: str, statement: str, params: list[Any], on: date,
              due_after_days: int = 0) -> list[dict[str, Any]]:
        found = []
        for registration_no, name, org, reference, due, responsible in self.db.query(statement, params):
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
        window = months_before(on, INACTIVE_MONTHS)
        start = month_bounds(window[0])[0].isoformat()
        due_on = month_bounds(window[-1])[1] + timedelta(days=1)
        marks = ", ".join("?" for _ in window)
        day = on.isoformat()
        rows = self.db.query(
            "SELECT m.registration_no, m.name, s.organization_code, l.last_activity_on "
            "FROM proj_stints s JOIN proj_members m ON m.registration_no = s.registration_no "
            "JOIN proj_last_activity l ON l.registration_no = s.registration_no "
            f"WHERE s.organization_code IN ({SUBTREE}) AND s.kind = 'held' AND s.from_on <= ? "
            "AND (s.to_on IS NULL OR s.to_on > ?) AND m.enrolled_on <= ? "
            "AND NOT EXISTS (SELECT 1 FROM proj_activity a WHERE a.registration_no = m.registration_no "
            f"AND a.month IN ({marks}) AND (a.org_life > 0 OR a.dues > 0))"
            + (" AND m.registration_no = ?" if member else ""),
            [code, day, day, start, *window, *([member] if member else [])],
        )
        return [{
            "kind": "inactive_6m", "registration_no": no, "name": name, "organization_code": org,
            "reference": last, "due_on": due_on.isoformat(), "days_overdue": (on - due_on).days,
            "responsible_organization_code": org,
        } for no, name, org, last in rows]

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

        def within(*columns: str) -> tuple[str, list[Any]]:
            """The rows with an organization (of `columns`) in the subtree: for a root, those
            not all in the other roots' subtrees (a short list); else EXISTS, a filter on the
            rows found, never a way in (an IN list of a large subtree would lead SQLite to
            start from the subtree's organizations)."""
            if everything:
                return "", []
            if root:
                return ("AND (" + " OR ".join(f"x.{c} NOT IN ({OTHER_ROOTS_SUBTREES})" for c in columns) + ")",
                        [code] * len(columns))
            return ("AND EXISTS (SELECT 1 FROM proj_org_closure k WHERE k.ancestor = ? AND k.descendant IN ("
                    + ", ".join(f"x.{c}" for c in columns) + "))", [code])

        def page(db: ViewDatabase, kind: str, statement: str, params: list[Any], due_after_days: int = 0,
                 need: int | None = None) -> Found:
            """The kind's rows: their number, its first `need` (default `cut`) in the list's
            order, and, when that cut them short, the due day of the last (later rows are due
            then or after); with `need` 0 only their number (no sort)."""
            need = cut if need is None else need
            if need <= 0:
                return Found([], int(db.scalar(f"SELECT COUNT(*) FROM ({statement}) x", params) or 0), None)
            ordered = db.query(
                f"SELECT x.registration_no, x.organization_code, x.reference, x.due, x.responsible, "
                f"COUNT(*) OVER () FROM ({statement}) x ORDER BY x.due, x.registration_no, x.reference LIMIT ?",
                [*params, need],
            )
            # Rows as (their key in the list's order, the rest): only the page's become dicts.
            rows = []
            for registration_no, org, reference, due, responsible, _ in ordered:
                due_on = (date.fromisoformat(due) + timedelta(days=due_after_days)).isoformat() \
                    if due_after_days else due
                rows.append((overdue_key(due_on, kind, registration_no, reference), reference, org, responsible))
            return Found(rows, int(ordered[0][5]) if ordered else 0, rows[-1][0][0] if len(rows) == need else None)

        def letters(db: ViewDatabase) -> Found:
            # Letters still open on `on` (three index ranges of (received_on, closed_on)),
            # with the validity of that day.
            columns = ("transfer_id, registration_no, from_organization_code, sending_committee_code, letter_no, "
                       "first_valid_until, to_organization_code")
            still_open = (
                f"SELECT {columns} FROM proj_transfers WHERE received_on > ? AND issued_on <= ? "
                "AND (closed_on IS NULL OR closed_on > ?) "
                f"UNION ALL SELECT {columns} FROM proj_transfers "
                "WHERE received_on IS NULL AND closed_on IS NULL AND issued_on <= ? "
                f"UNION ALL SELECT {columns} FROM proj_transfers "
                "WHERE received_on IS NULL AND closed_on > ? AND issued_on <= ?"
            )
            # (the receiving side's list shows the letters addressed into it too)
            where, extra = within("organization_code", "responsible", "target")
            return page(db, "overdue_letter", (
                "SELECT x.* FROM (SELECT t.registration_no, t.from_organization_code AS organization_code, "
                f"t.letter_no AS reference, {VALID_UNTIL_ON} AS due, t.sending_committee_code AS responsible, "
                f"t.to_organization_code AS target FROM ({still_open}) t) x WHERE x.due < ? {where}"
            ), [day, day, day, day, day, day, day, day, *extra])

        def receipts(db: ViewDatabase) -> Found:
            cutoff = (on - timedelta(days=RECEIPT_DUE_DAYS)).isoformat()
            columns = ("registration_no, from_organization_code AS organization_code, letter_no AS reference, "
                       "received_on AS due, receiving_committee_code AS responsible, received_in_code")
            where, extra = within("organization_code", "received_in_code", "responsible")
            return page(db, "unreturned_receipt", (
                f"SELECT x.* FROM (SELECT {columns} FROM proj_transfers "
                "WHERE receipt_returned_on IS NULL AND received_on < ? "
                f"UNION ALL SELECT {columns} FROM proj_transfers WHERE receipt_returned_on > ? "
                f"AND received_on < ?) x WHERE 1 = 1 {where}"
            ), [cutoff, day, cutoff, *extra], due_after_days=RECEIPT_DUE_DAYS)

        def certificates(db: ViewDatabase) -> Found:
            columns = ("registration_no, home_organization_code AS organization_code, certificate_no AS reference, "
                       "valid_until AS due, NULL AS responsible")
            where, extra = within("organization_code")
            return page(db, "unreturned_certificate", (
                f"SELECT x.* FROM (SELECT {columns} FROM proj_certificates c WHERE returned_on IS NULL "
                f"AND valid_until < ? AND issued_on <= ? AND {CERTIFICATE_NOT_CLOSED} "
                f"UNION ALL SELECT {columns} FROM proj_certificates WHERE returned_on > ? "
                f"AND valid_until < ? AND issued_on <= ?) x WHERE 1 = 1 {where}"
            ), [day, day, day, day, day, day, *extra])

        window = months_before(on, INACTIVE_MONTHS)
        # Every inactive row is due on `due`, the day after the window.
        due = (month_bounds(window[-1])[1] + timedelta(days=1)).isoformat()

        def inactive(db: ViewDatabase, need: int) -> Found:
            first, final = window[0], window[-1]
            start = month_bounds(first)[0].isoformat()
            marks = ", ".join("?" for _ in window)
            idle = ("NOT EXISTS (SELECT 1 FROM proj_activity a WHERE a.registration_no = l.registration_no "
                    f"AND a.month IN ({marks}) AND (a.org_life > 0 OR a.dues > 0))")
            columns = "l.registration_no, l.held_org AS organization_code, l.last_activity_on AS reference"
            moved = ("l.registration_no, s.organization_code, l.last_activity_on FROM proj_last_activity l "
                     "CROSS JOIN proj_stints s")
            held_on = ("s.registration_no = l.registration_no AND s.kind = 'held' AND s.from_on <= ? "
                       f"AND (s.to_on IS NULL OR s.to_on > ?) AND l.enrolled_on <= ? AND {idle}")
            where, extra = within("organization_code")
            return page(db, "inactive_6m", (
                # Held now, since `on` at the latest. With no active month in the window, the
                # latest active month up to the window's end is before it: that is the last
                # active month (before the window), or, when the last is after the window, the
                # one before it, which then began a quiet spell of more than 6 months. Both
                # after the window (a day in the past): check the window. (COALESCE keeps
                # SQLite, without statistics, off the indexes that would not narrow the search.)
                f"SELECT x.*, ? AS due, x.organization_code AS responsible FROM (SELECT {columns} "
                "FROM proj_last_activity l WHERE l.held_to IS NULL AND l.last_month < ? "
                f"AND COALESCE(l.held_from, '') <= ? AND l.enrolled_on <= ? UNION ALL SELECT {columns} "
                # (quiet since entering the ledger, '', most members: by their last active month)
                "FROM proj_last_activity l WHERE l.held_to IS NULL AND l.quiet_from IS NOT NULL "
                "AND l.quiet_from = '' AND l.last_month > ? AND COALESCE(l.held_from, '') <= ? "
                f"AND l.enrolled_on <= ? UNION ALL SELECT {columns} "
                "FROM proj_last_activity l WHERE l.held_to IS NULL AND l.quiet_from IS NOT NULL "
                "AND l.quiet_from > '' AND l.quiet_from < ? AND COALESCE(l.last_month, '') > ? "
                "AND COALESCE(l.held_from, '') <= ? "
                f"AND l.enrolled_on <= ? UNION ALL SELECT {columns} FROM proj_last_activity l "
                "WHERE l.held_to IS NULL AND l.previous_month > ? AND COALESCE(l.held_from, '') <= ? "
                f"AND l.enrolled_on <= ? AND {idle} "
                # Held on `on` but not now, or held now by a stint begun after `on`: the few
                # who moved after it, through their stints (CROSS JOIN: SQLite keeps this order).
                f"UNION ALL SELECT {moved} WHERE l.held_to > ? AND {held_on} "
                f"UNION ALL SELECT {moved} WHERE l.held_to IS NULL AND l.held_from > ? AND {held_on}"
                f") x WHERE 1 = 1 {where}"
            ), [due, first, day, start, final, day, start, first, final, day, start, final, day, start, *window,
                day, day, day, start, *window, day, day, day, start, *window, *extra], need=need)

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
        # The nearest ancestor of a chasing kind of each home organization (nearest first,
        # each walk stops at the first).
        homes = sorted({r["organization_code"] for r in rows if r["kind"] == "unreturned_certificate"})

        def chasing(db: ViewDatabase) -> dict[str, str | None]:
            return dict(db.query(
                f"SELECT h.value, {RESPONSIBLE_FOR % 'h.value'} FROM {db.table_of()}", [db.list_param(homes)],
            ))

        with self._beside(chasing) if homes else nullcontext(dict) as responsible:
            db = self.db
            names: dict[str, str] = dict(db.query(
                f"SELECT registration_no, name FROM proj_members WHERE {db.any_of('registration_no')}",
                [db.list_param(numbers)])) if numbers else {}
            chased = responsible()
        for row in rows:
            row["name"] = names.get(row["registration_no"])
            if row["kind"] == "unreturned_certificate":
                row["responsible_organization_code"] = chased.get(row["organization_code"])

    # --- reports ---------------------------------------------------------------------------

    LARGE_SUBTREE = 1000  # organizations: above this, start from the letters, not the tree

    def overdue_letters_at(self, code: str, end: date) -> int:
        """The letters out of the subtree as it stood on `end` that were overdue that day:
        issued, past their validity of that day, neither received nor closed by then. A
        small subtree is walked down as it stood. For a large one (a province has 50,000
        organizations) the letters still open on `end` are found by index; a letter from an
        organization whose chain stands as it stood on `end` (no organization in it ever
        moved or began after that day) is in the subtree as it is now (the closure); the
        few others walk up their organization's chain as it stood, to see whether it
        reaches `code`."""
        day = end.isoformat()
        size = self.db.scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM proj_org_closure WHERE ancestor = ? LIMIT ?) s",
            (code, self.LARGE_SUBTREE + 1),
        )
        if int(size or 0) <= self.LARGE_SUBTREE:
            return int(self.db.scalar(
                SUBTREE_AS_OF + f"SELECT COUNT(*) FROM proj_transfers t WHERE t.issued_on <= ? "
                f"AND {VALID_UNTIL_ON} < ? AND (t.received_on IS NULL OR t.received_on > ?) "
                "AND (t.closed_on IS NULL OR t.closed_on > ?) AND t.from_organization_code IN (SELECT code FROM sub)",
                (code, day, day, day, day, day, day, day),
            ) or 0)
        still_open = (  # three index ranges of (received_on, closed_on)
            "SELECT transfer_id, from_organization_code, first_valid_until FROM proj_transfers "
            "WHERE received_on > ? AND issued_on <= ? AND (closed_on IS NULL OR closed_on > ?) "
            "UNION ALL SELECT transfer_id, from_organization_code, first_valid_until FROM proj_transfers "
            "WHERE received_on IS NULL AND closed_on IS NULL AND issued_on <= ? "
            "UNION ALL SELECT transfer_id, from_organization_code, first_valid_until FROM proj_transfers "
            "WHERE received_on IS NULL AND closed_on > ? AND issued_on <= ?"
        )
        counted, walked = 0, []
        for transfer_id, organization, count in self.db.query(
            f"WITH overdue(transfer_id, code) AS (SELECT t.transfer_id, t.from_organization_code "
            f"FROM ({still_open}) t WHERE {VALID_UNTIL_ON} < ?), "
            # the subtrees of the organizations that ever moved, or began after `end`
            "changed(code) AS (SELECT k.descendant FROM proj_org_closure k WHERE k.ancestor IN ("
            "SELECT code FROM proj_org_tree WHERE to_on IS NOT NULL "
            "UNION SELECT code FROM proj_org_tree WHERE to_on IS NULL AND from_on > ?)) "
            "SELECT NULL, NULL, COUNT(*) FROM overdue WHERE code NOT IN (SELECT code FROM changed) AND EXISTS "
            "(SELECT 1 FROM proj_org_closure k WHERE k.ancestor = ? AND k.descendant = overdue.code) "
            "UNION ALL SELECT transfer_id, code, NULL FROM overdue WHERE code IN (SELECT code FROM changed)",
            (day, day, day, day, day, day, day, day, day, code),
        ):
            if transfer_id is None:
                counted += int(count)
            else:
                walked.append((transfer_id, organization))
        return counted + self._reaching(walked, code, day)

    def _reaching(self, letters: list[tuple[str, str]], code: str, day: str) -> int:
        """How many of the letters (transfer id, organization) have `code` in their
        organization's chain as it stood on `day` (the organization itself included): the
        chains are read a level at a time, for all the letters at once."""
        parents: dict[str, set[str]] = {}
        origins = {organization for _, organization in letters}
        level = set(origins)
        while level:
            parents.update((organization, set()) for organization in level)
            above: set[str] = set()
            for organization, parent in self.db.query(
                f"SELECT code, parent_code FROM proj_org_tree WHERE {self.db.any_of('code')} "
                "AND parent_code IS NOT NULL AND from_on <= ? AND (to_on IS NULL OR to_on > ?)",
                [self.db.list_param(sorted(level)), day, day],
            ):
                parents[organization].add(parent)
                above.add(parent)
            level = above - parents.keys()

        def reaches(organization: str) -> bool:
            seen, stack = set(), [organization]
            while stack:
                current = stack.pop()
                if current == code:
                    return True
                if current not in seen:
                    seen.add(current)
                    stack.extend(parents.get(current, ()))
            return False
        reaching = {organization for organization in origins if reaches(organization)}  # each walked once
        return len({transfer_id for transfer_id, organization in letters if organization in reaching})

    def monthly_report(self, code: str, month: str) -> dict[str, Any]:
        """The figures of DOMAIN.md §8 for an organization's subtree and a month, by
        effective date; counts are of record (in-transit members count at the sender)."""
        self.organization(code)
        validate_month(month)
        first, last = month_bounds(month)
        flows: dict[str, Any] = dict(self.db.query(
            "SELECT figure, value FROM proj_counts WHERE organization_code = ? AND month = ?", (code, month)
        ))
        stock_marks = ", ".join("?" for _ in STOCKS)
        stocks = dict.fromkeys(STOCKS, 0)
        stocks.update(dict(self.db.query(
            "SELECT figure, SUM(value) FROM proj_counts WHERE organization_code = ? AND month <= ? "
            f"AND figure IN ({stock_marks}) GROUP BY figure", (code, month, *STOCKS),
        )))
        f = {k: int(v) for k, v in flows.items()}

        def g(name: str) -> int:
            return f.get(name, 0)

        closing = int(stocks["net"])
        opening = closing - g("net")
        transferred_in = {k: g(f"transferred_in_{k}") for k in ("internal", "external", "whole_org")}
        transferred_out = {k: g(f"transferred_out_{k}") for k in ("internal", "external", "whole_org")}
        left_by_reason = {r: g(f"left_{r}") for r in LEFT_REASONS}
        overdue = self.overdue_letters_at(code, last)
        received, on_time = g("letters_received"), g("received_on_time")
        issued_by_route = {r: g(f"route_{r}") for r in ROUTES}
        report = {
            "organization_code": code, "month": month,
            "period_start": first.isoformat(), "period_end": last.isoformat(),
            "opening": opening,
            "admitted": g("admitted"), "imported": g("imported"),
            **{f"transferred_in_{k}": v for k, v in transferred_in.items()},
            "transferred_in": sum(transferred_in.values()),
            **{f"transferred_out_{k}": v for k, v in transferred_out.items()},
            "transferred_out": sum(transferred_out.values()),
            "deceased": g("deceased"), "left": g("left"), "left_by_reason": left_by_reason,
            "closing": closing,
            "held": closing - int(stocks["in_transit"]), "in_transit": int(stocks["in_transit"]),
            "overdue_letters": int(overdue or 0),
            "certificates_out": int(stocks["certificates_out"]), "mobile_out": int(stocks["mobile_out"]),
            "hosted": int(stocks["hosted"]),
            "probationary": int(stocks["probationary"]), "full": int(stocks["full"]),
            "letters_issued": g("letters_issued"), "letters_received": received,
            "letters_cancelled": g("letters_cancelled"), "letters_rejected": g("letters_rejected"),
            "received_on_time": on_time, "received_late": g("received_late"),
            "timely_rate": round(on_time / received, 4) if received else None,
            "receipts_returned": g("receipts_returned"),
            "receipt_days_total": g("receipt_days"),
            "receipt_days_average": round(g("receipt_days") / g("receipts_returned"), 2)
            if g("receipts_returned") else None,
            **certificate_figures(g, int(stocks["certificates_out"]), int(stocks["mobile_out"])),
            "by_reason": {r: g(f"reason_{r}") for r in REASONS},
            "by_route": issued_by_route,
            "paper_stops": sum(PAPER_STOPS[r] * n for r, n in issued_by_route.items()),
            "network_stops": sum(NETWORK_STOPS * n for n in issued_by_route.values()),
        }
        filed = self.db.query(
            "SELECT filed_on FROM proj_filings WHERE organization_code = ? AND month >= ? "
            "ORDER BY month LIMIT 1", (code, month),
        )
        report["filed"] = bool(filed)
        report.update(report_waiting(self.db, code, first, last))
        report.update(timely_groups(f))
        return report

    def annual_report(self, code: str, year: int) -> dict[str, Any]:
        """The year's twelve months, their totals, and the composition at year end."""
        if not isinstance(year, int) or not 1900 <= year <= 2999:
            raise ValidationError("year must be a four-digit year")
        months = [self.monthly_report(code, f"{year:04d}-{m:02d}") for m in range(1, 13)]
        summed = ("admitted", "imported", "transferred_in", "transferred_out", "deceased", "left",
                  "letters_issued", "letters_received", "received_on_time", "receipts_returned",
                  "certificates_issued", "certificates_returned", "certificates_closed")
        year_end = date(year, 12, 31).isoformat()
        composition: dict[str, dict[str, int]] = {}
        for column in ("category", "gender"):
            composition[column] = {
                key: int(n) for key, n in self.db.query(
                    f"SELECT m.{column}, COUNT(*) FROM proj_stints s JOIN proj_members m "
                    "ON m.registration_no = s.registration_no "
                    f"WHERE s.organization_code IN ({SUBTREE}) AND s.from_on <= ? "
                    "AND (s.to_on IS NULL OR s.to_on > ?) GROUP BY m." + column,
                    (code, year_end, year_end),
                )
            }
        return {
            "organization_code": code, "year": year,
            "opening": months[0]["opening"], "closing": months[-1]["closing"],
            "totals": with_return_rate({k: sum(m[k] for m in months) for k in summed}),
            **summed_timely(months),
            "composition": {
                "probationary": months[-1]["probationary"], "full": months[-1]["full"],
                "held": months[-1]["held"], "in_transit": months[-1]["in_transit"], **composition,
            },
            "months": months,
        }

    # --- people waiting for a home (first-responder cases, bounced members) ---------------

    def cases(self, code: str, on: date, status: str | None = None, limit: int = 100,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The first-responder cases owned in an organization's subtree, with days open."""
        self.organization(code)
        if status is not None and status not in ("open", "closed"):
            raise ValidationError("status must be open or closed")
        return case_rows(self.db, code, status, on, limit, offset)

    def is_bounced(self, registration_no: str, on: date) -> bool:
        """Whether the member's transfers were declined or rejected twice or more by `on`."""
        return bounced(self.db, registration_no, on)


def timely_groups(counts: dict[str, int]) -> dict[str, Any]:
    """The breakdowns' groups from the counters `received_<group>_<key>` and
    `received_on_time_<group>_<key>` (summed over any months)."""
    groups: dict[str, Any] = {}
    for group, keys in TIMELY_GROUPS.items():
        groups[f"timely_by_{group}"] = {key: timely(counts.get(f"received_{group}_{key}", 0),
                                                    counts.get(f"received_on_time_{group}_{key}", 0))
                                        for key in keys}
    return groups


def timely(received: int, on_time: int) -> dict[str, Any]:
    return {"received": received, "on_time": on_time,
            "timely_rate": round(on_time / received, 4) if received else None}


def summed_timely(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The breakdowns of several months (an annual report's) summed."""
    counts: dict[str, int] = {}
    for report in reports:
        for group in TIMELY_GROUPS:
            for key, figures in report[f"timely_by_{group}"].items():
                counts[f"received_{group}_{key}"] = counts.get(f"received_{group}_{key}", 0) + figures["received"]
                counts[f"received_on_time_{group}_{key}"] = (
                    counts.get(f"received_on_time_{group}_{key}", 0) + figures["on_time"])
    return timely_groups(counts)
