"""Command keys (domain/commandkey.py): a command run under a key is recorded at most once.
Run again under the same key (a retry after the process that ran it died before its
answer was kept), it records nothing and answers with what it recorded the first time;
two runs at once record it once."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest

from domain.commandkey import CommandKey, keyed
from domain.errors import Conflict, NotFound, TransferOpen
from domain.ledger import Ledger
from domain.member import Member
from domain.operator import Operator
from domain.transfer import Transfer
from tests.conftest import Store
from tests.domain.test_concurrency import count_events, race, split
from tests.factories import admit, build_tree

ON = date(2026, 3, 1)


def request(ledger: Ledger, number: str) -> Any:
    return ledger.request_transfer(number, "XW-C1-B3", reason="job_change", basis="household", on=ON)


def test_a_keyed_command_run_again_answers_with_its_first_result_and_records_nothing(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1)
    with keyed("request-1"):
        first = request(ledger, number)
    position = ledger.max_position()
    assert first.position == position and first.transfer_id is not None
    with keyed("request-1"):
        again = request(ledger, number)  # without the key: refused, the transfer is open
    assert (again.registration_no, again.transfer_id) == (first.registration_no, first.transfer_id)
    assert again.position >= first.position  # a position the views can be asked to reach
    assert ledger.max_position() == position
    assert count_events(ledger, Transfer.Requested) == 1
    assert count_events(ledger, CommandKey.Recorded) == 1
    # another key is another command, judged by the rules
    with keyed("request-2"), pytest.raises(TransferOpen):
        request(ledger, number)
    assert ledger.max_position() == position


def test_a_refused_keyed_command_records_no_marker_and_runs_again(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 2)
    with keyed("to-nowhere"), pytest.raises(NotFound):
        ledger.request_transfer(number, "NOWHERE", reason="job_change", basis="household", on=ON)
    assert count_events(ledger, CommandKey.Recorded) == 0
    ledger.register_organization("NOWHERE", "新支部", "branch", "XW-C1", "320102", on=ON)
    with keyed("to-nowhere"):
        recorded = ledger.request_transfer(number, "NOWHERE", reason="job_change", basis="household", on=ON)
    assert ledger.transfer(str(recorded.transfer_id)).to_organization_code == "NOWHERE"


def test_each_command_of_a_keyed_request_has_its_own_key(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 3)

    def two_commands() -> tuple[Any, Any]:
        requested = request(ledger, number)
        issued = ledger.issue_letter(str(requested.transfer_id), on=ON)
        return requested, issued

    with keyed("request-and-issue") as keys:
        first = two_commands()
    assert keys.taken == 2
    position = ledger.max_position()
    with keyed("request-and-issue"):
        again = two_commands()
    assert [r.transfer_id for r in again] == [r.transfer_id for r in first]
    assert again[1].letter_no == first[1].letter_no is not None
    assert ledger.max_position() == position
    assert count_events(ledger, Transfer.LetterIssued) == 1


def test_two_runs_of_one_keyed_command_at_once_record_it_once(store: Store) -> None:
    first, second = store.ledger(), store.ledger(CREATE_TABLE="n")
    build_tree(first)
    number = admit(first, 4)
    both_ready = threading.Barrier(2, timeout=30)
    for ledger in (first, second):  # each saves only once both have judged the command
        real_save, waited = ledger.save, threading.Event()

        def save(*aggregates: Any, real_save: Any = real_save, waited: threading.Event = waited,
                 **kwargs: Any) -> Any:
            if not waited.is_set():
                waited.set()
                both_ready.wait()
            return real_save(*aggregates, **kwargs)

        ledger.save = save  # type: ignore[method-assign]

    def run(ledger: Ledger) -> Any:
        with keyed("at-once"):
            return request(ledger, number)

    wins, errors = split(race(lambda: run(first), lambda: run(second)))
    assert not errors and len(wins) == 2
    assert wins[0].transfer_id == wins[1].transfer_id is not None
    assert count_events(first, Transfer.Requested) == 1
    assert count_events(first, Member.TransferOpened) == 1
    assert count_events(first, CommandKey.Recorded) == 1


def test_a_keyed_batch_is_recorded_once(ledger: Ledger) -> None:
    build_tree(ledger)

    def batch() -> int:
        return ledger.batch([
            lambda: ledger.register_organization("XW-C1-B8", "第八支部", "branch", "XW-C1", "320102", on=ON),
            lambda: ledger.register_organization("XW-C1-B9", "第九支部", "branch", "XW-C1", "320102", on=ON),
        ])

    with keyed("batch"):
        position = batch()
    assert position == ledger.max_position()
    with keyed("batch"):
        assert batch() == position
    assert ledger.max_position() == position
    assert {"XW-C1-B8", "XW-C1-B9"} <= set(ledger.organization("XW-C1").children)


def test_a_keyed_grant_run_again_is_refused_since_its_token_was_shown_once(ledger: Ledger) -> None:
    build_tree(ledger)
    with keyed("grant"):
        recorded, token = ledger.grant_operator("一次性", "clerk", "XW-C1")
    assert ledger.operator_for_token(token) is not None
    position = ledger.max_position()
    with keyed("grant"), pytest.raises(Conflict, match=str(recorded.code)):
        ledger.grant_operator("一次性", "clerk", "XW-C1")  # a new token would open nothing
    assert ledger.max_position() == position
    assert count_events(ledger, Operator.Granted) == 1


def test_views_pass_over_command_keys_and_verify(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 5)
    with keyed("viewed"):
        transfer_id = request(ledger, number).transfer_id
    engine = store.engine(ledger)
    assert "domain.commandkey:CommandKey.Recorded" in engine.unread_topics()
    engine.catch_up()
    assert engine.position == ledger.max_position()
    rows, count = store.queries().transfers(registration_no=number)
    assert count == 1 and rows[0]["transfer_id"] == transfer_id
    result = engine.verify()
    assert result["ok"] is True, result["mismatches"][:3]
