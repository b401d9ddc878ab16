from __future__ import annotations

from tests.api.conftest import Api, member_body


def test_a_transfer_through_http(api: Api) -> None:
    clerk = api.client("xw_clerk")
    created = clerk.post("/v1/members", member_body(1))
    assert created.status_code == 201, created.text
    number = created.json()["registration_no"]
    requested = clerk.post("/v1/transfers", {"registration_no": number, "to_organization_code": "QH-C1",
                                            "reason": "job_change", "basis": "household", "on": "2026-10-01"})
    assert requested.status_code == 201, requested.text
    transfer_id = requested.json()["transfer_id"]
    issued = clerk.post(f"/v1/transfers/{transfer_id}/issue", {"on": "2026-10-02"})
    assert issued.status_code == 200, issued.text
    assert issued.json()["route"] == "cross_county"
    received = api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                           {"organization_code": "QH-C1-B1", "on": "2026-10-05"})
    assert received.status_code == 200, received.text
    roster = api.client("qh_clerk").get("/v1/organizations/QH-C1/roster", subtree="true")
    assert [r["registration_no"] for r in roster.json()["data"]] == [number]
    refused = api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                          {"organization_code": "QH-C1-B1"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "invalid_transition"
    report = api.client("auditor").get("/v1/reports/monthly", organization_code="NJ", month="2026-10")
    assert report.json()["transferred_in_internal"] == 1
    assert api.client(None).get("/v1/organizations/JS").status_code == 401
