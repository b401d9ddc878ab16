"""The engine applies each event exactly once, in batches, on both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from domain.certificate import Certificate
from domain.idclaim import IdClaim
from domain.ledger import Ledger
from domain.member import Member
from domain.operator import Operator
from domain.organization import Organization
from domain.transfer import Transfer
from projections.db import ViewDatabase
from projections.engine import ProjectionEngine
from tests.conftest import Store
from tests.factories import admit, build_tree
from tests.projections.reads import of_record
from tests.projections.test_rosters import tell_story


class Crash(Exception):
    pass


def test_views_reflect_commands_after_catch_up(store: Store) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    build_tree(ledger)
    number = admit(ledger, 1)
    assert engine.catch_up() == ledger.max_position()
    assert of_record(store.queries(), "XW-C1-B1", number) == [(number, "held", "XW-C1-B1")]


def test_the_engine_reads_no_event_no_view_handles_yet_counts_it_and_tracks_past_it(store: Store) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    unread = set(engine.reader.skip_topics)
    assert {get_topic(IdClaim.Claimed), get_topic(Organization.MemberAttached),
            get_topic(Organization.NumberTaken)} <= unread
    assert not {get_topic(Member.Imported), get_topic(Member.OrgLifeAttended), get_topic(Organization.Registered),
                get_topic(Transfer.Requested), get_topic(Certificate.Issued), get_topic(Operator.Granted)} & unread
    assert all(not engine._handlers(resolve_topic(topic)) for topic in unread)

    build_tree(ledger)
    admit(ledger, 1)
    stored = ledger.recorder.select_notifications(start=1, limit=10_000)
    assert stored[-1].topic in unread  # the history ends on an event the engine passes over
    assert engine.catch_up() == ledger.max_position() == stored[-1].id
    assert engine.applied == len(stored)  # every event counted, read or passed over
    assert engine.db.scalar("SELECT position FROM proj_tracking WHERE name = 'views'") == stored[-1].id
    assert engine.catch_up() == stored[-1].id and engine.applied == len(stored)  # nothing left to read
    assert engine.verify()["ok"]


def test_a_batch_that_fails_before_commit_is_applied_again_exactly_once(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    engine = store.engine(ledger, batch_size=7)
    engine.catch_up()
    numbers = [admit(ledger, n) for n in range(5)]
    transfer = ledger.request_transfer(numbers[0], "QH-C1", reason="job_change", basis="household",
                                       on=date(2026, 3, 1)).transfer_id
    ledger.issue_letter(transfer, on=date(2026, 3, 2))
    ledger.receive_member(transfer, "QH-C1-B1", on=date(2026, 3, 3))

    calls = {"n": 0}

    def crash_on_second_batch() -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("killed after the view writes, before commit")

    engine._before_commit = crash_on_second_batch  # type: ignore[method-assign]
    with pytest.raises(Crash):
        engine.catch_up()
    stopped_at = engine.position
    assert 0 < stopped_at < ledger.max_position()

    restarted = store.engine(ledger)  # a new process would start from the committed position
    assert restarted.position == stopped_at
    restarted.catch_up()
    result = restarted.verify()
    assert result["ok"], result["mismatches"]
    assert result["events"] == ledger.max_position()  # no gaps in this history
    report = store.queries().monthly_report("NJ", "2026-03")
    assert (report["transferred_in_internal"], report["transferred_out_internal"]) == (1, 1)
    assert report["closing"] == 5


def test_wait_for_with_a_background_engine(store: Store) -> None:
    ledger = store.ledger()
    engine = store.engine(ledger)
    engine.start(poll_interval=0.05)
    build_tree(ledger)
    position = ledger.register_organization("XW-C1-B9", "新支部", "branch", "XW-C1", "320102").position
    assert engine.wait_for(position, timeout=10)
    assert store.queries().organization("XW-C1-B9")["name"] == "新支部"
    engine.stop()


def caught_up(store: Store) -> tuple[Ledger, ProjectionEngine, dict[str, list[tuple[Any, ...]]]]:
    """A tree and three members, their views applied, and a snapshot of the views."""
    ledger = store.ledger()
    build_tree(ledger)
    for n in range(3):
        admit(ledger, n)
    engine = store.engine(ledger)
    engine.catch_up()
    return ledger, engine, engine.snapshot()[1]


def test_rebuild_gives_the_same_views(store: Store) -> None:
    ledger, engine, before = caught_up(store)
    assert engine.rebuild() == ledger.max_position()
    _, after = engine.snapshot()
    assert before == after
    assert engine.verify()["ok"]


def test_views_of_other_table_definitions_are_rebuilt_from_the_first_event(store: Store) -> None:
    ledger, engine, before = caught_up(store)
    # As an older version would have left them: the same rows, other definitions.
    with engine.db.transaction():
        engine.db.execute("UPDATE proj_tracking SET position = position + 1 WHERE name = 'schema'")
    restarted = store.engine(ledger)
    assert restarted.position == 0  # dropped: nothing applied
    assert restarted.catch_up() == ledger.max_position()
    _, after = restarted.snapshot()
    assert after == before


@pytest.mark.postgres_only
def test_view_text_compares_byte_by_byte_on_postgresql(store: Store) -> None:
    """Every TEXT column of the views has the "C" collation, as SQLite's TEXT compares:
    the same order on both stores, whatever the database's locale."""
    ledger = store.ledger()
    build_tree(ledger)
    engine = store.engine(ledger)
    engine.catch_up()
    columns = engine.db.query(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND left(table_name, 5) = 'proj_' AND data_type = 'text'")
    assert len({table for table, _, _ in columns}) >= 10
    assert [(t, c) for t, c, collation in columns if collation != "C"] == []
    codes = [code for (code,) in engine.db.query("SELECT code FROM proj_organizations ORDER BY code")]
    assert codes == sorted(codes)  # Python compares code points: UTF-8 bytes in the same order


def rows_applied_in_order(ledger: Ledger, order: Callable[[ProjectionEngine], tuple[Any, ...]]) -> dict[str, Any]:
    """Every view table's rows, from every event applied by an engine (on a scratch
    database) whose read models apply each event in `order`."""
    engine = ProjectionEngine(ledger, ViewDatabase.scratch())
    try:
        engine.views = (*order(engine), engine.tree)  # the tree still moves last
        engine._dispatch.clear()  # each event type's handlers, resolved again in the new order
        engine.catch_up()
        return engine.snapshot()[1]
    finally:
        engine.db.close()


def test_the_read_models_apply_an_event_in_any_order(store: Store) -> None:
    """Each read model reads the event, its own rows, and rows of the others that earlier
    events wrote: the figures count a member received or moved with a dissolved branch the
    same whether the members' view has applied that event already or not, and the history
    names the member of an aggregate's first event before any view has made its row."""
    ledger = tell_story(store).ledger
    number = admit(ledger, 20, "XW-C2-B1")
    certificate = ledger.issue_certificate(
        number, kind="mobile", purpose="外出务工", valid_until=date(2026, 6, 1),
        host_organization_code="QH-C1-B1", contact_person="王书记", on=date(2025, 11, 3),
    ).certificate_no
    assert certificate is not None
    ledger.return_certificate(certificate, on=date(2025, 12, 1))
    ledger.file_month("XW", "2025-11")
    ledger.grant_operator("审计员", "auditor", "XW")
    stored = rows_applied_in_order(ledger, lambda engine: engine.models)
    assert {"transferred_in_external", "transferred_in_whole_org"} <= {row[2] for row in stored["proj_counts"]}
    assert all(stored[table] for table in ("proj_history", "proj_certificates", "proj_filings", "proj_operators"))
    reversed_order = rows_applied_in_order(ledger, lambda engine: tuple(reversed(engine.models)))
    figures_last = rows_applied_in_order(
        ledger, lambda engine: (*(model for model in engine.models if model is not engine.figures), engine.figures))
    for table, rows in stored.items():
        assert reversed_order[table] == rows, table
        assert figures_last[table] == rows, table
