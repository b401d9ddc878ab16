"""Read model of each member's history, for auditors.

Table: proj_history (an index of the events that concern a member: its own and those of
its transfers and certificates, by global position).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from domain.certificate import Certificate
from domain.member import Member
from domain.transfer import Transfer
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

    def __init__(self, members: MembersView, transfers: TransfersView, certificates: CertificatesView) -> None:
        self.members_view, self.transfers_view, self.certificates_view = members, transfers, certificates
        self.history = HISTORY.fresh()
        self.tables = (self.history,)

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
