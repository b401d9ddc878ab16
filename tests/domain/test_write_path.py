"""The write path: commands decided on aggregates held in memory and kept current by
following the store's log, one writer per Ledger (no contention inside a process), and
two Ledgers on one store (as two processes) still refusing decisions on stale state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import uuid4

import eventsourcing.application
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

import domain.ledger.cache as cache_module
from domain.errors import LedgerError, TransferOpen
from domain.identifiers import member_id, organization_id
from domain.member import Member
from domain.organization import Organization
from tests.conftest import Store
from tests.factories import admit, build_tree


def count_calls(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[Any]:
    """Every call of `obj.name` from now on, by its first argument."""
    calls: list[Any] = []
    original = getattr(obj, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, counting)
    return calls


Started = tuple[list[threading.Thread], list[Any]]


def in_threads_started(calls: list[Callable[[], Any]]) -> Started:
    """Start the calls at once, each in its own thread."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[i] = calls[i]()
        except Exception as error:  # the test inspects every outcome
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    return threads, outcomes


def joined(started: Started) -> list[Any]:
    """Each call's outcome, a result or an error, once all have ended."""
    threads, outcomes = started
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a command hung"
    return outcomes


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once, each in its own thread; each outcome a result or an error."""
    return joined(in_threads_started(calls))


def test_a_change_saved_by_another_ledger_is_seen_without_loading_each_aggregate(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.ledger()
    second = store.ledger(CREATE_TABLE="n")
    build_tree(first)
    number = admit(first, 1)
    first.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))  # first now holds the member
    second.request_transfer(number, "QH-C1", reason="job_change", basis="household", on=date(2026, 3, 1))
    loads = count_calls(monkeypatch, first.repository, "get")
    with pytest.raises(TransferOpen):
        first.request_transfer(number, "XW-C1-B2", reason="job_change", basis="household", on=date(2026, 3, 2))
    assert first.member(number).transfer_id is not None
    assert loads == []  # the member, its organizations: all brought up to date from the log


def test_a_save_is_followed_by_the_cache_without_reading_it_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache moves past the events its own process just saved (nobody saved in
    between): the next command's refresh reads none of them back."""
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1)
    assert ledger.cache_info()["position"] == ledger.max_position()
    read: list[Any] = []
    original = ledger.recorder.select_notifications

    def reading(*args: Any, **kwargs: Any) -> Any:
        page = original(*args, **kwargs)
        read.extend(page)
        return page

    monkeypatch.setattr(ledger.recorder, "select_notifications", reading)
    ledger.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))
    ledger.record_dues(number, "2026-02", "10.00", on=date(2026, 3, 1))
    assert ledger.cache_info()["position"] == ledger.max_position()
    assert read == []  # each refresh began where the save before it ended
    assert ledger.member(number).last_on == date(2026, 3, 1)


def test_a_save_after_another_ledgers_save_still_reads_that_one(store: Store) -> None:
    """Positions with a gap before them (another process saved in between) leave the cache
    where it was: the other's events are read and applied at the next refresh."""
    first = store.ledger()
    second = store.ledger(CREATE_TABLE="n")
    build_tree(first)
    number = admit(first, 1)
    first.record_dues(number, "2026-01", "10.00", on=date(2026, 2, 1))  # first holds the member
    before = first.cache_info()["position"]
    second.record_dues(number, "2026-02", "10.00", on=date(2026, 3, 1))
    after_other = first.max_position()
    assert after_other > before
    first.cache.put([], [after_other + 1, after_other + 2])  # as first's save right after it would
    assert first.cache_info()["position"] == before  # the other's event is still to be read
    first.record_dues(number, "2026-03", "10.00", on=date(2026, 4, 1))
    assert first.cache_info()["position"] == first.max_position()
    member = first.member(number)
    assert member.last_on == date(2026, 4, 1) and member.version == second.member(number).version


def test_others_saves_of_aggregates_not_held_are_followed_by_their_headers_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a big page, another process's saves (an import's worker) of aggregates this
    cache doesn't hold are passed by reading their ids and versions only; a save of one it
    holds is read in full and applied. Small pages (another server's commands) are read
    whole at once."""
    monkeypatch.setattr(cache_module, "HEADERS_FROM", 3)
    first = store.ledger()
    second = store.ledger(CREATE_TABLE="n")
    build_tree(first)
    first.cache.clear()
    number = admit(first, 1)  # first holds the member, its branch and the chain above
    read = count_calls(monkeypatch, first.recorder, "select_notifications")
    headers = count_calls(monkeypatch, first.recorder, "select_headers")
    others = [admit(second, n, org="SC-C1-B1") for n in range(2, 5)]  # in another city, region, chain
    assert first.cache.refresh() == first.max_position()
    assert headers == [] and len(read) == 1  # the first page: read whole, and big
    read.clear()
    others += [admit(second, n, org="SC-C1-B1") for n in range(5, 7)]
    assert first.cache.refresh() == first.max_position()
    assert headers and read == []
    second.record_dues(number, "2026-02", "10.00", on=date(2026, 3, 1))
    admit(second, 7, org="SC-C1-B1")
    assert first.cache.refresh() == first.max_position()
    assert len(read) == 1  # the page from the held member's event on, in full
    held = first.cache.copy(member_id(number))
    assert held is not None and held.version == second.member(number).version
    assert all(member_id(other) not in first.cache for other in others)


def test_the_aggregate_cache_holds_at_most_its_bound(store: Store) -> None:
    ledger = store.ledger(LEDGER_AGGREGATE_CACHE="8")
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(12)]
    for number in numbers:
        ledger.record_dues(number, "2026-01", "5.00", on=date(2026, 2, 1))
    info = ledger.cache_info()
    assert info["maxsize"] == 8 and 0 < info["size"] <= 8 and info["evictions"] > 0
    assert all(ledger.member(number).last_on == date(2026, 2, 1) for number in numbers)


def test_a_refused_command_leaves_the_held_aggregates_as_they_were(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1)
    ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household", on=date(2026, 3, 1))
    member_before = ledger.member(number)
    letters_before = dict(ledger.organization("XW-C1").counters)
    with pytest.raises(LedgerError):
        # the letter's number is taken, then the member's date refuses the letter
        ledger.issue_letter(member_before.transfer_id, on=date(2026, 2, 1))  # type: ignore[arg-type]
    assert ledger.organization("XW-C1").counters == letters_before
    after = ledger.member(number)
    assert (after.version, after.status) == (member_before.version, member_before.status)


def test_eight_clerks_moving_members_between_the_same_two_branches_are_never_refused(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(8)]
    transfer_ids = [
        ledger.request_transfer(number, "XW-C1-B2", reason="job_change", basis="household",
                                on=date(2026, 3, 1)).transfer_id
        for number in numbers
    ]
    for transfer_id in transfer_ids:
        ledger.issue_letter(transfer_id, on=date(2026, 3, 2))  # type: ignore[arg-type]
    outcomes = in_threads([
        lambda t=transfer_id: ledger.receive_member(t, "XW-C1-B2", on=date(2026, 3, 3))  # type: ignore[misc]
        for transfer_id in transfer_ids
    ])
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert set(ledger.organization("XW-C1-B2").members) == set(numbers)
    assert not set(ledger.organization("XW-C1-B1").members) & set(numbers)



def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        deadline.wait(0.01)
    raise AssertionError("the condition was not met in time")


def test_commands_arriving_together_are_saved_together(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(6)]
    saves = count_calls(monkeypatch, ledger, "save")
    with ledger.writer.held():
        threads = in_threads_started([
            lambda n=number: ledger.record_dues(n, "2026-01", "5.00", on=date(2026, 2, 1))  # type: ignore[misc]
            for number in numbers
        ])
        wait_until(lambda: ledger.writer.waiting() == len(numbers))
    outcomes = joined(threads)
    assert len(saves) == 1  # six commands, one transaction
    other = store.ledger(CREATE_TABLE="n")
    for number, recorded in zip(numbers, outcomes, strict=True):
        assert recorded.registration_no == number
        assert 0 < recorded.position <= other.max_position()
        assert other.member(number).last_on == date(2026, 2, 1)  # committed when answered
    assert len({r.position for r in outcomes}) == len(numbers)  # each its own last event


def test_a_refused_command_inside_a_group_changes_nothing(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(3)]
    transfer_ids = [
        str(ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                    on=date(2026, 3, 1)).transfer_id)
        for number in numbers
    ]
    before = ledger.max_position()
    days = [date(2026, 3, 2), date(2026, 2, 1), date(2026, 3, 2)]  # the middle one is back-dated
    with ledger.writer.held():
        threads = in_threads_started([
            lambda t=transfer_id, d=day: ledger.issue_letter(t, on=d)  # type: ignore[misc]
            for transfer_id, day in zip(transfer_ids, days, strict=True)
        ])
        wait_until(lambda: ledger.writer.waiting() == 3)
    first, refused, third = joined(threads)
    assert isinstance(refused, LedgerError) and refused.code == "before_last_event"
    assert {first.letter_no, third.letter_no} == {"XW-C1-2026-00001", "XW-C1-2026-00002"}
    assert ledger.organization("XW-C1").counters == {"letter-2026": 2}
    assert ledger.transfer(transfer_ids[1]).status == "requested"
    assert ledger.member(numbers[1]).version == store.ledger(CREATE_TABLE="n").member(numbers[1]).version
    stored = [e for _, e in ledger.read_events(after=before)]
    assert not [e for e in stored if getattr(e, "originator_id", None) == ledger.transfer(transfer_ids[1]).id]
    later = ledger.issue_letter(transfer_ids[1], on=date(2026, 3, 3))  # as if it had never run
    assert later.letter_no == "XW-C1-2026-00003"


class _Counting:
    """An iterator that counts the items taken from it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.taken = inner, 0

    def __next__(self) -> Any:
        self.taken += 1
        return next(self.inner)


class _SlowLog:
    """A recorder whose first read of the log waits until released (`entered` is set once it
    waits); every read of the log is counted."""

    def __init__(self) -> None:
        self.reads = 0
        self.entered, self.release = threading.Event(), threading.Event()

    def max_notification_id(self) -> int:
        return 0

    def select_notifications(self, start: int, limit: int, inclusive_of_start: bool = True) -> list[Any]:
        self.reads += 1
        if self.reads == 1:
            self.entered.set()
            assert self.release.wait(timeout=30)
        return []


def test_refreshes_asked_for_while_the_log_is_read_share_one_later_read() -> None:
    """Requests that arrive while the cache reads the log (each needs the log as of its
    arrival, or later) wait for that read, then share one read of their own: three
    callers, two reads; the read under way when they arrived doesn't serve them."""
    from domain.ledger.cache import AggregateCache

    log = _SlowLog()
    cache = AggregateCache(log, None, lambda _: None)  # type: ignore[arg-type]
    cache.refresh()  # the position to follow from
    first = threading.Thread(target=cache.refresh)
    first.start()
    assert log.entered.wait(timeout=30)
    tickets = _Counting(cache._tickets)
    cache._tickets = tickets  # type: ignore[assignment]
    later = [threading.Thread(target=cache.refresh) for _ in range(2)]
    for thread in later:
        thread.start()
    wait_until(lambda: tickets.taken == 2)  # both called (and wait for the cache's lock)
    log.release.set()
    for thread in [first, *later]:
        thread.join(timeout=30)
    assert log.reads == 2


def test_a_save_of_many_events_gets_the_positions_the_store_gave_them(store: Store) -> None:
    """The positions a save returns (SQLite: one INSERT run for all rows; PostgreSQL: the
    rows as column arrays) are those the log reads back, event for event, in order; a
    duplicate (id, version) among them refuses the whole save."""
    ledger = store.ledger()
    build_tree(ledger)
    events = [StoredEvent(uuid4(), version, f"topic:{n}", bytes([n, 0, 255]))
              for n in range(7) for version in (1, 2)]
    ids = list(ledger.recorder.insert_events(events) or [])
    assert len(ids) == len(events) and ids == sorted(ids)
    read = ledger.recorder.select_notifications(start=ids[0], limit=100)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in read] == [
        (i, e.originator_id, e.originator_version, e.topic, e.state) for i, e in zip(ids, events, strict=True)]
    again = [StoredEvent(uuid4(), 1, "topic:new", b"x"), events[3]]
    with pytest.raises(IntegrityError):
        ledger.recorder.insert_events(again)
    assert ledger.recorder.select_notifications(start=ids[-1], limit=100, inclusive_of_start=False) == []


def test_aggregates_loaded_in_bulk_are_those_the_repository_loads(store: Store) -> None:
    """domain/ledger/bulk.py's load of many aggregates (latest snapshot, the events after it)
    gives each aggregate exactly as `Repository.get` does, with and without snapshots; an
    id the store doesn't hold is left out."""
    ledger = store.ledger()
    ledger.snapshotting_intervals = {Organization: 3, Member: 3}  # snapshots every third event
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(5)]
    ledger.record_dues(numbers[0], "2026-01", "10.00", on=date(2026, 2, 1))
    ledger.record_dues(numbers[0], "2026-02", "10.00", on=date(2026, 3, 1))
    ids = [organization_id(code) for code in ("JS", "XW", "XW-C1-B1", "XW-C1-B2", "QH")]
    ids += [member_id(number) for number in numbers] + [organization_id("NOPE")]
    assert ledger.repository.snapshot_store is not None
    snapshotted = {e.originator_id for i in ids for e in ledger.repository.snapshot_store.get(i)}
    assert member_id(numbers[0]) in snapshotted and organization_id("XW-C1-B1") in snapshotted
    loaded = ledger._load_many(ids)
    assert loaded is not None and set(loaded) == set(ids) - {organization_id("NOPE")}
    for aggregate_id, aggregate in loaded.items():
        expected = ledger.repository.get(aggregate_id)
        assert type(aggregate) is type(expected) and vars(aggregate) == vars(expected)


def test_aggregates_loaded_in_bulk_are_not_checked_against_a_runtime_protocol(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk load applies each event itself: eventsourcing's `project_aggregate` asserts
    every event against a runtime Protocol, about 40 µs each (at 900,000 members, a quarter
    of an import's time went to it while loading the organizations of a file)."""
    ledger = store.ledger()
    build_tree(ledger)
    numbers = [admit(ledger, n) for n in range(3)]

    class Counted(type):
        checks = 0

        def __instancecheck__(cls, instance: Any) -> bool:
            Counted.checks += 1
            return True

    monkeypatch.setattr(eventsourcing.application, "CanMutateProtocol", Counted("CanMutate", (), {}))
    ids = [organization_id(code) for code in ("JS", "XW-C1-B1")] + [member_id(n) for n in numbers]
    loaded = ledger._load_many(ids)
    assert loaded is not None and set(loaded) == set(ids)
    assert Counted.checks == 0
    assert vars(ledger.repository.get(ids[1])) == vars(loaded[ids[1]])  # the check runs there
    assert Counted.checks > 0


def test_an_import_reads_its_organizations_in_bulk(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """`preload_organizations` brings the organizations and their ancestors into the cache
    with a few queries: none of them is then loaded alone."""
    ledger = store.ledger(LEDGER_AGGREGATE_CACHE="100")
    build_tree(ledger)
    ledger.cache.clear()
    loads = count_calls(monkeypatch, ledger.cache, "_load")
    found = ledger.preload_organizations(["XW-C1-B1", "XW-C1-B2", "QH-C1-B1", "NOPE", "bad code"])
    assert sorted(found) == ["QH-C1-B1", "XW-C1-B1", "XW-C1-B2"]
    assert all(found[code].code == code for code in found)
    assert ledger.organization("XW-C1-B1").members == {}
    for code in ("XW-C1-G1", "XW-C1", "XW", "NJ", "JS", "QH-C1", "QH"):  # the chains above, cached
        assert organization_id(code) in ledger.cache
    assert loads == []


def test_the_cache_widened_for_a_while_holds_more_then_goes_back_to_its_bound(store: Store) -> None:
    """Room beyond the bound while a caller asks for it (the widest of those at once, ended
    in any order); then the least recently used are let go down to the bound."""
    ledger = store.ledger(LEDGER_AGGREGATE_CACHE="3")
    build_tree(ledger)
    cache = ledger.cache
    codes = ["JS", "NJ", "XW", "XW-C1", "XW-C1-G1", "XW-C1-B1", "XW-C1-B2", "QH"]
    first, second = cache.widened(2), cache.widened(5)
    first.__enter__()
    second.__enter__()
    assert cache.maxsize == 8
    ledger.preload_organizations(codes)
    assert all(organization_id(code) in cache for code in codes) and len(cache) == 8
    first.__exit__(None, None, None)  # the wider one still holds: nothing let go
    assert cache.maxsize == 8 and len(cache) == 8
    second.__exit__(None, None, None)
    assert cache.info()["maxsize"] == 3 and len(cache) == 3
    with pytest.raises(ValueError):
        cache.widened(-1).__enter__()
    assert cache.maxsize == 3
    assert ledger.organization("XW-C1-B2").code == "XW-C1-B2"  # let go, loaded again when asked for
