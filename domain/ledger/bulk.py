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

from collections.abc import Callable, Iterable, Mapping, Sequence
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


def _kind(recorder: AggregateRecorder | None) -> tuple[str, str] | None:
    """("postgres" or "sqlite", the recorder's table) for the library's PostgreSQL and SQLite
    recorders (and the ledger's, their subclasses); None for another kind."""
    table = getattr(recorder, "events_table_name", None)
    if not isinstance(table, str):
        return None
    if isinstance(recorder, PostgresAggregateRecorder):
        return "postgres", table
    if isinstance(recorder, SQLiteAggregateRecorder) and table.isidentifier():
        return "sqlite", table
    return None


def _table(schema: str, table: str) -> sql.Identifier:
    """A PostgreSQL table's name, in its schema if the store has one."""
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def _rows(recorder: Any, kind: str, statement: Any, params: Any, prepare: bool = False) -> list[tuple[Any, ...]]:
    """The rows of one query on the recorder's database, as tuples (on PostgreSQL a dict a row
    cost a fifth of a load); `prepare`: PostgreSQL prepares the statement."""
    if kind == "postgres":
        with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, params, prepare=prepare)
            return cursor.fetchall()
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, params)
        return [tuple(row) for row in cursor.fetchall()]


def _stored(aggregate_id: UUID | str, version: int, topic: str, state: Any) -> StoredEvent:
    """A row as the recorder gives it (SQLite keeps ids as hex text)."""
    return StoredEvent(aggregate_id if isinstance(aggregate_id, UUID) else UUID(aggregate_id), version, topic,
                       bytes(state))


def _project(steps: Iterable[Any]) -> Any:
    """eventsourcing's `project_aggregate` without its runtime Protocol check (~40 µs an event)."""
    aggregate: Any = None
    for step in steps:
        aggregate = step.mutate(aggregate)
    return aggregate


def _select(recorder: AggregateRecorder, ids: Sequence[UUID], postgres: Callable[[sql.Identifier], Query],
            sqlite: Callable[[str], Query]) -> list[StoredEvent] | None:
    """The stored events a query over the recorder's table gives (`postgres` or `sqlite`
    makes it, given the table's name), in one round trip; [] for no ids; None for a recorder
    of another kind (`_kind`)."""
    found = _kind(recorder)
    if found is None:
        return None
    if not ids:
        return []
    kind, table = found
    if kind == "postgres":
        statement, params = postgres(_table(recorder.datastore.schema, table))  # type: ignore[attr-defined]
    else:
        statement, params = sqlite(table)
    return [_stored(*row) for row in _rows(recorder, kind, statement, params)]


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
            aggregate = _project(chain(first, rest))
            if aggregate is not None:
                found[aggregate_id] = aggregate
    return found


def load_one(events: EventStore[UUID], snapshots: EventStore[UUID] | None, aggregate_id: UUID) -> Any:
    """`Repository.get` of one aggregate in one query, not two (its latest snapshot and the
    events after it together), prepared, its rows read as tuples, and its events applied
    without eventsourcing's runtime Protocol check: the aggregate, None when the store
    holds none of that id, or `NotImplemented` for a recorder of another kind (the caller
    then asks the repository)."""
    found = [_kind(store.recorder) for store in (events, snapshots) if store is not None]
    kinds = {entry[0] for entry in found if entry is not None}
    if None in found or len(kinds) != 1:
        return NotImplemented
    kind, tables = kinds.pop(), [entry[1] for entry in found if entry is not None]
    if kind == "postgres":
        schema = events.recorder.datastore.schema  # type: ignore[attr-defined]
        statement = _one_statement([_table(schema, t).as_string() for t in tables], "%(id)s")
        rows = _rows(events.recorder, kind, statement, {"id": aggregate_id}, prepare=True)
    else:
        rows = _rows(events.recorder, kind, _one_statement(tables, ":id"), {"id": aggregate_id.hex})
    return _project((snapshots if snapshot and snapshots is not None else events).mapper.to_domain_event(
        _stored(aggregate_id, version, topic, state)) for snapshot, version, topic, state in rows)


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
        name = _table(recorder.datastore.schema, table)
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
