"""Seed 003 told with its first-responder case: Liu Yang asks the service center of the
street he lives on for a home for his relationship; it opens the case and owns it while
his transfers are rejected and declined (bounced), until he is held there and attends org
life, and only then is the case closed as placed. Every figure is read from the views."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.base import Actor
from domain.ledger import Ledger
from projections.queries import Queries
from tests.conftest import Store
from tests.domain.test_stories import CENTER_CLERK, LEASE, LIU_TREE, RECORD, refused, register
from tests.factories import id_card

GRADUATED = date(2025, 7, 20)
COLLEGE_CLERK = Actor("申江大学党委组织员", "SH-YP-U")


def overdue_cases(queries: Queries, code: str, on: date) -> list[tuple[Any, ...]]:
    rows, count = queries.overdue(code, on, kind="open_case")
    assert count == len(rows)
    return [(r["registration_no"], r["name"], r["organization_code"], r["due_on"], r["days_overdue"],
             r["responsible_organization_code"]) for r in rows]


def test_liu_yangs_case_opened_bounced_placed(store: Store) -> None:
    ledger: Ledger = store.ledger()
    engine, queries = store.engine(ledger), store.queries()
    register(ledger, LIU_TREE, date(2024, 3, 1))
    liu = ledger.admit_member(
        "SH-YP-U-EC", name="刘洋", id_card_no=id_card(3, date(2002, 10, 8), "341525"), gender="male",
        birth_date=date(2002, 10, 8), joined_on=date(2025, 3, 3), category="student",
        household_region="341525", on=date(2025, 3, 3),
    ).registration_no
    assert liu is not None

    # 2025-07-20: he asks the street's service center first; it owns his case from now on.
    case_id = ledger.open_case("SH-JA-DN", name="刘洋", registration_no=liu, request="毕业留沪，落实组织关系",
                               actor=CENTER_CLERK, on=GRADUATED).code
    assert case_id is not None

    # Bounced: the service center rejects the letter (no fixed abode), then his college
    # declines to send him home while he stays in Shanghai.
    first = ledger.request_transfer(liu, "SH-JA-DN", reason="graduation", basis="household",
                                    actor=COLLEGE_CLERK, on=GRADUATED).transfer_id
    assert first is not None
    ledger.issue_letter(first, actor=COLLEGE_CLERK, on=date(2025, 7, 21))
    ledger.reject_transfer(first, "无固定住所，请转回户籍所在地", actor=CENTER_CLERK, on=date(2025, 7, 25))
    second = ledger.request_transfer(liu, "AH-HS-ZF", reason="graduation", basis="household",
                                     actor=COLLEGE_CLERK, on=date(2025, 8, 1)).transfer_id
    assert second is not None
    ledger.decline_transfer(second, "本人仍在上海，暂不转回", actor=COLLEGE_CLERK, on=date(2025, 8, 4))
    engine.catch_up()

    assert queries.is_bounced(liu, date(2025, 8, 4))
    assert not queries.is_bounced(liu, date(2025, 8, 3))  # rejected once by then
    # 30 days open is not yet overdue; 31 is, for the service center and the departments above it
    assert overdue_cases(queries, "SH-JA-DN", date(2025, 8, 19)) == []
    assert overdue_cases(queries, "SH-JA-DN", date(2025, 8, 31)) == [
        (liu, "刘洋", "SH-JA-DN", "2025-08-19", 12, "SH-JA-DN")]
    assert overdue_cases(queries, "SH", date(2025, 8, 31)) == overdue_cases(queries, "SH-JA-DN", date(2025, 8, 31))
    assert overdue_cases(queries, "SH-YP", date(2025, 8, 31)) == []  # his college owns no case
    rows, count = queries.cases("SH-JA", date(2025, 8, 31), status="open")
    assert count == 1
    assert {k: rows[0][k] for k in ("case_id", "name", "registration_no", "opened_on", "days_open", "status")} == {
        "case_id": case_id, "name": "刘洋", "registration_no": liu, "opened_on": "2025-07-20", "days_open": 42,
        "status": "open"}
    august = queries.monthly_report("SH", "2025-08")
    assert (august["open_cases"], august["cases_opened"], august["bounced_members"]) == (1, 0, 1)
    assert queries.monthly_report("SH", "2025-07")["bounced_members"] == 0  # once, by July's end
    assert queries.monthly_report("SH-JA", "2025-08")["bounced_members"] == 0  # of record at his college

    # Not placed while he is held by his college without org life since the case was opened.
    refused(ledger, "invalid_transition", lambda: ledger.close_case(
        case_id, "placed", actor=CENTER_CLERK, on=date(2025, 9, 1)))

    # 2025-09-10: with a lease and his performance record, the service center receives him.
    third = ledger.request_transfer(liu, "SH-JA-DN", reason="mobile_work", basis="residence", evidence=LEASE,
                                    performance_record=RECORD, actor=COLLEGE_CLERK, on=date(2025, 9, 10)).transfer_id
    assert third is not None
    ledger.issue_letter(third, actor=COLLEGE_CLERK, on=date(2025, 9, 10))
    refused(ledger, "invalid_transition", lambda: ledger.close_case(  # in transit
        case_id, "placed", actor=CENTER_CLERK, on=date(2025, 9, 12)))
    ledger.receive_member(third, "SH-JA-DN", actor=CENTER_CLERK, on=date(2025, 9, 15))
    refused(ledger, "invalid_transition", lambda: ledger.close_case(  # held, no org life yet
        case_id, "placed", actor=CENTER_CLERK, on=date(2025, 9, 16)))
    ledger.record_org_life(liu, "SH-JA-DN", actor=CENTER_CLERK, on=date(2025, 9, 20))
    ledger.close_case(case_id, "placed", "已编入服务中心党支部并参加组织生活", actor=CENTER_CLERK,
                      on=date(2025, 9, 21))
    engine.catch_up()

    assert overdue_cases(queries, "SH-JA-DN", date(2025, 9, 21)) == []
    assert overdue_cases(queries, "SH-JA-DN", date(2025, 9, 20)) == [  # as it stood the day before
        (liu, "刘洋", "SH-JA-DN", "2025-08-19", 32, "SH-JA-DN")]
    rows, count = queries.cases("SH-JA-DN", date(2025, 12, 1))
    assert count == 1
    assert (rows[0]["status"], rows[0]["outcome"], rows[0]["closed_on"], rows[0]["days_open"]) == (
        "closed", "placed", "2025-09-21", 63)
    assert queries.cases("SH-JA-DN", date(2025, 12, 1), status="open") == ([], 0)
    september = queries.monthly_report("SH-JA", "2025-09")
    assert (september["open_cases"], september["cases_closed"], september["cases_placed"]) == (0, 1, 1)
    assert september["bounced_members"] == 1  # of record here now
    assert queries.monthly_report("SH", "2025-07")["cases_opened"] == 1
    refused(ledger, "invalid_transition", lambda: ledger.close_case(
        case_id, "withdrawn", actor=CENTER_CLERK, on=date(2025, 9, 22)))
