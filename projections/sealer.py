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
(`poke()`) and every second anyway, so the seals trail the log by one save at most while it
runs; the commands that read the log (`ledger verify`, `checkpoint`, `export`, `rebuild`)
bring the seals up to date first (`seal()`).

`verify()` recomputes the chain from the stored bytes and the seals, in one consistent
read, and says where and why it first breaks (domain/sealing.py `ChainCheck`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from domain.ledger import Ledger
from domain.pglog import HORIZON
from domain.sealing import GENESIS, ChainCheck, Event, Seal, Verdict, chain, digest
from projections.db import ViewDatabase

log = logging.getLogger(__name__)

TABLE = "seal_log"
DDL = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {TABLE} (position INTEGER PRIMARY KEY, digest BLOB NOT NULL, "
              "seal BLOB NOT NULL)",
    "postgres": f"CREATE TABLE IF NOT EXISTS {TABLE} (position BIGINT PRIMARY KEY, digest BYTEA NOT NULL, "
                "seal BYTEA NOT NULL)",
}
BATCH = 20_000  # events sealed in one transaction at most
PAGE = 50_000  # events read at a time by verify() and export
WAKE_SECONDS = 1.0  # the background thread looks at the log at least this often

Progress = Callable[[int, int], None]  # (position reached, last position)


class Sealer:
    """Seals the log of `ledger` into `db` (a connection of its own, used under its lock)."""

    def __init__(self, ledger: Ledger, db: ViewDatabase) -> None:
        self.ledger, self.db = ledger, db
        self.events_table = ledger.recorder.events_table_name  # type: ignore[attr-defined]
        self.postgres = db.kind == "postgres"
        self.column = "notification_id" if self.postgres else "rowid"
        upper = HORIZON.format(table=self.events_table) if self.postgres else "?"
        self._pending = (f"SELECT {self.column}, originator_id, originator_version, topic, state "
                         f"FROM {self.events_table} WHERE {self.column} > ? AND {self.column} <= {upper} "
                         f"ORDER BY {self.column} LIMIT ?")
        schema = getattr(db, "schema", None) or "public"
        key = hashlib.sha256(f"{schema}.{TABLE}".encode()).digest()
        self._lock_key = int.from_bytes(key[:8], "big", signed=True)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sealed = 0  # events sealed by this object
        with self._lock, db.transaction():
            db.execute(DDL[db.kind])

    # --- sealing ---------------------------------------------------------------------------

    def seal(self, progress: Progress | None = None) -> int:
        """Seal every event settled in the log so far; returns the last sealed position."""
        with self._lock:
            while True:
                count, position = self._seal_batch()
                if progress is not None:
                    progress(position, max(position, self.ledger.max_position()))
                if count < BATCH:
                    return position

    def _seal_batch(self) -> tuple[int, int]:
        db = self.db
        with db.transaction():
            if self.postgres:
                db.execute("SELECT pg_advisory_xact_lock(?)", (self._lock_key,))
            position, previous = last_seal(db)
            params: tuple[Any, ...] = (position, BATCH) if self.postgres else (position, 2**63 - 1, BATCH)
            rows = []
            for at, originator_id, version, topic, state in db.query(self._pending, params):
                event_digest = digest(originator_id, version, topic, state)
                previous = chain(previous, at, event_digest)
                rows.append((at, event_digest, previous))
            db.executemany(f"INSERT INTO {TABLE} (position, digest, seal) VALUES (?, ?, ?)", rows)
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
            self._wake.wait(WAKE_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.seal()
                failing = False
            except Exception:
                if not failing:
                    log.exception("could not seal the latest events; trying again")
                failing = True
                with self._lock:
                    if not self.db.ping():
                        try:
                            self.db.reconnect()
                        except Exception:
                            log.warning("the sealer's database is away; trying again")

    # --- reading -----------------------------------------------------------------------------

    def verify(self, checkpoint: dict[str, Any] | None = None, progress: Progress | None = None) -> Verdict:
        """Seal what is not yet sealed, then recompute the chain (see `verify_chain`)."""
        with self._lock:
            self.seal()
            return verify_chain(self.db, self.events_table, checkpoint, progress)

    def checkpoint(self) -> tuple[int, bytes]:
        """The last sealed position and its seal, once everything settled is sealed."""
        with self._lock:
            self.seal()
            return last_seal(self.db)


def drop(db: ViewDatabase) -> None:
    """Forget every seal (the store is being emptied: its positions start again)."""
    with db.transaction():
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")


def seal_with_progress(ledger: Ledger, db: ViewDatabase, bar: Any) -> int:
    """Seal what is not yet sealed, shown on a rich progress bar; the last sealed position."""
    task = bar.add_task("events", total=ledger.max_position())
    return Sealer(ledger, db).seal(progress=lambda done, total: bar.update(task, completed=done, total=total))


def last_seal(db: ViewDatabase, upto: int | None = None) -> tuple[int, bytes]:
    """The last sealed position (at most `upto`) and its seal: (0, GENESIS) before any."""
    if upto is None:
        row = db.query(f"SELECT position, seal FROM {TABLE} ORDER BY position DESC LIMIT 1")
    else:
        row = db.query(f"SELECT position, seal FROM {TABLE} WHERE position <= ? ORDER BY position DESC LIMIT 1",
                       (upto,))
    return (int(row[0][0]), bytes(row[0][1])) if row else (0, GENESIS)


def _pages(db: ViewDatabase, statement: str, after: int) -> Iterator[tuple[Any, ...]]:
    while True:
        rows = db.query(statement, (after, PAGE))
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def stored_events(db: ViewDatabase, events_table: str, after: int = 0,
                  progress: Callable[[int], None] | None = None) -> Iterator[Event]:
    """Every stored event after `after`, in position order, as (position, digest)."""
    column = "notification_id" if db.kind == "postgres" else "rowid"
    statement = (f"SELECT {column}, originator_id, originator_version, topic, state FROM {events_table} "
                 f"WHERE {column} > ? ORDER BY {column} LIMIT ?")
    for count, (at, originator_id, version, topic, state) in enumerate(_pages(db, statement, after), 1):
        yield at, digest(originator_id, version, topic, state)
        if progress is not None and count % 10_000 == 0:
            progress(at)


def seals(db: ViewDatabase, after: int = 0) -> Iterator[Seal]:
    statement = f"SELECT position, digest, seal FROM {TABLE} WHERE position > ? ORDER BY position LIMIT ?"
    for at, event_digest, sealed in _pages(db, statement, after):
        yield at, bytes(event_digest), bytes(sealed)


def verify_chain(db: ViewDatabase, events_table: str, checkpoint: dict[str, Any] | None = None,
                 progress: Progress | None = None) -> Verdict:
    """The chain recomputed from the stored bytes against the seals, in one consistent read
    of both: the first position where it breaks and why, and with a checkpoint whether the
    log still extends it."""
    with db.snapshot():
        last = int(db.scalar(f"SELECT max({'notification_id' if db.kind == 'postgres' else 'rowid'}) "
                             f"FROM {events_table}") or 0)
        moved = (lambda at: progress(at, last)) if progress is not None else None
        verdict = ChainCheck(checkpoint).check(stored_events(db, events_table, 0, moved), seals(db))
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
