"""The event log on PostgreSQL: saves run concurrently, and a reader that follows the log
by notification id never passes over an event that commits later.

The invariant: a reader is shown an event only once every event with a lower notification
id is committed or will never be (a rolled-back insert leaves a permanent gap).

eventsourcing's recorder keeps it by locking the events table (EXCLUSIVE mode) from the
insert to the commit of every save, so ids become visible in the order they are drawn; but
every save in the store then waits for the one before it to commit. `PostgresLogRecorder`
keeps it without that lock, as the event stores on PostgreSQL that read by transaction
(Marten's quick append, Emmett) do:

- Each row also records the transaction that wrote it:
  `transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id()`.
- Readers of the log (`select_notifications`, `max_notification_id`, the projection
  engine's `projections.reading`) read in id order up to the horizon (`HORIZON`): the
  highest id whose transaction is older than the oldest transaction still running
  (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`). Such a transaction has
  ended: its rows are all there and none can appear later. A transaction still in flight
  holds readers back before its first id instead of being passed over.
- Ordering by id, that test is only exact if transactions draw their notification ids in
  the order of their transaction ids. Left alone they don't: a transaction can be given
  its transaction id before another yet draw its ids after it (two saves of several rows
  even interleave their ids), and commit first; its rows would pass while the other's
  lower ids are still in flight. So each save draws its ids under a session-level advisory
  lock of the table's own, taken before the save's first write and released right after
  its INSERT, in the same round trip, not at its commit: the transaction id is assigned and
  the ids are drawn inside it, so both go in one order, and every id below a row that
  passes the test belongs to an older transaction, ended too. That is why readers may bound
  their ranges by the horizon rather than test each row (the range then stays an
  index-only scan of the ids). A save waits only for the INSERT statements of others, never
  for their commits, which proceed together. The lock is released when the INSERT fails
  too; a save that wrote before it took the lock is refused (ProgrammingError). Saves
always go this way: POSTGRES_ENABLE_DB_FUNCTIONS changes nothing here. A save may carry a
`Guard` (locks taken first, in the same round trip, and a condition on the INSERT): the
ledger checks what its decisions read that way (domain/ledger/recorders.py).

A save does not wait for its events to pass the horizon: after its commit it looks once;
when an older transaction still holds them back, a thread of the recorder's own waits for
it (at most POSTGRES_LOCK_TIMEOUT, the time a save of the library's recorder may wait for
the table lock, or 5 seconds) and then notifies the channel again (the notification sent at
the commit found them held back), so that the readers of other processes wake. Readers of
this process keep read-your-writes: `max_notification_id()`, and `select_notifications()`
over a range that includes it, wait (as long, at most) until the horizon includes the last
save of any recorder of this store in this process (`OwnSaves`), so the inline views'
catch-up after a command, `ledger status` or a `min_position` wait see it; past that bound
they answer anyway, and readers see the events once the transaction holding them back ends.
Saves other processes made for this one (an import's workers) are waited for the same way
once adopted (`adopt`). A save that is no longer in the log at all (the store replaced, or
its rows deleted behind the ledger's back) is not waited for: a warning is logged and the
reads' bound comes down. Any write transaction of the database cluster holds readers back
while it runs (its transaction id is below theirs), so keep them short: a session left idle
inside a transaction that wrote something stops the log's readers until it ends
(PostgreSQL's idle_in_transaction_session_timeout bounds that).

A table made by eventsourcing's recorder gains the column once, at set-up (`create_table`,
run when CREATE_TABLE is on): its rows are all committed, so they get transaction id 0,
below any running transaction. Every process writing the store must then use this recorder
(the library's readers would pass over ids committed out of order).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection, Cursor, Rollback
from psycopg import Error as PsycopgError
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier

log = logging.getLogger(__name__)

# The highest notification id a reader of the log may read up to now (0 if none): that of
# the last row whose transaction is older than the oldest transaction still running. Every
# lower id is then settled too (its transaction is older still), so readers bound their
# ranges by it rather than testing each row: the range stays an index-only scan of the ids.
HORIZON = (
    "COALESCE((SELECT max(notification_id) FROM {table} "
    "WHERE transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))), 0)"
)
# How long a save waits after its commit for its events to pass the horizon when the store
# sets no lock timeout (seconds).
DEFAULT_VISIBILITY_TIMEOUT = 5.0


def horizon(table: Composable) -> Composed:
    """HORIZON for the events table `table` (an Identifier, schema-qualified)."""
    return SQL(HORIZON).format(table=table)


@dataclass
class OwnSaves:
    """What this process saved into one store (every recorder of it in the process shares
    it): the last notification id saved, and the last known readable. Reads of the log wait
    while the first is above the second (see the module's documentation)."""

    saved_last: int = 0
    visible_through: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_OWN_SAVES: dict[tuple[Any, ...], OwnSaves] = {}
_OWN_SAVES_LOCK = threading.Lock()


def own_saves(store: tuple[Any, ...]) -> OwnSaves:
    """The `OwnSaves` of a store (host, port, database, schema, table) in this process."""
    with _OWN_SAVES_LOCK:
        return _OWN_SAVES.setdefault(store, OwnSaves())


@dataclass(frozen=True)
class Guard:
    """A condition on a save, checked in its transaction: `locks` (statements with their
    parameters) run first, in the save's round trip, before its insert lock; then the
    INSERT inserts nothing if any aggregate of `ids` has a version above the one at the same
    place in `versions` (read in a snapshot taken after the locks were granted)."""

    locks: list[tuple[SQL | Composed, Sequence[Any]]]
    ids: list[Any]
    versions: list[int]


class PostgresLogRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL application recorder, without its table lock (see the
    module's documentation). Selected by APPLICATION_RECORDER_TOPIC."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema, table = Identifier(datastore.schema), Identifier(events_table_name)
        self.sql_create_statements[self.create_table_statement_index] = SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "originator_id {originator_id_type} NOT NULL, "
            "originator_version bigint NOT NULL, "
            "topic text, "
            "state bytea, "
            "notification_id bigserial, "
            "transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), "
            "PRIMARY KEY "
            "(originator_id, originator_version)) "
            "WITH ("
            "    autovacuum_enabled = true,"
            "    autovacuum_vacuum_threshold = 100000000,"
            "    autovacuum_vacuum_scale_factor = 0.5,"
            "    autovacuum_analyze_threshold = 1000,"
            "    autovacuum_analyze_scale_factor = 0.01"
            ")"
        ).format(schema=schema, table=table, originator_id_type=Identifier(datastore.originator_id_type))
        self.has_column_statement = SQL(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = 'transaction_id'"
        )
        self.add_column_statements = [
            SQL("ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS transaction_id xid8 NOT NULL "
                "DEFAULT '0'::xid8").format(schema=schema, table=table),
            SQL("ALTER TABLE {schema}.{table} ALTER COLUMN transaction_id "
                "SET DEFAULT pg_current_xact_id()").format(schema=schema, table=table),
        ]
        # No table lock: the ids are drawn under a lock of this table's own key, held for
        # the INSERT alone.
        self.lock_table_statements = []
        digest = hashlib.sha256(f"{datastore.schema}.{events_table_name}".encode()).digest()
        self.insert_lock_key = int.from_bytes(digest[:8], "big", signed=True)
        self.lock_timeout_statement = SQL("SET LOCAL lock_timeout = '{0}s'").format(datastore.lock_timeout)
        self.insert_lock_statement = SQL(
            "SELECT pg_advisory_lock(%s), pg_current_xact_id_if_assigned()::text AS assigned"
        )
        self.insert_unlock_statement = SQL("SELECT pg_advisory_unlock(%s)")
        self.unlock_all_statement = SQL("SELECT pg_advisory_unlock_all()")
        # The rows go as four arrays, one a column, in the binary format (`%b`; an array of the
        # library's composite type, or any array as text, is sent with each value escaped, which
        # cost more than the rest of the save), unnested together, row by row in their order.
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::int8[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id, transaction_id::text"
        ).format(schema=schema, table=table, id_type=Identifier(datastore.originator_id_type))
        # The same INSERT, guarded: nothing is inserted when any of the given aggregates has
        # a version above the one given (see `Guard`); each aggregate looked up by the primary
        # key's index (LATERAL ... LIMIT 1: never a scan of the table).
        self.insert_guarded_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::int8[], %b::text[], %b::bytea[]) "
            "WHERE NOT EXISTS (SELECT 1 FROM unnest(%b::{id_type}[], %b::int8[]) AS r(id, v) "
            "CROSS JOIN LATERAL (SELECT 1 FROM {schema}.{table} e "
            "WHERE e.originator_id = r.id AND e.originator_version > r.v LIMIT 1) AS newer) "
            "RETURNING notification_id, transaction_id::text"
        ).format(schema=schema, table=table, id_type=Identifier(datastore.originator_id_type))
        self.visible_statement = SQL("SELECT %s::xid8 < pg_snapshot_xmin(pg_current_snapshot()) AS visible")
        self.notify_statement = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        self.horizon = horizon(Identifier(datastore.schema, events_table_name))
        self.max_notification_id_statement = SQL("SELECT {} AS max").format(self.horizon)
        self.stored_statement = SQL(
            "SELECT EXISTS (SELECT 1 FROM {schema}.{table} WHERE notification_id = %s) AS stored"
        ).format(schema=schema, table=table)
        self.visibility_timeout = float(datastore.lock_timeout or DEFAULT_VISIBILITY_TIMEOUT)
        # Saves that found their events held back after their commit, and the time the
        # recorder's thread waited for them in all (seconds): what older transactions cost.
        self.held_back = 0
        self.held_back_seconds = 0.0
        # What this process saved into this store, shared by every recorder of it here (reads
        # of the log wait for it), and the latest of this recorder's held-back saves that the
        # announcing thread is to wait for.
        pool_args = getattr(datastore.pool, "kwargs", {}) or {}
        self._own = own_saves((pool_args.get("host"), pool_args.get("port"), pool_args.get("dbname"),
                               datastore.schema, events_table_name))
        self._held: str | None = None
        self._held_lock = threading.Lock()
        self._announcer: threading.Thread | None = None

    # --- set-up ------------------------------------------------------------------------

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        super()._create_table(curs)
        curs.execute(self.has_column_statement, (self.datastore.schema, self.events_table_name))
        if curs.fetchone() is None:  # a table made by the library's recorder
            for statement in self.add_column_statements:
                curs.execute(statement)

    # --- writing -----------------------------------------------------------------------

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """One transaction: take the insert lock, insert (drawing the ids), release the lock,
        commit; then wait until the rows are visible to readers. Two round trips, as the
        library's: the lock, the INSERT and the release; the commit and a first look at the
        horizon."""
        if not stored_events:
            return None
        with self.datastore.get_connection() as conn:
            try:
                notification_ids, transaction_id, visible = self._insert_in(conn, stored_events, **kwargs)
            except BaseException:
                if not conn.closed:
                    with contextlib.suppress(PsycopgError):
                        conn.execute(self.unlock_all_statement)  # still held after a failed INSERT
                raise
        own = self._own
        with own.lock:
            own.saved_last = max(own.saved_last, max(notification_ids))
            if visible:
                own.visible_through = max(own.visible_through, max(notification_ids))
        with self._held_lock:
            if not visible:
                self.held_back += 1
                self._held = transaction_id  # the latest: its end implies the earlier ones'
                if self._announcer is None:
                    self._announcer = threading.Thread(target=self._announce, name="log-visibility", daemon=True)
                    self._announcer.start()
        return notification_ids

    def _insert_in(self, conn: Connection[DictRow], stored_events: Sequence[StoredEvent],
                   **kwargs: Any) -> tuple[list[int], str, bool]:
        """Returns the notification ids, the transaction's id, and whether the rows were
        visible to readers right after the commit. The lock, the INSERT and the release go
        in one round trip (pipeline mode); the seams after the INSERT run in the transaction
        out of pipeline mode; the commit, then a first look at the horizon."""
        failure: Exception | None = None
        rows: list[DictRow] = []
        assigned: str | None = None
        columns = ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                   [e.topic for e in stored_events], [e.state for e in stored_events])
        guard = self._guard(**kwargs)
        with conn.transaction():
            with conn.pipeline() as pipeline:
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)  # the library's seam
                with conn.cursor() as setting, conn.cursor() as locking, conn.cursor() as inserting, \
                        conn.cursor() as unlocking:
                    try:
                        setting.execute(self.lock_timeout_statement, prepare=True)
                        setting.execute(self.notify_statement)
                        for statement, params in guard.locks if guard is not None else ():
                            setting.execute(statement, params, prepare=True)
                        locking.execute(self.insert_lock_statement, (self.insert_lock_key,), prepare=True)
                        if guard is None:
                            inserting.execute(self.insert_events_statement, columns)
                        else:
                            inserting.execute(self.insert_guarded_statement,
                                              (*columns, guard.ids, guard.versions))
                        unlocking.execute(self.insert_unlock_statement, (self.insert_lock_key,), prepare=True)
                        pipeline.sync()
                        lock_row = locking.fetchone()
                        assigned = lock_row["assigned"] if lock_row is not None else None
                        rows = inserting.fetchall()
                    except Exception as error:  # raised once out of the pipeline (psycopg warns otherwise)
                        failure = error
            if failure is None and assigned is not None:
                # The transaction wrote before it took the lock: its transaction id may
                # be older than ids drawn meanwhile by others, so the orders would differ.
                failure = ProgrammingError("a save wrote to the database before drawing its notification ids")
            if failure is not None:
                raise Rollback
            if guard is not None and not rows:
                self._guard_failed(conn, guard)  # raises: the transaction rolls back
            self._inserted(conn)
            self._within(conn, [row["notification_id"] for row in rows], **kwargs)
        if failure is not None:
            raise failure
        if len(rows) != len(stored_events):
            msg = f"Couldn't get all notification IDs (got {len(rows)}, expected {len(stored_events)})"
            raise ProgrammingError(msg)
        visible = conn.execute(self.visible_statement, (rows[0]["transaction_id"],), prepare=True).fetchone()
        return ([row["notification_id"] for row in rows], rows[0]["transaction_id"],
                bool(visible and visible["visible"]))

    def _guard(self, **kwargs: Any) -> Guard | None:
        """The save's guard, if any (a seam for subclasses: domain/ledger/recorders.py
        guards a save with what its decisions read)."""
        return None

    def _guard_failed(self, conn: Connection[DictRow], guard: Guard) -> None:
        """The guarded INSERT inserted nothing: raise (inside the transaction, which then
        rolls back)."""
        raise IntegrityError("a guarded save found newer versions of what it read")

    def _within(self, conn: Connection[DictRow], notification_ids: list[int], **kwargs: Any) -> None:
        """Called inside the save's transaction after its INSERT, out of pipeline mode,
        before the commit, with the ids drawn: work that commits with the events (a seam
        for subclasses: domain/ledger/recorders.py writes the inline views here)."""

    def _inserted(self, conn: Connection[DictRow]) -> None:
        """Called inside the save's transaction after its INSERT, before the commit (a
        seam for tests)."""

    def _announce(self) -> None:
        """The announcing thread: while saves were found held back, wait for the latest
        of them to become visible and notify the channel again; then end."""
        while True:
            with self._held_lock:
                transaction_id, self._held = self._held, None
                if transaction_id is None:
                    self._announcer = None
                    return
            try:
                with self.datastore.get_connection() as conn:
                    self._wait_until_visible(conn, transaction_id)
            except Exception:  # never ends the thread with the held slot taken
                log.warning("could not wait for saved events to become visible to readers", exc_info=True)

    def _wait_until_visible(self, conn: Connection[DictRow], transaction_id: str) -> None:
        """The committed transaction's rows were held back (an older transaction is still
        running): wait, bounded, until the horizon reaches them, then notify the channel
        again (the notification sent at the commit found them held back). Never raises:
        the events are saved."""
        started = time.monotonic()
        deadline = started + self.visibility_timeout
        delay = 0.0002
        try:
            while True:
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
                row = conn.execute(self.visible_statement, (transaction_id,), prepare=True).fetchone()
                if row is not None and row["visible"]:
                    conn.execute(self.notify_statement)
                    return
                if time.monotonic() >= deadline:
                    log.warning("saved events are held back from readers by a transaction older than "
                                "theirs, still running after %.1f s", self.visibility_timeout)
                    return
        except PsycopgError:
            log.warning("could not check that saved events are visible to readers", exc_info=True)
        finally:
            self.held_back_seconds += time.monotonic() - started

    # --- reading -----------------------------------------------------------------------

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_headers(self, after: int, limit: int) -> list[tuple[int, UUID, int]]:
        """The id, aggregate and version of the events after `after`, in id order, as
        `select_notifications(after, limit, inclusive_of_start=False)` would give them (up to
        the horizon, this process's last save waited for), without their state."""
        self._wait_for_own(after, inclusive_of_start=False)
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version FROM {schema}.{table} "
            "WHERE notification_id <= {horizon} AND notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name),
                 horizon=self.horizon)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, (after, limit), prepare=True)
            return curs.fetchall()

    def _is_stored(self, notification_id: int) -> bool:
        """Whether the log holds the event of this id (committed, whatever the horizon)."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(self.stored_statement, (notification_id,), prepare=True).fetchone()
        return bool(row and row["stored"])

    def _forget_own(self, saved: int, horizon: int) -> None:
        """This process's last save (`saved`, committed) is no longer in the log: the store
        was replaced (its tables made anew, their ids started again) or rows were deleted
        behind the ledger's back. Nothing is left to wait for: the reads' bound comes down
        to the horizon, so that they neither wait for it in vain nor miss a later save."""
        with self._own.lock:
            if self._own.saved_last != saved:
                return  # a save of this process came since: its id is the bound now
            self._own.saved_last = horizon
            self._own.visible_through = min(self._own.visible_through, horizon)
        log.warning("the last event this process saved (position %d) is no longer in the log: the store was "
                    "replaced, or events were deleted outside the ledger (`ledger verify` tells which)", saved)

    def adopt(self, notification_id: int) -> None:
        """Events up to `notification_id` were saved for this process by others (an import's
        workers): its reads of the log wait for them as for its own saves."""
        with self._own.lock:
            self._own.saved_last = max(self._own.saved_last, notification_id)

    def _wait_for_own(self, start: int | None, *, inclusive_of_start: bool) -> None:
        """Read-your-writes for a read of the log from `start`: wait (see
        `max_notification_id`) while the range includes this process's last save and an
        older transaction still holds it back."""
        saved = self._own.saved_last
        if saved > self._own.visible_through and (start is None or start < saved
                                              or (inclusive_of_start and start == saved)):
            self.max_notification_id()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's query, up to the horizon (once it includes this process's last
        save, when the range asked for does: see `max_notification_id`)."""
        self._wait_for_own(start, inclusive_of_start=inclusive_of_start)
        statement: Composed = SQL("SELECT * FROM {schema}.{table} WHERE notification_id <= {horizon}").format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name), horizon=self.horizon
        )
        params: list[Any] = []
        if start is not None:
            statement += SQL(" AND notification_id >= %s" if inclusive_of_start else " AND notification_id > %s")
            params.append(start)
        if stop is not None:
            statement += SQL(" AND notification_id <= %s")
            params.append(stop)
        if topics:
            statement += SQL(" AND topic = ANY(%s)")
            params.append(list(topics))
        statement += SQL(" ORDER BY notification_id LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def max_notification_id(self) -> int | None:
        """The last position a reader of the log can read now (the horizon): every id up to
        it is committed or a permanent gap. None when there is none. Read-your-writes: while
        an older transaction holds back the last save of this process, wait (bounded, see
        the module's documentation) until it passes; when that save is no longer in the log
        at all, don't wait (`_forget_own`)."""
        own = self._own
        saved = own.saved_last
        found = super().max_notification_id() or 0
        if found < saved and not self._is_stored(saved):
            self._forget_own(saved, found)
            return found or None
        if found < saved:
            deadline = time.monotonic() + self.visibility_timeout
            delay = 0.0002
            while found < saved and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
                found = super().max_notification_id() or 0
        if found >= saved:
            with own.lock:
                own.visible_through = max(own.visible_through, saved)
        return found or None
