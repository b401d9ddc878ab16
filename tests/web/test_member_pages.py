"""The member's own pages (/web/me) on both stores: a session of its own, apart from the
clerks'; the record with the letter number; history; a transfer request and a regular
report through the forms, each through the Ledger; words from the one vocabulary."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from httpx import Response

from api.web.i18n import WORDS
from tests.api.conftest import Api
from tests.factories import admit
from tests.web.conftest import CSRF, NONCE, WebClient


class MemberClient:
    """A browser-like client signed in with a member's own token (or not signed in)."""

    def __init__(self, api: Api, token: str | None) -> None:
        self.client = TestClient(api.app, raise_server_exceptions=False, follow_redirects=False)
        self.csrf = ""
        if token is not None:
            signed = self.sign_in(token)
            assert signed.status_code == 303 and signed.headers["location"] == "/web/me/", signed.text
            self.csrf = CSRF.search(self.get("/web/me/").text).group(1)  # type: ignore[union-attr]

    def sign_in(self, token: str) -> Response:
        page = self.client.get("/web/me/sign-in")
        nonce = NONCE.search(page.text).group(1)  # type: ignore[union-attr]
        return self.client.post("/web/me/sign-in", data={"token": token, "nonce": nonce})

    def get(self, path: str) -> Response:
        return self.client.get(path)

    def post(self, path: str, data: dict[str, str]) -> Response:
        return self.client.post(path, data={**data, "csrf_token": self.csrf})


def zh(key: str) -> str:
    return WORDS[key][0]


def test_a_member_signs_in_requests_a_transfer_and_sees_the_letter_number(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    number = admit(api.ledger, 77, "XW-C1-B1", name="李流动")
    assert number is not None
    _, token = api.ledger.issue_member_access(number)
    member = MemberClient(api, token)

    record = member.get("/web/me/")
    assert record.status_code == 200 and "李流动" in record.text and number in record.text
    assert "第一党支部" in record.text and zh("me_no_transfer") in record.text

    asked = member.post("/web/me/transfer", {"to_organization_code": "QH-C1", "reason": "job_change",
                                             "basis": "household"})
    assert asked.status_code == 303 and asked.headers["location"].startswith("/web/me/?")
    transfer_id = api.ledger.member(number).transfer_id
    assert transfer_id is not None and api.ledger.transfer(transfer_id).status == "requested"
    assert zh("tstatus_requested") in member.get(asked.headers["location"]).text

    letter = api.ledger.issue_letter(transfer_id).letter_no
    assert letter is not None
    page = member.get("/web/me/").text
    assert re.search(rf'data-field="letter_no">{re.escape(letter)}<', page)
    assert "秦淮街道党工委" in page
    assert zh("me_transfer_open") in member.get("/web/me/transfer").text

    history = member.get("/web/me/history").text
    assert letter in history and "秦淮街道党工委" in history


def test_a_mobile_member_sends_a_regular_report_of_several_lines(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    number = scenario.local_member
    _, token = api.ledger.issue_member_access(number)
    member = MemberClient(api, token)
    assert zh("me_report_not_mobile") in member.get("/web/me/report").text
    refused = member.post("/web/me/report", {"report_text": "汇报"})
    assert refused.status_code == 409 and zh("err_mobile_certificate_required") in refused.text

    api.ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 6, 30),
                                 host_description="深圳某公司")
    form = member.get("/web/me/report").text
    assert 'name="report_text"' in form and zh("me_report_not_mobile") not in form
    assert "深圳某公司" in member.get("/web/me/").text  # where the member is hosted, as described
    sent = member.post("/web/me/report", {"report_text": "本月参加网上党课两次。\r\n按时交纳党费。"})
    assert sent.status_code == 303, sent.text
    listed = member.get(sent.headers["location"]).text
    assert "本月参加网上党课两次。" in listed and "按时交纳党费。" in listed
    assert [r.text for r in api.ledger.member_reports(number)] == ["本月参加网上党课两次。\n按时交纳党费。"]


def test_the_members_session_is_apart_from_the_clerks(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    _, token = api.ledger.issue_member_access(scenario.local_member)
    member = MemberClient(api, token)
    assert "ledger_session" not in member.client.cookies and "ledger_member_session" in member.client.cookies
    clerk_page = member.get("/web/")  # a member's session opens no clerk's page
    assert clerk_page.status_code == 303 and clerk_page.headers["location"].startswith("/web/sign-in")
    as_clerk = WebClient(api, None).sign_in(token)  # nor does a member's token sign in as a clerk
    assert as_clerk.status_code == 401

    clerk = WebClient(api, "xw_clerk")  # and a clerk's session opens none of the member's pages
    assert clerk.get("/web/me/").status_code == 303
    assert clerk.get("/web/me/").headers["location"] == "/web/me/sign-in"
    assert MemberClient(api, None).sign_in(api.tokens["xw_clerk"]).status_code == 401


def test_a_forged_or_stale_member_session_does_nothing(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    _, token = api.ledger.issue_member_access(scenario.local_member)
    member = MemberClient(api, token)
    before = api.ledger.max_position()
    forged = member.client.post("/web/me/transfer", data={"to_organization_code": "QH-C1", "reason": "job_change",
                                                          "basis": "household", "csrf_token": "0" * 64})
    assert forged.status_code == 403 and api.ledger.max_position() == before
    guessed = MemberClient(api, None).client.post("/web/me/sign-in", data={"token": token, "nonce": "guessed"})
    assert guessed.status_code == 403 and "ledger_member_session" not in guessed.headers.get("set-cookie", "")

    api.ledger.revoke_member_access(scenario.local_member)
    stale = member.get("/web/me/")
    assert stale.status_code == 303 and stale.headers["location"] == "/web/me/sign-in"
    out = MemberClient(api, api.ledger.issue_member_access(scenario.local_member)[1])
    assert out.post("/web/me/sign-out", {}).status_code == 303
    assert out.get("/web/me/history").status_code == 303


def test_a_refused_request_is_shown_in_words(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    _, token = api.ledger.issue_member_access(scenario.inbound_member)  # in transit: no new request
    member = MemberClient(api, token)
    refused = member.post("/web/me/transfer", {"to_organization_code": "QH-C1", "reason": "job_change",
                                               "basis": "household"})
    assert refused.status_code == 409 and zh("err_member_not_held") in refused.text
    assert "Traceback" not in refused.text


def test_a_member_finds_where_to_go_by_name(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    _, token = api.ledger.issue_member_access(admit(api.ledger, 78))
    member = MemberClient(api, token)
    found = member.get("/web/me/transfer?q=秦淮").text
    targets = re.findall(r'data-target="([^"]+)"', found)
    assert sorted(targets) == ["QH-C1", "QH-C1-B1"]  # the department 秦淮区委组织部 takes no letters
    assert "QH-C1" in re.findall(r'data-target="([^"]+)"', member.get("/web/me/transfer?q=QH-C").text)
    chosen = member.get("/web/me/transfer?to=QH-C1").text
    assert 'name="to_organization_code" maxlength="64" required value="QH-C1"' in chosen
    assert "秦淮街道党工委" in chosen
    assert 'value="NOWHERE"' not in member.get("/web/me/transfer?to=NOWHERE").text


def test_a_members_record_names_the_host_of_its_certificate(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    number = scenario.local_member
    _, token = api.ledger.issue_member_access(number)
    api.ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 6, 30),
                                 host_organization_code="XW-C1-B2")
    record = MemberClient(api, token).get("/web/me/").text
    shown = record.split('data-certificate="', 1)[1].split("</p>", 1)[0]
    assert api.ledger.organization("XW-C1-B2").name in shown and "XW-C1-B2" not in shown
