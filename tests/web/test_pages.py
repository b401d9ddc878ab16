"""The web pages through FastAPI's TestClient, on SQLite and PostgreSQL: sign-in and its
cookie, CSRF, the authorization matrix (role and subtree, as the API decides), refusals
in words, read-your-writes after a form, and every transfer action."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote

import pytest
from markupsafe import escape

from api.errors import STATUS_BY_CODE
from api.web import base as web_base
from api.web.i18n import WORDS
from domain.errors import ALL_ERRORS
from tests.factories import admit
from tests.web.conftest import WebClient

FORBIDDEN_TEXT = WORDS["err_out_of_jurisdiction"][0]


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}"><td>[^<]*</td><td class="num">([^<]*)</td>', html)
    assert found, f"figure {name} not on the page"
    return found.group(1)


def status_of(api, transfer_id: str) -> str:  # type: ignore[no-untyped-def]
    return api.ledger.transfer(transfer_id).status  # type: ignore[no-any-return]


# --- words ----------------------------------------------------------------------------------

def test_every_refusal_code_has_words_in_both_languages() -> None:
    codes = {cls.code for cls in ALL_ERRORS} | set(STATUS_BY_CODE) | {"csrf", "internal_error"}
    missing = sorted(code for code in codes if f"err_{code}" not in WORDS)
    assert missing == []
    for key, (zh, en) in WORDS.items():
        assert zh.strip() and en.strip(), key
    assert all(re.search(r"[\u4e00-\u9fff]", WORDS[f"err_{code}"][0]) for code in codes)


# --- sign-in ---------------------------------------------------------------------------------

def test_sign_in_keeps_the_token_in_a_strict_http_only_cookie(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    client = WebClient(api, None)
    answer = client.sign_in(api.tokens["xw_clerk"])
    assert answer.status_code == 303 and answer.headers["location"] == "/web/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ledger_session="))
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http in the test; https below
    home = client.get("/web/")
    assert home.status_code == 200 and "XW-C1" in home.text
    assert home.headers["content-security-policy"].startswith("default-src 'self'")

    secure = WebClient(api, None)
    secure.client.base_url = "https://testserver"  # type: ignore[assignment]
    answer = secure.sign_in(api.tokens["xw_clerk"])
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ledger_session="))
    assert "secure" in cookie.lower()


def test_sign_in_refuses_an_unknown_token_and_a_forged_form(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    client = WebClient(api, None)
    wrong = client.sign_in("not-a-token")
    assert wrong.status_code == 401 and WORDS["err_unauthenticated"][0] in wrong.text
    assert "ledger_session" not in client.client.cookies
    forged = WebClient(api, None).client.post(
        "/web/sign-in", data={"token": api.tokens["xw_clerk"], "nonce": "guessed", "next": "/web/"})
    assert forged.status_code == 403 and "ledger_session" not in forged.headers.get("set-cookie", "")


def test_pages_need_a_live_session_and_sign_out_ends_it(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    anonymous = WebClient(api, None).get("/web/inbox")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/web/sign-in?next=")
    client = WebClient(api, "xw_clerk")
    assert client.post("/web/sign-out", csrf=False).status_code == 403  # sign-out is a form too
    out = client.post("/web/sign-out")
    assert out.status_code == 303
    assert client.get("/web/").status_code == 303
    revoked = WebClient(api, "b1_clerk")
    api.ledger.revoke_operator(api.operator_ids["b1_clerk"])
    assert revoked.get("/web/").status_code == 303


def test_root_leads_to_the_pages_and_unknown_pages_are_words(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    client = WebClient(api, "xw_clerk")
    root = client.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/web/"
    missing = client.get("/web/no-such-page")
    assert missing.status_code == 404 and WORDS["err_page_not_found"][0] in missing.text
    assert "Traceback" not in missing.text


# --- the tree, the roster, the report -----------------------------------------------------------

def test_tree_counts_held_in_transit_and_overdue_by_subtree(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    late = admit(api.ledger, 5, "QH-C1-B1")
    request = api.ledger.request_transfer(late, "XW-C1-B3", reason="job_change", basis="household",
                                          on=date(2026, 9, 1))
    api.ledger.issue_letter(request.transfer_id or "", on=date(2026, 9, 1))
    page = WebClient(api, "qh_clerk").get("/web/").text

    def counts(code: str) -> tuple[str, str, str]:
        row = re.search(rf'data-org="{code}">.*?class="num held">(\d+)</td>\s*<td class="num in-transit">(\d+)'
                        rf'</td>\s*<td class="num overdue[^"]*">(\d+)', page, re.S)
        assert row, code
        return row.group(1), row.group(2), row.group(3)

    # Both members of QH-C1-B1 are on letters (of record there, but not held), one overdue.
    assert counts("QH-C1") == ("0", "2", "1")
    assert counts("QH-C1-B1") == ("0", "2", "1")
    assert "XW-C1" not in page and "SC-C1" not in page
    xw = WebClient(api, "xw_clerk").get("/web/").text
    assert re.search(r'data-org="XW-C1-B1">.*?class="num held">2<', xw, re.S)
    assert scenario.foreign_member not in xw


def test_tree_shows_two_levels_and_leads_down_and_back_up(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    client = WebClient(api, "xw_admin")  # XW > XW-C1 > XW-C1-G1 > XW-C1-B1
    top = client.get("/web/").text
    assert 'data-org="XW-C1-G1"' in top and 'data-org="XW-C1-B1"' not in top
    assert WORDS["tree_depth_note"][0] in top and WORDS["tree_up"][0] not in top  # its own top: no way up
    below = client.get("/web/", org="XW-C1-G1").text
    assert 'data-org="XW-C1-B1"' in below and 'data-org="XW-C2"' not in below
    assert 'href="/web/?org=XW-C1"' in below and WORDS["tree_up"][0] in below
    # The subtree totals are the same whichever level the page starts from.
    held = re.search(r'data-org="XW-C1-G1">.*?class="num held">(\d+)<', top, re.S)
    again = re.search(r'data-org="XW-C1-G1">.*?class="num held">(\d+)<', below, re.S)
    assert held and again and held.group(1) == again.group(1) != "0"


def test_roster_searches_by_name_and_number_as_of_a_date_with_paging(web, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    everyone = client.get("/web/orgs/XW-C1/roster")
    assert everyone.text.count("data-member=") == 2
    by_name = client.get("/web/orgs/XW-C1/roster", q="党员2")
    assert by_name.text.count("data-member=") == 1 and scenario.local_member in by_name.text
    by_number = client.get("/web/orgs/XW-C1/roster", q=scenario.local_member[:17])
    assert by_number.text.count("data-member=") == 1
    before = client.get("/web/orgs/XW-C1/roster", as_of="2020-05-31")
    assert before.text.count("data-member=") == 0
    monkeypatch.setattr(web_base, "PAGE_SIZE", 1)
    first = client.get("/web/orgs/XW-C1/roster")
    second = client.get("/web/orgs/XW-C1/roster", page="2")
    assert first.text.count("data-member=") == 1 and 'rel="next"' in first.text
    assert second.text.count("data-member=") == 1 and 'rel="prev"' in second.text
    assert re.findall(r'data-member="(\w+)"', first.text) != re.findall(r'data-member="(\w+)"', second.text)
    bad = client.get("/web/orgs/XW-C1/roster", as_of="2026-02-30")
    assert bad.status_code == 422 and WORDS["err_validation_error"][0] in bad.text
    for path in ("/web/orgs/XW-C1/roster", "/web/orgs/XW-C1/roster/file"):  # today is 2026-11-20
        later = client.get(path, as_of="2026-11-21")
        assert later.status_code == 422 and WORDS["err_future_date"][0] in later.text, path


def test_receiving_from_the_inbox_shows_at_once_on_roster_report_and_member(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    report = client.get("/web/orgs/XW-C1/report", month="2026-11").text
    assert figure(report, "transferred_in") == "0"
    inbox = client.get("/web/inbox").text
    assert scenario.inbound_letter in inbox and "action-receive" in inbox
    done = client.post(f"/web/transfers/{scenario.inbound}/receive",
                       {"organization_code": "XW-C1-B2", "back": "/web/inbox"})
    assert done.status_code == 303 and "min_position=" in done.headers["location"]
    after = client.get(done.headers["location"])
    assert after.status_code == 200 and "action-return-receipt" in after.text
    roster = client.get("/web/orgs/XW-C1-B2/roster").text
    assert scenario.inbound_member in roster
    report = client.get("/web/orgs/XW-C1/report", month="2026-11").text
    assert figure(report, "transferred_in") == "1" and figure(report, "transferred_in_external") == "1"
    assert 'data-figure="transferred_in" data-value="1"' in report  # the chart's bar for the month
    member = client.get(f"/web/members/{scenario.inbound_member}").text
    assert 'data-type="Transfer.MemberReceived"' in member and "XW-C1-B2" in member


def test_report_downloads_call_the_report_files(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    client = WebClient(api, "xw_clerk")
    csv = client.get("/web/orgs/XW-C1/report/file", month="2026-11", format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"] and len(csv.content) > 20
    xlsx = client.get("/web/orgs/XW-C1/report/file", month="2026-11", format="xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert client.get("/web/orgs/XW-C1/report/file", month="2026-11", format="pdf").status_code == 422
    assert client.get("/web/orgs/QH-C1/report/file", month="2026-11", format="csv").status_code == 403


def test_overdue_ledger_has_three_colours(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    late = admit(api.ledger, 6, "XW-C1-B3")
    old = api.ledger.request_transfer(late, "QH-C1-B1", reason="job_change", basis="household",
                                      on=date(2026, 9, 1))
    api.ledger.issue_letter(old.transfer_id or "", on=date(2026, 9, 1))
    soon = api.ledger.issue_letter(scenario.requested, 15, on=date(2026, 11, 10))  # due 11-25
    client = WebClient(api, "xw_clerk")
    client.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B2"})
    page = client.get("/web/orgs/XW-C1/overdue").text
    red = page.split('class="band red"')[1].split("</section>")[0]
    yellow = page.split('class="band yellow"')[1].split("</section>")[0]
    green = page.split('class="band green"')[1].split("</section>")[0]
    assert late in red and WORDS["okind_overdue_letter"][0] in red
    assert soon.letter_no in yellow and scenario.inbound_letter in yellow  # receipt still missing
    assert scenario.inbound_letter in green and soon.letter_no not in green and late not in green


# --- every action through the forms ---------------------------------------------------------------

def test_every_transfer_action_goes_through_the_ledger(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    xw, qh = WebClient(api, "xw_clerk"), WebClient(api, "qh_clerk")
    # outbox: issue, extend, cancel
    assert scenario.requested in xw.get("/web/outbox").text
    assert xw.post(f"/web/transfers/{scenario.requested}/issue", {"valid_days": "20"}).status_code == 303
    assert status_of(api, scenario.requested) == "issued"
    xw.post(f"/web/transfers/{scenario.requested}/extend", {"valid_until": "2026-12-30"})
    assert api.ledger.transfer(scenario.requested).valid_until == date(2026, 12, 30)
    xw.post(f"/web/transfers/{scenario.requested}/cancel", {"reason": "填错了"})
    assert status_of(api, scenario.requested) == "cancelled"
    # a new request from the member page, then declined
    member = xw.get(f"/web/members/{scenario.local_member}").text
    assert 'action="/web/transfers"' in member
    made = xw.post("/web/transfers", {"registration_no": scenario.local_member, "to_organization_code": "QH-C1-B1",
                                      "reason": "job_change", "basis": "household"})
    assert made.status_code == 303
    new_id = made.headers["location"].split("/web/transfers/")[1].split("?")[0]
    assert status_of(api, new_id) == "requested"
    xw.post(f"/web/transfers/{new_id}/decline", {"reason": "材料不全"})
    assert status_of(api, new_id) == "declined"
    # the receiving side: reject one letter, receive another and return its receipt
    assert qh.post(f"/web/transfers/{scenario.foreign}/reject", {"reason": "查无此单位"}).status_code == 303
    assert status_of(api, scenario.foreign) == "rejected"
    xw.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B2"})
    returned = xw.post(f"/web/transfers/{scenario.inbound}/return-receipt", {"back": "/web/inbox"})
    assert returned.status_code == 303 and returned.headers["location"].startswith("/web/inbox?")
    assert status_of(api, scenario.inbound) == "receipt_returned"
    assert xw.post(f"/web/transfers/{scenario.inbound}/explode").status_code == 404


# --- the authorization matrix --------------------------------------------------------------------

@pytest.mark.parametrize("label", ["xw_clerk", "b1_clerk", "xw_auditor"])
def test_another_subtree_gives_403_or_404_and_no_data(web, label) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    client = WebClient(api, label)
    foreign_name = api.ledger.member(scenario.foreign_member).name
    for path in (f"/web/members/{scenario.foreign_member}", f"/web/transfers/{scenario.foreign}",
                 "/web/orgs/SC-C1-B1/roster", "/web/orgs/QH-C1/overdue", "/web/orgs/QH-C1/report",
                 "/web/?org=SC", "/web/inbox?org=QH-C1", "/web/outbox?org=QH-C1"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert WORDS["err_out_of_jurisdiction"][0] in answer.text
        assert foreign_name not in answer.text
        if not path.startswith("/web/members/"):  # elsewhere the number is no part of the request either
            assert scenario.foreign_member not in answer.text
    unknown = client.get("/web/members/320102201507019999")  # refused like a member outside
    assert unknown.status_code == 403 and WORDS["err_out_of_jurisdiction"][0] in unknown.text
    assert client.get("/web/transfers/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_branch_clerk_sees_its_branch_only(web) -> None:  # type: ignore[no-untyped-def]
    api, _scenario = web
    client = WebClient(api, "b1_clerk")
    assert client.get("/web/orgs/XW-C1/roster").status_code == 403
    assert client.get("/web/orgs/XW-C1-B1/roster").status_code == 200
    tree = client.get("/web/").text
    assert "XW-C1-B2" not in tree and "XW-C1-B1" in tree


def test_an_auditor_sees_no_forms_and_a_forged_post_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    auditor = WebClient(api, "xw_auditor")
    inbox = auditor.get("/web/inbox").text
    assert scenario.inbound_letter in inbox
    assert "action-receive" not in inbox and WORDS["read_only"][0] in inbox
    assert "action-issue" not in auditor.get("/web/outbox").text
    assert 'action="/web/transfers"' not in auditor.get(f"/web/members/{scenario.local_member}").text
    transfer_page = auditor.get(f"/web/transfers/{scenario.inbound}").text
    assert '<form method="post" action="/web/transfers/' not in transfer_page
    forged = auditor.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B2"})
    assert forged.status_code == 403 and WORDS["err_forbidden"][0] in forged.text
    assert status_of(api, scenario.inbound) == "issued"


def test_a_post_without_the_sessions_csrf_token_is_refused(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    position = api.ledger.max_position()
    client = WebClient(api, "xw_clerk")
    other = WebClient(api, "xw_admin")
    missing = client.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B2"},
                          csrf=False)
    assert missing.status_code == 403 and WORDS["err_csrf"][0] in missing.text
    borrowed = client.post(f"/web/transfers/{scenario.inbound}/receive",
                           {"organization_code": "XW-C1-B2", "csrf_token": other.csrf}, csrf=False)
    assert borrowed.status_code == 403
    anonymous = WebClient(api, None).post(f"/web/transfers/{scenario.inbound}/receive",
                                          {"organization_code": "XW-C1-B2"}, csrf=False)
    assert anonymous.status_code == 303 and "/web/sign-in" in anonymous.headers["location"]
    assert status_of(api, scenario.inbound) == "issued" and api.ledger.max_position() == position


def test_another_subtrees_transfer_cant_be_acted_on(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    position = api.ledger.max_position()
    answer = WebClient(api, "xw_clerk").post(f"/web/transfers/{scenario.foreign}/reject", {"reason": "x"})
    assert answer.status_code == 403 and FORBIDDEN_TEXT in answer.text
    assert api.ledger.max_position() == position


# --- refusals in words, languages --------------------------------------------------------------------

def test_refusals_are_shown_in_words_in_either_language(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    position = api.ledger.max_position()
    wrong = client.post(f"/web/transfers/{scenario.inbound}/receive", {"organization_code": "XW-C1-B1"})
    assert wrong.status_code == 409 and WORDS["err_not_in_target_subtree"][0] in wrong.text
    future = client.post(f"/web/transfers/{scenario.inbound}/receive",
                         {"organization_code": "XW-C1-B2", "on": "2030-01-01"})
    assert future.status_code == 422 and WORDS["err_future_date"][0] in future.text
    bad_date = client.post(f"/web/transfers/{scenario.inbound}/receive",
                           {"organization_code": "XW-C1-B2", "on": "2026-13-01"})
    assert bad_date.status_code == 422 and WORDS["err_validation_error"][0] in bad_date.text
    english = client.client.post(f"/web/transfers/{scenario.inbound}/receive?lang=en",
                                 data={"organization_code": "XW-C1-B1", "csrf_token": client.csrf})
    assert english.status_code == 409 and escape(WORDS["err_not_in_target_subtree"][1]) in english.text
    for answer in (wrong, future, bad_date, english):
        assert "Traceback" not in answer.text and answer.headers["content-type"].startswith("text/html")
    assert api.ledger.max_position() == position


def test_the_language_switch_is_kept_in_a_cookie(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    client = WebClient(api, "xw_clerk")
    assert WORDS["nav_inbox"][0] in client.get("/web/").text
    english = client.get("/web/", lang="en")
    assert WORDS["nav_inbox"][1] in english.text and 'lang="en"' in english.text
    assert client.client.cookies.get("ledger_lang") == "en"
    assert WORDS["nav_inbox"][1] in client.get("/web/inbox").text
    assert WORDS["nav_inbox"][0] in client.get("/web/inbox", lang="zh").text


def test_the_rosters_subtree_box_can_be_unticked(web) -> None:  # type: ignore[no-untyped-def]
    """The first view includes the subtree (the box ticked); the form sent with the box
    unticked (no `subtree`, the hidden `filtered`) shows the organization's own members only."""
    api, _ = web
    client = WebClient(api, "xw_clerk")
    first = client.get("/web/orgs/XW-C1/roster")
    assert first.text.count("data-member=") == 2 and re.search(r'name="subtree" value="1" checked', first.text)
    assert 'name="filtered" value="1"' in first.text
    unticked = client.get("/web/orgs/XW-C1/roster", q="", as_of="", filtered="1")
    assert unticked.text.count("data-member=") == 0  # XW-C1 itself holds none: they are in XW-C1-B1
    assert not re.search(r'name="subtree" value="1" checked', unticked.text) and "subtree=0" in unticked.text
    ticked = client.get("/web/orgs/XW-C1/roster", q="", as_of="", subtree="1", filtered="1")
    assert ticked.text.count("data-member=") == 2


def test_a_refusal_page_shows_no_done_notice(web) -> None:  # type: ignore[no-untyped-def]
    """A page reached with `done=1` (after a form) that refuses says 无法办理 alone, never
    已办理 beside it; a page that answers keeps the notice."""
    api, _ = web
    client = WebClient(api, "xw_clerk")
    refused = client.get("/web/orgs/XW-C1/roster", done="1", as_of="2026-02-30")
    assert refused.status_code == 422 and WORDS["error_title"][0] in refused.text
    assert WORDS["done"][0] not in refused.text and 'role="status"' not in refused.text
    assert WORDS["done"][0] in client.get("/web/orgs/XW-C1/roster", done="1").text


def test_a_form_sent_after_the_session_ended_leads_back_to_its_page_after_sign_in(web) -> None:  # type: ignore[no-untyped-def]
    """A POST without a live session goes to sign-in with `next` the page the form was on
    (its Referer, this site's only), never the form's path, which is no page (a GET of it
    is 404); another site's referrer or none: the home page."""
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    assert client.post("/web/sign-out").status_code == 303
    page = "http://testserver/web/cases?org=XW-C1"
    sent = client.client.post("/web/cases", data={"name": "刘洋", "csrf_token": client.csrf},
                              headers={"Referer": page})
    assert sent.status_code == 303 and sent.headers["location"] == "/web/sign-in?next=" + quote("/web/cases?org=XW-C1")
    form = client.get(sent.headers["location"])
    assert 'name="next" value="/web/cases?org=XW-C1"' in form.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    back = client.client.post("/web/sign-in", data={"token": api.tokens["xw_clerk"], "nonce": nonce,
                                                    "next": "/web/cases?org=XW-C1"})
    assert back.status_code == 303 and client.get(back.headers["location"]).status_code == 200
    assert client.post("/web/sign-out").status_code == 303  # (the CSRF token is the same token's)
    for referer in ("https://elsewhere.example/web/cases", None):
        headers = {"Referer": referer} if referer else {}
        elsewhere = client.client.post(f"/web/transfers/{scenario.inbound}/reject", data={"reason": "x"},
                                       headers=headers)
        assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/web/sign-in?next=" + quote("/web/")
    # a page asked for (GET) still comes back to itself
    assert client.get("/web/inbox").headers["location"] == "/web/sign-in?next=" + quote("/web/inbox")
