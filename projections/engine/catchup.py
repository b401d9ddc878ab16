"""Catching up with the log: batch after batch (`catch_up()`), or, for long catch-ups such
as a rebuild, batches written on a writer thread while the next ones are applied in memory;
and read-your-writes (`wait_for()`)."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any, cast

from projections.db import ViewDatabase
from projections.engine.inline import InlineApplying
from projections.engine.tracking import TRACKING_NAME, Progress, StalePosition
from projections.reading import Page

# The interpreter's switch interval while batches are applied on one thread and written on
# another (seconds; Python's default is 0.005): the writer gives the interpreter up at each
# call into the database and then waits, up to this long, for the applying thread to let
# it go again. Short, so that those waits don't add up to the writer's whole time.
OVERLAPPED_SWITCH_INTERVAL = 0.0005
# While the writer is still busy with a batch, the applying thread goes on applying pages
# into the next one, up to this many pages (by store): a row changed again in them is
# written once, so batches grow where writing sets the pace (and stay one page where applying
# does). Chosen by measuring a province-scale rebuild (docs/BENCHMARKS.md): on PostgreSQL the
# writer sets the pace after the imports and 8 pages rebuilt faster than 4; on SQLite the
# applying thread sets the pace, and 4 was kept.
OVERLAPPED_MAX_PAGES = {"postgres": 8, "sqlite": 4}


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



class CatchingUp(InlineApplying):
    def catch_up(
        self, until: int | None = None, progress: Progress | None = None, batch_size: int | None = None,
        overlapped: bool = False,
    ) -> int:
        """Apply every event recorded so far (or up to `until`); returns the position.
        `overlapped`: write and commit each batch on a writer thread while the next one is
        applied in memory (for long catch-ups such as a rebuild)."""
        # Read before the lock: reading the log's end waits for this process's last save to
        # become readable (domain/pglog.py), and the next save waits for the lock. Read even
        # with `until` given: a position the views applied inline (verify's, a rebuild's) may
        # still be held back by an older transaction, and this reader would stop short of it.
        end = self.ledger.max_position()
        target = until if until is not None else end
        with self._lock:
            self._settle_connection()
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
            except StalePosition:
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
                raise StalePosition(stored)
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
