"""Worked examples from the seeds, told step by step (django-hordak's worked examples).

Seed 000 (施小民): Mr Hu, 55, retired, lives in a village; his township was abolished in
last year's redistricting, and he is moving to his daughter's city in another county.
On paper his relationship stops six times (village branch, township committee, county
department, the daughter's city department, her town's committee, her street); with the
network transfer, two (the sending and the receiving committee).

Seed 003 (仇忠宝): Liu Yang became a probationary member four months before graduating
in Shanghai, had neither a labor contract nor a lease there, and was sent from one
office to the next until his relationship went home to his household's village. The
seed proposes rules for probationary members (a performance record after six months of
probation; no transfer in the last three months, save for special reasons; transfer after
confirmation) and first-responder duty: the service center that meets him keeps him.

Every step asserts what the ledger now says; every refused step asserts its error code
and that nothing was recorded (`max_position()` unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from domain.base import Actor
from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.member import Member
from domain.organization import Organization
from domain.transfer import Transfer
from tests.factories import id_card

SET_UP = date(2024, 3, 1)


def refused(ledger: Ledger, code: str, command: Callable[[], Any]) -> LedgerError:
    """The command is refused with `code` and leaves no trace in the store."""
    before = ledger.max_position()
    with pytest.raises(LedgerError) as caught:
        command()
    assert caught.value.code == code, f"refused with {caught.value.code}: {caught.value.detail}"
    assert ledger.max_position() == before, "a refused command recorded events"
    return caught.value


Tree = list[tuple[str, str, str, str | None, str]]  # code, name, kind, parent, region


def register(ledger: Ledger, tree: Tree, on: date) -> None:
    for code, name, kind, parent, region in tree:
        ledger.register_organization(code, name, kind, parent, region, on=on)
        assert ledger.organization(code).name == name  # Chinese names round-trip


def steps_of(ledger: Ledger, registration_no: str) -> list[tuple[date, set[str]]]:
    """The member's history as acts: the events of one command together, in order."""
    acts: list[tuple[str, date, set[str]]] = []
    for event in ledger.member_history(registration_no):
        name = type(event).__qualname__
        request_id, on = event.request_id, event.on  # type: ignore[attr-defined]
        if acts and acts[-1][0] == request_id:
            acts[-1][2].add(name)
        else:
            acts.append((request_id, on, {name}))
    return [(on, names) for _, on, names in acts]


def receipt_days(ledger: Ledger, transfer_id: str) -> int:
    events = ledger.aggregate_events(ledger.transfer(transfer_id).id)
    returned = [e for e in events if isinstance(e, Transfer.ReceiptReturned)]
    assert len(returned) == 1
    return returned[0].days  # type: ignore[attr-defined]


# --- seed 000: Mr Hu -----------------------------------------------------------------------

# Jiangsu: the village in 如东县 (320623, 南通市), the daughter's street in 姑苏区 (320508,
# 苏州市): the same province, another county.
HU_TREE: Tree = [
    ("JS", "江苏省委组织部", "department", None, "320000"),
    ("NT", "南通市委组织部", "department", "JS", "320600"),
    ("RD", "如东县委组织部", "department", "NT", "320623"),
    ("RD-CH", "岔河乡党委", "committee", "RD", "320623"),
    ("RD-CH-XQ", "新桥村党支部", "branch", "RD-CH", "320623"),
    ("RD-CH-JG", "岔河乡机关党支部", "branch", "RD-CH", "320623"),
    ("SZ", "苏州市委组织部", "department", "JS", "320500"),
    ("GS", "姑苏区委组织部", "department", "SZ", "320508"),
    ("GS-PJ", "平江街道党工委", "committee", "GS", "320508"),
    ("GS-PJ-DY", "平江街道东园社区党支部", "branch", "GS-PJ", "320508"),
]
NEW_TOWN: Tree = [
    ("RD-XD", "新店镇党委", "committee", "RD", "320623"),
    ("RD-XD-JG", "新店镇机关党支部", "branch", "RD-XD", "320623"),
]
REDISTRICTED = date(2025, 6, 30)

VILLAGE_CLERK = Actor("新桥村支部书记", "RD-CH-XQ")
TOWN_CLERK = Actor("新店镇党委组织委员", "RD-XD")
STREET_CLERK = Actor("平江街道党工委组织员", "GS-PJ")


def import_hu(ledger: Ledger) -> str:
    number = ledger.import_member(
        "RD-CH-XQ", registration_no=None, status="full", name="胡某", id_card_no=id_card(
            55, date(1970, 5, 12), "320623"), gender="male", birth_date=date(1970, 5, 12),
        joined_on=date(1996, 7, 1), category="retiree", household_region="320623",
        on=date(2025, 1, 6),
    ).registration_no
    assert number is not None
    return number


def redistrict(ledger: Ledger) -> int:
    """The township is abolished: the new town committee succeeds its committee, in one
    save. Returns the position before the dissolution."""
    register(ledger, NEW_TOWN, REDISTRICTED)
    before = ledger.max_position()
    ledger.dissolve_organization("RD-CH", "RD-XD", on=REDISTRICTED)
    return before


def test_mr_hu_township_abolished_then_moves_to_his_daughters_city(ledger: Ledger) -> None:
    register(ledger, HU_TREE, SET_UP)

    # 2025-01-06: Mr Hu (55, retired) is on the roster of the village branch.
    hu = import_hu(ledger)
    member = ledger.member(hu)
    assert (member.name, member.category, member.status, member.place) == ("胡某", "retiree", "full", "held")
    assert member.organization_code == "RD-CH-XQ"
    assert hu in ledger.organization("RD-CH-XQ").members

    # 2025-06-30: redistricting. The township committee is dissolved with the new town
    # committee as successor; both its branches move under it, in one save.
    before = redistrict(ledger)
    acts = list(ledger.read_events(after=before))
    assert len({event.request_id for _, event in acts}) == 1  # type: ignore[attr-defined]
    old = ledger.organization("RD-CH")
    assert (old.status, old.successor_code, old.dissolved_on) == ("dissolved", "RD-XD", REDISTRICTED)
    assert old.children == {} and old.members == {}
    assert {"RD-CH-XQ", "RD-CH-JG"} <= ledger.organization("RD-XD").children.keys()
    for child in ("RD-CH-XQ", "RD-CH-JG"):
        assert ledger.organization(child).parent_code == "RD-XD"
    assert ledger.ancestors("RD-CH-XQ") == ["RD-CH-XQ", "RD-XD", "RD", "NT", "JS"]
    assert ledger.committee_of("RD-CH-XQ") == "RD-XD"
    moves = [e for _, e in acts if isinstance(e, Organization.Moved)]
    assert {(e.originator_id, e.from_parent_code, e.to_parent_code, e.cause) for e in moves} == {  # type: ignore[attr-defined]
        (ledger.organization(code).id, "RD-CH", "RD-XD", "dissolution") for code in ("RD-CH-XQ", "RD-CH-JG")
    }
    # His place and organization of record do not change: his branch moved, he did not.
    member = ledger.member(hu)
    assert (member.place, member.organization_code) == ("held", "RD-CH-XQ")
    assert ledger.organization("RD-CH-XQ").members.keys() == {hu}
    assert ledger.organization("RD-XD").members == {}

    # 2026-09-01: he asks to move to his daughter's street. The old township can't be the
    # target any more; residence needs a deed or lease; with the daughter's deed it goes.
    asked = date(2026, 9, 1)
    refused(ledger, "organization_dissolved", lambda: ledger.request_transfer(
        hu, "RD-CH", reason="retirement_relocation", basis="household", actor=VILLAGE_CLERK, on=asked))
    refused(ledger, "evidence_required", lambda: ledger.request_transfer(
        hu, "GS-PJ", reason="retirement_relocation", basis="residence", actor=VILLAGE_CLERK, on=asked))
    requested = ledger.request_transfer(
        hu, "GS-PJ", reason="retirement_relocation", basis="residence",
        evidence={"kind": "property_deed", "reference": "苏(2023)苏州市不动产权第0123456号"},
        actor=VILLAGE_CLERK, on=asked,
    )
    transfer_id = requested.transfer_id
    assert transfer_id is not None
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.reason, transfer.basis) == ("requested", "retirement_relocation", "residence")
    assert (transfer.from_organization_code, transfer.to_organization_code) == ("RD-CH-XQ", "GS-PJ")
    assert ledger.member(hu).place == "held"  # a request moves nobody
    # one place only: no second request while this one is open
    refused(ledger, "transfer_open", lambda: ledger.request_transfer(
        hu, "GS-PJ", reason="retirement_relocation", basis="household", actor=VILLAGE_CLERK, on=asked))

    # 2026-09-03: the letter comes from the new town committee, not from the branch.
    issued_on = date(2026, 9, 3)
    refused(ledger, "out_of_jurisdiction", lambda: ledger.issue_letter(
        transfer_id, actor=VILLAGE_CLERK, on=issued_on))
    issued = ledger.issue_letter(transfer_id, actor=TOWN_CLERK, on=issued_on)
    transfer = ledger.transfer(transfer_id)
    letter_no = issued.letter_no
    assert letter_no and transfer.letter_no == letter_no
    assert "RD-XD" in letter_no and "2026" in letter_no  # the issuer's register, this year
    assert transfer.issuing_organization_code == "RD-XD"
    assert (transfer.status, transfer.issued_on) == ("issued", issued_on)
    assert transfer.valid_until == issued_on + timedelta(days=30)  # the default validity
    # village -> another county of the same province: six stops on paper, two on the network
    assert (transfer.route, transfer.paper_stops, transfer.network_stops) == ("cross_county", 6, 2)
    # In transit, still of record at the village branch, and nowhere else.
    member = ledger.member(hu)
    assert (member.place, member.organization_code, member.transfer_id) == ("in_transit", "RD-CH-XQ", transfer_id)
    assert hu in ledger.organization("RD-CH-XQ").members
    assert hu not in ledger.organization("GS-PJ-DY").members

    # 2026-09-20: he reports to the street committee, which places him in his community's
    # branch. The sending side can't receive him, and a committee holds no members.
    received_on = date(2026, 9, 20)
    refused(ledger, "out_of_jurisdiction", lambda: ledger.receive_member(
        transfer_id, "GS-PJ-DY", actor=TOWN_CLERK, on=received_on))
    refused(ledger, "cannot_hold_members", lambda: ledger.receive_member(
        transfer_id, "GS-PJ", actor=STREET_CLERK, on=received_on))
    refused(ledger, "not_in_target_subtree", lambda: ledger.receive_member(
        transfer_id, "RD-XD-JG", on=received_on))
    ledger.receive_member(transfer_id, "GS-PJ-DY", actor=STREET_CLERK, on=received_on)
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.received_in_code, transfer.received_on) == (
        "received", "GS-PJ-DY", received_on)
    assert transfer.on_time is True and transfer.late_certificate is None
    member = ledger.member(hu)
    assert (member.place, member.organization_code, member.transfer_id) == ("held", "GS-PJ-DY", None)
    assert ledger.organization("GS-PJ-DY").members.keys() == {hu}
    assert ledger.organization("RD-CH-XQ").members == {}
    refused(ledger, "invalid_transition", lambda: ledger.receive_member(
        transfer_id, "GS-PJ-DY", actor=STREET_CLERK, on=received_on))  # never twice

    # 2026-09-29: the street committee returns the receipt straight to the town: 9 days.
    ledger.return_receipt(transfer_id, actor=STREET_CLERK, on=date(2026, 9, 29))
    transfer = ledger.transfer(transfer_id)
    assert (transfer.status, transfer.receipt_returned_on) == ("receipt_returned", date(2026, 9, 29))
    assert receipt_days(ledger, transfer_id) == 9
    refused(ledger, "invalid_transition", lambda: ledger.return_receipt(
        transfer_id, actor=STREET_CLERK, on=date(2026, 9, 30)))

    # His history, in order: one act per accepted command, none for the refused ones.
    assert steps_of(ledger, hu) == [
        (date(2025, 1, 6), {"Member.Imported"}),
        (asked, {"Transfer.Requested", "Member.TransferOpened"}),
        (issued_on, {"Transfer.LetterIssued", "Member.WentInTransit"}),
        (received_on, {"Transfer.MemberReceived", "Member.Received"}),
        (date(2026, 9, 29), {"Transfer.ReceiptReturned"}),
    ]
    went = [e for e in ledger.member_history(hu) if isinstance(e, Member.WentInTransit)]
    assert [e.letter_no for e in went] == [letter_no]  # type: ignore[attr-defined]
    arrived = [e for e in ledger.member_history(hu) if isinstance(e, Member.Received)]
    assert [(e.from_organization_code, e.organization_code) for e in arrived] == [  # type: ignore[attr-defined]
        ("RD-CH-XQ", "GS-PJ-DY")]


def test_mr_hu_village_branch_merged_moves_him_to_the_successor_branch(ledger: Ledger) -> None:
    register(ledger, HU_TREE, SET_UP)
    hu = import_hu(ledger)
    redistrict(ledger)

    # 2025-09-01: a pending request keeps him where he is: the branch can't be merged
    # away under an open transfer; declined, the merger goes through.
    opened = ledger.request_transfer(hu, "GS-PJ", reason="retirement_relocation", basis="household",
                                     on=date(2025, 9, 1)).transfer_id
    assert opened is not None
    refused(ledger, "transfer_open", lambda: ledger.dissolve_organization(
        "RD-CH-XQ", "RD-XD-JG", on=date(2025, 9, 15)))
    ledger.decline_transfer(opened, "村支部合并, 暂缓转出", on=date(2025, 9, 15))
    assert ledger.member(hu).transfer_id is None

    # 2025-09-15: the village branch is merged into the town's branch: he moves with it.
    before = ledger.max_position()
    ledger.dissolve_organization("RD-CH-XQ", "RD-XD-JG", on=date(2025, 9, 15))
    assert len({e.request_id for _, e in ledger.read_events(after=before)}) == 1  # type: ignore[attr-defined]
    member = ledger.member(hu)
    assert (member.place, member.organization_code) == ("held", "RD-XD-JG")
    assert ledger.organization("RD-CH-XQ").members == {}
    assert ledger.organization("RD-XD-JG").members.keys() == {hu}
    village = ledger.organization("RD-CH-XQ")
    assert (village.status, village.successor_code) == ("dissolved", "RD-XD-JG")

    # The dissolved branch holds no one and receives no one.
    refused(ledger, "organization_dissolved", lambda: ledger.import_member(
        "RD-CH-XQ", registration_no=None, status="full", name="胡某之妻", id_card_no=id_card(
            56, date(1971, 3, 3), "320623"), gender="female", birth_date=date(1971, 3, 3),
        joined_on=date(1999, 7, 1), category="retiree", household_region="320623",
        on=date(2025, 9, 20)))

    assert steps_of(ledger, hu) == [
        (date(2025, 1, 6), {"Member.Imported"}),
        (date(2025, 9, 1), {"Transfer.Requested", "Member.TransferOpened"}),
        (date(2025, 9, 15), {"Transfer.Declined", "Member.TransferClosed"}),
        (date(2025, 9, 15), {"Member.MovedOnDissolution"}),
    ]
    moved = [e for e in ledger.member_history(hu) if isinstance(e, Member.MovedOnDissolution)]
    assert [(e.from_organization_code, e.organization_code) for e in moved] == [  # type: ignore[attr-defined]
        ("RD-CH-XQ", "RD-XD-JG")]


# --- seed 003: Liu Yang ------------------------------------------------------------------------

LIU_TREE: Tree = [
    ("SH", "上海市委组织部", "department", None, "310000"),
    ("SH-YP", "杨浦区委组织部", "department", "SH", "310110"),
    ("SH-YP-U", "申江大学党委", "committee", "SH-YP", "310110"),
    ("SH-YP-U-EC", "经济学院学生党支部", "branch", "SH-YP-U", "310110"),
    ("SH-JA", "静安区委组织部", "department", "SH", "310106"),
    ("SH-JA-DN", "大宁路街道党员服务中心", "service_center", "SH-JA", "310106"),
    ("AH", "安徽省委组织部", "department", None, "340000"),
    ("AH-LA", "六安市委组织部", "department", "AH", "341500"),
    ("AH-HS", "霍山县委组织部", "department", "AH-LA", "341525"),
    ("AH-HS-ZF", "诸佛庵镇党委", "committee", "AH-HS", "341525"),
    ("AH-HS-ZF-XC", "西冲村党支部", "branch", "AH-HS-ZF", "341525"),
]
JOINED = date(2025, 3, 3)  # four months before graduation
PROBATION_ENDS = date(2026, 3, 3)
LEASE = {"kind": "lease", "reference": "沪静安租赁登记2025第0456号"}
RECORD = "申江大学经济学院党支部: 预备期表现材料 (2025年3月至10月)"
CENTER_CLERK = Actor("大宁路街道党员服务中心工作人员", "SH-JA-DN")


def test_liu_yang_is_sent_home_then_found_by_the_service_center(ledger: Ledger) -> None:
    register(ledger, LIU_TREE, SET_UP)

    # 2025-03-03: admitted as a probationary member by his college branch.
    liu = ledger.admit_member(
        "SH-YP-U-EC", name="刘洋", id_card_no=id_card(3, date(2002, 10, 8), "341525"),
        gender="male", birth_date=date(2002, 10, 8), joined_on=JOINED, category="student",
        household_region="341525", on=JOINED,
    ).registration_no
    assert liu is not None
    member = ledger.member(liu)
    assert (member.name, member.status, member.probation_ends_on) == ("刘洋", "probationary", PROBATION_ENDS)
    assert liu[:6] == "310110" and liu[6:14] == "20250303"  # joined in 杨浦, on that day

    # 2025-07-20, after graduation: no labor contract, no lease in Shanghai.
    graduated = date(2025, 7, 20)
    refused(ledger, "evidence_required", lambda: ledger.request_transfer(
        liu, "SH-JA-DN", reason="graduation", basis="workplace", on=graduated))
    refused(ledger, "evidence_required", lambda: ledger.request_transfer(
        liu, "SH-JA-DN", reason="graduation", basis="residence", on=graduated))
    refused(ledger, "evidence_required", lambda: ledger.request_transfer(
        liu, "SH-JA-DN", reason="graduation", basis="residence",
        evidence={"kind": "lease", "reference": " "}, on=graduated))
    refused(ledger, "evidence_required", lambda: ledger.request_transfer(  # a deed is not a contract
        liu, "SH-JA-DN", reason="graduation", basis="workplace", evidence=LEASE, on=graduated))
    # Household: home to his village's town committee. 139 days into probation: no
    # performance record needed yet.
    home = ledger.request_transfer(liu, "AH-HS-ZF", reason="graduation", basis="household", on=graduated)
    home_id = home.transfer_id
    assert home_id is not None
    ledger.issue_letter(home_id, on=date(2025, 7, 21))
    transfer = ledger.transfer(home_id)
    assert (transfer.route, transfer.paper_stops, transfer.network_stops) == ("cross_province", 6, 2)
    assert (ledger.member(liu).place, ledger.member(liu).organization_code) == ("in_transit", "SH-YP-U-EC")
    ledger.receive_member(home_id, "AH-HS-ZF-XC", on=date(2025, 8, 5))
    ledger.return_receipt(home_id, on=date(2025, 8, 12))
    assert receipt_days(ledger, home_id) == 7
    member = ledger.member(liu)
    assert (member.place, member.organization_code, member.status) == ("held", "AH-HS-ZF-XC", "probationary")

    # 2025-10-15: back in Shanghai with a lease; the service center takes him in. 226
    # days into probation: the developing organization's performance record must go too.
    back = date(2025, 10, 15)
    refused(ledger, "performance_record_required", lambda: ledger.request_transfer(
        liu, "SH-JA-DN", reason="mobile_work", basis="residence", evidence=LEASE, on=back))

    # 2025-12-10: 83 days of probation left: not transferred without a special reason.
    late = date(2025, 12, 10)
    assert (PROBATION_ENDS - late).days == 83
    refused(ledger, "probation_ending", lambda: ledger.request_transfer(
        liu, "SH-JA-DN", reason="mobile_work", basis="residence", evidence=LEASE,
        performance_record=RECORD, on=late))
    overridden = ledger.request_transfer(
        liu, "SH-JA-DN", reason="mobile_work", basis="residence", evidence=LEASE,
        performance_record=RECORD, probation_override_reason="首问责任制: 服务中心已接纳, 特殊情况",
        on=late,
    ).transfer_id
    assert overridden is not None
    transfer = ledger.transfer(overridden)
    assert transfer.performance_record == RECORD
    assert transfer.probation_override_reason == "首问责任制: 服务中心已接纳, 特殊情况"
    # ... but the town committee prefers to confirm him first (seed 003: 待转正后再转移).
    ledger.decline_transfer(overridden, "预备期不足三个月, 待转正后再转移", on=date(2025, 12, 12))
    assert ledger.transfer(overridden).status == "declined"
    assert ledger.member(liu).transfer_id is None

    # 2026-02-20: too early to confirm.
    refused(ledger, "probation_not_over", lambda: ledger.confirm_member(liu, on=date(2026, 2, 20)))

    # 2026-03-05: probation is over: confirmation is due before any transfer, even with a
    # record and a special reason.
    after = date(2026, 3, 5)
    refused(ledger, "confirmation_due", lambda: ledger.request_transfer(
        liu, "SH-JA-DN", reason="mobile_work", basis="residence", evidence=LEASE,
        performance_record=RECORD, probation_override_reason="特殊情况", on=after))
    ledger.confirm_member(liu, on=after)
    member = ledger.member(liu)
    assert (member.status, member.probation_ends_on) == ("full", None)

    # 2026-03-06: a full member now; the service center (first responder) receives him.
    final = ledger.request_transfer(
        liu, "SH-JA-DN", reason="mobile_work", basis="residence", evidence=LEASE, on=date(2026, 3, 6)
    ).transfer_id
    assert final is not None
    ledger.issue_letter(final, on=date(2026, 3, 6))
    assert ledger.transfer(final).route == "cross_province"
    ledger.receive_member(final, "SH-JA-DN", actor=CENTER_CLERK, on=date(2026, 3, 16))
    ledger.return_receipt(final, actor=CENTER_CLERK, on=date(2026, 3, 20))
    member = ledger.member(liu)
    assert (member.place, member.organization_code, member.transfer_id) == ("held", "SH-JA-DN", None)
    assert ledger.organization("SH-JA-DN").members.keys() == {liu}
    assert ledger.organization("AH-HS-ZF-XC").members == {}
    assert receipt_days(ledger, final) == 4

    assert steps_of(ledger, liu) == [
        (JOINED, {"Member.Admitted"}),
        (graduated, {"Transfer.Requested", "Member.TransferOpened"}),
        (date(2025, 7, 21), {"Transfer.LetterIssued", "Member.WentInTransit"}),
        (date(2025, 8, 5), {"Transfer.MemberReceived", "Member.Received"}),
        (date(2025, 8, 12), {"Transfer.ReceiptReturned"}),
        (late, {"Transfer.Requested", "Member.TransferOpened"}),
        (date(2025, 12, 12), {"Transfer.Declined", "Member.TransferClosed"}),
        (after, {"Member.Confirmed"}),
        (date(2026, 3, 6), {"Transfer.Requested", "Member.TransferOpened"}),
        (date(2026, 3, 6), {"Transfer.LetterIssued", "Member.WentInTransit"}),
        (date(2026, 3, 16), {"Transfer.MemberReceived", "Member.Received"}),
        (date(2026, 3, 20), {"Transfer.ReceiptReturned"}),
    ]


def test_probation_rules_at_their_boundaries(ledger: Ledger) -> None:
    """Seed 003's numbers: more than 180 days in needs a record (180 does not); 90 days
    or less left is probation_ending (91 is not); the end date itself is confirmation_due."""
    register(ledger, LIU_TREE, SET_UP)
    liu = ledger.admit_member(
        "SH-YP-U-EC", name="刘洋", id_card_no=id_card(3, date(2002, 10, 8), "341525"),
        gender="male", birth_date=date(2002, 10, 8), joined_on=JOINED, category="student",
        household_region="341525", on=JOINED,
    ).registration_no
    assert liu is not None

    def ask(on: date, performance_record: str | None = None, override: str | None = None) -> str:
        transfer_id = ledger.request_transfer(
            liu, "AH-HS-ZF", reason="graduation", basis="household", on=on,
            performance_record=performance_record, probation_override_reason=override,
        ).transfer_id
        assert transfer_id is not None
        ledger.decline_transfer(transfer_id, "演示", on=on)  # leave the way clear
        return transfer_id

    day_180 = JOINED + timedelta(days=180)
    ask(day_180)  # exactly 180 days in: no record needed
    refused(ledger, "performance_record_required", lambda: ledger.request_transfer(
        liu, "AH-HS-ZF", reason="graduation", basis="household", on=day_180 + timedelta(days=1)))
    left_91 = PROBATION_ENDS - timedelta(days=91)
    ask(left_91, performance_record=RECORD)  # 91 days left: not yet "ending"
    left_90 = PROBATION_ENDS - timedelta(days=90)
    refused(ledger, "probation_ending", lambda: ledger.request_transfer(
        liu, "AH-HS-ZF", reason="graduation", basis="household", performance_record=RECORD, on=left_90))
    ask(left_90, performance_record=RECORD, override="工作调动, 接纳单位已落实")
    refused(ledger, "confirmation_due", lambda: ledger.request_transfer(
        liu, "AH-HS-ZF", reason="graduation", basis="household", performance_record=RECORD,
        probation_override_reason="特殊情况", on=PROBATION_ENDS))
    ledger.confirm_member(liu, on=PROBATION_ENDS)
    ask(PROBATION_ENDS)  # confirmed the same day: a full member moves without conditions


def test_probation_ending_around_the_letter(ledger: Ledger) -> None:
    """Requested in time, not issued when probation ends: the old organization confirms
    first. Issued in time, still out when probation ends: no confirmation in transit; the
    receiving organization confirms after the receipt (DOMAIN.md §4, §5)."""
    register(ledger, LIU_TREE, SET_UP)
    classmates = []
    for n, name in ((3, "刘洋"), (4, "王芳")):
        number = ledger.admit_member(
            "SH-YP-U-EC", name=name, id_card_no=id_card(n, date(2002, 10, 8), "341525"),
            gender="male" if n == 3 else "female", birth_date=date(2002, 10, 8), joined_on=JOINED,
            category="student", household_region="341525", on=JOINED,
        ).registration_no
        assert number is not None
        classmates.append(number)
    liu, wang = classmates
    liu_t, wang_t = (
        ledger.request_transfer(
            number, "AH-HS-ZF", reason="graduation", basis="household", performance_record=RECORD,
            probation_override_reason="特殊情况", on=date(2026, 2, 1)).transfer_id
        for number in classmates
    )
    assert liu_t is not None and wang_t is not None

    # 王芳's letter goes out before her probation ends, and is still out after.
    ledger.issue_letter(wang_t, on=date(2026, 2, 20))
    refused(ledger, "member_not_held", lambda: ledger.confirm_member(wang, on=PROBATION_ENDS))
    ledger.receive_member(wang_t, "AH-HS-ZF-XC", on=date(2026, 3, 10))
    ledger.confirm_member(wang, on=date(2026, 3, 10))
    assert ledger.member(wang).status == "full"

    # 刘洋's letter was not issued in time: confirmation is due first.
    refused(ledger, "confirmation_due", lambda: ledger.issue_letter(liu_t, on=PROBATION_ENDS))
    ledger.confirm_member(liu, on=PROBATION_ENDS)  # held, with a request open: allowed
    ledger.issue_letter(liu_t, on=PROBATION_ENDS)
    ledger.receive_member(liu_t, "AH-HS-ZF-XC", on=date(2026, 3, 10))
    assert (ledger.member(liu).status, ledger.member(liu).organization_code) == ("full", "AH-HS-ZF-XC")


def test_a_letter_to_an_organization_dissolved_meanwhile_lands_at_its_successor(ledger: Ledger) -> None:
    """Seed 000: redistricting can abolish the receiving side while a letter is out; the
    successor receives it, so the member is not left a pocket member by the merger."""
    from tests.factories import admit as import_full
    from tests.factories import build_tree

    build_tree(ledger)
    number = import_full(ledger, 41)
    transfer_id = ledger.request_transfer(number, "XW-C2-B1", reason="job_change", basis="household",
                                          on=date(2026, 3, 1)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2026, 3, 2))
    ledger.dissolve_organization("XW-C2-B1", "XW-C1-B3", on=date(2026, 3, 3))
    ledger.receive_member(transfer_id, "XW-C1-B3", on=date(2026, 3, 5))
    assert ledger.member(number).organization_code == "XW-C1-B3"
    assert ledger.transfer(transfer_id).received_in_code == "XW-C1-B3"
