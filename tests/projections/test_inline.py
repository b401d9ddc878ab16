"""Views written in the transaction that saves a command's events: the command's answer is
readable in the views when it returns, nothing is read back from the store for it, and a
save that rolls back leaves the views (and the engine's memory of them) as they were."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import psycopg
import pytest

from domain.errors import LedgerError
from projections.db import ViewDatabase
from projections.engine import InlineViews
from projections.sealer import Sealer
from tests.conftest import Store
from tests.factories import admit, build_tree
from tests.projections.reads import of_record
from tests.projections.test_event_log import older_transaction, run


def stored_position(store: Store) -> int:
    return int(store.queries().db.scalar("SELECT position FROM proj_tracking WHERE name = 'views'") or 0)


def test_a_command_answers_once_its_views_are_committed_with_its_events(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    ledger.transaction_hook = InlineViews(engine)
    reads: list[Any] = []
    monkeypatch.setattr(engine.reader, "select_range", lambda *a, **k: reads.append(a))
    build_tree(ledger)
    number = admit(ledger, 1)
    recorded = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                       on=date(2026, 3, 1))
    assert engine.position == recorded.position == ledger.max_position()
    assert stored_position(store) == recorded.position  # committed with the events
    assert of_record(store.queries(), "XW-C1-B1", number) == [(number, "held", "XW-C1-B1")]
    assert reads == []  # nothing read back from the store
    monkeypatch.undo()
    assert engine.verify()["ok"]


def test_events_another_process_saved_first_are_applied_after_the_commit(store: Store) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    ledger.transaction_hook = InlineViews(engine)
    other = store.ledger(CREATE_TABLE="n")
    build_tree(ledger)
    first = admit(other, 1)  # not through this process: its views don't have it
    second = admit(ledger, 2)
    assert engine.position < ledger.max_position()  # left to the catch-up after the commit
    assert engine.catch_up() == ledger.max_position()
    assert of_record(store.queries(), "XW-C1-B1", first) == [(first, "held", "XW-C1-B1")]
    assert of_record(store.queries(), "XW-C1-B1", second) == [(second, "held", "XW-C1-B1")]
    third = admit(ledger, 3)
    assert engine.position == ledger.max_position() == stored_position(store)
    assert of_record(store.queries(), "XW-C1-B1", third) == [(third, "held", "XW-C1-B1")]
    assert engine.verify()["ok"]


def test_a_save_that_rolls_back_leaves_the_views_as_they_were(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    hook = InlineViews(engine)
    ledger.transaction_hook = hook
    build_tree(ledger)
    number = admit(ledger, 1)
    before = engine.position
    applied = hook.in_transaction

    def applied_then_failed(connection: Any, saved: list[tuple[int, Any]], previous: int) -> None:
        applied(connection, saved, previous)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(hook, "in_transaction", applied_then_failed)
    with pytest.raises(RuntimeError):
        ledger.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))
    monkeypatch.undo()
    assert engine.position == before == stored_position(store) == ledger.max_position()
    assert ledger.member(number).last_on == date(2020, 6, 1)  # the command recorded nothing
    ledger.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))
    assert engine.position == ledger.max_position() == stored_position(store)
    assert engine.verify()["ok"]
    with pytest.raises(LedgerError):
        ledger.record_dues(number, "2026-13", "10.00", on=date(2026, 2, 1))
    assert engine.position == ledger.max_position()


def test_every_caller_of_a_group_finds_its_command_in_the_views_when_answered(store: Store) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    ledger.transaction_hook = InlineViews(engine)
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(4)]
    seen: dict[str, tuple[int, int]] = {}

    def pay(number: str) -> None:
        recorded = ledger.record_dues(number, "2026-01", "5.00", on=date(2026, 2, 1))
        db = ViewDatabase(store.url)  # another connection, as a reader of the views would have
        try:
            views = db.scalar("SELECT position FROM proj_tracking WHERE name = 'views'")
            seen[number] = (recorded.position, int(views))
        finally:
            db.close()

    threads = [threading.Thread(target=pay, args=(number,)) for number in numbers]
    with ledger.writer.held():
        for thread in threads:
            thread.start()
        for _ in range(3000):
            if ledger.writer.waiting() == len(numbers):
                break
            threading.Event().wait(0.01)
    for thread in threads:
        thread.join(timeout=60)
    assert len(seen) == len(numbers)
    assert all(views >= position > 0 for position, views in seen.values())
    assert engine.verify()["ok"]


@pytest.mark.parametrize("flush_fails", [True, False], ids=["flush-failed", "applied"])
def test_a_save_retried_after_its_transaction_failed_writes_only_the_retried_events_views(
    store: Store, monkeypatch: pytest.MonkeyPatch, flush_fails: bool
) -> None:
    """The connection is lost during the save's transaction, after the views were applied
    in it (wholly, or up to a table whose write failed): the recorder saves the events again
    in a new transaction, at other positions. The views then hold the events as saved the
    second time, and nothing of the first, neither then nor in what later saves write
    (PostgreSQL only: its recorder retries a save whose connection failed; SQLite's does not)."""
    if store.kind != "postgres":
        pytest.skip("PostgreSQL only")
    ledger = store.ledger()
    engine = store.engine(ledger)
    ledger.transaction_hook = InlineViews(engine)
    build_tree(ledger)
    number = admit(ledger, 1)
    recorder: Any = ledger.recorder
    within, attempts = recorder._within, []
    members = engine.members.tables[0]  # written before the history view
    flush = members.flush

    def failing_flush(db: ViewDatabase) -> None:
        raise psycopg.OperationalError("the connection was lost while the views were written")

    def within_then_lost(conn: Any, notification_ids: list[int], **kwargs: Any) -> None:
        attempts.append(notification_ids)
        if len(attempts) == 1 and flush_fails:
            monkeypatch.setattr(members, "flush", failing_flush)
        try:
            within(conn, notification_ids, **kwargs)
        finally:
            monkeypatch.setattr(members, "flush", flush)
        if len(attempts) == 1:
            raise psycopg.OperationalError("the connection was lost at the commit")

    monkeypatch.setattr(recorder, "_within", within_then_lost)
    second = admit(ledger, 2)
    monkeypatch.undo()
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # saved again, at other positions
    assert engine.catch_up() == ledger.max_position() == stored_position(store)
    history = {row[0] for row in store.queries().db.query("SELECT position FROM proj_history")}
    assert not history & set(attempts[0])  # no view row of the transaction that failed
    assert engine.verify()["ok"]
    ledger.record_dues(second, "2026-01", "10.00", on=date(2026, 2, 1))
    recorded = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                       on=date(2026, 3, 1))
    assert engine.position == recorded.position == ledger.max_position() == stored_position(store)
    assert of_record(store.queries(), "XW-C1-B1", second) == [(second, "held", "XW-C1-B1")]
    assert engine.verify()["ok"]


def test_a_view_row_the_database_refuses_in_the_commands_single_round_trip_leaves_the_views_to_the_catch_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command's view rows go to PostgreSQL in one round trip (pipeline mode), so a row
    the database refuses is known only at its end: the savepoint still undoes all of them,
    the events commit, and the catch-up after the commit writes the views."""
    ledger = store.ledger()
    engine = store.engine(ledger)
    ledger.transaction_hook = InlineViews(engine)
    build_tree(ledger)
    number = admit(ledger, 1)
    members = engine.members.tables[0]
    flush, pipelined = members.flush, []

    def refused_flush(db: ViewDatabase) -> None:
        pipelined.append(db._pipelined)
        flush(db)
        db.execute("INSERT INTO proj_tracking (name, position) VALUES ('views', 0)")  # a duplicate key

    monkeypatch.setattr(members, "flush", refused_flush)
    recorded = ledger.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))
    monkeypatch.undo()
    assert pipelined == [store.kind == "postgres"]
    assert ledger.member(number).last_on == date(2026, 2, 1)  # the command is recorded
    assert engine.catch_up() == recorded.position == stored_position(store)
    assert engine.verify()["ok"]


@pytest.mark.postgres_only
def test_verify_after_a_command_held_back_by_an_older_transaction_reads_up_to_the_command(store: Store) -> None:
    """The views applied the command inline; its events are readable from the log only once
    an older transaction ends: verify's rebuild of the views waits for them instead of
    stopping short (and finding the views ahead of the log)."""
    ledger = store.ledger(POSTGRES_LOCK_TIMEOUT="30")
    engine = store.engine(ledger)
    ledger.transaction_hook = InlineViews(engine)
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.max_position()  # (other jobs' transactions on the server may hold it back)
    with older_transaction(store) as end:
        recorded = ledger.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))
        assert engine.position == recorded.position  # applied inline, in the save's transaction
        verifying, outcome = run(engine.verify, "verify")
        verifying.join(0.5)
        assert verifying.is_alive()  # waits for the command's events
        end()
        verifying.join(60)
    assert outcome[0]["ok"] and outcome[0]["position"] == recorded.position


@pytest.mark.postgres_only
def test_sealing_after_a_command_held_back_by_an_older_transaction_seals_up_to_the_command(store: Store) -> None:
    """`ledger checkpoint`, `verify` and `export` seal the log first: a command this process
    saved, held back by an older transaction, is waited for and sealed, not left out."""
    ledger = store.ledger(POSTGRES_LOCK_TIMEOUT="30")
    build_tree(ledger)
    number = admit(ledger, 1)
    sealer = Sealer(ledger, ViewDatabase(store.url))
    try:
        sealer.seal()
        with older_transaction(store) as end:
            recorded = ledger.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))
            sealing, sealed = run(sealer.seal, "seal")
            sealing.join(0.5)
            assert sealing.is_alive()  # waits for the command's events
            end()
            sealing.join(60)
        assert sealed == [recorded.position]
    finally:
        sealer.db.close()
