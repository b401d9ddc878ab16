"""The access log: who read which member's personal record, when, and how.

Each read of a personal record (a member's record or history, a roster with names, the
event stream) appends one row to `access_log (position, at, operator_id,
organization_code, action, registration_no, scope)`: `operator_id` and
`organization_code` say who read (the operator and its organization; the command line
reads as the system, with neither), `action` how (ACTIONS), `registration_no` whose record
(none for a roster or the stream, whose organization or first position is `scope`).
A read costs one INSERT. The rows are sealed like the events, by the same sealer, into a
chain of their own (`access_seals`, projections/sealer.py): a row changed or removed
afterwards shows, and verifying names its position.

On PostgreSQL the positions come from a sequence and the inserts run concurrently; as in
the event log (domain/pglog.py) each insert draws its position under an advisory lock of
the table's own, held for the INSERT alone, and records its transaction, so the sealer can
follow the table below its horizon without passing over a row still in flight.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from domain.ledger import Ledger
from projections.db import ViewDatabase
from projections.sealer import Log, Sealer

TABLE = "access_log"
SEALS = "access_seals"
# the API's member, history, roster, overdue list, certificates and event stream; the web
# pages' member, roster, overdue, hosted, inbox, outbox and transfer pages and their
# downloads; the printable letter; the command line's history and export; the locator; a
# mobile member's reports read by the home side
ACTIONS = ("member", "history", "roster", "export", "member_page", "roster_page", "roster_file", "locate", "reports",
           "overdue", "certificates", "certificate", "overdue_page", "overdue_file", "hosted_page", "inbox_page",
           "outbox_page", "transfer_page", "transfers_file", "letter")
COLUMNS = ("position", "at", "operator_id", "organization_code", "action", "registration_no", "scope")
FIELDS = "at, operator_id, organization_code, action, registration_no, scope"
DDL = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {TABLE} (position INTEGER PRIMARY KEY AUTOINCREMENT, "
              "at TEXT NOT NULL, operator_id TEXT, organization_code TEXT, action TEXT NOT NULL, "
              "registration_no TEXT, scope TEXT)",
    # (TEXT columns compare byte by byte on PostgreSQL too: ViewDatabase.dialect)
    "postgres": f"CREATE TABLE IF NOT EXISTS {TABLE} (position BIGSERIAL PRIMARY KEY, "
                "at TEXT NOT NULL, operator_id TEXT, organization_code TEXT, "
                "action TEXT NOT NULL, registration_no TEXT, scope TEXT, "
                "transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id())",
}
INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_member ON {TABLE} (registration_no, position)"
HORIZON = (f"COALESCE((SELECT max(position) FROM {TABLE} "
           "WHERE transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))), 0)")
INSERT = (f"INSERT INTO {TABLE} (at, operator_id, organization_code, action, registration_no, scope) "
          "VALUES (?, ?, ?, ?, ?, ?)")


def access_digest(at: str, operator_id: str | None, organization_code: str | None, action: str,
                  registration_no: str | None, scope: str | None) -> bytes:
    """The digest of one access-log row's fields."""
    return hashlib.sha256(json.dumps([at, operator_id, organization_code, action, registration_no, scope],
                                     ensure_ascii=False).encode()).digest()


def access_log(db: ViewDatabase) -> Log:
    """The access log as the sealer follows it."""
    return Log(TABLE, "position", FIELDS, access_digest, SEALS, HORIZON if db.kind == "postgres" else None)


def setup(db: ViewDatabase) -> None:
    with db.transaction():
        db.execute(DDL[db.kind])
        db.execute(INDEX)


def _lock_key(db: ViewDatabase) -> int:
    schema = getattr(db, "schema", None) or "public"
    return int.from_bytes(hashlib.sha256(f"{schema}.{TABLE}".encode()).digest()[:8], "big", signed=True)


def record(db: ViewDatabase, action: str, *, operator_id: str | None, organization_code: str | None,
           registration_no: str | None = None, scope: str | None = None) -> None:
    """Append one row (one INSERT, committed at once)."""
    row = (datetime.now(UTC).isoformat(timespec="microseconds"), operator_id, organization_code, action,
           registration_no, scope)
    if db.kind != "postgres":
        with db.transaction():
            db.execute(INSERT, row)
        return
    key = _lock_key(db)
    with db.transaction():
        db.execute("SELECT pg_advisory_lock(?)", (key,))
        try:
            with db.savepoint():
                db.execute(INSERT, row)
        finally:
            db.execute("SELECT pg_advisory_unlock(?)", (key,))


def rows(db: ViewDatabase, after: int = 0, limit: int = 100,
         registration_no: str | None = None) -> list[dict[str, Any]]:
    """The rows after position `after`, oldest first (of one member when given)."""
    where = "position > ?" + (" AND registration_no = ?" if registration_no else "")
    params: tuple[Any, ...] = (after, registration_no, limit) if registration_no else (after, limit)
    found = db.query(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE {where} ORDER BY position LIMIT ?", params)
    return [dict(zip(COLUMNS, row, strict=True)) for row in found]


def sealer(ledger: Ledger, db: ViewDatabase) -> Sealer:
    """A sealer of the event log and of the access log (made first if missing)."""
    setup(db)
    return Sealer(ledger, db, also=(access_log(db),))
