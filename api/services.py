"""Wiring in one place: the settings build the Ledger, the projection engine and the
pools of view connections the API reads from.

Every connection here outlives a restart of the database: the view pool replaces a
connection that no longer answers when it lends it (`ViewDatabase.ping()`), the projection
engine replaces its own after a failed batch, and the Ledger's pool checks a connection
it lends unless lent a moment ago (`POSTGRES_PRE_PING`, domain/pgpool.py), and tries a
statement again on another connection after a lost one. Reads that wait for a position wait on
the event loop (`ViewsWatch`), holding no thread and no connection meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent

from api.errors import ApiError
from api.idempotency import IdempotencyStore
from api.idempotency import setup as setup_idempotency
from domain.ledger import Ledger
from domain.personal import DataKeys, PersonalDataUnreadable
from domain.settings import Settings
from projections import access
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
            else:
                if not db.ping():  # the database restarted (or closed it) while it was idle
                    log.info("a view connection was lost while idle; reconnecting")
                    db.reconnect()
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


class ViewsWatch:
    """Where reads wait for the views to reach a position (`min_position`): on the event
    loop, each on a future, so that a wait holds no thread of the pool that runs routes and
    no connection. One thread looks at the views' position for all of them, only while any
    waits (at once when `poke()`d, else every `interval` seconds), and wakes those whose
    position is reached. At most `limit` reads wait at once: the next is refused at once."""

    def __init__(self, position: Callable[[], int], *, limit: int, interval: float = 0.02,
                 known: Callable[[], int] | None = None) -> None:
        self._position = position  # the views' position now (may read the database, may fail)
        self.seen = 0  # the position last read
        self._known = known or (lambda: self.seen)  # a position known to be applied, at no cost
        self.limit, self.interval = limit, interval
        self._lock = threading.Lock()
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        """How many reads wait now."""
        return len(self._waiters)

    def poke(self, *_: object) -> None:
        """The position may have moved: look now (safe from any thread)."""
        self._wake.set()

    async def wait(self, position: int, timeout: float) -> bool:
        """True once the views have applied `position`, False after `timeout` seconds.
        Raises `WaitersFull` when `limit` reads wait already."""
        if self._known() >= position:
            return True
        loop = asyncio.get_running_loop()
        entry = (position, loop, loop.create_future())
        with self._lock:
            if len(self._waiters) >= self.limit:
                raise WaitersFull(len(self._waiters))
            self._waiters.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="views-watch", daemon=True)
                self._thread.start()
        self._wake.set()
        try:
            await asyncio.wait_for(entry[2], timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.remove(entry)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            if not self._waiters:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self.seen = self._position()
                failing = False
            except Exception as error:  # the database is away: the waits time out, or it comes back
                if not failing:
                    log.warning("could not read the views' position (%s); trying again", type(error).__name__)
                failing = True
            else:
                with self._lock:
                    reached = [(loop, future) for target, loop, future in self._waiters if target <= self.seen]
                for loop, future in reached:
                    with suppress(RuntimeError):  # its loop is closed: nobody waits any more
                        loop.call_soon_threadsafe(_resolve, future)
            self._wake.wait(self.interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class WaitersFull(Exception):
    """As many reads as allowed wait for the views already."""


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
        # The log's seals (projections/sealer.py), appended by a thread of their own after
        # each save: the save never waits for them.
        # The access log (projections/access.py) is sealed by the same thread.
        self.sealer = access.sealer(self.ledger, ViewDatabase(settings.database_url))
        self.ledger.on_saved.append(self.sealer.poke)
        self.sealer.start()
        self.pool = ViewPool(settings.database_url)
        self.idempotency = IdempotencyStore(self.pool.connection, DataKeys(settings.data_keys.get_secret_value()))
        self._watch_db: ViewDatabase | None = None  # worker mode: the watch's own connection
        if self.inline:
            self.watch = ViewsWatch(lambda: self.engine.position, limit=settings.read_waiters,
                                    known=lambda: self.engine.position)
            self.engine.on_advanced.append(self.watch.poke)
        else:
            self.watch = ViewsWatch(self._stored_position, limit=settings.read_waiters)

    def attach_idempotency(self) -> None:
        with self.pool.connection() as db:
            setup_idempotency(db)

    def _bring_views_up_to_date(self, position: int) -> None:
        """After a command: the command is saved whatever happens here. A failure to
        project it is tried again once at once (a view connection the database dropped is
        replaced then), else logged and left to the engine's thread, which retries until it
        succeeds: reads that need it wait for that (or answer 503 after the wait)."""
        if self.engine.position >= position:
            return  # applied in the save's own transaction
        for attempt in (1, 2):
            try:
                self.engine.catch_up()
                return
            except Exception:
                if attempt == 2:
                    log.exception("the views could not apply the latest events; the engine's thread retries")
                    self.engine.retry_now()

    def record_access(self, operator: Any, action: str, registration_no: str | None = None,
                      scope: str | None = None) -> None:
        """A read of personal records by `operator` (api/deps.py Operator): one row of the
        access log, sealed soon after."""
        with self.pool.connection() as db:
            access.record(db, action, operator_id=operator.id, organization_code=operator.organization_code,
                          registration_no=registration_no, scope=scope)
        self.sealer.poke()

    def _stored_position(self) -> int:
        """The views' position as stored (worker mode: another process applies the events),
        read on the watch's own connection, made again when it no longer answers."""
        if self._watch_db is None or not self._watch_db.ping():
            if self._watch_db is not None:
                self._watch_db.close()
                self._watch_db = None
            self._watch_db = ViewDatabase(self.settings.database_url)
        return Queries(self._watch_db).position()

    async def reached(self, position: int) -> None:
        """Wait, on the event loop, until the views have applied `position`: 503 `not_ready`
        after `read_wait_seconds`, or at once when `read_waiters` reads wait already."""
        if self.inline:
            self.engine.retry_now()  # a thread pausing after a failure tries again now
        try:
            done = await self.watch.wait(position, self.settings.read_wait_seconds)
        except WaitersFull:
            raise ApiError("not_ready", "too many reads are waiting for the views; try again", 503) from None
        if not done:
            raise ApiError("not_ready", f"the views have not reached position {position} yet", 503)

    def lag(self) -> dict[str, int]:
        """How far the views trail the log: `{log_position, views_position, behind}`."""
        if self.inline:
            return self.engine.lag()
        with self.pool.connection() as db:
            return self.engine.lag(Queries(db).position())

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
        self.watch.stop()
        if self._watch_db is not None:
            self._watch_db.close()
        self.engine.stop()
        self.engine.db.close()
        self.sealer.stop()
        self.sealer.db.close()
        self.pool.close()
        self.ledger.close()


# --- reads shared by the routes and the command line (`ledger history`, `ledger report`,
# `ledger export`) ------------------------------------------------------------------------

from uuid import UUID  # noqa: E402

from domain.calendar import month_text  # noqa: E402
from domain.errors import FutureDate, ValidationError  # noqa: E402
from domain.member import validate_month  # noqa: E402
from projections.history import event_data, event_type  # noqa: E402


def member_history(ledger: Ledger, queries: Queries, registration_no: str,
                   limit: int = 1000, offset: int = 0) -> dict[str, Any]:
    """A member's history, oldest first, as `{data, count}` (also the CLI's `ledger history`)."""
    number = ledger.member(registration_no).registration_no
    rows, count = queries.history_entries(number, limit, offset)
    events: dict[str, dict[int, Any]] = {}
    for aggregate_id in {row[1] for row in rows}:  # one read of the store per aggregate
        events[aggregate_id] = {e.originator_version: e for e in ledger.aggregate_events(UUID(aggregate_id))}
    data = []
    for position, aggregate_id, version in rows:
        event = events[aggregate_id][version]
        data.append({"position": position, "type": event_type(event), "on": event.on.isoformat(),
                     "recorded_at": event.timestamp.isoformat(), "actor": event.actor,
                     "actor_organization": event.actor_organization, "request_id": event.request_id,
                     "data": {k: v for k, v in event_data(event).items() if k != "digest"}})  # no token's
    return {"data": data, "count": count}


def check_report_month(queries: Queries, code: str, month: str, today: date) -> None:
    """A monthly report exists for the months from the organization's registration to the
    current one: a month after the current one, or one that ended before the organization
    (and so everything of its subtree) was in the ledger, is refused (validation_error)
    rather than answered with figures that look real."""
    validate_month(month)
    if month > month_text(today):
        raise ValidationError(f"month {month} is after the current month: it has no report yet")
    registered = str(queries.organization(code)["registered_on"])
    if month < registered[:7]:
        raise ValidationError(f"month {month} is before organization {code} was entered in the ledger "
                              f"({registered}): the ledger has no figures for it")


def check_not_future(day: date | None, field: str, today: date) -> None:
    """A list asked as of a day (a roster's `as_of`, the overdue list's `on`) is of today or
    a past day: a later one would answer a forecast as fact, as a month not begun has no
    report (future_date)."""
    if day is not None and day > today:
        raise FutureDate(f"{field} {day.isoformat()} is after today ({today.isoformat()}): "
                         "a list is of today or a past day")


def monthly_figures(queries: Queries, code: str, month: str, today: date) -> dict[str, Any]:
    """The monthly report with `month_over`: false for the current month, whose figures are
    those of today (its overdue letters are today's, as the organization tree shows them,
    not those the month's end will have)."""
    check_report_month(queries, code, month, today)
    report = queries.monthly_report(code, month)
    over = month < month_text(today)
    if not over:
        report["overdue_letters"] = queries.overdue_letters_at(code, today)
    report["month_over"] = over
    return report


def check_report_year(queries: Queries, code: str, year: int, today: date) -> None:
    """An annual report exists from the organization's registration year to the current one."""
    if year > today.year:
        raise ValidationError(f"year {year} is after the current year: it has no report yet")
    registered = str(queries.organization(code)["registered_on"])
    if year < int(registered[:4]):
        raise ValidationError(f"year {year} is before organization {code} was entered in the ledger "
                              f"({registered}): the ledger has no figures for it")


def stored_record(position: int, stored: StoredEvent, mapper: Mapper[UUID]) -> dict[str, Any]:
    """`event_record` of a stored event; one that no longer decodes (its bytes or topic
    changed in the table) is given as stored, flagged: its type from the stored topic, its
    aggregate and version, no fields (`data` null), `undecodable: true`. A data key that does
    not open it still raises (a configuration error: domain/personal.py)."""
    try:
        return event_record(position, mapper.to_domain_event(stored))
    except PersonalDataUnreadable:
        raise
    except Exception:
        return {"position": position, "type": stored.topic.rpartition(":")[2] or stored.topic,
                "aggregate_id": str(stored.originator_id), "version": stored.originator_version,
                "on": None, "recorded_at": None, "actor": None, "actor_organization": None, "request_id": None,
                "data": None, "undecodable": True}


def annual_figures(queries: Queries, code: str, year: int, today: date) -> dict[str, Any]:
    """The annual report of the months that have a monthly report (check_report_month):
    from the organization's registration month (or January) to the current month (or
    December), each as monthly_figures gives it (with `month_over`; the current month's
    overdue letters are today's). The totals sum those months; the closing and the
    composition are as of `as_of`: 31 December, or today for the current year
    (`year_over` false)."""
    check_report_year(queries, code, year, today)
    registered = str(queries.organization(code)["registered_on"])[:7]
    months = [month for month in (f"{year:04d}-{m:02d}" for m in range(1, 13))
              if registered <= month <= month_text(today)]
    over = year < today.year
    report = queries.annual_report(code, year, [monthly_figures(queries, code, month, today) for month in months],
                                   as_of=date(year, 12, 31) if over else today)
    report["year_over"] = over
    return report


def event_record(position: int, event: Any) -> dict[str, Any]:
    """One event of the stream with its envelope (also the lines of `ledger export`)."""
    return {
        "position": position, "type": event_type(event), "aggregate_id": str(event.originator_id),
        "version": event.originator_version, "on": event.on.isoformat(),
        "recorded_at": event.timestamp.isoformat(), "actor": event.actor,
        "actor_organization": event.actor_organization,
        "request_id": event.request_id, "data": event_data(event),
    }
