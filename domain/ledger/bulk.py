"""Many aggregates loaded at once: what `Repository.get` does for one aggregate (its latest
snapshot, then its events after it, each mutating the aggregate in turn), for up to
`BULK_IDS` aggregates in two queries (one on the snapshots, one on the events), instead of
two queries (and, on PostgreSQL, a connection check) per aggregate. An import checks the
organizations of thousands of rows: this loads them into the aggregate cache in bulk
(`AggregateCache.preload`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import AggregateRecorder, EventStore, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg import sql

BULK_IDS = 1000  # aggregate ids per query


def select_stored_events(recorder: AggregateRecorder, ids: Sequence[UUID],
                         first_only: bool = False) -> list[StoredEvent] | None:
    """Every stored event of these aggregates (`first_only`: their first, version 1), in
    order of aggregate and version, in one query; None for a recorder of another kind than
    the library's PostgreSQL and SQLite ones (and the ledger's, their subclasses)."""
    table = getattr(recorder, "events_table_name", None)
    if not ids or not isinstance(table, str):
        return [] if ids else None
    first = " AND originator_version = 1" if first_only else ""
    if isinstance(recorder, PostgresAggregateRecorder):
        schema = recorder.datastore.schema
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        statement = sql.SQL("SELECT originator_id, originator_version, topic, state FROM {} "
                            "WHERE originator_id = ANY(%b)" + first +
                            " ORDER BY originator_id, originator_version").format(name)
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [list(ids)])
            return [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in cursor.fetchall()]
    if isinstance(recorder, SQLiteAggregateRecorder) and table.isidentifier():
        marks = ",".join("?" for _ in ids)
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                           f"WHERE originator_id IN ({marks}){first} ORDER BY originator_id, originator_version",
                           [i.hex for i in ids])
            return [StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"])
                    for r in cursor.fetchall()]
    return None


def load_many(events: EventStore[UUID], snapshots: EventStore[UUID] | None,
              ids: Sequence[UUID]) -> dict[UUID, Any] | None:
    """The current state of each of these aggregates the store holds (those it doesn't are
    absent), as `Repository.get` reconstructs it; None when the store can't be read in
    bulk (the caller then loads them one by one)."""
    found: dict[UUID, Any] = {}
    for start in range(0, len(ids), BULK_IDS):
        part = ids[start:start + BULK_IDS]
        stored = select_stored_events(events.recorder, part)
        taken = select_stored_events(snapshots.recorder, part) if snapshots is not None else []
        if stored is None or taken is None:
            return None
        latest: dict[UUID | str, StoredEvent] = {}
        for snapshot in taken:  # in version order: the last one of each aggregate stays
            latest[snapshot.originator_id] = snapshot
        after: dict[UUID | str, list[StoredEvent]] = {}
        for event in stored:
            base = latest.get(event.originator_id)
            if base is None or event.originator_version > base.originator_version:
                after.setdefault(event.originator_id, []).append(event)
        for aggregate_id in part:
            base = latest.get(aggregate_id)
            first = [snapshots.mapper.to_domain_event(base)] if snapshots is not None and base is not None else []
            rest = (events.mapper.to_domain_event(e) for e in after.get(aggregate_id, ()))
            aggregate = project_aggregate(None, chain(first, rest))
            if aggregate is not None:
                found[aggregate_id] = aggregate
    return found
