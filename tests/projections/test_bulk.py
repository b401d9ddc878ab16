"""Rebuilding in bulk (COPY, staged upserts, caches that outgrow their limit, indexes built
last), inactive members found from their last active months, and views of older table
definitions rebuilt at start: the same views as the plain path, on both stores."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from domain.calendar import month_bounds, months_before
from domain.ledger import Ledger
from domain.vocabulary import INACTIVE_MONTHS
from projections import db as db_module
from projections import tables as tables_module
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine
from projections.engine import catchup as catchup_module
from projections.engine import core as core_module
from projections.engine import rebuild as rebuild_module
from tests.conftest import Store
from tests.factories import admit, build_tree
from tests.projections.reads import of_record

# Active months (org life on the 10th, dues on the 20th) of members imported on 2020-06-01.
ACTIVITY: dict[int, list[tuple[str, str]]] = {
    0: [],                                                        # never active
    1: [("2025-01", "life"), ("2025-09", "life"), ("2025-10", "dues")],  # a gap, then two months
    2: [("2025-01", "life"), ("2025-09", "life")],                # a gap, then one month
    3: [(f"2025-{m:02d}", "life") for m in range(1, 13)],         # every month
    4: [("2025-03", "life"), ("2025-03", "dues"), ("2025-12", "dues"), ("2026-01", "life"),
        ("2026-02", "life")],
}


def history(ledger: Ledger) -> dict[int, str]:
    build_tree(ledger)
    numbers = {n: admit(ledger, n, org="XW-C1-B1" if n % 2 else "QH-C1-B1") for n in ACTIVITY}
    for n, months in ACTIVITY.items():
        for month, kind in months:
            year, mon = int(month[:4]), int(month[5:])
            if kind == "life":
                ledger.record_org_life(numbers[n], "XW-C1-B1" if n % 2 else "QH-C1-B1", on=date(year, mon, 10))
            else:
                ledger.record_dues(numbers[n], month, "10.00", on=date(year, mon, 20))
    transfer = ledger.request_transfer(numbers[3], "QH-C1", reason="job_change", basis="household",
                                       on=date(2026, 3, 1)).transfer_id
    ledger.issue_letter(transfer, on=date(2026, 3, 2))
    ledger.receive_member(transfer, "QH-C1-B1", on=date(2026, 3, 3))
    return numbers


def inactive_by_definition(db: ViewDatabase, code: str, on: date) -> set[tuple[str, str | None]]:
    """Held members in the subtree on `on`, in the ledger for the whole window, with no
    activity row in any of its months: the definition, over every member."""
    window = months_before(on, INACTIVE_MONTHS)
    start, day = month_bounds(window[0])[0].isoformat(), on.isoformat()
    marks = ", ".join("?" for _ in window)
    rows = db.query(
        "SELECT m.registration_no, (SELECT l.last_activity_on FROM proj_last_activity l "
        "WHERE l.registration_no = m.registration_no) FROM proj_stints s JOIN proj_members m "
        "ON m.registration_no = s.registration_no WHERE s.organization_code IN "
        "(SELECT descendant FROM proj_org_closure WHERE ancestor = ?) AND s.kind = 'held' AND s.from_on <= ? "
        "AND (s.to_on IS NULL OR s.to_on > ?) AND m.enrolled_on <= ? AND NOT EXISTS (SELECT 1 FROM "
        f"proj_activity a WHERE a.registration_no = m.registration_no AND a.month IN ({marks}))",
        [code, day, day, start, *window],
    )
    return {(r[0], r[1]) for r in rows}


def test_inactive_members_from_last_active_months_match_the_definition(store: Store) -> None:
    ledger = store.ledger()
    numbers = history(ledger)
    store.engine(ledger).catch_up()
    q = store.queries()
    checked = 0
    for year, month in [(2025, m) for m in range(1, 13)] + [(2026, m) for m in range(1, 12)]:
        on = date(year, month, 15)
        for code in ("NJ", "XW", "QH-C1"):
            rows, count = q.overdue(code, on, kind="inactive_6m")
            found = {(r["registration_no"], r["reference"]) for r in rows}
            assert found == inactive_by_definition(q.db, code, on), (code, on)
            assert count == len(found)
            checked += len(found)
    assert checked > 0
    # As of 2025-08-15 (window February to July), members 1 and 2 were inactive although
    # both were active later: member 1 in two later months, after the window.
    rows, _ = q.overdue("NJ", date(2025, 8, 15), kind="inactive_6m")
    assert {numbers[0], numbers[1], numbers[2]} <= {r["registration_no"] for r in rows}
    assert numbers[3] not in {r["registration_no"] for r in rows}
    # The last active day, as the list shows it (its reference): none for one never active.
    assert {r["registration_no"]: r["reference"] for r in rows}[numbers[0]] is None
    later, _ = q.overdue("QH-C1", date(2026, 9, 15), kind="inactive_6m")
    assert {r["registration_no"]: r["reference"] for r in later}[numbers[4]] == "2026-02-10"


def test_a_bulk_rebuild_gives_the_views_of_small_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger()
    history(ledger)
    engine = store.engine(ledger, batch_size=5)
    engine.catch_up()
    _, before = engine.snapshot()

    monkeypatch.setattr(db_module, "COPY_MIN_ROWS", 1)  # every write by COPY on PostgreSQL
    monkeypatch.setattr(db_module, "JSON_MIN_ROWS", 1)  # and over a JSON array on SQLite
    monkeypatch.setattr(rebuild_module, "REBUILD_BATCH", 25)  # rows stored, then changed: staged upserts
    monkeypatch.setattr(catchup_module, "OVERLAPPED_MAX_PAGES", {store.kind: 1})  # one page a batch, however busy
    monkeypatch.setattr(tables_module, "COMPLETE_CACHE_LIMIT", 20)  # caches outgrow their limit
    written: list[tuple[str, int, bool]] = []
    write_rows = engine.db.write_rows

    def spy(table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]], on_conflict: str = "",
            order: tuple[str, ...] = ()) -> None:
        written.append((table, len(rows), bool(on_conflict)))
        write_rows(table, columns, rows, on_conflict, order)

    monkeypatch.setattr(engine.db, "write_rows", spy)
    assert engine.rebuild() == ledger.max_position()
    _, after = engine.snapshot()
    assert after == before
    assert engine.verify()["ok"]
    assert {t for t, n, upsert in written if n and not upsert} >= {"proj_members", "proj_history", "proj_counts"}
    assert {t for t, n, upsert in written if n and upsert} >= {"proj_last_activity"}
    assert not engine.members.activity.complete  # it outgrew its limit and read misses again

    # The secondary indexes were built after the load, and the durability settings restored.
    if store.kind == "sqlite":
        indexes = {r[0] for r in engine.db.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert engine.db.scalar("PRAGMA synchronous") == 1  # NORMAL
    else:
        indexes = {r[0] for r in engine.db.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        assert engine.db.scalar("SHOW synchronous_commit") == "on"
        # Analyzed at the end (statistics), and the tables read by index-only scans vacuumed
        # (the visibility map those scans need).
        settled = {name: (vacuumed, analyzed) for name, vacuumed, analyzed in engine.db.query(
            "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND left(relname, 5) = 'proj_'")}
        assert all(settled[t.name][1] for t in engine.all_tables), settled
        vacuumed = {name for name, (done, _) in settled.items() if done}
        assert vacuumed == {"proj_members", "proj_last_activity", "proj_transfers", "proj_certificates",
                            "proj_org_closure"}, settled
        # The tables SQLite keeps WITHOUT ROWID leave room in each page for HOT updates here.
        options = dict(engine.db.query(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class "
            "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"))
        assert options["proj_last_activity"] == options["proj_counts"] == "fillfactor=80", options
        assert options["proj_members"] is None
    assert {"proj_members_org", "proj_last_activity_previous", "proj_transfers_status",
            "proj_history_member"} <= indexes
    assert set_aside(engine.db) == []  # SQLite's old views, set aside at the start, are gone


def set_aside(db: ViewDatabase) -> list[str]:
    """View tables a SQLite rebuild set aside and has not dropped yet."""
    if db.kind != "sqlite":
        return []
    return [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?",
                                   ("%" + core_module.SET_ASIDE,))]


def indexes_of(db: ViewDatabase) -> set[str]:
    if db.kind == "sqlite":
        return {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE ?",
                                       ("proj%",))}
    return {r[0] for r in db.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                   "AND indexname LIKE ?", ("proj%",))}


def caught_up(store: Store, batch_size: int) -> tuple[Ledger, ProjectionEngine, dict[str, list[tuple[Any, ...]]]]:
    """The history applied in batches of `batch_size`: the ledger, the engine and its views."""
    ledger = store.ledger()
    history(ledger)
    engine = store.engine(ledger, batch_size=batch_size)
    engine.catch_up()
    return ledger, engine, engine.snapshot()[1]


def crash_on_batch(n: int) -> Callable[[], None]:
    """A `_before_commit` that kills the n-th batch after its view writes, before commit."""
    calls = {"n": 0}

    def crash() -> None:  # on the writer thread, while the next batch is applied
        calls["n"] += 1
        if calls["n"] == n:
            raise Crash("killed after the view writes, before commit")

    return crash


def test_batches_grow_while_the_writer_is_busy(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a batch is being written, the next pages are applied into the batch after it
    (up to OVERLAPPED_MAX_PAGES pages): each batch still commits with its own position, and
    the views are those of the plain path."""
    ledger, engine, before = caught_up(store, batch_size=5)

    monkeypatch.setattr(rebuild_module, "REBUILD_BATCH", 5)  # pages of five events
    monkeypatch.setattr(catchup_module, "OVERLAPPED_MAX_PAGES", {store.kind: 3})
    batches: list[tuple[int, int, int]] = []
    write_batch = engine._write_batch

    def slow_writer(writes: list[Any], start: int, position: int, count: int) -> tuple[int, int]:
        time.sleep(0.05)  # a writer that sets the pace
        batches.append((start, position, count))
        return write_batch(writes, start, position, count)

    monkeypatch.setattr(engine, "_write_batch", slow_writer)
    applied = engine.applied
    assert engine.rebuild() == ledger.max_position()
    _, after = engine.snapshot()
    assert after == before
    assert max(count for _, _, count in batches) == 15  # three pages in a batch while the writer was busy
    assert batches[0][2] == 5  # the first batch alone: nothing was being written yet
    assert [start for start, _, _ in batches[1:]] == [position for _, position, _ in batches[:-1]]  # contiguous
    assert batches[-1][1] == ledger.max_position()
    assert sum(count for _, _, count in batches) == engine.applied - applied

    # Killed in the third batch (grown, after the view writes, before commit): the views
    # restart from the second batch's position and end as a clean rebuild's.
    batches.clear()
    engine._before_commit = crash_on_batch(3)  # type: ignore[method-assign]
    with pytest.raises(Crash):
        engine.rebuild()
    assert engine.position == batches[1][1] < ledger.max_position()
    assert batches[2][2] > 5  # the batch that failed had grown
    restarted = store.engine(ledger)
    assert restarted.position == batches[1][1]
    assert restarted.catch_up() == ledger.max_position()
    _, after = restarted.snapshot()
    assert after == before


def test_views_of_other_table_definitions_are_rebuilt_at_start(store: Store) -> None:
    ledger = store.ledger()
    numbers = history(ledger)
    engine = store.engine(ledger)
    engine.catch_up()
    assert store.engine(ledger).position == ledger.max_position()  # same definitions: kept

    for tamper in ("UPDATE proj_tracking SET position = position + 1 WHERE name = 'schema'",
                   "DELETE FROM proj_tracking WHERE name = 'schema'"):  # older views, or older engine
        engine.db.execute("DELETE FROM proj_members")  # what an older engine's rows would not match
        engine.db.execute(tamper)
        restarted = store.engine(ledger)
        assert restarted.position == 0
        assert restarted.catch_up() == ledger.max_position()
        assert restarted.verify()["ok"]
        assert of_record(store.queries(), "QH-C1-B1", numbers[3]) == [(numbers[3], "held", "QH-C1-B1")]


class Crash(Exception):
    pass


def test_a_rebuild_that_fails_in_a_batch_is_applied_again_exactly_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, engine, before = caught_up(store, batch_size=10)
    monkeypatch.setattr(rebuild_module, "REBUILD_BATCH", 10)  # batches of ten events
    monkeypatch.setattr(catchup_module, "OVERLAPPED_MAX_PAGES", {store.kind: 1})  # (grown batches: the test above)
    engine._before_commit = crash_on_batch(3)  # type: ignore[method-assign]
    applied = engine.applied
    indexes = indexes_of(engine.db)
    with pytest.raises(Crash):
        engine.rebuild()
    stopped_at = engine.position
    assert stopped_at == 20  # the two batches committed (no gaps in this history)
    assert engine.applied - applied == 20
    assert stopped_at < ledger.max_position()
    if store.kind == "sqlite":  # the writer had dropped three of the old tables, one a batch
        assert len(set_aside(engine.db)) == len([t for t in before.values() if t]) - 3

    restarted = store.engine(ledger)  # a new process would start from the committed position
    assert set_aside(restarted.db) == []  # the old tables left are dropped at start
    assert indexes_of(restarted.db) == indexes  # and the indexes, whose names they held, made
    assert restarted.position == stopped_at
    assert restarted.catch_up() == ledger.max_position()
    _, after = restarted.snapshot()
    assert after == before
    assert restarted.verify()["ok"]

