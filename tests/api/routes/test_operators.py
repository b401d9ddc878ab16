"""The operators router (api/routes/operators.py): grant, list and revoke.

One app per store for the module (tests/api/routes/conftest.py); each test makes what it reads.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    dissolved_org,
    recorded,
    refused,
)

# --- operators --------------------------------------------------------------------------------


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
    # the answers agree with the list: the day granted, and the day revoked
    row = next(o for o in listed["data"] if o["operator_id"] == operator_id)
    assert (body["granted_on"], revoked["granted_on"], revoked["revoked_on"]) == (
        row["granted_on"], row["granted_on"], row["revoked_on"]) and row["revoked_on"] is not None
    assert body["revoked_on"] is None
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
