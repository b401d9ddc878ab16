"""The write-behind row cache of a view table: which rows it inserts and which it upserts,
and what it forgets when it outgrows its limit, on both stores."""

from __future__ import annotations

import re
from typing import Any

import pytest

from projections import db as db_module
from projections import tables as tables_module
from projections.db import ViewDatabase
from projections.tables import Counters, Table
from tests.conftest import Store

COLUMNS = ["code", "month", "value"]


def table(**options: Any) -> Table:
    return Table("t_cache", COLUMNS, ["code", "month"],
                 ["CREATE TABLE IF NOT EXISTS t_cache (code TEXT NOT NULL, month TEXT NOT NULL, "
                  "value INTEGER NOT NULL, PRIMARY KEY (code, month))"], **options)


@pytest.fixture
def db(store: Store) -> Any:
    db = ViewDatabase(store.url)
    for statement in table().ddl:
        db.execute(statement)
    yield db
    db.close()


def flush(t: Table | Counters, db: ViewDatabase, monkeypatch: pytest.MonkeyPatch,
          orders: list[tuple[str, ...]] | None = None) -> list[tuple[int, bool]]:
    """Flush `t`, returning (rows, upsert?) of each write it made (and appending the order
    each upsert asked for to `orders`)."""
    written: list[tuple[int, bool]] = []
    write_rows = db.write_rows

    def spy(name: str, columns: Any, rows: Any, on_conflict: str = "", order: tuple[str, ...] = ()) -> None:
        if rows:
            written.append((len(rows), bool(on_conflict)))
            if on_conflict and orders is not None:
                orders.append(tuple(order))
        write_rows(name, columns, rows, on_conflict, order)

    monkeypatch.setattr(db, "write_rows", spy)
    with db.transaction():
        t.flush(db)
    monkeypatch.undo()
    return written


def rows(db: ViewDatabase) -> list[tuple[Any, ...]]:
    return db.query("SELECT code, month, value FROM t_cache ORDER BY code, month")


def test_rows_known_to_be_new_are_inserted_even_when_the_cache_is_not_complete(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    t = table()
    assert not t.complete
    t.put({"code": "A", "month": "2024-01", "value": 1}, new=True)
    t.put({"code": "B", "month": "2024-01", "value": 2})  # not known: upserted
    assert sorted(flush(t, db, monkeypatch)) == [(1, False), (1, True)]
    # Changed after it was written: upserted, never inserted twice.
    row = t.get(db, ("A", "2024-01"))
    assert row is not None
    row["value"] = 5
    t.touch(row)
    assert flush(t, db, monkeypatch) == [(1, True)]
    # A key with a change waiting (here a delete) is not taken for new: the delete is kept.
    t.delete(("B", "2024-01"))
    t.put({"code": "B", "month": "2024-01", "value": 7}, new=True)
    assert flush(t, db, monkeypatch) == [(1, True)]
    assert rows(db) == [("A", "2024-01", 5), ("B", "2024-01", 7)]


def test_rows_inserted_by_their_key_are_inserted_once_with_their_last_values(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """`insert(key, row)`: the caller knows no row of the key is in the table or the cache
    (as a member's first activity of a month later than any before): written as an
    insert, with the values it has when flushed, however often touched before."""
    t = table()
    row = t.insert(("A", "2024-01"), {"code": "A", "month": "2024-01", "value": 1})
    assert t.get(db, ("A", "2024-01")) is row  # kept: read back from the cache
    row["value"] += 1
    t.touch(row, ("A", "2024-01"))
    assert flush(t, db, monkeypatch) == [(1, False)]
    assert rows(db) == [("A", "2024-01", 2)]
    row["value"] += 1
    t.touch(row, ("A", "2024-01"))  # written since: upserted now
    assert flush(t, db, monkeypatch) == [(1, True)]
    assert rows(db) == [("A", "2024-01", 3)]


def test_upserts_go_through_their_rows_in_the_order_of_the_tables_primary_key(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each view table's upserts, and the counters', ask for the order of the table's own
    primary key (PostgreSQL then changes the rows page after page), and the rows written
    are the same."""
    from projections import figures, history, members, organizations, transfers

    def primary_key(ddl: tuple[str, ...]) -> tuple[str, ...]:
        found = re.search(r"PRIMARY KEY \(([^)]*)\)", ddl[0])
        if found:
            return tuple(c.strip() for c in found.group(1).split(","))
        column = re.search(r"\((\w+) \w+ PRIMARY KEY", ddl[0])
        assert column is not None, ddl[0]
        return (column.group(1),)

    views = [v for m in (figures, history, members, organizations, transfers) for v in vars(m).values()
             if isinstance(v, Table)]
    assert len(views) >= 10
    for view_table in views:
        assert view_table.key == primary_key(view_table.ddl), view_table.name
    assert primary_key(figures.COUNTS.ddl) == tables_module.COUNTER_KEY
    monkeypatch.setattr(db_module, "COPY_MIN_ROWS", 1)
    t = table()
    for code in ("B", "A"):
        t.put({"code": code, "month": "2024-01", "value": 1})
    orders: list[tuple[str, ...]] = []
    assert flush(t, db, monkeypatch, orders) == [(2, True)]
    assert orders == [("code", "month")]
    db.execute("CREATE TABLE t_counts (organization_code TEXT NOT NULL, month TEXT NOT NULL, figure TEXT NOT NULL, "
               "value INTEGER NOT NULL, PRIMARY KEY (organization_code, figure, month))")
    counters = Counters("t_counts", [])
    counters.add(["B", "A"], "2024-01", "net", 2)
    counters.add(["A"], "2023-12", "net", 1)
    assert flush(counters, db, monkeypatch, orders) == [(3, True)]
    assert orders[-1] == tables_module.COUNTER_KEY
    assert rows(db) == [("A", "2024-01", 1), ("B", "2024-01", 1)]
    assert db.query("SELECT organization_code, month, value FROM t_counts ORDER BY 1, 2") == [
        ("A", "2023-12", 1), ("A", "2024-01", 2), ("B", "2024-01", 2)]


def test_write_once_tables_always_insert(db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    t = table(written_once=True)
    for n in range(3):
        t.put({"code": f"C{n}", "month": "2024-02", "value": n})
    assert flush(t, db, monkeypatch) == [(3, False)]
    assert not t.rows  # nothing kept once written
    assert len(rows(db)) == 3


def test_an_outgrown_cache_forgets_its_oldest_rows_and_reads_them_back(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables_module, "COMPLETE_CACHE_LIMIT", 10)
    t = table()
    t.complete = True  # as in a rebuild from empty
    for n in range(12):
        t.put({"code": f"M{n:02}", "month": "2024-03", "value": n})
    assert flush(t, db, monkeypatch) == [(12, False)]  # all new: inserted
    assert not t.complete
    assert list(t.rows) == [(f"M{n:02}", "2024-03") for n in range(7, 12)]  # the newest half of the limit
    # A forgotten row is read back from the table (not taken for absent), then upserted.
    old = t.get(db, ("M00", "2024-03"))
    assert old == {"code": "M00", "month": "2024-03", "value": 0}
    old["value"] = 100
    t.touch(old)
    assert flush(t, db, monkeypatch) == [(1, True)]
    assert rows(db)[0] == ("M00", "2024-03", 100)
    assert len(rows(db)) == 12


@pytest.mark.parametrize("many", [1, 10_000])
def test_rows_are_written_as_they_are_whichever_way(db: ViewDatabase, monkeypatch: pytest.MonkeyPatch,
                                                     many: int) -> None:
    """Many rows go to SQLite in one statement over a JSON array (to PostgreSQL by COPY),
    a few one by one: the values read back are the same either way."""
    monkeypatch.setattr(db_module, "JSON_MIN_ROWS", many)
    monkeypatch.setattr(db_module, "COPY_MIN_ROWS", many)
    db.execute("CREATE TABLE t_values (k INTEGER PRIMARY KEY, t TEXT, n BIGINT)")
    values = [(1, None, None), (2, "", 0), (3, 'a "quoted", \\ back\nslash', -1), (4, "江苏省委组织部 ✓", 2**63 - 1),
              (5, "tab\tand ☃", -(2**63)), (6, "1.50", 7)]
    if db.kind == "sqlite":  # (PostgreSQL's text holds no NUL character)
        values.append((7, "before\u0000after", 1))
    with db.transaction():
        db.write_rows("t_values", ["k", "t", "n"], values)
        db.write_rows("t_values", ["k", "t", "n"], [(6, "changed", 8)], "ON CONFLICT (k) DO UPDATE SET t = excluded.t")
    expected = [*values[:5], (6, "changed", 7), *values[6:]]
    assert db.query("SELECT k, t, n FROM t_values ORDER BY k") == expected
    assert [type(v) for row in db.query("SELECT t, n FROM t_values WHERE k = 4") for v in row] == [str, int]


def test_a_table_made_anew_with_other_column_types_is_written_by_its_new_types(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's binary COPY sends each value as its column's type, looked up once per
    table: a table dropped and made again with other types is looked up again."""
    monkeypatch.setattr(db_module, "COPY_MIN_ROWS", 1)
    db.execute("CREATE TABLE t_types (k INTEGER PRIMARY KEY, v INTEGER)")
    db.write_rows("t_types", ["k", "v"], [(1, 10)])
    db.execute("DROP TABLE t_types")
    db.execute("CREATE TABLE t_types (k INTEGER PRIMARY KEY, v TEXT)")
    db.write_rows("t_types", ["k", "v"], [(1, "ten")])
    db.write_rows("t_types", ["k", "v"], [(1, "eleven"), (2, None)], "ON CONFLICT (k) DO UPDATE SET v = excluded.v")
    assert db.query("SELECT k, v FROM t_types ORDER BY k") == [(1, "eleven"), (2, None)]

def test_upserts_after_a_rolled_back_transaction(db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL stages COPYed upserts in a temporary table made once a connection: one made
    in a transaction that rolled back is gone, and is made again."""
    monkeypatch.setattr(db_module, "COPY_MIN_ROWS", 1)
    db.execute("CREATE TABLE t_up (k INTEGER PRIMARY KEY, v TEXT)")
    upsert = "ON CONFLICT (k) DO UPDATE SET v = excluded.v"
    with pytest.raises(RuntimeError), db.transaction():
        db.write_rows("t_up", ["k", "v"], [(1, "lost")], upsert)
        raise RuntimeError("the batch fails after its writes")
    with db.transaction():
        db.write_rows("t_up", ["k", "v"], [(1, "one"), (2, "two")], upsert)
    with db.transaction():
        db.write_rows("t_up", ["k", "v"], [(2, "second")], upsert)
    assert db.query("SELECT k, v FROM t_up ORDER BY k") == [(1, "one"), (2, "second")]

def test_counters_insert_the_keys_their_table_does_not_hold_yet(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    db.execute("CREATE TABLE t_counts (organization_code TEXT NOT NULL, month TEXT NOT NULL, figure TEXT NOT NULL, "
               "value INTEGER NOT NULL, PRIMARY KEY (organization_code, month, figure))")
    counters = Counters("t_counts", [])
    counters.known = set()  # as the engine starts a rebuild: the table is empty
    counters.add(["A", "B"], "2024-01", "net", 2)
    counters.add(["A"], "2024-01", "left", 0)  # nothing to write
    assert flush(counters, db, monkeypatch) == [(2, False)]
    counters.add(["A", "C"], "2024-01", "net", 1)
    assert sorted(flush(counters, db, monkeypatch)) == [(1, False), (1, True)]  # C new, A added to
    monkeypatch.setattr(tables_module, "COUNTER_KEYS_LIMIT", 2)
    counters.add(["D"], "2024-02", "net", 1)
    assert flush(counters, db, monkeypatch) == [(1, False)]
    assert counters.known is None  # past its limit: every key upserted from now on
    counters.add(["D", "E"], "2024-02", "net", 1)
    assert flush(counters, db, monkeypatch) == [(2, True)]
    assert db.query("SELECT organization_code, month, figure, value FROM t_counts ORDER BY 1") == [
        ("A", "2024-01", "net", 3), ("B", "2024-01", "net", 2), ("C", "2024-01", "net", 1),
        ("D", "2024-02", "net", 2), ("E", "2024-02", "net", 1)]
    counters.known = set()
    counters.forget()  # after a failed batch: the table's keys are no longer known
    assert counters.known is None


def test_counters_added_up_spread_over_the_chain_as_it_was_when_spread(
        db: ViewDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """`add_up` sums at the organization alone and spreads up its chain when taken (or
    when `spread()` is called before the tree changes): the same figures as adding at
    each ancestor straight away."""
    db.execute("CREATE TABLE t_counts (organization_code TEXT NOT NULL, month TEXT NOT NULL, figure TEXT NOT NULL, "
               "value INTEGER NOT NULL, PRIMARY KEY (organization_code, month, figure))")
    parents = {"B1": "C1", "C1": "R", "C2": "R"}

    def ancestors(code: str) -> tuple[str, ...]:
        chain = [code]
        while chain[-1] in parents:
            chain.append(parents[chain[-1]])
        return tuple(chain)

    counters = Counters("t_counts", [], ancestors)
    counters.add_up("B1", "2024-01", "net", 1)
    counters.add_up("B1", "2024-01", "net", 2)
    counters.add_up("B1", "2024-01", "left", 0)  # nothing to write
    counters.spread()
    parents["B1"] = "C2"  # B1 moves under C2: what was counted before stays under C1
    counters.add_up("B1", "2024-01", "net", 10)
    counters.add(["R"], "2024-01", "net", 100)
    with db.transaction():
        counters.take()(db)
    assert db.query("SELECT organization_code, figure, value FROM t_counts ORDER BY organization_code") == [
        ("B1", "net", 13), ("C1", "net", 3), ("C2", "net", 10), ("R", "net", 113)]
    assert not counters.below and not counters.deltas
