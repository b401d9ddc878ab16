"""Reads of personal records are logged, on both stores: every route that shows a member's
record or names members (the API's member, history, roster, overdue list, certificates,
event stream and printable letter; the web's member page, roster page and download,
overdue page and download, hosted page, inbox, outbox, transfer page, letter page and the
inbox's or outbox's download; the command line's history and export; a member's own record through /v1/me and
its pages /web/me/ and /web/me/history) leaves exactly one row of the access log, saying
who, which member (or list) and how; a refused read leaves none. Auditors of a root read the log; it is
sealed, so a row changed or removed shows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from projections import access
from tests.api.conftest import Api
from tests.conftest import TEST_ID_KEY, Store
from tests.factories import admit
from tests.web.conftest import WebClient
from tests.web.test_member_pages import MemberClient


@pytest.fixture
def logged(api: Api) -> Iterator[tuple[Api, str]]:
    yield api, admit(api.ledger, 1, "XW-C1-B1")


def rows(api: Api) -> list[dict[str, Any]]:
    with api.services.pool.connection() as db:
        return access.rows(db, 0, 100_000)


def read_api(path: str) -> Callable[[Api, str], int]:
    def read(api: Api, number: str) -> int:
        return api.client("xw_clerk" if "audit" not in path else "auditor").get(
            path.format(number=number)).status_code
    return read


def read_web(path: str) -> Callable[[Api, str], int]:
    def read(api: Api, number: str) -> int:
        return WebClient(api, "xw_clerk").get(path.format(number=number)).status_code
    return read


def issued_letter(api: Api, number: str) -> str:
    """The member's transfer to QH-C1-B1 with its letter issued (writes: no access-log row)."""
    on = date(2026, 11, 10)
    transfer = api.ledger.request_transfer(number, "QH-C1-B1", reason="job_change", basis="household", on=on)
    api.ledger.issue_letter(transfer.transfer_id or "", on=on)
    return transfer.transfer_id or ""


def read_letter(web: bool) -> Callable[[Api, str], int]:
    def read(api: Api, number: str) -> int:
        transfer_id = issued_letter(api, number)
        if web:
            return WebClient(api, "xw_clerk").get(f"/web/transfers/{transfer_id}/letter").status_code
        return api.client("xw_clerk").get(f"/v1/transfers/{transfer_id}/letter").status_code
    return read


def read_own_page(path: str) -> Callable[[Api, str], int]:
    def read(api: Api, number: str) -> int:
        _, token = api.ledger.issue_member_access(number)
        member = MemberClient(api, None)
        assert member.sign_in(token).status_code == 303
        return member.get(path).status_code
    return read


def read_transfers_file(api: Api, number: str) -> int:
    issued_letter(api, number)
    return WebClient(api, "xw_clerk").get("/web/transfers/file", org="XW-C1", direction="out").status_code


def read_certificate(api: Api, number: str) -> int:
    found = api.ledger.issue_certificate(number, kind="temporary", purpose="培训", valid_until=date(2026, 12, 31),
                                         host_description="省委党校", on=date(2026, 11, 10))
    return api.client("xw_clerk").get(f"/v1/certificates/{found.certificate_no}").status_code


def read_transfer_page(api: Api, number: str) -> int:
    return WebClient(api, "xw_clerk").get(f"/web/transfers/{issued_letter(api, number)}").status_code


ROUTES = {
    "member": (read_api("/v1/members/{number}"), "xw_clerk", "member", True, None),
    "history": (read_api("/v1/members/{number}/history"), "xw_clerk", "history", True, None),
    "roster": (read_api("/v1/organizations/XW-C1/roster"), "xw_clerk", "roster", False, "XW-C1"),
    "events": (read_api("/v1/audit/events"), "auditor", "export", False, "0"),
    "member_page": (read_web("/web/members/{number}"), "xw_clerk", "member_page", True, None),
    "roster_page": (read_web("/web/orgs/XW-C1/roster"), "xw_clerk", "roster_page", False, "XW-C1"),
    "roster_file": (read_web("/web/orgs/XW-C1/roster/file"), "xw_clerk", "roster_file", False, "XW-C1"),
    "letter": (read_letter(web=False), "xw_clerk", "letter", True, None),
    "letter_page": (read_letter(web=True), "xw_clerk", "letter", True, None),
    "my_record_page": (read_own_page("/web/me/"), "member", "member", True, None),
    "my_history_page": (read_own_page("/web/me/history"), "member", "history", True, None),
    "transfers_file": (read_transfers_file, "xw_clerk", "transfers_file", False, "XW-C1"),
    "overdue": (read_api("/v1/organizations/XW-C1/overdue"), "xw_clerk", "overdue", False, "XW-C1"),
    "certificates": (read_api("/v1/certificates?organization_code=XW-C1"), "xw_clerk", "certificates", False,
                     "XW-C1"),
    "certificate": (read_certificate, "xw_clerk", "certificate", True, None),
    "overdue_page": (read_web("/web/orgs/XW-C1/overdue"), "xw_clerk", "overdue_page", False, "XW-C1"),
    "overdue_file": (read_web("/web/orgs/XW-C1/overdue/file"), "xw_clerk", "overdue_file", False, "XW-C1"),
    "hosted_page": (read_web("/web/orgs/XW-C1/hosted"), "xw_clerk", "hosted_page", False, "XW-C1"),
    "inbox_page": (read_web("/web/inbox?org=XW-C1"), "xw_clerk", "inbox_page", False, "XW-C1"),
    "outbox_page": (read_web("/web/outbox?org=XW-C1"), "xw_clerk", "outbox_page", False, "XW-C1"),
    "transfer_page": (read_transfer_page, "xw_clerk", "transfer_page", True, None),
}


@pytest.mark.parametrize("route", ROUTES)
def test_a_read_through_each_route_leaves_exactly_one_row(logged: tuple[Api, str], route: str) -> None:
    api, number = logged
    read, label, action, of_member, scope = ROUTES[route]
    before = rows(api)
    assert read(api, number) == 200
    new = rows(api)[len(before):]
    assert len(new) == 1, new
    row = new[0]
    organization = {"xw_clerk": "XW-C1", "auditor": "JS", "member": None}[label]
    who = f"member:{number}" if label == "member" else api.operator_ids[label]
    assert (row["operator_id"], row["organization_code"], row["action"], row["registration_no"],
            row["scope"]) == (who, organization, action, number if of_member else None, scope)
    assert row["at"] and row["position"] > (before[-1]["position"] if before else 0)


def test_a_refused_read_leaves_no_row(logged: tuple[Api, str]) -> None:
    api, number = logged
    before = rows(api)
    assert api.client("qh_clerk").get(f"/v1/members/{number}").status_code == 403
    assert api.client("qh_clerk").get(f"/v1/members/{number}/history").status_code == 403
    assert api.client("qh_clerk").get("/v1/organizations/XW-C1/roster").status_code == 403
    assert rows(api) == before


def test_a_refused_letter_page_or_transfer_list_leaves_no_row(logged: tuple[Api, str]) -> None:
    api, number = logged
    requested = api.ledger.request_transfer(number, "QH-C1-B1", reason="job_change", basis="household",
                                            on=date(2026, 11, 10)).transfer_id
    before = rows(api)
    assert api.client("xw_clerk").get(f"/v1/transfers/{requested}/letter").status_code == 409  # not issued
    assert WebClient(api, "xw_clerk").get(f"/web/transfers/{requested}/letter").status_code == 409
    api.ledger.issue_letter(requested or "", on=date(2026, 11, 10))
    assert api.client("sc_clerk").get(f"/v1/transfers/{requested}/letter").status_code == 403
    stranger = WebClient(api, "sc_clerk")
    assert stranger.get(f"/web/transfers/{requested}/letter").status_code == 403
    assert stranger.get("/web/transfers/file", org="XW-C1", direction="out").status_code == 403
    assert MemberClient(api, None).get("/web/me/history").status_code == 303  # not signed in
    assert rows(api) == before


def test_auditors_of_a_root_read_the_log_by_member(logged: tuple[Api, str]) -> None:
    api, number = logged
    other = admit(api.ledger, 2, "XW-C1-B2")
    clerk = api.client("xw_clerk")
    for path in (f"/v1/members/{number}", f"/v1/members/{other}", f"/v1/members/{number}/history"):
        assert clerk.get(path).status_code == 200
    auditor = api.client("auditor")
    answer = auditor.get("/v1/audit/access", registration_no=number).json()
    assert [(r["action"], r["registration_no"]) for r in answer["data"]] == [("member", number),
                                                                             ("history", number)]
    everything = auditor.get("/v1/audit/access").json()["data"]
    assert [r["registration_no"] for r in everything] == [number, other, number]
    after = auditor.get("/v1/audit/access", after=everything[0]["position"], limit=1).json()
    assert [r["registration_no"] for r in after["data"]] == [other]
    assert after["next_after"] == everything[1]["position"]
    assert clerk.get("/v1/audit/access").status_code == 403
    assert api.client("xw_auditor").get("/v1/audit/access").status_code == 403
    assert auditor.get("/v1/audit/access", registration_no="nonsense").status_code == 422


@pytest.mark.parametrize("tampering", ["changed", "missing"])
def test_the_access_log_is_sealed(logged: tuple[Api, str], tampering: str) -> None:
    api, number = logged
    clerk = api.client("xw_clerk")
    for _ in range(3):
        assert clerk.get(f"/v1/members/{number}").status_code == 200
    auditor = api.client("auditor")
    assert auditor.get("/v1/audit/verify").json()["access_chain"]["ok"]
    position = rows(api)[1]["position"]
    with api.services.pool.connection() as db, db.transaction():
        if tampering == "changed":
            db.execute(f"UPDATE {access.TABLE} SET operator_id = ? WHERE position = ?", ("someone else", position))
        else:
            db.execute(f"DELETE FROM {access.TABLE} WHERE position = ?", (position,))
    answer = auditor.get("/v1/audit/verify").json()
    assert not answer["ok"]
    assert (answer["access_chain"]["first_bad_position"], answer["access_chain"]["reason"]) == (position, tampering)


def test_the_command_lines_reads_are_logged_as_the_systems(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    api = Api(store)
    try:
        number = admit(api.ledger, 1, "XW-C1-B1")
    finally:
        api.close()
    runner = CliRunner()
    assert runner.invoke(app, ["history", number]).exit_code == 0
    assert runner.invoke(app, ["export", "--after", "3"]).exit_code == 0
    assert runner.invoke(app, ["overdue", "--organization", "XW-C1", "--on", "2026-11-20"]).exit_code == 0
    result = runner.invoke(app, ["audit", "access", "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["data"]
    assert [(r["operator_id"], r["action"], r["registration_no"], r["scope"]) for r in found] == [
        (None, "history", number, None), (None, "export", None, "3"), (None, "overdue", None, "XW-C1")]
    result = runner.invoke(app, ["audit", "access", "--registration-no", number])
    assert result.exit_code == 0 and number in result.stdout and "history" in result.stdout
    result = runner.invoke(app, ["verify"])
    assert json.loads(result.stdout)["access_chain"]["ok"]


@pytest.mark.parametrize(("path", "action"), [("/v1/me", "member"), ("/v1/me/history", "history")])
def test_a_members_read_of_its_own_record_leaves_one_row(logged: tuple[Api, str], path: str, action: str) -> None:
    api, number = logged
    token = api.client("xw_clerk").post(f"/v1/members/{number}/access").json()["token"]
    before = rows(api)
    assert api.client(None).as_(token).get(path).status_code == 200
    new = rows(api)[len(before):]
    assert [(r["operator_id"], r["organization_code"], r["action"], r["registration_no"]) for r in new] == [
        (f"member:{number}", None, action, number)]
