"""The transfers router (api/routes/transfers.py): a transfer from request to receipt, each
step's refusals, lists, and receipts against filed months on both sides.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from domain.identifiers import make_registration_no
from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    dissolved_org,
    fresh_org,
    full_member,
    issued,
    probationary_member,
    received,
    recorded,
    refused,
    requested,
)
from tests.conftest import TODAY

# --- transfers --------------------------------------------------------------------------------


def transfer_body(number: str, **overrides: Any) -> dict[str, Any]:
    body = {"registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change",
            "basis": "household", "on": "2026-10-01"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def test_a_transfer_from_request_to_receipt(api: Api) -> None:
    xw, qh = api.client("xw_clerk"), api.client("qh_clerk")
    number = full_member(api)
    created = recorded(api, xw.post("/v1/transfers", transfer_body(number, reason="retirement_relocation")), 201)
    transfer_id = created["transfer_id"]
    assert created["status"] == "requested"
    assert created["registration_no"] == number
    assert created["from_organization_code"] == "XW-C1-B1"
    assert created["to_organization_code"] == "QH-C1"
    assert created["reason"] == "retirement_relocation"
    assert created["requested_on"] == "2026-10-01"
    assert api.client("xw_clerk").get(f"/v1/members/{number}").json()["place"]["kind"] == "held"

    letter = recorded(api, xw.post(f"/v1/transfers/{transfer_id}/issue", {"valid_days": 45, "on": "2026-10-02"}))
    assert letter["status"] == "issued"
    assert isinstance(letter["letter_no"], str) and letter["letter_no"]
    assert letter["valid_until"] == "2026-11-16"
    assert letter["issued_on"] == "2026-10-02"
    assert letter["route"] == "cross_county"  # Xuanwu to Qinhuai, both in Nanjing
    assert letter["paper_stops"] == 6 and letter["network_stops"] == 2
    member = xw.get(f"/v1/members/{number}").json()
    assert member["place"] == {"kind": "in_transit", "organization_code": "XW-C1-B1", "transfer_id": transfer_id}
    # the receiving side sees the letter (by number) and the member in transit
    found = qh.get("/v1/transfers", letter_no=letter["letter_no"], organization_code="QH-C1").json()
    assert [t["transfer_id"] for t in found["data"]] == [transfer_id] and found["count"] == 1
    assert qh.get(f"/v1/members/{number}").status_code == 200

    got = recorded(api, qh.post(f"/v1/transfers/{transfer_id}/receive",
                                {"organization_code": "QH-C1-B1", "on": "2026-10-20"}))
    assert got["status"] == "received"
    assert got["received_in_code"] == "QH-C1-B1"
    assert got["received_on"] == "2026-10-20"
    member = qh.get(f"/v1/members/{number}").json()
    assert member["place"] == {"kind": "held", "organization_code": "QH-C1-B1", "transfer_id": None}

    back = recorded(api, qh.post(f"/v1/transfers/{transfer_id}/return-receipt", {"on": "2026-10-25"}))
    assert back["status"] == "receipt_returned"
    assert back["receipt_returned_on"] == "2026-10-25"
    read = xw.get(f"/v1/transfers/{transfer_id}").json()
    for key in ("transfer_id", "letter_no", "registration_no", "from_organization_code", "to_organization_code",
                "received_in_code", "status", "reason", "route", "paper_stops", "network_stops", "requested_on",
                "issued_on", "valid_until", "received_on", "receipt_returned_on"):
        assert read[key] == back[key], key
    refused(api, lambda: qh.post(f"/v1/transfers/{transfer_id}/return-receipt", {}), "invalid_transition")


def test_transfer_routes(api: Api) -> None:
    clerk = api.client("xw_clerk")
    routes = {}
    for target in ("XW-C1", "XW-C2", "QH-C1", "SC-C1"):
        number = full_member(api)
        transfer_id = requested(api, number, to=target)
        routes[target] = recorded(api, clerk.post(f"/v1/transfers/{transfer_id}/issue", {}))["route"]
    assert routes == {"XW-C1": "within_committee", "XW-C2": "within_county", "QH-C1": "cross_county",
                      "SC-C1": "cross_province"}


def _transfer_case(api: Api, case: str) -> dict[str, Any]:
    number = full_member(api)
    if case == "unknown_member":
        return transfer_body(make_registration_no("320102", date(1999, 1, 2), 998))
    if case == "unknown_target":
        return transfer_body(number, to_organization_code="NOPE")
    if case == "in_transit":
        issued(api, number)
    elif case == "open_transfer":
        requested(api, number)
    elif case == "same_organization":
        return transfer_body(number, to_organization_code="XW-C1-B1")
    elif case == "dissolved_target":
        return transfer_body(number, to_organization_code=dissolved_org(api, "QH", "QH-C1"))
    elif case == "department_target":
        return transfer_body(number, to_organization_code="QH")
    elif case == "workplace_without_contract":
        return transfer_body(number, basis="workplace")
    elif case == "residence_with_contract":
        return transfer_body(number, basis="residence", evidence={"kind": "labor_contract", "reference": "HT-1"})
    elif case == "bad_reason":
        return transfer_body(number, reason="vacation")
    elif case == "bad_evidence_kind":
        return transfer_body(number, basis="workplace", evidence={"kind": "passport", "reference": "P1"})
    elif case == "evidence_unknown_field":
        return transfer_body(number, basis="workplace",
                             evidence={"kind": "labor_contract", "reference": "HT-1", "pages": 3})
    elif case == "missing_basis":
        return transfer_body(number, basis=...)
    elif case == "future":
        return transfer_body(number, on="2026-11-21")
    elif case == "before_import":
        return transfer_body(number, on="2020-05-01")
    elif case == "probation_ending":  # probation ends 2027-01-10: 51 days left
        return transfer_body(probationary_member(api, date(2026, 1, 10)), on=TODAY.isoformat())
    elif case == "performance_record":  # 264 days into probation, 101 left
        return transfer_body(probationary_member(api, date(2026, 3, 1)), on=TODAY.isoformat())
    elif case == "confirmation_due":
        return transfer_body(probationary_member(api, date(2025, 6, 1)), on=TODAY.isoformat())
    else:
        raise AssertionError(case)
    return transfer_body(number)


@pytest.mark.parametrize(("case", "code"), [
    ("unknown_member", "out_of_jurisdiction"),
    ("unknown_target", "not_found"),
    ("in_transit", "member_not_held"),
    ("open_transfer", "transfer_open"),
    ("same_organization", "same_organization"),
    ("dissolved_target", "organization_dissolved"),
    ("department_target", "cannot_hold_members"),
    ("workplace_without_contract", "evidence_required"),
    ("residence_with_contract", "evidence_required"),
    ("bad_reason", "validation_error"),
    ("bad_evidence_kind", "validation_error"),
    ("evidence_unknown_field", "validation_error"),
    ("missing_basis", "validation_error"),
    ("future", "future_date"),
    ("before_import", "before_last_event"),
    ("probation_ending", "probation_ending"),
    ("performance_record", "performance_record_required"),
    ("confirmation_due", "confirmation_due"),
])
def test_transfer_request_refusals(api: Api, case: str, code: str) -> None:
    body = _transfer_case(api, case)
    refused(api, lambda: api.client("xw_clerk").post("/v1/transfers", body), code)


def test_probation_rules_give_way_to_their_remedies(api: Api) -> None:
    clerk = api.client("xw_clerk")
    today = TODAY.isoformat()
    ending = probationary_member(api, date(2026, 1, 10))
    recorded(api, clerk.post("/v1/transfers", transfer_body(
        ending, on=today, probation_override_reason="随配偶工作调动", performance_record="考察良好")), 201)
    long_in = probationary_member(api, date(2026, 3, 1))
    recorded(api, clerk.post("/v1/transfers", transfer_body(long_in, on=today, performance_record="表现良好")), 201)
    early = probationary_member(api, date(2026, 9, 1))  # 80 days in: no record needed
    recorded(api, clerk.post("/v1/transfers", transfer_body(early, on=today)), 201)
    worker = full_member(api)
    recorded(api, clerk.post("/v1/transfers", transfer_body(
        worker, basis="workplace", evidence={"kind": "labor_contract", "reference": "劳动合同2026-001"})), 201)
    tenant = full_member(api)
    recorded(api, clerk.post("/v1/transfers", transfer_body(
        tenant, basis="residence", evidence={"kind": "lease", "reference": "租赁合同-77"})), 201)


def test_issue_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    transfer_id = requested(api, full_member(api))
    issue = f"/v1/transfers/{transfer_id}/issue"
    refused(api, lambda: clerk.post(issue, {"valid_days": 91}), "validity_too_long")
    refused(api, lambda: clerk.post(issue, {"valid_days": 0}), "validation_error")
    refused(api, lambda: clerk.post(issue, {"valid_days": "30"}), "validation_error")
    refused(api, lambda: clerk.post(issue, {"valid_days": 30.5}), "validation_error")
    refused(api, lambda: clerk.post(issue, {"on": "2026-09-30"}), "before_last_event")
    refused(api, lambda: clerk.post(issue, {"on": "2026-11-21"}), "future_date")
    refused(api, lambda: clerk.post(f"/v1/transfers/{uuid.uuid4()}/issue", {}), "not_found")
    refused(api, lambda: clerk.post("/v1/transfers/not-a-transfer/issue", {}), "not_found")
    recorded(api, clerk.post(issue, {"valid_days": 90}))
    refused(api, lambda: clerk.post(issue, {}), "invalid_transition")
    target = fresh_org(api, "QH-C1")
    gone = requested(api, full_member(api), to=target)
    api.ledger.dissolve_organization(target, "QH-C1-B1", on=date(2026, 10, 2))
    refused(api, lambda: clerk.post(f"/v1/transfers/{gone}/issue", {}), "organization_dissolved")


def test_a_letter_is_not_issued_once_probation_has_ended(api: Api) -> None:
    number = probationary_member(api, date(2025, 11, 1))  # probation ends 2026-11-01
    transfer_id = requested(api, number, on=date(2026, 5, 1), performance_record="表现良好",
                            probation_override_reason="随军调动")
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/issue", {}), "confirmation_due")
    recorded(api, api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/issue", {"on": "2026-10-31"}))


def test_decline_closes_a_request(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    transfer_id = requested(api, number)
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/decline", {}), "validation_error")
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/decline", {"reason": ""}), "validation_error")
    body = recorded(api, clerk.post(f"/v1/transfers/{transfer_id}/decline", {"reason": "材料不全"}))
    assert body["status"] == "declined"
    assert clerk.get(f"/v1/members/{number}").json()["place"] == {
        "kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/decline", {"reason": "again"}),
            "invalid_transition")
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/issue", {}), "invalid_transition")
    recorded(api, clerk.post("/v1/transfers", transfer_body(number, on=TODAY.isoformat())), 201)  # may ask again
    letter = issued(api, full_member(api))
    refused(api, lambda: clerk.post(f"/v1/transfers/{letter}/decline", {"reason": "late"}), "invalid_transition")


def test_receive_refusals(api: Api) -> None:
    qh = api.client("qh_clerk")
    transfer_id = issued(api, full_member(api), on=date(2026, 11, 1))
    receive = f"/v1/transfers/{transfer_id}/receive"
    refused(api, lambda: qh.post(receive, {"organization_code": "XW-C2-B1"}), "not_in_target_subtree")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1"}), "cannot_hold_members")
    refused(api, lambda: qh.post(receive, {"organization_code": "NOPE"}), "not_found")
    dissolved = dissolved_org(api, "QH-C1", "QH-C1-B1")
    refused(api, lambda: qh.post(receive, {"organization_code": dissolved}), "organization_dissolved")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1", "on": "2026-10-31"}),
            "before_last_event")
    refused(api, lambda: qh.post(receive, {}), "validation_error")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1", "extra": 1}), "validation_error")
    recorded(api, qh.post(receive, {"organization_code": "QH-C1-B1"}))
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1"}), "invalid_transition")
    not_issued = requested(api, full_member(api))
    refused(api, lambda: qh.post(f"/v1/transfers/{not_issued}/receive", {"organization_code": "QH-C1-B1"}),
            "invalid_transition")
    refused(api, lambda: qh.post(f"/v1/transfers/{not_issued}/return-receipt", {}), "invalid_transition")


def test_receive_into_the_sending_organization_is_refused(api: Api) -> None:
    transfer_id = issued(api, full_member(api), to="XW-C1")  # target XW-C1 holds the sender XW-C1-B1
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                                      {"organization_code": "XW-C1-B1"}), "same_organization")
    recorded(api, api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                              {"organization_code": "XW-C1-B2", "on": "2026-10-05"}))


def test_an_expired_letter_needs_a_late_certificate(api: Api) -> None:
    qh = api.client("qh_clerk")
    transfer_id = issued(api, full_member(api), on=date(2026, 9, 1))  # valid until 2026-10-01
    receive = f"/v1/transfers/{transfer_id}/receive"
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1"}), "letter_expired")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1", "late_certificate": "  "}),
            "letter_expired")
    body = recorded(api, qh.post(receive, {"organization_code": "QH-C1-B1", "late_certificate": "因病住院证明"}))
    assert body["status"] == "received"
    assert body.get("on_time") in (False, None)
    on_time = issued(api, full_member(api), on=date(2026, 9, 1))
    body = recorded(api, qh.post(f"/v1/transfers/{on_time}/receive",
                                 {"organization_code": "QH-C1-B1", "on": "2026-10-01"}))  # the last valid day
    assert body["status"] == "received"


def test_reject_and_cancel_bring_the_member_home(api: Api) -> None:
    xw, qh = api.client("xw_clerk"), api.client("qh_clerk")
    for action, client, status in (("reject", qh, "rejected"), ("cancel", xw, "cancelled")):
        number = full_member(api)
        transfer_id = issued(api, number)
        refused(api, lambda transfer_id=transfer_id, client=client, action=action: client.post(
            f"/v1/transfers/{transfer_id}/{action}", {}), "validation_error")
        body = recorded(api, client.post(f"/v1/transfers/{transfer_id}/{action}", {"reason": "不符合条件"}))
        assert body["status"] == status
        member = xw.get(f"/v1/members/{number}").json()
        assert member["place"] == {"kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
        refused(api, lambda transfer_id=transfer_id, client=client, action=action: client.post(
            f"/v1/transfers/{transfer_id}/{action}", {"reason": "again"}), "invalid_transition")
        refused(api, lambda transfer_id=transfer_id: qh.post(f"/v1/transfers/{transfer_id}/receive",
                                                             {"organization_code": "QH-C1-B1"}), "invalid_transition")
        recorded(api, xw.post("/v1/transfers", transfer_body(number, on=TODAY.isoformat())), 201)  # anew
    not_issued = requested(api, full_member(api))
    refused(api, lambda: qh.post(f"/v1/transfers/{not_issued}/reject", {"reason": "x"}), "invalid_transition")
    refused(api, lambda: xw.post(f"/v1/transfers/{not_issued}/cancel", {"reason": "x"}), "invalid_transition")
    done = received(api, full_member(api))
    refused(api, lambda: xw.post(f"/v1/transfers/{done}/cancel", {"reason": "x"}), "invalid_transition")
    refused(api, lambda: qh.post(f"/v1/transfers/{done}/reject", {"reason": "x"}), "invalid_transition")


def test_extend_a_letter_within_90_days(api: Api) -> None:
    clerk = api.client("xw_clerk")
    transfer_id = issued(api, full_member(api), on=date(2026, 9, 1))  # valid until 2026-10-01
    extend = f"/v1/transfers/{transfer_id}/extend"
    refused(api, lambda: clerk.post(extend, {"valid_until": "2026-12-01"}), "validity_too_long")  # day 91
    refused(api, lambda: clerk.post(extend, {"valid_until": "2026-10-01"}), "validation_error")  # not later
    refused(api, lambda: clerk.post(extend, {"valid_until": "2026-10-1"}), "validation_error")
    refused(api, lambda: clerk.post(extend, {}), "validation_error")
    body = recorded(api, clerk.post(extend, {"valid_until": "2026-11-30"}))  # day 90
    assert body["valid_until"] == "2026-11-30"
    assert body["status"] == "issued"
    body = recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                                     {"organization_code": "QH-C1-B1"}))
    assert body["status"] == "received"  # on time again: no late certificate needed
    not_issued = requested(api, full_member(api))
    refused(api, lambda: clerk.post(f"/v1/transfers/{not_issued}/extend", {"valid_until": "2026-11-30"}),
            "invalid_transition")


def test_get_unknown_transfer_is_404(api: Api) -> None:
    assert_problem(api.client("admin").get(f"/v1/transfers/{uuid.uuid4()}"), "not_found")
    assert_problem(api.client("admin").get("/v1/transfers/not-a-uuid"), "not_found")


def test_transfer_list_filters_and_pages(api: Api) -> None:
    branch = fresh_org(api, "XW-C1")
    ids = [issued(api, full_member(api, branch)) for _ in range(3)]
    pending = requested(api, full_member(api, branch))
    clerk = api.client("xw_clerk")
    everything = clerk.get("/v1/transfers", organization_code=branch).json()
    assert everything["count"] == 4
    assert {t["transfer_id"] for t in everything["data"]} == {*ids, pending}
    only_issued = clerk.get("/v1/transfers", organization_code=branch, status="issued").json()
    assert only_issued["count"] == 3 and {t["status"] for t in only_issued["data"]} == {"issued"}
    page = clerk.get("/v1/transfers", organization_code=branch, limit=3, offset=0).json()
    rest = clerk.get("/v1/transfers", organization_code=branch, limit=3, offset=3).json()
    assert page["count"] == rest["count"] == 4
    assert len(page["data"]) == 3 and len(rest["data"]) == 1
    assert {t["transfer_id"] for t in page["data"] + rest["data"]} == {*ids, pending}
    assert_problem(clerk.get("/v1/transfers", limit=0), "validation_error")
    assert_problem(clerk.get("/v1/transfers", limit=1001), "validation_error")
    assert_problem(clerk.get("/v1/transfers", organization_code="NOPE"), "not_found")
    assert_problem(clerk.get("/v1/transfers", status="isued"), "validation_error")  # a typo: not an empty list
    number = everything["data"][0]["registration_no"]
    by_member = clerk.get("/v1/transfers", organization_code=branch, registration_no=f" {number.lower()}").json()
    assert [t["registration_no"] for t in by_member["data"]] == [number]


# --- filed months on both sides ---------------------------------------------------------------


def test_a_receipt_cannot_be_back_dated_into_the_receivers_filed_month(api: Api) -> None:
    into = fresh_org(api, "QH-C1")
    transfer_id = issued(api, full_member(api), to=into, on=date(2026, 8, 1))
    api.ledger.receive_member(transfer_id, into, on=date(2026, 8, 5))
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": into,
                                                                        "month": "2026-09"}))
    published = api.client("auditor").get("/v1/reports/monthly", organization_code=into, month="2026-09").json()
    refused(api, lambda: api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/return-receipt",
                                                     {"on": "2026-09-10"}), "period_closed")
    now = api.client("auditor").get("/v1/reports/monthly", organization_code=into, month="2026-09").json()
    assert now["receipts_returned"] == published["receipts_returned"]


def test_a_receipt_back_dated_into_the_senders_filed_month_is_refused(api: Api) -> None:
    home = fresh_org(api, "XW-C1")
    transfer_id = issued(api, full_member(api, home), on=date(2026, 8, 1))
    api.ledger.receive_member(transfer_id, "QH-C1-B1", on=date(2026, 8, 5))
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": home,
                                                                        "month": "2026-09"}))
    refused(api, lambda: api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/return-receipt",
                                                     {"on": "2026-09-10"}), "period_closed")
    recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/return-receipt", {"on": "2026-10-01"}))


def test_receiving_into_a_filed_month_of_the_receiver_is_refused(api: Api) -> None:
    into = fresh_org(api, "QH-C1")
    transfer_id = issued(api, full_member(api), to="QH-C1", on=date(2026, 9, 1))
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": into,
                                                                        "month": "2026-09"}))
    refused(api, lambda: api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                                     {"organization_code": into, "on": "2026-09-20"}), "period_closed")
    recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                              {"organization_code": "QH-C1-B1", "on": "2026-09-20"}))
