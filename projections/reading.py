"""Reading the event store's notifications in pages, for the projection engine.

The library's `select_notifications()` builds, in Python, a row mapping and a
`Notification` for every stored event (on SQLite a `UUID` too): on SQLite about two thirds
of what reading an event costs, and on PostgreSQL work that takes the interpreter from the
engine while a page is read on a thread of its own. The engine's reader selects the same
rows, in the same order and by the same rules (after `start`, up to `stop`, at most
`limit`; with `domain.pglog`'s recorder, up to its horizon, past which a transaction may
still be in flight), over the recorder's own connection pool, as plain tuples `(id, originator_id,
originator_version, topic, state)`; on SQLite it makes the ids as `UUID(text)` makes them,
without its parsing of other spellings. For any other recorder it returns the library's
notifications as they come.

`select_range()` pages by events, as `select()` does, but returns only the events whose
topics the caller reads (not those of `skip_topics`, which no read model handles: on a
province's history more than a third of the events are such bookkeeping), with the
position of the page's last event and the number of events in it, read or passed over:
the events passed over are neither sent to the interpreter nor decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any, cast
from uuid import UUID, SafeUUID

from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql
from psycopg.rows import tuple_row

from domain.ledger import recorders
from domain.pglog import PostgresLogRecorder

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

    def __init__(self, recorder: Any, skip_topics: Sequence[str] = ()) -> None:
        self.recorder = recorder
        self.skip_topics = tuple(skip_topics)
        self.sqlite = (
            type(recorder) in (SQLiteApplicationRecorder, recorders.SQLiteRecorder)
            and getattr(recorder.datastore, "originator_id_type", None) == "uuid"
        )
        self.postgres = type(recorder) is PostgresApplicationRecorder or isinstance(recorder, PostgresLogRecorder)
        # PostgresLogRecorder: up to its horizon, as its own reads (domain/pglog.py); the
        # library's recorder keeps ids in commit order by its table lock.
        upper = (sql.SQL("LEAST(%s, {})").format(recorder.horizon) if isinstance(recorder, PostgresLogRecorder)
                 else sql.SQL("%s"))
        self.rows = self.sqlite or self.postgres
        self.position: Callable[[Any], int] = itemgetter(0) if self.rows else attrgetter("id")
        if self.sqlite:
            self._statement: Any = (
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
            )
            self._range: Any = (
                f"SELECT max(rowid), count(*) FROM (SELECT rowid FROM {recorder.events_table_name} "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?)"
            )
            self._read: Any = (
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
                f"WHERE rowid > ? AND rowid <= ? AND topic NOT IN ({', '.join('?' for _ in self.skip_topics)}) "
                "ORDER BY rowid"
            )
        elif self.postgres:
            table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
            self._statement = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "WHERE notification_id > %s AND notification_id <= {} ORDER BY notification_id LIMIT %s"
            ).format(table, upper)
            self._range = sql.SQL(
                "SELECT max(notification_id), count(*) FROM (SELECT notification_id FROM {} "
                "WHERE notification_id > %s AND notification_id <= {} ORDER BY notification_id LIMIT %s) AS page"
            ).format(table, upper)
            self._read = sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "WHERE notification_id > %s AND notification_id <= %s AND topic <> ALL(%s) ORDER BY notification_id"
            ).format(table)

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

    def select_range(self, start: int, limit: int, stop: int | None = None) -> tuple[Page, int, int]:
        """The next `limit` events after `start` (up to `stop`) but those of `skip_topics`;
        the position of the last of all those events (`start` when there are none), and how
        many there are."""
        if not (self.rows and self.skip_topics):
            page = self.select(start, limit, stop)
            return page, self.position(page[-1]) if page else start, len(page)
        params = (start, stop if stop is not None else 2**63 - 1, limit)
        if self.postgres:
            with self.recorder.datastore.get_connection() as connection, connection.transaction(), \
                    connection.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(self._range, params, prepare=True)
                end, count = cast(tuple[int | None, int], cursor.fetchone())
                if not count:
                    return [], start, 0
                cursor.execute(self._read, (start, end, list(self.skip_topics)), prepare=True)
                return cursor.fetchall(), cast(int, end), count
        with self.recorder.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None  # plain tuples
            cursor.execute(self._range, params)
            end, count = cursor.fetchone()
            if not count:
                return [], start, 0
            cursor.execute(self._read, (start, end, *self.skip_topics))
            return [(id_, uuid_of(originator_id), version, topic, state)
                    for id_, originator_id, version, topic, state in cursor.fetchall()], end, count
