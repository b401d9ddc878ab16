"""Rebuilding the views from the first event, reading them consistently (`snapshot()`), and
verifying them against a scratch rebuild (`verify()`)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError

from domain.personal import PersonalDataUnreadable
from domain.sealing import Verdict
from projections.db import ViewDatabase
from projections.engine.core import SET_ASIDE
from projections.engine.tailing import Tailing
from projections.engine.tracking import TRACKING_NAME, Progress, views_lag
from projections.tables import COUNTER_COLUMNS

REBUILD_BATCH = 100_000
# Why `verify()` did not compare the views (its `views.reason`)
CHAIN_BROKEN, UNDERIVABLE = "chain_broken", "underivable"
# Failures of a re-derivation that say nothing about the events: raised as they are
UNAVAILABLE = (PersonalDataUnreadable, OperationalError, psycopg.OperationalError, sqlite3.OperationalError)


class Rebuilding(Tailing):
    def drop(self) -> None:
        with self.db.transaction():
            self._drop_tables()

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
            self.check_data_keys()  # before anything is dropped: the views stay as they are
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
        position, and compare row by row. Returns {ok, events, position, mismatches, views}:
        `views` says whether the views were checked, or at which position an event could not
        be applied (a stored event that no longer decodes: `underivable`). A data key that
        does not open an event still raises (a configuration error), as a database that is
        away does."""
        position, live = self.snapshot()
        scratch = type(self)(self.ledger, ViewDatabase.scratch(), batch_size=self.batch_size)
        try:
            try:
                scratch.catch_up(until=position, progress=progress, batch_size=max(self.batch_size, REBUILD_BATCH))
            except UNAVAILABLE:
                raise
            except Exception:
                failed, error = scratch._first_failing(position)
                return self.unchecked(UNDERIVABLE, failed, f"the event at position {failed} can't be applied "
                                      f"to the views ({error}): the views are not compared",
                                      scratch.applied)
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
                "mismatch_count": total, "mismatches": mismatches,
                "views": {"checked": True, "reason": None, "first_bad_position": None, "detail": None}}

    def difference(self, mismatch: dict[str, Any]) -> dict[str, Any]:
        """A mismatch of `verify()` without its rows (they can hold personal data): its table,
        its key, and how it differs: `missing` (from the view), `extra` (in the view, not
        re-derived) or `changed`, with the names of the columns that differ."""
        live, rebuilt = mismatch["live"], mismatch["rebuilt"]
        table = next(t for t in self.all_tables if t.name == mismatch["table"])
        names = getattr(table, "columns", COUNTER_COLUMNS)  # a Table's, or a Counters
        if live is None or rebuilt is None:
            return {"table": mismatch["table"], "key": mismatch["key"],
                    "difference": "missing" if live is None else "extra", "columns": []}
        return {"table": mismatch["table"], "key": mismatch["key"], "difference": "changed",
                "columns": [name for name, a, b in zip(names, live, rebuilt, strict=False) if a != b]}

    def verify_sealed(self, chain: Verdict, progress: Progress | None = None, limit: int = 100) -> dict[str, Any]:
        """`verify()` once the sealed log's chain checks out (`chain`, projections/sealer.py);
        with a broken chain the views are not re-derived (`unchecked`, CHAIN_BROKEN): a log
        that is not the one sealed would only re-derive what it was changed to say, or fail
        on an event changed into one that no longer decodes."""
        if not chain.ok:
            where = f" at position {chain.first_bad_position}" if chain.first_bad_position is not None else ""
            return self.unchecked(CHAIN_BROKEN, chain.first_bad_position,
                                  f"the sealed log breaks{where} ({chain.reason}): the views are not "
                                  "re-derived from a log that is not the one sealed")
        return self.verify(progress=progress, limit=limit)

    def unchecked(self, reason: str, first_bad_position: int | None, detail: str, events: int = 0) -> dict[str, Any]:
        """`verify()`'s answer when the views were not compared: `reason` CHAIN_BROKEN (the
        log is not the one sealed: nothing is re-derived from it) or UNDERIVABLE."""
        return {"ok": False, "position": self.position, "events": events, "mismatch_count": 0, "mismatches": [],
                "views": {"checked": False, "reason": reason, "first_bad_position": first_bad_position,
                          "detail": detail}}

    def _first_failing(self, until: int) -> tuple[int, str]:
        """After a batch failed: apply the events one by one (a thousand at a time first)
        from the last batch applied, up to the one that fails; its position, and the name
        of its failure (no message: it could quote the event)."""
        error = "no failure when applied again"
        for step in (1000, 1):
            try:
                while self.position < until and self.process_batch(until=until, limit=step) != 0:
                    pass
            except UNAVAILABLE:
                raise
            except Exception as failure:
                error = type(failure).__name__
        page, end, count = self.reader.select_range(self.position, 1, until)
        return (self.reader.position(page[0]) if page else end if count else self.position + 1), error
