# ruff: noqa: B023  (each race runs, and ends, inside its own loop iteration)
"""Several processes on one store: two Ledgers (each with its own connection pool and its
own writer, as two `ledger serve` processes have) decide commands on their own caches.
A decision never rests on state the other changed before it committed: what a group read
is checked at its commit (domain/ledger/recorders.py), and a group that read something
changed since is judged again, not refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date

import pytest

import domain.ledger.recorders as recorders
from domain.errors import LedgerError
from domain.transfer import Transfer
from tests.conftest import Store
from tests.domain.test_concurrency import count_events, race, split, two_ledgers
from tests.factories import admit, build_tree, person

DAY = date(2026, 3, 2)


def once(call: Callable[[], object]) -> Callable[[], object]:
    """The call, made the first time only (a batch judged again runs its commands again)."""
    made: list[object] = []

    def run() -> object:
        if not made:
            made.append(call())
        return made[0]

    return run


def run_together(target: Callable[[int], None], count: int, timeout: float = 300) -> None:
    """`target(i)` for i in range(count), each in a thread of its own; returns when all end."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"


def test_a_letter_is_not_issued_to_an_organization_the_other_process_dissolved_meanwhile(
    store: Store,
) -> None:
    """Issuing the letter reads its target without writing it. The other process dissolves
    the target after this one decided and before it commits (the batch's second command
    runs on the other Ledger, which commits at once, the first time it runs): the decision is taken again and sees
    the dissolution."""
    first, second = two_ledgers(store)
    build_tree(first)
    number = admit(first, 1)
    transfer_id = first.request_transfer(
        number, "XW-C1-B3", reason="job_change", basis="household", on=date(2026, 3, 1)
    ).transfer_id
    assert transfer_id is not None
    outcomes = race(lambda: first.batch([
        lambda: first.issue_letter(transfer_id, on=DAY),
        once(lambda: second.dissolve_organization("XW-C1-B3", "XW-C1-B2", on=DAY)),
    ]))
    assert isinstance(outcomes[0], LedgerError), f"the letter was issued: {outcomes[0]!r}"
    assert outcomes[0].code == "organization_dissolved"
    assert first.organization("XW-C1-B3").status == "dissolved"
    assert first.transfer(transfer_id).status == "requested"
    assert count_events(first, Transfer.LetterIssued) == 0


def test_a_bulk_group_checked_under_the_turn_sees_the_dissolution_too(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A group that read more aggregates than are locked one by one takes the store's turn
    for its transaction instead: the check still finds the dissolution."""
    monkeypatch.setattr(recorders, "MAX_AGGREGATE_LOCKS", 1)
    test_a_letter_is_not_issued_to_an_organization_the_other_process_dissolved_meanwhile(store)


def test_eight_clerks_on_two_processes_moving_distinct_members_are_never_refused(store: Store) -> None:
    """Four clerks on each Ledger move distinct members out of one branch into another of the
    same committee: every letter comes from one register, every receipt writes both
    branches, and both processes write them. No command is refused; each member moves
    once; the letter numbers are all distinct."""
    first, second = two_ledgers(store)
    build_tree(first)
    clerks, rounds = 8, 5
    numbers = [[admit(first, 100 + clerk * rounds + r) for r in range(rounds)] for clerk in range(clerks)]
    errors: list[BaseException] = []
    letters: list[str] = []
    barrier = threading.Barrier(clerks)

    def clerk(index: int) -> None:
        ledger = first if index % 2 else second
        barrier.wait()
        try:
            for number in numbers[index]:
                transfer_id = ledger.request_transfer(
                    number, "XW-C1-B2", reason="job_change", basis="household", on=DAY).transfer_id
                assert transfer_id is not None
                letters.append(ledger.issue_letter(transfer_id, on=DAY).letter_no or "")
                ledger.receive_member(transfer_id, "XW-C1-B2", on=DAY)
        except BaseException as error:  # the test reports every failure
            errors.append(error)

    run_together(clerk, clerks)
    assert errors == []
    moved = [n for row in numbers for n in row]
    assert len(set(letters)) == len(moved)
    assert count_events(first, Transfer.MemberReceived) == len(moved)
    for ledger in (first, second):
        assert set(ledger.organization("XW-C1-B2").members) == set(moved)
        assert not set(ledger.organization("XW-C1-B1").members) & set(moved)
        assert all(ledger.member(n).organization_code == "XW-C1-B2" for n in moved)


def test_one_resident_id_number_on_two_processes_is_admitted_once_and_refused_as_a_duplicate(
    store: Store,
) -> None:
    """Never both accepted, never both refused, and the refused one is told why."""
    first, second = two_ledgers(store)
    build_tree(first)
    for n in range(6):
        day = date(2026, 1, 10)
        fields = person(n, joined_on=day)
        outcomes = race(
            lambda: first.admit_member("XW-C1-B1", on=day, **fields),
            lambda: second.admit_member("QH-C1-B1", on=day, **fields),
        )
        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1
        assert errors[0].code == "duplicate_registration"

