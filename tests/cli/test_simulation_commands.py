"""The simulation records through the Ledger's own commands, in batches (domain/ledger/steps.py):
a command the Ledger refuses stops it and records nothing of its batch; what it records is
what those commands record; and a script's reads see what its batch has done so far."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from api.simulation import SCALES, generate
from domain.errors import Conflict, FutureDate
from domain.identifiers import organization_id
from domain.ledger import Ledger
from domain.ledger.steps import run_steps
from tests.conftest import Store
from tests.factories import admit, build_tree

SCALE = replace(SCALES["small"], start=date(2025, 1, 1), end=date(2025, 12, 31))


def events(ledger: Ledger) -> list[tuple[str, UUID, dict[str, Any]]]:
    return [(type(e).__qualname__, e.originator_id, e.__dict__) for _, e in ledger.read_events(limit=5000)]


def test_a_refused_command_stops_the_simulation_and_its_batch_records_nothing(store: Store) -> None:
    """The Ledger's own check of the effective date: a history run past the ledger's today
    is refused on the first day after it (the generator copying the rules recorded it)."""
    today = SCALE.start + timedelta(days=60)
    ledger = store.ledger(today=lambda: today)
    with pytest.raises(FutureDate):
        generate(ledger, SCALE, seed=2)
    recorded = events(ledger)
    assert recorded, "the batches before the refusal stay"
    days = [state["on"] for _, _, state in recorded]
    assert max(days) <= today
    ledger.close()


def test_the_history_holds_what_the_commands_record(store: Store) -> None:
    ledger = store.ledger(today=lambda: SCALE.end)
    stats = generate(ledger, SCALE, seed=4)
    recorded = events(ledger)
    by_kind = Counter(kind for kind, _, _ in recorded)
    assert stats["events"] == len(recorded)
    # Issuing a certificate notes it on the member (the command's effect, in the same save).
    issued = {s["certificate_no"] for k, _, s in recorded if k == "Certificate.Issued"}
    noted = {s["certificate_no"] for k, _, s in recorded if k == "Member.CertificateIssued"}
    assert issued and noted == issued
    numbers = {o: s["certificate_no"] for k, o, s in recorded if k == "Certificate.Issued"}
    returned = {numbers[o] for k, o, _ in recorded if k == "Certificate.Returned"}
    assert returned and returned == {s["certificate_no"] for k, _, s in recorded if k == "Member.CertificateReturned"}
    # A month is filed on the day the simulation files it (the 5th of the next), not today.
    filed = [s for k, _, s in recorded if k == "Organization.MonthFiled"]
    assert filed and all(s["on"].day == 5 and f"{s['on'] - timedelta(days=5):%Y-%m}" == s["month"]
                         for s in filed)
    # Every letter number is its committee's next one, taken by the issuing command.
    taken = Counter((o, s["series"]) for k, o, s in recorded if k == "Organization.NumberTaken")
    assert sum(n for (_, series), n in taken.items() if series.startswith("letter-")) == by_kind[
        "Transfer.LetterIssued"] > 0
    ledger.close()


def test_a_script_of_commands_is_saved_batch_by_batch_and_a_refusal_keeps_nothing_of_its_batch(
    store: Store,
) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    seen: list[str] = []

    def steps() -> Iterator[None]:
        for n in range(1, 4):
            ledger.register_organization(f"XW-C2-B{n + 1}", f"支部{n}", "branch", "XW-C2", "320102")
            seen.append(ledger.organization(f"XW-C2-B{n + 1}").name)  # read inside the batch
            yield
        ledger.register_organization("XW-C2-B9", "第九支部", "branch", "XW-C2", "320102")
        ledger.register_organization("XW-C2-B2", "重复", "branch", "XW-C2", "320102")  # taken
        yield

    with pytest.raises(Conflict):
        run_steps(ledger, steps(), max_aggregates=2)
    assert seen == ["支部1", "支部2", "支部3"]
    assert [ledger.organization(f"XW-C2-B{n}").name for n in (2, 3, 4)] == seen
    assert not ledger.recorder.select_events(organization_id("XW-C2-B9"))  # its batch was refused
    ledger.close()


def test_a_batch_records_its_events_in_the_order_its_commands_made_them(store: Store) -> None:
    """The events of several commands saved at once (a batch, a group of requests) take
    their positions in the order the commands made them, not aggregate by aggregate: a
    member's history, read by position, is oldest first."""
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1)
    before = ledger.max_position()
    ledger.batch([
        lambda: ledger.request_transfer(number, "XW-C1-B3", reason="job_change", basis="household"),
        lambda: ledger.record_org_life(number, "XW-C1-B1"),
        lambda: ledger.record_dues(number, "2026-01", "12.50"),
    ])
    saved = [(position, event) for position, event in ledger.read_events() if position > before]
    kinds = [type(event).__qualname__ for _, event in saved]
    assert "Transfer.Requested" in kinds and "Member.OrgLifeAttended" in kinds, kinds
    made = [event.timestamp for _, event in saved]
    assert made == sorted(made), kinds
    for aggregate_id in {event.originator_id for _, event in saved}:  # each aggregate's own order kept
        versions = [event.originator_version for _, event in saved if event.originator_id == aggregate_id]
        assert versions == sorted(versions)
    ledger.close()


def test_a_transfer_may_carry_the_id_its_caller_chose_once(ledger: Ledger) -> None:
    build_tree(ledger)
    first, second = admit(ledger, 1), admit(ledger, 2)
    chosen = UUID(int=12345, version=4)
    recorded = ledger.request_transfer(first, "XW-C1-B3", reason="job_change", basis="household",
                                       transfer_id=chosen)
    assert recorded.transfer_id == str(chosen)
    before = ledger.max_position()
    with pytest.raises(Conflict):
        ledger.request_transfer(second, "XW-C1-B3", reason="job_change", basis="household", transfer_id=chosen)
    assert ledger.max_position() == before
    assert ledger.member(second).transfer_id is None
