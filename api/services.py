"""Wiring in one place: the settings build the Ledger, the projection engine and the
pools of view connections the API reads from."""

from __future__ import annotations

import logging
import queue
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import psycopg

from api.errors import ApiError
from api.idempotency import IdempotencyStore
from api.idempotency import setup as setup_idempotency
from domain.ledger import Ledger
from domain.settings import Settings
from projections.db import ViewDatabase
from projections.engine import InlineViews, ProjectionEngine
from projections.queries import Queries

log = logging.getLogger("api")


class ViewPool:
    """A few view connections shared by the request threads."""

    def __init__(self, url: str, size: int = 4) -> None:
        self.url = url
        self._idle: queue.LifoQueue[ViewDatabase] = queue.LifoQueue()
        self._slots = queue.Queue[None]()
        for _ in range(size):
            self._slots.put(None)

    @contextmanager
    def connection(self) -> Iterator[ViewDatabase]:
        try:
            self._slots.get(timeout=10)
        except queue.Empty:
            raise ApiError("not_ready", "the database is busy; try again", 503) from None
        with self._held() as db:
            yield db

    @contextmanager
    def queries(self, spare: bool = True) -> Iterator[Queries]:
        """Queries reading one read-only snapshot of the views on a pooled connection, and
        (`spare`) the pool's spare connections for work beside it."""
        with self.connection() as db, db.snapshot():
            yield Queries(db, spare=self.spare if spare else None)

    @contextmanager
    def spare(self) -> Iterator[ViewDatabase | None]:
        """A connection if one is free now, else None (never waits): for a read's work
        beside its own connection, which goes on alone when every connection is busy."""
        try:
            self._slots.get_nowait()
        except queue.Empty:
            yield None
            return
        with self._held() as db:
            yield db

    @contextmanager
    def _held(self) -> Iterator[ViewDatabase]:
        """A connection for a slot taken; the slot is given back afterwards."""
        try:
            try:
                db = self._idle.get_nowait()
            except queue.Empty:
                db = ViewDatabase(self.url)
            try:
                yield db
            except (psycopg.Error, sqlite3.Error):
                db.close()  # its state is unknown: don't reuse it
                raise
            self._idle.put(db)
        finally:
            self._slots.put(None)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


class Services:
    def __init__(self, settings: Settings, *, today: Callable[[], date] | None = None) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.event_store_env(), today=today)
        self.engine = ProjectionEngine(self.ledger, ViewDatabase(settings.database_url))
        self.inline = settings.projections == "inline"
        if self.inline:
            # The views are written in the transaction of each command's save; a save the
            # engine could not apply inline (another process wrote first) is caught up after.
            self.ledger.transaction_hook = InlineViews(self.engine)
            self.ledger.on_saved.append(self._bring_views_up_to_date)
            self.engine.catch_up()
            self.engine.start()  # also follows what other processes record
        self.pool = ViewPool(settings.database_url)
        self.idempotency = IdempotencyStore(self.pool.connection)

    def attach_idempotency(self) -> None:
        with self.pool.connection() as db:
            setup_idempotency(db)

    def _bring_views_up_to_date(self, position: int) -> None:
        """After a command: the command is saved whatever happens here; a failure to
        project it is logged, and reads that need it answer 503 until it is resolved."""
        if self.engine.position >= position:
            return  # applied in the save's own transaction
        try:
            self.engine.catch_up()
        except Exception:
            log.exception("the views could not apply the latest events")

    @contextmanager
    def queries(self, min_position: int | None = None) -> Iterator[Queries]:
        """Queries on the views, once they have applied `min_position` (else 503), all
        reading one state of them: a page and its count, a report's figures, agree even
        while the views apply new events."""
        if min_position:
            self.wait_for(min_position)
        with self.pool.queries() as queries:
            yield queries

    def wait_for(self, position: int) -> None:
        timeout = self.settings.read_wait_seconds
        if self.inline:
            if not self.engine.wait_for(position, timeout=timeout):
                raise ApiError("not_ready", f"the views have not reached position {position} yet", 503)
            return
        deadline = time.monotonic() + timeout
        while True:
            with self.pool.connection() as db:
                if Queries(db).position() >= position:
                    return
            if time.monotonic() > deadline:
                raise ApiError("not_ready", f"the views have not reached position {position} yet", 503)
            time.sleep(0.02)

    def close(self) -> None:
        self.engine.stop()
        self.engine.db.close()
        self.pool.close()
        self.ledger.close()
