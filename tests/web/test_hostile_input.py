"""Hostile input through the web pages, on both stores: identifiers and numbers in other
scripts' digits are refused in forms, and a NUL, a control character or a line break in any
form field, query parameter or path parameter is a refusal page (422, in words, naming the
field), never a 500, and records nothing."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_from_bytes

from fastapi.routing import APIRoute
from httpx import Response

from api.web.routes import routes as web_routes
from tests.domain.test_hostile_input import ARABIC_INDIC, FULLWIDTH
from tests.web.conftest import WebClient


def refusal(response: Response, code: str = "validation_error", status: int = 422) -> str:
    assert response.status_code == status, (response.status_code, response.text[:500])
    found = re.search(r'data-code="([a-z_]+)"', response.text)
    assert found and found.group(1) == code, response.text[:500]
    detail = re.search(r'<p class="detail">([^<]*)</p>', response.text)
    return detail.group(1) if detail else ""


def test_forms_refuse_numbers_and_codes_in_other_digits(web: Any) -> None:
    api, scenario = web
    xw = WebClient(api, "xw_clerk")
    before = api.ledger.max_position()
    for spelling in (scenario.local_member.translate(FULLWIDTH), scenario.local_member.translate(ARABIC_INDIC)):
        refusal(xw.post("/web/transfers", {"registration_no": spelling, "to_organization_code": "QH-C1-B1",
                                           "reason": "job_change", "basis": "household"}),
                "invalid_registration_no")
    detail = refusal(xw.post("/web/transfers", {"registration_no": scenario.local_member,
                                                "to_organization_code": "QH-C1-B１", "reason": "job_change",
                                                "basis": "household"}))
    assert "to_organization_code" in detail
    for days in ("３０", "٣٠", "+30", "3_0"):
        detail = refusal(xw.post(f"/web/transfers/{scenario.requested}/issue", {"valid_days": days}))
        assert "valid_days" in detail
    for day in ("２０２６-11-15", "20261115"):
        refusal(xw.post(f"/web/transfers/{scenario.requested}/issue", {"valid_days": "30", "on": day}))
    refusal(xw.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B２"}))
    assert api.ledger.max_position() == before
    assert api.ledger.transfer(scenario.requested).status == "requested"


def test_a_nul_control_character_or_line_break_in_any_form_field_is_refused(web: Any) -> None:
    api, scenario = web
    xw = WebClient(api, "xw_clerk")
    before = api.ledger.max_position()
    forms = [
        (f"/web/transfers/{scenario.requested}/decline", {"reason": "材料不全"}),
        (f"/web/transfers/{scenario.requested}/issue", {"valid_days": "30", "on": "2026-11-15"}),
        (f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B2", "late_certificate": "证明"}),
        ("/web/transfers", {"registration_no": scenario.local_member, "to_organization_code": "QH-C1-B1",
                            "reason": "job_change", "basis": "household", "evidence_reference": "合同"}),
    ]
    for path, form in forms:
        for field in form:
            for bad in ("\x00", "\x1b[31m", "\n", "\t"):
                value = form[field] + bad if bad in "\n\t" else form[field][:1] + bad + form[field][1:]
                detail = refusal(xw.post(path, {**form, field: value}))
                assert detail.startswith(field), (path, field, detail)
    assert api.ledger.max_position() == before
    # the same forms, as they are, go through
    assert xw.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B2"}).status_code == 303


def test_a_nul_or_line_break_in_any_query_or_path_parameter_of_the_pages_is_refused(web: Any) -> None:
    api, scenario = web
    xw = WebClient(api, "xw_clerk")
    values = {"code": "XW", "registration_no": scenario.local_member, "transfer_id": scenario.requested,
              "rest": "nothing-here"}
    tried = set()
    for route in web_routes.routes:
        assert isinstance(route, APIRoute)
        if "GET" not in route.methods:
            continue
        path = route.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
        for param in route.dependant.query_params:
            for bad in ("\x00", "a\x00b", "2026-10\n", "\x7f"):
                detail = refusal(xw.get(path, **{param.alias: bad}))
                assert detail == f"{param.alias} contains " + detail.split(" contains ", 1)[1], detail
            tried.add((route.path, param.alias))
        for param in route.dependant.path_params:
            bad_path = route.path
            for name, value in values.items():
                bad = value + "%00" if name == param.alias else value
                bad_path = bad_path.replace("{" + name + "}", bad).replace("{" + name + ":path}", bad)
            assert refusal(xw.get(bad_path)).startswith(f"path parameter {param.alias}")
            tried.add((route.path, param.alias))
    assert {("/web/orgs/{code}/roster", "q"), ("/web/orgs/{code}/roster", "as_of"),
            ("/web/orgs/{code}/report", "month"), ("/web/", "org"), ("/web/members/{registration_no}",
                                                                      "registration_no")} <= tried


def test_an_oversized_or_unreadable_form_is_a_refusal_page_signed_in_or_out(web: Any, caplog: Any) -> None:
    """A field over 1 MB (413), a broken multipart body or over 1000 fields (400): a refusal
    page, nothing recorded, no traceback logged; on a clerk's form and on the sign-in form
    of someone not signed in."""
    api, _ = web
    xw, anyone = WebClient(api, "xw_clerk"), WebClient(api, None)
    before = api.ledger.max_position()
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    broken = {"Content-Type": "multipart/form-data; boundary=x"}
    many = {f"f{i}": (None, "x") for i in range(1001)}
    for client, path, field in ((xw, "/web/cases", "name"), (anyone, "/web/sign-in", "token")):
        big = f"csrf_token={xw.csrf}&{field}=".encode() + b"a" * (1024 * 1024 + 10)
        refusal(client.client.post(path, content=big, headers=urlencoded), status=413)
        for malformed in (b"--x\r\nbroken", "&".join(f"f{i}=x" for i in range(20)).encode()):
            refusal(client.client.post(path, content=malformed, headers=broken), status=400)
        refusal(client.client.post(path, files={**many, "csrf_token": (None, xw.csrf)}), status=400)
    assert api.ledger.max_position() == before
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    # a form of ordinary size still goes through
    assert xw.post("/web/cases", {"organization_code": "XW-C1", "name": "刘洋", "case_request": "找组织"}) \
        .status_code == 303


def test_a_form_field_whose_bytes_are_not_utf8_is_refused_naming_it(web: Any) -> None:
    """The GBK bytes of 工作变动 in the cancel form's reason: refused 422 naming `reason`
    (as the API refuses them), where they were recorded as U+FFFD; urlencoded or multipart."""
    api, scenario = web
    xw = WebClient(api, "xw_clerk")
    issued = api.ledger.issue_letter(scenario.requested).transfer_id or ""
    before = api.ledger.max_position()
    gbk = "工作变动".encode("gbk")
    body = f"csrf_token={xw.csrf}&reason=".encode() + quote_from_bytes(gbk).encode()
    path = f"/web/transfers/{issued}/cancel"
    detail = refusal(xw.client.post(path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert detail.startswith("reason")
    raw = f"csrf_token={xw.csrf}&reason=".encode() + gbk  # the bytes sent as they are
    assert refusal(xw.client.post(path, content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})) \
        .startswith("reason")
    assert refusal(xw.client.post(path, files={"csrf_token": (None, xw.csrf), "reason": (None, gbk)})) \
        .startswith("reason")
    assert api.ledger.max_position() == before and api.ledger.transfer(issued).status == "issued"
    # the same words in UTF-8 go through
    assert xw.post(path, {"reason": "工作变动"}).status_code == 303
    assert api.ledger.transfer(issued).status == "cancelled"
