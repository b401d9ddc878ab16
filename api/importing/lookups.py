"""What the store already holds, looked up in bulk for an import."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.ledger import Ledger
from domain.ledger.bulk import select_stored_events


def first_stored_events(ledger: Ledger, ids: list[UUID]) -> list[Any]:
    """The stored first event (version 1) of each of these aggregates that the store holds,
    in one query on eventsourcing's events table (PostgreSQL or SQLite), else one per id."""
    recorder: Any = ledger.recorder
    found = select_stored_events(recorder, ids, first_only=True)
    if found is not None:
        return found
    return [event for aggregate_id in ids for event in recorder.select_events(aggregate_id, limit=1)]
