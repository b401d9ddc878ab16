"""The projection engine: reads the event store's notifications in batches and applies
each batch to every read model, writing the rows and the tracking position in one
transaction, so an event is applied exactly once whatever fails when.

It works on both stores: it wakes on PostgreSQL's NOTIFY (eventsourcing notifies the
events table's channel on every insert) and polls on SQLite. It runs in-process for the
embedded default (`catch_up()` after each command, or `start()` for a thread) and as a
separate worker process for PostgreSQL deployments (`python -m projections.worker`).
Notification ids are read in commit order on both stores (on PostgreSQL the reader stops
before a save still in flight: domain/pglog.py) and may have gaps, which the engine simply
passes over. It passes over the events of topics no
view handles too (`unread_topics()`): they are left out of its pages, but counted, and its
position moves past them.

It outlives the database's restarts: after a failed batch its view connection, when it no
longer answers, is replaced (`ViewDatabase.reconnect()`) and the caches reload from what
was committed before the next batch; the background thread retries with a growing pause
(up to `RETRY_MAX_SECONDS`) instead of giving up. `lag()` says how far the views trail
the log.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any, cast

import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import TopicError, resolve_topic
from psycopg import sql as pgsql
from psycopg.rows import tuple_row

from domain.base import LedgerAggregate
from domain.ledger import Ledger
from projections.cases import CasesView
from projections.db import ViewDatabase
from projections.decoding import EventDecoder
from projections.figures import FiguresView
from projections.history import HistoryView
from projections.members import MembersView
from projections.organizations import OrganizationsView, Tree
from projections.reading import NotificationReader, Page
from projections.tables import Counters, Table
from projections.transfers import TransfersView

log = logging.getLogger(__name__)

TRACKING_DDL = "CREATE TABLE IF NOT EXISTS proj_tracking (name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
TRACKING_NAME = "views"
# A fingerprint of the view tables' DDL, kept beside the position: views built by other
# table definitions are dropped and rebuilt from the first event.
SCHEMA_NAME = "schema"
REBUILD_BATCH = 100_000
# SQLite: the suffix of a view table set aside by a rebuild, dropped while the rebuild runs
# (a DROP walks every page of a table: tens of seconds for a province's views).
SET_ASIDE = "_set_aside"
# The interpreter's switch interval while batches are applied on one thread and written on
# another (seconds; Python's default is 0.005): the writer gives the interpreter up at each
# call into the database and then waits, up to this long, for the applying thread to let
# it go again. Short, so that those waits don't add up to the writer's whole time.
OVERLAPPED_SWITCH_INTERVAL = 0.0005
# While the writer is still busy with a batch, the applying thread goes on applying pages
# into the next one, up to this many pages (by store): a row changed again in them is
# written once, so batches grow where writing sets the pace (and stay one page where applying
# does). Measured at province scale: on PostgreSQL, where the writer sets the pace after the
# imports, 8 pages rebuilt in 366 s against 388 s with 4; SQLite's applying thread sets the
# pace there, and 4 was measured.
OVERLAPPED_MAX_PAGES = {"postgres": 8, "sqlite": 4}
# The background thread's pause after a failed catch-up: doubled from the first to the
# last while failures follow each other (seconds).
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0


class _Stale(Exception):
    """The stored position moved on under this engine."""
Progress = Callable[[int, int], None]  # (position reached, target position)


def tracked_position(db: ViewDatabase) -> int:
    """The position the views have applied, as stored (0 when they were never set up),
    read without creating anything."""
    if db.kind == "postgres":
        exists = db.scalar("SELECT to_regclass('proj_tracking') IS NOT NULL")
    else:
        exists = db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'proj_tracking'")
    if not exists:
        return 0
    return int(db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,)) or 0)


def events_between(ledger: Ledger, after: int, upto: int) -> int:
    """How many events the log holds after position `after` up to `upto` (positions have
    gaps: the difference of the two overstates it)."""
    if upto <= after:
        return 0
    recorder = ledger.recorder
    if isinstance(recorder, PostgresApplicationRecorder):
        statement = pgsql.SQL("SELECT count(*) FROM {} WHERE notification_id > %s AND notification_id <= %s").format(
            pgsql.Identifier(recorder.datastore.schema, recorder.events_table_name))
        with recorder.datastore.get_connection() as connection, \
                connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, (after, upto))
            return int(cast(tuple[int], cursor.fetchone())[0])
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT count(*) FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ?",
                           (after, upto))  # the table's name is the recorder's own
            return int(cursor.fetchone()[0])
    return upto - after


def views_lag(ledger: Ledger, views_position: int) -> dict[str, int]:
    """How far views at `views_position` trail the log: `{log_position, views_position,
    behind}`, `behind` counting the events recorded since (0: the views are current)."""
    log_position = ledger.max_position()
    return {"log_position": log_position, "views_position": views_position,
            "behind": events_between(ledger, views_position, log_position)}


class _AfterWrites:
    """The view database as the handlers see it while a batch's writes may still be in
    flight on the writer thread: anything asked of it first waits for those writes."""

    def __init__(self, db: ViewDatabase) -> None:
        self._db = db
        self.pending: Future[tuple[int, int]] | None = None

    def __getattr__(self, name: str) -> Any:
        if self.pending is not None:
            self.pending.result()
        return getattr(self._db, name)


class ProjectionEngine:
    def __init__(self, ledger: Ledger, db: ViewDatabase, *, batch_size: int = 2000) -> None:
        self.ledger, self.db, self.batch_size = ledger, db, batch_size
        self.tree = Tree()
        self.organizations = OrganizationsView(self.tree)
        self.members = MembersView()
        self.transfers = TransfersView(self.tree)
        self.figures = FiguresView(self.tree, self.members, self.transfers)
        self.history = HistoryView(self.members, self.transfers)
        self.cases = CasesView()
        # Order matters: figures first, so it sees each member's state before the event;
        # history last, so it sees the rows an event creates.
        self.views = (self.figures, self.organizations, self.members, self.transfers, self.cases, self.history)
        self.tables: list[Table] = [t for v in self.views for t in v.tables]  # type: ignore[attr-defined]
        self.counters: list[Counters] = list(self.figures.counters)
        self.all_tables: list[Table | Counters] = [*self.tables, *self.counters]
        self.position = 0
        self.decoder = EventDecoder(ledger.mapper)
        self._dispatch: dict[type, list[tuple[Any, Callable[..., None]]]] = {}
        self.reader = NotificationReader(ledger.recorder, self.unread_topics())
        self._decode = self.decoder.decode_row if self.reader.rows else self.decoder.decode
        self.applied = 0  # events applied by this engine object
        self._lock = threading.RLock()
        self._advanced = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._set_aside: list[str] = []  # tables the writer drops between batches (SQLite rebuild)
        self._dirty = False  # an apply inside a save failed: the caches reload after it
        # An apply inside a save succeeded and awaits `settle()`: another apply before it is
        # the recorder saving again after that transaction failed (domain/pglog.py retries).
        self._unsettled_apply = False
        # A batch failed and the caches could not be reloaded from the database then: they
        # are, with a new connection if the old one is dead, before the next batch.
        self._unsettled = False
        self._retry = threading.Event()  # set to make the background thread try again now
        # Called with the position after each move of it (from the thread that moved it).
        self.on_advanced: list[Callable[[int], None]] = []
        self._lock_tracking = "SELECT position FROM proj_tracking WHERE name = ?" + (
            " FOR UPDATE" if db.kind == "postgres" else "")
        self.setup()

    # --- set-up ------------------------------------------------------------------------

    def ddl(self, indexes: bool = True) -> list[str]:
        """The views' DDL; without the secondary indexes when not `indexes` (a bulk load
        builds them once at its end)."""
        statements = [TRACKING_DDL]
        for table in self.all_tables:
            statements.extend(s for s in table.ddl if indexes or not s.startswith("CREATE INDEX"))
        return statements

    def fingerprint(self) -> int:
        """A number that changes with the view tables' definitions (not with their indexes),
        as this store runs them."""
        tables = "\n".join(self.db.dialect(s) for s in self.ddl() if not s.startswith("CREATE INDEX"))
        return int(hashlib.sha256(tables.encode()).hexdigest()[:7], 16)

    def setup(self, indexes: bool = True) -> None:
        """Create the view tables if missing and load the tracking position and tree. Views
        applied with other table definitions (an older version) are dropped first, so the
        engine rebuilds them from the first event."""
        with self._lock:
            fingerprint = self.fingerprint()
            with self.db.transaction():
                self.db.execute(TRACKING_DDL)
                stored = self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (SCHEMA_NAME,))
                applied = self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,))
                if stored != fingerprint and (stored is not None or applied):
                    log.warning("the view tables' definitions changed: rebuilding the views from the first event")
                    self._drop_tables()
                    self.db.execute(TRACKING_DDL)
                if self.db.kind == "sqlite" and not self._set_aside:
                    # tables an interrupted rebuild set aside (their indexes' names clash)
                    for (name,) in self.db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE ?",
                                                 ("%" + SET_ASIDE,)):
                        self._drop_table(name)
                for statement in self.ddl(indexes):
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO proj_tracking (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                    (TRACKING_NAME,),
                )
                self.db.execute(
                    "INSERT INTO proj_tracking (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    (SCHEMA_NAME, fingerprint),
                )
            self._reload()

    def _reload(self) -> None:
        for table in self.tables:
            table.forget()
        for counters in self.counters:
            counters.forget()
        self.position = int(
            self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,)) or 0
        )
        self.tree.load(self.db)
        if self.position == 0:  # nothing applied yet: the caches are the whole (empty) truth
            for table in self.tables:
                table.complete = True
            for counters in self.counters:
                counters.known = set()
        self._unsettled = False
        self._moved()

    def _moved(self) -> None:
        """Wake whoever waits for the position (`wait_for()`, `on_advanced`)."""
        self._advanced.notify_all()
        for listener in self.on_advanced:
            listener(self.position)

    def _recover(self) -> None:
        """After a failed batch (its transaction rolled back): forget what the caches saw and
        reload them from the database, or, when it can't be read now, before the next batch."""
        try:
            self._reload()
        except Exception:
            self._unsettled = True

    def _settle_connection(self) -> None:
        """Before a batch, after a failure: a view connection that no longer answers (the
        database restarted) is replaced, and the caches reload from what was committed."""
        if not self._unsettled:
            return
        if not self.db.ping():
            log.warning("the views' database connection was lost; reconnecting")
            self.db.reconnect()
        self._reload()

    # --- applying ----------------------------------------------------------------------

    def _handlers(self, event_type: type) -> list[tuple[Any, Callable[..., None]]]:
        """Each view's handler for an event type, resolved once per type (views that
        ignore the type are left out)."""
        found = self._dispatch.get(event_type)
        if found is None:
            found = []
            for view in self.views:
                dispatcher = type(view).__dict__["apply"].dispatcher
                handler = dispatcher.dispatch(event_type)
                if handler is not dispatcher.dispatch(object):
                    found.append((view, handler))
            self._dispatch[event_type] = found
        return found

    def unread_topics(self) -> list[str]:
        """The topics of the ledger's event classes that no view handles (bookkeeping such
        as id claims and organizations' member indexes): the reader passes over their events."""
        classes: set[type] = set()
        found: list[type] = [LedgerAggregate.Event]
        while found:
            subclasses: list[type] = found.pop().__subclasses__()
            for subclass in subclasses:
                if subclass not in classes:
                    classes.add(subclass)
                    found.append(subclass)
        unread = []
        for topic in sorted({f"{cls.__module__}:{cls.__qualname__}" for cls in classes}):
            try:
                resolved = resolve_topic(topic)  # the class the store's topic stands for
            except TopicError:
                continue  # (a class defined in a function): read as any topic
            if isinstance(resolved, type) and not self._handlers(resolved):
                unread.append(topic)
        return unread

    def _before_commit(self) -> None:
        """Called inside each batch's transaction after all writes (a seam for tests)."""

    def process_batch(self, until: int | None = None, limit: int | None = None) -> int:
        """Apply the next batch of events; returns how many were applied (0: caught up;
        -1: another engine had applied them, and this one has moved to where it is)."""
        with self._lock:
            self._settle_connection()
            limit = limit or self.batch_size
            notifications, end, count = self.reader.select_range(self.position, limit, until)
            if not count:
                return 0
            decode, position_of = self._decode, self.reader.position
            try:
                with self.db.transaction():
                    stored = self.db.scalar(self._lock_tracking, (TRACKING_NAME,))
                    if stored != self.position:
                        raise _Stale(stored)
                    for notification in notifications:
                        event = decode(notification)
                        position = position_of(notification)
                        for view, handler in self._handlers(type(event)):
                            handler(view, event, position, self.db)
                    for table in self.tables:
                        table.flush(self.db)
                    for counters in self.counters:
                        counters.flush(self.db)
                    self.db.execute("UPDATE proj_tracking SET position = ? WHERE name = ?", (end, TRACKING_NAME))
                    self._before_commit()
            except _Stale:
                # Another engine (another process) applied these events first: follow it.
                self._reload()
                return -1
            except BaseException:
                # The transaction rolled back: forget what the caches saw and reload.
                self._recover()
                raise
            self.position = end
            self.applied += count
            self._moved()
            return count

    def apply_within(self, connection: Any, saved: list[tuple[int, Any]], before: int) -> tuple[int, int] | None:
        """Apply events being saved to the views in the transaction that saves them, on its
        connection (`connection`, see ViewDatabase.within), with the tracking position:
        `saved` are the domain events with their notification ids, in order, and `before` the
        greatest id below the first of them. Returns (position, count) once applied, for
        `settle()` after the commit; None when they are left to the next catch-up after the
        commit: other events came first (`before` beyond this engine's position, or the
        stored position moved), or applying failed (logged; undone to a savepoint, the
        caches reload at `settle()`), or an earlier attempt of the same save applied in a
        transaction that never committed (the recorder saves again after a lost connection,
        at other positions: the caches reload at `settle()`, and nothing the first attempt
        left in the tables' buffers is written). Call with the engine's lock held, until
        `settle()`."""
        if self._unsettled_apply:
            # An earlier attempt of this save applied its events in a transaction that did
            # not commit (the recorder retries the save after a lost connection): the caches
            # hold what rolled back, so they reload at `settle()`, and the catch-up applies.
            self._dirty = True
        if self._dirty:
            # A failed apply of an earlier attempt may have left rows in the tables' buffers
            # (those not yet written when it failed): none may be written with these events.
            return None
        if not saved or before != self.position:  # -1: the recorder can't tell (domain/ledger/recorders.py)
            return None
        db = ViewDatabase.within(connection, self.db)
        try:
            if db.scalar(self._lock_tracking, (TRACKING_NAME,)) != self.position:
                return None
            end = saved[-1][0]
            try:
                with db.savepoint():
                    for position, event in saved:
                        for view, handler in self._handlers(type(event)):
                            handler(view, event, position, db)
                    for table in self.tables:
                        table.flush(db)
                    for counters in self.counters:
                        counters.flush(db)
                    db.execute("UPDATE proj_tracking SET position = ? WHERE name = ?", (end, TRACKING_NAME))
            except Exception:
                log.exception("the views could not apply the events being saved; they catch up after the commit")
                self._dirty = True
                return None
            self._unsettled_apply = True
            return end, len(saved)
        finally:
            db.release()

    def settle(self, applied: tuple[int, int] | None, committed: bool) -> None:
        """After the transaction of `apply_within()`: the position moves on with a commit;
        after a rollback (or a failed apply) the caches reload from the stored views."""
        self._unsettled_apply = False
        if committed and applied is not None and not self._dirty:
            self.position = applied[0]
            self.applied += applied[1]
            self._moved()
        elif applied is not None or self._dirty:
            self._dirty = False
            self._recover()

    def catch_up(
        self, until: int | None = None, progress: Progress | None = None, batch_size: int | None = None,
        overlapped: bool = False,
    ) -> int:
        """Apply every event recorded so far (or up to `until`); returns the position.
        `overlapped`: write and commit each batch on a writer thread while the next one is
        applied in memory (for long catch-ups such as a rebuild)."""
        with self._lock:
            self._settle_connection()
            target = until if until is not None else self.ledger.max_position()
            if overlapped and self.position < target:
                self._catch_up_overlapped(target, batch_size or self.batch_size, progress)
            while self.position < target and self.process_batch(until=target, limit=batch_size) != 0:
                if progress is not None:
                    progress(self.position, target)
            return self.position

    def _catch_up_overlapped(self, target: int, limit: int, progress: Progress | None) -> None:
        """Batches as in `process_batch()`, each written with its tracking position in one
        transaction, but on a writer thread: batch n+1 is applied to the caches while batch
        n is written (one batch in flight at most). A batch is a page of `limit` events, or
        more while the writer is still busy (see OVERLAPPED_MAX_PAGES). On PostgreSQL the page of batch n+2 is
        read meanwhile on a reader thread, so the server's work and the transfer overlap the
        applying (on SQLite reading is mostly the interpreter building the page's rows and ids,
        which would only contend with the applying for the interpreter). A handler's read of
        the database waits for the writes in flight. After a failed batch the writer is
        waited for, and the caches reload from the committed state (the later batch, never
        written, is lost with them); when another engine moved the position, the caller goes
        on from there.

        The cyclic garbage collector is paused meanwhile (and resumed as it was): pages,
        events, rows and their keys form no reference cycles, so reference counting frees
        them all, while the collector would walk each page's objects several times over as
        they outlive its young generations. The interpreter's switch interval is shortened
        meanwhile (and restored): see OVERLAPPED_SWITCH_INTERVAL."""
        select, position_of = self.reader.select_range, self.reader.position
        decode = self._decode
        dispatch = self._dispatch
        prefetch = self.db.kind == "postgres"
        max_pages = OVERLAPPED_MAX_PAGES.get(self.db.kind, 1)

        def read(start: int) -> tuple[Page, int, int]:
            return select(start, limit, target)

        reader = _AfterWrites(self.db)
        db = cast(ViewDatabase, reader)
        applied = self.position
        collecting, switching = gc.isenabled(), sys.getswitchinterval()
        with ThreadPoolExecutor(1, thread_name_prefix="projection-writer") as writer, \
                ThreadPoolExecutor(1, thread_name_prefix="projection-reader") as reading:
            try:
                gc.disable()
                sys.setswitchinterval(min(switching, OVERLAPPED_SWITCH_INTERVAL))
                notifications, last, scanned = read(applied) if applied < target else ([], applied, 0)
                pages, count = 0, 0  # the pages applied since the last batch was handed over

                def hand_over() -> None:
                    nonlocal applied, pages, count
                    writes = [t.take() for t in self.tables] + [c.take() for c in self.counters]
                    self._settle(reader)
                    reader.pending = writer.submit(self._write_batch, writes, applied, last, count)
                    applied, pages, count = last, 0, 0
                    if progress is not None:
                        progress(applied, target)

                while scanned:  # events in the page, read or passed over
                    upcoming = reading.submit(read, last) if prefetch and last < target else None
                    for notification in notifications:
                        event = decode(notification)
                        handlers = dispatch.get(type(event))
                        if handlers is None:
                            handlers = self._handlers(type(event))
                        position = position_of(notification)
                        for view, handler in handlers:
                            handler(view, event, position, db)
                    pages, count = pages + 1, count + scanned
                    busy = reader.pending is not None and not reader.pending.done()
                    if not (busy and last < target and pages < max_pages):
                        hand_over()
                    if upcoming is not None:
                        notifications, last, scanned = upcoming.result()
                    elif last < target:
                        notifications, last, scanned = read(last)
                    else:
                        scanned = 0
                if count:  # the store ended short of the target (gaps): what was applied still goes
                    hand_over()
                self._settle(reader)
            except _Stale:
                self._reload()
            except BaseException:
                if reader.pending is not None:
                    wait_for_futures([reader.pending])
                self._recover()
                raise
            finally:
                sys.setswitchinterval(switching)
                if collecting:
                    gc.enable()

    def _settle(self, reader: _AfterWrites) -> None:
        """Wait for the batch in flight (raising its error) and count it as applied."""
        if reader.pending is None:
            return
        position, count = reader.pending.result()
        reader.pending = None
        self.position = position
        self.applied += count
        self._moved()

    def _write_batch(self, writes: list[Callable[[ViewDatabase], None]], start: int, position: int,
                     count: int) -> tuple[int, int]:
        if self._set_aside:  # one table set aside by the rebuild, while the next batch is applied
            self._drop_table(self._set_aside.pop())
        with self.db.transaction():
            stored = self.db.scalar(self._lock_tracking, (TRACKING_NAME,))
            if stored != start:
                raise _Stale(stored)
            for write in writes:
                write(self.db)
            self.db.execute("UPDATE proj_tracking SET position = ? WHERE name = ?", (position, TRACKING_NAME))
            self._before_commit()
        return position, count

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Read-your-writes: True once `position` is applied, False after `timeout`."""
        if self.position >= position:
            return True
        if self._thread is None:  # in-process: apply now
            self.catch_up()
            return self.position >= position
        deadline = time.monotonic() + timeout
        with self._advanced:
            while self.position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._advanced.wait(remaining)
        return True

    # --- running in the background -----------------------------------------------------

    def start(self, poll_interval: float = 0.2) -> None:
        """Follow the event store in a background thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        target = self._listen if self.db.kind == "postgres" else self._poll
        self._thread = threading.Thread(
            target=target, args=(poll_interval,), name="projection-engine", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        """Ask `run_forever()` or the background thread to return (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_forever(self, poll_interval: float = 0.2) -> None:
        (self._listen if self.db.kind == "postgres" else self._poll)(poll_interval)

    def retry_now(self) -> None:
        """Make the background thread try again at once (after a failure it pauses)."""
        self._retry.set()

    def _pause(self, failures: int) -> None:
        """The background thread's pause after `failures` failures in a row."""
        self._retry.clear()
        delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (failures - 1))
        deadline = time.monotonic() + delay
        while not self._stop.is_set() and not self._retry.is_set() and time.monotonic() < deadline:
            self._retry.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def _safe_catch_up(self, failures: int = 0) -> int:
        """Catch up; returns 0 when it did, else the failures in a row so far (after a
        pause that grows with them: the database may be restarting)."""
        try:
            self.catch_up()
            if failures:
                log.warning("the views apply events again, at position %d", self.position)
            return 0
        except Exception as error:
            failures += 1
            if failures == 1:
                log.exception("projection batch failed; retrying")
            else:
                log.warning("projection batch failed again (%s); retrying", type(error).__name__)
            self._pause(failures)
            return failures

    def _poll(self, interval: float) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                behind = (self.ledger.max_position() or 0) > self.position or self._unsettled
            except Exception:
                behind = True  # the store can't be read: catching up says why, and pauses
            if behind or failures:
                failures = self._safe_catch_up(failures)
            if not failures:
                self._stop.wait(interval)

    def _listen(self, interval: float) -> None:
        """Wake on NOTIFY; also check every second, so a lost notification costs a second.
        A lost connection (the database restarted) is made again, after a pause that grows
        while it can't be."""
        channel = self.ledger.recorder.channel_name  # type: ignore[attr-defined]
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.db.url.split("?")[0], autocommit=True, connect_timeout=5
                ) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    failures = self._safe_catch_up(failures)
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            pass
                        failures = self._safe_catch_up(failures)
            except psycopg.Error as error:
                failures += 1
                if failures == 1:
                    log.warning("lost the notification connection (%s); reconnecting", type(error).__name__)
                self._pause(failures)

    # --- rebuild and verify ------------------------------------------------------------

    def drop(self) -> None:
        with self.db.transaction():
            self._drop_tables()

    def _drop_table(self, name: str) -> None:
        self.db.execute("DROP TABLE IF EXISTS " + name)  # names are this module's constants (and SET_ASIDE)

    def _set_tables_aside(self) -> list[str]:
        """SQLite: rename the view tables that hold rows out of the way (at once), for the
        writer to drop between the rebuild's batches, while the applying thread sets the
        pace; PostgreSQL drops a table at once anyway."""
        if self.db.kind != "sqlite":
            return []
        names = []
        with self.db.transaction():
            for table in self.all_tables:
                if self.db.scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?",
                                  (table.name,)) and self.db.scalar(f"SELECT 1 FROM {table.name} LIMIT 1"):
                    self.db.execute(f"DROP TABLE IF EXISTS {table.name}{SET_ASIDE}")
                    self.db.execute(f"ALTER TABLE {table.name} RENAME TO {table.name}{SET_ASIDE}")
                    names.append(table.name + SET_ASIDE)
        return names

    def _drop_tables(self) -> None:
        for name in ["proj_tracking", *(t.name for t in self.all_tables)]:
            self.db.execute("DROP TABLE IF EXISTS " + name)  # names are this module's constants

    def rebuild(self, progress: Progress | None = None, until: int | None = None) -> int:
        """Drop every view and apply every event again from the first (up to `until`);
        returns the position. Batches are written while the next ones are applied.
        The secondary indexes are built after the load (an interrupted rebuild leaves them to
        the next `setup()`), and the database's durability settings are relaxed meanwhile
        (and its memory for sorting raised, for the indexes): each batch still commits with
        its tracking position, so a batch lost in a crash is lost with its position and
        applied again. On SQLite the old views are set aside at once and dropped by the
        writer between the first batches."""
        with self._lock:
            self._set_aside = self._set_tables_aside()
            try:
                self.drop()
                self.setup(indexes=False)
                with self.db.bulk_load():
                    # Larger batches while rebuilding: a row changed by many events is written once a batch.
                    position = self.catch_up(until=until, progress=progress,
                                             batch_size=max(self.batch_size, REBUILD_BATCH), overlapped=True)
                    while self._set_aside:  # before the indexes: the tables set aside hold their names
                        self._drop_table(self._set_aside.pop())
                    self.db.finish_load({t.name: [s for s in t.ddl if s.startswith("CREATE INDEX")]
                                         for t in self.all_tables},
                                        {t.name for t in self.tables if t.index_only})
            finally:
                self._set_aside = []  # any left (a failure): dropped by the next setup()
            return position

    def lag(self, views_position: int | None = None) -> dict[str, int]:
        """How far the views (at `views_position`, by default this engine's) trail the log:
        `{log_position, views_position, behind}`."""
        return views_lag(self.ledger, self.position if views_position is None else views_position)

    def snapshot(self) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
        """The tracking position and every view table's rows, read consistently."""
        with self._lock:
            self._settle_connection()
            try:
                with self.db.snapshot():
                    position = int(
                        self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,)) or 0
                    )
                    rows = {t.name: self.db.query(t.select_all) for t in self.all_tables}
                    return position, rows
            except (psycopg.Error, sqlite3.Error):
                self._unsettled = True  # the connection may be dead: looked at before the next use
                raise

    def verify(self, progress: Progress | None = None, limit: int = 100) -> dict[str, Any]:
        """Re-derive every view into a scratch database from the events up to the live
        position, and compare row by row. Returns {ok, events, position, mismatches}."""
        position, live = self.snapshot()
        scratch = ProjectionEngine(self.ledger, ViewDatabase.scratch(), batch_size=self.batch_size)
        try:
            scratch.catch_up(until=position, progress=progress, batch_size=max(self.batch_size, REBUILD_BATCH))
            _, rebuilt = scratch.snapshot()
            events = scratch.applied
        finally:
            scratch.db.close()
        mismatches: list[dict[str, Any]] = []
        total = 0
        for table in self.all_tables:
            key_len = len(getattr(table, "key", ("organization_code", "month", "figure")))
            left = {row[:key_len]: row for row in live[table.name]}
            right = {row[:key_len]: row for row in rebuilt[table.name]}
            for key in sorted(set(left) | set(right), key=repr):
                if left.get(key) != right.get(key):
                    total += 1
                    if len(mismatches) < limit:
                        mismatches.append({"table": table.name, "key": list(key),
                                           "live": left.get(key), "rebuilt": right.get(key)})
        return {"ok": total == 0, "position": position, "events": events,
                "mismatch_count": total, "mismatches": mismatches}


class InlineViews:
    """The views kept in the event store's own transaction: installed as the Ledger's
    `transaction_hook` (domain/ledger/recorders.py) by a process whose views are inline.
    The engine's lock is taken before the save's transaction begins (the engine's own
    order: its lock, then the database's) and held to the commit or rollback, so its
    background catch-up waits meanwhile."""

    def __init__(self, engine: ProjectionEngine) -> None:
        self.engine = engine
        self._held = False
        self._applied: tuple[int, int] | None = None

    def begin(self) -> None:
        self.engine._lock.acquire()
        self._held, self._applied = True, None

    def in_transaction(self, connection: Any, saved: list[tuple[int, Any]], before: int) -> None:
        if self._held:
            self._applied = self.engine.apply_within(connection, saved, before)

    def committed(self) -> None:
        self._end(committed=True)

    def rolled_back(self) -> None:
        self._end(committed=False)

    def _end(self, committed: bool) -> None:
        if not self._held:
            return
        try:
            self.engine.settle(self._applied, committed)
        finally:
            self._held, self._applied = False, None
            self.engine._lock.release()
