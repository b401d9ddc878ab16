"""Reading the event store's notifications in pages, for the projection engine.

The library's `select_notifications()` builds, in Python, a row mapping and a
`Notification` for every stored event (on SQLite a `UUID` too): on SQLite about two thirds
of what reading an event costs, and on PostgreSQL work that takes the interpreter from the
engine while a page is read on a thread of its own. The engine's reader selects the same
rows, in the same order and by the same rules (after `start`, up to `stop`, at most
`limit`), over the recorder's own connection pool, as plain tuples `(id, originator_id,
originator_version, topic, state)`; on SQLite it makes the ids as `UUID(text)` makes them,
without its parsing of other spellings. For any other recorder it returns the library's
notifications as they come.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID, SafeUUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql
from psycopg.rows import tuple_row

Page = Sequence[Any]  # Notification objects, or tuples (id, originator_id, version, topic, state)

_new = object.__new__
_set = object.__setattr__
_UNKNOWN = SafeUUID.unknown


def uuid_of(text: str) -> UUID:
    """`UUID(text)` for the canonical text `str(UUID)` gives, as the store holds it."""
    value = _new(UUID)
    _set(value, "int", int(text.replace("-", ""), 16))
    _set(value, "is_safe", _UNKNOWN)
    return value


def as_notification(row: tuple[int, Any, int, str, bytes]) -> Notification:
    """The library's notification of a row (id, originator_id, originator_version, topic, state)."""
    id_, originator_id, version, topic, state = row
    return Notification(id=id_, originator_id=originator_id, originator_version=version, topic=topic, state=state)


class NotificationReader:
    """`select(start, limit, stop)`: the next page after `start`; `position(item)` and
    `parts(item)` (originator_id, originator_version, topic, state) of its items."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.sqlite = (
            type(recorder) is SQLiteApplicationRecorder
            and getattr(recorder.datastore, "originator_id_type", None) == "uuid"
        )
        self.postgres = type(recorder) is PostgresApplicationRecorder
        self.rows = self.sqlite or self.postgres
        self.position: Callable[[Any], int] = itemgetter(0) if self.rows else attrgetter("id")
        if self.sqlite:
            self._statement: Any = (
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
            )
        elif self.postgres:
            self._statement = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{} "
                "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
            ).format(sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name))

    def select(self, start: int, limit: int, stop: int | None = None) -> Page:
        params = (start, stop if stop is not None else 2**63 - 1, limit)
        if self.postgres:
            with self.recorder.datastore.get_connection() as connection, \
                    connection.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(self._statement, params, prepare=True)
                return cursor.fetchall()
        if not self.sqlite:
            return self.recorder.select_notifications(start=start, limit=limit, stop=stop, inclusive_of_start=False)
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None  # plain tuples
            cursor.execute(self._statement, params)
            return [(id_, uuid_of(originator_id), version, topic, state)
                    for id_, originator_id, version, topic, state in cursor.fetchall()]
