"""Filing (报送) a month freezes it: later back-dated commands into it are refused, so the
published figures never change underneath."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import PeriodClosed
from tests.conftest import Store
from tests.factories import admit, build_tree, person


def test_a_filed_month_keeps_its_figures(store: Store) -> None:
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1, on=date(2026, 9, 10))
    ledger.record_org_life(number, "XW-C1-B1", on=date(2026, 9, 20))
    engine, queries = store.engine(ledger), store.queries()
    engine.catch_up()
    before = queries.monthly_report("XW", "2026-09")
    assert before["filed"] is False and before["imported"] == 1

    ledger.file_month("XW", "2026-09")
    engine.catch_up()
    position = ledger.max_position()
    for refused in (
        lambda: admit(ledger, 2, on=date(2026, 9, 15)),
        lambda: ledger.admit_member("XW-C1-B2", on=date(2026, 8, 1), **person(3, joined_on=date(2026, 8, 1))),
        lambda: ledger.record_leaving(number, "withdrew", on=date(2026, 9, 30)),
    ):
        with pytest.raises(PeriodClosed):
            refused()
    assert ledger.max_position() == position

    admit(ledger, 4, org="QH-C1-B1", on=date(2026, 9, 15))  # another county: not frozen by XW
    admit(ledger, 5, on=date(2026, 10, 1))  # the next month is open
    engine.catch_up()
    after = queries.monthly_report("XW", "2026-09")
    assert after["filed"] is True
    assert {k: v for k, v in after.items() if k != "filed"} == {k: v for k, v in before.items() if k != "filed"}
    assert queries.monthly_report("XW", "2026-10")["imported"] == 1


def test_a_step_of_a_transfer_respects_the_filings_of_the_side_whose_figures_it_changes(store: Store) -> None:
    """Letters issued, extended, cancelled or rejected are counted at the sender (a receipt
    and its return close both sides' books): the receiving side's filed month does not stop
    these steps, whose figures it does not hold, and keeps its figures."""
    ledger = store.ledger()
    build_tree(ledger)
    engine, queries = store.engine(ledger), store.queries()
    first, second, third, fourth = (admit(ledger, n, on=date(2026, 8, 1)) for n in (1, 2, 3, 4))

    def requested(number: str, day: date) -> str:
        return ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                       on=day).transfer_id or ""

    to_cancel, to_reject, to_receive, to_issue = (requested(n, date(2026, 8, 20))
                                                  for n in (first, second, third, fourth))
    ledger.issue_letter(to_receive, valid_days=60, on=date(2026, 8, 25))
    ledger.file_month("QH", "2026-09")  # the receiver's county
    engine.catch_up()
    receiver_before = queries.monthly_report("QH", "2026-09")
    ledger.issue_letter(to_cancel, on=date(2026, 9, 10))
    ledger.extend_letter(to_cancel, date(2026, 10, 20), on=date(2026, 9, 12))
    ledger.cancel_transfer(to_cancel, "本人放弃", on=date(2026, 9, 15))
    ledger.issue_letter(to_reject, on=date(2026, 9, 10))
    ledger.reject_transfer(to_reject, "材料不全", on=date(2026, 9, 16))
    position = ledger.max_position()
    with pytest.raises(PeriodClosed):  # the receipt counts at the receiver too
        ledger.receive_member(to_receive, "QH-C1-B1", on=date(2026, 9, 20))
    assert ledger.max_position() == position
    ledger.receive_member(to_receive, "QH-C1-B1", on=date(2026, 10, 2))
    engine.catch_up()
    assert queries.monthly_report("QH", "2026-09") == receiver_before | {"filed": True}
    assert queries.monthly_report("XW", "2026-09")["letters_cancelled"] == 1
    ledger.file_month("XW", "2026-10")  # the sender's county
    position = ledger.max_position()
    for step in (lambda: ledger.issue_letter(to_issue, on=date(2026, 10, 5)),  # its own filing still holds
                 lambda: ledger.return_receipt(to_receive, on=date(2026, 10, 20))):
        with pytest.raises(PeriodClosed):
            step()
    assert ledger.max_position() == position


def test_a_filed_months_cases_and_bounced_members_stay_after_a_later_move(store: Store) -> None:
    """XW-C2-B1 has an open case and a member declined twice in August 2026; XW-C2 files
    September, then the branch moves under XW-C1 in October. September's waiting lines
    stay at XW-C2, as the tree stood at the month's end (as its closing does); XW-C1's
    September has neither; October counts them at XW-C1."""
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 1, org="XW-C2-B1", on=date(2026, 7, 1))
    for day in (date(2026, 8, 1), date(2026, 8, 2)):
        transfer = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                           on=day).transfer_id or ""
        ledger.decline_transfer(transfer, "材料不全", on=day)
    ledger.open_case("XW-C2-B1", name="刘洋", request="找组织", on=date(2026, 8, 10))
    engine, queries = store.engine(ledger), store.queries()
    waiting = ("closing", "open_cases", "bounced_members")

    def lines(code: str, month: str) -> tuple[int, ...]:
        report = queries.monthly_report(code, month)
        return tuple(report[k] for k in waiting)

    engine.catch_up()
    assert lines("XW-C2", "2026-09") == (1, 1, 1)
    ledger.file_month("XW-C2", "2026-09")
    ledger.move_organization("XW-C2-B1", "XW-C1", on=date(2026, 10, 5))
    engine.catch_up()
    assert lines("XW-C2", "2026-09") == (1, 1, 1)
    assert lines("XW-C1", "2026-09") == (0, 0, 0)
    assert lines("XW-C1", "2026-10") == (1, 1, 1)
    assert lines("XW-C2", "2026-10") == (0, 0, 0)
