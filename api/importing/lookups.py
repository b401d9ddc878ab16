"""What the store already holds, looked up in bulk for an import."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.ledger import Ledger
from domain.ledger.bulk import refresh_statistics, select_stored_events


def first_stored_events(ledger: Ledger, ids: list[UUID]) -> list[Any]:
    """The stored first event (version 1) of each of these aggregates that the store holds,
    in one query on eventsourcing's events table (PostgreSQL or SQLite), else one per id."""
    recorder: Any = ledger.recorder
    found = select_stored_events(recorder, ids, first_only=True)
    if found is not None:
        return found
    return [event for aggregate_id in ids for event in recorder.select_events(aggregate_id, limit=1)]


def store_statistics(ledger: Ledger, written: int = 0) -> list[str]:
    """The planner statistics of the store's events and snapshots tables taken again where
    missing or stale (PostgreSQL; domain/ledger/bulk.py): before an import's lookups, so that
    each one-aggregate query the import still makes stays an index scan, and after its
    saves (`written`: the events they added), which may have grown the tables by a tenth or
    more. The tables analyzed."""
    snapshots = ledger.repository.snapshot_store
    recorders = [ledger.recorder, *([snapshots.recorder] if snapshots is not None else [])]
    return refresh_statistics(recorders, written)
