"""The projection engine: reads the event store's notifications in batches and applies
each batch to every read model, writing the rows and the tracking position in one
transaction, so an event is applied exactly once whatever fails when.

It works on both stores: it wakes on PostgreSQL's NOTIFY (eventsourcing notifies the
events table's channel on every insert) and polls on SQLite. It runs in-process for the
embedded default (`catch_up()` after each command, or `start()` for a thread) and as a
separate worker process for PostgreSQL deployments (`python -m projections.worker`).
Notification ids are in commit order on both stores (eventsourcing's PostgreSQL recorder
locks the table for inserts unless its DB functions are enabled: keep them off) and may
have gaps, which the engine simply passes over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql as pgsql

from domain.ledger import Ledger
from projections.db import ViewDatabase
from projections.figures import FiguresView
from projections.history import HistoryView
from projections.members import MembersView
from projections.organizations import OrganizationsView, Tree
from projections.tables import Counters, Table
from projections.transfers import TransfersView

log = logging.getLogger(__name__)

TRACKING_DDL = "CREATE TABLE IF NOT EXISTS proj_tracking (name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
TRACKING_NAME = "views"
REBUILD_BATCH = 20_000


class _Stale(Exception):
    """The stored position moved on under this engine."""
Progress = Callable[[int, int], None]  # (position reached, target position)


class ProjectionEngine:
    def __init__(self, ledger: Ledger, db: ViewDatabase, *, batch_size: int = 2000) -> None:
        self.ledger, self.db, self.batch_size = ledger, db, batch_size
        self.tree = Tree()
        self.organizations = OrganizationsView(self.tree)
        self.members = MembersView()
        self.transfers = TransfersView(self.tree)
        self.figures = FiguresView(self.tree, self.members, self.transfers)
        self.history = HistoryView(self.members, self.transfers)
        # Order matters: figures first, so it sees each member's state before the event;
        # history last, so it sees the rows an event creates.
        self.views = (self.figures, self.organizations, self.members, self.transfers, self.history)
        self.tables: list[Table] = [t for v in self.views for t in v.tables]  # type: ignore[attr-defined]
        self.counters: list[Counters] = list(self.figures.counters)
        self.position = 0
        self._dispatch: dict[type, list[tuple[Any, Callable[..., None]]]] = {}
        self.applied = 0  # events applied by this engine object
        self._lock = threading.RLock()
        self._advanced = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock_tracking = "SELECT position FROM proj_tracking WHERE name = ?" + (
            " FOR UPDATE" if db.kind == "postgres" else "")
        self.setup()

    # --- set-up ------------------------------------------------------------------------

    def ddl(self) -> list[str]:
        statements = [TRACKING_DDL]
        for table in [*self.tables, *self.counters]:
            statements.extend(table.ddl)
        return statements

    def setup(self) -> None:
        """Create the view tables if missing and load the tracking position and tree."""
        with self._lock:
            with self.db.transaction():
                for statement in self.ddl():
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO proj_tracking (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                    (TRACKING_NAME,),
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

    def _before_commit(self) -> None:
        """Called inside each batch's transaction after all writes (a seam for tests)."""

    def process_batch(self, until: int | None = None, limit: int | None = None) -> int:
        """Apply the next batch of events; returns how many were applied (0: caught up;
        -1: another engine had applied them, and this one has moved to where it is)."""
        with self._lock:
            limit = limit or self.batch_size
            notifications = self.ledger.recorder.select_notifications(
                start=self.position, limit=limit, stop=until, inclusive_of_start=False
            )
            if not notifications:
                return 0
            mapper = self.ledger.mapper
            try:
                with self.db.transaction():
                    stored = self.db.scalar(self._lock_tracking, (TRACKING_NAME,))
                    if stored != self.position:
                        raise _Stale(stored)
                    for notification in notifications:
                        event = mapper.to_domain_event(notification)
                        for view, handler in self._handlers(type(event)):
                            handler(view, event, notification.id, self.db)
                    for table in self.tables:
                        table.flush(self.db)
                    for counters in self.counters:
                        counters.flush(self.db)
                    self.db.execute(
                        "UPDATE proj_tracking SET position = ? WHERE name = ?",
                        (notifications[-1].id, TRACKING_NAME),
                    )
                    self._before_commit()
            except _Stale:
                # Another engine (another process) applied these events first: follow it.
                self._reload()
                return -1
            except BaseException:
                # The transaction rolled back: forget what the caches saw and reload.
                self._reload()
                raise
            self.position = notifications[-1].id
            self.applied += len(notifications)
            self._advanced.notify_all()
            return len(notifications)

    def catch_up(
        self, until: int | None = None, progress: Progress | None = None, batch_size: int | None = None
    ) -> int:
        """Apply every event recorded so far (or up to `until`); returns the position."""
        with self._lock:
            target = until if until is not None else self.ledger.max_position()
            while self.position < target and self.process_batch(until=target, limit=batch_size) != 0:
                if progress is not None:
                    progress(self.position, target)
            return self.position

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

    def _safe_catch_up(self) -> None:
        try:
            self.catch_up()
        except Exception:
            log.exception("projection batch failed; retrying")
            time.sleep(1.0)

    def _poll(self, interval: float) -> None:
        while not self._stop.is_set():
            if (self.ledger.max_position() or 0) > self.position:
                self._safe_catch_up()
            self._stop.wait(interval)

    def _listen(self, interval: float) -> None:
        """Wake on NOTIFY; also check every second, so a lost notification costs a second."""
        channel = self.ledger.recorder.channel_name  # type: ignore[attr-defined]
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.db.url.split("?")[0], autocommit=True, connect_timeout=5
                ) as conn:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    self._safe_catch_up()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            pass
                        self._safe_catch_up()
            except psycopg.Error:
                log.exception("lost the notification connection; reconnecting")
                self._stop.wait(1.0)

    # --- rebuild and verify ------------------------------------------------------------

    def drop(self) -> None:
        with self.db.transaction():
            for name in ["proj_tracking", *(t.name for t in self.tables), *(c.name for c in self.counters)]:
                self.db.execute("DROP TABLE IF EXISTS " + name)  # names are this module's constants

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view and apply every event again from the first; returns the position."""
        with self._lock:
            self.drop()
            self.setup()
            # Larger batches while rebuilding: a row changed by many events is written once a batch.
            return self.catch_up(progress=progress, batch_size=max(self.batch_size, REBUILD_BATCH))

    def snapshot(self) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
        """The tracking position and every view table's rows, read consistently."""
        with self._lock, self.db.snapshot():
            position = int(
                self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,)) or 0
            )
            rows = {t.name: self.db.query(t.select_all) for t in [*self.tables, *self.counters]}
            return position, rows

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
        for table in [*self.tables, *self.counters]:
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
