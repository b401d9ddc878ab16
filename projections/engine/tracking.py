"""The views' tracking position, stored beside their rows (`proj_tracking`), and how far
the views trail the log, read without an engine (`tracked_position()`, `views_lag()`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql as pgsql
from psycopg.rows import tuple_row

from domain.ledger import Ledger
from projections.db import ViewDatabase

TRACKING_DDL = "CREATE TABLE IF NOT EXISTS proj_tracking (name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
TRACKING_NAME = "views"
# A fingerprint of the view tables' DDL, kept beside the position: views built by other
# table definitions are dropped and rebuilt from the first event.
SCHEMA_NAME = "schema"


class StalePosition(Exception):
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
