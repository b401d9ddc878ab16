"""What every router shares (api/routes/common.py, api/errors.py): errors in general, reads that
wait for `min_position`, lists that page with limit and offset, and query integers too large.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.helpers import (
    HUGE,
    PROBLEM_KEYS,
    assert_problem,
    document_operations,
    fresh_org,
    full_member,
    joined,
    new_member_body,
    no_500,
    numbers,
    openapi_document,
    probationary_member,
    received,
    recorded,
    refused,
    requested,
)
from tests.conftest import TODAY, Store
from tests.factories import person

# --- errors in general ------------------------------------------------------------------------


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


def test_a_post_whose_fields_are_all_optional_may_send_no_body(api: Api) -> None:
    """API.md writes these bodies `{on?}` and `{valid_days?: 30, on?}`: a client with nothing
    to say sends no body at all (no JSON, no content type), and the defaults apply."""
    def bare(path: str, operator: str = "xw_clerk") -> Any:  # a POST with no body
        clerk = api.client(operator)
        return recorded(api, clerk.client.post(path, headers=clerk.headers()))

    transfer_id = requested(api, full_member(api), on=TODAY)
    letter = bare(f"/v1/transfers/{transfer_id}/issue")
    assert (letter["status"], letter["issued_on"]) == ("issued", TODAY.isoformat())
    assert letter["valid_until"] == (TODAY + timedelta(days=30)).isoformat()
    probationer = probationary_member(api, date(2025, 6, 1))
    assert bare(f"/v1/members/{probationer}/confirm")["status"] == "full"
    assert bare(f"/v1/members/{full_member(api)}/death")["place"]["kind"] == "deceased"
    received_id = received(api, full_member(api))
    assert bare(f"/v1/transfers/{received_id}/return-receipt", "qh_clerk")["receipt_returned_on"] == TODAY.isoformat()


def test_every_post_without_a_required_field_declares_its_body_optional() -> None:
    """The same for every POST of the OpenAPI document, present and to come: a body whose
    fields all have defaults is not required."""
    document = openapi_document()
    schemas = document["components"]["schemas"]
    optional_bodies = []
    for method, path, operation in document_operations(document, "/v1"):
        body = operation.get("requestBody")
        if method != "post" or body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        refs = [schema, *schema.get("anyOf", [])]
        model = next(schemas[r["$ref"].rsplit("/", 1)[1]] for r in refs if "$ref" in r)
        if not model.get("required"):
            optional_bodies.append(path)
            assert not body.get("required", False), f"POST {path}: every field is optional, the body is not"
    assert {"/v1/transfers/{transfer_id}/issue", "/v1/members/{registration_no}/confirm",
            "/v1/members/{registration_no}/death"} <= set(optional_bodies)


@pytest.mark.parametrize(("operator", "path", "empty"), [
    ("xw_clerk", "/v1/transfers", "status=&organization_code=&letter_no=&registration_no=&direction="),
    ("xw_clerk", "/v1/certificates", "organization_code=&kind=&status=&side=&registration_no="),
    ("xw_clerk", "/v1/cases", "organization_code=&status="),
    ("xw_clerk", "/v1/organizations/XW-C1/overdue", "on=&kind"),
    ("xw_clerk", "/v1/organizations/XW-C1-B1/roster", "as_of=&subtree=&include_in_transit=&q=&limit="),
    ("xw_admin", "/v1/operators", "organization_code="),
    ("auditor", "/v1/audit/events", "after=&limit="),
])
def test_a_filter_sent_empty_is_no_filter(api: Api, operator: str, path: str, empty: str) -> None:
    """API.md writes its filters `?status=&organization_code=&letter_no=`: a client that
    fills in only some of them sends the others empty, and gets what it gets without them
    (each of these parameters, given a value, parses it: a date, a kind, a number)."""
    requested(api, full_member(api))
    client = api.client(operator)
    plain = client.get(path)
    assert plain.status_code == 200, plain.text
    with_empty = client.client.get(f"{path}?{empty}", headers=client.headers())
    assert (with_empty.status_code, with_empty.json()) == (200, plain.json())


# --- min_position -----------------------------------------------------------------------------


def test_reads_wait_for_min_position(api: Api, shared_store: Store) -> None:
    branch = fresh_org(api, "XW-C2")
    other = shared_store.ledger()  # another process writing to the same store
    n = next(numbers)
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


# --- every list pages -------------------------------------------------------------------------


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


# --- edges the fuzzer found (tests/api/test_fuzz.py leaves these inputs to these tests) -------


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/organizations/XW/roster", {"offset": HUGE}),
    ("/v1/transfers", {"offset": HUGE}),
    ("/v1/audit/events", {"after": HUGE}),
    ("/v1/organizations/XW/overdue", {"offset": HUGE}),
], ids=["roster_offset", "transfers_offset", "audit_after", "overdue_offset"])
def test_huge_integers_in_the_query_are_no_500(api: Api, path: str, params: dict[str, int]) -> None:
    response = api.client("admin").get(path, **params)
    no_500(response)
    if response.status_code == 200:
        assert response.json()["data"] == []
