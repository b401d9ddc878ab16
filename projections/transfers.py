"""Read model of transfers with their states and their letters' extensions, for lists by
organization, by letter number and by status, and for the overdue list.

Tables: proj_transfers, proj_extensions.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.transfer import Transfer
from domain.vocabulary import NETWORK_STOPS, PAPER_STOPS
from projections.db import ViewDatabase
from projections.organizations import Tree
from projections.tables import Row, Table, originator_key

TRANSFERS = Table(
    "proj_transfers",
    ["transfer_id", "letter_no", "registration_no", "from_organization_code", "to_organization_code",
     "sending_committee_code", "receiving_committee_code", "received_in_code", "status", "reason",
     "basis", "route", "paper_stops", "network_stops", "requested_on", "issued_on", "valid_until",
     "first_valid_until", "received_on", "on_time", "late_certificate", "receipt_returned_on", "receipt_days",
     "closed_on", "closing_reason"],
    ["transfer_id"],
    ["CREATE TABLE IF NOT EXISTS proj_transfers (transfer_id TEXT PRIMARY KEY, letter_no TEXT, "
     "registration_no TEXT NOT NULL, from_organization_code TEXT NOT NULL, "
     "to_organization_code TEXT NOT NULL, sending_committee_code TEXT NOT NULL, "
     "receiving_committee_code TEXT NOT NULL, received_in_code TEXT, status TEXT NOT NULL, "
     "reason TEXT NOT NULL, basis TEXT NOT NULL, route TEXT NOT NULL, paper_stops INTEGER NOT NULL, "
     "network_stops INTEGER NOT NULL, requested_on TEXT NOT NULL, issued_on TEXT, valid_until TEXT, "
     "first_valid_until TEXT, "
     "received_on TEXT, on_time INTEGER, late_certificate TEXT, receipt_returned_on TEXT, "
     "receipt_days INTEGER, closed_on TEXT, closing_reason TEXT)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_letter ON proj_transfers (letter_no)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_from ON proj_transfers (from_organization_code, status)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_to ON proj_transfers (to_organization_code, status)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_member ON proj_transfers (registration_no)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_status ON proj_transfers (status, valid_until)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_sending ON proj_transfers (sending_committee_code)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_received_in ON proj_transfers (received_in_code)",
     "CREATE INDEX IF NOT EXISTS proj_transfers_receiving ON proj_transfers (receiving_committee_code)",
     # requests neither issued nor declined by a date (the overdue list's stale requests)
     "CREATE INDEX IF NOT EXISTS proj_transfers_requested ON proj_transfers (issued_on, closed_on, requested_on)",
     # letters still open on a date: not received by then (received later, or never) and not closed
     # (covering what the overdue list reads of them)
     "CREATE INDEX IF NOT EXISTS proj_transfers_open ON proj_transfers (received_on, closed_on, issued_on, "
     "first_valid_until, transfer_id, registration_no, from_organization_code, sending_committee_code, letter_no, "
     "to_organization_code)",
     # receipts not returned by a date (never, or later), by the day the member was received
     "CREATE INDEX IF NOT EXISTS proj_transfers_receipt ON proj_transfers (receipt_returned_on, received_on, "
     "registration_no, from_organization_code, letter_no, receiving_committee_code, received_in_code)"],
    index_only=True,  # counted and listed from covering indexes
)
# Each extension of a letter, so that "overdue as of a date" sees the validity of that date.
EXTENSIONS = Table(
    "proj_extensions",
    ["transfer_id", "position", "on_date", "valid_until"],
    ["transfer_id", "position"],
    ["CREATE TABLE IF NOT EXISTS proj_extensions (transfer_id TEXT NOT NULL, position INTEGER NOT NULL, "
     "on_date TEXT NOT NULL, valid_until TEXT NOT NULL, PRIMARY KEY (transfer_id, position))"],
)
# The validity in effect on a date (the `?`), for a transfer row aliased `t`.
VALID_UNTIL_ON = (
    "COALESCE((SELECT e.valid_until FROM proj_extensions e WHERE e.transfer_id = t.transfer_id "
    "AND e.on_date <= ? ORDER BY e.position DESC LIMIT 1), t.first_valid_until)"
)


class TransfersView:
    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.transfers, self.extensions = TRANSFERS.fresh(), EXTENSIONS.fresh()
        self.tables = (self.transfers, self.extensions)

    def transfer(self, db: ViewDatabase, event: Any) -> Row:
        row = self.transfers.originator_row(db, event)
        assert row is not None, f"no transfer row for {event.originator_id}"
        return row

    def _update(self, db: ViewDatabase, event: Any, **changes: Any) -> Row:
        row = self.transfer(db, event)
        row.update(changes)
        self.transfers.touch(row)
        return row

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Transfer.Requested, position: int, db: ViewDatabase) -> None:
        self.transfers.put({
            "transfer_id": originator_key(event), "letter_no": None,
            "registration_no": event.registration_no,
            "from_organization_code": event.from_organization_code,
            "to_organization_code": event.to_organization_code,
            "sending_committee_code": self.tree.committee_of(event.from_organization_code),
            "receiving_committee_code": self.tree.committee_of(event.to_organization_code),
            "received_in_code": None, "status": "requested", "reason": event.reason,
            "basis": event.basis, "route": event.route, "paper_stops": PAPER_STOPS[event.route],
            "network_stops": NETWORK_STOPS, "requested_on": event.on.isoformat(), "issued_on": None,
            "valid_until": None, "first_valid_until": None, "received_on": None, "on_time": None,
            "late_certificate": None,
            "receipt_returned_on": None, "receipt_days": None, "closed_on": None,
            "closing_reason": None,
        })

    @apply.register
    def _(self, event: Transfer.LetterIssued, position: int, db: ViewDatabase) -> None:
        self._update(db, event, status="issued", letter_no=event.letter_no,
                     issued_on=event.on.isoformat(), valid_until=event.valid_until.isoformat(),
                     first_valid_until=event.valid_until.isoformat(),
                     route=event.route, paper_stops=PAPER_STOPS[event.route],
                     sending_committee_code=event.issuing_organization_code)

    @apply.register
    def _(self, event: Transfer.LetterExtended, position: int, db: ViewDatabase) -> None:
        row = self._update(db, event, valid_until=event.valid_until.isoformat())
        self.extensions.put({"transfer_id": row["transfer_id"], "position": position,
                             "on_date": event.on.isoformat(), "valid_until": event.valid_until.isoformat()},
                            new=True)  # keyed by this event's position

    @apply.register
    def _(self, event: Transfer.MemberReceived, position: int, db: ViewDatabase) -> None:
        self._update(db, event, status="received", received_in_code=event.organization_code,
                     received_on=event.on.isoformat(), on_time=int(event.on_time),
                     late_certificate=event.late_certificate)

    @apply.register
    def _(self, event: Transfer.ReceiptReturned, position: int, db: ViewDatabase) -> None:
        self._update(db, event, status="receipt_returned", receipt_returned_on=event.on.isoformat(),
                     receipt_days=event.days)

    @apply.register
    def _(self, event: Transfer.Declined, position: int, db: ViewDatabase) -> None:
        self._update(db, event, status="declined", closed_on=event.on.isoformat(), closing_reason=event.reason)

    @apply.register
    def _(self, event: Transfer.Rejected, position: int, db: ViewDatabase) -> None:
        self._update(db, event, status="rejected", closed_on=event.on.isoformat(), closing_reason=event.reason)

    @apply.register
    def _(self, event: Transfer.Cancelled, position: int, db: ViewDatabase) -> None:
        self._update(db, event, status="cancelled", closed_on=event.on.isoformat(), closing_reason=event.reason)
