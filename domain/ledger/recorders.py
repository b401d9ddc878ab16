"""The event store's recorders, with one seam: work done inside the transaction that
inserts the events.

A save given `in_transaction=hook` (`Ledger._save` passes it when something is installed
on `Ledger.transaction_hook`) calls `hook(connection, notification_ids, before)` after the
events are inserted and before the commit (`before`: the greatest notification id below
the save's first, read in the transaction, 0 if none; -1 when it can't be known, see
`PostgresRecorder`), on the transaction's own connection (a `sqlite3` or a `psycopg`
connection): what the hook writes commits with the events, or rolls back with them. On
SQLite the database is locked for writing by then: every event before the save's first id
is committed and visible to the hook. Without a hook, a save is the library's (SQLite) or
the lock-free log's (PostgreSQL, domain/pglog.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from domain.pglog import PostgresLogRecorder

IN_TRANSACTION = "in_transaction"
InTransaction = Callable[[Any, list[int], int], None]


class SQLiteRecorder(SQLiteApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        hook: InTransaction | None = kwargs.pop(IN_TRANSACTION, None)
        if hook is None:
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.transaction(commit=True) as cursor:
            ids = list(self._insert_events(cursor, stored_events, **kwargs) or [])
            before = 0
            if ids:
                cursor.execute(f"SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid < ?", (ids[0],))
                before = cursor.fetchone()[0] or 0
            hook(cursor.sqlite_cursor.connection, ids, before)
        return ids


class PostgresRecorder(PostgresLogRecorder):
    """The event log without a table lock (domain/pglog.py), with the hook: called in the
    save's transaction after its INSERT, out of pipeline mode (COPY works), before the
    commit. Without the table lock an older save may still be in flight with lower ids,
    invisible here, so `before` is given only when no other transaction still holds the
    events table for writing (taken before `before` is read: a save ends its transaction
    before it lets the lock go, so every lower id is then committed and visible, or never
    will be); else -1, and the hook leaves the save to the catch-up after the commit."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        table = Identifier(datastore.schema, events_table_name)
        self.writers_statement = SQL(
            "SELECT count(*) AS others FROM pg_locks WHERE locktype = 'relation' AND relation = {table}::regclass "
            "AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()"
        ).format(table=Literal(f"{datastore.schema}.{events_table_name}"))
        self.before_statement = SQL(
            "SELECT MAX(notification_id) AS before FROM {table} WHERE notification_id < %s").format(table=table)

    def _within(self, conn: Connection[DictRow], notification_ids: list[int], **kwargs: Any) -> None:
        hook: InTransaction | None = kwargs.get(IN_TRANSACTION)
        if hook is None or not notification_ids:
            return
        before = -1
        writers = conn.execute(self.writers_statement, prepare=True).fetchone()
        if writers is not None and not writers["others"]:
            row = conn.execute(self.before_statement, (notification_ids[0],), prepare=True).fetchone()
            before = (row["before"] if row else None) or 0
        hook(conn, notification_ids, before)


RECORDERS = {
    "eventsourcing.sqlite": f"{__name__}:SQLiteRecorder",
    "eventsourcing.postgres": f"{__name__}:PostgresRecorder",
}
