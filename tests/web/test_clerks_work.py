"""A clerk's daily work on both stores: lists exported (the API's CSV for the roster and the
overdue list, the pages' CSV and Excel downloads), the overdue ledger by kind with true
totals and pages, the inbox searched and paged, and letters acted on many at once."""

from __future__ import annotations

import csv
import io
from datetime import date
from urllib.parse import quote

from api.web import base as web_base
from api.web.i18n import WORDS
from tests.api.conftest import Api
from tests.factories import admit
from tests.web.conftest import Scenario, WebClient


def overdue_letters(api: Api, count: int, first: int = 100) -> list[str]:
    """`count` members of XW-C1-B1 whose letters to QH-C1-B1 ran out in September."""
    members = []
    for n in range(first, first + count):
        member = admit(api.ledger, n, "XW-C1-B1")
        transfer = api.ledger.request_transfer(member, "QH-C1-B1", reason="job_change", basis="household",
                                               on=date(2026, 8, 3)).transfer_id or ""
        api.ledger.issue_letter(transfer, 30, on=date(2026, 8, 3))
        members.append(member)
    return members


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_the_api_gives_the_roster_and_the_overdue_list_as_csv(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    late = overdue_letters(api, 3)
    clerk = api.client("xw_clerk")
    answer = clerk.get("/v1/organizations/XW-C1/overdue", headers={"Accept": "text/csv"}, limit=2)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["x-total-count"] == str(clerk.get("/v1/organizations/XW-C1/overdue").json()["count"])
    rows = rows_of(answer.text)
    assert rows[0] == ["kind", "registration_no", "name", "organization_code", "reference", "due_on",
                       "days_overdue", "responsible_organization_code"]
    assert len(rows) == 3  # the page asked for, the total in the header
    every = rows_of(clerk.get("/v1/organizations/XW-C1/overdue", headers={"Accept": "text/csv"}).text)
    assert set(late) <= {r[1] for r in every[1:]}

    roster = clerk.get("/v1/organizations/XW-C1-B1/roster", headers={"Accept": "text/csv"}, include_in_transit=True)
    assert roster.status_code == 200
    table = rows_of(roster.text)
    assert table[0][:2] == ["registration_no", "name"]
    assert scenario.local_member in {r[0] for r in table[1:]}
    assert roster.headers["x-total-count"] == str(len(table) - 1)
    # JSON stays the default
    assert clerk.get("/v1/organizations/XW-C1-B1/roster").json()["count"] >= 1
    outside = api.client("sc_clerk").get("/v1/organizations/XW-C1/overdue", headers={"Accept": "text/csv"})
    assert outside.status_code == 403 and outside.json()["code"] == "out_of_jurisdiction"


def as_csv_text(value: object) -> str:
    return "" if value is None else str(value)


def test_the_api_gives_the_transfer_lists_as_csv(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    late = overdue_letters(api, 3)
    clerk = api.client("xw_clerk")
    for params in ({}, {"direction": "out", "limit": 2}, {"direction": "in"}, {"status": "issued", "offset": 1},
                   {"registration_no": late[0]}, {"organization_code": "XW-C1-B2", "direction": "in"}):
        listed = clerk.get("/v1/transfers", **params).json()
        answer = clerk.get("/v1/transfers", headers={"Accept": "text/csv"}, **params)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv"), params
        assert answer.headers["x-total-count"] == str(listed["count"]), params
        rows = rows_of(answer.text)
        assert rows[0][:3] == ["transfer_id", "letter_no", "registration_no"] and "status" in rows[0]
        assert [dict(zip(rows[0], row, strict=True)) for row in rows[1:]] == [
            {c: as_csv_text(json[c]) for c in rows[0]} for json in listed["data"]], params
    out = rows_of(clerk.get("/v1/transfers", headers={"Accept": "text/csv"}, direction="out").text)
    ids = {r[0] for r in out[1:]}
    assert scenario.requested in ids and scenario.inbound not in ids  # the filter applies
    assert len(out) - 1 == 4  # the request and the three late letters
    issued = rows_of(clerk.get("/v1/transfers", headers={"Accept": "text/csv"}, status="issued").text)
    status = issued[0].index("status")
    assert len(issued) > 1 and {r[status] for r in issued[1:]} == {"issued"}
    one = rows_of(clerk.get("/v1/transfers", headers={"Accept": "text/csv"}, registration_no=late[0]).text)
    assert [r[2] for r in one[1:]] == [late[0]]
    outside = api.client("sc_clerk").get("/v1/transfers", headers={"Accept": "text/csv"}, organization_code="XW-C1")
    assert outside.status_code == 403 and outside.json()["code"] == "out_of_jurisdiction"


def test_the_overdue_ledger_pages_a_kind_with_its_true_total(web: tuple[Api, Scenario], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    monkeypatch.setattr(web_base, "PAGE_SIZE", 2)
    late = overdue_letters(api, 5)
    clerk = WebClient(api, "xw_clerk")
    everything = clerk.get("/web/orgs/XW-C1/overdue").text
    total = api.client("xw_clerk").get("/v1/organizations/XW-C1/overdue").json()["count"]
    assert total > 5 and f'data-total="{total}"' in everything and "?kind=overdue_letter" in everything
    assert everything.count('class="row-red"') == 2
    first = clerk.get("/web/orgs/XW-C1/overdue", kind="overdue_letter").text
    assert first.count('class="row-red"') == 2 and 'data-total="5"' in first
    assert "band yellow" not in first and "band green" not in first
    assert "page=2" in first
    seen = []
    for page in ("1", "2", "3"):
        html = clerk.get("/web/orgs/XW-C1/overdue", kind="overdue_letter", page=page).text
        seen += [m for m in late if f"/web/members/{m}" in html]
    assert sorted(seen) == sorted(late)  # every row once, nothing cut
    assert clerk.get("/web/orgs/XW-C1/overdue", kind="bogus").status_code == 422


def test_the_overdue_list_and_the_roster_download_in_words(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    late = overdue_letters(api, 2)
    clerk = WebClient(api, "xw_clerk")
    answer = clerk.get("/web/orgs/XW-C1/overdue/file", format="csv")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = rows_of(answer.text)
    assert rows[0][0] == WORDS["kind"][0]
    mine = [r for r in rows if r[2] in late]
    assert len(mine) == 2 and all(r[0] == WORDS["okind_overdue_letter"][0] and "第一党支部" in r for r in mine)
    excel = clerk.get("/web/orgs/XW-C1/overdue/file", format="xlsx")
    assert excel.status_code == 200 and excel.content.startswith(b"PK")
    roster = rows_of(clerk.get("/web/orgs/XW-C1/roster/file", format="csv").text)
    assert any(scenario.local_member in r and "第一党支部" in r for r in roster)
    assert clerk.get("/web/orgs/XW-C1/roster/file", format="pdf").status_code == 422
    assert WebClient(api, "sc_clerk").get("/web/orgs/XW-C1/overdue/file").status_code == 403


def test_the_inbox_is_searched_by_name_number_or_letter_and_exported(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    clerk = WebClient(api, "xw_clerk")
    name = api.ledger.member(scenario.inbound_member).name
    for query in (name, scenario.inbound_member, scenario.inbound_letter[-5:]):
        html = clerk.get("/web/inbox", q=query).text
        assert f'data-transfer="{scenario.inbound}"' in html, query
    assert f'data-transfer="{scenario.inbound}"' not in clerk.get("/web/inbox", q="无此人").text
    html = clerk.get("/web/inbox").text
    assert name in html and "秦淮第一支部 → 第二党支部" in html  # names, the source first
    exported = rows_of(clerk.get("/web/transfers/file", direction="in", format="csv").text)
    assert any(scenario.inbound_letter in r and name in r and "秦淮第一支部" in r for r in exported)


def test_the_inbox_and_the_outbox_download_what_the_page_shows(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    clerk = WebClient(api, "xw_clerk")
    name = api.ledger.member(scenario.local_member).name
    outbox = clerk.get("/web/outbox", q=name).text
    link = f"/web/transfers/file?org=XW-C1&amp;direction=out&amp;q={quote(name)}&amp;format=csv"
    assert link in outbox
    exported = clerk.client.get(link.replace("&amp;", "&"))
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = rows_of(exported.text)
    assert len(rows) == 2 and name in rows[1] and scenario.local_member in rows[1]  # the search applies
    everything = rows_of(clerk.get("/web/transfers/file", direction="out", format="csv").text)
    assert len(everything) - 1 == api.client("xw_clerk").get("/v1/transfers", direction="out").json()["count"]
    inbox = rows_of(clerk.get("/web/transfers/file", direction="in", org="XW-C1-B2", format="csv").text)
    assert [r for r in inbox[1:] if scenario.inbound_letter in r] and len(inbox) == 2
    excel = clerk.get("/web/transfers/file", direction="out", format="xlsx")
    assert excel.status_code == 200 and excel.content.startswith(b"PK")
    stranger = WebClient(api, "sc_clerk")
    for org in ("XW-C1", "XW-C1-B2"):
        refused = stranger.get("/web/transfers/file", direction="in", org=org, format="csv")
        assert refused.status_code == 403 and name not in refused.text
    assert WebClient(api, None).get("/web/transfers/file", direction="in").status_code in (303, 401)


def test_letters_issued_together_each_judged_alone(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    clerk = WebClient(api, "xw_clerk")
    other = admit(api.ledger, 120, "XW-C1-B1", status="probationary")
    assert other
    answer = clerk.client.post("/web/transfers/bulk", data={
        "csrf_token": clerk.csrf, "action": "issue", "valid_days": "30", "back": "/web/outbox",
        "transfer_id": [scenario.requested, scenario.foreign, scenario.requested]})
    assert answer.status_code == 200
    html = answer.text
    assert api.ledger.transfer(scenario.requested).status == "issued"
    assert api.ledger.transfer(scenario.foreign).status == "issued"  # unchanged: it was issued already
    assert html.count(f'data-transfer="{scenario.requested}"') == 1  # the same letter twice is once
    refused = html.split('class="band red bulk-refused"', 1)[1]
    assert f'data-transfer="{scenario.foreign}"' in refused and 'data-code="out_of_jurisdiction"' in refused
    assert api.ledger.member(scenario.foreign_member).name not in html  # nothing outside is named
    nothing = clerk.client.post("/web/transfers/bulk", data={"csrf_token": clerk.csrf, "action": "issue"})
    assert nothing.status_code == 422
    forged = clerk.client.post("/web/transfers/bulk", data={"action": "issue", "transfer_id": scenario.requested})
    assert forged.status_code == 403
    auditor = WebClient(api, "xw_auditor")
    assert auditor.post("/web/transfers/bulk", {"action": "receive", "transfer_id": scenario.inbound}).status_code \
        == 403


def test_up_to_two_hundred_letters_go_at_once_and_no_more(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    clerk = WebClient(api, "xw_clerk")
    unknown = [f"00000000-0000-4000-8000-{n:012d}" for n in range(199)]
    answer = clerk.client.post("/web/transfers/bulk", data={
        "csrf_token": clerk.csrf, "action": "issue", "transfer_id": [scenario.requested, *unknown]})
    assert answer.status_code == 200 and answer.text.count('data-code="not_found"') == 199
    assert api.ledger.transfer(scenario.requested).status == "issued"
    too_many = clerk.client.post("/web/transfers/bulk", data={
        "csrf_token": clerk.csrf, "action": "issue", "transfer_id": [*unknown, "a", "b"]})
    assert too_many.status_code == 422
