"""The write path: commands decided on aggregates held in memory and kept current by
following the store's log, one writer per Ledger (no contention inside a process), and
two Ledgers on one store (as two processes) still refusing decisions on stale state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from domain.errors import LedgerError, TransferOpen
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


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once, each in its own thread; each outcome a result or an error."""
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
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a command hung"
    return outcomes


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

