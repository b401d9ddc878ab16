"""Rebuilding the views from the first event, reading them consistently (`snapshot()`), and
verifying them against a scratch rebuild (`verify()`)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from projections.db import ViewDatabase
from projections.engine.core import SET_ASIDE
from projections.engine.tailing import Tailing
from projections.engine.tracking import TRACKING_NAME, Progress, views_lag

REBUILD_BATCH = 100_000


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
        scratch = type(self)(self.ledger, ViewDatabase.scratch(), batch_size=self.batch_size)
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

