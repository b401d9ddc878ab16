"""What the store already holds, looked up in bulk for an import."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.ledger import Ledger


def first_stored_events(ledger: Ledger, ids: list[UUID]) -> list[Any]:
    """The stored first event (version 1) of each of these aggregates that the store holds,
    in one query on eventsourcing's events table (PostgreSQL or SQLite), else one per id."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresAggregateRecorder
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    recorder: Any = ledger.recorder
    table = getattr(recorder, "events_table_name", None)
    if not ids or table is None:
        return []
    # The ledger's recorders (domain/ledger/recorders.py) are subclasses of the library's.
    if isinstance(recorder, PostgresAggregateRecorder):
        from psycopg import sql

        schema = getattr(recorder.datastore, "schema", "") or ""
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        statement = sql.SQL("SELECT originator_id, originator_version, topic, state FROM {} "
                            "WHERE originator_id = ANY(%s) AND originator_version = 1").format(name)
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [ids])
            return [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in cursor.fetchall()]
    if isinstance(recorder, SQLiteAggregateRecorder) and table.isidentifier():
        marks = ",".join("?" for _ in ids)
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                           f"WHERE originator_id IN ({marks}) AND originator_version = 1", [i.hex for i in ids])
            return [StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"])
                    for r in cursor.fetchall()]
    found = []
    for aggregate_id in ids:
        found.extend(recorder.select_events(aggregate_id, limit=1))
    return found

