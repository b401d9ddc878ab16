"""A form sent twice (a double click, a reload of the POST) records once: the forms whose
second submit would record again carry a one-time key (`once`), run through the API's
idempotency store (api/web/once.py); the second submit gets the first answer."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from tests.web.conftest import WebClient
from tests.web.test_member_pages import MemberClient, zh

ONCE = re.compile(r'name="once" value="([^"]+)"')


def once(html: str) -> str:
    found = ONCE.findall(html)
    assert len(found) == 1, found  # one form with a key on the page
    return str(found[0])


def test_opening_a_case_sent_twice_records_one_case(web: Any) -> None:
    api, _ = web
    client = WebClient(api, "xw_clerk")
    form = {"organization_code": "XW-C1", "name": "刘洋", "case_request": "落实组织关系",
            "once": once(client.get("/web/cases").text)}
    before = api.ledger.max_position()
    first = client.post("/web/cases", form)
    after = api.ledger.max_position()
    second = client.post("/web/cases", form)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]  # the first answer again
    assert after > before and api.ledger.max_position() == after
    page = client.get(first.headers["location"]).text
    assert len(re.findall(r'data-case="([0-9a-f-]+)"', page)) == 1
    # the same key with other values is refused, recording nothing
    other = client.post("/web/cases", {**form, "name": "王芳"})
    assert other.status_code == 422 and 'data-code="idempotency_key_reused"' in other.text
    # a fresh form opens another case
    again = client.post("/web/cases", {**form, "once": once(client.get("/web/cases").text)})
    assert again.status_code == 303 and api.ledger.max_position() > after


def test_a_transfer_requested_twice_from_the_member_page_records_one(web: Any) -> None:
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    form = {"registration_no": scenario.local_member, "to_organization_code": "XW-C1-B2", "reason": "job_change",
            "basis": "household", "once": once(client.get(f"/web/members/{scenario.local_member}").text)}
    api.ledger.decline_transfer(scenario.requested, "材料不全")  # the member's earlier request, closed
    first = client.post("/web/transfers", form)
    after = api.ledger.max_position()
    second = client.post("/web/transfers", form)
    assert first.status_code == second.status_code == 303, first.text
    assert second.headers["location"] == first.headers["location"] and api.ledger.max_position() == after


def test_a_members_report_or_request_sent_twice_records_one(web: Any) -> None:
    api, scenario = web
    number = scenario.local_member
    api.ledger.decline_transfer(scenario.requested, "材料不全")  # its earlier request, closed
    _, token = api.ledger.issue_member_access(number)
    member = MemberClient(api, token)
    # refused (no mobile certificate; the page shows no form then, so a key of our own):
    # a refusal is not kept, so the same key is judged again later
    key = "a-key-of-our-own"
    refused = member.post("/web/me/report", {"report_text": "汇报", "once": key})
    assert refused.status_code == 409 and zh("err_mobile_certificate_required") in refused.text
    api.ledger.issue_certificate(number, kind="mobile", purpose="外出务工", valid_until=date(2027, 6, 30),
                                 host_description="深圳某公司")
    form = {"report_text": "本月参加网上党课两次。", "once": once(member.get("/web/me/report").text)}
    first = member.post("/web/me/report", form)
    second = member.post("/web/me/report", form)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert [r.text for r in api.ledger.member_reports(number)] == ["本月参加网上党课两次。"]
    retried = member.post("/web/me/report", {"report_text": "汇报", "once": key})  # the refused one, again
    assert retried.status_code == 303 and len(api.ledger.member_reports(number)) == 2

    request = {"to_organization_code": "QH-C1-B1", "reason": "job_change", "basis": "household",
               "once": once(member.get("/web/me/transfer").text)}
    asked = member.post("/web/me/transfer", request)
    after = api.ledger.max_position()
    again = member.post("/web/me/transfer", request)
    assert asked.status_code == again.status_code == 303, asked.text
    assert again.headers["location"] == asked.headers["location"] and api.ledger.max_position() == after
