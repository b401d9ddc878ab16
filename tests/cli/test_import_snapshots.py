"""An import leaves a snapshot of each organization it saved (domain/ledger/store.py's
`write_snapshots`), taken of the state it saved; an organization is then loaded, in bulk or
alone, exactly as replaying all its events gives it, and the next file's import reads none
of the events below a snapshot (domain/ledger/bulk.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

import domain.ledger.bulk as bulk
from api.importing import import_file
from domain.base import LedgerAggregate
from domain.identifiers import organization_id
from domain.ledger import Ledger
from domain.ledger.bulk import select_stored_events
from domain.ledger.store import SNAPSHOT_FROM
from domain.member import Member
from domain.organization import Organization
from tests.cli.test_import import MEMBER_HEADINGS_EN, member_row, run, write_csv
from tests.cli.test_import_once import HOLDERS, ON, another_store, recorded_after, tree
from tests.conftest import Store
from tests.factories import admit, build_tree

ROWS = 90  # thirty members a holding organization


def members_file(tmp_path: Path, first: int, name: str) -> Path:
    rows = [member_row(n, HOLDERS[n % 3]) for n in range(first, first + ROWS)]
    return write_csv(tmp_path / name, MEMBER_HEADINGS_EN, rows)


def replayed(ledger: Ledger, aggregate_id: UUID) -> Any:
    """The aggregate made from all its events, no snapshot."""
    aggregate: Any = None
    for event in ledger.repository.event_store.get(aggregate_id):
        aggregate = event.mutate(aggregate)
    return aggregate


def latest_snapshot(ledger: Ledger, aggregate_id: UUID) -> Any:
    assert ledger.repository.snapshot_store is not None
    found = list(ledger.repository.snapshot_store.get(aggregate_id, desc=True, limit=1))
    return found[0] if found else None


@pytest.mark.parametrize("workers", [1, 3])
def test_an_import_leaves_a_snapshot_of_each_organization_it_saved_as_it_saved_it(
        store: Store, tmp_path: Path, workers: int) -> None:
    """One process or three workers: each holding organization has a snapshot at its
    current version, and a ledger opened afterwards loads it, in bulk and alone, as its
    events replayed give it."""
    ledger = store.ledger()
    tree(ledger)
    ids = [organization_id(code) for code in HOLDERS]
    assert all(latest_snapshot(ledger, i) is None for i in ids)  # registered one by one: none
    result = import_file(ledger, members_file(tmp_path, 1, "a.csv"), "members", on=ON, workers=workers)
    assert result.ok and result.recorded == ROWS
    later = store.ledger()
    for aggregate_id in ids:
        snapshot, expected = latest_snapshot(later, aggregate_id), replayed(later, aggregate_id)
        assert len(expected.members) == ROWS // 3
        assert snapshot is not None and snapshot.originator_version == expected.version
        assert vars(snapshot.mutate(None)) == vars(expected)
        assert vars(later.repository.get(aggregate_id)) == vars(expected)
    loaded = later._load_many(ids)
    assert loaded is not None and all(vars(loaded[i]) == vars(replayed(later, i)) for i in ids)


def test_the_next_files_import_reads_no_event_below_a_snapshot(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second file's import, by a ledger that holds nothing yet, loads the holding
    organizations from their snapshots and reads none of the events the snapshots sum up;
    what it records is what replaying every event gives."""
    ledger = store.ledger()
    tree(ledger)
    assert import_file(ledger, members_file(tmp_path, 1, "a.csv"), "members", on=ON, workers=1).recorded == ROWS
    ids = {organization_id(code) for code in HOLDERS}
    below = {i: latest_snapshot(ledger, i).originator_version for i in ids}
    read: list[StoredEvent] = []
    plain = bulk.select_stored_events

    def reading(*args: Any, **kwargs: Any) -> Any:
        found = plain(*args, **kwargs)
        read.extend(found or ())
        return found

    monkeypatch.setattr(bulk, "select_stored_events", reading)
    later = store.ledger()
    second = import_file(later, members_file(tmp_path, 1 + ROWS, "b.csv"), "members", on=ON, workers=1)
    assert second.ok and second.recorded == ROWS
    assert read, "the organizations were not loaded in bulk"
    assert not [e for e in read if e.originator_id in ids and e.originator_version <= below[e.originator_id]]
    for aggregate_id in ids:
        assert len(replayed(later, aggregate_id).members) == 2 * ROWS // 3
        assert vars(later.organization(HOLDERS[0]) if aggregate_id == organization_id(HOLDERS[0])
                    else later.repository.get(aggregate_id)) == vars(replayed(later, aggregate_id))
        assert latest_snapshot(later, aggregate_id).originator_version > below[aggregate_id]


def test_events_after_given_versions_are_read_alone(store: Store) -> None:
    """`select_stored_events(after=...)`: an aggregate named gives its events after that
    version only; one not named gives all of them."""
    ledger = store.ledger()
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(4)]
    branch, other = organization_id("XW-C1-B1"), organization_id("JS")
    every = {i: [e.originator_version for e in ledger.repository.event_store.get(i)] for i in (branch, other)}
    assert len(every[branch]) > 3, numbers
    found = select_stored_events(ledger.recorder, [branch, other], after={branch: 2})
    assert found is not None
    got = {i: [e.originator_version for e in found if e.originator_id == i] for i in (branch, other)}
    assert got == {branch: every[branch][2:], other: every[other]}


def test_snapshots_are_written_of_big_enough_aggregates_and_a_refused_batch_is_passed_over(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Fewer than SNAPSHOT_FROM events, or a version the library snapshots itself: none.
    A snapshot already written at that version: the store refuses it, the import goes on
    (a warning, no error), since the events are recorded."""
    ledger = store.ledger()
    build_tree(ledger)
    for n in range(SNAPSHOT_FROM + 1):
        admit(ledger, n)
    branch = ledger.cache.get(organization_id("XW-C1-B1"))
    small = ledger.cache.get(organization_id("QH"))
    assert branch is not None and small is not None
    assert branch.version >= SNAPSHOT_FROM and small.version < SNAPSHOT_FROM
    assert ledger.write_snapshots([branch, small]) == 1
    assert latest_snapshot(ledger, branch.id).originator_version == branch.version
    assert latest_snapshot(ledger, small.id) is None
    with caplog.at_level(logging.WARNING, logger="ledger.store"):
        assert ledger.write_snapshots([branch]) == 0
    assert "snapshots not written" in caplog.text
    ledger.snapshotting_intervals = {Organization: branch.version, Member: 100}
    taken_before = latest_snapshot(ledger, branch.id).originator_version
    assert ledger.write_snapshots([branch]) == 0 and caplog.text.count("snapshots not written") == 1
    assert latest_snapshot(ledger, branch.id).originator_version == taken_before


def test_only_the_kinds_asked_are_collected_and_only_while_collecting(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    with ledger.collecting_saved(Organization) as saved:
        number = admit(ledger, 1)
    assert saved and all(isinstance(a, Organization) for a in saved.values())
    assert organization_id("XW-C1-B1") in saved
    kept: dict[UUID, LedgerAggregate] = dict(saved)
    admit(ledger, 2)
    assert saved == kept, number


@pytest.mark.parametrize("workers", [1, 3])
def test_with_import_snapshots_off_an_import_writes_none_and_records_the_same(
        store: Store, tmp_path: Path, workers: int) -> None:
    ledger = store.ledger(LEDGER_IMPORT_SNAPSHOTS="false")
    assert ledger.import_snapshots is False
    tree(ledger)
    start = ledger.max_position()
    assert import_file(ledger, members_file(tmp_path, 1, "a.csv"), "members", on=ON, workers=workers).recorded == ROWS
    assert all(latest_snapshot(ledger, organization_id(code)) is None for code in HOLDERS)
    in_store = recorded_after(ledger, start)
    with another_store(store, tmp_path, "on") as snapshotting:
        begin = snapshotting.max_position()
        import_file(snapshotting, members_file(tmp_path, 1, "a.csv"), "members", on=ON, workers=1)
        assert latest_snapshot(snapshotting, organization_id(HOLDERS[0])) is not None
        assert recorded_after(snapshotting, begin) == in_store  # the events are the same


def test_a_malformed_import_snapshots_setting_is_a_configuration_error(
        env: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_IMPORT_SNAPSHOTS", "sometimes")
    code, _, err = run("import", "members", members_file(tmp_path, 1, "a.csv"), "--on", ON.isoformat())
    assert code == 2 and err.startswith("configuration error:") and "LEDGER_IMPORT_SNAPSHOTS" in err, err
    with pytest.raises(ValueError, match="LEDGER_IMPORT_SNAPSHOTS"):
        env.ledger(LEDGER_IMPORT_SNAPSHOTS="sometimes")
