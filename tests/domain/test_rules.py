"""The use cases judged without a database: each runs on a Session over aggregates held in
memory, as the Ledger runs it over the store (checks first, then effects)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from domain.base import Actor, Context
from domain.errors import LedgerError, OutOfJurisdiction, PeriodClosed, ProbationEnding, TransferOpen
from domain.ledger import MemorySource, Recorded, Session, members, organizations, transfers
from domain.member import Member
from tests.factories import TREE, person


def run(source: MemorySource, use_case: Callable[[Session], Recorded]) -> Recorded:
    """One command: judged on a fresh session, kept only if accepted."""
    session = Session(source)
    result = use_case(session)
    source.commit(session.pending())
    return result


def at(on: date, scope: str | None = None) -> Context:
    return Context(on=on, actor=Actor("clerk", scope) if scope else Actor())


@pytest.fixture
def source() -> MemorySource:
    source = MemorySource()
    for code, (name, kind, parent, region) in TREE.items():
        session = Session(source)
        organizations.register(session, at(date(2020, 1, 1)), code, name, kind, parent, region)
        source.commit(session.pending())
    return source


def enroll(source: MemorySource, n: int, status: str = "full", joined_on: date = date(2015, 7, 1)) -> str:
    fields = person(n, joined_on=joined_on)
    recorded = run(source, lambda s: members.enroll(
        s, at(date(2020, 6, 1)), event=Member.Imported, registration_no=None,
        organization_code="XW-C1-B1", status=status, workplace=None, residence=None, **fields))
    assert recorded.registration_no is not None
    return recorded.registration_no


def request(session: Session, ctx: Context, number: str, to: str = "QH-C1") -> Recorded:
    return transfers.request(session, ctx, number, to, reason="job_change", basis="household",
                             evidence=None, performance_record=None, probation_override_reason=None)


def test_a_second_request_for_a_member_in_transfer_is_refused(source: MemorySource) -> None:
    number = enroll(source, 1)
    run(source, lambda s: request(s, at(date(2020, 7, 1)), number))
    with pytest.raises(TransferOpen):
        run(source, lambda s: request(s, at(date(2020, 7, 2)), number, "XW-C1-B2"))


def test_a_refused_command_leaves_the_aggregates_as_they_were(source: MemorySource) -> None:
    number = enroll(source, 2)
    session = Session(source)
    with pytest.raises(OutOfJurisdiction):
        request(session, at(date(2020, 7, 1), "QH"), number)
    assert not session.pending()
    assert source.load(session.member(number).id).transfer_id is None  # type: ignore[union-attr]


def test_a_filed_month_closes_the_subtree(source: MemorySource) -> None:
    number = enroll(source, 3)
    run(source, lambda s: organizations.file_month(s, at(date(2020, 8, 3)), "XW", "2020-07"))
    with pytest.raises(PeriodClosed):
        run(source, lambda s: request(s, at(date(2020, 7, 31)), number))
    run(source, lambda s: request(s, at(date(2020, 8, 3)), number))


def test_a_probation_ending_soon_needs_a_reason(source: MemorySource) -> None:
    number = enroll(source, 4, status="probationary", joined_on=date(2019, 8, 1))
    with pytest.raises(ProbationEnding) as refused:
        run(source, lambda s: request(s, at(date(2020, 6, 2)), number))
    assert isinstance(refused.value, LedgerError) and refused.value.code == "probation_ending"


def test_a_receipt_moves_the_member_between_the_organizations(source: MemorySource) -> None:
    number = enroll(source, 5)
    transfer_id = run(source, lambda s: request(s, at(date(2020, 7, 1)), number)).transfer_id
    assert transfer_id is not None
    letter = run(source, lambda s: transfers.issue_letter(s, at(date(2020, 7, 2)), transfer_id, 30))
    assert letter.letter_no == "XW-C1-2020-00001"
    run(source, lambda s: transfers.receive(s, at(date(2020, 7, 5)), transfer_id, "QH-C1-B1", None))
    session = Session(source)
    assert session.member(number).organization_code == "QH-C1-B1"
    assert number in session.org("QH-C1-B1").members and number not in session.org("XW-C1-B1").members
