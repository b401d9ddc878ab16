"""The first-responder cases' page: a clerk opens a case, sees it with its days open, on
the overdue list after 30 days, and closes it; other subtrees and auditors can't act; the
report page shows open cases and the timely rate's breakdowns."""

from __future__ import annotations

import re
from datetime import date, timedelta

from markupsafe import escape

from api.web.i18n import WORDS
from tests.conftest import TODAY
from tests.web.conftest import WebClient


def days_open(html: str, case_id: str) -> str:
    found = re.search(rf'data-case="{case_id}" data-days-open="([0-9]+)"', html)
    assert found, f"case {case_id} not on the page"
    return found.group(1)


def test_a_clerk_opens_lists_and_closes_a_case(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    opened = (TODAY - timedelta(days=35)).isoformat()
    done = client.post("/web/cases", {"organization_code": "XW-C1", "name": "刘洋", "case_request": "落实组织关系",
                                      "registration_no": "", "on": opened})
    assert done.status_code == 303 and "min_position=" in done.headers["location"], done.text
    page = client.get(done.headers["location"]).text
    (case_id,) = re.findall(r'data-case="([0-9a-f-]+)"', page)
    assert days_open(page, case_id) == "35" and "刘洋" in page and "落实组织关系" in page
    overdue = client.get("/web/orgs/XW-C1/overdue", kind="open_case").text
    assert 'data-kind="open_case"' in overdue and "刘洋" in overdue

    # placed needs a member held with org life since: refused in words, nothing recorded
    before = api.ledger.max_position()
    refused = client.post(f"/web/cases/{case_id}/close", {"outcome": "placed", "note": "", "on": ""})
    assert refused.status_code == 409 and escape(WORDS["err_invalid_transition"][0]) in refused.text
    assert api.ledger.max_position() == before
    # other subtrees and auditors
    other = WebClient(api, "qh_clerk")
    assert other.post(f"/web/cases/{case_id}/close", {"outcome": "withdrawn"}).status_code == 403
    assert other.get("/web/cases", org="XW-C1").status_code == 403
    auditor = WebClient(api, "xw_auditor")
    assert "/close" not in auditor.get("/web/cases", org="XW-C1").text
    assert auditor.post(f"/web/cases/{case_id}/close", {"outcome": "withdrawn"}).status_code == 403
    assert api.ledger.max_position() == before

    closed = client.post(f"/web/cases/{case_id}/close", {"outcome": "withdrawn", "note": "本人已回原籍",
                                                         "org": "XW-C1"})
    assert closed.status_code == 303
    page = client.get(closed.headers["location"], status="closed").text
    assert days_open(page, case_id) == "35" and "本人已回原籍" in page
    assert case_id not in client.get("/web/cases").text  # open ones by default
    assert 'data-kind="open_case"' not in client.get("/web/orgs/XW-C1/overdue", kind="open_case").text
    assert scenario.inbound  # (the scenario's letters are untouched)


def test_the_report_page_shows_open_cases_and_the_timely_rate_by_kind(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    api.ledger.receive_member(scenario.inbound, "XW-C1-B2", on=date(2026, 11, 12))  # on time, from 秦淮
    api.ledger.open_case("XW-C1", name="王芳", request="找组织", on=date(2026, 11, 1))
    client = WebClient(api, "xw_clerk")
    report = client.get("/web/orgs/XW-C1/report", month="2026-11").text
    assert re.search(r'data-figure="open_cases"><td>[^<]*</td><td class="num">1</td>', report)
    assert re.search(r'data-figure="timely_by_side.external"><td>外部及时率</td><td class="num">1</td>'
                     r'<td class="num">1</td><td class="num">100.0%</td>', report)
    assert 'data-figure="timely_by_side.internal"' not in report  # none received from inside


def test_a_refused_close_case_form_leaves_the_case_open(web) -> None:  # type: ignore[no-untyped-def]
    """A field the page refuses (the hidden `org`, tampered) is checked before the case is
    closed: the refusal records nothing."""
    api, _ = web
    client = WebClient(api, "xw_clerk")
    opened = client.post("/web/cases", {"organization_code": "XW-C1", "name": "刘洋", "case_request": "落实组织关系"})
    (case_id,) = re.findall(r'data-case="([0-9a-f-]+)"', client.get(opened.headers["location"]).text)
    before = api.ledger.max_position()
    refused = client.post(f"/web/cases/{case_id}/close", {"outcome": "withdrawn", "note": "", "org": "XW C1"})
    assert refused.status_code == 422 and "org" in refused.text
    assert api.ledger.max_position() == before
    assert case_id in client.get("/web/cases", org="XW-C1", status="open").text
