"""Read model of each member's history, for auditors.

Tables: proj_history (an index of the events that concern a member: its own, those of its
transfers and certificates, of its own access (its tokens; its regular reports have a list
of their own) and of the first-responder cases linked to it, by global position);
proj_member_access (whose access aggregate is whose: its later events don't name the member).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from domain.case import Case
from domain.certificate import Certificate
from domain.member import Member
from domain.member_access import MemberAccess
from domain.transfer import Transfer
from projections.cases import CasesView
from projections.certificates import CertificatesView
from projections.db import ViewDatabase
from projections.members import MembersView
from projections.tables import Table, originator_key
from projections.transfers import TransfersView

BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "on", "actor",
               "actor_organization", "request_id"}

# An index, not a copy: which events (aggregate, version, global position) concern a
# member. The events themselves are read from the store when a history is asked for. One
# row an event at most, in the order of positions: a rebuild appends rows, and builds the
# members' index once, at its end.
HISTORY = Table(
    "proj_history",
    ["position", "registration_no", "aggregate_id", "version"],
    ["position"],
    ["CREATE TABLE IF NOT EXISTS proj_history (position INTEGER PRIMARY KEY, registration_no TEXT NOT NULL, "
     "aggregate_id TEXT NOT NULL, version INTEGER NOT NULL)",
     "CREATE INDEX IF NOT EXISTS proj_history_member ON proj_history (registration_no, position)"],
    written_once=True,  # one row an event, never changed
)

ACCESS = Table(
    "proj_member_access",
    ["aggregate_id", "registration_no"],
    ["aggregate_id"],
    ["CREATE TABLE IF NOT EXISTS proj_member_access (aggregate_id TEXT PRIMARY KEY, registration_no TEXT NOT NULL)"],
)


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime | UUID | Decimal):
        return value.isoformat() if isinstance(value, date | datetime) else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def event_type(event: Any) -> str:
    return type(event).__qualname__


def event_data(event: Any) -> dict[str, Any]:
    """An event's own fields (not the envelope), as JSON-ready values."""
    return {k: _plain(v) for k, v in event.__dict__.items() if k not in BASE_FIELDS}


class HistoryView:
    """The member an event concerns is read from the event that creates its aggregate, and
    from the rows of the members', transfers' and certificates' views for its later events
    (rows that earlier events created), whatever the order in which the views apply an event."""

    def __init__(self, members: MembersView, transfers: TransfersView, certificates: CertificatesView,
                 cases: CasesView) -> None:
        self.members_view, self.transfers_view, self.certificates_view = members, transfers, certificates
        self.cases_view = cases
        self.history = HISTORY.fresh()
        self.access = ACCESS.fresh()
        self.tables = (self.history, self.access)

    def _record(self, registration_no: str, aggregate_id: str, event: Any, position: int) -> None:
        self.history.append((position, registration_no, aggregate_id, event.originator_version))  # HISTORY's columns

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds concern no member."""

    @apply.register
    def _(self, event: Member.CertificateIssued | Member.CertificateReturned | Member.CertificateClosed,
          position: int, db: ViewDatabase) -> None:
        """The certificate's own events tell it, with the details."""

    @apply.register
    def _(self, event: Member.Enrolled | Transfer.Requested | Certificate.Issued, position: int,
          db: ViewDatabase) -> None:
        """An aggregate's first event names the member."""
        self._record(event.registration_no, originator_key(event), event, position)

    @apply.register
    def _(self, event: Member.Event, position: int, db: ViewDatabase) -> None:
        self._record(self.members_view.member(db, event)["registration_no"], originator_key(event), event, position)

    @apply.register
    def _(self, event: Transfer.Event, position: int, db: ViewDatabase) -> None:
        self._record(self.transfers_view.transfer(db, event)["registration_no"], originator_key(event), event,
                     position)

    @apply.register
    def _(self, event: Certificate.Event, position: int, db: ViewDatabase) -> None:
        key = originator_key(event)
        row = self.certificates_view.certificates.get(db, (key,))
        assert row is not None
        self._record(row["registration_no"], key, event, position)

    @apply.register
    def _(self, event: MemberAccess.Opened, position: int, db: ViewDatabase) -> None:
        """The member's first token names the member; its later events don't."""
        key = originator_key(event)
        self.access.put({"aggregate_id": key, "registration_no": event.registration_no}, new=True)
        self._record(event.registration_no, key, event, position)

    @apply.register
    def _(self, event: MemberAccess.Event, position: int, db: ViewDatabase) -> None:
        row = self.access.originator_row(db, event)
        assert row is not None, f"no member access row for {event.originator_id}"
        self._record(row["registration_no"], originator_key(event), event, position)

    @apply.register
    def _(self, event: MemberAccess.ReportSent, position: int, db: ViewDatabase) -> None:
        """A mobile member's regular reports have their own list, which each side reads of
        the reports sent to it (GET /v1/members/{registration_no}/reports)."""

    @apply.register
    def _(self, event: Case.Opened | Case.Closed, position: int, db: ViewDatabase) -> None:
        """A first-responder case linked to a member (when opened, or only when closed)."""
        number = event.registration_no
        if number is None and isinstance(event, Case.Closed):
            row = self.cases_view.cases.originator_row(db, event)
            number = row["registration_no"] if row is not None else None
        if number is not None:
            self._record(number, originator_key(event), event, position)
