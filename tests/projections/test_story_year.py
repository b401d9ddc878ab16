"""A worked example: one street committee's year (2025), month by month, with the report
figures it must produce, worked out by hand (DOMAIN.md §4-§8).

The tree (registered 2024-06-01):

    R   江苏省委组织部 (320000)
    ├── GL  鼓楼区委组织部 (320106)
    │   ├── GL-C  鼓楼街道党工委            <- the institution
    │   │   ├── GL-C-B1 第一支部: 甲1 甲2 甲3 甲4
    │   │   ├── GL-C-B2 第二支部: 乙1 乙2 乙3
    │   │   └── GL-C-B3 第三支部: 丙1 丙2
    │   └── GL-K  鼓楼科技园党委 ── GL-K-B1
    └── PK  浦口区委组织部 (320111)
        └── PK-C  浦口街道党工委 ── PK-C-B1: 丁1
    Z   浙江省委组织部 (330000)
    └── HZ-C  杭州湖滨街道党工委 (330102) ── HZ-C-B1: 戊1

All members are full members imported on 2024-06-01, so GL-C opens 2025 with 9. Every
member held in GL-C attends org life and pays 12.50 of dues on the 25th of every month,
except 丙2, who stops after May. Letters are valid 30 days.

    Jan  08 甲1's letter to PK-C (cross-county); 20 received in PK-C-B1, on time;
            25 PK-C returns the receipt (5 days).
    Feb  03 PK-C sends 丁1 to GL-C; 10 甲4 gets a mobile certificate hosted by GL-K-B1;
            17 丁1 received in GL-C-B2, on time; 27 GL-C returns the receipt (10 days).
    Mar  03 HZ-C sends 戊1 to GL-C (valid until 04-02); 10 乙2 gets a temporary
            certificate until 06-10 (never returned).
    Apr  10 戊1 received in GL-C-B1, late, with the branch's late certificate (the receipt
            is never returned); 15 新1 admitted to GL-C-B1 (probationary).
    May  06 甲3's letter to GL-K (within the county); 20 cancelled: 甲3 is home again.
    Jun  03 乙1's letter to PK-C (cross-county); 12 PK-C rejects it.
    Jul  07 乙3's letter from B2 to B3 (within the committee); 09 received; 21 receipt (12 days).
    Aug  18 丙1 dies.
    Sep  01 甲2's letter to HZ-C (cross-province), valid until 10-01: never received.
    Oct  甲2 is a pocket member from 10-02.
    Nov  15 甲4's mobile certificate is returned.
    Dec  nothing happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from domain.ledger import Ledger
from projections.queries import Queries
from tests.conftest import Store
from tests.factories import person

SET_UP = date(2024, 6, 1)
ORGS = (
    ("R", "江苏省委组织部", "department", None, "320000"),
    ("GL", "鼓楼区委组织部", "department", "R", "320106"),
    ("GL-C", "鼓楼街道党工委", "committee", "GL", "320106"),
    ("GL-C-B1", "第一支部", "branch", "GL-C", "320106"),
    ("GL-C-B2", "第二支部", "branch", "GL-C", "320106"),
    ("GL-C-B3", "第三支部", "branch", "GL-C", "320106"),
    ("GL-K", "鼓楼科技园党委", "committee", "GL", "320106"),
    ("GL-K-B1", "科技园支部", "branch", "GL-K", "320106"),
    ("PK", "浦口区委组织部", "department", "R", "320111"),
    ("PK-C", "浦口街道党工委", "committee", "PK", "320111"),
    ("PK-C-B1", "浦口第一支部", "branch", "PK-C", "320111"),
    ("Z", "浙江省委组织部", "department", None, "330000"),
    ("HZ-C", "杭州湖滨街道党工委", "committee", "Z", "330102"),
    ("HZ-C-B1", "湖滨第一支部", "branch", "HZ-C", "330102"),
)
# name: (n for person(), branch, gender)
PEOPLE = {
    "甲1": (1, "GL-C-B1", "male"), "甲2": (2, "GL-C-B1", "female"), "甲3": (3, "GL-C-B1", "male"),
    "甲4": (4, "GL-C-B1", "female"), "乙1": (5, "GL-C-B2", "male"), "乙2": (6, "GL-C-B2", "female"),
    "乙3": (7, "GL-C-B2", "male"), "丙1": (8, "GL-C-B3", "female"), "丙2": (9, "GL-C-B3", "male"),
    "丁1": (10, "PK-C-B1", "female"), "戊1": (11, "HZ-C-B1", "male"),
}
GL_C_BRANCHES = ("GL-C-B1", "GL-C-B2", "GL-C-B3")


@dataclass
class Year:
    ledger: Ledger
    queries: Queries
    no: dict[str, str]  # name -> registration number
    letter: dict[str, str]  # name -> transfer id of the member's 2025 letter


@pytest.fixture(scope="module")
def year(shared_store: Store) -> Year:
    """The story, told once per store (the tests only read it)."""
    ledger = shared_store.ledger()
    year = Year(ledger, shared_store.queries(), {}, {})
    tell(year)
    shared_store.engine(ledger).catch_up()
    return year


def tell(y: Year) -> None:
    ledger, no, letter = y.ledger, y.no, y.letter
    for code, name, kind, parent, region in ORGS:
        ledger.register_organization(code, name, kind, parent, region, on=SET_UP)
    for name, (n, branch, gender) in PEOPLE.items():
        no[name] = ledger.import_member(
            branch, registration_no=None, status="full", on=SET_UP, **person(n, name=name, gender=gender)
        ).registration_no  # type: ignore[assignment]

    def send(name: str, to: str, on: date) -> str:
        transfer_id = ledger.request_transfer(no[name], to, reason="job_change", basis="household",
                                              on=on).transfer_id
        assert transfer_id is not None
        ledger.issue_letter(transfer_id, on=on)  # valid 30 days
        letter[name] = transfer_id
        return transfer_id

    def monthly_activity(month: int) -> None:
        """Org life and dues on the 25th for everyone held in GL-C (丙2 only until May)."""
        on = date(2025, month, 25)
        for name, number in no.items():
            member = ledger.member(number)
            if member.place != "held" or member.organization_code not in GL_C_BRANCHES:
                continue
            if name == "丙2" and month > 5:
                continue
            ledger.record_org_life(number, member.organization_code, on=on)
            ledger.record_dues(number, f"2025-{month:02d}", "12.50", on=on)

    # January
    send("甲1", "PK-C", date(2025, 1, 8))
    ledger.receive_member(letter["甲1"], "PK-C-B1", on=date(2025, 1, 20))
    ledger.return_receipt(letter["甲1"], on=date(2025, 1, 25))
    monthly_activity(1)
    # February
    send("丁1", "GL-C", date(2025, 2, 3))
    mobile = ledger.issue_certificate(
        no["甲4"], kind="mobile", purpose="外出务工", valid_until=date(2026, 2, 10),
        host_organization_code="GL-K-B1", contact_person="王书记", on=date(2025, 2, 10),
    ).certificate_no
    assert mobile is not None
    ledger.receive_member(letter["丁1"], "GL-C-B2", on=date(2025, 2, 17))
    monthly_activity(2)
    ledger.return_receipt(letter["丁1"], on=date(2025, 2, 27))
    # March
    send("戊1", "GL-C", date(2025, 3, 3))
    ledger.issue_certificate(
        no["乙2"], kind="temporary", purpose="党校学习", valid_until=date(2025, 6, 10),
        host_description="南京市委党校", on=date(2025, 3, 10),
    )
    monthly_activity(3)
    # April
    ledger.receive_member(letter["戊1"], "GL-C-B1", late_certificate="第一支部证明：因病延误报到",
                          on=date(2025, 4, 10))
    no["新1"] = ledger.admit_member(
        "GL-C-B1", on=date(2025, 4, 15),
        **person(12, name="新1", gender="female", category="student", joined_on=date(2025, 4, 15)),
    ).registration_no  # type: ignore[assignment]
    monthly_activity(4)
    # May
    send("甲3", "GL-K", date(2025, 5, 6))
    ledger.cancel_transfer(letter["甲3"], "单位调动取消", on=date(2025, 5, 20))
    monthly_activity(5)
    # June
    send("乙1", "PK-C", date(2025, 6, 3))
    ledger.reject_transfer(letter["乙1"], "接收单位无此岗位", on=date(2025, 6, 12))
    monthly_activity(6)
    # July
    send("乙3", "GL-C-B3", date(2025, 7, 7))
    ledger.receive_member(letter["乙3"], "GL-C-B3", on=date(2025, 7, 9))
    ledger.return_receipt(letter["乙3"], on=date(2025, 7, 21))
    monthly_activity(7)
    # August
    ledger.record_death(no["丙1"], on=date(2025, 8, 18))
    monthly_activity(8)
    # September
    send("甲2", "HZ-C", date(2025, 9, 1))
    monthly_activity(9)
    # October
    monthly_activity(10)
    # November
    ledger.return_certificate(mobile, on=date(2025, 11, 15))
    monthly_activity(11)
    # December
    monthly_activity(12)


# --- the monthly reports of GL-C, by hand ---------------------------------------------------

FLOWS = (
    "admitted", "imported", "transferred_in_internal", "transferred_in_external", "transferred_in_whole_org",
    "transferred_out_internal", "transferred_out_external", "transferred_out_whole_org", "deceased", "left",
    "letters_issued", "letters_received", "letters_cancelled", "letters_rejected", "received_on_time",
    "receipts_returned", "receipt_days_total", "certificates_issued", "certificates_returned",
)
ROUTES = ("within_committee", "within_county", "cross_county", "cross_province")


def month(opening: int, closing: int, in_transit: int, probationary: int, overdue: int,
          certificates_out: int, mobile_out: int, timely_rate: float | None = None,
          routes: dict[str, int] | None = None, **flows: int) -> dict[str, Any]:
    """A month's expected figures: the stocks given, every flow not named is 0."""
    assert set(flows) <= set(FLOWS), set(flows) - set(FLOWS)
    return {
        "opening": opening, "closing": closing, "held": closing - in_transit, "in_transit": in_transit,
        "probationary": probationary, "full": closing - probationary, "overdue_letters": overdue,
        "certificates_out": certificates_out, "mobile_out": mobile_out, "timely_rate": timely_rate,
        "by_route": {r: (routes or {}).get(r, 0) for r in ROUTES},
        **dict.fromkeys(FLOWS, 0), **flows,
    }


GL_C_2025 = {
    # 甲1 leaves for PK-C in January
    "2025-01": month(9, 8, 0, 0, 0, 0, 0, transferred_out_external=1, letters_issued=1,
                     routes={"cross_county": 1}),
    # 丁1 arrives on time; its receipt goes back after 10 days; 甲4's mobile certificate
    "2025-02": month(8, 9, 0, 0, 0, 1, 1, timely_rate=1.0, transferred_in_external=1,
                     letters_received=1, received_on_time=1, receipts_returned=1, receipt_days_total=10,
                     certificates_issued=1),
    # 戊1's letter is on its way (of record in HZ-C-B1); 乙2's temporary certificate
    "2025-03": month(9, 9, 0, 0, 0, 2, 1, certificates_issued=1),
    # 戊1 received late; 新1 admitted, probationary
    "2025-04": month(9, 11, 0, 1, 0, 2, 1, timely_rate=0.0, admitted=1, transferred_in_external=1,
                     letters_received=1),
    # 甲3's letter issued and cancelled within the month
    "2025-05": month(11, 11, 0, 1, 0, 2, 1, letters_issued=1, letters_cancelled=1,
                     routes={"within_county": 1}),
    # 乙1's letter issued and rejected by PK-C
    "2025-06": month(11, 11, 0, 1, 0, 2, 1, letters_issued=1, letters_rejected=1,
                     routes={"cross_county": 1}),
    # 乙3 moves from B2 to B3: inside GL-C, out and in
    "2025-07": month(11, 11, 0, 1, 0, 2, 1, timely_rate=1.0, transferred_in_internal=1,
                     transferred_out_internal=1, letters_issued=1, letters_received=1, received_on_time=1,
                     receipts_returned=1, receipt_days_total=12, routes={"within_committee": 1}),
    # 丙1 dies
    "2025-08": month(11, 10, 0, 1, 0, 2, 1, deceased=1),
    # 甲2 in transit, still of record in GL-C; valid until 10-01, so not overdue yet
    "2025-09": month(10, 10, 1, 1, 0, 2, 1, letters_issued=1, routes={"cross_province": 1}),
    "2025-10": month(10, 10, 1, 1, 1, 2, 1),
    # 甲4's mobile certificate comes back
    "2025-11": month(10, 10, 1, 1, 1, 1, 0, certificates_returned=1),
    "2025-12": month(10, 10, 1, 1, 1, 1, 0),
}


@pytest.mark.parametrize("period", sorted(GL_C_2025))
def test_monthly_report_of_the_committee(year: Year, period: str) -> None:
    report = year.queries.monthly_report("GL-C", period)
    expected = GL_C_2025[period]
    assert {k: report[k] for k in expected} == expected


def test_branches_see_a_move_inside_the_committee_as_external(year: Year) -> None:
    """乙3's July move: B2 and B3 each see the other side as outside; GL-C, GL and R see
    both sides inside."""
    q = year.queries
    flows = ("transferred_in_internal", "transferred_in_external", "transferred_out_internal",
             "transferred_out_external")
    figures = {code: tuple(q.monthly_report(code, "2025-07")[k] for k in flows)
               for code in ("GL-C-B2", "GL-C-B3", "GL-C", "GL", "R")}
    assert figures == {
        "GL-C-B2": (0, 0, 0, 1), "GL-C-B3": (0, 1, 0, 0),
        "GL-C": (1, 0, 1, 0), "GL": (1, 0, 1, 0), "R": (1, 0, 1, 0),
    }
    b2, b3 = q.monthly_report("GL-C-B2", "2025-07"), q.monthly_report("GL-C-B3", "2025-07")
    # B2: 乙1 乙2 乙3 丁1 -> 乙3 leaves; B3: 丙1 丙2 -> 乙3 arrives
    assert (b2["opening"], b2["closing"], b3["opening"], b3["closing"]) == (4, 3, 2, 3)


def test_the_other_side_of_each_transfer(year: Year) -> None:
    """January: 甲1 leaves the county (GL) but not the province (R). April: 戊1 leaves Z."""
    q = year.queries
    jan_gl, jan_r, jan_pk = (q.monthly_report(c, "2025-01") for c in ("GL", "R", "PK-C"))
    assert (jan_gl["transferred_out_external"], jan_gl["closing"]) == (1, 8)  # 8 in GL-C, 0 in GL-K
    # R: 8 in GL-C, 甲1 and 丁1 in PK-C-B1
    assert (jan_r["transferred_out_internal"], jan_r["transferred_in_internal"], jan_r["closing"]) == (1, 1, 10)
    assert (jan_pk["transferred_in_external"], jan_pk["letters_received"], jan_pk["receipts_returned"],
            jan_pk["receipt_days_total"], jan_pk["closing"]) == (1, 1, 1, 5, 2)
    mar_z, apr_z = q.monthly_report("Z", "2025-03"), q.monthly_report("Z", "2025-04")
    # 戊1 is of record in HZ-C-B1 until received in April
    assert (mar_z["closing"], mar_z["in_transit"], mar_z["letters_issued"]) == (1, 1, 1)
    assert mar_z["by_route"]["cross_province"] == 1
    assert (apr_z["transferred_out_external"], apr_z["closing"], apr_z["in_transit"]) == (1, 0, 0)
    # 丁1's letter was issued by PK-C: PK counts it, GL-C doesn't
    feb_pk = q.monthly_report("PK", "2025-02")
    assert (feb_pk["letters_issued"], feb_pk["by_route"]["cross_county"], feb_pk["closing"]) == (1, 1, 1)
    # 甲4's mobile certificate is hosted by GL-K-B1 from February to November
    hosted = {m: q.monthly_report("GL-K", f"2025-{m:02d}")["hosted"] for m in (1, 2, 10, 11)}
    assert hosted == {1: 0, 2: 1, 10: 1, 11: 0}


def test_annual_report_of_the_committee(year: Year) -> None:
    annual = year.queries.annual_report("GL-C", 2025)
    assert (annual["opening"], annual["closing"]) == (9, 10)
    assert annual["totals"] == {
        "admitted": 1, "imported": 0, "transferred_in": 3, "transferred_out": 2, "deceased": 1, "left": 0,
        "letters_issued": 5, "letters_received": 3, "received_on_time": 2, "receipts_returned": 2,
        "certificates_issued": 2, "certificates_returned": 1, "certificates_closed": 0,
        "certificate_return_rate": 0.5,  # 1 of the 2 issued came back (seed 001's 返回率)
    }
    composition = annual["composition"]
    # at year end: 甲2 (in transit) 甲3 甲4 戊1 新1 | 乙1 乙2 丁1 | 乙3 丙2
    assert {k: composition[k] for k in ("probationary", "full", "held", "in_transit")} == {
        "probationary": 1, "full": 9, "held": 9, "in_transit": 1,
    }
    assert composition["category"] == {"worker": 9, "student": 1}
    assert composition["gender"] == {"male": 5, "female": 5}
    assert [m["month"] for m in annual["months"]] == sorted(GL_C_2025)
    for report in annual["months"]:
        expected = GL_C_2025[report["month"]]
        assert {k: report[k] for k in expected} == expected, report["month"]


def overdue_rows(year: Year, on: date, code: str = "GL-C") -> list[tuple[Any, ...]]:
    rows, total = year.queries.overdue(code, on)
    assert total == len(rows)
    return [(r["kind"], r["registration_no"], r["organization_code"], r["due_on"], r["days_overdue"],
             r["responsible_organization_code"]) for r in rows]


def test_overdue_list_at_the_end_of_the_year(year: Year) -> None:
    no = year.no
    assert overdue_rows(year, date(2025, 12, 20)) == [
        # 戊1 received 04-10: the receipt was due 30 days later, GL-C (the receiver) owes it
        ("unreturned_receipt", no["戊1"], "HZ-C-B1", "2025-05-10", 224, "GL-C"),
        # 乙2's temporary certificate, valid until 06-10, issued by GL-C
        ("unreturned_certificate", no["乙2"], "GL-C-B2", "2025-06-10", 193, "GL-C"),
        # 甲2's letter, valid until 10-01: a pocket member; GL-C issued it and stays responsible
        ("overdue_letter", no["甲2"], "GL-C-B1", "2025-10-01", 80, "GL-C"),
        # 丙2: no org life or dues June to November; flagged from 12-01, for the branch
        ("inactive_6m", no["丙2"], "GL-C-B3", "2025-12-01", 19, "GL-C-B3"),
    ]


def test_overdue_list_during_the_year(year: Year) -> None:
    no = year.no
    # the receipt of 戊1 (received 04-10) is not overdue on day 30, is on day 31
    assert overdue_rows(year, date(2025, 5, 10)) == []
    assert overdue_rows(year, date(2025, 5, 11)) == [
        ("unreturned_receipt", no["戊1"], "HZ-C-B1", "2025-05-10", 1, "GL-C"),
    ]
    # the temporary certificate is overdue the day after its validity
    assert overdue_rows(year, date(2025, 6, 11)) == [
        ("unreturned_receipt", no["戊1"], "HZ-C-B1", "2025-05-10", 32, "GL-C"),
        ("unreturned_certificate", no["乙2"], "GL-C-B2", "2025-06-10", 1, "GL-C"),
    ]
    # 甲2's letter: valid on 10-01, overdue on 10-02
    letters = [r for r in overdue_rows(year, date(2025, 10, 1)) if r[0] == "overdue_letter"]
    assert letters == []
    letters = [r for r in overdue_rows(year, date(2025, 10, 2)) if r[0] == "overdue_letter"]
    assert letters == [("overdue_letter", no["甲2"], "GL-C-B1", "2025-10-01", 1, "GL-C")]
    # 丙2's last activity was in May: June-October is five months, not yet six
    assert [r for r in overdue_rows(year, date(2025, 11, 30)) if r[0] == "inactive_6m"] == []


def test_overdue_list_by_kind_and_from_the_other_side(year: Year) -> None:
    no, q = year.no, year.queries
    rows, total = q.overdue("GL-C", date(2025, 12, 20), kind="overdue_letter")
    assert (total, [r["registration_no"] for r in rows]) == (1, [no["甲2"]])
    # HZ-C, the sender of 戊1, sees the receipt it is still waiting for, and, as the
    # addressee of 甲2's letter, that letter overdue (GL-C, which issued it, chases it)
    assert overdue_rows(year, date(2025, 12, 20), "HZ-C") == [
        ("unreturned_receipt", no["戊1"], "HZ-C-B1", "2025-05-10", 224, "GL-C"),
        ("overdue_letter", no["甲2"], "GL-C-B1", "2025-10-01", 80, "GL-C"),
    ]
    # GL-K, the addressee of 甲3's cancelled letter, owes nothing; PK-C returned 甲1's
    # receipt and rejected 乙1's letter, but nobody recorded 甲1's org life or dues there
    assert overdue_rows(year, date(2025, 12, 20), "GL-K") == []
    assert overdue_rows(year, date(2025, 12, 20), "PK-C") == [
        ("inactive_6m", no["甲1"], "PK-C-B1", "2025-12-01", 19, "PK-C-B1"),
    ]


def test_the_letters_of_the_year(year: Year) -> None:
    """The transfer list agrees with the story: statuses, routes and timeliness."""
    rows, total = year.queries.transfers("GL-C")
    by_member = {r["registration_no"]: r for r in rows}
    no = year.no
    assert total == 7
    assert {name: (by_member[no[name]]["status"], by_member[no[name]]["route"], by_member[no[name]]["on_time"])
            for name in ("甲1", "丁1", "戊1", "甲3", "乙1", "乙3", "甲2")} == {
        "甲1": ("receipt_returned", "cross_county", True),
        "丁1": ("receipt_returned", "cross_county", True),
        "戊1": ("received", "cross_province", False),
        "甲3": ("cancelled", "within_county", None),
        "乙1": ("rejected", "cross_county", None),
        "乙3": ("receipt_returned", "within_committee", True),
        "甲2": ("issued", "cross_province", None),
    }


# --- an earlier date's answers don't change when later events are recorded (DOMAIN.md §8, §9) ---


def one_pocket_member(store: Store) -> tuple[Ledger, Queries, Any, str, str]:
    """甲 sent from GL-C-B1 to HZ-C on 2025-09-01, valid until 10-01, never received."""
    ledger = store.ledger()
    for code, name, kind, parent, region in ORGS:
        ledger.register_organization(code, name, kind, parent, region, on=SET_UP)
    number = ledger.import_member("GL-C-B1", registration_no=None, status="full", on=SET_UP,
                                  **person(1, name="甲")).registration_no
    assert number is not None
    transfer_id = ledger.request_transfer(number, "HZ-C", reason="job_change", basis="household",
                                          on=date(2025, 9, 1)).transfer_id
    assert transfer_id is not None
    ledger.issue_letter(transfer_id, on=date(2025, 9, 1))
    engine = store.engine(ledger)
    engine.catch_up()
    return ledger, store.queries(), engine, number, transfer_id


def test_an_extension_takes_effect_from_its_date(store: Store) -> None:
    ledger, q, engine, number, transfer_id = one_pocket_member(store)
    assert q.monthly_report("GL-C", "2025-10")["overdue_letters"] == 1
    ledger.extend_letter(transfer_id, date(2025, 11, 30), on=date(2025, 11, 5))  # issue + 90 days
    engine.catch_up()
    november = q.monthly_report("GL-C", "2025-11")
    assert (november["in_transit"], november["overdue_letters"]) == (1, 0)
    assert q.overdue("GL-C", date(2025, 11, 30), kind="overdue_letter") == ([], 0)
    rows, _ = q.overdue("GL-C", date(2025, 12, 1), kind="overdue_letter")
    assert [(r["registration_no"], r["due_on"], r["days_overdue"]) for r in rows] == [(number, "2025-11-30", 1)]


def test_a_later_extension_does_not_rewrite_a_filed_month_or_an_earlier_overdue_list(store: Store) -> None:
    ledger, q, engine, number, transfer_id = one_pocket_member(store)
    ledger.file_month("GL-C", "2025-10")
    ledger.extend_letter(transfer_id, date(2025, 11, 30), on=date(2025, 11, 5))
    engine.catch_up()
    october = q.monthly_report("GL-C", "2025-10")
    assert (october["filed"], october["in_transit"], october["overdue_letters"]) == (True, 1, 1)
    rows, _ = q.overdue("GL-C", date(2025, 10, 15), kind="overdue_letter")
    assert [(r["registration_no"], r["due_on"], r["days_overdue"]) for r in rows] == [(number, "2025-10-01", 14)]


def test_arrears_paid_later_do_not_rewrite_an_earlier_inactive_list(store: Store) -> None:
    ledger = store.ledger()
    for code, name, kind, parent, region in ORGS:
        ledger.register_organization(code, name, kind, parent, region, on=SET_UP)
    number = ledger.import_member("GL-C-B3", registration_no=None, status="full", on=SET_UP,
                                  **person(9, name="丙")).registration_no
    assert number is not None
    ledger.record_org_life(number, "GL-C-B3", on=date(2025, 1, 20))
    engine = store.engine(ledger)
    engine.catch_up()
    q = store.queries()

    def inactive() -> list[tuple[str, str, int]]:
        rows, _ = q.overdue("GL-C", date(2025, 8, 5), kind="inactive_6m")
        return [(r["registration_no"], r["due_on"], r["days_overdue"]) for r in rows]

    # February to July without org life or dues: flagged from 08-01
    assert inactive() == [(number, "2025-08-01", 4)]
    ledger.record_dues(number, "2025-03", "12.50", on=date(2025, 10, 1))
    engine.catch_up()
    assert inactive() == [(number, "2025-08-01", 4)], "on 2025-08-05 those dues were not paid yet"
