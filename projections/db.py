"""The read side's connection to the same database as the events.

One SQL text serves both stores: statements use `?` placeholders (translated to `%s` for
PostgreSQL), TEXT for dates (ISO strings compare in date order) and INTEGER for numbers,
so the views read back the same values on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import orjson
import psycopg
from psycopg import sql as pgsql
from psycopg.rows import tuple_row

from domain.settings import parse_database_url

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
# From this many rows, PostgreSQL writes go through COPY in binary (fewer round trips, and
# values made by psycopg's dumpers in C: no text to format here or to parse on the server).
COPY_MIN_ROWS = 200
# From this many rows, SQLite writes go in one statement over a JSON array of the rows: the
# statement runs without the interpreter, and a writer thread waits for the interpreter once
# a table, not once a row (each wait, while another thread applies events, can last a whole
# switch interval).
JSON_MIN_ROWS = 1
# SQLite's page cache while views are rebuilt (KiB): rows are changed all over tables
# of hundreds of MB, at random (by member), so a province's views should fit.
BULK_CACHE_KIB = 2 * 1024 * 1024
# PostgreSQL's memory for sorting while views are rebuilt (KiB; its default is 64 MB): the
# indexes built at the end of a rebuild sort millions of rows each.
BULK_SORT_KIB = 512 * 1024
# The end of the DDL of a view table that SQLite keeps in its primary key's order (narrow
# rows, changed by key, many times: one B-tree to walk, not a table and an index).
WITHOUT_ROWID = " WITHOUT ROWID"
# A TEXT column's type in a view table's DDL.
_TEXT_COLUMN = re.compile(r"\bTEXT\b")


def _json_rows(rows: Sequence[Sequence[Any]]) -> bytes | None:
    """The rows as a JSON array that SQLite reads back as the values it would bind; None
    when it could not: an integer beyond 64 bits, or a NUL character (SQLite's JSON
    functions end a text there)."""
    try:
        array = orjson.dumps(rows)
    except TypeError:
        return None
    return None if b"\\u0000" in array else array


class ViewDatabase:
    """A single connection used by one thread at a time (the engine serializes access)."""

    kind: str
    # Inside a transaction this object did not begin (`within()`): `transaction()` adds none.
    _outer = False
    _row_factory: Any = None  # a connection's own, while `within()` has it
    _pipelined = False  # PostgreSQL: inside `pipeline()`

    def __init__(self, url: str) -> None:
        self.url = url
        # PostgreSQL: each table's column types (oids) for binary COPY, and the staging tables
        # made on this connection: forgotten on any DDL and any rollback.
        self._types: dict[str, dict[str, int]] = {}
        self._staged: set[str] = set()
        # PostgreSQL: inside snapshot(), and the name of its exported snapshot, once asked.
        self._reading = False
        self._exported: str | None = None
        self._connect()

    def _connect(self) -> None:
        url = parse_database_url(self.url)  # ValueError for an unsupported one
        if url.kind == "sqlite":
            self.kind = "sqlite"
            self._sqlite = sqlite3.connect(
                url.sqlite_name, uri=url.in_memory, check_same_thread=False, isolation_level=None, timeout=30
            )
            if not url.in_memory:
                self._sqlite.execute("PRAGMA journal_mode=WAL")
            self._sqlite.execute("PRAGMA synchronous=NORMAL")
        else:
            self.kind = "postgres"
            self.schema = url.schema
            self._pg = psycopg.connect(**url.connect_args(), connect_timeout=5, autocommit=True)
            if self.schema:
                self._pg.execute(
                    pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema))
                )
            # The views' queries are short index walks whose cost estimates (correlated
            # subqueries) can pass the JIT threshold: compiling then costs far more than running.
            self._pg.execute("SET jit = off")

    def ping(self) -> bool:
        """Whether the connection still answers (a round trip on PostgreSQL): False once the
        server restarted, closed it or it broke; `reconnect()` then makes a new one."""
        try:
            if self.kind == "postgres":
                if self._pg.closed or self._pg.broken:
                    return False
                self._pg.execute("SELECT 1")
            else:
                self._sqlite.execute("SELECT 1")
        except (psycopg.Error, sqlite3.Error):
            return False
        return True

    def reconnect(self) -> None:
        """Replace the connection with a new one to the same database (raises while the
        database can't be reached). What the old one held is gone: its transaction, its
        temporary tables, the column types it knew."""
        with suppress(psycopg.Error, sqlite3.Error):
            self.close()
        self._forget_tables()
        self._reading, self._exported = False, None
        self._connect()

    @classmethod
    def within(cls, connection: Any, like: ViewDatabase) -> ViewDatabase:
        """The views of `like`'s database on another connection to it (a `sqlite3` or a
        `psycopg` one) that is inside a transaction already, such as the event store's
        while it saves: what is written here commits or rolls back with that transaction.
        Call `release()` before the connection goes back to its owner."""
        db = cls.__new__(cls)
        db.url, db.kind, db._outer = like.url, like.kind, True
        db._types, db._staged, db._reading, db._exported = {}, set(), False, None
        if like.kind == "postgres":
            db.schema = like.schema
            db._pg = connection
            db._row_factory = connection.row_factory
            connection.row_factory = tuple_row
            # Until the transaction ends: the views' schema, and no JIT (one round trip).
            if db.schema:
                connection.execute("SELECT set_config('search_path', %s, true), set_config('jit', 'off', true)",
                                   (pgsql.Identifier(db.schema).as_string(connection),), prepare=True)
            else:
                connection.execute("SET LOCAL jit = off")
        else:
            db._sqlite = connection
        return db

    def release(self) -> None:
        """Give a connection taken by `within()` back as it was."""
        if self._outer and self.kind == "postgres":
            self._pg.row_factory = self._row_factory

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: what fails inside is undone, and the transaction goes on."""
        if self.kind == "postgres":
            with self._pg.transaction():
                yield
            return
        self._sqlite.execute("SAVEPOINT views")
        try:
            yield
        except BaseException:
            self._sqlite.execute("ROLLBACK TO SAVEPOINT views")
            self._sqlite.execute("RELEASE SAVEPOINT views")
            raise
        self._sqlite.execute("RELEASE SAVEPOINT views")

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """PostgreSQL: the writes inside go to the server without waiting for each answer,
        in one round trip at the end (psycopg's pipeline mode), and fail there if one
        fails; rows go by INSERT, not COPY (which a pipeline can't carry). For the few rows
        of a command's save; write nothing inside that must be read back before the end.
        SQLite: as without."""
        if self.kind != "postgres" or self._pipelined:
            yield
            return
        with self._pg.pipeline():
            self._pipelined = True
            try:
                yield
            finally:
                self._pipelined = False

    @contextmanager
    def pipelined_savepoint(self) -> Iterator[None]:
        """`savepoint()` for a few writes: on PostgreSQL the SAVEPOINT, the writes inside
        and the RELEASE go in one round trip (`pipeline()`); what fails, inside or at the
        end, is undone to the savepoint, and the transaction goes on. SQLite: `savepoint()`."""
        if self.kind != "postgres":
            with self.savepoint():
                yield
            return
        try:
            with self.pipeline():
                self._pg.execute("SAVEPOINT views")
                yield
                self._pg.execute("RELEASE SAVEPOINT views")
        except BaseException:
            self._pg.execute("ROLLBACK TO SAVEPOINT views")
            self._pg.execute("RELEASE SAVEPOINT views")
            raise

    @classmethod
    def scratch(cls) -> ViewDatabase:
        """A private in-memory SQLite database, for verification."""
        db = cls.__new__(cls)
        db.url, db.kind = "sqlite://scratch", "sqlite"
        db._sqlite = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        return db

    def any_of(self, column: str) -> str:
        """A condition that `column` (a fixed name) is one of a list given as one parameter,
        `list_param(values)`: no statement with a placeholder a value, to parse and plan."""
        if self.kind == "postgres":
            return f"{column} = ANY(?)"
        return f"{column} IN (SELECT value FROM json_each(?))"

    def table_of(self) -> str:
        """A table `h` of one column, `value`, from a list of texts given as one parameter,
        `list_param(values)`."""
        if self.kind == "postgres":
            return "unnest(?::text[]) AS h(value)"
        return "json_each(?) AS h"

    def list_param(self, values: Sequence[Any]) -> Any:
        return list(values) if self.kind == "postgres" else orjson.dumps(list(values)).decode()

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.kind == "postgres" else statement

    def dialect_sql(self, statement: str) -> str:
        """A statement with `?` placeholders as this store's driver takes it."""
        return self._sql(statement)

    def dialect(self, statement: str) -> str:
        """A view table's DDL as this store runs it. PostgreSQL: SQLite's WITHOUT ROWID becomes
        room in each page for a changed row's new version (a HOT update: no new index
        entries), and TEXT columns compare byte by byte (COLLATE "C"), as SQLite's do: the
        same order on both stores whatever the database's locale, and keys sorted and
        compared without the locale (a province's index builds about a third faster)."""
        if self.kind != "postgres" or not statement.startswith("CREATE TABLE"):
            return statement
        if statement.endswith(WITHOUT_ROWID):
            statement = statement[:-len(WITHOUT_ROWID)] + " WITH (fillfactor = 80)"
        return _TEXT_COLUMN.sub('TEXT COLLATE "C"', statement)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        if self.kind == "postgres":
            statement = self.dialect(statement)
            if not statement.startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
                self._forget_tables()  # a table may be dropped or made anew
            self._pg.execute(self._sql(statement), params)  # type: ignore[arg-type]
        else:
            self._sqlite.execute(statement, params)

    def execute_count(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Execute and return the number of rows changed."""
        if self.kind == "postgres":
            with self._pg.cursor() as cursor:
                cursor.execute(self._sql(statement), params)  # type: ignore[arg-type]
                return cursor.rowcount
        return self._sqlite.execute(statement, params).rowcount

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.kind == "postgres":
            with self._pg.cursor() as cursor:
                cursor.executemany(self._sql(statement), rows)  # type: ignore[arg-type]
        else:
            self._sqlite.executemany(statement, rows)

    def write_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], on_conflict: str = "",
        order: Sequence[str] = (),
    ) -> None:
        """Insert rows into a table (`on_conflict`: the clause that upserts them). Many rows go
        to PostgreSQL with COPY: straight into the table, or through a temporary staging table
        for an upsert, which goes through the staged rows in the order of the columns `order`
        (the table's key): the rows to change are then visited page after page, not at random,
        and a page changed by several rows is read and changed once (measured faster on the
        members' last activity at province scale: docs/BENCHMARKS.md).
        `table`, `columns`, `on_conflict` and `order` are fixed identifiers of the views."""
        if not rows:
            return
        if self.kind == "postgres" and len(rows) >= COPY_MIN_ROWS and not self._pipelined:
            target = table
            if on_conflict:
                target = "stage_" + table
                if target not in self._staged:  # made once a connection (again after DDL or a rollback)
                    self._pg.execute(pgsql.SQL(
                        "DROP TABLE IF EXISTS pg_temp.{}; CREATE TEMPORARY TABLE {} (LIKE {})"
                    ).format(pgsql.Identifier(target), pgsql.Identifier(target), pgsql.Identifier(table)))
                    self._staged.add(target)
            names = pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
            types = self._column_types(table)
            with self._pg.cursor() as cursor:
                with cursor.copy(pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                        pgsql.Identifier(target), names)) as copy:
                    copy.set_types([types[c] for c in columns])
                    for row in rows:
                        copy.write_row(row)
                if on_conflict:  # one round trip: each is a wait for the interpreter too
                    ordered = pgsql.SQL(" ORDER BY {} ").format(
                        pgsql.SQL(", ").join(map(pgsql.Identifier, order))) if order else pgsql.SQL(" ")
                    cursor.execute(pgsql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                        pgsql.Identifier(table), names, names, pgsql.Identifier(target)
                    ) + ordered + pgsql.SQL(on_conflict) + pgsql.SQL("; TRUNCATE {}").format(  # type: ignore[arg-type]
                        pgsql.Identifier(target)))
            return
        array = _json_rows(rows) if self.kind == "sqlite" and len(rows) >= JSON_MIN_ROWS else None
        if array is not None:
            # One statement over a JSON array of the rows: SQLite reads it without the
            # interpreter, so a writer thread holds the GIL for the encoding alone.
            values = ", ".join(f"value ->> {n}" for n in range(len(columns)))
            self._sqlite.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM json_each(?) "
                f"WHERE true {on_conflict}", (array,))
            return
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {on_conflict}", rows)

    def _forget_tables(self) -> None:
        self._types.clear()
        self._staged.clear()

    def _column_types(self, table: str) -> dict[str, int]:
        """A PostgreSQL table's column types (oids), which binary COPY sends values as."""
        found = self._types.get(table)
        if found is None:
            found = self._types[table] = dict(self._pg.execute(
                "SELECT attname, atttypid::int FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (table,)).fetchall())
        return found

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        if self.kind == "postgres":
            with self._pg.cursor() as cursor:
                cursor.execute(self._sql(statement), params)  # type: ignore[arg-type]
                return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        return [tuple(r) for r in self._sqlite.execute(statement, params).fetchall()]

    def scalar(self, statement: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(statement, params)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: the views and the tracking position commit together."""
        if self._outer:  # the owner of the connection commits or rolls back
            yield
            return
        if self.kind == "postgres":
            try:
                with self._pg.transaction():
                    yield
            except BaseException:
                self._forget_tables()  # what the transaction made is gone with it
                raise
        else:
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            self._sqlite.execute("COMMIT")

    def finish_load(self, indexes: dict[str, list[str]], vacuum: set[str]) -> None:
        """After a bulk load, build each table's secondary `indexes` (its CREATE INDEX
        statements) and settle the table. On PostgreSQL settling is ANALYZE, so the planner
        has statistics, and for the tables in `vacuum` VACUUM (ANALYZE), so that index-only
        scans need no heap visits (the visibility map is set), as autovacuum would do, later;
        the tables go largest first to a connection a core, each with its bulk-load
        settings, so the server builds and settles several at once. SQLite builds the
        indexes here, in one transaction, and settles nothing: its queries are written for
        a planner without statistics."""
        if self.kind != "postgres":
            with self.transaction():
                for statements in indexes.values():
                    for statement in statements:
                        self.execute(statement)
            return
        sizes: dict[str, int] = dict(self.query("SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"))
        tables = sorted(indexes, key=lambda t: -sizes.get(t, 0))
        pending = iter(tables)
        lock = threading.Lock()

        def work() -> None:
            db = ViewDatabase(self.url)
            try:
                with db.bulk_load():
                    while True:
                        with lock:
                            table = next(pending, None)
                        if table is None:
                            return
                        started = time.perf_counter()
                        for statement in indexes[table]:
                            db.execute(statement)
                        built = time.perf_counter()
                        settle = "VACUUM (ANALYZE)" if table in vacuum else "ANALYZE"
                        db._pg.execute(pgsql.SQL(settle + " {}").format(pgsql.Identifier(table)))
                        log.info("%s: %d indexes in %.1f s, %s in %.1f s", table, len(indexes[table]),
                                 built - started, settle, time.perf_counter() - built)
            finally:
                db.close()

        workers = max(1, min(len(tables), os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="view-indexes") as pool:
            for done in [pool.submit(work) for _ in range(workers)]:
                done.result()

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Faster, less durable commits while the views are rebuilt, restored afterwards: a
        crash may lose the last commits, never part of one (PostgreSQL's asynchronous
        commit; SQLite without fsync, WAL kept, a larger page cache). Building indexes sorts
        in more memory meanwhile (PostgreSQL's maintenance_work_mem; SQLite's sorter takes
        the page cache's size)."""
        if self.kind == "postgres":
            self._pg.execute("SET synchronous_commit = off")
            sorting = self.scalar("SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'")
            if sorting is not None and sorting < BULK_SORT_KIB:  # (a server set higher keeps its own)
                self._pg.execute(f"SET maintenance_work_mem = '{BULK_SORT_KIB}kB'")
            try:
                yield
            finally:
                self._pg.execute("RESET synchronous_commit")
                self._pg.execute("RESET maintenance_work_mem")
            return
        synchronous = self._sqlite.execute("PRAGMA synchronous").fetchone()[0]
        cache_size = self._sqlite.execute("PRAGMA cache_size").fetchone()[0]
        threads = self._sqlite.execute("PRAGMA threads").fetchone()[0]
        self._sqlite.execute("PRAGMA synchronous=OFF")
        self._sqlite.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
        # Helper threads for SQLite's sorter (building an index): one a core beside this one.
        self._sqlite.execute(f"PRAGMA threads={max(int(threads), (os.cpu_count() or 1) - 1)}")
        try:
            yield
        finally:
            self._sqlite.execute(f"PRAGMA synchronous={int(synchronous)}")
            self._sqlite.execute(f"PRAGMA cache_size={int(cache_size)}")
            self._sqlite.execute(f"PRAGMA threads={int(threads)}")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read-only transaction that sees one consistent state."""
        if self.kind == "postgres":
            with self._pg.transaction():
                self._pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                self._reading = True
                try:
                    yield
                finally:
                    self._reading, self._exported = False, None
        else:
            self._sqlite.execute("BEGIN")
            try:
                yield
            finally:
                self._sqlite.execute("ROLLBACK")

    def export_snapshot(self) -> str | None:
        """Within `snapshot()` on PostgreSQL: the name under which other connections can
        read the same state (`shared()`), while this transaction lasts; else None."""
        if self.kind != "postgres" or not self._reading:
            return None
        if self._exported is None:
            self._exported = str(self.scalar("SELECT pg_export_snapshot()"))
        return self._exported

    @contextmanager
    def shared(self, snapshot: str) -> Iterator[None]:
        """A read-only transaction that sees the state another connection exported
        (`export_snapshot()`), as long as that connection's transaction lasts."""
        with self._pg.transaction():
            self._pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._pg.execute(pgsql.SQL("SET TRANSACTION SNAPSHOT {}").format(pgsql.Literal(snapshot)))
            yield

    def close(self) -> None:
        if self.kind == "postgres":
            self._pg.close()
        else:
            self._sqlite.close()
