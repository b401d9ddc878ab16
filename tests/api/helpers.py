"""What the API tests share: builders through the Ledger (fast, and not what is under test),
the assertions of API.md's answers (problem+json refusals that record nothing, recorded
commands), and the listing of the app's routes and of its OpenAPI operations."""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from fastapi.routing import APIRoute
from httpx import Response

from api.app import create_app
from domain.identifiers import check_character
from domain.settings import Settings
from tests.api.conftest import Api, member_body
from tests.factories import SETUP_DAY, admit

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


# --- builders (through the Ledger itself: fast, and not what is under test) -----------------

numbers = itertools.count(1000)
_codes = itertools.count(1)


def joined(n: int) -> date:
    """A distinct joining date per person, so each gets sequence 001 of its own day."""
    return date(2005, 1, 1) + timedelta(days=n)


def full_member(api: Api, org: str = "XW-C1-B1", on: date = date(2020, 6, 1)) -> str:
    n = next(numbers)
    return admit(api.ledger, n, org, on=on, joined_on=joined(n))


def probationary_member(api: Api, joined_on: date, org: str = "XW-C1-B1") -> str:
    return admit(api.ledger, next(numbers), org, on=joined_on, joined_on=joined_on, status="probationary")


def new_member_body(org: str = "XW-C1-B1", **overrides: Any) -> dict[str, Any]:
    n = next(numbers)
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
    return re.fullmatch(r"[0-9]{17}[0-9X]", number) is not None and check_character(number[:17]) == number[17]


HUGE = 2**63  # one past the largest 64-bit integer


def no_500(response: Response, *, empty_ok: bool = True) -> None:
    """Bad input is a 4xx problem (validation_error); an answer that is no error is a 2xx."""
    assert response.status_code != 500, response.text
    if response.status_code >= 400:
        assert_problem(response, "validation_error")
    else:
        assert empty_ok and response.status_code == 200


# --- the routes ------------------------------------------------------------------------------


def app_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, routers included however they are mounted."""
    for route in routes:
        if isinstance(route, APIRoute):
            for method in route.methods - {"HEAD"}:
                yield method, route.path
        elif hasattr(route, "original_router"):  # a router included as a whole (FastAPI >= 0.120)
            yield from app_routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from app_routes(route.routes)


def openapi_document(id_key: str = "openapi-test-key-0123456789") -> dict[str, Any]:
    """The app's OpenAPI document, from an app on no store."""
    return create_app(Settings(id_key=id_key)).openapi()  # type: ignore[arg-type, no-any-return]


def document_operations(document: dict[str, Any], prefix: str = "") -> list[tuple[str, str, dict[str, Any]]]:
    """The document's operations (lower-case method, path, operation) whose path starts with `prefix`."""
    return [(method, path, operation) for path, item in document["paths"].items() if path.startswith(prefix)
            for method, operation in item.items()]


# --- processes -------------------------------------------------------------------------------


def stop_process(process: subprocess.Popen[str], seconds: float = 15) -> int | None:
    """Ask a child process to end (SIGTERM), kill it when it hasn't within `seconds`; its
    return code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=seconds)
    return process.returncode
