"""First-responder cases through the API (shared/API.md, "First-responder cases"), a
member's flags once each with `bounced`, and the overdue list's new kinds."""

from __future__ import annotations

from datetime import date, timedelta

from tests.api.conftest import Api, member_body
from tests.conftest import TODAY

OPENED = (TODAY - timedelta(days=40)).isoformat()


def test_a_case_is_opened_listed_with_days_open_and_closed(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = clerk.post("/v1/members", member_body(1, org="XW-C1-B1")).json()["registration_no"]
    answer = clerk.post("/v1/cases", {"organization_code": "XW-C1", "name": "刘洋", "registration_no": number,
                                      "request": "毕业后落实组织关系", "on": OPENED})
    assert answer.status_code == 201, answer.text
    case = answer.json()
    assert {k: case[k] for k in ("organization_code", "status", "opened_on", "registration_no", "days_open")} == {
        "organization_code": "XW-C1", "status": "open", "opened_on": OPENED, "registration_no": number,
        "days_open": 40}
    case_id = case["case_id"]
    listed = clerk.get("/v1/cases", organization_code="XW", status="open", min_position=case["position"])
    assert listed.status_code == 403  # XW is above the clerk's committee
    listed = clerk.get("/v1/cases", status="open", min_position=case["position"]).json()
    assert listed["count"] == 1
    assert {k: listed["data"][0][k] for k in ("case_id", "name", "days_open", "status", "outcome")} == {
        "case_id": case_id, "name": "刘洋", "days_open": 40, "status": "open", "outcome": None}
    assert api.client("admin").get("/v1/cases", organization_code="XW-C1-B1").json()["count"] == 0
    overdue = clerk.get("/v1/organizations/XW-C1/overdue", kind="open_case").json()
    assert [(r["kind"], r["reference"], r["days_overdue"], r["responsible_organization_code"])
            for r in overdue["data"]] == [("open_case", case_id, 10, "XW-C1")]
    assert "open_case" in clerk.get(f"/v1/members/{number}").json()["flags"]

    # placed only once held with org life since the case was opened
    refused = clerk.post(f"/v1/cases/{case_id}/close", {"outcome": "placed"})
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition")
    assert clerk.post(f"/v1/members/{number}/org-life", {"organization_code": "XW-C1-B1"}).status_code == 200
    closed = clerk.post(f"/v1/cases/{case_id}/close", {"outcome": "placed", "note": "已参加组织生活"})
    assert closed.status_code == 200, closed.text
    assert {k: closed.json()[k] for k in ("status", "outcome", "closed_on", "days_open")} == {
        "status": "closed", "outcome": "placed", "closed_on": TODAY.isoformat(), "days_open": 40}
    again = clerk.post(f"/v1/cases/{case_id}/close", {"outcome": "withdrawn"})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert clerk.get(f"/v1/cases/{case_id}").json()["outcome"] == "placed"
    assert clerk.get("/v1/cases", status="closed").json()["count"] == 1


def test_case_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    body = {"organization_code": "XW-C1", "name": "王某", "request": "找组织"}
    case_id = clerk.post("/v1/cases", body).json()["case_id"]
    for path, payload, status, code in (
        ("/v1/cases", {**body, "organization_code": "QH-C1"}, 403, "out_of_jurisdiction"),
        ("/v1/cases", {**body, "name": ""}, 422, "validation_error"),
        ("/v1/cases", {**body, "request": " "}, 422, "validation_error"),
        ("/v1/cases", {**body, "registration_no": "32010220150701001"}, 422, "invalid_registration_no"),
        ("/v1/cases", {**body, "on": (TODAY + timedelta(days=1)).isoformat()}, 422, "future_date"),
        (f"/v1/cases/{case_id}/close", {"outcome": "lost"}, 422, "validation_error"),
        ("/v1/cases/0d5b6a8e-0000-4000-8000-000000000000/close", {"outcome": "withdrawn"}, 404, "not_found"),
        ("/v1/cases/not-a-case/close", {"outcome": "withdrawn"}, 404, "not_found"),
    ):
        before = api.ledger.max_position()
        answer = clerk.post(path, payload)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (path, payload, answer.text)
        assert api.ledger.max_position() == before
    for label, status, code in (("qh_clerk", 403, "out_of_jurisdiction"), ("xw_auditor", 403, "forbidden")):
        answer = api.client(label).post(f"/v1/cases/{case_id}/close", {"outcome": "withdrawn"})
        assert (answer.status_code, answer.json()["code"]) == (status, code), label
        assert api.client(label).get(f"/v1/cases/{case_id}").status_code == (403 if label == "qh_clerk" else 200)
    assert api.client("qh_clerk").get("/v1/cases", organization_code="XW-C1").status_code == 403
    assert api.client("qh_clerk").get("/v1/cases", status="pending").status_code == 422


def test_a_members_flags_are_listed_once_and_name_a_bounced_member(api: Api) -> None:
    clerk, receiving = api.client("xw_clerk"), api.client("qh_clerk")
    number = clerk.post("/v1/members", member_body(1, org="XW-C1-B1")).json()["registration_no"]

    def send(on: date) -> str:
        body = {"registration_no": number, "to_organization_code": "QH-C1-B1", "reason": "job_change",
                "basis": "household", "on": on.isoformat()}
        transfer_id: str = clerk.post("/v1/transfers", body).json()["transfer_id"]
        return transfer_id

    first = send(date(2026, 9, 1))
    assert clerk.post(f"/v1/transfers/{first}/decline", {"reason": "材料不全", "on": "2026-09-02"}).status_code == 200
    assert "bounced" not in clerk.get(f"/v1/members/{number}").json()["flags"]
    second = send(date(2026, 9, 3))
    assert clerk.post(f"/v1/transfers/{second}/issue", {"on": "2026-09-03"}).status_code == 200
    assert receiving.post(f"/v1/transfers/{second}/reject", {"reason": "不符合接收条件", "on": "2026-09-05"}
                          ).status_code == 200
    assert "bounced" in clerk.get(f"/v1/members/{number}").json()["flags"]
    third = send(date(2026, 9, 6))
    assert clerk.post(f"/v1/transfers/{third}/issue", {"on": "2026-09-06"}).status_code == 200
    flags = clerk.get(f"/v1/members/{number}").json()["flags"]  # the letter is overdue since 10-06
    assert sorted(flags) == ["bounced", "overdue_letter"]
