"""The organizations router (api/routes/organizations.py): register, read, dissolve, move,
children, rosters and overdue lists.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    certificate,
    dissolved_org,
    fresh_org,
    full_member,
    issued,
    new_member_body,
    no_500,
    probationary_member,
    received,
    recorded,
    refused,
    requested,
)
from tests.conftest import TODAY, Store

# --- organizations ----------------------------------------------------------------------------


def test_register_organization_answers_201_and_reads_back(api: Api) -> None:
    before = api.ledger.max_position()
    created = api.client("admin").post("/v1/organizations", {
        "code": "XW-C2-B9", "name": "科技园第九党支部（测试）", "kind": "branch", "parent_code": "XW-C2",
        "region": "320102", "on": "2026-01-05"})
    body = recorded(api, created, 201)
    assert body["position"] > before
    expected = {"code": "XW-C2-B9", "name": "科技园第九党支部（测试）", "kind": "branch", "parent_code": "XW-C2",
                "region": "320102", "status": "active", "successor_code": None}
    assert {k: body[k] for k in expected} == expected
    read = api.client("xw_auditor").get("/v1/organizations/XW-C2-B9")
    assert read.status_code == 200, read.text
    assert {k: read.json()[k] for k in expected} == expected
    children = api.client("xw_auditor").get("/v1/organizations/XW-C2/children").json()
    assert children["count"] == len(children["data"])
    assert "XW-C2-B9" in [c["code"] for c in children["data"]]
    assert {c["parent_code"] for c in children["data"]} == {"XW-C2"}


def _org_body(**overrides: Any) -> dict[str, Any]:
    body = {"code": f"N{uuid.uuid4().hex[:8]}", "name": "新支部", "kind": "branch", "parent_code": "XW-C2",
            "region": "320102", "on": "2026-02-01"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(("overrides", "code"), [
    ({"name": ...}, "validation_error"),
    ({"colour": "red"}, "validation_error"),
    ({"region": 320102}, "validation_error"),
    ({"region": "32010"}, "validation_error"),
    ({"kind": "club"}, "validation_error"),
    ({"code": "has space"}, "validation_error"),
    ({"on": "2026/02/01"}, "validation_error"),
    ({"parent_code": "XW-C1-B1"}, "validation_error"),  # a branch has no children
    ({"parent_code": "NOPE"}, "not_found"),
    ({"code": "XW-C1"}, "conflict"),  # taken
    ({"on": "2026-11-21"}, "future_date"),
    ({"on": "2019-12-31"}, "before_last_event"),  # before the parent was registered
], ids=["missing_name", "unknown_field", "region_number", "region_short", "bad_kind", "bad_code", "bad_date",
        "under_branch", "unknown_parent", "code_taken", "future", "before_parent"])
def test_register_organization_refusals(api: Api, overrides: dict[str, Any], code: str) -> None:
    refused(api, lambda: api.client("admin").post("/v1/organizations", _org_body(**overrides)), code)


def test_register_organization_under_a_dissolved_parent_is_refused(api: Api) -> None:
    parent = dissolved_org(api, "XW", "XW-C2")
    body = _org_body(parent_code=parent)
    refused(api, lambda: api.client("admin").post("/v1/organizations", body), "organization_dissolved")


def test_get_unknown_organization_is_404(api: Api) -> None:
    assert_problem(api.client("admin").get("/v1/organizations/NOPE"), "not_found")
    assert_problem(api.client("admin").get("/v1/organizations/NOPE/children"), "not_found")
    assert_problem(api.client("admin").get("/v1/organizations/NOPE/roster"), "not_found")


def test_dissolve_moves_members_to_the_successor(api: Api) -> None:
    code = fresh_org(api)
    number = full_member(api, code)
    body = recorded(api, api.client("admin").post(f"/v1/organizations/{code}/dissolve",
                                                   {"successor_code": "XW-C2-B1", "on": "2026-06-01"}))
    assert body["status"] == "dissolved"
    assert body["successor_code"] == "XW-C2-B1"
    member = api.client("admin").get(f"/v1/members/{number}").json()
    assert member["place"] == {"kind": "held", "organization_code": "XW-C2-B1", "transfer_id": None}
    roster = api.client("admin").get(f"/v1/organizations/{code}/roster").json()
    assert roster == {"data": [], "count": 0}
    assert api.client("admin").get(f"/v1/organizations/{code}").json()["status"] == "dissolved"
    # a dissolved organization can't be dissolved again, hold anyone, or be a transfer's target
    refused(api, lambda: api.client("admin").post(f"/v1/organizations/{code}/dissolve",
                                                   {"successor_code": "XW-C2-B1"}), "organization_dissolved")
    refused(api, lambda: api.client("xw_admin").post("/v1/members", new_member_body(code)),
            "organization_dissolved")
    other = full_member(api)
    refused(api, lambda: api.client("xw_clerk").post("/v1/transfers", {
        "registration_no": other, "to_organization_code": code, "reason": "job_change", "basis": "household"}),
        "organization_dissolved")


def test_dissolve_refusals(api: Api) -> None:
    admin = api.client("admin")
    plain = fresh_org(api)
    refused(api, lambda: admin.post(f"/v1/organizations/{plain}/dissolve", {"successor_code": "NOPE"}),
            "not_found")
    refused(api, lambda: admin.post("/v1/organizations/NOPE/dissolve", {"successor_code": "XW-C2-B1"}),
            "not_found")
    refused(api, lambda: admin.post(f"/v1/organizations/{plain}/dissolve", {}), "validation_error")
    refused(api, lambda: admin.post(f"/v1/organizations/{plain}/dissolve", {"successor_code": plain}),
            "validation_error")
    with_members = fresh_org(api)
    full_member(api, with_members)
    refused(api, lambda: admin.post(f"/v1/organizations/{with_members}/dissolve", {"successor_code": "XW-C2"}),
            "cannot_hold_members")
    busy = fresh_org(api)
    requested(api, full_member(api, busy))
    refused(api, lambda: admin.post(f"/v1/organizations/{busy}/dissolve", {"successor_code": "XW-C2-B1"}),
            "transfer_open")
    parent = fresh_org(api, "XW", "committee")
    child = fresh_org(api, parent)
    refused(api, lambda: admin.post(f"/v1/organizations/{parent}/dissolve", {"successor_code": child}),
            "validation_error")


def test_move_carries_the_members_along(api: Api) -> None:
    code = fresh_org(api, "XW-C2")
    number = full_member(api, code)
    body = recorded(api, api.client("admin").post(f"/v1/organizations/{code}/move",
                                                   {"parent_code": "XW-C1", "on": "2026-06-01"}))
    assert body["parent_code"] == "XW-C1"
    assert api.client("admin").get(f"/v1/organizations/{code}").json()["parent_code"] == "XW-C1"
    roster = api.client("admin").get("/v1/organizations/XW-C1/roster", subtree="true", limit=1000).json()
    assert number in [r["registration_no"] for r in roster["data"]]
    old = api.client("admin").get("/v1/organizations/XW-C2/roster", subtree="true", limit=1000).json()
    assert number not in [r["registration_no"] for r in old["data"]]
    refused(api, lambda: api.client("admin").post(f"/v1/organizations/{code}/move", {"parent_code": "XW-C1"}),
            "invalid_transition")  # already there


def test_move_refusals(api: Api) -> None:
    admin = api.client("admin")
    committee = fresh_org(api, "XW", "committee")
    child = fresh_org(api, committee, "general_branch")
    refused(api, lambda: admin.post(f"/v1/organizations/{committee}/move", {"parent_code": child}),
            "validation_error")  # under its own subtree
    refused(api, lambda: admin.post(f"/v1/organizations/{committee}/move", {"parent_code": "NOPE"}), "not_found")
    refused(api, lambda: admin.post(f"/v1/organizations/{committee}/move", {"parent_code": "XW-C1-B1"}),
            "validation_error")  # a branch has no children
    refused(api, lambda: admin.post(f"/v1/organizations/{committee}/move",
                                    {"parent_code": "QH", "on": "2026-12-01"}), "future_date")


# --- rosters and overdue lists ----------------------------------------------------------------


def test_roster_now_as_of_subtree_in_transit_and_paging(api: Api) -> None:
    committee = fresh_org(api, "XW", "committee")
    b1, b2 = fresh_org(api, committee), fresh_org(api, committee)
    early = sorted(full_member(api, b1) for _ in range(3))
    late = full_member(api, b1, on=date(2026, 3, 1))
    leaving = full_member(api, b1)
    issued(api, leaving, on=date(2026, 10, 1))
    other = full_member(api, b2)
    clerk = api.client("xw_admin")

    now = clerk.get(f"/v1/organizations/{b1}/roster").json()
    assert now["count"] == 4
    assert sorted(r["registration_no"] for r in now["data"]) == sorted([*early, late])
    row = next(r for r in now["data"] if r["registration_no"] == late)
    assert row["organization_code"] == b1
    assert row["since"] == "2026-03-01"
    assert row["status"] == "full"
    assert row["name"].startswith("党员")

    page1 = clerk.get(f"/v1/organizations/{b1}/roster", limit=3, offset=0).json()
    page2 = clerk.get(f"/v1/organizations/{b1}/roster", limit=3, offset=3).json()
    assert page1["count"] == page2["count"] == 4
    assert len(page1["data"]) == 3 and len(page2["data"]) == 1
    assert {r["registration_no"] for r in page1["data"] + page2["data"]} == {*early, late}

    with_transit = clerk.get(f"/v1/organizations/{b1}/roster", include_in_transit="true").json()
    assert with_transit["count"] == 5
    assert leaving in [r["registration_no"] for r in with_transit["data"]]

    before = clerk.get(f"/v1/organizations/{b1}/roster", as_of="2025-12-31").json()
    assert sorted(r["registration_no"] for r in before["data"]) == sorted([*early, leaving])
    assert before["count"] == 4

    assert clerk.get(f"/v1/organizations/{committee}/roster").json()["count"] == 0
    subtree = clerk.get(f"/v1/organizations/{committee}/roster", subtree="true").json()
    assert subtree["count"] == 5
    assert {r["registration_no"] for r in subtree["data"]} == {*early, late, other}
    old_subtree = clerk.get(f"/v1/organizations/{committee}/roster", subtree="true", as_of="2025-12-31").json()
    assert {r["registration_no"] for r in old_subtree["data"]} == {*early, leaving, other}

    assert_problem(clerk.get(f"/v1/organizations/{b1}/roster", limit=0), "validation_error")
    assert_problem(clerk.get(f"/v1/organizations/{b1}/roster", offset=-1), "validation_error")
    assert_problem(clerk.get(f"/v1/organizations/{b1}/roster", as_of="yesterday"), "validation_error")


def test_a_search_finds_a_name_however_its_characters_were_typed(api: Api) -> None:
    """Names are kept in NFC but for the CJK compatibility ideographs (Chinese text
    round-trips unchanged); a search looks for its text as kept and in unified form: a
    compatibility ideograph (U+F900, as some input methods and old files give it) finds the
    name typed with the unified one (U+8C48), in the roster and in the transfers' search,
    and a name kept with one (郎 U+F92C, GBK's FD9C) is found as it was typed."""
    clerk = api.client("xw_clerk")
    admitted = recorded(api, clerk.post("/v1/members", new_member_body(name="\u8c48小明")), 201)
    found = clerk.get("/v1/organizations/XW-C1-B1/roster", q="\uf900小明").json()
    assert [row["registration_no"] for row in found["data"]] == [admitted["registration_no"]]
    kept = recorded(api, clerk.post("/v1/members", new_member_body(name="张\uf92c")), 201)
    assert kept["name"] == clerk.get(f"/v1/members/{kept['registration_no']}").json()["name"] == "张\uf92c"
    found = clerk.get("/v1/organizations/XW-C1-B1/roster", q="张\uf92c").json()
    assert [row["name"] for row in found["data"]] == ["张\uf92c"]
    transfer_id = requested(api, admitted["registration_no"])
    with api.services.queries() as queries:
        rows, _ = queries.transfers("XW-C1", search="\uf900小明")
    assert [row["transfer_id"] for row in rows] == [transfer_id]


def test_percent_and_underscore_in_a_search_are_the_characters_typed(api: Api) -> None:
    """`%` and `_` (and a backslash) in a search find names holding them, not any name: the
    roster's, the transfers' and the targets' searches."""
    clerk = api.client("xw_clerk")
    plain = recorded(api, clerk.post("/v1/members", new_member_body(name="王百分")), 201)
    odd = recorded(api, clerk.post("/v1/members", new_member_body(name="王%_\\百分")), 201)
    requested(api, plain["registration_no"])
    requested(api, odd["registration_no"])
    for text, expected in (("%", [odd]), ("_", [odd]), ("\\", [odd]), ("%_\\百", [odd]), ("王_百", []),
                           ("王%百", []), ("百分", [plain, odd])):
        numbers = sorted(member["registration_no"] for member in expected)
        roster = clerk.get("/v1/organizations/XW-C1-B1/roster", q=text, limit=500).json()["data"]
        assert sorted(row["registration_no"] for row in roster) == numbers, text
        with api.services.queries() as queries:
            rows, _ = queries.transfers("XW-C1", search=text, limit=500)
            assert sorted(row["registration_no"] for row in rows) == numbers, text
    api.ledger.register_organization(f"T{uuid.uuid4().hex[:6].upper()}", "百分_之百党委", "committee", "XW", "320102",
                                     on=date(2026, 1, 5))
    with api.services.queries() as queries:
        assert [row["name"] for row in queries.targets_named("分_之")] == ["百分_之百党委"]
        assert queries.targets_named("分%百") == queries.targets_named("X_-") == []


def test_overdue_list_names_pocket_members_and_unreturned_certificates(api: Api) -> None:
    committee = fresh_org(api, "XW", "committee")
    branch = fresh_org(api, committee)
    pocket = full_member(api, branch)
    transfer_id = issued(api, pocket, on=date(2026, 9, 1))  # valid until 2026-10-01
    letter_no = api.ledger.transfer(transfer_id).letter_no
    away = full_member(api, branch)
    certificate_no = certificate(api, away, on=date(2026, 8, 1), until=date(2026, 9, 1))
    clerk = api.client("xw_admin")

    letters = clerk.get(f"/v1/organizations/{committee}/overdue", kind="overdue_letter").json()
    assert letters["count"] == 1
    row = letters["data"][0]
    assert row == {"kind": "overdue_letter", "registration_no": pocket, "name": row["name"],
                   "organization_code": branch, "reference": letter_no, "due_on": "2026-10-01",
                   "days_overdue": (TODAY - date(2026, 10, 1)).days,
                   "responsible_organization_code": committee}
    assert row["name"].startswith("党员")
    assert clerk.get(f"/v1/organizations/{committee}/overdue", kind="overdue_letter",
                     on="2026-09-20").json()["count"] == 0

    certificates = clerk.get(f"/v1/organizations/{committee}/overdue", kind="unreturned_certificate").json()
    assert [(r["registration_no"], r["reference"], r["due_on"]) for r in certificates["data"]] == [
        (away, certificate_no, "2026-09-01")]
    assert certificates["data"][0]["days_overdue"] == (TODAY - date(2026, 9, 1)).days

    everything = clerk.get(f"/v1/organizations/{committee}/overdue").json()
    assert everything["count"] == len(everything["data"])
    kinds = {(r["kind"], r["registration_no"]) for r in everything["data"]}
    assert ("overdue_letter", pocket) in kinds and ("unreturned_certificate", away) in kinds
    assert ("inactive_6m", away) in kinds  # imported in 2020, neither org life nor dues since
    assert_problem(clerk.get(f"/v1/organizations/{committee}/overdue", kind="late"), "validation_error")


def test_unreturned_receipt_is_overdue_after_30_days(api: Api) -> None:
    number = full_member(api, fresh_org(api))
    transfer_id = received(api, number, on=date(2026, 9, 1))  # received 2026-09-04
    rows = api.client("admin").get("/v1/organizations/QH-C1/overdue", kind="unreturned_receipt").json()["data"]
    mine = [r for r in rows if r["registration_no"] == number]
    assert len(mine) == 1
    assert mine[0]["due_on"] == "2026-10-04"
    assert mine[0]["days_overdue"] == (TODAY - date(2026, 10, 4)).days
    assert mine[0]["responsible_organization_code"] == "QH-C1"  # the receiving committee sends it
    api.ledger.return_receipt(transfer_id, on=date(2026, 11, 1))
    rows = api.client("admin").get("/v1/organizations/QH-C1/overdue", kind="unreturned_receipt").json()["data"]
    assert number not in [r["registration_no"] for r in rows]


# --- whole-organization moves and rosters as of a date ----------------------------------------


def test_whole_organization_move_in_reports_and_rosters(api: Api) -> None:
    old, new = fresh_org(api, "XW", "committee"), fresh_org(api, "XW", "committee")
    branch = fresh_org(api, old)
    members = {full_member(api, branch), full_member(api, branch)}
    recorded(api, api.client("xw_admin").post(f"/v1/organizations/{branch}/move",
                                              {"parent_code": new, "on": "2026-06-10"}))
    reader = api.client("xw_auditor")
    left = reader.get("/v1/reports/monthly", organization_code=old, month="2026-06").json()
    came = reader.get("/v1/reports/monthly", organization_code=new, month="2026-06").json()
    assert (left["opening"], left["transferred_out_whole_org"], left["closing"]) == (2, 2, 0)
    assert (came["opening"], came["transferred_in_whole_org"], came["closing"]) == (0, 2, 2)
    assert left["transferred_out_external"] == came["transferred_in_external"] == 0

    def subtree(code: str, as_of: str) -> set[str]:
        rows = reader.get(f"/v1/organizations/{code}/roster", subtree="true", as_of=as_of).json()["data"]
        return {r["registration_no"] for r in rows}

    assert subtree(old, "2026-06-09") == members and subtree(new, "2026-06-09") == set()
    assert subtree(old, "2026-06-10") == set() and subtree(new, "2026-06-10") == members


def test_a_letter_voided_leaves_the_members_since_as_it_was(api: Api) -> None:
    """A member whose letter was cancelled or rejected never left its branch of record: the
    roster's `since` (now and as of any day) stays the day it came, in transit and back."""
    home = fresh_org(api, "XW-C1")
    cancelled, rejected = full_member(api, home), full_member(api, home)
    for number, void in ((cancelled, api.ledger.cancel_transfer), (rejected, api.ledger.reject_transfer)):
        void(issued(api, number, on=date(2026, 3, 2)), "放弃", on=date(2026, 3, 8))
    clerk = api.client("xw_clerk")

    def since(**params: Any) -> dict[str, str]:
        rows = clerk.get(f"/v1/organizations/{home}/roster", include_in_transit="true", **params).json()["data"]
        return {row["registration_no"]: row["since"] for row in rows}

    came = {cancelled: "2020-06-01", rejected: "2020-06-01"}
    for day in (None, "2026-03-01", "2026-03-05", "2026-03-10"):
        assert since(**({"as_of": day} if day else {})) == came, day


def test_roster_as_of_shows_the_status_of_that_date(api: Api) -> None:
    branch = fresh_org(api, "XW-C1")
    number = probationary_member(api, date(2025, 6, 1), branch)
    recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/confirm", {"on": "2026-06-02"}))
    then = api.client("xw_clerk").get(f"/v1/organizations/{branch}/roster", as_of="2026-01-01").json()["data"]
    now = api.client("xw_clerk").get(f"/v1/organizations/{branch}/roster").json()["data"]
    assert [(r["registration_no"], r["status"]) for r in then] == [(number, "probationary")]
    assert [(r["registration_no"], r["status"]) for r in now] == [(number, "full")]
    assert api.client("xw_clerk").get(f"/v1/organizations/{branch}/roster", as_of="2025-05-31").json()["count"] == 0


def test_a_roster_or_overdue_list_of_a_day_after_today_is_refused(api: Api) -> None:
    """A roster is of now or a past day, the overdue list of today or a past day (today is
    2026-11-20): a later day would answer a forecast as fact (an inactive_6m row whose six
    months are all to come), as a month not begun has no report."""
    branch = fresh_org(api, "XW-C1")
    full_member(api, branch, on=date(2026, 1, 10))
    clerk = api.client("xw_clerk")
    for day in ("2026-11-21", "2027-06-01", "2999-12-31"):
        assert_problem(clerk.get(f"/v1/organizations/{branch}/roster", as_of=day), "future_date")
        assert_problem(clerk.get(f"/v1/organizations/{branch}/overdue", on=day), "future_date")
    assert clerk.get(f"/v1/organizations/{branch}/roster", as_of=TODAY.isoformat()).json()["count"] == 1
    today = clerk.get(f"/v1/organizations/{branch}/overdue", on=TODAY.isoformat())
    assert today.status_code == 200 and today.json() == clerk.get(f"/v1/organizations/{branch}/overdue").json()


# --- edges the fuzzer found (tests/api/test_fuzz.py leaves these inputs to these tests) -------


def test_the_overdue_list_of_the_first_year_is_no_500(api: Api) -> None:
    no_500(api.client("admin").get("/v1/organizations/XW/overdue", on="0001-01-15"))


def test_a_nul_character_in_a_name_is_refused_or_kept(store: Store) -> None:
    """Own store: a NUL can't reach PostgreSQL's views (it would stop them for good)."""
    own = Api(store)
    try:
        own.services.settings.read_wait_seconds = 1.0
        before = own.ledger.max_position()
        response = own.client("admin").post("/v1/organizations", {
            "code": "NUL1", "name": "第一\u0000支部", "kind": "branch", "parent_code": "XW-C1", "region": "320102"})
        assert response.status_code in (201, 422), response.text
        if response.status_code == 422:
            assert_problem(response, "validation_error")
            assert own.ledger.max_position() == before
        created = own.client("xw_clerk").post("/v1/members", new_member_body())
        assert created.status_code == 201, created.text
        roster = own.client("xw_clerk").get("/v1/organizations/XW-C1-B1/roster",
                                            min_position=created.json()["position"])
        assert roster.status_code == 200, roster.text
        assert created.json()["registration_no"] in [r["registration_no"] for r in roster.json()["data"]]
    finally:
        own.close()
