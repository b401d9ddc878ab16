# ruff: noqa: B023  (each race runs, and ends, inside its own loop iteration)
"""Races: two clerks at once, each with its own Ledger (its own connection pool, as two
processes would have). Exactly one wins; the loser is refused with a clear error and the
store holds no duplicate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from domain.certificate import Certificate
from domain.errors import LedgerError
from domain.identifiers import make_registration_no
from domain.ledger import Ledger
from domain.member import Member
from domain.transfer import Transfer
from tests.conftest import Store
from tests.factories import admit, build_tree, person

ROUNDS = 6


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment in threads; each outcome is a result or an error."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = calls[i]()
        except Exception as error:  # the test inspects every outcome
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing command hung"
    return outcomes


def split(outcomes: list[Any]) -> tuple[list[Any], list[BaseException]]:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    unexpected = [e for e in errors if not isinstance(e, LedgerError)]
    assert not unexpected, f"a race ended in an infrastructure error: {unexpected!r}"
    return [o for o in outcomes if not isinstance(o, BaseException)], errors


def count_events(ledger: Ledger, event_type: type) -> int:
    return sum(1 for _, event in ledger.read_events() if isinstance(event, event_type))


def two_ledgers(store: Store) -> tuple[Ledger, Ledger]:
    first = store.ledger()
    return first, store.ledger(CREATE_TABLE="n")


def test_two_receipts_of_one_letter_exactly_one_lands(store: Store) -> None:
    first, second = two_ledgers(store)
    build_tree(first)
    for n in range(ROUNDS):
        number = admit(first, n)
        transfer_id = first.request_transfer(
            number, "XW-C1", reason="job_change", basis="household", on=date(2026, 3, 1)
        ).transfer_id
        first.issue_letter(transfer_id, on=date(2026, 3, 2))
        outcomes = race(
            lambda: first.receive_member(transfer_id, "XW-C1-B2", on=date(2026, 3, 5)),
            lambda: second.receive_member(transfer_id, "XW-C1-B3", on=date(2026, 3, 5)),
        )
        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1
        assert errors[0].code in ("invalid_transition", "conflict")
        landed = first.transfer(transfer_id).received_in_code
        assert first.member(number).organization_code == landed
        holders = [c for c in ("XW-C1-B2", "XW-C1-B3") if number in first.organization(c).members]
        assert holders == [landed]
    assert count_events(first, Transfer.MemberReceived) == ROUNDS


def test_two_letters_for_one_member_exactly_one_opens(store: Store) -> None:
    first, second = two_ledgers(store)
    build_tree(first)
    for n in range(ROUNDS):
        number = admit(first, n)
        outcomes = race(
            lambda: first.request_transfer(number, "XW-C1-B2", reason="job_change", basis="household"),
            lambda: second.request_transfer(number, "QH-C1", reason="job_change", basis="household"),
        )
        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1
        assert errors[0].code in ("transfer_open", "conflict")
        assert first.member(number).transfer_id == wins[0].transfer_id
    assert count_events(first, Transfer.Requested) == ROUNDS


def test_two_certificates_for_one_member_at_once_exactly_one_opens(store: Store) -> None:
    """Counted once by construction: two clerks issuing a certificate (of either kind) for
    the same member at the same moment; the member's record decides, one wins."""
    first, second = two_ledgers(store)
    build_tree(first)
    for n in range(ROUNDS):
        number = admit(first, n)
        outcomes = race(
            lambda: first.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 6, 1),
                                            host_organization_code="SC-C1-B1", on=date(2026, 3, 1)),
            lambda: second.issue_certificate(number, kind="temporary", purpose="培训", valid_until=date(2026, 5, 1),
                                             host_description="省委党校", on=date(2026, 3, 1)),
        )
        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1
        assert errors[0].code in ("certificate_open", "conflict")
        assert first.member(number).open_certificates == (wins[0].certificate_no,)
    assert count_events(first, Certificate.Issued) == ROUNDS


def test_one_resident_id_registers_once_under_concurrent_admissions(store: Store) -> None:
    first, second = two_ledgers(store)
    build_tree(first)
    for n in range(ROUNDS):
        fields = person(n, joined_on=date(2026, 1, 10))
        outcomes = race(
            lambda: first.admit_member("XW-C1-B1", on=date(2026, 1, 10), **fields),
            lambda: second.admit_member("XW-C1-B2", on=date(2026, 1, 10), **fields),
        )
        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1
        assert errors[0].code in ("duplicate_registration", "conflict")
    assert count_events(first, Member.Admitted) == ROUNDS


def test_one_registration_number_imports_once(store: Store) -> None:
    first, second = two_ledgers(store)
    build_tree(first)
    number = make_registration_no("320102", date(2015, 7, 1), 11)
    outcomes = race(
        lambda: first.import_member(
            "XW-C1-B1", registration_no=number, status="full", **person(1)),
        lambda: second.import_member(
            "XW-C1-B2", registration_no=number, status="full", **person(2)),
    )
    wins, errors = split(outcomes)
    assert len(wins) == 1 and errors[0].code in ("duplicate_registration", "conflict")
    assert count_events(first, Member.Imported) == 1


def test_concurrent_admissions_into_one_branch_all_land(store: Store) -> None:
    """Different people into the same branch: the retry after a collision lets both in,
    each with its own registration number."""
    first, second = two_ledgers(store)
    build_tree(first)
    for n in range(0, 2 * ROUNDS, 2):
        day = date(2026, 2, 1)
        outcomes = race(
            lambda: first.admit_member("XW-C1-B1", on=day, **person(n, joined_on=day)),
            lambda: second.admit_member("XW-C1-B1", on=day, **person(n + 1, joined_on=day)),
        )
        wins, _ = split(outcomes)
        assert len(wins) == 2
        assert wins[0].registration_no != wins[1].registration_no
    assert len(first.organization("XW-C1-B1").members) == 2 * ROUNDS
