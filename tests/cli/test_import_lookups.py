"""What an import looks up in the store, it looks up in bulk (a query per thousand ids) on
the ledger's own recorders of both stores, never a query per row."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api.importing import first_stored_events, import_file
from api.importing.lookups import store_statistics
from domain.identifiers import organization_id
from domain.ledger import Ledger
from domain.organization import Organization
from tests.cli.test_import import MEMBER_HEADINGS_EN, member_row, write_csv
from tests.conftest import POSTGRES_URL, Store
from tests.factories import TREE


def test_first_events_are_read_in_one_query_not_one_per_aggregate(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(5):
        ledger.register_root(f"R{n}", f"根{n}", "320102", on=date(2020, 1, 1))

    def one_by_one(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an aggregate's events were read one query each")

    monkeypatch.setattr(ledger.recorder, "select_events", one_by_one)
    ids = [organization_id(f"R{n}") for n in range(7)]  # two the store lacks
    found = first_stored_events(ledger, ids)
    assert sorted(s.originator_id for s in found) == sorted(ids[:5])
    events = [ledger.mapper.to_domain_event(s) for s in found]
    assert {e.code for e in events if isinstance(e, Organization.Registered)} == {f"R{n}" for n in range(5)}


def planner_statistics(store: Store, ledger: Ledger) -> tuple[float, int]:
    """How far the events table's row estimate is from its rows (less than minus its rows:
    never analyzed), and how many of its columns have statistics."""
    schema, table = ledger.recorder.datastore.schema, ledger.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute("SELECT c.reltuples, (SELECT count(*) FROM pg_stats s WHERE s.schemaname = %s "
                           "AND s.tablename = %s) FROM pg_class c WHERE c.oid = to_regclass(%s)",
                           [schema, table, sql.Identifier(schema, table).as_string(conn)]).fetchone()
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
    assert row is not None and count is not None
    return float(row[0]) - count[0], int(row[1])


def test_an_import_leaves_its_tables_with_planner_statistics(store: Store, tmp_path: Path) -> None:
    """PostgreSQL: the import ANALYZEs the events table when it has no statistics, before its
    lookups, and after its saves when they grew it by a tenth. Autovacuum is off for the
    table here, as it was on the server where, near a million members without statistics,
    the planner ran each lookup of one aggregate as a parallel scan with JIT (60-140 ms).
    SQLite needs none: nothing is analyzed there."""
    ledger = store.ledger()
    if store.kind == "postgres":  # autovacuum may not take them meanwhile, on any server
        schema, table = ledger.recorder.datastore.schema, ledger.recorder.events_table_name  # type: ignore[attr-defined]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                sql.Identifier(schema, table)))
    for code in ("JS", "NJ", "XW", "XW-C1", "XW-C1-G1", "XW-C1-B1"):
        name, kind, parent, region = TREE[code]
        ledger.register_organization(code, name, kind, parent, region, on=date(2020, 1, 1))
    if store.kind == "postgres":
        rows, columns = planner_statistics(store, ledger)
        assert rows < -ledger.max_position() and columns == 0
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, [member_row(n) for n in range(1, 21)])
    result = import_file(ledger, path, "members", on=date(2024, 1, 2), dry_run=True)  # before its lookups
    assert result.ok and result.recorded == 20
    if store.kind == "postgres":
        assert planner_statistics(store, ledger) == (0, 6)
    result = import_file(ledger, path, "members", on=date(2024, 1, 2))  # and after its saves
    assert result.ok and result.recorded == 20
    if store.kind == "postgres":
        assert planner_statistics(store, ledger) == (0, 6)  # every row counted, every column
    else:
        assert store_statistics(ledger) == []
