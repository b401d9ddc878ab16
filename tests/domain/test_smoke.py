from __future__ import annotations

from datetime import date

from domain.ledger import Ledger
from tests.factories import TREE, admit, build_tree


def test_root_department_round_trips_chinese_name(ledger: Ledger) -> None:
    recorded = ledger.register_root("D320102", "玄武区委组织部", "320102", on=date(2020, 1, 1))
    org = ledger.organization("D320102")
    assert (org.name, org.kind, org.status) == ("玄武区委组织部", "department", "active")
    assert recorded.position >= 1


def test_tree_and_import(ledger: Ledger) -> None:
    build_tree(ledger)
    assert ledger.ancestors("XW-C1-B1") == ["XW-C1-B1", "XW-C1-G1", "XW-C1", "XW", "NJ", "JS"]
    number = admit(ledger, 1)
    assert ledger.member(number).organization_code == "XW-C1-B1"
    assert len(TREE) == 19
