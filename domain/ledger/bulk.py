"""Many aggregates loaded at once: what `Repository.get` does for one aggregate (its latest
snapshot, then its events after it, each mutating the aggregate in turn), for up to
`BULK_IDS` aggregates in two queries (one for their latest snapshots, one for the events
after them: an aggregate's older events are not read at all), instead of
two queries (and, on PostgreSQL, a connection check) per aggregate. An import checks the
organizations of thousands of rows: this loads them into the aggregate cache in bulk
(`AggregateCache.preload`).

Also the planner's statistics of the PostgreSQL tables (`refresh_statistics`), which an
import writes in bulk: without any, the planner guesses tens of thousands of rows for one
aggregate's events once the table holds some millions, and runs each lookup of an aggregate
as a parallel scan with JIT (60-140 ms instead of 0.1 ms; a server with autovacuum off never
takes them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, EventStore, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg import errors, sql
from psycopg.rows import tuple_row

BULK_IDS = 1000  # aggregate ids per query
# A table's statistics are taken again when more than this share of its rows changed since
# they were last taken (autovacuum's default `autovacuum_analyze_scale_factor`).
STALE_SHARE = 0.1


Query = tuple[Any, list[Any]]  # a statement and its parameters


def _select(recorder: AggregateRecorder, ids: Sequence[UUID], postgres: Callable[[sql.Identifier], Query],
            sqlite: Callable[[str], Query]) -> list[StoredEvent] | None:
    """The stored events a query over the recorder's table gives (`postgres` or `sqlite`
    makes it, given the table's name), in one round trip; [] for no ids; None for a recorder
    of another kind than the library's PostgreSQL and SQLite ones (and the ledger's, their
    subclasses)."""
    table = getattr(recorder, "events_table_name", None)
    if not isinstance(table, str):
        return None
    if not ids:
        return []
    if isinstance(recorder, PostgresAggregateRecorder):
        schema = recorder.datastore.schema
        statement, params = postgres(sql.Identifier(schema, table) if schema else sql.Identifier(table))
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, params)  # rows as tuples: a dict a row cost a fifth of a load
            return [StoredEvent(i, v, t, bytes(s)) for i, v, t, s in cursor.fetchall()]
    if isinstance(recorder, SQLiteAggregateRecorder) and table.isidentifier():
        statement, params = sqlite(table)
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return [StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"])
                    for r in cursor.fetchall()]
    return None


def select_stored_events(recorder: AggregateRecorder, ids: Sequence[UUID],
                         first_only: bool = False, after: Mapping[UUID, int] | None = None,
                         ) -> list[StoredEvent] | None:
    """Every stored event of these aggregates (`first_only`: their first, version 1;
    `after`: of an aggregate it names, only those after that version), in order of aggregate
    and version, in one query; None for a recorder of another kind (see `_select`)."""
    first = " AND originator_version = 1" if first_only else ""
    versions = [after.get(i, 0) for i in ids] if after else None

    def postgres(name: sql.Identifier) -> Query:
        if versions is None:
            return (sql.SQL("SELECT originator_id, originator_version, topic, state FROM {} "
                            "WHERE originator_id = ANY(%b)" + first +
                            " ORDER BY originator_id, originator_version").format(name), [list(ids)])
        # each aggregate's events after its own version, by the primary key's index
        return (sql.SQL("SELECT e.originator_id, e.originator_version, e.topic, e.state "
                        "FROM unnest(%b::uuid[], %b::bigint[]) AS a(id, version) JOIN {} e "
                        "ON e.originator_id = a.id AND e.originator_version > a.version" + first +
                        " ORDER BY e.originator_id, e.originator_version").format(name), [list(ids), versions])

    def sqlite(table: str) -> Query:
        if versions is None:
            return (f"SELECT originator_id, originator_version, topic, state FROM {table} WHERE originator_id "
                    f"IN ({','.join('?' for _ in ids)}){first} ORDER BY originator_id, originator_version",
                    [i.hex for i in ids])
        return (f"WITH a(id, version) AS (VALUES {','.join('(?,?)' for _ in ids)}) "
                f"SELECT e.originator_id, e.originator_version, e.topic, e.state FROM a "
                f"JOIN {table} e ON e.originator_id = a.id AND e.originator_version > a.version"
                f"{first} ORDER BY e.originator_id, e.originator_version",
                [x for i, v in zip(ids, versions, strict=True) for x in (i.hex, v)])

    return _select(recorder, ids, postgres, sqlite)


def select_latest(recorder: AggregateRecorder, ids: Sequence[UUID]) -> list[StoredEvent] | None:
    """The latest stored event (snapshot) of each of these aggregates that has one, in one
    query; None for a recorder of another kind (see `_select`)."""

    def postgres(name: sql.Identifier) -> Query:
        # each aggregate's last row by the primary key's index, read backwards: one row each
        return (sql.SQL("SELECT s.originator_id, s.originator_version, s.topic, s.state "
                        "FROM unnest(%b::uuid[]) AS a(id) CROSS JOIN LATERAL (SELECT * FROM {} "
                        "WHERE originator_id = a.id ORDER BY originator_version DESC LIMIT 1) s").format(name),
                [list(ids)])

    def sqlite(table: str) -> Query:
        # SQLite gives the other columns of a max() query from the row holding the max
        return (f"SELECT originator_id, max(originator_version) AS originator_version, topic, state FROM {table} "
                f"WHERE originator_id IN ({','.join('?' for _ in ids)}) GROUP BY originator_id",
                [i.hex for i in ids])

    return _select(recorder, ids, postgres, sqlite)


def load_many(events: EventStore[UUID], snapshots: EventStore[UUID] | None,
              ids: Sequence[UUID]) -> dict[UUID, Any] | None:
    """The current state of each of these aggregates the store holds (those it doesn't are
    absent), as `Repository.get` reconstructs it; None when the store can't be read in
    bulk (the caller then loads them one by one)."""
    found: dict[UUID, Any] = {}
    for start in range(0, len(ids), BULK_IDS):
        part = ids[start:start + BULK_IDS]
        taken = select_latest(snapshots.recorder, part) if snapshots is not None else []
        if taken is None:
            return None
        latest = {snapshot.originator_id: snapshot for snapshot in taken}
        stored = select_stored_events(events.recorder, part,
                                      after={i: s.originator_version for i, s in latest.items() if isinstance(i, UUID)})
        if stored is None:
            return None
        after: dict[UUID | str, list[StoredEvent]] = {}
        for event in stored:
            after.setdefault(event.originator_id, []).append(event)
        for aggregate_id in part:
            base = latest.get(aggregate_id)
            first = [snapshots.mapper.to_domain_event(base)] if snapshots is not None and base is not None else []
            rest = (events.mapper.to_domain_event(e) for e in after.get(aggregate_id, ()))
            aggregate: Any = None
            step: Any
            for step in chain(first, rest):  # eventsourcing's `project_aggregate` without its
                aggregate = step.mutate(aggregate)  # runtime Protocol check (~40 µs an event)
            if aggregate is not None:
                found[aggregate_id] = aggregate
    return found


# The statements of `load_one`, by store kind, schema and tables: each made once.
_ONE: dict[tuple[str, str, str, str | None], str] = {}


def load_one(events: EventStore[UUID], snapshots: EventStore[UUID] | None, aggregate_id: UUID) -> Any:
    """`Repository.get` of one aggregate in one query, not two (its latest snapshot and the
    events after it together), by a statement made once and prepared, its rows read as
    tuples, and its events applied without eventsourcing's runtime Protocol check: the
    aggregate, None when the store holds none of that id, or `NotImplemented` for a
    recorder of another kind (the caller then asks the repository)."""
    recorder, kept = events.recorder, snapshots.recorder if snapshots is not None else None
    table = getattr(recorder, "events_table_name", None)
    other = getattr(kept, "events_table_name", None) if kept is not None else None
    if not isinstance(table, str) or (kept is not None and not isinstance(other, str)):
        return NotImplemented
    if isinstance(recorder, PostgresAggregateRecorder) and isinstance(kept, PostgresAggregateRecorder | None):
        schema = recorder.datastore.schema
        key = ("postgres", schema, table, other)
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            statement = _ONE.get(key)
            if statement is None:
                names = [(sql.Identifier(schema, t) if schema else sql.Identifier(t)).as_string(conn)
                         for t in (table, other) if t is not None]
                statement = _ONE[key] = _one_statement(names, "%(id)s")
            cursor.execute(statement, {"id": aggregate_id}, prepare=True)
            rows = cursor.fetchall()
    elif (isinstance(recorder, SQLiteAggregateRecorder) and isinstance(kept, SQLiteAggregateRecorder | None)
          and table.isidentifier() and (other is None or other.isidentifier())):
        key = ("sqlite", "", table, other)
        statement = _ONE.get(key) or _ONE.setdefault(key, _one_statement([t for t in (table, other) if t], ":id"))
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, {"id": aggregate_id.hex})
            rows = [tuple(r) for r in cursor.fetchall()]
    else:
        return NotImplemented
    aggregate: Any = None
    for snapshot, version, topic, state in rows:
        store = snapshots if snapshot and snapshots is not None else events
        step: Any = store.mapper.to_domain_event(StoredEvent(aggregate_id, version, topic, bytes(state)))
        aggregate = step.mutate(aggregate)  # `project_aggregate` without its runtime Protocol check
    return aggregate


def _one_statement(tables: list[str], parameter: str) -> str:
    """Rows (1 for a snapshot, version, topic, state) of one aggregate: its latest snapshot,
    if any, then its events after that (all of them without one), in order. `tables`: the
    events' table, then the snapshots' if the store keeps them (names quoted as needed)."""
    columns = "originator_version, topic, state"
    if len(tables) == 1:
        return (f"SELECT 0, {columns} FROM {tables[0]} WHERE originator_id = {parameter} "
                "ORDER BY originator_version")
    return (f"WITH s AS (SELECT {columns} FROM {tables[1]} WHERE originator_id = {parameter} "
            "ORDER BY originator_version DESC LIMIT 1) "
            f"SELECT * FROM (SELECT 1 AS snapshot, {columns} FROM s UNION ALL "
            f"SELECT 0, {columns} FROM {tables[0]} WHERE originator_id = {parameter} "
            "AND originator_version > COALESCE((SELECT originator_version FROM s), 0)) AS r "
            "ORDER BY snapshot DESC, originator_version")


def refresh_statistics(recorders: Sequence[AggregateRecorder], written: int = 0,
                       share: float = STALE_SHARE) -> list[str]:
    """ANALYZE the tables of these PostgreSQL recorders that have no planner statistics yet
    or of which more than `share` of the rows changed since they were taken (what
    autovacuum would do, and does not where it is off or lags behind a bulk load); the
    names of the tables analyzed. `written`: rows the caller has just written to them, which
    the server's counts of changes may not hold yet (each session reports its own at most
    once a second, or when idle). Other recorders (SQLite's planner finds an aggregate's
    events by its primary key without statistics) are passed over. A table another session
    analyzes (or vacuums) meanwhile is skipped after a second's wait."""
    done: list[str] = []
    for recorder in recorders:
        table = getattr(recorder, "events_table_name", None)
        if not isinstance(recorder, PostgresAggregateRecorder) or not isinstance(table, str):
            continue
        schema = recorder.datastore.schema
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        with recorder.datastore.get_connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT c.reltuples, s.n_mod_since_analyze FROM pg_class c LEFT JOIN "
                        "pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass(%s)"),
                [name.as_string(conn)]).fetchone()
            if row is None:
                continue
            rows, changed = float(row["reltuples"]), written + int(row["n_mod_since_analyze"] or 0)
            if rows >= 0 and changed <= share * rows:
                continue
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '1s'")
                    conn.execute(sql.SQL("ANALYZE {}").format(name))
            except errors.LockNotAvailable:
                continue
            done.append(table)
    return done
