"""The sealer: follows the event log and keeps its seals (domain/sealing.py) in a table of
its own, `seal_log (position, digest, seal)`, beside the events.

It keeps the write path free: saves never wait for it nor compute anything for it. Like the
projection engine it reads the log in position order below the point where every earlier
event is settled (on PostgreSQL the log's horizon, domain/pglog.py: a save still in flight
holds it back, never is passed over; on SQLite what is committed), and appends the seals of
the events after the last one sealed, in batches, each one transaction. Sealers of several
processes take turns (an advisory lock of the table's own on PostgreSQL, SQLite's write
lock), so each position is sealed once, after the one before it.

A process that records events runs one in the background (`start()`), woken after each save
(`poke()`) and every second anyway; woken, it gathers the saves of the next GATHER_SECONDS
into one transaction, so the seals trail the log by about that much while it runs. The
commands that read the log (`ledger verify`, `checkpoint`, `export`, `rebuild`) bring the
seals up to date first (`seal()`).

The background thread never keeps a save waiting for long: it seals at most BACKGROUND_BATCH
events a transaction, and after each full one it leaves the store free for GIVE_WAY_SECONDS.
On SQLite (one writer for the whole database) each of its transactions also holds the
process's writing lock (`LedgerStore.writing`), so a save of this process waits for one small
batch at most, on a lock that is handed over when the batch ends; without it the save would
wait in SQLite's busy handler, which sleeps in growing steps and wakes to find the next batch
holding the database. A backlog (a store whose log was imported by another process, and not
yet sealed: the first serving process seals it) then costs the commands served meanwhile a
few milliseconds each, not a wait behind seals of 20,000 events.

`verify()` recomputes the chain from the stored bytes and the seals, in one consistent
read, and says where and why it first breaks (domain/sealing.py `ChainCheck`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from domain.ledger import Ledger
from domain.pglog import HORIZON
from domain.sealing import GENESIS, INSERTED, ChainCheck, Event, Seal, Verdict, chain, digest
from projections.db import ViewDatabase

log = logging.getLogger(__name__)

TABLE = "seal_log"
DDL = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {TABLE} (position INTEGER PRIMARY KEY, digest BLOB NOT NULL, "
              "seal BLOB NOT NULL)",
    "postgres": f"CREATE TABLE IF NOT EXISTS {TABLE} (position BIGINT PRIMARY KEY, digest BYTEA NOT NULL, "
                "seal BYTEA NOT NULL)",
}
BATCH = 20_000  # events sealed in one transaction at most (`seal()`)
BACKGROUND_BATCH = 1_000  # ... by the background thread, which saves may find holding the store
GIVE_WAY_SECONDS = 0.005  # the background thread's pause after a full batch: a waiting save goes first
PAGE = 50_000  # events read at a time by verify() and export
WAKE_SECONDS = 1.0  # the background thread looks at the log at least this often
# Woken by a save, the background thread waits this long for the saves right behind it, so
# that a stream of saves is sealed in a few transactions, not one each (seconds).
GATHER_SECONDS = 0.05

Progress = Callable[[int, int], None]  # (position reached, last position)


@dataclass(frozen=True)
class Log:
    """A table sealed in position order: its position column, the columns its rows' digests
    cover, the function that digests them, the table of its seals, and on PostgreSQL the
    horizon below which every row is settled."""

    table: str
    column: str
    fields: str
    digest: Callable[..., bytes]
    seals: str
    horizon: str | None = None

    def ddl(self, kind: str) -> str:
        types = ("BIGINT", "BYTEA") if kind == "postgres" else ("INTEGER", "BLOB")
        return (f"CREATE TABLE IF NOT EXISTS {self.seals} (position {types[0]} PRIMARY KEY, "
                f"digest {types[1]} NOT NULL, seal {types[1]} NOT NULL)")


def events_log(ledger: Ledger, db: ViewDatabase) -> Log:
    """The event log of `ledger` as `db` reaches it."""
    table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
    if db.kind == "postgres":
        return Log(table, "notification_id", "originator_id, originator_version, topic, state", digest, TABLE,
                   HORIZON.format(table=table))
    return Log(table, "rowid", "originator_id, originator_version, topic, state", digest, TABLE)


class Sealer:
    """Seals the log of `ledger` into `db` (a connection of its own, used under its lock)."""

    def __init__(self, ledger: Ledger, db: ViewDatabase, also: tuple[Log, ...] = ()) -> None:
        self.ledger, self.db = ledger, db
        self.log = events_log(ledger, db)
        self.events_table, self.column = self.log.table, self.log.column
        self.logs = (self.log, *also)  # the event log first, then any other log kept sealed
        self.postgres = db.kind == "postgres"
        schema = getattr(db, "schema", None) or "public"
        self._lock_keys = {log.seals: int.from_bytes(hashlib.sha256(f"{schema}.{log.seals}".encode()).digest()[:8],
                                                     "big", signed=True) for log in self.logs}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sealed = 0  # events sealed by this object
        self._warned: set[str] = set()  # the logs found with a row below the first position
        with self._lock, db.transaction():
            for log in self.logs:
                db.execute(log.ddl(db.kind))

    # --- sealing ---------------------------------------------------------------------------

    def seal(self, progress: Progress | None = None) -> int:
        """Seal every row settled in the logs so far; returns the event log's last sealed
        position. Everything this process saved is included: reading the log's end first
        waits for a save of it that an older transaction still holds back (domain/pglog.py)."""
        self.ledger.max_position()
        with self._lock:
            for log in self.logs[1:]:
                while self._seal_batch(log)[0] == BATCH:
                    pass
            while True:
                count, position = self._seal_batch(self.log)
                if progress is not None:
                    progress(position, max(position, self.ledger.max_position()))
                if count < BATCH:
                    return position

    def seal_in_background(self) -> None:
        """`seal()` as the background thread does it, giving way to this process's saves:
        BACKGROUND_BATCH events a transaction at most, on SQLite each under the process's
        writing lock, a pause of GIVE_WAY_SECONDS after each full one (see the module's
        documentation); it returns early once `stop()` is called."""
        writing: AbstractContextManager[Any] = nullcontext() if self.postgres else self.ledger.writing
        with self._lock:
            for log in (*self.logs[1:], self.log):
                while True:
                    with writing:
                        count, _position = self._seal_batch(log, BACKGROUND_BATCH)
                    if count < BACKGROUND_BATCH:
                        break
                    if self._stop.wait(GIVE_WAY_SECONDS):
                        return

    def _seal_batch(self, log: Log, limit: int = BATCH) -> tuple[int, int]:
        db = self.db
        with db.transaction():
            if self.postgres:
                db.execute("SELECT pg_advisory_xact_lock(?)", (self._lock_keys[log.seals],))
            position, previous = last_seal(db, seals_table=log.seals)
            below = first_below(db, log)
            if below is not None:  # no event is ever saved there: a row written past the store
                if log.table not in self._warned:
                    self._warned.add(log.table)
                    logging.getLogger(__name__).warning(
                        "%s has a row at position %s, below the first: no more of it is sealed", log.table, below)
                return 0, position
            upper = log.horizon or "?"
            statement = (f"SELECT {log.column}, {log.fields} FROM {log.table} WHERE {log.column} > ? "
                         f"AND {log.column} <= {upper} ORDER BY {log.column} LIMIT ?")
            params: tuple[Any, ...] = (position, limit) if log.horizon else (position, 2**63 - 1, limit)
            rows = []
            for at, *fields in db.query(statement, params):
                row_digest = log.digest(*fields)
                previous = chain(previous, at, row_digest)
                rows.append((at, row_digest, previous))
            # on PostgreSQL by COPY (a batch's INSERT a row was two thirds of a seal's time)
            db.write_rows(log.seals, ("position", "digest", "seal"), rows)
        if log is self.log:
            self.sealed += len(rows)
        return len(rows), rows[-1][0] if rows else position

    # --- in the background -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sealer", daemon=True)
            self._thread.start()

    def poke(self, *_: object) -> None:
        """Events were saved: seal them now (safe from any thread)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            if self._wake.wait(WAKE_SECONDS):
                self._stop.wait(GATHER_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.seal_in_background()
                failing = False
            except Exception:
                if not failing:
                    log.exception("could not seal the latest events; trying again")
                failing = True
                with self._lock:
                    try:
                        self._settle()
                    except Exception:
                        log.warning("the sealer's database is away; trying again")

    # --- reading -----------------------------------------------------------------------------

    def verify(self, checkpoint: dict[str, Any] | None = None, progress: Progress | None = None,
               log: Log | None = None) -> Verdict:
        """Seal what is not yet sealed, then recompute the chain of the event log (or of
        `log`), see `verify_chain`."""
        with self._lock:
            self._settle()
            self.seal()
            return verify_chain(self.db, log or self.log, checkpoint, progress)

    def checkpoint(self) -> tuple[int, bytes]:
        """The last sealed position and its seal, once everything settled is sealed."""
        with self._lock:
            self._settle()
            self.seal()
            return last_seal(self.db)

    def _settle(self) -> None:
        """Before a read asked for (verify, checkpoint): a connection that no longer answers
        (the database restarted, and the sealing thread has not replaced it yet) is replaced
        now, rather than the read failing on it (raises while the database can't be reached)."""
        if not self.db.ping():
            log.warning("the sealer's database connection was lost; reconnecting")
            self.db.reconnect()


def drop(db: ViewDatabase) -> None:
    """Forget every seal of the event log (the store is being emptied: its positions start
    again)."""
    with db.transaction():
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")


def seal_with_progress(ledger: Ledger, db: ViewDatabase, bar: Any) -> int:
    """Seal what is not yet sealed, shown on a rich progress bar; the last sealed position."""
    task = bar.add_task("events", total=ledger.max_position())
    return Sealer(ledger, db).seal(progress=lambda done, total: bar.update(task, completed=done, total=total))


def last_seal(db: ViewDatabase, upto: int | None = None, seals_table: str = TABLE) -> tuple[int, bytes]:
    """The last sealed position (at most `upto`) and its seal: (0, GENESIS) before any."""
    if upto is None:
        row = db.query(f"SELECT position, seal FROM {seals_table} ORDER BY position DESC LIMIT 1")
    else:
        row = db.query(f"SELECT position, seal FROM {seals_table} WHERE position <= ? ORDER BY position DESC "
                       "LIMIT 1", (upto,))
    return (int(row[0][0]), bytes(row[0][1])) if row else (0, GENESIS)


def _pages(db: ViewDatabase, statement: str, after: int) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = db.query(statement, (after, PAGE))
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def stored_rows(db: ViewDatabase, log: Log, after: int = 0,
                progress: Callable[[int], None] | None = None) -> Iterator[Event]:
    """Every row of the log after `after`, in position order, as (position, digest)."""
    statement = (f"SELECT {log.column}, {log.fields} FROM {log.table} WHERE {log.column} > ? "
                 f"ORDER BY {log.column} LIMIT ?")
    for count, (at, *fields) in enumerate(_pages(db, statement, after), 1):
        yield at, log.digest(*fields)
        if progress is not None and count % 10_000 == 0:
            progress(at)


def seals(db: ViewDatabase, after: int = 0, seals_table: str = TABLE) -> Iterator[Seal]:
    statement = f"SELECT position, digest, seal FROM {seals_table} WHERE position > ? ORDER BY position LIMIT ?"
    for at, row_digest, sealed in _pages(db, statement, after):
        yield at, bytes(row_digest), bytes(sealed)


def first_below(db: ViewDatabase, log: Log) -> int | None:
    """The lowest position of a row of the log below the first position (1), if any: no save
    ever writes one there (SQLite's rowids and PostgreSQL's ids start at 1), and no seal
    covers it, yet the rows are read like the others: a row put there is an insertion."""
    low = db.scalar(f"SELECT min({log.column}) FROM {log.table} WHERE {log.column} < 1")
    return None if low is None else int(low)


def verify_chain(db: ViewDatabase, log: Log, checkpoint: dict[str, Any] | None = None,
                 progress: Progress | None = None) -> Verdict:
    """The chain recomputed from the stored bytes against the seals, in one consistent read
    of both: the first position where it breaks and why, and with a checkpoint whether the
    log still extends it. A row below the first position is the first break (`inserted`)."""
    with db.snapshot():
        below = first_below(db, log)
        if below is not None:
            return Verdict(first_bad_position=below, reason=INSERTED)
        last = int(db.scalar(f"SELECT max({log.column}) FROM {log.table}") or 0)
        moved = (lambda at: progress(at, last)) if progress is not None else None
        verdict = ChainCheck(checkpoint).check(stored_rows(db, log, 0, moved), seals(db, 0, log.seals))
    if progress is not None:
        progress(last, last)
    return verdict


def sealed_events(db: ViewDatabase, events_table: str, after: int) -> Iterator[tuple[Any, ...]]:
    """The sealed events after `after` with their seals, in position order, in one
    consistent read: (position, originator_id, version, topic, state, digest, seal)."""
    column = "notification_id" if db.kind == "postgres" else "rowid"
    statement = (f"SELECT e.{column}, e.originator_id, e.originator_version, e.topic, e.state, s.digest, s.seal "
                 f"FROM {events_table} AS e JOIN {TABLE} AS s ON s.position = e.{column} "
                 f"WHERE e.{column} > ? ORDER BY e.{column} LIMIT ?")
    yield from _pages(db, statement, after)
