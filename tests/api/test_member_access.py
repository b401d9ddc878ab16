"""Members' own access (self-service, seed 002): the token a clerk issues, what it opens
(/v1/me and nothing else), a member's own transfer request taken through by both sides,
and a mobile member's regular reports read by the home side. On both stores."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from domain.member_access import access_id
from tests.api.conftest import Api
from tests.api.helpers import app_routes, assert_problem, recorded, refused
from tests.conftest import TODAY
from tests.factories import admit

REQUEST = {"to_organization_code": "QH-C1", "reason": "job_change", "basis": "household"}


def member_with_token(api: Api, n: int = 1, org: str = "XW-C1-B1") -> tuple[str, str]:
    number = admit(api.ledger, n, org)
    body = recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/access"), 201)
    assert body["registration_no"] == number
    return number, body["token"]


def mobile_certificate(api: Api, number: str) -> str:
    found = api.ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 6, 30),
                                         host_description="深圳某公司")
    assert found.certificate_no is not None
    return found.certificate_no


# --- the story ------------------------------------------------------------------------------------


def test_a_member_requests_its_own_transfer_and_sees_the_letter_number(api: Api) -> None:
    """Seed 002 (党员自转移): the member asks, the sending committee issues, the receiving
    committee receives; the member follows it with its own token."""
    number, token = member_with_token(api)
    member, sender, receiver = api.client(None).as_(token), api.client("xw_clerk"), api.client("qh_clerk")

    me = member.get("/v1/me").json()
    assert (me["registration_no"], me["place"]["kind"], me["place"]["organization_code"]) == (
        number, "held", "XW-C1-B1")
    assert me["organization_name"] == "第一党支部"
    assert me["transfer"] is None and me["certificates"] == []

    asked = recorded(api, member.post("/v1/me/transfer-requests", REQUEST), 201)
    assert (asked["status"], asked["registration_no"], asked["from_organization_code"]) == (
        "requested", number, "XW-C1-B1")
    assert member.get("/v1/me").json()["transfer"]["letter_no"] is None

    issued = recorded(api, sender.post(f"/v1/transfers/{asked['transfer_id']}/issue", {}))
    mine = member.get("/v1/me").json()
    assert mine["place"]["kind"] == "in_transit"
    assert mine["transfer"]["letter_no"] == issued["letter_no"] is not None
    assert mine["transfer"]["valid_until"] == issued["valid_until"]
    assert mine["transfer"]["to_organization_name"] == "秦淮街道党工委"

    recorded(api, receiver.post(f"/v1/transfers/{asked['transfer_id']}/receive", {"organization_code": "QH-C1-B1"}))
    after = member.get("/v1/me").json()
    assert (after["place"]["kind"], after["place"]["organization_code"], after["transfer"]) == (
        "held", "QH-C1-B1", None)

    history = member.get("/v1/me/history").json()["data"]
    asked_event = next(e for e in history if e["type"] == "Transfer.Requested")
    assert asked_event["actor"] == f"member:{number}"
    assert {"Transfer.MemberReceived", "Member.Received"} <= {e["type"] for e in history}


def test_a_member_request_is_declined_like_any_request(api: Api) -> None:
    _, token = member_with_token(api)
    asked = recorded(api, api.client(None).as_(token).post("/v1/me/transfer-requests", REQUEST), 201)
    recorded(api, api.client("xw_clerk").post(f"/v1/transfers/{asked['transfer_id']}/decline",
                                              {"reason": "材料不全"}))
    assert api.ledger.transfer(asked["transfer_id"]).status == "declined"
    assert api.client(None).as_(token).get("/v1/me").json()["transfer"] is None


def test_a_members_request_is_judged_by_the_rules_of_any_request(api: Api) -> None:
    _, token = member_with_token(api)
    member = api.client(None).as_(token)
    refused(api, lambda: member.post("/v1/me/transfer-requests", {**REQUEST, "to_organization_code": "XW-C1-B1"}),
            "same_organization")
    refused(api, lambda: member.post("/v1/me/transfer-requests", {**REQUEST, "basis": "workplace"}),
            "evidence_required")
    refused(api, lambda: member.post("/v1/me/transfer-requests", {**REQUEST, "registration_no": "x"}),
            "validation_error")
    recorded(api, member.post("/v1/me/transfer-requests", REQUEST), 201)
    refused(api, lambda: member.post("/v1/me/transfer-requests", REQUEST), "transfer_open")


# --- the token ------------------------------------------------------------------------------------


def test_a_new_token_replaces_the_earlier_one_and_a_revoked_one_is_401(api: Api) -> None:
    number, first = member_with_token(api)
    clerk = api.client("xw_clerk")
    second = recorded(api, clerk.post(f"/v1/members/{number}/access"), 201)["token"]
    assert second != first
    assert_problem(api.client(None).as_(first).get("/v1/me"), "unauthenticated")
    assert api.client(None).as_(second).get("/v1/me").status_code == 200

    revoked = recorded(api, clerk.post(f"/v1/members/{number}/access/revoke"))
    assert revoked == {"registration_no": number, "active": False, "position": revoked["position"]}
    assert_problem(api.client(None).as_(second).get("/v1/me"), "unauthenticated")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/access/revoke"), "invalid_transition")


def test_the_token_is_stored_only_as_a_digest(api: Api) -> None:
    number, token = member_with_token(api)
    stored = [str(vars(e)) for e in api.ledger.aggregate_events(access_id(number))]
    assert stored and not any(token in text or token.split(".", 1)[1] in text for text in stored)


@pytest.mark.parametrize(("label", "code"), [("qh_clerk", "out_of_jurisdiction"), ("xw_auditor", "forbidden"),
                                             ("sc_clerk", "out_of_jurisdiction")])
def test_only_the_members_own_side_issues_or_revokes(api: Api, label: str, code: str) -> None:
    number, token = member_with_token(api)
    other = api.client(label)
    refused(api, lambda: other.post(f"/v1/members/{number}/access"), code)
    refused(api, lambda: other.post(f"/v1/members/{number}/access/revoke"), code)
    assert api.client(None).as_(token).get("/v1/me").status_code == 200


def test_an_unknown_member_is_refused_like_one_outside_below_a_root(api: Api) -> None:
    unknown = "320102201501010998"
    known = admit(api.ledger, 7, "QH-C1-B1")
    clerk = api.client("xw_clerk")
    outside = refused(api, lambda: clerk.post(f"/v1/members/{known}/access"), "out_of_jurisdiction")
    missing = refused(api, lambda: clerk.post(f"/v1/members/{unknown}/access"), "out_of_jurisdiction")
    assert outside["detail"].replace(known, "N") == missing["detail"].replace(unknown, "N")
    refused(api, lambda: api.client("admin").post(f"/v1/members/{unknown}/access"), "not_found")


def test_after_a_transfer_the_new_side_holds_the_token(api: Api) -> None:
    number, token = member_with_token(api)
    asked = api.client(None).as_(token).post("/v1/me/transfer-requests", REQUEST).json()
    api.ledger.issue_letter(asked["transfer_id"])
    api.ledger.receive_member(asked["transfer_id"], "QH-C1-B1")
    assert api.client(None).as_(token).get("/v1/me").status_code == 200
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/access/revoke"), "out_of_jurisdiction")
    recorded(api, api.client("qh_clerk").post(f"/v1/members/{number}/access/revoke"))
    assert_problem(api.client(None).as_(token).get("/v1/me"), "unauthenticated")


@pytest.mark.parametrize("end", ["death", "leave"])
def test_a_gone_members_access_ends_with_the_membership(api: Api, end: str) -> None:
    """A member who died or left (expelled, withdrew, self-withdrawal) is no longer a member:
    its token stops working (401, as a revoked one) and no new one is issued."""
    number, token = member_with_token(api)
    clerk = api.client("xw_clerk")
    recorded(api, clerk.post(f"/v1/members/{number}/{end}", {"reason": "withdrew"} if end == "leave" else {}))
    assert_problem(api.client(None).as_(token).get("/v1/me"), "unauthenticated")
    assert_problem(api.client(None).as_(token).get("/v1/organizations/XW"), "unauthenticated")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/access"), "member_not_held")


# --- what a member's token opens ------------------------------------------------------------------


def fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_a_members_token_is_refused_on_every_other_route(api: Api) -> None:
    """Every operation of the OpenAPI document but /v1/me's answers 403 to a member's token,
    about the member itself and about another, and records nothing."""
    number, token = member_with_token(api, 1)
    other = admit(api.ledger, 2)
    transfer_id = api.ledger.request_transfer(other, "QH-C1", reason="job_change", basis="household").transfer_id
    assert transfer_id is not None
    certificate_no = mobile_certificate(api, other)
    member = api.client(None).as_(token)
    operations = [(method.upper(), path) for path, item in api.app.openapi()["paths"].items() for method in item]
    assert {op for op in operations if op[1].startswith("/v1")} == {
        op for op in app_routes(api.app.routes) if op[1].startswith("/v1")}
    others = [(m, p) for m, p in operations if p.startswith("/v1") and p != "/v1/me" and not p.startswith("/v1/me/")]
    assert len(others) == len(operations) - 4 and ("POST", "/v1/members/{registration_no}/access") in others
    for whose in (number, other):
        values = {"registration_no": whose, "code": "XW-C1-B1", "operator_id": api.operator_ids["xw_clerk"],
                  "transfer_id": transfer_id, "certificate_no": certificate_no,
                  "case_id": str(uuid.uuid4())}
        for method, path in others:
            before = api.ledger.max_position()
            url = fill(path, values)
            assert "{" not in url, url
            answer = member.get(url) if method == "GET" else member.post(url, {})
            assert answer.status_code == 403, (method, url, answer.status_code, answer.text)
            assert_problem(answer, "forbidden")
            assert api.ledger.max_position() == before, (method, url)
            with_key = member.post(url, {}, key="k-" + url) if method == "POST" else answer
            assert with_key.status_code == 403, (method, url, with_key.text)
    # nor does it open a method /v1/me's paths don't have, or a path the API doesn't have
    # (404 and 405 stay so for anyone else)
    for method, url in (("GET", "/v1/me/reports"), ("POST", "/v1/me"), ("GET", "/v1/me/transfer-requests"),
                        ("GET", "/v1/nonexistent"), ("POST", "/v1/nonexistent")):
        answer = member.get(url) if method == "GET" else member.post(url, {})
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), (method, url, answer.text)
    assert api.client("admin").get("/v1/nonexistent").status_code == 404
    assert api.client("admin").post("/v1/me", {}).status_code == 405


def test_a_member_sees_only_itself(api: Api) -> None:
    number, token = member_with_token(api, 1)
    other, other_token = member_with_token(api, 2)
    mine, theirs = api.client(None).as_(token).get("/v1/me").json(), api.client(None).as_(other_token).get("/v1/me")
    assert mine["registration_no"] == number and theirs.json()["registration_no"] == other
    assert other not in api.client(None).as_(token).get("/v1/me/history").text
    assert_problem(api.client(None).as_(token).get(f"/v1/members/{other}"), "forbidden")


@pytest.mark.parametrize("label", ["admin", "xw_clerk", "auditor"])
def test_an_operators_token_does_not_open_a_members_pages(api: Api, label: str) -> None:
    for call in (lambda c: c.get("/v1/me"), lambda c: c.get("/v1/me/history"),
                 lambda c: c.post("/v1/me/transfer-requests", REQUEST),
                 lambda c: c.post("/v1/me/reports", {"text": "x"})):
        refused(api, lambda call=call: call(api.client(label)), "forbidden")  # type: ignore[misc]
    assert_problem(api.client(None).get("/v1/me"), "unauthenticated")
    assert_problem(api.client(None).as_("lmt_320102201501010998.x").get("/v1/me"), "unauthenticated")


def test_a_members_post_honours_its_idempotency_key(api: Api) -> None:
    _, token = member_with_token(api)
    member = api.client(None).as_(token)
    first = member.post("/v1/me/transfer-requests", REQUEST, key="ask-1")
    again = member.post("/v1/me/transfer-requests", REQUEST, key="ask-1")
    assert (first.status_code, again.status_code, again.json()) == (201, 201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"


# --- regular reports ------------------------------------------------------------------------------


def test_a_mobile_member_reports_home_and_the_home_side_reads_it(api: Api) -> None:
    number, token = member_with_token(api)
    member = api.client(None).as_(token)
    refused(api, lambda: member.post("/v1/me/reports", {"text": "本月参加网上党课两次。"}),
            "mobile_certificate_required")
    certificate_no = mobile_certificate(api, number)
    assert [c["certificate_no"] for c in member.get("/v1/me").json()["certificates"]] == [certificate_no]
    sent = recorded(api, member.post("/v1/me/reports", {"text": "本月参加网上党课两次。\n思想汇报见附件。"}), 201)
    assert (sent["sent_on"], sent["organization_code"], sent["certificate_no"]) == (
        TODAY.isoformat(), "XW-C1-B1", certificate_no)
    refused(api, lambda: member.post("/v1/me/reports", {"text": "  "}), "validation_error")
    refused(api, lambda: member.post("/v1/me/reports", {"text": "长" * 2001}), "validation_error")

    listed = api.client("xw_clerk").get(f"/v1/members/{number}/reports").json()
    assert listed["count"] == 1 and listed["data"][0]["text"] == "本月参加网上党课两次。\n思想汇报见附件。"
    assert api.client("b1_clerk").get(f"/v1/members/{number}/reports").json()["count"] == 1
    assert_problem(api.client("qh_clerk").get(f"/v1/members/{number}/reports"), "out_of_jurisdiction")

    api.ledger.return_certificate(certificate_no)
    assert member.get("/v1/me").json()["certificates"] == []
    refused(api, lambda: member.post("/v1/me/reports", {"text": "回来了"}), "mobile_certificate_required")


def test_reading_a_members_reports_is_logged_and_each_report_names_its_position(api: Api) -> None:
    """The reports are the member's own words: reading them is an access-log row (`reports`,
    whose record, who read), and each one carries the position its POST answered."""
    number, token = member_with_token(api)
    mobile_certificate(api, number)
    member = api.client(None).as_(token)
    sent = [recorded(api, member.post("/v1/me/reports", {"text": text}), 201) for text in ("第一次汇报", "第二次汇报")]
    auditor = api.client("auditor")
    before = auditor.get("/v1/audit/access", registration_no=number).json()["data"]
    listed = api.client("xw_clerk").get(f"/v1/members/{number}/reports").json()
    assert [(r["text"], r["position"]) for r in listed["data"]] == [
        ("第一次汇报", sent[0]["position"]), ("第二次汇报", sent[1]["position"])]
    rows = auditor.get("/v1/audit/access", registration_no=number).json()["data"][len(before):]
    assert [(r["action"], r["registration_no"], r["operator_id"], r["organization_code"]) for r in rows] == [
        ("reports", number, api.operator_ids["xw_clerk"], "XW-C1")]


def test_a_members_history_has_its_tokens_and_its_cases(api: Api) -> None:
    """DOMAIN §10, a member's full history: its tokens given and revoked (never their digests)
    and the first-responder cases linked to it (when opened, or only when closed), in order;
    its regular reports stay in their own list."""
    number, token = member_with_token(api)
    mobile_certificate(api, number)
    recorded(api, api.client(None).as_(token).post("/v1/me/reports", {"text": "汇报"}), 201)
    clerk = api.client("xw_clerk")
    recorded(api, clerk.post(f"/v1/members/{number}/access"), 201)
    recorded(api, clerk.post(f"/v1/members/{number}/access/revoke"))
    linked = recorded(api, clerk.post("/v1/cases", {"organization_code": "XW-C1", "name": "求助者",
                                                    "registration_no": number, "request": "接转组织关系"}), 201)
    later = recorded(api, clerk.post("/v1/cases", {"organization_code": "XW-C1", "name": "求助者",
                                                   "request": "找组织"}), 201)
    recorded(api, clerk.post(f"/v1/cases/{later['case_id']}/close", {"outcome": "withdrawn",
                                                                      "registration_no": number}))
    rows = clerk.get(f"/v1/members/{number}/history").json()["data"]
    kinds = [row["type"] for row in rows if row["type"].startswith(("MemberAccess.", "Case."))]
    assert kinds == ["MemberAccess.Opened", "MemberAccess.TokenIssued", "MemberAccess.TokenRevoked",
                     "Case.Opened", "Case.Closed"]
    assert [row["position"] for row in rows] == sorted(row["position"] for row in rows)
    assert not any("digest" in row["data"] for row in rows)
    opened = next(row for row in rows if row["type"] == "Case.Opened")
    assert opened["data"]["request"] == "接转组织关系" and opened["position"] == linked["position"]


def test_reports_list_only_what_went_to_the_readers_subtree(api: Api) -> None:
    number, token = member_with_token(api)
    mobile_certificate(api, number)
    recorded(api, api.client(None).as_(token).post("/v1/me/reports", {"text": "在玄武时的汇报"}), 201)
    api.ledger.return_certificate(api.ledger.open_certificates(number)[0].certificate_no)
    asked = api.client(None).as_(token).post("/v1/me/transfer-requests", REQUEST).json()
    api.ledger.issue_letter(asked["transfer_id"])
    api.ledger.receive_member(asked["transfer_id"], "QH-C1-B1")
    api.ledger.issue_certificate(number, kind="mobile", purpose="外出", valid_until=date(2027, 6, 30),
                                 host_description="某地")
    recorded(api, api.client(None).as_(token).post("/v1/me/reports", {"text": "在秦淮时的汇报"}), 201)
    texts: dict[str, Any] = {label: [r["text"] for r in api.client(label).get(
        f"/v1/members/{number}/reports").json()["data"]] for label in ("qh_clerk", "admin")}
    assert texts == {"qh_clerk": ["在秦淮时的汇报"], "admin": ["在玄武时的汇报", "在秦淮时的汇报"]}


def test_the_views_rebuilt_from_the_events_of_members_access_are_the_same(api: Api) -> None:
    """Tokens, reports and a member's own request in the log: a rebuild from the first event
    gives the views the inline engine wrote, and verify finds nothing different."""
    number, token = member_with_token(api)
    mobile_certificate(api, number)
    recorded(api, api.client(None).as_(token).post("/v1/me/reports", {"text": "汇报"}), 201)
    recorded(api, api.client(None).as_(token).post("/v1/me/transfer-requests", REQUEST), 201)
    recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/access"), 201)
    assert api.services.engine.verify()["ok"]
    api.services.engine.rebuild()
    assert api.services.engine.verify()["ok"]
    assert api.client("xw_clerk").get(f"/v1/members/{number}").json()["place"]["transfer_id"] is not None
