"""The certificates router (api/routes/certificates.py): issue, read and return, and the host's
filed month.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from httpx import Response

from domain.identifiers import make_registration_no
from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    dissolved_org,
    fresh_org,
    full_member,
    issued,
    recorded,
    refused,
)
from tests.conftest import TODAY

# --- certificates -----------------------------------------------------------------------------


def test_issue_read_and_return_a_certificate(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    body = recorded(api, clerk.post("/v1/certificates", {
        "registration_no": number, "kind": "temporary", "host_description": "中央党校（国家行政学院）",
        "purpose": "参加中青年干部培训班", "valid_until": "2027-05-20", "on": "2026-11-20"}), 201)
    number_of_certificate = body["certificate_no"]
    assert isinstance(number_of_certificate, str) and number_of_certificate
    assert body["kind"] == "temporary" and body["registration_no"] == number
    assert body["host_description"] == "中央党校（国家行政学院）"
    assert body["purpose"] == "参加中青年干部培训班"
    assert body["valid_until"] == "2027-05-20" and body["issued_on"] == "2026-11-20"
    assert body["status"] == "issued"
    assert clerk.get(f"/v1/members/{number}").json()["place"]["kind"] == "held"  # stays at home
    read = clerk.get(f"/v1/certificates/{number_of_certificate}").json()
    assert {k: read[k] for k in ("certificate_no", "kind", "purpose", "host_description", "status")} == {
        k: body[k] for k in ("certificate_no", "kind", "purpose", "host_description", "status")}
    back = recorded(api, clerk.post(f"/v1/certificates/{number_of_certificate}/return", {}))
    assert back["status"] == "returned" and back["returned_on"] == TODAY.isoformat()
    refused(api, lambda: clerk.post(f"/v1/certificates/{number_of_certificate}/return", {}), "invalid_transition")
    mobile = recorded(api, clerk.post("/v1/certificates", {
        "registration_no": number, "kind": "mobile", "host_organization_code": "SC-C1-B1",
        "purpose": "外出务工", "contact_person": "王五", "valid_until": "2027-11-20"}), 201)
    assert mobile["kind"] == "mobile" and mobile["host_organization_code"] == "SC-C1-B1"


def _certificate_body(number: str, **overrides: Any) -> dict[str, Any]:
    body = {"registration_no": number, "kind": "temporary", "host_description": "省委党校", "purpose": "培训",
            "valid_until": "2027-01-31"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def test_the_certificate_list_is_newest_first_within_a_day_too(api: Api) -> None:
    """README: newest first; certificates of one day by their numbers, the last issued first."""
    clerk = api.client("xw_clerk")
    branch = fresh_org(api, "XW-C1")
    issued_numbers = [recorded(api, clerk.post("/v1/certificates", _certificate_body(
        full_member(api, branch), on="2026-11-02")), 201)["certificate_no"] for _ in range(3)]
    rows = clerk.get("/v1/certificates", organization_code=branch).json()["data"]
    assert [row["certificate_no"] for row in rows] == issued_numbers[::-1]


def test_certificate_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)

    def post(**overrides: Any) -> Callable[[], Response]:
        return lambda: clerk.post("/v1/certificates", _certificate_body(number, **overrides))

    refused(api, post(valid_until="2027-05-21"), "use_formal_transfer")  # more than 6 months
    refused(api, post(host_description=...), "validation_error")  # no host named
    refused(api, post(valid_until="2026-11-20"), "validation_error")  # not after the effective date
    refused(api, post(kind="permanent"), "validation_error")
    refused(api, post(purpose=...), "validation_error")
    refused(api, post(on="2026-11-21"), "future_date")
    refused(api, post(host_description=..., host_organization_code="XW-C1-B1"), "same_organization")
    refused(api, post(host_description=..., host_organization_code="NOPE"), "not_found")
    refused(api, post(host_description=..., host_organization_code=dissolved_org(api)), "organization_dissolved")
    refused(api, post(registration_no=make_registration_no("320102", date(1999, 1, 3), 997)), "out_of_jurisdiction")
    travelling = full_member(api)
    issued(api, travelling)
    refused(api, lambda: clerk.post("/v1/certificates", _certificate_body(travelling)), "member_not_held")
    assert_problem(clerk.get("/v1/certificates/XW-C1-T2026-99999"), "out_of_jurisdiction")
    refused(api, lambda: clerk.post("/v1/certificates/XW-C1-T2026-99999/return", {}), "out_of_jurisdiction")


# --- a filed month ----------------------------------------------------------------------------


def test_a_mobile_certificate_cannot_be_back_dated_into_the_hosts_filed_month(api: Api) -> None:
    host = fresh_org(api, "XW-C2")
    number = full_member(api)
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": host,
                                                                        "month": "2026-09"}))
    published = api.client("auditor").get("/v1/reports/monthly", organization_code=host, month="2026-09").json()
    refused(api, lambda: api.client("xw_clerk").post("/v1/certificates", {
        "registration_no": number, "kind": "mobile", "host_organization_code": host, "purpose": "外出务工",
        "valid_until": "2027-09-01", "on": "2026-09-15"}), "period_closed")
    now = api.client("auditor").get("/v1/reports/monthly", organization_code=host, month="2026-09").json()
    assert now["hosted"] == published["hosted"]
