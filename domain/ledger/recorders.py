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

The second seam: a save given `reads=ReadSet(...)` (the writer passes the aggregates its
group's decisions read, each with the version it was read at) is refused with `StaleRead`,
nothing written, when any of them has a newer version in the store by the time the save
commits: a decision is never saved over state another process changed after it was read
(two processes, or uvicorn workers, on one store). On PostgreSQL the save's transaction
first takes a transaction-level advisory lock per aggregate, in one order for every
process (exclusive for those it writes, shared for those it only read), then its INSERT
inserts nothing if any of them has a newer version (domain/pglog.py's `Guard`: the locks
and the check travel in the save's own round trip): two-phase locking, so the saves of all
processes are serializable.
A save that read more than `MAX_AGGREGATE_LOCKS` aggregates (a bulk import's group) takes
the store's turn exclusively for its transaction instead: no other checked save is then in
progress.
An aggregate read as absent (no claim of a resident ID number yet) is checked at version 0:
its would-be id is locked and must still have no event. On SQLite the database has one
writer: the check runs after the INSERT, when the save holds the write lock, so nothing can
commit between the check and the commit.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from domain.pglog import Guard, PostgresLogRecorder

IN_TRANSACTION = "in_transaction"
READS = "reads"
InTransaction = Callable[[Any, list[int], int], None]
# Past this many aggregates read, a save takes the store's turn for its transaction instead
# of a lock per aggregate (PostgreSQL's lock table holds max_locks_per_transaction, 64 by
# default, times max_connections locks for the whole server).
MAX_AGGREGATE_LOCKS = 256


@dataclass(frozen=True)
class ReadSet:
    """What a save's decisions rest on: every aggregate read, with the version it was read
    at (0: read as absent), and which of them the save writes. `turn_held`: the saving
    thread holds its recorder's `turn()`."""

    versions: Mapping[UUID, int]
    written: Collection[UUID] = field(default_factory=frozenset)
    turn_held: bool = False


class StaleRead(IntegrityError):
    """The save was refused, nothing written: these aggregates have newer versions than the
    ones its decisions read (another process saved them meanwhile)."""

    def __init__(self, ids: Collection[UUID]) -> None:
        super().__init__(f"{len(ids)} aggregate(s) read by the save changed before it committed")
        self.ids = frozenset(ids)


def _int4(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _key_pair(value: int) -> tuple[int, int]:
    """A 64-bit number as the two int4 keys of PostgreSQL's two-key advisory locks (a key
    space apart from the one-key locks, e.g. domain/pglog.py's insert lock)."""
    return _int4(value >> 32 & 0xFFFFFFFF), _int4(value & 0xFFFFFFFF)


class SQLiteRecorder(SQLiteApplicationRecorder):
    """The library's recorder with both seams. The store's turn is a lock on a file beside
    the database (`<database>.turn`): a checked save holds it shared, `turn()` exclusive.
    An in-memory database has no turn (one process reaches it)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        pool = datastore.pool
        path = pool.db_name.split("?")[0].removeprefix("file:")
        self.turn_path = None if pool.is_sqlite_memory_mode else f"{path}.turn"

    @contextmanager
    def _turn_lock(self, mode: int) -> Iterator[None]:
        if self.turn_path is None:
            yield
            return
        with open(self.turn_path, "a+b") as turn:  # its own open file: a lock of its own
            fcntl.flock(turn, mode)
            try:
                yield
            finally:
                fcntl.flock(turn, fcntl.LOCK_UN)

    def turn(self) -> AbstractContextManager[None]:
        """The store's saves wait inside (see PostgresRecorder.turn)."""
        return self._turn_lock(fcntl.LOCK_EX)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        hook: InTransaction | None = kwargs.pop(IN_TRANSACTION, None)
        reads: ReadSet | None = kwargs.pop(READS, None)
        if hook is None and reads is None:
            return super().insert_events(stored_events, **kwargs)
        shared = reads is not None and not reads.turn_held
        with self._turn_lock(fcntl.LOCK_SH) if shared else nullcontext(), \
                self.datastore.transaction(commit=True) as cursor:
            ids = list(self._insert_events(cursor, stored_events, **kwargs) or [])
            if reads is not None:  # the INSERT holds the write lock: nothing commits meanwhile
                self._check(cursor, reads)
            if hook is not None:
                before = 0
                if ids:
                    cursor.execute(f"SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid < ?", (ids[0],))
                    before = cursor.fetchone()[0] or 0
                hook(cursor.sqlite_cursor.connection, ids, before)
        return ids

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's INSERT, run once for all the rows (`executemany`) rather than once a
        row. The save holds the database's write lock, and each row's id is the table's
        greatest so far plus one, so the rows' ids are consecutive, ending at the last one
        inserted (checked: the ids from the first on are exactly the rows inserted)."""
        if len(stored_events) < 2:
            return super()._insert_events(c, stored_events, **kwargs)
        c.executemany(self.insert_events_statement, [
            (s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
             s.originator_version, s.topic, s.state) for s in stored_events])
        c.execute("SELECT last_insert_rowid()")
        last = c.fetchone()[0]
        first = last - len(stored_events) + 1
        c.execute(f"SELECT MIN(rowid), COUNT(*) FROM {self.events_table_name} WHERE rowid >= ?", (first,))
        low, count = c.fetchone()
        if (low, count) != (first, len(stored_events)):
            raise ProgrammingError(f"the ids of the {len(stored_events)} events inserted are not consecutive")
        return list(range(first, last + 1))

    def select_headers(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        """The id, aggregate and version of the events after `after`, in id order, without
        their state (see `AggregateCache`)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid, originator_id, originator_version FROM {self.events_table_name} "
                      "WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit))
            return [(row[0], UUID(row[1]), row[2]) for row in c.fetchall()]

    def _check(self, cursor: Any, reads: ReadSet) -> None:
        """Refuse the save (StaleRead) if an aggregate it only read has a newer version now
        (those it writes are guarded by the store's unique (id, version))."""
        statement = (f"SELECT 1 FROM {self.events_table_name} "
                     "WHERE originator_id = ? AND originator_version > ? LIMIT 1")
        stale = []
        for aggregate_id, version in reads.versions.items():
            if aggregate_id not in reads.written:
                cursor.execute(statement, (aggregate_id.hex, version))
                if cursor.fetchone() is not None:
                    stale.append(aggregate_id)
        if stale:
            raise StaleRead(stale)


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
        # The read check (see the module's documentation): the keys of this store's locks.
        name = f"{datastore.schema}.{events_table_name}"
        self.aggregate_salt = int.from_bytes(hashlib.sha256(f"{name}:aggregate".encode()).digest()[:8], "big")
        self.turn_key = _key_pair(int.from_bytes(hashlib.sha256(f"{name}:turn".encode()).digest()[:8], "big"))
        self.turn_shared_statement = SQL("SELECT pg_advisory_xact_lock_shared(%s, %s)")
        self.turn_xact_statement = SQL("SELECT pg_advisory_xact_lock(%s, %s)")
        self.turn_statement = SQL("SELECT pg_advisory_lock(%s, %s)")
        self.turn_release_statement = SQL("SELECT pg_advisory_unlock(%s, %s)")
        self.aggregate_locks_statement = SQL(
            "SELECT count(CASE WHEN k.x THEN pg_advisory_xact_lock(k.a, k.b)::text "
            "ELSE pg_advisory_xact_lock_shared(k.a, k.b)::text END) "
            "FROM unnest(%s::int4[], %s::int4[], %s::bool[]) AS k(a, b, x)")
        self.stale_statement = SQL(
            "SELECT r.id FROM unnest(%s::{id_type}[], %s::int8[]) AS r(id, v) "
            "CROSS JOIN LATERAL (SELECT 1 FROM {table} e "
            "WHERE e.originator_id = r.id AND e.originator_version > r.v LIMIT 1) AS newer"
        ).format(id_type=Identifier(datastore.originator_id_type), table=table)

    def aggregate_key(self, aggregate_id: UUID) -> tuple[int, int]:
        """The advisory lock keys of an aggregate in this store."""
        return _key_pair((aggregate_id.int & 0xFFFFFFFFFFFFFFFF) ^ self.aggregate_salt)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """This store's saves wait inside (the others' `ReadSet` check takes the turn's lock
        shared, first): the holder decides and saves with nobody changing the store, the
        way out for a writer whose saves keep finding what they read changed."""
        with self.datastore.get_connection() as conn:
            conn.execute(self.turn_statement, self.turn_key)
            try:
                yield
            finally:
                conn.execute(self.turn_release_statement, self.turn_key)

    def _guard(self, **kwargs: Any) -> Guard | None:
        """Lock what the save read and wrote (the turn first, then every aggregate, in the
        order of their keys: no two saves wait for each other in a circle), in the save's
        round trip before its insert lock; its INSERT then inserts nothing if any of them
        has a newer version than the one read. Neither lock writes (the transaction still
        has no id when it takes the insert lock)."""
        reads: ReadSet | None = kwargs.get(READS)
        if reads is None or not reads.versions:
            return None
        ids = list(reads.versions)
        locks: list[tuple[SQL | Composed, Sequence[Any]]] = []
        if reads.turn_held:
            pass  # no other checked save is in progress: nothing to lock
        elif len(ids) > MAX_AGGREGATE_LOCKS:  # a bulk group: the turn instead
            locks.append((self.turn_xact_statement, self.turn_key))
        else:
            keys = sorted((self.aggregate_key(i), i in reads.written) for i in ids)
            locks.append((self.turn_shared_statement, self.turn_key))
            locks.append((self.aggregate_locks_statement, (
                [k[0] for k, _ in keys], [k[1] for k, _ in keys], [x for _, x in keys])))
        return Guard(locks, ids, [reads.versions[i] for i in ids])

    def _guard_failed(self, conn: Connection[DictRow], guard: Guard) -> None:
        stale = conn.execute(self.stale_statement, (guard.ids, guard.versions)).fetchall()
        raise StaleRead([UUID(str(row["id"])) for row in stale])

    def _within(self, conn: Connection[DictRow], notification_ids: list[int], **kwargs: Any) -> None:
        hook: InTransaction | None = kwargs.get(IN_TRANSACTION)
        if hook is None or not notification_ids:
            return
        before = -1
        # Both in one round trip, the second run after the first (its own snapshot, taken
        # once the first has found no other writer), read only when there was none.
        with conn.pipeline():
            writing = conn.execute(self.writers_statement, prepare=True)
            preceding = conn.execute(self.before_statement, (notification_ids[0],), prepare=True)
        writers = writing.fetchone()
        if writers is not None and not writers["others"]:
            row = preceding.fetchone()
            before = (row["before"] if row else None) or 0
        hook(conn, notification_ids, before)


RECORDERS = {
    "eventsourcing.sqlite": f"{__name__}:SQLiteRecorder",
    "eventsourcing.postgres": f"{__name__}:PostgresRecorder",
}
