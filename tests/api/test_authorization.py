"""Who may do what, where: every /v1 route x every role x the operator's own subtree, a
sibling's, and above it (domain/jurisdiction.py decides; this checks the answers).

The operators of the matrix sit at committee XW-C1 (an admin, a clerk, an auditor).
"own" is XW-C1's subtree; "sibling" is XW-C2's, the county's other committee; "above"
is the county XW itself and its service center XW-S, which sits beside XW-C1. Each row
is a realistic, valid request about that place, so that an operator with the right gets
its 2xx; any other gets 403 (`forbidden` for the role, checked first, else
`out_of_jurisdiction`) and never anything else. A refusal records nothing, and its body
names no member, registration number or organization the operator may not see, beyond
what the request itself sent. ROUTES holds a row for every /v1 route of the app: a route
added without one fails `test_every_route_of_the_app_is_in_the_matrix`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from httpx import Response

from domain.identifiers import check_character
from domain.jurisdiction import ACT, AUDIT, MANAGE, READ, Jurisdiction
from tests.api.conftest import Api, member_body
from tests.api.helpers import PROBLEM_KEYS, app_routes, assert_problem
from tests.conftest import Store
from tests.factories import SETUP_DAY, admit, person

EXTRA_ORGS = {  # code: (name, kind, parent, region)
    "XW-C2-G1": ("科技园党总支", "general_branch", "XW-C2", "320102"),
    "QH-C2": ("秦淮第二党委", "committee", "QH", "320104"),
}
MATRIX_OPERATORS = {"admin": "c1_admin", "clerk": "xw_clerk", "auditor": "c1_auditor"}  # all at XW-C1


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    for code, (name, kind, parent, region) in EXTRA_ORGS.items():
        api.ledger.register_organization(code, name, kind, parent, region, on=SETUP_DAY)
    for label, role in (("c1_admin", "admin"), ("c1_auditor", "auditor")):
        recorded, token = api.ledger.grant_operator(label, role, "XW-C1")
        api.tokens[label], api.operator_ids[label] = token, str(recorded.code)
    yield api
    api.close()


# --- the places and what is made there -------------------------------------------------------


@dataclass(frozen=True)
class Place:
    committee: str  # what a read, a report or an organization's record names
    branch: str  # a member-holding organization: members live here, letters are received here
    target: str  # letters are addressed here
    parent: str  # new organizations go under it
    other_parent: str  # and move under this one


PLACES = {
    "own": Place("XW-C1", "XW-C1-B1", "XW-C1", "XW-C1", "XW-C1-G1"),
    "sibling": Place("XW-C2", "XW-C2-B1", "XW-C2", "XW-C2", "XW-C2-G1"),
    "above": Place("XW", "XW-S", "XW-S", "XW", "XW-C1"),
}
ELSEWHERE, ELSEWHERE_BRANCH = "QH-C1", "QH-C1-B1"  # the far side of the matrix's transfers
ON = date(2026, 11, 1)

_numbers = itertools.count(5000)
_codes = itertools.count(1)


def full_member(api: Api, org: str) -> str:
    n = next(_numbers)
    return admit(api.ledger, n, org, joined_on=date(2005, 1, 1) + timedelta(days=n))


def fresh_org(api: Api, parent: str) -> str:
    code = f"M{next(_codes):04d}"
    api.ledger.register_organization(code, f"授权测试{code}", "branch", parent,
                                     api.ledger.organization(parent).region, on=SETUP_DAY)
    return code


def transfer(api: Api, sender: str, target: str, step: str, into: str | None = None) -> str:
    """A transfer of a new member of `sender` to `target`, brought to `step`."""
    recorded = api.ledger.request_transfer(full_member(api, sender), target, reason="job_change",
                                           basis="household", on=ON)
    assert recorded.transfer_id is not None
    if step in ("issued", "received"):
        api.ledger.issue_letter(recorded.transfer_id, on=ON)
    if step == "received":
        api.ledger.receive_member(recorded.transfer_id, into or target, on=ON)
    return recorded.transfer_id


def certificate(api: Api, org: str) -> str:
    recorded = api.ledger.issue_certificate(full_member(api, org), kind="temporary", purpose="培训",
                                            valid_until=date(2027, 1, 31), host_description="市委党校", on=ON)
    assert recorded.certificate_no is not None
    return recorded.certificate_no


def case(api: Api, org: str) -> str:
    recorded = api.ledger.open_case(org, name="求助者", request="落实组织关系", on=ON)
    assert recorded.code is not None
    return recorded.code


# --- the routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    ok: int = 200

    def sent(self) -> list[str]:
        """Every string the request carries: what the caller already knows."""
        values = [self.path, *self.params.values()]
        values += [str(v) for v in (self.body or {}).values()]
        pieces = [piece for value in values for piece in re.split(r"[/?&=]", value) if piece]
        return [*pieces, *(unquote(piece).strip() for piece in pieces)]  # and as the server reads them


Prepare = Callable[[Api, Place], Call]


@dataclass(frozen=True)
class Route:
    """Who may call it (roles), how to make a valid call about a place, and whether an
    operator may read it about the organizations above its own (`above`)."""

    roles: tuple[str, ...]
    prepare: Prepare
    above: bool = False
    root: bool = False  # the whole event stream: operators of a root department only
    anywhere: bool = False  # the locator: any operator of its roles, wherever the member is


def post(path: Callable[[Api, Place], str], body: Callable[[Api, Place], dict[str, Any]] | None = None,
         ok: int = 200) -> Prepare:
    return lambda api, p: Call("POST", path(api, p), body(api, p) if body else {}, ok=ok)


def get(path: Callable[[Api, Place], str], **params: Callable[[Place], str]) -> Prepare:
    return lambda api, p: Call("GET", path(api, p), params={k: v(p) for k, v in params.items()})


def located(api: Api, p: Place) -> Call:
    """A call of the locator with both numbers of a new member of the place."""
    n = next(_numbers)
    number = admit(api.ledger, n, p.branch, joined_on=date(2005, 1, 1) + timedelta(days=n))
    return Call("GET", "/v1/locate", params={"registration_no": number, "id_card_no": person(n)["id_card_no"]})


def on_member(action: str, body: Callable[[Place], dict[str, Any]] = lambda p: {}) -> Prepare:
    return post(lambda api, p: f"/v1/members/{full_member(api, p.branch)}/{action}", lambda api, p: body(p))


def with_access(api: Api, org: str) -> str:
    number = full_member(api, org)
    api.ledger.issue_member_access(number)
    return number


def probationary(api: Api, p: Place) -> str:  # probation ended 2026-06-01: confirmable
    joined = date(2025, 6, 1)
    return admit(api.ledger, next(_numbers), p.branch, on=joined, joined_on=joined, status="probationary")


def sending(action: str, step: str, body: dict[str, Any]) -> Prepare:
    """A step of the sending side, on a letter from the place to elsewhere."""
    return post(lambda api, p: f"/v1/transfers/{transfer(api, p.branch, ELSEWHERE, step)}/{action}",
                lambda api, p: dict(body))


def receiving(action: str, step: str, body: Callable[[Place], dict[str, Any]] = lambda p: {}) -> Prepare:
    """A step of the receiving side, on a letter from elsewhere addressed to the place."""
    return post(lambda api, p: f"/v1/transfers/{transfer(api, ELSEWHERE_BRANCH, p.target, step, p.branch)}/{action}",
                lambda api, p: body(p))


def new_member(api: Api, p: Place) -> dict[str, Any]:
    n = next(_numbers)
    return member_body(n, p.branch, joined_on=(date(2005, 1, 1) + timedelta(days=n)).isoformat())


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/organizations"): Route(MANAGE, post(lambda api, p: "/v1/organizations", lambda api, p: {
        "code": f"N{next(_codes):04d}", "name": "授权测试新支部", "kind": "branch", "parent_code": p.parent,
        "region": api.ledger.organization(p.parent).region}, ok=201)),
    ("GET", "/v1/organizations/{code}"): Route(READ, get(lambda api, p: f"/v1/organizations/{p.committee}"),
                                               above=True),
    ("GET", "/v1/organizations/{code}/children"): Route(
        READ, get(lambda api, p: f"/v1/organizations/{p.committee}/children"), above=True),
    ("POST", "/v1/organizations/{code}/dissolve"): Route(MANAGE, post(
        lambda api, p: f"/v1/organizations/{fresh_org(api, p.parent)}/dissolve",
        lambda api, p: {"successor_code": p.branch})),
    ("POST", "/v1/organizations/{code}/move"): Route(MANAGE, post(
        lambda api, p: f"/v1/organizations/{fresh_org(api, p.parent)}/move",
        lambda api, p: {"parent_code": p.other_parent})),
    ("GET", "/v1/organizations/{code}/roster"): Route(READ, get(
        lambda api, p: f"/v1/organizations/{p.committee}/roster", subtree=lambda p: "true")),
    ("GET", "/v1/organizations/{code}/overdue"): Route(READ, get(
        lambda api, p: f"/v1/organizations/{p.committee}/overdue")),
    ("POST", "/v1/operators"): Route(MANAGE, post(lambda api, p: "/v1/operators", lambda api, p: {
        "name": "新文员", "role": "clerk", "organization_code": p.branch}, ok=201)),
    ("POST", "/v1/operators/{operator_id}/revoke"): Route(MANAGE, post(
        lambda api, p: f"/v1/operators/{api.ledger.grant_operator('将被撤销', 'clerk', p.branch)[0].code}/revoke")),
    ("GET", "/v1/operators"): Route(AUDIT, get(lambda api, p: "/v1/operators",
                                               organization_code=lambda p: p.committee)),
    ("POST", "/v1/members"): Route(ACT, post(lambda api, p: "/v1/members", new_member, ok=201)),
    ("GET", "/v1/members/{registration_no}"): Route(READ, get(
        lambda api, p: f"/v1/members/{full_member(api, p.branch)}")),
    ("GET", "/v1/members/{registration_no}/history"): Route(READ, get(
        lambda api, p: f"/v1/members/{full_member(api, p.branch)}/history")),
    ("POST", "/v1/members/{registration_no}/confirm"): Route(ACT, post(
        lambda api, p: f"/v1/members/{probationary(api, p)}/confirm")),
    ("POST", "/v1/members/{registration_no}/death"): Route(ACT, on_member("death")),
    ("POST", "/v1/members/{registration_no}/leave"): Route(ACT, on_member("leave", lambda p: {"reason": "withdrew"})),
    ("POST", "/v1/members/{registration_no}/org-life"): Route(ACT, on_member(
        "org-life", lambda p: {"organization_code": p.branch})),
    ("POST", "/v1/members/{registration_no}/dues"): Route(ACT, on_member(
        "dues", lambda p: {"month": "2026-10", "amount": "8.00"})),
    ("POST", "/v1/transfers"): Route(ACT, post(lambda api, p: "/v1/transfers", lambda api, p: {
        "registration_no": full_member(api, p.branch), "to_organization_code": ELSEWHERE, "reason": "job_change",
        "basis": "household"}, ok=201)),
    ("GET", "/v1/transfers"): Route(READ, get(lambda api, p: "/v1/transfers",
                                              organization_code=lambda p: p.committee)),
    ("GET", "/v1/transfers/{transfer_id}"): Route(READ, get(
        lambda api, p: f"/v1/transfers/{transfer(api, p.branch, ELSEWHERE, 'issued')}")),
    ("GET", "/v1/transfers/{transfer_id}/letter"): Route(READ, get(
        lambda api, p: f"/v1/transfers/{transfer(api, p.branch, ELSEWHERE, 'issued')}/letter")),
    ("POST", "/v1/transfers/{transfer_id}/issue"): Route(ACT, sending("issue", "requested", {})),
    ("POST", "/v1/transfers/{transfer_id}/decline"): Route(ACT, sending("decline", "requested",
                                                                        {"reason": "材料不全"})),
    ("POST", "/v1/transfers/{transfer_id}/cancel"): Route(ACT, sending("cancel", "issued", {"reason": "本人撤回"})),
    ("POST", "/v1/transfers/{transfer_id}/extend"): Route(ACT, sending("extend", "issued",
                                                                       {"valid_until": "2026-12-15"})),
    ("POST", "/v1/transfers/{transfer_id}/receive"): Route(ACT, receiving(
        "receive", "issued", lambda p: {"organization_code": p.branch})),
    ("POST", "/v1/transfers/{transfer_id}/reject"): Route(ACT, receiving(
        "reject", "issued", lambda p: {"reason": "不符合接收条件"})),
    ("POST", "/v1/transfers/{transfer_id}/return-receipt"): Route(ACT, receiving("return-receipt", "received")),
    ("POST", "/v1/certificates"): Route(ACT, post(lambda api, p: "/v1/certificates", lambda api, p: {
        "registration_no": full_member(api, p.branch), "kind": "temporary", "host_description": "市委党校",
        "purpose": "培训", "valid_until": "2027-01-31"}, ok=201)),
    ("POST", "/v1/certificates/{certificate_no}/return"): Route(ACT, post(
        lambda api, p: f"/v1/certificates/{certificate(api, p.branch)}/return")),
    ("GET", "/v1/certificates"): Route(READ, get(lambda api, p: "/v1/certificates",
                                                 organization_code=lambda p: p.committee, side=lambda p: "host")),
    ("GET", "/v1/certificates/{certificate_no}"): Route(READ, get(
        lambda api, p: f"/v1/certificates/{certificate(api, p.branch)}")),
    ("POST", "/v1/cases"): Route(ACT, post(lambda api, p: "/v1/cases", lambda api, p: {
        "organization_code": p.committee, "name": "求助者", "request": "落实组织关系"}, ok=201)),
    ("POST", "/v1/cases/{case_id}/close"): Route(ACT, post(
        lambda api, p: f"/v1/cases/{case(api, p.committee)}/close", lambda api, p: {"outcome": "withdrawn"})),
    ("GET", "/v1/cases"): Route(READ, get(lambda api, p: "/v1/cases", organization_code=lambda p: p.committee)),
    ("GET", "/v1/cases/{case_id}"): Route(READ, get(lambda api, p: f"/v1/cases/{case(api, p.committee)}")),
    ("GET", "/v1/reports/monthly"): Route(READ, get(lambda api, p: "/v1/reports/monthly",
                                                    organization_code=lambda p: p.committee,
                                                    month=lambda p: "2026-10")),
    ("GET", "/v1/reports/annual"): Route(READ, get(lambda api, p: "/v1/reports/annual",
                                                   organization_code=lambda p: p.committee, year=lambda p: "2026")),
    ("POST", "/v1/reports/monthly/file"): Route(MANAGE, post(lambda api, p: "/v1/reports/monthly/file", lambda api, p: {
        "organization_code": fresh_org(api, p.parent), "month": "2026-10"})),
    ("POST", "/v1/members/{registration_no}/access"): Route(ACT, post(
        lambda api, p: f"/v1/members/{full_member(api, p.branch)}/access", ok=201)),
    ("POST", "/v1/members/{registration_no}/access/revoke"): Route(ACT, post(
        lambda api, p: f"/v1/members/{with_access(api, p.branch)}/access/revoke")),
    ("GET", "/v1/members/{registration_no}/reports"): Route(READ, get(
        lambda api, p: f"/v1/members/{full_member(api, p.branch)}/reports")),
    # a member's own routes: no operator's token opens them, whatever its role and place
    ("GET", "/v1/me"): Route((), get(lambda api, p: "/v1/me")),
    ("GET", "/v1/me/history"): Route((), get(lambda api, p: "/v1/me/history")),
    ("POST", "/v1/me/transfer-requests"): Route((), post(lambda api, p: "/v1/me/transfer-requests", lambda api, p: {
        "to_organization_code": ELSEWHERE, "reason": "job_change", "basis": "household"}, ok=201)),
    ("POST", "/v1/me/reports"): Route((), post(lambda api, p: "/v1/me/reports", lambda api, p: {"text": "汇报"},
                                               ok=201)),
    ("GET", "/v1/audit/events"): Route(AUDIT, get(lambda api, p: "/v1/audit/events"), root=True),
    ("GET", "/v1/audit/verify"): Route(AUDIT, get(lambda api, p: "/v1/audit/verify"), root=True),
    ("GET", "/v1/audit/access"): Route(AUDIT, get(lambda api, p: "/v1/audit/access"), root=True),
    ("GET", "/v1/audit/checkpoint"): Route(AUDIT, get(lambda api, p: "/v1/audit/checkpoint"), root=True),
    ("GET", "/v1/locate"): Route(("admin", "clerk"), located, anywhere=True),
}


def test_every_route_of_the_app_is_in_the_matrix(api: Api) -> None:
    served = {(method, path) for method, path in app_routes(api.app.routes) if path.startswith("/v1")}
    documented = {(method.upper(), path) for path, item in api.app.openapi()["paths"].items()
                  for method in item if path.startswith("/v1")}
    assert documented <= served, documented - served
    assert set(ROUTES) == served, {"without a row": served - set(ROUTES), "no longer served": set(ROUTES) - served}


# --- the answers ----------------------------------------------------------------------------------

OK, FORBIDDEN, OUTSIDE = "ok", "forbidden", "out_of_jurisdiction"


def expected(route: Route, role: str, place: str) -> str:
    if role not in route.roles:
        return FORBIDDEN
    if route.anywhere:
        return OK
    if route.root:
        return OUTSIDE  # XW-C1 is no root department
    return OK if place == "own" or (place == "above" and route.above) else OUTSIDE


class Prepared:
    """A prepared call per (route, place, caller's scope): a refused one is kept for the
    next row, a successful one used up."""

    def __init__(self, api: Api) -> None:
        self.api, self.ready = api, dict[tuple[Any, ...], Call]()

    def get(self, key: tuple[str, str], place: Place) -> Call:
        if (key, place) not in self.ready:
            self.ready[(key, place)] = ROUTES[key].prepare(self.api, place)
        return self.ready[(key, place)]

    def used(self, key: tuple[str, str], place: Place) -> None:
        self.ready.pop((key, place), None)


@pytest.fixture(scope="module")
def prepared(api: Api) -> Prepared:
    return Prepared(api)


def unseen(api: Api, scope: str) -> list[str]:
    """What an operator of `scope` may not see: the codes and names of organizations
    neither in its subtree nor above it, and the numbers and names of members it may not
    read (not held by it now, never held by it, not on their way to it)."""
    rights = Jurisdiction(scope, api.ledger.ancestors)
    with api.services.queries() as queries:
        orgs = queries.db.query("SELECT code, name FROM proj_organizations")
        members = queries.db.query("SELECT registration_no, name, organization_code FROM proj_members")
        places = queries.db.query("SELECT registration_no, organization_code FROM proj_stints UNION "
                                  "SELECT registration_no, to_organization_code FROM proj_transfers")
    held = {code: rights.holds(code) for code, _ in orgs}
    readable = {number for number, code in places if held.get(code)}
    secrets = [text for code, name in orgs if not rights.sees(code) for text in (code, name)]
    secrets += [text for number, name, code in members if not held[code] and number not in readable
                for text in (number, name)]
    return secrets


def assert_names_nothing_unseen(api: Api, scope: str, call: Call, response: Response) -> None:
    """A refusal's body, less what the request sent, names nothing the caller may not see."""
    text = response.text
    for piece in sorted(call.sent(), key=len, reverse=True):
        text = text.replace(piece, "")
    leaked = [secret for secret in unseen(api, scope) if secret in text]
    assert not leaked, (leaked, response.text)


def assert_refused(api: Api, scope: str, call: Call, response: Response, code: str, before: int) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert_problem(response, code)
    assert api.ledger.max_position() == before, "a refused call recorded events"
    assert_names_nothing_unseen(api, scope, call, response)


def send(api: Api, label: str, call: Call) -> Response:
    client = api.client(label)
    if call.method == "GET":
        return client.get(call.path, **call.params)
    return client.post(call.path, call.body)


def check_row(api: Api, prepared: Prepared, key: tuple[str, str], label: str, scope: str, place: Place,
              outcome: str) -> None:
    call = prepared.get(key, place)
    before = api.ledger.max_position()
    response = send(api, label, call)
    if response.is_success:
        prepared.used(key, place)
    if outcome != OK:
        assert_refused(api, scope, call, response, outcome, before)
        return
    assert response.status_code == call.ok, response.text
    if call.method == "POST":
        assert response.json()["position"] == api.ledger.max_position() > before


def _matrix_rows() -> list[Any]:
    return [pytest.param(key, role, place, expected(route, role, place), id=f"{key[0]} {key[1]}-{role}-{place}")
            for key, route in ROUTES.items() for role in MATRIX_OPERATORS for place in PLACES]


@pytest.mark.parametrize(("key", "role", "place", "outcome"), _matrix_rows())
def test_route_role_place(api: Api, prepared: Prepared, key: tuple[str, str], role: str, place: str,
                          outcome: str) -> None:
    check_row(api, prepared, key, MATRIX_OPERATORS[role], "XW-C1", PLACES[place], outcome)


# Beside the matrix: a branch's clerk, the other side of a letter, and a province's admin.
SENDING_STEPS = [("POST", f"/v1/transfers/{{transfer_id}}/{a}") for a in ("issue", "decline", "cancel", "extend")]
RECEIVING_STEPS = [("POST", f"/v1/transfers/{{transfer_id}}/{a}") for a in ("receive", "reject", "return-receipt")]
BESIDE = [
    # a branch clerk (XW-C1-B1) admits and requests for its members, but issues and receives nothing
    *[("b1_clerk", "XW-C1-B1", key, OK) for key in (("POST", "/v1/members"), ("POST", "/v1/transfers"),
                                                    ("POST", "/v1/members/{registration_no}/dues"),
                                                    ("POST", "/v1/members/{registration_no}/org-life"))],
    *[("b1_clerk", "XW-C1-B1", key, OUTSIDE) for key in SENDING_STEPS + RECEIVING_STEPS],
    # the far side of the own place's letters (QH-C1) does none of the own side's steps
    *[("qh_clerk", "QH-C1", key, OUTSIDE) for key in SENDING_STEPS + RECEIVING_STEPS],
    # the province's admin acts everywhere in Jiangsu
    *[("admin", "JS", key, OK) for key in (("POST", "/v1/organizations"), ("POST", "/v1/members"),
                                           ("POST", "/v1/transfers/{transfer_id}/issue"),
                                           ("POST", "/v1/transfers/{transfer_id}/receive"))],
]


@pytest.mark.parametrize(("label", "scope", "key", "outcome"), BESIDE,
                         ids=[f"{k[1]}-{label}-{o}" for label, _, k, o in BESIDE])
def test_beside_the_matrix(api: Api, prepared: Prepared, label: str, scope: str, key: tuple[str, str],
                           outcome: str) -> None:
    check_row(api, prepared, key, label, scope, PLACES["own"], outcome)


# --- refusals that name nothing outside (besides 403s: a rule's refusal too) --------------------


def refused_quietly(api: Api, label: str, scope: str, call: Call, code: str, status: int) -> dict[str, Any]:
    """Refused with `code`, nothing recorded, nothing named that the caller may not see."""
    before = api.ledger.max_position()
    response = send(api, label, call)
    assert response.status_code == status, response.text
    body = assert_problem(response, code)
    assert api.ledger.max_position() == before, "a refused call recorded events"
    assert_names_nothing_unseen(api, scope, call, response)
    return body


def test_a_duplicate_resident_id_outside_names_no_member(api: Api) -> None:
    n = next(_numbers)
    holder = admit(api.ledger, n, "XW-C2-B1", joined_on=date(2005, 1, 1) + timedelta(days=n))
    again = member_body(n, "XW-C1-B1", joined_on="2016-07-01")
    call = Call("POST", "/v1/members", again, ok=201)
    for label in ("xw_clerk", "c1_admin"):
        detail = refused_quietly(api, label, "XW-C1", call, "duplicate_registration", 409)["detail"]
        assert holder not in detail
    # the county's admin holds the member: it is told which one, to put the record right
    assert holder in assert_problem(send(api, "xw_admin", call), "duplicate_registration")["detail"]


def test_a_registration_number_taken_outside_is_refused_without_naming_its_holder(api: Api) -> None:
    taken = full_member(api, "XW-C2-B1")
    body = {**member_body(next(_numbers), "XW-C1-B1", joined_on="2016-07-01"), "registration_no": taken}
    detail = refused_quietly(api, "xw_clerk", "XW-C1", Call("POST", "/v1/members", body), "duplicate_registration",
                             409)["detail"]
    assert api.ledger.member(taken).name not in detail and "XW-C2" not in detail


def test_bad_input_is_refused_alike_whether_a_member_holds_its_numbers(api: Api) -> None:
    """An enrolment's fields are checked before its numbers are looked up: a body that can't
    be recorded (a member joining at 14) with another member's resident ID number or
    registration number is refused as the same body with unused numbers is, so a refusal
    that records nothing tells nothing of who holds them."""
    n = next(_numbers)
    holder = admit(api.ledger, n, "XW-C2-B1", joined_on=date(2005, 1, 1) + timedelta(days=n))
    unused = next(_numbers)
    young = {"birth_date": "2000-01-01", "joined_on": "2014-07-01"}
    answers = set()
    for body in (member_body(n, "XW-C1-B1", **young), member_body(unused, "XW-C1-B1", **young),
                 {**member_body(unused, "XW-C1-B1", **young), "registration_no": holder}):
        refused = refused_quietly(api, "xw_clerk", "XW-C1", Call("POST", "/v1/members", body), "validation_error",
                                  422)
        answers.add(refused["detail"])
    assert len(answers) == 1, answers


def test_org_life_for_a_sibling_member_at_ones_own_branch_is_refused(api: Api) -> None:
    theirs, mine = full_member(api, "XW-C2-B1"), full_member(api, "XW-C1-B1")
    for label, scope, number, at in (("xw_clerk", "XW-C1", theirs, "XW-C1-B1"),
                                     ("c1_admin", "XW-C1", theirs, "XW-C1-B1")):
        call = Call("POST", f"/v1/members/{number}/org-life", {"organization_code": at})
        refused_quietly(api, label, scope, call, "out_of_jurisdiction", 403)
    assert api.client("xw_clerk").get(f"/v1/members/{theirs}/history").status_code == 403
    # and the member's own committee can't record it at the sibling's branch either
    call = Call("POST", f"/v1/members/{mine}/org-life", {"organization_code": "XW-C2-B1"})
    refused_quietly(api, "xw_clerk", "XW-C1", call, "member_not_held", 409)


def test_an_unknown_and_an_outside_member_get_the_same_refusal(api: Api) -> None:
    outside = full_member(api, "XW-C2-B1")
    first17 = outside[:14] + ("998" if outside[14:17] != "998" else "997")
    unknown = first17 + check_character(first17)
    answers = []
    # each also sent with a space before it, which a lookup trims: the refusal names the
    # number as read, whether a member holds it or not (no byte of it tells them apart)
    for number, sent in ((n, s) for n in (outside, unknown) for s in (n, f" {n}")):
        path = sent.replace(" ", "%20")
        for call in (Call("GET", f"/v1/members/{path}"), Call("GET", f"/v1/members/{path}/history"),
                     Call("POST", f"/v1/members/{path}/dues", {"month": "2026-10", "amount": "8.00"}),
                     Call("POST", "/v1/transfers", {"registration_no": sent, "to_organization_code": "QH-C1",
                                                    "reason": "job_change", "basis": "household"}),
                     Call("POST", "/v1/certificates", {"registration_no": sent, "kind": "temporary",
                                                       "host_description": "党校", "purpose": "培训",
                                                       "valid_until": "2027-01-31"})):
            body = refused_quietly(api, "xw_clerk", "XW-C1", call, "out_of_jurisdiction", 403)
            answers.append((body["status"], body["detail"].replace(number, "<number>")))
    assert len(set(answers)) == 1, answers


def test_a_member_in_transit_outside_is_refused_as_outside(api: Api) -> None:
    travelling = api.ledger.transfer(transfer(api, "XW-C2-B1", "QH-C1", "issued")).registration_no
    for call in (Call("POST", "/v1/transfers", {"registration_no": travelling, "to_organization_code": "XW-C1",
                                                "reason": "job_change", "basis": "household"}),
                 Call("POST", "/v1/certificates", {"registration_no": travelling, "kind": "temporary",
                                                   "host_description": "党校", "purpose": "培训",
                                                   "valid_until": "2027-01-31"})):
        refused_quietly(api, "xw_clerk", "XW-C1", call, "out_of_jurisdiction", 403)


def test_a_step_on_a_letter_outside_names_neither_side(api: Api) -> None:
    sent = transfer(api, "XW-C2-B1", "QH-C1", "issued")
    incoming = transfer(api, "QH-C1-B1", "XW-C2", "issued")
    for call in (Call("POST", f"/v1/transfers/{sent}/cancel", {"reason": "撤回"}),
                 Call("POST", f"/v1/transfers/{incoming}/receive", {"organization_code": "XW-C1-B1"}),
                 Call("GET", f"/v1/transfers/{sent}")):
        detail = refused_quietly(api, "xw_clerk", "XW-C1", call, "out_of_jurisdiction", 403)["detail"]
        assert "XW-C2" not in detail and "QH-C1" not in detail


@pytest.mark.parametrize(("path", "label", "expected"), [
    (path, label, expected)
    for path in ("/v1/audit/events", "/v1/audit/verify", "/v1/audit/access")
    for label, expected in (("admin", OK), ("auditor", OK), ("xw_admin", OUTSIDE), ("xw_auditor", OUTSIDE),
                            ("xw_clerk", FORBIDDEN), ("sc_clerk", FORBIDDEN))
])
def test_the_whole_event_stream_is_for_root_operators(api: Api, path: str, label: str, expected: str) -> None:
    response = api.client(label).get(path)
    if expected == OK:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403 and assert_problem(response, expected)


def test_both_sides_read_a_transfer_and_its_member(api: Api) -> None:
    transfer_id = transfer(api, "XW-C1-B1", "QH-C1", "issued")
    number = api.ledger.transfer(transfer_id).registration_no
    for label in ("xw_clerk", "qh_clerk", "xw_auditor", "admin"):
        assert api.client(label).get(f"/v1/transfers/{transfer_id}").status_code == 200, label
        assert api.client(label).get(f"/v1/members/{number}").status_code == 200, label
    assert_problem(api.client("sc_clerk").get(f"/v1/transfers/{transfer_id}"), OUTSIDE)
    assert_problem(api.client("sc_clerk").get(f"/v1/members/{number}"), OUTSIDE)
    incoming = api.client("qh_clerk").get("/v1/transfers", organization_code="QH-C1", status="issued").json()
    assert transfer_id in [t["transfer_id"] for t in incoming["data"]]


def test_history_stays_visible_where_the_member_was_held(api: Api) -> None:
    transfer_id = transfer(api, "XW-C1-B1", "QH-C1", "received", "QH-C1-B1")
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


def test_the_health_check_is_open_and_tells_nothing_of_the_ledger(api: Api) -> None:
    """GET /healthz (a load balancer's probe, no token) answers whether the store can be
    read, and nothing of what it holds (not how many events)."""
    answer = api.test_client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"ok": True}


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
