"""The event store's recorders, with one seam: work done inside the transaction that
inserts the events.

A save given `in_transaction=hook` (`Ledger._save` passes it when something is installed
on `Ledger.transaction_hook`) calls `hook(connection, notification_ids, before)` after the
events are inserted and before the commit (`before`: the greatest notification id below
the save's first, read in the transaction, 0 if none), on the transaction's own connection (a `sqlite3` or a
`psycopg` connection): what the hook writes commits with the events, or rolls back with
them. On PostgreSQL the events table is locked by then (eventsourcing's recorder locks it
for every insert, so that notification ids become visible in order): every event before
the save's first id is committed and visible to the hook. Without a hook, a save is the
library's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

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


class PostgresRecorder(PostgresApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        hook: InTransaction | None = kwargs.pop(IN_TRANSACTION, None)
        if hook is None or self.datastore.enable_db_functions:
            return super().insert_events(stored_events, **kwargs)
        ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn, conn.transaction():
            failed: Exception | None = None
            with conn.pipeline() as pipeline:
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if stored_events:
                    with conn.cursor() as curs:
                        try:
                            self._insert_stored_events(curs, stored_events, **kwargs)
                            pipeline.sync()  # a refused insert raises here
                            ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                        except Exception as error:  # raised once the pipeline is closed
                            failed = error
            if failed is not None:
                raise failed
            found = list(ids or [])
            before = 0
            if found:
                statement = SQL("SELECT MAX(notification_id) AS before FROM {s}.{t} WHERE notification_id < %s")
                row = conn.execute(statement.format(s=Identifier(self.datastore.schema),
                                                    t=Identifier(self.events_table_name)), (found[0],)).fetchone()
                before = (row["before"] if row else None) or 0
            hook(conn, found, before)  # out of pipeline mode (COPY works), in the transaction
        return ids


RECORDERS = {
    "eventsourcing.sqlite": f"{__name__}:SQLiteRecorder",
    "eventsourcing.postgres": f"{__name__}:PostgresRecorder",
}
