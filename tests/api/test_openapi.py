"""The OpenAPI document tells what the API answers: each error status of each operation with
its application/problem+json body and codes, the success content types, the token, and
Idempotency-Key; an undeclared method is 405 with `Allow`; and where the document says an
input is refused the API refuses it, and where it says it is allowed the API takes it.
(tests/api/test_fuzz.py checks the same at random, over the whole document.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import STATUS_BY_CODE
from domain.errors import ALL_ERRORS
from domain.settings import Settings
from tests.api.conftest import Api
from tests.api.helpers import (
    assert_problem,
    document_operations,
    full_member,
    issued,
    openapi_document,
    recorded,
    refused,
)
from tests.conftest import Store

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


DOC = openapi_document("openapi-test-key-0123456789")
BARE = TestClient(create_app(Settings(id_key="openapi-test-key-0123456789")))  # type: ignore[arg-type]  # no store
OPERATIONS = document_operations(DOC)


def accepts(schema_name: str, body: dict[str, Any]) -> bool:
    """Whether the document's schema `schema_name` takes `body`."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": DOC["components"]}
    return bool(jsonschema_rs.validator_for(root).is_valid(body))


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    yield api
    api.close()


# --- the document -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS,
                         ids=[f"{method.upper()} {path}" for method, path, _ in OPERATIONS])
def test_each_operation_declares_its_errors_as_problem_json(method: str, path: str, operation: Any) -> None:
    responses = operation["responses"]
    expected = {"401", "403", "422", "503"}
    if "{" in path or "requestBody" in operation:
        expected.add("404")
    if method == "post":
        expected.add("409")
    assert expected <= responses.keys(), sorted(responses)
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            assert list(response["content"]) == ["application/problem+json"], (status, response["content"])
            assert response["content"]["application/problem+json"]["schema"]["$ref"].startswith(
                "#/components/schemas/")
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert operation["security"] == [{"bearer": []}]
    headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
    assert "authorization" not in headers  # the token is the security scheme, not a parameter
    assert ("idempotency-key" in headers) == (method == "post")


def test_no_operation_declares_fastapis_own_validation_error_body() -> None:
    assert "HTTPValidationError" not in DOC["components"]["schemas"]
    assert "HTTPValidationError" not in str(DOC["paths"])
    problem = DOC["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert "errors" in problem["properties"]


def test_each_code_of_the_ledger_is_declared_under_the_status_it_is_answered_with() -> None:
    schemas = DOC["components"]["schemas"]
    by_status = {}
    for name in ("Unauthenticated", "Forbidden", "NotFound", "Refused", "ValidationProblem", "NotReady"):
        declared = schemas[name]["allOf"][1]["properties"]
        by_status[declared["status"]["const"]] = set(declared["code"]["enum"])
    for error in ALL_ERRORS:
        assert error.code in by_status[STATUS_BY_CODE.get(error.code, 409)], error.code
    assert by_status[401] == {"unauthenticated"}
    assert by_status[503] == {"not_ready"}
    assert {"idempotency_key_reused", "validation_error", "future_date"} <= by_status[422]
    assert "conflict" in by_status[409]


@pytest.mark.parametrize("path", ["/v1/reports/monthly", "/v1/reports/annual"])
def test_reports_declare_json_csv_and_excel(path: str) -> None:
    content = DOC["paths"][path]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv", XLSX}
    assert content["text/csv"]["schema"] == {"type": "string"}
    assert content[XLSX]["schema"] == {"type": "string", "format": "binary"}


@pytest.mark.parametrize("path", ["/v1/transfers", "/v1/organizations/{code}/roster",
                                  "/v1/organizations/{code}/overdue"])
def test_lists_declare_json_and_csv_with_the_total_in_a_header(path: str) -> None:
    ok = DOC["paths"][path]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/csv"}
    assert ok["content"]["text/csv"]["schema"] == {"type": "string"}
    assert ok["headers"]["X-Total-Count"]["schema"] == {"type": "integer", "minimum": 0}


def test_reads_with_min_position_say_when_they_answer_503() -> None:
    roster = DOC["paths"]["/v1/organizations/{code}/roster"]["get"]["responses"]["503"]
    assert "min_position" in roster["description"]


def test_every_read_accepts_min_position() -> None:
    """API.md: "Reads accept `min_position`": every GET under /v1."""
    missing = [path for path, operations in DOC["paths"].items() if path.startswith("/v1") and "get" in operations
               and "min_position" not in {p["name"] for p in operations["get"].get("parameters", [])}]
    assert missing == []


def test_a_read_of_one_record_waits_for_min_position(api: Api) -> None:
    """A read of one record given a position the views haven't reached answers 503
    `not_ready` (after LEDGER_READ_WAIT_SECONDS), as the lists do."""
    ahead = api.ledger.max_position() + 1000
    answer = api.client("admin").get("/v1/organizations/XW", min_position=ahead)
    assert (answer.status_code, answer.json()["code"]) == (503, "not_ready")
    assert api.client("admin").get("/v1/organizations/XW", min_position=api.ledger.max_position()).status_code == 200


# --- 405 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DOC["paths"]))
def test_an_undeclared_method_is_a_problem_405_whose_allow_names_every_method_of_the_path(path: str) -> None:
    declared = {method.upper() for method in DOC["paths"][path]}
    concrete = path.replace("{", "").replace("}", "")  # any value for a path parameter
    for method in ("DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "GET", "POST"):
        if method in declared:
            continue
        response = BARE.request(method, concrete)
        assert response.status_code == 405, (method, response.status_code)
        assert set(response.headers["allow"].split(", ")) == declared, (method, response.headers.get("allow"))
        assert_problem(response, "method_not_allowed", {405})


# --- the schema and the API agree ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\u3000", "\t\n", "张\x01三"])
def test_an_operator_name_the_schema_refuses_is_refused(api: Api, name: str) -> None:
    body = {"name": name, "role": "clerk", "organization_code": "XW-C1"}
    assert not accepts("OperatorCreate", body)
    refused(api, lambda: api.client("admin").post("/v1/operators", body), "validation_error")


def test_an_operator_name_the_schema_allows_is_taken(api: Api) -> None:
    body = {"name": " 张三\t", "role": "clerk", "organization_code": "XW-C1"}
    assert accepts("OperatorCreate", body)
    recorded(api, api.client("admin").post("/v1/operators", body), 201)


@pytest.mark.parametrize("reason", [" ", "\u2003\n", "a\x7fb"])
def test_a_blank_reason_refused_by_the_schema_is_refused(api: Api, reason: str) -> None:
    transfer_id = issued(api, full_member(api), on=date(2026, 10, 1))
    assert not accepts("ReasonRequest", {"reason": reason})
    refused(api, lambda: api.client("admin").post(f"/v1/transfers/{transfer_id}/cancel", {"reason": reason}),
            "validation_error")


@pytest.mark.parametrize("body", [
    {},  # no host at all
    {"host_description": "  "},
    {"host_organization_code": None, "host_description": "\u3000"},
], ids=["no_host", "blank_description", "null_code_blank_description"])
def test_a_certificate_without_a_host_is_refused_by_the_schema_and_the_api(api: Api, body: dict[str, Any]) -> None:
    full = {"registration_no": full_member(api), "kind": "temporary", "purpose": "培训",
            "valid_until": "2026-12-31", "on": "2026-11-01", **body}
    assert not accepts("CertificateCreate", full)
    refused(api, lambda: api.client("admin").post("/v1/certificates", full), "validation_error")


@pytest.mark.parametrize("purpose", ["", " \u3000 "])
def test_a_certificate_without_a_purpose_is_refused_by_the_schema_and_the_api(api: Api, purpose: str) -> None:
    full = {"registration_no": full_member(api), "kind": "temporary", "purpose": purpose,
            "valid_until": "2026-12-31", "on": "2026-11-01", "host_description": "省委党校"}
    assert not accepts("CertificateCreate", full)
    refused(api, lambda: api.client("admin").post("/v1/certificates", full), "validation_error")


@pytest.mark.parametrize("amount", ["١٢", "１２", "1e2", " 12", "12 ", "+12", "0", "0.00", "1000000", "12_0"])
def test_a_dues_amount_other_than_ascii_decimal_yuan_is_refused(api: Api, amount: str) -> None:
    body = {"month": "2026-10", "amount": amount, "on": "2026-11-01"}
    assert not accepts("DuesRequest", body)
    number = full_member(api)
    refused(api, lambda: api.client("xw_clerk").post(f"/v1/members/{number}/dues", body), "validation_error")


@pytest.mark.parametrize("amount", ["12.50", "0.5", "0.05", "999999.99", "012"])
def test_a_dues_amount_the_schema_allows_is_taken(api: Api, amount: str) -> None:
    body = {"month": "2026-10", "amount": amount, "on": "2026-11-01"}
    assert accepts("DuesRequest", body)
    number = full_member(api)
    recorded(api, api.client("xw_clerk").post(f"/v1/members/{number}/dues", body))


def test_valid_days_written_as_a_whole_float_is_taken(api: Api) -> None:
    transfer_id = api.ledger.request_transfer(full_member(api), "QH-C1", reason="job_change", basis="household",
                                              on=date(2026, 10, 1)).transfer_id
    assert accepts("IssueRequest", {"valid_days": 45.0})
    body = recorded(api, api.client("admin").post(f"/v1/transfers/{transfer_id}/issue",
                                                  {"valid_days": 45.0, "on": "2026-10-01"}))
    assert body["valid_until"] == "2026-11-15"


@pytest.mark.parametrize(("valid_days", "code"), [(0, "validation_error"), (91, "validity_too_long"),
                                                   (30.5, "validation_error"), ("30", "validation_error")])
def test_valid_days_the_schema_refuses_are_refused_with_their_codes(api: Api, valid_days: Any, code: str) -> None:
    transfer_id = api.ledger.request_transfer(full_member(api), "QH-C1", reason="job_change", basis="household",
                                              on=date(2026, 10, 1)).transfer_id
    assert not accepts("IssueRequest", {"valid_days": valid_days})
    refused(api, lambda: api.client("admin").post(f"/v1/transfers/{transfer_id}/issue",
                                                  {"valid_days": valid_days, "on": "2026-10-01"}), code)


@pytest.mark.parametrize(("path", "name", "value"), [
    ("/v1/transfers", "direction", "sideways"),
    ("/v1/organizations/XW/overdue", "kind", "late"),
])
def test_a_query_value_outside_its_enum_is_refused(api: Api, path: str, name: str, value: str) -> None:
    template = "/v1/organizations/{code}/overdue" if "overdue" in path else path
    parameter = next(p for p in DOC["paths"][template]["get"]["parameters"] if p["name"] == name)
    schema = parameter["schema"]
    assert value not in str(schema) and "enum" in str(schema)
    admin = {"Authorization": f"Bearer {api.tokens['admin']}"}
    assert_problem(api.test_client.get(path, params={name: value}, headers=admin), "validation_error")
