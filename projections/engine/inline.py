"""The views kept inline: events applied to the views in the very transaction that saves
them (`apply_within()`, `settle()` after its commit or rollback), and the hook that the
Ledger calls around each save (`InlineViews`)."""

from __future__ import annotations

import logging
from typing import Any

from projections.db import ViewDatabase
from projections.engine.core import EngineCore
from projections.engine.tracking import TRACKING_NAME

log = logging.getLogger("projections.engine")  # one logger for the engine's modules
# A save of at most this many events writes its views' rows in pipeline mode (one round
# trip; ViewDatabase.pipeline), a bigger one (an import's group) as a catch-up does (COPY).
PIPELINED_EVENTS = 64


class InlineApplying(EngineCore):
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
        small = len(saved) <= PIPELINED_EVENTS
        # PostgreSQL: the views' settings and the tracking row's lock in one round trip.
        if small and self.db.kind == "postgres":
            with connection.pipeline() as pipeline:
                db = ViewDatabase.within(connection, self.db)
                locked = connection.execute(db.dialect_sql(self._lock_tracking), (TRACKING_NAME,))
                pipeline.sync()
                row = locked.fetchone()
            stored = row[0] if row else None
        else:
            db = ViewDatabase.within(connection, self.db)
            stored = db.scalar(self._lock_tracking, (TRACKING_NAME,))
        try:
            if stored != self.position:
                return None
            end = saved[-1][0]
            try:
                for position, event in saved:  # the handlers read; the rows are written below
                    for view, handler in self._handlers(type(event)):
                        handler(view, event, position, db)
                # A command's few rows in one round trip, savepoint included (a bulk save's
                # by COPY).
                with db.pipelined_savepoint() if small else db.savepoint():
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


class InlineViews:
    """The views kept in the event store's own transaction: installed as the Ledger's
    `transaction_hook` (domain/ledger/recorders.py) by a process whose views are inline.
    The engine's lock is taken before the save's transaction begins (the engine's own
    order: its lock, then the database's) and held to the commit or rollback, so its
    background catch-up waits meanwhile."""

    def __init__(self, engine: InlineApplying) -> None:
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
