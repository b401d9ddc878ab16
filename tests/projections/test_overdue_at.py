"""The month-end overdue-letter count of the monthly report has two paths: down the
subtree as it stood (small subtrees) and up from the letters still open (large ones, a
province's root). Over a simulated history with dissolutions, extensions, late, overdue,
cancelled and rejected letters, both give the same count for every organization and month."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from api.simulation import SCALES, generate
from domain.calendar import month_bounds
from projections.queries import Queries
from tests.conftest import Store
from tests.factories import admit, build_tree

SCALE = replace(SCALES["small"], start=date(2025, 1, 1), end=date(2025, 12, 31))


def test_both_paths_count_the_same_overdue_letters(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = store.ledger(today=lambda: SCALE.end)
    stats = generate(ledger, SCALE, seed=3)
    assert stats["cases"]["letter.overdue"] > 0, "the history has no overdue letter to count"
    store.engine(ledger).catch_up()
    queries: Queries = store.queries()
    codes = [row[0] for row in queries.db.query("SELECT code FROM proj_organizations ORDER BY code")]
    ends = [month_bounds(f"2025-{m:02d}")[1] for m in range(1, 13)]
    counted: dict[tuple[str, date], int] = {}
    monkeypatch.setattr(Queries, "LARGE_SUBTREE", 10**9)  # always down the tree
    for code in codes:
        for end in ends:
            counted[code, end] = queries.overdue_letters_at(code, end)
    assert sum(counted.values()) > 0
    monkeypatch.setattr(Queries, "LARGE_SUBTREE", 0)  # always up from the letters
    upward = {(code, end): queries.overdue_letters_at(code, end) for code in codes for end in ends}
    assert upward == counted


def test_letters_overdue_at_a_month_end_and_closed_later_count_on_both_paths(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four letters from XW-C1-B1, each overdue at the end of January 2026 (valid 10 days
    from 5 January) and ended later in its own way: cancelled, rejected, received late,
    extended in February; and one that is received in time (never overdue)."""
    ledger = store.ledger()
    build_tree(ledger)
    members = [admit(ledger, n, org="XW-C1-B1") for n in range(5)]
    letters = []
    for number in members:
        transfer = ledger.request_transfer(number, "QH-C1", reason="job_change", basis="household",
                                           on=date(2026, 1, 5)).transfer_id or ""
        ledger.issue_letter(transfer, valid_days=10, on=date(2026, 1, 5))
        letters.append(transfer)
    ledger.receive_member(letters[4], "QH-C1-B1", on=date(2026, 1, 10))
    ledger.cancel_transfer(letters[0], "党员未报到", on=date(2026, 2, 3))
    ledger.reject_transfer(letters[1], "不予接收", on=date(2026, 2, 4))
    ledger.receive_member(letters[2], "QH-C1-B1", "特殊情况超期证明", on=date(2026, 2, 5))
    ledger.extend_letter(letters[3], date(2026, 3, 31), on=date(2026, 2, 6))
    store.engine(ledger).catch_up()
    queries = store.queries()
    ends = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    expected = {"XW-C1-B1": [4, 0, 0, 1], "XW-C1": [4, 0, 0, 1], "XW": [4, 0, 0, 1], "QH-C1": [0, 0, 0, 0]}
    for large in (10**9, 0):
        monkeypatch.setattr(Queries, "LARGE_SUBTREE", large)
        found = {code: [queries.overdue_letters_at(code, end) for end in ends] for code in expected}
        assert found == expected, f"LARGE_SUBTREE={large}"


def test_a_letter_overdue_before_its_branch_moved_counts_where_the_branch_stood(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A letter from XW-C1-B3, overdue from 16 January 2026 and never received; the branch
    moves from XW-C1 to QH-C1 on 10 February. January's end counts it under XW (as the tree
    stood), February's and later under QH; NJ above both counts it every month."""
    ledger = store.ledger()
    build_tree(ledger)
    number = admit(ledger, 0, org="XW-C1-B3")
    transfer = ledger.request_transfer(number, "SC-C1", reason="job_change", basis="household",
                                       on=date(2026, 1, 5)).transfer_id or ""
    ledger.issue_letter(transfer, valid_days=10, on=date(2026, 1, 5))
    ledger.move_organization("XW-C1-B3", "QH-C1", on=date(2026, 2, 10))
    store.engine(ledger).catch_up()
    queries = store.queries()
    ends = [date(2025, 12, 31), date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    expected = {"XW-C1-B3": [0, 1, 1, 1], "XW-C1": [0, 1, 0, 0], "XW": [0, 1, 0, 0], "QH-C1": [0, 0, 1, 1],
                "QH": [0, 0, 1, 1], "NJ": [0, 1, 1, 1], "JS": [0, 1, 1, 1], "ZJ": [0, 0, 0, 0]}
    for large in (10**9, 0):
        monkeypatch.setattr(Queries, "LARGE_SUBTREE", large)
        found = {code: [queries.overdue_letters_at(code, end) for end in ends] for code in expected}
        assert found == expected, f"LARGE_SUBTREE={large}"
