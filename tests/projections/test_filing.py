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
