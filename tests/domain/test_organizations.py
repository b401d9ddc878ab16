"""Organizations (DOMAIN.md §3, §8 filing): the tree, jurisdiction, dissolution, moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from domain.base import Actor
from domain.errors import (
    CannotHoldMembers,
    Conflict,
    InvalidTransition,
    OrganizationDissolved,
    OutOfJurisdiction,
    PeriodClosed,
    TransferOpen,
    ValidationError,
)
from domain.ledger import Ledger
from domain.member import Member
from domain.organization import Organization
from tests.factories import TREE, admit, build_tree, person, refused

DAY = date(2026, 6, 1)




def test_registered_tree_round_trips_fields_and_links_parents(ledger: Ledger) -> None:
    build_tree(ledger)
    for code, (name, kind, parent, region) in TREE.items():
        org = ledger.organization(code)
        assert (org.code, org.name, org.kind, org.parent_code, org.region, org.status) == (
            code, name, kind, parent, region, "active",
        )
    assert set(ledger.organization("XW-C1").children) == {"XW-C1-G1", "XW-C1-B3"}
    assert set(ledger.organization("XW-C1-G1").children) == {"XW-C1-B1", "XW-C1-B2"}
    assert ledger.organization("XW-C1-B1").members == {}


def test_duplicate_code_is_conflict(ledger: Ledger) -> None:
    build_tree(ledger)
    with refused(ledger, Conflict, "conflict"):
        ledger.register_organization("XW-C1-B1", "另一个支部", "branch", "XW-C2", "320102", on=DAY)
    assert ledger.organization("XW-C1-B1").parent_code == "XW-C1-G1"


def test_malformed_organization_is_validation_error(ledger: Ledger) -> None:
    build_tree(ledger)
    cases = [
        ("XW-C2-B9", "新支部", "cell", "320102"),  # unknown kind
        ("XW-C2-B9", "新支部", "branch", "32010"),  # region too short
        ("XW-C2-B9", "新支部", "branch", "000000"),  # region 00
        ("XW-C2-B9", "新支部", "branch", "32010x"),  # region not digits
        ("", "新支部", "branch", "320102"),  # empty code
        ("-B9", "新支部", "branch", "320102"),  # code starting with a dash
        ("XW C2 B9", "新支部", "branch", "320102"),  # code with spaces
        ("B" * 65, "新支部", "branch", "320102"),  # code too long
        ("XW-C2-B9", "  ", "branch", "320102"),  # no name
    ]
    for code, name, kind, region in cases:
        with refused(ledger, ValidationError, "validation_error", case=(code, name, kind, region)):
            ledger.register_organization(code, name, kind, "XW-C2", region, on=DAY)
    ledger.register_organization("XW-C2-B9", "新支部", "branch", "XW-C2", "320102", on=DAY)


def test_only_a_department_is_a_root_and_a_branch_has_no_children(ledger: Ledger) -> None:
    build_tree(ledger)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.register_organization("ROOT-C", "无上级党委", "committee", None, "320102", on=DAY)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.register_organization("XW-C1-B1-X", "支部下的支部", "branch", "XW-C1-B1", "320102", on=DAY)


def test_root_department_is_registered_only_by_the_system(ledger: Ledger) -> None:
    build_tree(ledger)
    clerk = Actor(id="clerk-js", organization_code="JS")
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        ledger.register_organization("AH", "安徽省委组织部", "department", None, "340000", actor=clerk, on=DAY)
    ledger.register_root("AH", "安徽省委组织部", "340000", on=DAY)
    assert ledger.organization("AH").parent_code is None


def test_operator_registers_only_within_its_subtree(ledger: Ledger) -> None:
    build_tree(ledger)
    xw = Actor(id="clerk-xw", organization_code="XW")
    with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction"):
        ledger.register_organization("QH-C1-B2", "秦淮第二支部", "branch", "QH-C1", "320104", actor=xw, on=DAY)
    ledger.register_organization("XW-C2-B2", "科技园第二支部", "branch", "XW-C2", "320102", actor=xw, on=DAY)
    assert "XW-C2-B2" in ledger.organization("XW-C2").children


def test_operator_dissolves_and_moves_only_within_its_subtree(ledger: Ledger) -> None:
    build_tree(ledger)
    commands: dict[str, Callable[[Actor], object]] = {
        "dissolve-outside": lambda a: ledger.dissolve_organization("XW-C2-B1", "XW-C1-B3", actor=a, on=DAY),
        "successor-outside": lambda a: ledger.dissolve_organization("XW-C1-B2", "XW-C2-B1", actor=a, on=DAY),
        "new-parent-outside": lambda a: ledger.move_organization("XW-C1-B3", "XW-C2", actor=a, on=DAY),
        "moved-org-outside": lambda a: ledger.move_organization("XW-C2-B1", "XW-C1", actor=a, on=DAY),
    }
    for case, command in commands.items():
        with refused(ledger, OutOfJurisdiction, "out_of_jurisdiction", case=case):
            command(Actor(id="clerk-c1", organization_code="XW-C1"))
    # an operator above both sides may
    commands["successor-outside"](Actor(id="clerk-xw", organization_code="XW"))
    commands["new-parent-outside"](Actor(id="clerk-xw", organization_code="XW"))
    assert ledger.organization("XW-C1-B2").status == "dissolved"
    assert ledger.organization("XW-C1-B3").parent_code == "XW-C2"


def test_dissolution_moves_members_to_the_successor_in_the_same_save(ledger: Ledger) -> None:
    build_tree(ledger)
    numbers = [admit(ledger, n, org="XW-C1-B1") for n in (1, 2)]
    before = ledger.max_position()
    recorded = ledger.dissolve_organization("XW-C1-B1", "XW-C1-B2", on=DAY, request_id="dissolve-b1")

    old, successor = ledger.organization("XW-C1-B1"), ledger.organization("XW-C1-B2")
    assert (old.status, old.successor_code, old.dissolved_on) == ("dissolved", "XW-C1-B2", DAY)
    assert old.members == {}
    assert set(successor.members) == set(numbers)
    for number in numbers:
        member = ledger.member(number)
        assert (member.place, member.organization_code) == ("held", "XW-C1-B2")

    events = [event for _, event in ledger.read_events(after=before)]
    assert recorded.position == ledger.max_position()
    assert {event.request_id for event in events} == {"dissolve-b1"}  # type: ignore[attr-defined]
    assert sum(isinstance(e, Organization.Dissolved) for e in events) == 1
    moved = [e for e in events if isinstance(e, Member.MovedOnDissolution)]
    assert sorted(e.organization_code for e in moved) == ["XW-C1-B2", "XW-C1-B2"]  # type: ignore[attr-defined]


def test_dissolution_moves_children_under_the_successor(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, org="XW-C1-B1")
    ledger.dissolve_organization("XW-C1", "XW-C2", on=DAY)

    assert set(ledger.organization("XW-C2").children) == {"XW-C2-B1", "XW-C1-G1", "XW-C1-B3"}
    assert ledger.organization("XW-C1").children == {}
    assert ledger.organization("XW-C1-G1").parent_code == "XW-C2"
    assert ledger.organization("XW-C1-B3").parent_code == "XW-C2"
    assert ledger.ancestors("XW-C1-B1") == ["XW-C1-B1", "XW-C1-G1", "XW-C2", "XW", "NJ", "JS"]
    assert ledger.committee_of("XW-C1-B1") == "XW-C2"
    assert ledger.member(number).organization_code == "XW-C1-B1"


def test_dissolution_with_an_open_transfer_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, org="XW-C1-B1")
    admit(ledger, 2, org="XW-C1-B1")
    transfer_id = ledger.request_transfer(
        number, "QH-C1-B1", reason="job_change", basis="household", on=date(2026, 5, 1)
    ).transfer_id
    assert transfer_id is not None
    with refused(ledger, TransferOpen, "transfer_open", case="requested"):
        ledger.dissolve_organization("XW-C1-B1", "XW-C1-B2", on=DAY)
    ledger.issue_letter(transfer_id, on=date(2026, 5, 2))
    with refused(ledger, TransferOpen, "transfer_open", case="in transit"):
        ledger.dissolve_organization("XW-C1-B1", "XW-C1-B2", on=DAY)
    assert ledger.organization("XW-C1-B1").status == "active"
    assert ledger.member(number).organization_code == "XW-C1-B1"


def test_dissolution_into_a_successor_that_holds_no_members_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    admit(ledger, 1, org="XW-C1-B1")
    with refused(ledger, CannotHoldMembers, "cannot_hold_members"):
        ledger.dissolve_organization("XW-C1-B1", "XW-C1-G1", on=DAY)


def test_successor_inside_the_dissolved_organization_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.dissolve_organization("XW-C1", "XW-C1-B3", on=DAY)


def test_dissolved_organization_admits_no_one(ledger: Ledger) -> None:
    build_tree(ledger)
    ledger.dissolve_organization("XW-C1-B1", "XW-C1-B2", on=DAY)
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        ledger.admit_member("XW-C1-B1", on=date(2026, 7, 1), **person(1, joined_on=date(2026, 7, 1)))
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        ledger.dissolve_organization("XW-C1-B1", "XW-C1-B3", on=date(2026, 7, 1))


def test_dissolved_organization_receives_no_one(ledger: Ledger) -> None:
    build_tree(ledger)
    ledger.register_organization("QH-C1-B2", "秦淮第二支部", "branch", "QH-C1", "320104", on=DAY)
    number = admit(ledger, 1, org="XW-C1-B1")
    transfer_id = ledger.request_transfer(
        number, "QH-C1", reason="job_change", basis="household", on=date(2026, 7, 1)
    ).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2026, 7, 1))
    ledger.dissolve_organization("QH-C1-B1", "QH-C1-B2", on=date(2026, 7, 2))

    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        ledger.receive_member(transfer_id, "QH-C1-B1", on=date(2026, 7, 3))
    ledger.receive_member(transfer_id, "QH-C1-B2", on=date(2026, 7, 3))
    assert ledger.member(number).organization_code == "QH-C1-B2"


def test_move_takes_the_organization_and_its_members_under_the_new_parent(ledger: Ledger) -> None:
    build_tree(ledger)
    number = admit(ledger, 1, org="XW-C1-B3")
    before = ledger.max_position()
    ledger.move_organization("XW-C1-B3", "XW-C2", on=DAY)

    assert ledger.organization("XW-C1-B3").parent_code == "XW-C2"
    assert "XW-C1-B3" not in ledger.organization("XW-C1").children
    assert "XW-C1-B3" in ledger.organization("XW-C2").children
    assert ledger.committee_of("XW-C1-B3") == "XW-C2"
    assert ledger.member(number).organization_code == "XW-C1-B3"
    assert number in ledger.organization("XW-C1-B3").members
    moved = [e for _, e in ledger.read_events(after=before) if isinstance(e, Organization.Moved)]
    assert [(e.from_parent_code, e.to_parent_code, e.cause) for e in moved] == [  # type: ignore[attr-defined]
        ("XW-C1", "XW-C2", "transfer")
    ]


def test_move_under_its_own_subtree_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    for new_parent in ("XW-C1", "XW-C1-G1"):  # itself, its own child
        with refused(ledger, ValidationError, "validation_error", case=new_parent):
            ledger.move_organization("XW-C1", new_parent, on=DAY)
    assert ledger.organization("XW-C1").parent_code == "XW"


def test_move_under_the_current_parent_is_invalid_transition(ledger: Ledger) -> None:
    build_tree(ledger)
    with refused(ledger, InvalidTransition, "invalid_transition"):
        ledger.move_organization("XW-C1-B3", "XW-C1", on=DAY)


def test_move_under_a_dissolved_parent_is_refused(ledger: Ledger) -> None:
    build_tree(ledger)
    ledger.dissolve_organization("XW-C2", "XW-C1", on=DAY)
    with refused(ledger, OrganizationDissolved, "organization_dissolved"):
        ledger.move_organization("XW-C1-B3", "XW-C2", on=DAY)


def test_filed_month_refuses_back_dated_commands_in_the_subtree(ledger: Ledger) -> None:
    build_tree(ledger)
    ledger.file_month("XW", "2026-10")
    assert ledger.organization("XW").filed_months == ["2026-10"]

    with refused(ledger, PeriodClosed, "period_closed"):
        ledger.admit_member("XW-C1-B1", on=date(2026, 10, 31), **person(1, joined_on=date(2026, 10, 31)))
    with refused(ledger, PeriodClosed, "period_closed"):  # an earlier month is frozen too
        ledger.register_organization("XW-C2-B2", "科技园第二支部", "branch", "XW-C2", "320102", on=DAY)
    # the next month is open, and so is another county's October
    ledger.admit_member("XW-C1-B1", on=date(2026, 11, 1), **person(1, joined_on=date(2026, 11, 1)))
    ledger.admit_member("QH-C1-B1", on=date(2026, 10, 31), **person(2, joined_on=date(2026, 10, 31)))


def test_only_a_past_month_can_be_filed(ledger: Ledger) -> None:
    build_tree(ledger)
    with refused(ledger, ValidationError, "validation_error"):
        ledger.file_month("XW", "2026-11")
    with refused(ledger, ValidationError, "validation_error"):
        ledger.file_month("XW", "2026-13")


def test_a_month_before_the_organization_was_entered_is_not_filed(ledger: Ledger) -> None:
    """As its monthly report is refused (api.services.check_report_month): nothing recorded;
    the month it was entered in is filed."""
    build_tree(ledger)
    ledger.register_organization("XW-C1-B9", "第九党支部", "branch", "XW-C1", "320102", on=date(2026, 6, 15))
    for month in ("2026-05", "2026-03", "2019-12"):
        with refused(ledger, ValidationError, "validation_error", case=month):
            ledger.file_month("XW-C1-B9", month)
    assert ledger.organization("XW-C1-B9").filed_months == []
    ledger.file_month("XW-C1-B9", "2026-06")
    assert ledger.organization("XW-C1-B9").filed_months == ["2026-06"]
