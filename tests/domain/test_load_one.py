"""One aggregate loaded in one query (domain/ledger/bulk.py `load_one`): the state
eventsourcing's `Repository.get` reconstructs, from its latest snapshot and the events after
it, on both stores; what the aggregate cache loads on a miss."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.identifiers import member_id, organization_id
from domain.ledger import Ledger
from domain.ledger.bulk import load_one
from tests.conftest import Store
from tests.factories import admit, build_tree

ON = date(2024, 3, 1)


def moved(ledger: Ledger, number: str, to: str) -> None:
    """A whole transfer of the member to `to`: three more events on its aggregate."""
    transfer = ledger.request_transfer(number, to, reason="job_change", basis="household", on=ON).transfer_id
    assert transfer is not None
    ledger.issue_letter(str(transfer), on=ON)
    ledger.receive_member(str(transfer), to, on=ON)


def state(aggregate: Any) -> dict[str, Any]:
    return dict(vars(aggregate))


def one(ledger: Ledger, aggregate_id: UUID) -> Any:
    repository = ledger.repository
    return load_one(repository.event_store, repository.snapshot_store, aggregate_id)


@pytest.fixture
def filled(store: Store) -> tuple[Ledger, dict[str, str]]:
    """Members with no snapshot, with a snapshot and events after it, and with a snapshot at
    their current version; organizations with and without one."""
    ledger = store.ledger()
    build_tree(ledger)
    plain, later, latest = (admit(ledger, n) for n in (1, 2, 3))
    moved(ledger, later, "XW-C1-B2")
    ledger.take_snapshot(member_id(later))
    moved(ledger, later, "XW-C1-B1")  # events after its snapshot
    moved(ledger, latest, "XW-C1-B2")
    ledger.take_snapshot(member_id(latest))  # nothing after it
    ledger.take_snapshot(organization_id("XW-C1-B2"))
    return ledger, {"plain": plain, "later": later, "latest": latest}


def test_the_state_repository_get_reconstructs(filled: tuple[Ledger, dict[str, str]]) -> None:
    ledger, numbers = filled
    ids = [member_id(n) for n in numbers.values()] + [organization_id(c) for c in ("XW-C1-B1", "XW-C1-B2", "XW")]
    for aggregate_id in ids:
        loaded = one(ledger, aggregate_id)
        expected: Any = ledger.repository.get(aggregate_id)
        assert loaded is not None and type(loaded) is type(expected)
        assert state(loaded) == state(expected), aggregate_id
        # a store without snapshots: every event, replayed (the same state)
        replayed = load_one(ledger.repository.event_store, None, aggregate_id)
        assert state(replayed) == state(expected), aggregate_id


def test_only_the_latest_snapshot_and_the_events_after_it_are_read(
        filled: tuple[Ledger, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, numbers = filled
    snapshots = ledger.repository.snapshot_store
    assert snapshots is not None
    read: list[int] = []
    for mapper in {id(s.mapper): s.mapper for s in (ledger.repository.event_store, snapshots)}.values():
        original = mapper.to_domain_event

        def counted(stored: Any, original: Any = original) -> Any:
            read.append(stored.originator_version)
            return original(stored)

        monkeypatch.setattr(mapper, "to_domain_event", counted)
    for key, after in (("later", 3), ("latest", 0)):
        aggregate_id = member_id(numbers[key])
        taken = snapshots.recorder.select_events(aggregate_id, desc=True, limit=1)[0].originator_version
        read.clear()
        loaded = one(ledger, aggregate_id)
        assert read == [taken, *range(taken + 1, taken + 1 + after)], key
        assert loaded.version == taken + after


def test_an_unknown_id_is_none(filled: tuple[Ledger, dict[str, str]]) -> None:
    ledger, _ = filled
    assert one(ledger, uuid4()) is None
    assert ledger._load(uuid4()) is None


def test_the_cache_loads_a_miss_without_the_repository(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new Ledger (an empty cache) decides a whole transfer: each aggregate it misses is
    loaded by `load_one`, and eventsourcing's per-aggregate path is never asked."""
    first = store.ledger()
    build_tree(first)
    number = admit(first, 1)
    second = store.ledger()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Repository.get asked")

    monkeypatch.setattr(second.repository, "get", refuse)
    moved(second, number, "XW-C1-B2")
    member = second.member(number)
    assert member.organization_code == "XW-C1-B2" and member.place == "held"
    assert state(one(first, member_id(number))) == state(member)
