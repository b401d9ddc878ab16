"""Who may do what, where: a matrix of endpoint x operator x organization.

Roles (api/deps.py): admin manages organizations, members and operators; clerk acts on
members, transfers and certificates; auditor reads only. Jurisdiction: an operator acts on
its organization and everything below it. Transfers: issue, decline, cancel and extend need
the operator at or above the SENDING committee; receive, reject and return-receipt at or
above the RECEIVING committee; both sides may read the transfer.

Each row is prepared so that the call would succeed for an operator with the right: a
refusal is then the role or the jurisdiction, and must record nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from httpx import Response

from tests.api.conftest import Api, member_body
from tests.api.test_endpoints import PROBLEM_KEYS, assert_problem, module_store
from tests.conftest import Store
from tests.factories import SETUP_DAY, admit


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with module_store(request.param, tmp_path_factory) as store:
        yield store


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    ledger = api.ledger
    # a second committee in Qinhuai and in Shangcheng, for moves and for transfers inside ZJ
    ledger.register_organization("QH-C2", "秦淮第二党委", "committee", "QH", "320104", on=SETUP_DAY)
    ledger.register_organization("SC-C2", "上城第二党委", "committee", "SC", "330102", on=SETUP_DAY)
    ledger.register_organization("SC-C2-B1", "上城第二党委第一支部", "branch", "SC-C2", "330102", on=SETUP_DAY)
    yield api
    api.close()


@dataclass(frozen=True)
class World:
    """Where a row's objects sit: the operator is inside it or not."""

    committee: str
    branch: str
    alt: str  # another parent, for moves
    third: str  # the other side of a transfer, outside both XW and QH
    third_branch: str
    region: str


WORLDS = {
    "XW": World("XW-C1", "XW-C1-B1", "XW-C2", "SC-C1", "SC-C1-B1", "320102"),
    "QH": World("QH-C1", "QH-C1-B1", "QH-C2", "SC-C1", "SC-C1-B1", "320104"),
    "SC": World("SC-C1", "SC-C1-B1", "SC-C2", "SC-C2", "SC-C2-B1", "330102"),
}


def legs(side: str, world: str) -> tuple[str, str, str]:
    """(sending branch, target committee, receiving branch) of a transfer whose `side`
    ("from" or "to") sits in `world`; "XW>QH" is a transfer from Xuanwu to Qinhuai."""
    if world == "XW>QH":
        return "XW-C1-B1", "QH-C1", "QH-C1-B1"
    w = WORLDS[world]
    return (w.branch, w.third, w.third_branch) if side == "from" else (w.third_branch, w.committee, w.branch)


_numbers = itertools.count(5000)
_codes = itertools.count(1)


def full_member(api: Api, org: str) -> str:
    n = next(_numbers)
    return admit(api.ledger, n, org, joined_on=date(2005, 1, 1) + timedelta(days=n))


def fresh_org(api: Api, parent: str) -> str:
    code = f"A{next(_codes)}"
    api.ledger.register_organization(code, f"授权测试{code}", "branch", parent,
                                     api.ledger.organization(parent).region, on=SETUP_DAY)
    return code


def transfer(api: Api, side: str, world: str, step: str, on: date = date(2026, 11, 1)) -> str:
    """A transfer brought to `step` (requested, issued or received)."""
    sender, target, into = legs(side, world)
    recorded = api.ledger.request_transfer(full_member(api, sender), target, reason="job_change",
                                           basis="household", on=on)
    assert recorded.transfer_id is not None
    if step in ("issued", "received"):
        api.ledger.issue_letter(recorded.transfer_id, on=on)
    if step == "received":
        api.ledger.receive_member(recorded.transfer_id, into, on=on)
    return recorded.transfer_id


@dataclass(frozen=True)
class Call:
    path: str
    body: dict[str, Any]
    ok: int = 200


ADMIN, MEMBERS = frozenset({"admin"}), frozenset({"admin", "clerk"})


def _org_create(api: Api, world: str) -> Call:
    w = WORLDS[world]
    return Call("/v1/organizations", {"code": f"N{uuid.uuid4().hex[:10]}", "name": "授权测试新支部",
                                      "kind": "branch", "parent_code": w.committee, "region": w.region}, 201)


def _org_dissolve(api: Api, world: str) -> Call:
    return Call(f"/v1/organizations/{fresh_org(api, WORLDS[world].committee)}/dissolve",
                {"successor_code": WORLDS[world].branch})


def _org_move(api: Api, world: str) -> Call:
    return Call(f"/v1/organizations/{fresh_org(api, WORLDS[world].committee)}/move",
                {"parent_code": WORLDS[world].alt})


def _operator_create(api: Api, world: str) -> Call:
    return Call("/v1/operators", {"name": "新文员", "role": "clerk", "organization_code": WORLDS[world].branch}, 201)


def _operator_revoke(api: Api, world: str) -> Call:
    recorded, _ = api.ledger.grant_operator("将被撤销", "clerk", WORLDS[world].branch)
    return Call(f"/v1/operators/{recorded.code}/revoke", {})


def _member_create(api: Api, world: str) -> Call:
    n = next(_numbers)
    return Call("/v1/members", member_body(n, WORLDS[world].branch,
                                           joined_on=(date(2005, 1, 1) + timedelta(days=n)).isoformat()), 201)


def _member(action: str, body: Callable[[World], dict[str, Any]]) -> Callable[[Api, str], Call]:
    def prepare(api: Api, world: str) -> Call:
        return Call(f"/v1/members/{full_member(api, WORLDS[world].branch)}/{action}", body(WORLDS[world]))
    return prepare


def _member_confirm(api: Api, world: str) -> Call:
    n, joined = next(_numbers), date(2025, 6, 1)
    number = admit(api.ledger, n, WORLDS[world].branch, on=joined, joined_on=joined, status="probationary")
    return Call(f"/v1/members/{number}/confirm", {})


def _transfer_create(api: Api, world: str) -> Call:
    w = WORLDS[world]
    return Call("/v1/transfers", {"registration_no": full_member(api, w.branch), "to_organization_code": w.third,
                                  "reason": "job_change", "basis": "household"}, 201)


def _on_transfer(action: str, side: str, step: str, body: dict[str, Any]) -> Callable[[Api, str], Call]:
    def prepare(api: Api, world: str) -> Call:
        transfer_id = transfer(api, side, world, step)
        _, _, into = legs(side, world)
        return Call(f"/v1/transfers/{transfer_id}/{action}",
                    {k: (into if v == "<into>" else v) for k, v in body.items()})
    return prepare


def _certificate_create(api: Api, world: str) -> Call:
    return Call("/v1/certificates", {
        "registration_no": full_member(api, WORLDS[world].branch), "kind": "temporary",
        "host_description": "市委党校", "purpose": "培训", "valid_until": "2027-01-31"}, 201)


def _certificate_return(api: Api, world: str) -> Call:
    recorded = api.ledger.issue_certificate(
        full_member(api, WORLDS[world].branch), kind="temporary", purpose="培训", valid_until=date(2027, 1, 31),
        host_description="市委党校", on=date(2026, 11, 1))
    return Call(f"/v1/certificates/{recorded.certificate_no}/return", {})


def _report_file(api: Api, world: str) -> Call:
    return Call("/v1/reports/monthly/file",
                {"organization_code": fresh_org(api, WORLDS[world].committee), "month": "2026-10"})


COMMANDS: dict[str, tuple[frozenset[str], Callable[[Api, str], Call]]] = {
    "org_create": (ADMIN, _org_create),
    "org_dissolve": (ADMIN, _org_dissolve),
    "org_move": (ADMIN, _org_move),
    "operator_create": (ADMIN, _operator_create),
    "operator_revoke": (ADMIN, _operator_revoke),
    "report_file": (ADMIN, _report_file),
    "member_create": (MEMBERS, _member_create),
    "member_confirm": (MEMBERS, _member_confirm),
    "member_death": (MEMBERS, _member("death", lambda w: {})),
    "member_leave": (MEMBERS, _member("leave", lambda w: {"reason": "withdrew"})),
    "member_org_life": (MEMBERS, _member("org-life", lambda w: {"organization_code": w.branch})),
    "member_dues": (MEMBERS, _member("dues", lambda w: {"month": "2026-10", "amount": "8.00"})),
    "transfer_create": (MEMBERS, _transfer_create),
    "transfer_issue": (MEMBERS, _on_transfer("issue", "from", "requested", {})),
    "transfer_decline": (MEMBERS, _on_transfer("decline", "from", "requested", {"reason": "材料不全"})),
    "transfer_cancel": (MEMBERS, _on_transfer("cancel", "from", "issued", {"reason": "本人撤回"})),
    "transfer_extend": (MEMBERS, _on_transfer("extend", "from", "issued", {"valid_until": "2026-12-15"})),
    "transfer_receive": (MEMBERS, _on_transfer("receive", "to", "issued", {"organization_code": "<into>"})),
    "transfer_reject": (MEMBERS, _on_transfer("reject", "to", "issued", {"reason": "不符合接收条件"})),
    "transfer_return_receipt": (MEMBERS, _on_transfer("return-receipt", "to", "received", {})),
    "certificate_create": (MEMBERS, _certificate_create),
    "certificate_return": (MEMBERS, _certificate_return),
}

OK, FORBIDDEN, OUTSIDE = "ok", "forbidden", "out_of_jurisdiction"
ROLE_OR_SCOPE = "forbidden|out_of_jurisdiction"  # both wrong: API.md doesn't say which is checked first
ROLES = {"xw_admin": "admin", "xw_clerk": "clerk", "xw_auditor": "auditor"}


def _command_rows() -> list[Any]:
    rows = []
    for name, (allowed, _) in COMMANDS.items():
        for label, role in ROLES.items():
            for world in ("XW", "QH"):
                if role not in allowed:
                    expected = FORBIDDEN if world == "XW" else ROLE_OR_SCOPE
                else:
                    expected = OK if world == "XW" else OUTSIDE
                rows.append(pytest.param(name, label, world, expected, id=f"{name}-{label}-{world}"))
    # the province's admin: everything in Jiangsu, nothing in Zhejiang
    for name in ("org_create", "org_dissolve", "org_move", "operator_create", "operator_revoke", "report_file",
                 "member_create", "transfer_issue", "transfer_receive"):
        for world, expected in (("XW", OK), ("SC", OUTSIDE)):
            rows.append(pytest.param(name, "admin", world, expected, id=f"{name}-admin-{world}"))
    # a branch clerk requests for its members and admits, but issues and receives nothing
    for name, expected in (("transfer_create", OK), ("member_create", OK), ("member_dues", OK),
                           ("transfer_issue", OUTSIDE), ("transfer_decline", OUTSIDE), ("transfer_cancel", OUTSIDE),
                           ("transfer_extend", OUTSIDE), ("transfer_receive", OUTSIDE),
                           ("transfer_reject", OUTSIDE), ("transfer_return_receipt", OUTSIDE)):
        rows.append(pytest.param(name, "b1_clerk", "XW", expected, id=f"{name}-b1_clerk-XW"))
    # each side of a transfer from Xuanwu to Qinhuai does its own steps only
    for name in ("transfer_issue", "transfer_decline", "transfer_cancel", "transfer_extend"):
        rows.append(pytest.param(name, "xw_clerk", "XW>QH", OK, id=f"{name}-sender-XW>QH"))
        rows.append(pytest.param(name, "qh_clerk", "XW>QH", OUTSIDE, id=f"{name}-receiver-XW>QH"))
    for name in ("transfer_receive", "transfer_reject", "transfer_return_receipt"):
        rows.append(pytest.param(name, "qh_clerk", "XW>QH", OK, id=f"{name}-receiver-XW>QH"))
        rows.append(pytest.param(name, "xw_clerk", "XW>QH", OUTSIDE, id=f"{name}-sender-XW>QH"))
    return rows


class Prepared:
    """Calls ready to succeed, by (endpoint, world); a refused call leaves its call ready
    for the next row, a successful one uses it up."""

    def __init__(self, api: Api) -> None:
        self.api, self.ready = api, dict[tuple[str, str], Call]()

    def get(self, name: str, world: str) -> Call:
        if (name, world) not in self.ready:
            self.ready[(name, world)] = COMMANDS[name][1](self.api, world)
        return self.ready[(name, world)]

    def used(self, name: str, world: str) -> None:
        self.ready.pop((name, world), None)


@pytest.fixture(scope="module")
def prepared(api: Api) -> Prepared:
    return Prepared(api)


def assert_refused_for(response: Response, expected: str) -> None:
    """403 problem+json whose code is `expected` (or one of "a|b")."""
    assert response.status_code == 403, (response.status_code, response.text)
    code = response.json().get("code")
    assert code in expected.split("|"), response.text
    assert_problem(response, code)


@pytest.mark.parametrize(("endpoint", "label", "world", "expected"), _command_rows())
def test_command_authorization(api: Api, prepared: Prepared, endpoint: str, label: str, world: str,
                               expected: str) -> None:
    call = prepared.get(endpoint, world)
    before = api.ledger.max_position()
    response = api.client(label).post(call.path, call.body)
    if response.is_success:
        prepared.used(endpoint, world)
    if expected == OK:
        assert response.status_code == call.ok, response.text
        assert response.json()["position"] == api.ledger.max_position() > before
    else:
        assert_refused_for(response, expected)
        assert api.ledger.max_position() == before, "a refused call recorded events"


# --- reads --------------------------------------------------------------------------------------


class Readable:
    """One member, transfer and certificate per world, made once."""

    def __init__(self, api: Api) -> None:
        self.api, self.made = api, dict[str, dict[str, str]]()

    def of(self, world: str) -> dict[str, str]:
        if world not in self.made:
            w = WORLDS[world]
            number = full_member(self.api, w.branch)
            certificate = self.api.ledger.issue_certificate(
                number, kind="temporary", purpose="培训", valid_until=date(2027, 1, 31), host_description="党校",
                on=date(2026, 11, 1))
            self.made[world] = {"member": number, "transfer": transfer(self.api, "from", world, "issued"),
                                "certificate": str(certificate.certificate_no), **vars(w)}
        return self.made[world]


@pytest.fixture(scope="module")
def readable(api: Api) -> Readable:
    return Readable(api)


READS: dict[str, tuple[frozenset[str], str, dict[str, Any]]] = {
    "organization": (frozenset(ROLES.values()), "/v1/organizations/{branch}", {}),
    "children": (frozenset(ROLES.values()), "/v1/organizations/{committee}/children", {}),
    "roster": (frozenset(ROLES.values()), "/v1/organizations/{committee}/roster", {"subtree": "true"}),
    "overdue": (frozenset(ROLES.values()), "/v1/organizations/{committee}/overdue", {}),
    "operators": (frozenset({"admin", "auditor"}), "/v1/operators", {"organization_code": "{committee}"}),
    "member": (frozenset(ROLES.values()), "/v1/members/{member}", {}),
    "history": (frozenset(ROLES.values()), "/v1/members/{member}/history", {}),
    "transfers": (frozenset(ROLES.values()), "/v1/transfers", {"organization_code": "{committee}"}),
    "transfer": (frozenset(ROLES.values()), "/v1/transfers/{transfer}", {}),
    "certificate": (frozenset(ROLES.values()), "/v1/certificates/{certificate}", {}),
    "monthly": (frozenset(ROLES.values()), "/v1/reports/monthly", {"organization_code": "{committee}",
                                                                  "month": "2026-10"}),
    "annual": (frozenset(ROLES.values()), "/v1/reports/annual", {"organization_code": "{committee}",
                                                                "year": "2026"}),
}


def _read_rows() -> list[Any]:
    rows = []
    for name, (allowed, _, _) in READS.items():
        for label, role in ROLES.items():
            for world in ("XW", "QH"):
                if role not in allowed:
                    expected = FORBIDDEN if world == "XW" else ROLE_OR_SCOPE
                else:
                    expected = OK if world == "XW" else OUTSIDE
                rows.append(pytest.param(name, label, world, expected, id=f"{name}-{label}-{world}"))
        rows.append(pytest.param(name, "auditor", "SC", OUTSIDE, id=f"{name}-auditor-SC"))
    return rows


@pytest.mark.parametrize(("endpoint", "label", "world", "expected"), _read_rows())
def test_read_authorization(api: Api, readable: Readable, endpoint: str, label: str, world: str,
                            expected: str) -> None:
    _, path, params = READS[endpoint]
    values = readable.of(world)
    response = api.client(label).get(path.format(**values), **{k: v.format(**values) for k, v in params.items()})
    if expected == OK:
        assert response.status_code == 200, response.text
    else:
        assert_refused_for(response, expected)


@pytest.mark.parametrize(("path", "label", "expected"), [
    (path, label, expected)
    for path in ("/v1/audit/events", "/v1/audit/verify")
    for label, expected in (("admin", OK), ("auditor", OK), ("xw_admin", OUTSIDE), ("xw_auditor", OUTSIDE),
                            ("xw_clerk", FORBIDDEN), ("sc_clerk", FORBIDDEN))
])
def test_the_whole_event_stream_is_for_root_operators(api: Api, path: str, label: str, expected: str) -> None:
    response = api.client(label).get(path)
    if expected == OK:
        assert response.status_code == 200, response.text
    else:
        assert_refused_for(response, expected)


def test_both_sides_read_a_transfer_and_its_member(api: Api) -> None:
    transfer_id = transfer(api, "from", "XW>QH", "issued")
    number = api.ledger.transfer(transfer_id).registration_no
    for label in ("xw_clerk", "qh_clerk", "xw_auditor", "admin"):
        assert api.client(label).get(f"/v1/transfers/{transfer_id}").status_code == 200, label
        assert api.client(label).get(f"/v1/members/{number}").status_code == 200, label
    assert_problem(api.client("sc_clerk").get(f"/v1/transfers/{transfer_id}"), OUTSIDE)
    assert_problem(api.client("sc_clerk").get(f"/v1/members/{number}"), OUTSIDE)
    incoming = api.client("qh_clerk").get("/v1/transfers", organization_code="QH-C1", status="issued").json()
    assert transfer_id in [t["transfer_id"] for t in incoming["data"]]


def test_history_stays_visible_where_the_member_was_held(api: Api) -> None:
    transfer_id = transfer(api, "from", "XW>QH", "received")
    number = api.ledger.transfer(transfer_id).registration_no
    assert api.client("qh_clerk").get(f"/v1/members/{number}/history").status_code == 200
    assert api.client("xw_clerk").get(f"/v1/members/{number}/history").status_code == 200
    assert_problem(api.client("sc_clerk").get(f"/v1/members/{number}/history"), OUTSIDE)


# --- authentication -------------------------------------------------------------------------------


def assert_unauthenticated(response: Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS and body["code"] == "unauthenticated" and body["status"] == 401


@pytest.mark.parametrize("path", ["/v1/organizations/XW", "/v1/organizations/XW/roster", "/v1/transfers",
                                  "/v1/reports/monthly?organization_code=XW&month=2026-10", "/v1/audit/events",
                                  "/v1/operators"])
def test_reads_without_a_token_are_401(api: Api, path: str) -> None:
    assert_unauthenticated(api.test_client.get(path))


def test_commands_without_a_token_are_401_and_record_nothing(api: Api) -> None:
    before = api.ledger.max_position()
    n = next(_numbers)
    anonymous = api.client(None)
    for path, body in (("/v1/members", member_body(n, joined_on="2009-01-01")),
                       ("/v1/organizations", {"code": "ANON", "name": "匿名", "kind": "branch",
                                              "parent_code": "XW-C1", "region": "320102"}),
                       ("/v1/operators", {"name": "x", "role": "admin", "organization_code": "JS"}),
                       ("/v1/reports/monthly/file", {"organization_code": "XW", "month": "2026-10"})):
        assert_unauthenticated(anonymous.post(path, body))
        assert_unauthenticated(anonymous.post(path, body, key=f"anon-{path}"))
    assert api.ledger.max_position() == before


@pytest.mark.parametrize("header", [
    "Token {token}", "Bearer", "Bearer ", "{token}", "Basic dXNlcjpwYXNzd29yZA==", "Bearer ltk_not-a-real-token",
    "Bearer {token}x", "Bearer{token}",
], ids=["scheme", "no_token", "blank_token", "no_scheme", "basic", "unknown", "altered", "no_space"])
def test_malformed_or_unknown_authorization_is_401(api: Api, header: str) -> None:
    headers = {"Authorization": header.format(token=api.tokens["admin"])}
    assert_unauthenticated(api.test_client.get("/v1/organizations/XW", headers=headers))
    before = api.ledger.max_position()
    assert_unauthenticated(api.test_client.post("/v1/operators", headers=headers, json={
        "name": "x", "role": "admin", "organization_code": "JS"}))
    assert api.ledger.max_position() == before


def test_a_revoked_token_is_401(api: Api) -> None:
    granted = api.client("admin").post("/v1/operators", {"name": "临时管理员", "role": "admin",
                                                         "organization_code": "XW"})
    assert granted.status_code == 201, granted.text
    token, operator_id = granted.json()["token"], granted.json()["operator_id"]
    temporary = api.client(None).as_(token)
    assert temporary.get("/v1/organizations/XW").status_code == 200
    assert temporary.post("/v1/operators", {"name": "x", "role": "clerk", "organization_code": "XW-C1"}
                          ).status_code == 201
    revoked = api.client("admin").post(f"/v1/operators/{operator_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False
    before = api.ledger.max_position()
    assert_unauthenticated(temporary.get("/v1/organizations/XW"))
    assert_unauthenticated(temporary.post("/v1/operators", {"name": "y", "role": "clerk",
                                                            "organization_code": "XW-C1"}))
    assert_unauthenticated(temporary.post(f"/v1/operators/{api.operator_ids['xw_clerk']}/revoke"))
    assert api.ledger.max_position() == before
    assert api.client("xw_clerk").get("/v1/organizations/XW-C1").status_code == 200  # others unaffected


def test_a_revoked_token_cannot_replay_an_idempotency_key(api: Api) -> None:
    granted = api.client("admin").post("/v1/operators", {"name": "临时管理员乙", "role": "admin",
                                                         "organization_code": "XW"})
    token, operator_id = granted.json()["token"], granted.json()["operator_id"]
    temporary = api.client(None).as_(token)
    body = {"name": "经手人", "role": "clerk", "organization_code": "XW-C1"}
    assert temporary.post("/v1/operators", body, key="grant-once").status_code == 201
    assert api.client("admin").post(f"/v1/operators/{operator_id}/revoke").status_code == 200
    assert_unauthenticated(temporary.post("/v1/operators", body, key="grant-once"))


def test_the_openapi_document_and_docs_are_open(api: Api) -> None:
    document = api.test_client.get("/openapi.json")
    assert document.status_code == 200
    assert "/v1/transfers/{transfer_id}/receive" in document.json()["paths"]
    assert api.test_client.get("/docs").status_code == 200
