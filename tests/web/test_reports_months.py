"""Which months have a report, on both stores: the current one marked not over (its figures
today's, its overdue letters those of today), none after it and none before the organization
was in the ledger; filing a month from the report page."""

from __future__ import annotations

from datetime import date

from api.web.i18n import WORDS
from tests.api.conftest import Api
from tests.factories import admit
from tests.web.conftest import Scenario, WebClient


def letter_running_out_this_month(api: Api) -> None:
    """A letter from XW-C2-B1 valid until 2026-11-25: overdue at the month's end, not today (11-20)."""
    member = admit(api.ledger, 150, "XW-C2-B1")
    transfer = api.ledger.request_transfer(member, "QH-C1-B1", reason="job_change", basis="household",
                                           on=date(2026, 10, 26)).transfer_id or ""
    api.ledger.issue_letter(transfer, 30, on=date(2026, 10, 26))


def test_the_current_month_is_marked_not_over_with_todays_overdue_letters(web: tuple[Api, Scenario]) -> None:
    api, _ = web
    letter_running_out_this_month(api)
    auditor = api.client("auditor")
    current = auditor.get("/v1/reports/monthly", organization_code="XW-C2", month="2026-11").json()
    assert current["month_over"] is False
    assert current["overdue_letters"] == 0  # not overdue today, whatever the month's end brings
    past = auditor.get("/v1/reports/monthly", organization_code="XW-C2", month="2026-10").json()
    assert past["month_over"] is True
    as_csv = auditor.get("/v1/reports/monthly", headers={"Accept": "text/csv"}, organization_code="XW-C2",
                         month="2026-11").text
    assert "month_over" in as_csv.splitlines()[0]


def test_no_report_after_the_current_month_or_before_the_ledger(web: tuple[Api, Scenario]) -> None:
    api, _ = web
    auditor = api.client("auditor")
    for month in ("2026-12", "2027-01", "2019-12"):
        answer = auditor.get("/v1/reports/monthly", organization_code="XW", month=month)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_error", month
    assert auditor.get("/v1/reports/monthly", organization_code="XW", month="2020-01").status_code == 200
    for year in (2027, 2019):
        answer = auditor.get("/v1/reports/annual", organization_code="XW", year=year)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_error", year
    assert auditor.get("/v1/reports/annual", organization_code="XW", year=2026).status_code == 200
    page = WebClient(api, "xw_clerk").get("/web/orgs/XW-C1/report", month="2026-12")
    assert page.status_code == 422


def test_the_report_page_says_the_month_is_not_over_and_an_admin_files_a_past_month(
        web: tuple[Api, Scenario]) -> None:
    api, _ = web
    clerk, admin = WebClient(api, "xw_clerk"), WebClient(api, "xw_admin")
    current = clerk.get("/web/orgs/XW-C1/report", month="2026-11").text
    assert 'data-month-over="false"' in current and WORDS["month_not_over"][0].split("：")[0] in current
    past = clerk.get("/web/orgs/XW-C1/report", month="2026-10").text
    assert 'data-month-over' not in past and "file-month" not in past  # a clerk doesn't file
    page = admin.get("/web/orgs/XW-C1/report", month="2026-10").text
    assert 'action="/web/orgs/XW-C1/report/filing"' in page
    assert "file-month" not in admin.get("/web/orgs/XW-C1/report", month="2026-11").text  # not over yet
    answer = admin.post("/web/orgs/XW-C1/report/filing", {"month": "2026-10"})
    assert answer.status_code == 303
    filed = admin.client.get(answer.headers["location"]).text
    assert WORDS["filed"][0] in filed and "file-month" not in filed
    again = admin.post("/web/orgs/XW-C1/report/filing", {"month": "2026-10"})
    assert again.status_code == 409  # already filed: the Ledger's refusal, in words
    assert clerk.post("/web/orgs/XW-C1/report/filing", {"month": "2026-09"}).status_code == 403
    early = admin.post("/web/orgs/XW-C1/report/filing", {"month": "2026-11"})
    assert early.status_code == 422
    before = admin.post("/web/orgs/XW-C1/report/filing", {"month": "2019-12"})  # XW-C1 entered in 2020
    assert before.status_code == 422 and WORDS["err_validation_error"][0] in before.text
