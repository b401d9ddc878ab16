"""The open period judged on one session across many commands: `check_open_period` walks
each organization chain once a session, and a chain changed meanwhile (a move, a working
copy replaced) is walked again. Without a database, over aggregates held in memory."""

from __future__ import annotations

from datetime import date

import pytest

from domain.base import Actor, Context
from domain.errors import PeriodClosed
from domain.ledger import MemorySource, Session, organizations
from domain.ledger.rules import check_open_period
from tests.factories import TREE


def at(on: date) -> Context:
    return Context(on=on, actor=Actor())


@pytest.fixture
def source() -> MemorySource:
    source = MemorySource()
    for code, (name, kind, parent, region) in TREE.items():
        session = Session(source)
        organizations.register(session, at(date(2020, 1, 1)), code, name, kind, parent, region)
        source.commit(session.pending())
    return source


def test_a_move_in_the_same_session_brings_the_new_parents_filed_month(source: MemorySource) -> None:
    session = Session(source)
    branch = session.org("XW-C1-B1")
    check_open_period(at(date(2020, 8, 20)), session, branch)  # walks XW-C1-B1 .. JS
    organizations.move(session, at(date(2020, 8, 10)), "XW-C1", "QH")
    organizations.file_month(session, at(date(2020, 9, 1)), "QH", "2020-08")
    with pytest.raises(PeriodClosed):
        check_open_period(at(date(2020, 8, 20)), session, branch)
    check_open_period(at(date(2020, 8, 20)), session, session.org("XW-C2-B1"))  # XW's subtree: open


def test_working_copies_replaced_in_the_session_are_the_ones_judged(source: MemorySource) -> None:
    session = Session(source)
    check_open_period(at(date(2020, 8, 20)), session, session.org("XW-C1-B1"))
    session.by_id.clear()  # the session's copies dropped: the next lookups load new ones
    organizations.file_month(session, at(date(2020, 9, 1)), "XW", "2020-08")
    with pytest.raises(PeriodClosed):
        check_open_period(at(date(2020, 8, 20)), session, session.org("XW-C1-B1"))


def test_each_chain_is_the_sessions_own(source: MemorySource) -> None:
    session = Session(source)
    for code in ("XW-C1-B1", "XW-C1-B2", "XW-C1-B3", "XW-C2-B1", "QH-C1-B1", "SC-C1-B1", "XW-C1-B1"):
        check_open_period(at(date(2020, 8, 20)), session, session.org(code))
    organizations.file_month(session, at(date(2020, 9, 1)), "NJ", "2020-08")
    for code in ("XW-C1-B1", "XW-C1-B3", "QH-C1-B1", "XW-S"):
        with pytest.raises(PeriodClosed):
            check_open_period(at(date(2020, 8, 20)), session, session.org(code))
    check_open_period(at(date(2020, 8, 20)), session, session.org("SC-C1-B1"))  # another province
