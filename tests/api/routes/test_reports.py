"""The reports router (api/routes/reports.py): monthly and annual reports, as JSON and CSV, and
filing a month.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    certificate,
    fresh_org,
    full_member,
    issued,
    new_member_body,
    no_500,
    numbers,
    recorded,
    refused,
    requested,
)
from tests.factories import person

# --- reports ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def october(api: Api) -> dict[str, Any]:
    """A committee's October 2026, step by step (all its own organizations, so exact)."""
    ledger = api.ledger
    committee = fresh_org(api, "XW", "committee")
    b1, b2 = fresh_org(api, committee), fresh_org(api, committee)
    a, b, c, f = (full_member(api, b1) for _ in range(4))  # imported 2020-06-01
    e = full_member(api, b2)
    pocket = issued(api, f, to="SC-C1", on=date(2026, 9, 1))  # overdue from 2026-10-02, still of record
    out = issued(api, a, to="QH-C1", on=date(2026, 10, 2))
    ledger.receive_member(out, "QH-C1-B1", on=date(2026, 10, 10))
    ledger.return_receipt(out, on=date(2026, 10, 20))
    inside = issued(api, b, to=b2, on=date(2026, 10, 3))
    ledger.receive_member(inside, b2, on=date(2026, 10, 6))
    n = next(numbers)
    ledger.admit_member(b2, **{**person(n), "joined_on": date(2026, 10, 5)}, on=date(2026, 10, 5))
    ledger.record_death(c, on=date(2026, 10, 15))
    d = full_member(api, "QH-C1-B1")
    came = issued(api, d, to=committee, on=date(2026, 10, 4))
    ledger.receive_member(came, b1, on=date(2026, 10, 12))
    issued(api, e, to="SC-C1", on=date(2026, 10, 8))  # in transit at the end of October
    held = full_member(api, b1)
    cert = certificate(api, held, on=date(2026, 10, 7), until=date(2026, 12, 1))
    ledger.return_certificate(cert, on=date(2026, 10, 25))
    return {"committee": committee, "pocket": pocket}


def test_monthly_report_figures(api: Api, october: dict[str, Any]) -> None:
    response = api.client("xw_auditor").get("/v1/reports/monthly", organization_code=october["committee"],
                                            month="2026-10")
    assert response.status_code == 200, response.text
    report = response.json()
    expected = {
        "opening": 6,  # a, b, c, f (in transit since September) in b1, e in b2, held in b1
        "admitted": 1, "imported": 0,
        "transferred_in_internal": 1, "transferred_in_external": 1, "transferred_in_whole_org": 0,
        "transferred_out_internal": 1, "transferred_out_external": 1, "transferred_out_whole_org": 0,
        "deceased": 1, "left": 0,
        "closing": 6,  # b, d, the admitted one, held; e and f in transit (of record here)
        "held": 4, "in_transit": 2, "overdue_letters": 1,
        "letters_issued": 3,  # a, b, e (f's letter was September's)
        "certificates_issued": 1, "certificates_returned": 1,
    }
    assert {k: report[k] for k in expected} == expected
    inflow = sum(report[f"transferred_in_{k}"] for k in ("internal", "external", "whole_org"))
    outflow = sum(report[f"transferred_out_{k}"] for k in ("internal", "external", "whole_org"))
    assert report["closing"] == (report["opening"] + report["admitted"] + report["imported"] + inflow - outflow
                                 - report["deceased"] - report["left"])
    assert report["closing"] == report["held"] + report["in_transit"]
    for key in ("letters_received", "received_on_time", "receipts_returned"):
        assert isinstance(report[key], int)
    september = api.client("xw_auditor").get("/v1/reports/monthly", organization_code=october["committee"],
                                             month="2026-09").json()
    assert september["closing"] == report["opening"]
    assert september["letters_issued"] == 1 and september["in_transit"] == 1


def test_monthly_report_as_csv(api: Api, october: dict[str, Any]) -> None:
    auditor = api.client("xw_auditor")
    params = {"organization_code": october["committee"], "month": "2026-10"}
    as_json = auditor.get("/v1/reports/monthly", **params).json()
    response = auditor.get("/v1/reports/monthly", headers={"Accept": "text/csv"}, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    for key in ("opening", "admitted", "transferred_out_external", "deceased", "closing", "held", "in_transit",
                "letters_issued", "certificates_issued"):
        assert int(rows[0][key]) == as_json[key], key


def test_annual_report(api: Api, october: dict[str, Any]) -> None:
    auditor = api.client("xw_auditor")
    response = auditor.get("/v1/reports/annual", organization_code=october["committee"], year=2026)
    assert response.status_code == 200, response.text
    report = response.json()
    # the current year: January to the current month (today is 2026-11-20)
    assert [m["month"] for m in report["months"]] == [f"2026-{m:02d}" for m in range(1, 12)]
    assert report["opening"] == report["months"][0]["opening"] == 6
    assert report["closing"] == report["months"][-1]["closing"] == 6
    assert report["totals"]["admitted"] == 1 and report["totals"]["deceased"] == 1
    assert report["months"][9]["transferred_out_external"] == 1
    csv_response = auditor.get("/v1/reports/annual", headers={"Accept": "text/csv"},
                               organization_code=october["committee"], year=2026)
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert [int(r["closing"]) for r in rows] == [m["closing"] for m in report["months"]]
    assert_problem(auditor.get("/v1/reports/annual", organization_code=october["committee"], year=1800),
                   "validation_error")
    assert_problem(auditor.get("/v1/reports/annual", organization_code=october["committee"], year="MMXXVI"),
                   "validation_error")


def test_the_current_years_annual_report_has_the_months_the_monthly_report_has(api: Api) -> None:
    """Today is 2026-11-20. An organization entered on 2026-06-15: its annual report of 2026
    has June to November (the months with a monthly report), each as the monthly report
    gives it (November's overdue letters are today's, not November's end's), with
    `month_over`; the totals sum those months; the closing and composition are as of
    today. 2025, before it was entered, is refused; a past year has twelve months over."""
    auditor = api.client("xw_auditor")
    branch = fresh_org(api, "XW-C1", on=date(2026, 6, 15))
    overdue, later = (full_member(api, branch, on=date(2026, 6, 20)) for _ in range(2))
    api.ledger.import_member(branch, registration_no=None, status="full", on=date(2026, 7, 1),
                             **person(next(numbers)))
    issued(api, overdue, to="QH-C1", on=date(2026, 10, 25))  # valid until 2026-11-24: overdue at November's end
    issued(api, later, to="QH-C1", on=date(2026, 11, 20), valid_days=35)  # valid until 2026-12-25
    report = auditor.get("/v1/reports/annual", organization_code=branch, year=2026).json()
    months = [f"2026-{m:02d}" for m in range(6, 12)]
    assert [m["month"] for m in report["months"]] == months
    for got, month in zip(report["months"], months, strict=True):
        monthly = auditor.get("/v1/reports/monthly", organization_code=branch, month=month).json()
        assert got == monthly, month
    assert [m["month_over"] for m in report["months"]] == [True] * 5 + [False]
    assert report["months"][-1]["overdue_letters"] == 0  # none overdue today
    assert report["totals"]["imported"] == 3 == sum(m["imported"] for m in report["months"])
    assert report["totals"]["letters_issued"] == 2
    assert report["as_of"] == "2026-11-20" and report["year_over"] is False
    assert report["closing"] == report["months"][-1]["closing"] == 3
    assert report["composition"]["category"] == {"worker": 3}
    assert (report["composition"]["held"], report["composition"]["in_transit"]) == (1, 2)
    assert_problem(auditor.get("/v1/reports/annual", organization_code=branch, year=2025), "validation_error")
    past = auditor.get("/v1/reports/annual", organization_code="XW", year=2025).json()
    assert [m["month"] for m in past["months"]] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert all(m["month_over"] for m in past["months"])
    assert past["as_of"] == "2025-12-31" and past["year_over"] is True


@pytest.mark.parametrize(("params", "code"), [
    ({"organization_code": "XW", "month": "2026-13"}, "validation_error"),
    ({"organization_code": "XW", "month": "2026-1"}, "validation_error"),
    ({"organization_code": "XW"}, "validation_error"),
    ({"month": "2026-10"}, "validation_error"),
    ({"organization_code": "NOPE", "month": "2026-10"}, "not_found"),
])
def test_monthly_report_bad_queries(api: Api, params: dict[str, str], code: str) -> None:
    assert_problem(api.client("admin").get("/v1/reports/monthly", **params), code)


def test_a_filed_month_is_closed_to_back_dated_entries(api: Api) -> None:
    admin, clerk = api.client("admin"), api.client("xw_clerk")
    branch = fresh_org(api, "XW-C1")
    number = full_member(api, branch)
    pending = requested(api, full_member(api, branch), on=date(2026, 8, 1))
    body = recorded(api, admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-09"}))
    assert body["filed"] is True
    assert body["organization_code"] == branch and body["month"] == "2026-09"
    for on in ("2026-09-30", "2026-08-01"):  # the filed month and every earlier one
        refused(api, lambda on=on: clerk.post(f"/v1/members/{number}/dues",
                                              {"month": "2026-09", "amount": "5.00", "on": on}), "period_closed")
        refused(api, lambda on=on: clerk.post("/v1/members", new_member_body(branch, on=on)), "period_closed")
        refused(api, lambda on=on: clerk.post(f"/v1/transfers/{pending}/issue", {"on": on}), "period_closed")
    recorded(api, clerk.post(f"/v1/members/{number}/dues", {"month": "2026-10", "amount": "5.00",
                                                            "on": "2026-10-01"}))
    recorded(api, clerk.post(f"/v1/transfers/{pending}/issue", {"on": "2026-10-01"}))
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-09"}),
            "invalid_transition")  # filed already
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-11"}),
            "validation_error")  # not over yet
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-9"}),
            "validation_error")
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": "NOPE", "month": "2026-09"}),
            "not_found")
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch}), "validation_error")


# --- edges the fuzzer found (tests/api/test_fuzz.py leaves these inputs to these tests) -------


def test_month_zero_zero_zero_zero_is_no_500(api: Api) -> None:
    no_500(api.client("admin").get("/v1/reports/monthly", organization_code="XW", month="0000-01"))
