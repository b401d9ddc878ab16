"""Every endpoint of shared/API.md through HTTP: what it answers, each refusal it can give
(status, problem+json body, stable code) and that a refusal records nothing.

The tests of this module share one app per store (module scope, built once on SQLite and
once on PostgreSQL); each test makes its own members, transfers and, where a figure must be
exact or a month gets filed, its own organizations, so the tests don't see each other.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from httpx import Response
from psycopg import sql

from domain.identifiers import check_character, make_registration_no
from tests.api.conftest import Api, member_body
from tests.conftest import POSTGRES_URL, TODAY, Store, postgres_available
from tests.factories import SETUP_DAY, admit, person

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
# API.md: 400/422 bad input, 401 no identity, 403 jurisdiction or role, 404 unknown, 409 a rule.
STATUS_FOR_CODE: dict[str, set[int]] = {
    "validation_error": {400, 422},
    "invalid_registration_no": {400, 422},
    "future_date": {400, 422},
    "idempotency_key_reused": {422},
    "unauthenticated": {401},
    "forbidden": {403},
    "out_of_jurisdiction": {403},
    "not_found": {404},
    # "at most 90 days" reads as a rule (409) or as bad input (422): the contract doesn't say.
    "validity_too_long": {409, 422},
}


def statuses_for(code: str) -> set[int]:
    return STATUS_FOR_CODE.get(code, {409})


# --- one store and one app per module ------------------------------------------------------


@contextmanager
def module_store(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Like tests/conftest.py's `store`, for a whole module."""
    if kind == "sqlite":
        store = Store("sqlite", f"sqlite:///{tmp_path_factory.mktemp('ledger')}/ledger.db")
        try:
            yield store
        finally:
            store.close()
        return
    postgres_available()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in POSTGRES_URL else "?"
    store = Store("postgres", f"{POSTGRES_URL}{separator}schema={schema}")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with module_store(request.param, tmp_path_factory) as store:
        yield store


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    yield api
    api.close()


# --- builders (through the Ledger itself: fast, and not what is under test) -----------------

_numbers = itertools.count(1000)
_codes = itertools.count(1)


def joined(n: int) -> date:
    """A distinct joining date per person, so each gets sequence 001 of its own day."""
    return date(2005, 1, 1) + timedelta(days=n)


def full_member(api: Api, org: str = "XW-C1-B1", on: date = date(2020, 6, 1)) -> str:
    n = next(_numbers)
    return admit(api.ledger, n, org, on=on, joined_on=joined(n))


def probationary_member(api: Api, joined_on: date, org: str = "XW-C1-B1") -> str:
    return admit(api.ledger, next(_numbers), org, on=joined_on, joined_on=joined_on, status="probationary")


def new_member_body(org: str = "XW-C1-B1", **overrides: Any) -> dict[str, Any]:
    n = next(_numbers)
    return member_body(n, org, **{"joined_on": joined(n).isoformat(), **overrides})


def fresh_org(api: Api, parent: str = "XW-C2", kind: str = "branch", on: date = SETUP_DAY) -> str:
    code = f"T{next(_codes)}-{kind[:2].upper()}"
    region = api.ledger.organization(parent).region
    api.ledger.register_organization(code, f"测试组织{code}", kind, parent, region, on=on)
    return code


def dissolved_org(api: Api, parent: str = "XW-C2", successor: str = "XW-C2-B1") -> str:
    code = fresh_org(api, parent)
    api.ledger.dissolve_organization(code, successor, on=date(2026, 1, 1))
    return code


def requested(api: Api, number: str, to: str = "QH-C1", on: date = date(2026, 10, 1), **extra: Any) -> str:
    recorded = api.ledger.request_transfer(number, to, reason="job_change", basis="household", on=on, **extra)
    assert recorded.transfer_id is not None
    return recorded.transfer_id


def issued(api: Api, number: str, to: str = "QH-C1", on: date = date(2026, 10, 1), valid_days: int = 30) -> str:
    transfer_id = requested(api, number, to, on)
    api.ledger.issue_letter(transfer_id, valid_days, on=on)
    return transfer_id


def received(api: Api, number: str, to: str = "QH-C1", into: str = "QH-C1-B1",
             on: date = date(2026, 10, 1)) -> str:
    transfer_id = issued(api, number, to, on)
    api.ledger.receive_member(transfer_id, into, on=on + timedelta(days=3))
    return transfer_id


def certificate(api: Api, number: str, on: date = date(2026, 10, 1), until: date = date(2026, 12, 31)) -> str:
    recorded = api.ledger.issue_certificate(
        number, kind="temporary", purpose="学习培训", valid_until=until, host_description="省委党校", on=on)
    assert recorded.certificate_no is not None
    return recorded.certificate_no


# --- assertions ------------------------------------------------------------------------------


def assert_problem(response: Response, code: str, statuses: set[int] | None = None) -> dict[str, Any]:
    """An application/problem+json error with the five keys of API.md and this code."""
    expected = statuses or statuses_for(code)
    assert response.status_code in expected, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["code"] == code, body
    assert body["status"] == response.status_code
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body  # type: ignore[no-any-return]


def refused(api: Api, call: Callable[[], Response], code: str) -> dict[str, Any]:
    """The call is refused with `code`, and nothing is recorded."""
    before = api.ledger.max_position()
    body = assert_problem(call(), code)
    assert api.ledger.max_position() == before, f"refused with {code} but recorded events"
    return body


def recorded(api: Api, response: Response, status: int = 200) -> dict[str, Any]:
    """A command's success: the status, and `position` = the position of its last event."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["position"], int)
    assert body["position"] == api.ledger.max_position()
    return body  # type: ignore[no-any-return]


def valid_registration_no(number: str) -> bool:
    return len(number) == 18 and number[:17].isdigit() and check_character(number[:17]) == number[17]


# --- errors in general -------------------------------------------------------------------------


def test_unknown_path_is_a_problem_404(api: Api) -> None:
    assert_problem(api.client("admin").get("/v1/no-such-thing"), "not_found")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"a string"'], ids=["malformed", "list", "string"])
def test_a_body_that_is_not_a_json_object_is_a_validation_error(api: Api, content: bytes) -> None:
    headers = {**api.client("xw_clerk").headers(), "Content-Type": "application/json"}
    refused(api, lambda: api.test_client.post("/v1/members", content=content, headers=headers), "validation_error")


@pytest.mark.parametrize("content", [b"\xff", b'{"name": "\xff"}'], ids=["byte", "in_a_string"])
def test_a_body_that_is_not_utf8_is_a_validation_error(api: Api, content: bytes) -> None:
    headers = {**api.client("admin").headers(), "Content-Type": "application/json"}
    refused(api, lambda: api.test_client.post("/v1/organizations", content=content, headers=headers),
            "validation_error")


def test_validation_errors_name_the_field(api: Api) -> None:
    body = new_member_body()
    del body["gender"]
    problem = refused(api, lambda: api.client("xw_clerk").post("/v1/members", body), "validation_error")
    assert "gender" in problem["detail"]


# --- organizations ------------------------------------------------------------------------------


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


# --- rosters and overdue lists ------------------------------------------------------------------


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


# --- operators ------------------------------------------------------------------------------------


def test_grant_list_and_revoke_an_operator(api: Api) -> None:
    created = api.client("xw_admin").post("/v1/operators", {"name": "新来的文员", "role": "clerk",
                                                            "organization_code": "XW-C2"})
    body = recorded(api, created, 201)
    assert body["role"] == "clerk" and body["organization_code"] == "XW-C2" and body["name"] == "新来的文员"
    assert body["active"] is True
    token, operator_id = body["token"], body["operator_id"]
    assert isinstance(token, str) and len(token) >= 20
    assert api.client().as_(token).get("/v1/organizations/XW-C2").status_code == 200
    listed = api.client("xw_admin").get("/v1/operators", organization_code="XW-C2").json()
    assert listed["count"] == len(listed["data"])
    mine = [o for o in listed["data"] if o["operator_id"] == operator_id]
    assert len(mine) == 1 and mine[0]["active"] is True and "token" not in mine[0]

    revoked = recorded(api, api.client("xw_admin").post(f"/v1/operators/{operator_id}/revoke"))
    assert revoked["active"] is False
    assert_problem(api.client().as_(token).get("/v1/organizations/XW-C2"), "unauthenticated")
    listed = api.client("xw_admin").get("/v1/operators", organization_code="XW-C2").json()
    assert [o["active"] for o in listed["data"] if o["operator_id"] == operator_id] == [False]
    refused(api, lambda: api.client("xw_admin").post(f"/v1/operators/{operator_id}/revoke"), "invalid_transition")


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "x", "role": "boss", "organization_code": "XW-C2"}, "validation_error"),
    ({"role": "clerk", "organization_code": "XW-C2"}, "validation_error"),
    ({"name": "x", "role": "clerk", "organization_code": "XW-C2", "token": "mine"}, "validation_error"),
    ({"name": "x", "role": "clerk", "organization_code": "NOPE"}, "not_found"),
], ids=["bad_role", "missing_name", "unknown_field", "unknown_org"])
def test_grant_operator_refusals(api: Api, body: dict[str, Any], code: str) -> None:
    refused(api, lambda: api.client("admin").post("/v1/operators", body), code)


def test_grant_operator_in_a_dissolved_organization_is_refused(api: Api) -> None:
    code = dissolved_org(api)
    refused(api, lambda: api.client("admin").post("/v1/operators", {
        "name": "x", "role": "clerk", "organization_code": code}), "organization_dissolved")


def test_revoke_unknown_operator_is_404(api: Api) -> None:
    refused(api, lambda: api.client("admin").post(f"/v1/operators/{uuid.uuid4()}/revoke"), "not_found")
    refused(api, lambda: api.client("admin").post("/v1/operators/not-an-id/revoke"), "not_found")


# --- members --------------------------------------------------------------------------------------


def test_admit_a_new_member_gets_a_registration_number(api: Api) -> None:
    body = new_member_body(name="欧阳·测试", status="probationary", joined_on="2026-03-01", on="2026-03-02")
    answer = recorded(api, api.client("xw_clerk").post("/v1/members", body), 201)
    number = answer["registration_no"]
    assert valid_registration_no(number)
    assert number.startswith("320102" + "20260301")  # the region of XW-C1-B1, the date joined
    assert answer["name"] == "欧阳·测试"
    assert answer["status"] == "probationary"
    assert answer["probation_ends_on"] == "2027-03-01"
    assert answer["place"] == {"kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
    assert isinstance(answer["flags"], list)
    read = api.client("xw_clerk").get(f"/v1/members/{number}").json()
    assert {k: read[k] for k in ("registration_no", "name", "status", "probation_ends_on", "place")} == {
        k: answer[k] for k in ("registration_no", "name", "status", "probation_ends_on", "place")}


def test_import_a_member_with_an_existing_number(api: Api) -> None:
    number = make_registration_no("330102", date(2012, 7, 1), 321)  # joined elsewhere
    answer = recorded(api, api.client("xw_clerk").post(
        "/v1/members", new_member_body(registration_no=number, status="full")), 201)
    assert answer["registration_no"] == number
    assert answer["status"] == "full"
    assert answer["probation_ends_on"] is None
    assert api.client("xw_clerk").get(f"/v1/members/{number}").json()["registration_no"] == number


def test_a_resident_id_frees_up_when_its_member_dies(api: Api) -> None:
    n = next(_numbers)
    first = admit(api.ledger, n, "XW-C1-B1", joined_on=joined(n))
    again = member_body(n, "XW-C1-B1", joined_on=joined(n).isoformat())
    refused(api, lambda: api.client("xw_clerk").post("/v1/members", again), "duplicate_registration")
    recorded(api, api.client("xw_clerk").post(f"/v1/members/{first}/death", {"on": "2026-01-01"}))
    assert api.client("xw_clerk").post("/v1/members", {**again, "on": "2026-02-01"}).status_code == 201


def _member_case(api: Api, case: str) -> dict[str, Any]:
    body = new_member_body()
    if case == "missing_name":
        del body["name"]
    elif case == "unknown_field":
        body["nickname"] = "小明"
    elif case == "date_as_number":
        body["birth_date"] = 19800101
    elif case == "bad_gender":
        body["gender"] = "unknown"
    elif case == "bad_category":
        body["category"] = "astronaut"
    elif case == "bad_id_card":
        body["id_card_no"] = body["id_card_no"][:17] + ("0" if body["id_card_no"][17] != "0" else "1")
    elif case == "joined_after_on":
        body.update(joined_on="2026-10-02", on="2026-10-01")
    elif case == "bad_household_region":
        body["household_region"] = "abc"
    elif case == "future":
        body["on"] = (TODAY + timedelta(days=1)).isoformat()
    elif case == "bad_check_character":
        good = make_registration_no("320102", date(2014, 7, 1), 5)
        body["registration_no"] = good[:17] + ("0" if good[17] != "0" else "1")
    elif case == "short_number":
        body["registration_no"] = "32010220140701005"
    elif case == "impossible_date_in_number":
        first17 = "32010220141301005"
        body["registration_no"] = first17 + check_character(first17)
    elif case == "duplicate_id_card":
        n = next(_numbers)
        admit(api.ledger, n, joined_on=joined(n))
        body["id_card_no"] = person(n)["id_card_no"]
    elif case == "duplicate_number":
        body["registration_no"] = full_member(api)
    elif case == "committee":
        body["organization_code"] = "XW-C1"
    elif case == "department":
        body["organization_code"] = "XW"
    elif case == "unknown_org":
        body["organization_code"] = "NOPE"
    elif case == "dissolved_org":
        body["organization_code"] = dissolved_org(api)
    elif case == "before_org_registered":
        body.update(organization_code=fresh_org(api, "XW-C1", on=date(2026, 5, 1)), on="2026-04-01")
    else:
        raise AssertionError(case)
    return body


@pytest.mark.parametrize(("case", "code"), [
    ("missing_name", "validation_error"),
    ("unknown_field", "validation_error"),
    ("date_as_number", "validation_error"),
    ("bad_gender", "validation_error"),
    ("bad_category", "validation_error"),
    ("bad_id_card", "validation_error"),
    ("joined_after_on", "validation_error"),
    ("bad_household_region", "validation_error"),
    ("future", "future_date"),
    ("bad_check_character", "invalid_registration_no"),
    ("short_number", "invalid_registration_no"),
    ("impossible_date_in_number", "invalid_registration_no"),
    ("duplicate_id_card", "duplicate_registration"),
    ("duplicate_number", "duplicate_registration"),
    ("committee", "cannot_hold_members"),
    ("department", "cannot_hold_members"),
    ("unknown_org", "not_found"),
    ("dissolved_org", "organization_dissolved"),
    ("before_org_registered", "before_last_event"),
])
def test_member_create_refusals(api: Api, case: str, code: str) -> None:
    body = _member_case(api, case)
    # the county's admin: the department and the dissolved branch are inside its subtree
    refused(api, lambda: api.client("xw_admin").post("/v1/members", body), code)


def test_get_unknown_member_is_404_at_a_root(api: Api) -> None:
    """A root department's operator holds the whole tree: a number the ledger does not
    know is `not_found` (API.md: 404 unknown)."""
    unknown = make_registration_no("320102", date(1999, 1, 1), 999)
    admin = api.client("admin")
    assert_problem(admin.get(f"/v1/members/{unknown}"), "not_found")
    assert_problem(admin.get(f"/v1/members/{unknown}/history"), "not_found")
    assert_problem(admin.get("/v1/members/garbage"), "not_found")
    refused(api, lambda: admin.post(f"/v1/members/{unknown}/confirm"), "not_found")
    refused(api, lambda: admin.post(f"/v1/members/{unknown}/dues", {"month": "2026-10", "amount": "1.00"}),
            "not_found")


def test_below_a_root_an_unknown_member_is_refused_like_one_outside(api: Api) -> None:
    """A registration number can be guessed: an operator below a root learns nothing from
    the refusal of one the ledger does not know (domain/jurisdiction.py)."""
    unknown = make_registration_no("320102", date(1999, 1, 1), 999)
    elsewhere = full_member(api, "SC-C1-B1")
    clerk = api.client("xw_clerk")
    for number in (unknown, elsewhere):
        words = {assert_problem(clerk.get(f"/v1/members/{number}"), "out_of_jurisdiction")["detail"],
                 assert_problem(clerk.get(f"/v1/members/{number}/history"), "out_of_jurisdiction")["detail"],
                 refused(api, lambda n=number: clerk.post(f"/v1/members/{n}/confirm"), "out_of_jurisdiction")["detail"],
                 refused(api, lambda n=number: clerk.post(f"/v1/members/{n}/dues",
                                                          {"month": "2026-10", "amount": "1.00"}),
                         "out_of_jurisdiction")["detail"]}
        assert words == {f"member {number} is not within the jurisdiction of XW-C1"}
    assert_problem(clerk.get("/v1/members/garbage"), "out_of_jurisdiction")


def test_confirm_makes_a_probationary_member_full(api: Api) -> None:
    number = probationary_member(api, date(2025, 6, 1))  # probation ended 2026-06-01
    assert "confirmation_due" in api.client("xw_clerk").get(f"/v1/members/{number}").json()["flags"]
    body = recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/confirm", {"on": "2026-06-02"}))
    assert body["status"] == "full"
    assert body["probation_ends_on"] is None
    assert "confirmation_due" not in body["flags"]
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/confirm", {}), "invalid_transition")


def test_confirm_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    early = probationary_member(api, date(2026, 3, 1))
    refused(api, lambda: clerk.post(f"/v1/members/{early}/confirm", {}), "probation_not_over")
    ended = probationary_member(api, date(2025, 6, 1))
    refused(api, lambda: clerk.post(f"/v1/members/{ended}/confirm", {"on": "2026-05-31"}), "probation_not_over")
    refused(api, lambda: clerk.post(f"/v1/members/{ended}/confirm", {"on": "2026-11-21"}), "future_date")
    refused(api, lambda: clerk.post(f"/v1/members/{ended}/confirm", {"on": 20260601}), "validation_error")
    travelling = probationary_member(api, date(2025, 12, 20))
    transfer_id = requested(api, travelling, on=date(2026, 11, 1), probation_override_reason="工作调动",
                            performance_record="表现良好")
    api.ledger.issue_letter(transfer_id, on=date(2026, 11, 1))
    refused(api, lambda: clerk.post(f"/v1/members/{travelling}/confirm", {}), "member_not_held")


def test_death_and_leaving_take_the_member_off_the_roster(api: Api) -> None:
    clerk = api.client("xw_clerk")
    dead, gone = full_member(api), full_member(api)
    body = recorded(api, clerk.post(f"/v1/members/{dead}/death", {"on": "2026-10-01"}))
    assert body["place"]["kind"] == "deceased"
    body = recorded(api, clerk.post(f"/v1/members/{gone}/leave", {"reason": "self_withdrawal"}))
    assert body["place"]["kind"] == "left"
    roster = clerk.get("/v1/organizations/XW-C1-B1/roster", limit=1000).json()
    assert not {dead, gone} & {r["registration_no"] for r in roster["data"]}
    for number in (dead, gone):  # gone is terminal
        refused(api, lambda number=number: clerk.post(f"/v1/members/{number}/death", {}), "member_not_held")
        refused(api, lambda number=number: clerk.post(f"/v1/members/{number}/dues",
                                                      {"month": "2026-11", "amount": "5.00"}), "member_not_held")
        refused(api, lambda number=number: clerk.post("/v1/transfers", {
            "registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change",
            "basis": "household"}), "member_not_held")


def test_death_and_leaving_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    busy = full_member(api)
    requested(api, busy)
    refused(api, lambda: clerk.post(f"/v1/members/{busy}/death", {}), "transfer_open")
    refused(api, lambda: clerk.post(f"/v1/members/{busy}/leave", {"reason": "withdrew"}), "transfer_open")
    number = full_member(api)
    refused(api, lambda: clerk.post(f"/v1/members/{number}/leave", {"reason": "bored"}), "validation_error")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/leave", {}), "validation_error")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/death", {"on": "2020-05-31"}), "before_last_event")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/death", {"cause": "x"}), "validation_error")


def test_org_life_and_dues_clear_the_inactivity_flag(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    assert "inactive_6m" in clerk.get(f"/v1/members/{number}").json()["flags"]
    recorded(api, clerk.post(f"/v1/members/{number}/org-life", {"organization_code": "XW-C1-B1",
                                                                 "on": "2026-10-15"}))
    assert "inactive_6m" not in clerk.get(f"/v1/members/{number}").json()["flags"]
    other = full_member(api)
    body = recorded(api, clerk.post(f"/v1/members/{other}/dues", {"month": "2026-09", "amount": "12.50",
                                                                  "on": "2026-09-30"}))
    assert "inactive_6m" not in body["flags"]


@pytest.mark.parametrize(("body", "code"), [
    ({"month": "2026-10", "amount": 12.5}, "validation_error"),
    ({"month": "2026-10", "amount": "abc"}, "validation_error"),
    ({"month": "2026-10", "amount": "-1.00"}, "validation_error"),
    ({"month": "2026-10", "amount": "1.234"}, "validation_error"),
    ({"month": "2026-13", "amount": "1.00"}, "validation_error"),
    ({"month": "202610", "amount": "1.00"}, "validation_error"),
    ({"amount": "1.00"}, "validation_error"),
    ({"month": "2026-10", "amount": "1.00", "on": "2026-11-21"}, "future_date"),
    ({"month": "2026-10", "amount": "1.00", "on": "2019-01-01"}, "before_last_event"),
], ids=["float", "text", "negative", "three_places", "month_13", "month_format", "missing_month", "future",
        "before_import"])
def test_dues_refusals(api: Api, body: dict[str, Any], code: str) -> None:
    number = full_member(api)
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/dues", body), code)


def test_org_life_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    refused(api, lambda: clerk.post(f"/v1/members/{number}/org-life", {"organization_code": "NOPE"}), "not_found")
    dissolved = dissolved_org(api)
    refused(api, lambda: clerk.post(f"/v1/members/{number}/org-life", {"organization_code": dissolved}),
            "organization_dissolved")
    refused(api, lambda: clerk.post(f"/v1/members/{number}/org-life", {}), "validation_error")


# --- member history ------------------------------------------------------------------------------


def test_member_history_oldest_first_with_who_and_when(api: Api) -> None:
    clerk = api.client("xw_clerk")
    created = recorded(api, clerk.post("/v1/members", new_member_body(name="李四·历史")), 201)
    number = created["registration_no"]
    dues = recorded(api, clerk.post(f"/v1/members/{number}/dues", {"month": "2026-10", "amount": "12.50",
                                                                   "on": "2026-10-05"}))
    request = recorded(api, clerk.post("/v1/transfers", {
        "registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change", "basis": "household",
        "on": "2026-10-06"}), 201)
    issue = recorded(api, clerk.post(f"/v1/transfers/{request['transfer_id']}/issue", {"on": "2026-10-07"}))
    receive = recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{request['transfer_id']}/receive", {
        "organization_code": "QH-C1-B1", "on": "2026-10-09"}))

    history = api.client("qh_clerk").get(f"/v1/members/{number}/history")
    assert history.status_code == 200, history.text
    rows = history.json()["data"]
    positions = [r["position"] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)  # oldest first
    for row in rows:
        assert {"position", "type", "on", "recorded_at", "actor", "request_id", "data"} <= row.keys()
        assert isinstance(row["type"], str) and row["type"]
        assert isinstance(row["data"], dict)
        datetime.fromisoformat(row["recorded_at"])
    # a command's events lie after the previous command's last position, up to its own
    steps = [(created, "2020-06-01", "xw_clerk"), (dues, "2026-10-05", "xw_clerk"),
             (request, "2026-10-06", "xw_clerk"), (issue, "2026-10-07", "xw_clerk"),
             (receive, "2026-10-09", "qh_clerk")]
    previous, request_ids = 0, []
    for answer, on, who in steps:
        mine = [r for r in rows if previous < r["position"] <= answer["position"]]
        assert mine, f"no history of the command recorded at {answer['position']}"
        assert {r["on"] for r in mine} == {on}
        assert {r["actor"] for r in mine} == {api.operator_ids[who]}
        assert len({r["request_id"] for r in mine}) == 1 and mine[0]["request_id"]
        request_ids.append(mine[0]["request_id"])
        previous = answer["position"]
    assert len(rows) == sum(1 for r in rows if r["position"] <= receive["position"])
    assert len(set(request_ids)) == len(steps)  # one request id per command
    paid = [r for r in rows if r["data"].get("month") == "2026-10"]
    assert len(paid) == 1 and paid[0]["data"]["amount"] == "12.50"
    assert any(r["data"].get("name") == "李四·历史" for r in rows)  # Chinese round-trips in the trail


# --- transfers -----------------------------------------------------------------------------------


def transfer_body(number: str, **overrides: Any) -> dict[str, Any]:
    body = {"registration_no": number, "to_organization_code": "QH-C1", "reason": "job_change",
            "basis": "household", "on": "2026-10-01"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def test_a_transfer_from_request_to_receipt(api: Api) -> None:
    xw, qh = api.client("xw_clerk"), api.client("qh_clerk")
    number = full_member(api)
    created = recorded(api, xw.post("/v1/transfers", transfer_body(number, reason="retirement_relocation")), 201)
    transfer_id = created["transfer_id"]
    assert created["status"] == "requested"
    assert created["registration_no"] == number
    assert created["from_organization_code"] == "XW-C1-B1"
    assert created["to_organization_code"] == "QH-C1"
    assert created["reason"] == "retirement_relocation"
    assert created["requested_on"] == "2026-10-01"
    assert api.client("xw_clerk").get(f"/v1/members/{number}").json()["place"]["kind"] == "held"

    letter = recorded(api, xw.post(f"/v1/transfers/{transfer_id}/issue", {"valid_days": 45, "on": "2026-10-02"}))
    assert letter["status"] == "issued"
    assert isinstance(letter["letter_no"], str) and letter["letter_no"]
    assert letter["valid_until"] == "2026-11-16"
    assert letter["issued_on"] == "2026-10-02"
    assert letter["route"] == "cross_county"  # Xuanwu to Qinhuai, both in Nanjing
    assert letter["paper_stops"] == 6 and letter["network_stops"] == 2
    member = xw.get(f"/v1/members/{number}").json()
    assert member["place"] == {"kind": "in_transit", "organization_code": "XW-C1-B1", "transfer_id": transfer_id}
    # the receiving side sees the letter (by number) and the member in transit
    found = qh.get("/v1/transfers", letter_no=letter["letter_no"], organization_code="QH-C1").json()
    assert [t["transfer_id"] for t in found["data"]] == [transfer_id] and found["count"] == 1
    assert qh.get(f"/v1/members/{number}").status_code == 200

    got = recorded(api, qh.post(f"/v1/transfers/{transfer_id}/receive",
                                {"organization_code": "QH-C1-B1", "on": "2026-10-20"}))
    assert got["status"] == "received"
    assert got["received_in_code"] == "QH-C1-B1"
    assert got["received_on"] == "2026-10-20"
    member = qh.get(f"/v1/members/{number}").json()
    assert member["place"] == {"kind": "held", "organization_code": "QH-C1-B1", "transfer_id": None}

    back = recorded(api, qh.post(f"/v1/transfers/{transfer_id}/return-receipt", {"on": "2026-10-25"}))
    assert back["status"] == "receipt_returned"
    assert back["receipt_returned_on"] == "2026-10-25"
    read = xw.get(f"/v1/transfers/{transfer_id}").json()
    for key in ("transfer_id", "letter_no", "registration_no", "from_organization_code", "to_organization_code",
                "received_in_code", "status", "reason", "route", "paper_stops", "network_stops", "requested_on",
                "issued_on", "valid_until", "received_on", "receipt_returned_on"):
        assert read[key] == back[key], key
    refused(api, lambda: qh.post(f"/v1/transfers/{transfer_id}/return-receipt", {}), "invalid_transition")


def test_transfer_routes(api: Api) -> None:
    clerk = api.client("xw_clerk")
    routes = {}
    for target in ("XW-C1", "XW-C2", "QH-C1", "SC-C1"):
        number = full_member(api)
        transfer_id = requested(api, number, to=target)
        routes[target] = recorded(api, clerk.post(f"/v1/transfers/{transfer_id}/issue", {}))["route"]
    assert routes == {"XW-C1": "within_committee", "XW-C2": "within_county", "QH-C1": "cross_county",
                      "SC-C1": "cross_province"}


def _transfer_case(api: Api, case: str) -> dict[str, Any]:
    number = full_member(api)
    if case == "unknown_member":
        return transfer_body(make_registration_no("320102", date(1999, 1, 2), 998))
    if case == "unknown_target":
        return transfer_body(number, to_organization_code="NOPE")
    if case == "in_transit":
        issued(api, number)
    elif case == "open_transfer":
        requested(api, number)
    elif case == "same_organization":
        return transfer_body(number, to_organization_code="XW-C1-B1")
    elif case == "dissolved_target":
        return transfer_body(number, to_organization_code=dissolved_org(api, "QH", "QH-C1"))
    elif case == "department_target":
        return transfer_body(number, to_organization_code="QH")
    elif case == "workplace_without_contract":
        return transfer_body(number, basis="workplace")
    elif case == "residence_with_contract":
        return transfer_body(number, basis="residence", evidence={"kind": "labor_contract", "reference": "HT-1"})
    elif case == "bad_reason":
        return transfer_body(number, reason="vacation")
    elif case == "bad_evidence_kind":
        return transfer_body(number, basis="workplace", evidence={"kind": "passport", "reference": "P1"})
    elif case == "evidence_unknown_field":
        return transfer_body(number, basis="workplace",
                             evidence={"kind": "labor_contract", "reference": "HT-1", "pages": 3})
    elif case == "missing_basis":
        return transfer_body(number, basis=...)
    elif case == "future":
        return transfer_body(number, on="2026-11-21")
    elif case == "before_import":
        return transfer_body(number, on="2020-05-01")
    elif case == "probation_ending":  # probation ends 2027-01-10: 51 days left
        return transfer_body(probationary_member(api, date(2026, 1, 10)), on=TODAY.isoformat())
    elif case == "performance_record":  # 264 days into probation, 101 left
        return transfer_body(probationary_member(api, date(2026, 3, 1)), on=TODAY.isoformat())
    elif case == "confirmation_due":
        return transfer_body(probationary_member(api, date(2025, 6, 1)), on=TODAY.isoformat())
    else:
        raise AssertionError(case)
    return transfer_body(number)


@pytest.mark.parametrize(("case", "code"), [
    ("unknown_member", "out_of_jurisdiction"),
    ("unknown_target", "not_found"),
    ("in_transit", "member_not_held"),
    ("open_transfer", "transfer_open"),
    ("same_organization", "same_organization"),
    ("dissolved_target", "organization_dissolved"),
    ("department_target", "cannot_hold_members"),
    ("workplace_without_contract", "evidence_required"),
    ("residence_with_contract", "evidence_required"),
    ("bad_reason", "validation_error"),
    ("bad_evidence_kind", "validation_error"),
    ("evidence_unknown_field", "validation_error"),
    ("missing_basis", "validation_error"),
    ("future", "future_date"),
    ("before_import", "before_last_event"),
    ("probation_ending", "probation_ending"),
    ("performance_record", "performance_record_required"),
    ("confirmation_due", "confirmation_due"),
])
def test_transfer_request_refusals(api: Api, case: str, code: str) -> None:
    body = _transfer_case(api, case)
    refused(api, lambda: api.client("xw_clerk").post("/v1/transfers", body), code)


def test_probation_rules_give_way_to_their_remedies(api: Api) -> None:
    clerk = api.client("xw_clerk")
    today = TODAY.isoformat()
    ending = probationary_member(api, date(2026, 1, 10))
    recorded(api, clerk.post("/v1/transfers", transfer_body(
        ending, on=today, probation_override_reason="随配偶工作调动", performance_record="考察良好")), 201)
    long_in = probationary_member(api, date(2026, 3, 1))
    recorded(api, clerk.post("/v1/transfers", transfer_body(long_in, on=today, performance_record="表现良好")), 201)
    early = probationary_member(api, date(2026, 9, 1))  # 80 days in: no record needed
    recorded(api, clerk.post("/v1/transfers", transfer_body(early, on=today)), 201)
    worker = full_member(api)
    recorded(api, clerk.post("/v1/transfers", transfer_body(
        worker, basis="workplace", evidence={"kind": "labor_contract", "reference": "劳动合同2026-001"})), 201)
    tenant = full_member(api)
    recorded(api, clerk.post("/v1/transfers", transfer_body(
        tenant, basis="residence", evidence={"kind": "lease", "reference": "租赁合同-77"})), 201)


def test_issue_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    transfer_id = requested(api, full_member(api))
    issue = f"/v1/transfers/{transfer_id}/issue"
    refused(api, lambda: clerk.post(issue, {"valid_days": 91}), "validity_too_long")
    refused(api, lambda: clerk.post(issue, {"valid_days": 0}), "validation_error")
    refused(api, lambda: clerk.post(issue, {"valid_days": "30"}), "validation_error")
    refused(api, lambda: clerk.post(issue, {"valid_days": 30.5}), "validation_error")
    refused(api, lambda: clerk.post(issue, {"on": "2026-09-30"}), "before_last_event")
    refused(api, lambda: clerk.post(issue, {"on": "2026-11-21"}), "future_date")
    refused(api, lambda: clerk.post(f"/v1/transfers/{uuid.uuid4()}/issue", {}), "not_found")
    refused(api, lambda: clerk.post("/v1/transfers/not-a-transfer/issue", {}), "not_found")
    recorded(api, clerk.post(issue, {"valid_days": 90}))
    refused(api, lambda: clerk.post(issue, {}), "invalid_transition")
    target = fresh_org(api, "QH-C1")
    gone = requested(api, full_member(api), to=target)
    api.ledger.dissolve_organization(target, "QH-C1-B1", on=date(2026, 10, 2))
    refused(api, lambda: clerk.post(f"/v1/transfers/{gone}/issue", {}), "organization_dissolved")


def test_a_letter_is_not_issued_once_probation_has_ended(api: Api) -> None:
    number = probationary_member(api, date(2025, 11, 1))  # probation ends 2026-11-01
    transfer_id = requested(api, number, on=date(2026, 5, 1), performance_record="表现良好",
                            probation_override_reason="随军调动")
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/issue", {}), "confirmation_due")
    recorded(api, api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/issue", {"on": "2026-10-31"}))


def test_decline_closes_a_request(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    transfer_id = requested(api, number)
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/decline", {}), "validation_error")
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/decline", {"reason": ""}), "validation_error")
    body = recorded(api, clerk.post(f"/v1/transfers/{transfer_id}/decline", {"reason": "材料不全"}))
    assert body["status"] == "declined"
    assert clerk.get(f"/v1/members/{number}").json()["place"] == {
        "kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/decline", {"reason": "again"}),
            "invalid_transition")
    refused(api, lambda: clerk.post(f"/v1/transfers/{transfer_id}/issue", {}), "invalid_transition")
    recorded(api, clerk.post("/v1/transfers", transfer_body(number, on=TODAY.isoformat())), 201)  # may ask again
    letter = issued(api, full_member(api))
    refused(api, lambda: clerk.post(f"/v1/transfers/{letter}/decline", {"reason": "late"}), "invalid_transition")


def test_receive_refusals(api: Api) -> None:
    qh = api.client("qh_clerk")
    transfer_id = issued(api, full_member(api), on=date(2026, 11, 1))
    receive = f"/v1/transfers/{transfer_id}/receive"
    refused(api, lambda: qh.post(receive, {"organization_code": "XW-C2-B1"}), "not_in_target_subtree")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1"}), "cannot_hold_members")
    refused(api, lambda: qh.post(receive, {"organization_code": "NOPE"}), "not_found")
    dissolved = dissolved_org(api, "QH-C1", "QH-C1-B1")
    refused(api, lambda: qh.post(receive, {"organization_code": dissolved}), "organization_dissolved")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1", "on": "2026-10-31"}),
            "before_last_event")
    refused(api, lambda: qh.post(receive, {}), "validation_error")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1", "extra": 1}), "validation_error")
    recorded(api, qh.post(receive, {"organization_code": "QH-C1-B1"}))
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1"}), "invalid_transition")
    not_issued = requested(api, full_member(api))
    refused(api, lambda: qh.post(f"/v1/transfers/{not_issued}/receive", {"organization_code": "QH-C1-B1"}),
            "invalid_transition")
    refused(api, lambda: qh.post(f"/v1/transfers/{not_issued}/return-receipt", {}), "invalid_transition")


def test_receive_into_the_sending_organization_is_refused(api: Api) -> None:
    transfer_id = issued(api, full_member(api), to="XW-C1")  # target XW-C1 holds the sender XW-C1-B1
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                                      {"organization_code": "XW-C1-B1"}), "same_organization")
    recorded(api, api.client("xw_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                              {"organization_code": "XW-C1-B2", "on": "2026-10-05"}))


def test_an_expired_letter_needs_a_late_certificate(api: Api) -> None:
    qh = api.client("qh_clerk")
    transfer_id = issued(api, full_member(api), on=date(2026, 9, 1))  # valid until 2026-10-01
    receive = f"/v1/transfers/{transfer_id}/receive"
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1"}), "letter_expired")
    refused(api, lambda: qh.post(receive, {"organization_code": "QH-C1-B1", "late_certificate": "  "}),
            "letter_expired")
    body = recorded(api, qh.post(receive, {"organization_code": "QH-C1-B1", "late_certificate": "因病住院证明"}))
    assert body["status"] == "received"
    assert body.get("on_time") in (False, None)
    on_time = issued(api, full_member(api), on=date(2026, 9, 1))
    body = recorded(api, qh.post(f"/v1/transfers/{on_time}/receive",
                                 {"organization_code": "QH-C1-B1", "on": "2026-10-01"}))  # the last valid day
    assert body["status"] == "received"


def test_reject_and_cancel_bring_the_member_home(api: Api) -> None:
    xw, qh = api.client("xw_clerk"), api.client("qh_clerk")
    for action, client, status in (("reject", qh, "rejected"), ("cancel", xw, "cancelled")):
        number = full_member(api)
        transfer_id = issued(api, number)
        refused(api, lambda transfer_id=transfer_id, client=client, action=action: client.post(
            f"/v1/transfers/{transfer_id}/{action}", {}), "validation_error")
        body = recorded(api, client.post(f"/v1/transfers/{transfer_id}/{action}", {"reason": "不符合条件"}))
        assert body["status"] == status
        member = xw.get(f"/v1/members/{number}").json()
        assert member["place"] == {"kind": "held", "organization_code": "XW-C1-B1", "transfer_id": None}
        refused(api, lambda transfer_id=transfer_id, client=client, action=action: client.post(
            f"/v1/transfers/{transfer_id}/{action}", {"reason": "again"}), "invalid_transition")
        refused(api, lambda transfer_id=transfer_id: qh.post(f"/v1/transfers/{transfer_id}/receive",
                                                             {"organization_code": "QH-C1-B1"}), "invalid_transition")
        recorded(api, xw.post("/v1/transfers", transfer_body(number, on=TODAY.isoformat())), 201)  # anew
    not_issued = requested(api, full_member(api))
    refused(api, lambda: qh.post(f"/v1/transfers/{not_issued}/reject", {"reason": "x"}), "invalid_transition")
    refused(api, lambda: xw.post(f"/v1/transfers/{not_issued}/cancel", {"reason": "x"}), "invalid_transition")
    done = received(api, full_member(api))
    refused(api, lambda: xw.post(f"/v1/transfers/{done}/cancel", {"reason": "x"}), "invalid_transition")
    refused(api, lambda: qh.post(f"/v1/transfers/{done}/reject", {"reason": "x"}), "invalid_transition")


def test_extend_a_letter_within_90_days(api: Api) -> None:
    clerk = api.client("xw_clerk")
    transfer_id = issued(api, full_member(api), on=date(2026, 9, 1))  # valid until 2026-10-01
    extend = f"/v1/transfers/{transfer_id}/extend"
    refused(api, lambda: clerk.post(extend, {"valid_until": "2026-12-01"}), "validity_too_long")  # day 91
    refused(api, lambda: clerk.post(extend, {"valid_until": "2026-10-01"}), "validation_error")  # not later
    refused(api, lambda: clerk.post(extend, {"valid_until": "2026-10-1"}), "validation_error")
    refused(api, lambda: clerk.post(extend, {}), "validation_error")
    body = recorded(api, clerk.post(extend, {"valid_until": "2026-11-30"}))  # day 90
    assert body["valid_until"] == "2026-11-30"
    assert body["status"] == "issued"
    body = recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                                     {"organization_code": "QH-C1-B1"}))
    assert body["status"] == "received"  # on time again: no late certificate needed
    not_issued = requested(api, full_member(api))
    refused(api, lambda: clerk.post(f"/v1/transfers/{not_issued}/extend", {"valid_until": "2026-11-30"}),
            "invalid_transition")


def test_get_unknown_transfer_is_404(api: Api) -> None:
    assert_problem(api.client("admin").get(f"/v1/transfers/{uuid.uuid4()}"), "not_found")
    assert_problem(api.client("admin").get("/v1/transfers/not-a-uuid"), "not_found")


def test_transfer_list_filters_and_pages(api: Api) -> None:
    branch = fresh_org(api, "XW-C1")
    ids = [issued(api, full_member(api, branch)) for _ in range(3)]
    pending = requested(api, full_member(api, branch))
    clerk = api.client("xw_clerk")
    everything = clerk.get("/v1/transfers", organization_code=branch).json()
    assert everything["count"] == 4
    assert {t["transfer_id"] for t in everything["data"]} == {*ids, pending}
    only_issued = clerk.get("/v1/transfers", organization_code=branch, status="issued").json()
    assert only_issued["count"] == 3 and {t["status"] for t in only_issued["data"]} == {"issued"}
    page = clerk.get("/v1/transfers", organization_code=branch, limit=3, offset=0).json()
    rest = clerk.get("/v1/transfers", organization_code=branch, limit=3, offset=3).json()
    assert page["count"] == rest["count"] == 4
    assert len(page["data"]) == 3 and len(rest["data"]) == 1
    assert {t["transfer_id"] for t in page["data"] + rest["data"]} == {*ids, pending}
    assert_problem(clerk.get("/v1/transfers", limit=0), "validation_error")
    assert_problem(clerk.get("/v1/transfers", limit=1001), "validation_error")
    assert_problem(clerk.get("/v1/transfers", organization_code="NOPE"), "not_found")


# --- certificates ------------------------------------------------------------------------------


def test_issue_read_and_return_a_certificate(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)
    body = recorded(api, clerk.post("/v1/certificates", {
        "registration_no": number, "kind": "temporary", "host_description": "中央党校（国家行政学院）",
        "purpose": "参加中青年干部培训班", "valid_until": "2027-05-20", "on": "2026-11-20"}), 201)
    number_of_certificate = body["certificate_no"]
    assert isinstance(number_of_certificate, str) and number_of_certificate
    assert body["kind"] == "temporary" and body["registration_no"] == number
    assert body["host_description"] == "中央党校（国家行政学院）"
    assert body["purpose"] == "参加中青年干部培训班"
    assert body["valid_until"] == "2027-05-20" and body["issued_on"] == "2026-11-20"
    assert body["status"] == "issued"
    assert clerk.get(f"/v1/members/{number}").json()["place"]["kind"] == "held"  # stays at home
    read = clerk.get(f"/v1/certificates/{number_of_certificate}").json()
    assert {k: read[k] for k in ("certificate_no", "kind", "purpose", "host_description", "status")} == {
        k: body[k] for k in ("certificate_no", "kind", "purpose", "host_description", "status")}
    back = recorded(api, clerk.post(f"/v1/certificates/{number_of_certificate}/return", {}))
    assert back["status"] == "returned" and back["returned_on"] == TODAY.isoformat()
    refused(api, lambda: clerk.post(f"/v1/certificates/{number_of_certificate}/return", {}), "invalid_transition")
    mobile = recorded(api, clerk.post("/v1/certificates", {
        "registration_no": number, "kind": "mobile", "host_organization_code": "SC-C1-B1",
        "purpose": "外出务工", "contact_person": "王五", "valid_until": "2027-11-20"}), 201)
    assert mobile["kind"] == "mobile" and mobile["host_organization_code"] == "SC-C1-B1"


def _certificate_body(number: str, **overrides: Any) -> dict[str, Any]:
    body = {"registration_no": number, "kind": "temporary", "host_description": "省委党校", "purpose": "培训",
            "valid_until": "2027-01-31"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def test_certificate_refusals(api: Api) -> None:
    clerk = api.client("xw_clerk")
    number = full_member(api)

    def post(**overrides: Any) -> Callable[[], Response]:
        return lambda: clerk.post("/v1/certificates", _certificate_body(number, **overrides))

    refused(api, post(valid_until="2027-05-21"), "use_formal_transfer")  # more than 6 months
    refused(api, post(host_description=...), "validation_error")  # no host named
    refused(api, post(valid_until="2026-11-20"), "validation_error")  # not after the effective date
    refused(api, post(kind="permanent"), "validation_error")
    refused(api, post(purpose=...), "validation_error")
    refused(api, post(on="2026-11-21"), "future_date")
    refused(api, post(host_description=..., host_organization_code="XW-C1-B1"), "same_organization")
    refused(api, post(host_description=..., host_organization_code="NOPE"), "not_found")
    refused(api, post(host_description=..., host_organization_code=dissolved_org(api)), "organization_dissolved")
    refused(api, post(registration_no=make_registration_no("320102", date(1999, 1, 3), 997)), "out_of_jurisdiction")
    travelling = full_member(api)
    issued(api, travelling)
    refused(api, lambda: clerk.post("/v1/certificates", _certificate_body(travelling)), "member_not_held")
    assert_problem(clerk.get("/v1/certificates/XW-C1-T2026-99999"), "out_of_jurisdiction")
    refused(api, lambda: clerk.post("/v1/certificates/XW-C1-T2026-99999/return", {}), "out_of_jurisdiction")


# --- reports -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def october(api: Api) -> dict[str, Any]:
    """A committee's October 2026, step by step (all its own organizations, so exact)."""
    ledger = api.ledger
    committee = fresh_org(api, "XW", "committee")
    b1, b2 = fresh_org(api, committee), fresh_org(api, committee)
    a, b, c, f = (full_member(api, b1) for _ in range(4))  # imported 2020-06-01
    e = full_member(api, b2)
    pocket = issued(api, f, to="SC-C1", on=date(2026, 9, 1))  # overdue from 2026-10-02, still of record
    out = issued(api, a, to="QH-C1", on=date(2026, 10, 2))
    ledger.receive_member(out, "QH-C1-B1", on=date(2026, 10, 10))
    ledger.return_receipt(out, on=date(2026, 10, 20))
    inside = issued(api, b, to=b2, on=date(2026, 10, 3))
    ledger.receive_member(inside, b2, on=date(2026, 10, 6))
    n = next(_numbers)
    ledger.admit_member(b2, **{**person(n), "joined_on": date(2026, 10, 5)}, on=date(2026, 10, 5))
    ledger.record_death(c, on=date(2026, 10, 15))
    d = full_member(api, "QH-C1-B1")
    came = issued(api, d, to=committee, on=date(2026, 10, 4))
    ledger.receive_member(came, b1, on=date(2026, 10, 12))
    issued(api, e, to="SC-C1", on=date(2026, 10, 8))  # in transit at the end of October
    held = full_member(api, b1)
    cert = certificate(api, held, on=date(2026, 10, 7), until=date(2026, 12, 1))
    ledger.return_certificate(cert, on=date(2026, 10, 25))
    return {"committee": committee, "pocket": pocket}


def test_monthly_report_figures(api: Api, october: dict[str, Any]) -> None:
    response = api.client("xw_auditor").get("/v1/reports/monthly", organization_code=october["committee"],
                                            month="2026-10")
    assert response.status_code == 200, response.text
    report = response.json()
    expected = {
        "opening": 6,  # a, b, c, f (in transit since September) in b1, e in b2, held in b1
        "admitted": 1, "imported": 0,
        "transferred_in_internal": 1, "transferred_in_external": 1, "transferred_in_whole_org": 0,
        "transferred_out_internal": 1, "transferred_out_external": 1, "transferred_out_whole_org": 0,
        "deceased": 1, "left": 0,
        "closing": 6,  # b, d, the admitted one, held; e and f in transit (of record here)
        "held": 4, "in_transit": 2, "overdue_letters": 1,
        "letters_issued": 3,  # a, b, e (f's letter was September's)
        "certificates_issued": 1, "certificates_returned": 1,
    }
    assert {k: report[k] for k in expected} == expected
    inflow = sum(report[f"transferred_in_{k}"] for k in ("internal", "external", "whole_org"))
    outflow = sum(report[f"transferred_out_{k}"] for k in ("internal", "external", "whole_org"))
    assert report["closing"] == (report["opening"] + report["admitted"] + report["imported"] + inflow - outflow
                                 - report["deceased"] - report["left"])
    assert report["closing"] == report["held"] + report["in_transit"]
    for key in ("letters_received", "received_on_time", "receipts_returned"):
        assert isinstance(report[key], int)
    september = api.client("xw_auditor").get("/v1/reports/monthly", organization_code=october["committee"],
                                             month="2026-09").json()
    assert september["closing"] == report["opening"]
    assert september["letters_issued"] == 1 and september["in_transit"] == 1


def test_monthly_report_as_csv(api: Api, october: dict[str, Any]) -> None:
    auditor = api.client("xw_auditor")
    params = {"organization_code": october["committee"], "month": "2026-10"}
    as_json = auditor.get("/v1/reports/monthly", **params).json()
    response = auditor.get("/v1/reports/monthly", headers={"Accept": "text/csv"}, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    for key in ("opening", "admitted", "transferred_out_external", "deceased", "closing", "held", "in_transit",
                "letters_issued", "certificates_issued"):
        assert int(rows[0][key]) == as_json[key], key


def test_annual_report(api: Api, october: dict[str, Any]) -> None:
    auditor = api.client("xw_auditor")
    response = auditor.get("/v1/reports/annual", organization_code=october["committee"], year=2026)
    assert response.status_code == 200, response.text
    report = response.json()
    assert len(report["months"]) == 12
    assert [m["month"] for m in report["months"]] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert report["opening"] == report["months"][0]["opening"] == 6
    assert report["closing"] == report["months"][-1]["closing"] == 6
    assert report["totals"]["admitted"] == 1 and report["totals"]["deceased"] == 1
    assert report["months"][9]["transferred_out_external"] == 1
    csv_response = auditor.get("/v1/reports/annual", headers={"Accept": "text/csv"},
                               organization_code=october["committee"], year=2026)
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert [int(r["closing"]) for r in rows] == [m["closing"] for m in report["months"]]
    assert_problem(auditor.get("/v1/reports/annual", organization_code=october["committee"], year=1800),
                   "validation_error")
    assert_problem(auditor.get("/v1/reports/annual", organization_code=october["committee"], year="MMXXVI"),
                   "validation_error")


@pytest.mark.parametrize(("params", "code"), [
    ({"organization_code": "XW", "month": "2026-13"}, "validation_error"),
    ({"organization_code": "XW", "month": "2026-1"}, "validation_error"),
    ({"organization_code": "XW"}, "validation_error"),
    ({"month": "2026-10"}, "validation_error"),
    ({"organization_code": "NOPE", "month": "2026-10"}, "not_found"),
])
def test_monthly_report_bad_queries(api: Api, params: dict[str, str], code: str) -> None:
    assert_problem(api.client("admin").get("/v1/reports/monthly", **params), code)


def test_a_filed_month_is_closed_to_back_dated_entries(api: Api) -> None:
    admin, clerk = api.client("admin"), api.client("xw_clerk")
    branch = fresh_org(api, "XW-C1")
    number = full_member(api, branch)
    pending = requested(api, full_member(api, branch), on=date(2026, 8, 1))
    body = recorded(api, admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-09"}))
    assert body["filed"] is True
    assert body["organization_code"] == branch and body["month"] == "2026-09"
    for on in ("2026-09-30", "2026-08-01"):  # the filed month and every earlier one
        refused(api, lambda on=on: clerk.post(f"/v1/members/{number}/dues",
                                              {"month": "2026-09", "amount": "5.00", "on": on}), "period_closed")
        refused(api, lambda on=on: clerk.post("/v1/members", new_member_body(branch, on=on)), "period_closed")
        refused(api, lambda on=on: clerk.post(f"/v1/transfers/{pending}/issue", {"on": on}), "period_closed")
    recorded(api, clerk.post(f"/v1/members/{number}/dues", {"month": "2026-10", "amount": "5.00",
                                                            "on": "2026-10-01"}))
    recorded(api, clerk.post(f"/v1/transfers/{pending}/issue", {"on": "2026-10-01"}))
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-09"}),
            "invalid_transition")  # filed already
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-11"}),
            "validation_error")  # not over yet
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch, "month": "2026-9"}),
            "validation_error")
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": "NOPE", "month": "2026-09"}),
            "not_found")
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": branch}), "validation_error")


# --- audit -----------------------------------------------------------------------------------------


def test_audit_events_page_with_after_and_next_after(api: Api) -> None:
    auditor = api.client("auditor")
    first = auditor.get("/v1/audit/events", after=0, limit=5)
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["data"]) == 5
    positions = [e["position"] for e in page["data"]]
    assert positions == sorted(positions) and len(set(positions)) == 5
    assert page["next_after"] == positions[-1]
    for event in page["data"]:
        assert {"position", "type", "aggregate_id", "version", "on", "recorded_at", "actor", "request_id",
                "data"} <= event.keys()
    second = auditor.get("/v1/audit/events", after=page["next_after"], limit=5).json()
    assert len(second["data"]) == 5
    assert min(e["position"] for e in second["data"]) > page["next_after"]
    both = auditor.get("/v1/audit/events", after=0, limit=10).json()
    assert [e["position"] for e in both["data"]] == positions + [e["position"] for e in second["data"]]
    end = api.ledger.max_position()
    tail = auditor.get("/v1/audit/events", after=end).json()
    assert tail["data"] == [] and tail["next_after"] == end
    assert_problem(auditor.get("/v1/audit/events", limit=0), "validation_error")
    assert_problem(auditor.get("/v1/audit/events", after=-1), "validation_error")


def test_audit_events_show_who_and_when(api: Api) -> None:
    number = full_member(api)
    body = recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/dues",
                                                     {"month": "2026-10", "amount": "3.00", "on": "2026-10-31"}))
    events = api.client("auditor").get("/v1/audit/events", after=body["position"] - 1, limit=1).json()["data"]
    assert len(events) == 1
    event = events[0]
    assert event["position"] == body["position"]
    assert event["on"] == "2026-10-31"
    assert event["actor"] == api.operator_ids["xw_clerk"]
    assert event["data"]["month"] == "2026-10" and event["data"]["amount"] == "3.00"
    assert isinstance(event["version"], int) and event["aggregate_id"]
    assert datetime.fromisoformat(event["recorded_at"]).date() != date(2026, 10, 31)  # when, not effective


def test_audit_verify_finds_the_views_consistent(api: Api) -> None:
    full_member(api)
    response = api.client("auditor").get("/v1/audit/verify")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    assert body["mismatches"] == []
    assert isinstance(body["events"], int) and body["events"] > 0


# --- min_position ---------------------------------------------------------------------------------


def test_reads_wait_for_min_position(api: Api, shared_store: Store) -> None:
    branch = fresh_org(api, "XW-C2")
    other = shared_store.ledger()  # another process writing to the same store
    n = next(_numbers)
    done = other.import_member(branch, registration_no=None, status="full", on=date(2020, 6, 1),
                               **{**person(n), "joined_on": joined(n)})
    assert done.position > 0
    roster = api.client("xw_admin").get(f"/v1/organizations/{branch}/roster", min_position=done.position)
    assert roster.status_code == 200, roster.text
    assert [r["registration_no"] for r in roster.json()["data"]] == [done.registration_no]
    member = api.client("xw_admin").get(f"/v1/members/{done.registration_no}", min_position=done.position)
    assert member.status_code == 200 and member.json()["place"]["organization_code"] == branch


def test_a_position_never_reached_answers_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.services.settings, "read_wait_seconds", 0.3)
    far = api.ledger.max_position() + 100_000
    response = api.client("admin").get("/v1/organizations/XW/roster", min_position=far)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json().keys() >= PROBLEM_KEYS
    assert_problem(api.client("admin").get("/v1/organizations/XW/roster", min_position=-1), "validation_error")


def test_a_command_position_is_readable_at_once(api: Api) -> None:
    created = recorded(api, api.client("xw_clerk").post("/v1/members", new_member_body(name="王小二")), 201)
    roster = api.client("xw_clerk").get("/v1/organizations/XW-C1-B1/roster", min_position=created["position"],
                                        q="王小二")
    assert roster.status_code == 200, roster.text
    assert [r["registration_no"] for r in roster.json()["data"]] == [created["registration_no"]]
    assert roster.json()["data"][0]["name"] == "王小二"


# --- more of the contract: filing reaches every side, lists page, history as of a date ---------


def test_a_mobile_certificate_cannot_be_back_dated_into_the_hosts_filed_month(api: Api) -> None:
    host = fresh_org(api, "XW-C2")
    number = full_member(api)
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": host,
                                                                        "month": "2026-09"}))
    published = api.client("auditor").get("/v1/reports/monthly", organization_code=host, month="2026-09").json()
    refused(api, lambda: api.client("xw_clerk").post("/v1/certificates", {
        "registration_no": number, "kind": "mobile", "host_organization_code": host, "purpose": "外出务工",
        "valid_until": "2027-09-01", "on": "2026-09-15"}), "period_closed")
    now = api.client("auditor").get("/v1/reports/monthly", organization_code=host, month="2026-09").json()
    assert now["hosted"] == published["hosted"]


def test_a_receipt_cannot_be_back_dated_into_the_receivers_filed_month(api: Api) -> None:
    into = fresh_org(api, "QH-C1")
    transfer_id = issued(api, full_member(api), to=into, on=date(2026, 8, 1))
    api.ledger.receive_member(transfer_id, into, on=date(2026, 8, 5))
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": into,
                                                                        "month": "2026-09"}))
    published = api.client("auditor").get("/v1/reports/monthly", organization_code=into, month="2026-09").json()
    refused(api, lambda: api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/return-receipt",
                                                     {"on": "2026-09-10"}), "period_closed")
    now = api.client("auditor").get("/v1/reports/monthly", organization_code=into, month="2026-09").json()
    assert now["receipts_returned"] == published["receipts_returned"]


def test_a_receipt_back_dated_into_the_senders_filed_month_is_refused(api: Api) -> None:
    home = fresh_org(api, "XW-C1")
    transfer_id = issued(api, full_member(api, home), on=date(2026, 8, 1))
    api.ledger.receive_member(transfer_id, "QH-C1-B1", on=date(2026, 8, 5))
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": home,
                                                                        "month": "2026-09"}))
    refused(api, lambda: api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/return-receipt",
                                                     {"on": "2026-09-10"}), "period_closed")
    recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/return-receipt", {"on": "2026-10-01"}))


def test_receiving_into_a_filed_month_of_the_receiver_is_refused(api: Api) -> None:
    into = fresh_org(api, "QH-C1")
    transfer_id = issued(api, full_member(api), to="QH-C1", on=date(2026, 9, 1))
    recorded(api, api.client("admin").post("/v1/reports/monthly/file", {"organization_code": into,
                                                                        "month": "2026-09"}))
    refused(api, lambda: api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                                     {"organization_code": into, "on": "2026-09-20"}), "period_closed")
    recorded(api, api.client("qh_clerk").post(f"/v1/transfers/{transfer_id}/receive",
                                              {"organization_code": "QH-C1-B1", "on": "2026-09-20"}))


def _list_with_two_rows(api: Api, which: str) -> tuple[str, dict[str, Any]]:
    if which == "roster":
        branch = fresh_org(api)
        full_member(api, branch), full_member(api, branch)
        return f"/v1/organizations/{branch}/roster", {}
    if which == "overdue":
        branch = fresh_org(api)
        full_member(api, branch), full_member(api, branch)  # both inactive for 6 months
        return f"/v1/organizations/{branch}/overdue", {}
    if which == "transfers":
        branch = fresh_org(api)
        requested(api, full_member(api, branch)), requested(api, full_member(api, branch))
        return "/v1/transfers", {"organization_code": branch}
    if which == "operators":
        api.ledger.grant_operator("甲", "clerk", "XW-C2-B1")
        api.ledger.grant_operator("乙", "clerk", "XW-C2-B1")
        return "/v1/operators", {"organization_code": "XW-C2-B1"}
    if which == "children":
        committee = fresh_org(api, "XW", "committee")
        fresh_org(api, committee), fresh_org(api, committee)
        return f"/v1/organizations/{committee}/children", {}
    if which == "history":
        number = full_member(api)
        api.ledger.record_dues(number, "2026-10", "1.00", on=date(2026, 10, 1))
        return f"/v1/members/{number}/history", {}
    raise AssertionError(which)


@pytest.mark.parametrize("which", ["roster", "overdue", "transfers", "operators", "children", "history"])
def test_every_list_pages_with_limit_and_offset(api: Api, which: str) -> None:
    path, params = _list_with_two_rows(api, which)
    reader = api.client("admin")
    whole = reader.get(path, **params).json()
    assert whole["count"] == len(whole["data"]) >= 2
    first = reader.get(path, limit=1, **params).json()
    second = reader.get(path, limit=1, offset=1, **params).json()
    assert first["count"] == second["count"] == whole["count"]
    assert first["data"] == whole["data"][:1]
    assert second["data"] == whole["data"][1:2]


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


def test_roster_as_of_shows_the_status_of_that_date(api: Api) -> None:
    branch = fresh_org(api, "XW-C1")
    number = probationary_member(api, date(2025, 6, 1), branch)
    recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/confirm", {"on": "2026-06-02"}))
    then = api.client("xw_clerk").get(f"/v1/organizations/{branch}/roster", as_of="2026-01-01").json()["data"]
    now = api.client("xw_clerk").get(f"/v1/organizations/{branch}/roster").json()["data"]
    assert [(r["registration_no"], r["status"]) for r in then] == [(number, "probationary")]
    assert [(r["registration_no"], r["status"]) for r in now] == [(number, "full")]
    assert api.client("xw_clerk").get(f"/v1/organizations/{branch}/roster", as_of="2025-05-31").json()["count"] == 0


# --- edges the fuzzer found (tests/api/test_fuzz.py leaves these inputs to the tests below) ---


def _no_500(response: Response, *, empty_ok: bool = True) -> None:
    """Bad input is a 4xx problem (validation_error); an answer that is no error is a 2xx."""
    assert response.status_code != 500, response.text
    if response.status_code >= 400:
        assert_problem(response, "validation_error")
    else:
        assert empty_ok and response.status_code == 200


HUGE = 2**63  # one past the largest 64-bit integer


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/organizations/XW/roster", {"offset": HUGE}),
    ("/v1/transfers", {"offset": HUGE}),
    ("/v1/audit/events", {"after": HUGE}),
    ("/v1/organizations/XW/overdue", {"offset": HUGE}),
], ids=["roster_offset", "transfers_offset", "audit_after", "overdue_offset"])
def test_huge_integers_in_the_query_are_no_500(api: Api, path: str, params: dict[str, int]) -> None:
    response = api.client("admin").get(path, **params)
    _no_500(response)
    if response.status_code == 200:
        assert response.json()["data"] == []


def test_an_absurd_amount_is_a_validation_error(api: Api) -> None:
    number = full_member(api)
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/dues",
                                                      {"month": "2026-10", "amount": "1e999999"}), "validation_error")


def test_the_overdue_list_of_the_first_year_is_no_500(api: Api) -> None:
    _no_500(api.client("admin").get("/v1/organizations/XW/overdue", on="0001-01-15"))


def test_month_zero_zero_zero_zero_is_no_500(api: Api) -> None:
    _no_500(api.client("admin").get("/v1/reports/monthly", organization_code="XW", month="0000-01"))


def test_a_member_who_joined_before_the_year_1000_is_no_500(api: Api) -> None:
    before = api.ledger.max_position()
    response = api.client("xw_clerk").post("/v1/members", new_member_body(
        birth_date="0900-01-01", joined_on="0999-01-01", status="probationary", on="2026-01-01"))
    if response.status_code == 201:
        assert valid_registration_no(response.json()["registration_no"])
    else:
        _no_500(response, empty_ok=False)
        assert api.ledger.max_position() == before


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
