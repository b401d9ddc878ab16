"""The web pages of issue 23: the members a clerk's subtree hosts (seed 004), and the
receive form asking who presented the letter (seed 001, 他人代办)."""

from __future__ import annotations

from datetime import date

from tests.factories import admit
from tests.web.conftest import WebClient


def test_the_host_clerk_lists_the_members_it_hosts(web) -> None:  # type: ignore[no-untyped-def]
    api, _ = web
    worker = admit(api.ledger, 51, "XW-C1-B1", name="陈务工")
    certificate = api.ledger.issue_certificate(
        worker, kind="mobile", purpose="外出务工", valid_until=date(2027, 9, 1),
        host_organization_code="SC-C1-B1", on=date(2026, 9, 1)).certificate_no
    assert certificate is not None
    page = WebClient(api, "sc_clerk").get("/web/orgs/SC-C1/hosted")
    assert page.status_code == 200
    assert f'data-certificate="{certificate}"' in page.text and "陈务工" in page.text and worker in page.text
    assert "玄武" in page.text or "第一党支部" in page.text  # the home, by name
    home_side = WebClient(api, "xw_clerk").get("/web/orgs/XW-C1/hosted")
    assert home_side.status_code == 200 and certificate not in home_side.text  # XW hosts no one
    assert WebClient(api, "xw_clerk").get("/web/orgs/SC-C1/hosted").status_code == 403
    api.ledger.return_certificate(certificate, on=date(2026, 10, 1))
    assert certificate not in WebClient(api, "sc_clerk").get("/web/orgs/SC-C1/hosted").text


def test_receiving_from_the_inbox_records_an_agent_who_presented_the_letter(web) -> None:  # type: ignore[no-untyped-def]
    api, scenario = web
    client = WebClient(api, "xw_clerk")
    inbox = client.get("/web/inbox").text
    assert 'name="presented_by"' in inbox and 'name="agent_name"' in inbox
    done = client.post(f"/web/transfers/{scenario.inbound}/receive", {
        "organization_code": "XW-C1-B2", "presented_by": "agent", "agent_name": "赵代办", "back": "/web/inbox"})
    assert done.status_code == 303, done.text
    transfer = api.ledger.transfer(scenario.inbound)
    assert (transfer.status, transfer.presented_by, transfer.agent_name) == ("received", "agent", "赵代办")
    member = client.get(f"/web/members/{scenario.inbound_member}").text
    assert "他人代办：赵代办" in member
