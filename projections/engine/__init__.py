"""The projection engine: reads the event store's notifications in batches and applies
each batch to every read model, writing the rows and the tracking position in one
transaction, so an event is applied exactly once whatever fails when.

It works on both stores: it wakes on PostgreSQL's NOTIFY (eventsourcing notifies the
events table's channel on every insert) and polls on SQLite. It runs in-process for the
embedded default (`catch_up()` after each command, or `start()` for a thread) and as a
separate worker process for PostgreSQL deployments (`python -m projections.worker`).
Notification ids are read in commit order on both stores (on PostgreSQL the reader stops
before a save still in flight: domain/pglog.py) and may have gaps, which the engine simply
passes over. It passes over the events of topics no
view handles too (`unread_topics()`): they are left out of its pages, but counted, and its
position moves past them.

It outlives the database's restarts: after a failed batch its view connection, when it no
longer answers, is replaced (`ViewDatabase.reconnect()`) and the caches reload from what
was committed before the next batch; the background thread retries with a growing pause
(up to `RETRY_MAX_SECONDS`) instead of giving up. `lag()` says how far the views trail
the log.

The engine is one class built in layers, a module each: `core` (the read models, their
tables' set-up, dispatch, one batch), `inline` (the views kept in a save's own transaction,
and the Ledger's hook for it), `catchup` (batches until the log's end, overlapped writing,
read-your-writes), `tailing` (the background thread), `rebuild` (rebuild, snapshot,
verify); `tracking` holds the tracking position's table and lag, read without an engine.
"""

from __future__ import annotations

from projections.engine.inline import InlineViews
from projections.engine.rebuild import REBUILD_BATCH, Rebuilding
from projections.engine.tracking import TRACKING_NAME, Progress, events_between, tracked_position, views_lag


class ProjectionEngine(Rebuilding):
    """Keeps the read models: applies the log's events to them in batches (`catch_up()`,
    `start()`), inline in a save's transaction (`InlineViews`), or all again (`rebuild()`)."""


__all__ = [
    "REBUILD_BATCH",
    "TRACKING_NAME",
    "InlineViews",
    "Progress",
    "ProjectionEngine",
    "events_between",
    "tracked_position",
    "views_lag",
]
