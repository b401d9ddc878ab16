"""Hostile input through HTTP, on both stores: identifiers in other scripts' digits or with
a trailing newline are refused (one person, one registration), and a lone surrogate, a NUL
or a control character anywhere in a request (path, every query parameter of every GET
route, JSON bodies, the headers the API reads) answers 422 `validation_error` naming the
field, never 500, and records nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest
from httpx import Response

from api.reportfiles import list_csv, list_xlsx
from domain.identifiers import make_registration_no
from tests.api.conftest import Api
from tests.api.helpers import assert_problem, document_operations, fresh_org, new_member_body, refused
from tests.conftest import Store
from tests.domain.test_hostile_input import ARABIC_INDIC, DEVANAGARI, FULLWIDTH, same_person_id
from tests.factories import admit, person


@pytest.fixture(scope="module")
def api(shared_store: Store) -> Iterator[Api]:
    api = Api(shared_store)
    yield api
    api.close()


@pytest.fixture(scope="module")
def known(api: Api) -> dict[str, str]:
    """A valid value for every path and required query parameter of the API's routes."""
    number = admit(api.ledger, 900)
    other = admit(api.ledger, 901)
    transfer = api.ledger.request_transfer(other, "QH-C1", reason="job_change", basis="household",
                                           on=date(2026, 10, 1))
    certificate = api.ledger.issue_certificate(number, kind="temporary", purpose="学习培训",
                                               valid_until=date(2026, 12, 31), host_description="省委党校",
                                               on=date(2026, 10, 1))
    case = api.ledger.open_case("XW", name="求助者", request="落实组织关系", on=date(2026, 10, 1))
    return {"code": "XW", "registration_no": number, "transfer_id": transfer.transfer_id or "",
            "case_id": case.code or "",
            "certificate_no": certificate.certificate_no or "", "operator_id": api.operator_ids["xw_clerk"],
            "organization_code": "XW", "month": "2026-10", "year": "2026", "id_card_no": person(900)["id_card_no"]}


def post_raw(api: Api, path: str, body: Any, label: str = "admin", **headers: str) -> Response:
    """POST a JSON body as bytes (json.dumps escapes a lone surrogate as \\ud800, as any
    client may send it)."""
    return api.test_client.post(path, content=json.dumps(body).encode(),
                                headers={**api.client(label).headers(), "Content-Type": "application/json",
                                         **headers})


def loc_of(response: Response) -> list[str]:
    return response.json()["errors"][0]["loc"]  # type: ignore[no-any-return]


def operations(api: Api, method: str) -> dict[str, dict[str, Any]]:
    """The API's operations of one method under /v1, path -> operation, as the app's own
    OpenAPI document lists them (every route, with its parameters and body)."""
    document = api.test_client.get("/openapi.json").json()
    return {path: operation for each, path, operation in document_operations(document, "/v1") if each == method}


def parameters(operation: dict[str, Any], where: str) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == where]


def fill(path: str, values: dict[str, str], **override: str) -> str:
    for name, value in {**values, **override}.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    assert "{" not in path, f"no value for a path parameter of {path}: add it to `known`"
    return path


# --- one person, one registration ------------------------------------------------------------


def test_a_resident_id_in_other_digits_is_refused_so_one_person_is_registered_once(api: Api) -> None:
    identity = same_person_id()
    clerk = api.client("xw_clerk")
    first = clerk.post("/v1/members", new_member_body(id_card_no=identity))
    assert first.status_code == 201, first.text
    spellings = [identity.translate(FULLWIDTH), identity.translate(ARABIC_INDIC), identity.translate(DEVANAGARI),
                 identity[:17].translate(FULLWIDTH) + "X", identity + "\n"]
    for spelling in spellings:
        body = refused(api, lambda s=spelling: clerk.post("/v1/members", new_member_body(id_card_no=s)),
                       "validation_error")
        assert body["errors"][0]["loc"] == ["body", "id_card_no"], body
    again = refused(api, lambda: clerk.post("/v1/members", new_member_body(id_card_no=identity.lower())),
                    "duplicate_registration")
    assert identity not in again["detail"]


def test_registration_numbers_in_other_digits_are_refused(api: Api) -> None:
    number = make_registration_no("320102", date(2011, 3, 4), 5)
    clerk = api.client("xw_clerk")
    for spelling in (number.translate(FULLWIDTH), number.translate(ARABIC_INDIC), number + "\n"):
        refused(api, lambda s=spelling: clerk.post("/v1/members", new_member_body(registration_no=s)),
                "invalid_registration_no")
        refused(api, lambda s=spelling: clerk.post("/v1/transfers", {
            "registration_no": s, "to_organization_code": "QH-C1", "reason": "other", "basis": "household"}),
            "invalid_registration_no")


@pytest.mark.parametrize("region", ["３２０１０２", "٣٢٠١٠٢", "320102\n"])
def test_regions_in_other_digits_or_with_a_newline_are_refused(api: Api, region: str) -> None:
    admin = api.client("admin")
    body = refused(api, lambda: admin.post("/v1/organizations", {
        "code": "NJ-GA-C09", "name": "南京国安党委", "kind": "committee", "parent_code": "NJ", "region": region}),
        "validation_error")
    assert body["errors"][0]["loc"] == ["body", "region"]
    body = refused(api, lambda: api.client("xw_clerk").post("/v1/members", new_member_body(household_region=region)),
                   "validation_error")
    assert body["errors"][0]["loc"] == ["body", "household_region"]


def test_an_organization_code_with_a_trailing_newline_is_refused(api: Api) -> None:
    admin = api.client("admin")
    for code in ("NJ-GA-C02\n", "NJ-GA-C02\r\n", "NJ-GA-C０2"):
        body = refused(api, lambda c=code: admin.post("/v1/organizations", {
            "code": c, "name": "南京国安党委", "kind": "committee", "parent_code": "NJ", "region": "320100"}),
            "validation_error")
        assert body["errors"][0]["loc"] == ["body", "code"]
    body = refused(api, lambda: admin.post("/v1/organizations", {
        "code": "NJ-GA-C08", "name": "x", "kind": "committee", "parent_code": "NJ\n", "region": "320100"}),
        "validation_error")
    assert body["errors"][0]["loc"] == ["body", "parent_code"]
    body = refused(api, lambda: admin.post("/v1/operators", {"name": "x", "role": "clerk",
                                                              "organization_code": "XW\n"}), "validation_error")
    assert body["errors"][0]["loc"] == ["body", "organization_code"]


def test_a_month_with_a_trailing_newline_is_neither_filed_nor_reported(api: Api, known: dict[str, str]) -> None:
    code = fresh_org(api, "XW-C2", kind="committee")
    admin = api.client("admin")
    body = refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": code,
                                                                         "month": "2026-10\n"}), "validation_error")
    assert body["errors"][0]["loc"] == ["body", "month"]
    filed = admin.post("/v1/reports/monthly/file", {"organization_code": code, "month": "2026-10"})
    assert filed.status_code == 200, filed.text
    refused(api, lambda: admin.post("/v1/reports/monthly/file", {"organization_code": code, "month": "2026-10"}),
            "invalid_transition")
    assert api.ledger.organization(code).filed_months == ["2026-10"]
    for month in ("2026-10\n", "２０２６-10"):
        assert_problem(admin.get("/v1/reports/monthly", organization_code=code, month=month), "validation_error")
    dues = refused(api, lambda: api.client("xw_clerk").post(
        f"/v1/members/{known['registration_no']}/dues", {"month": "2026-10\n", "amount": "1.00"}),
        "validation_error")
    assert dues["errors"][0]["loc"] == ["body", "month"]
    for amount in ("１２.５０", " 12.50", "1e3"):
        refused(api, lambda a=amount: api.client("xw_clerk").post(
            f"/v1/members/{known['registration_no']}/dues", {"month": "2026-10", "amount": a}), "validation_error")


def test_the_openapi_document_states_ascii_patterns(api: Api) -> None:
    schemas = api.test_client.get("/openapi.json").json()["components"]["schemas"]
    member = schemas["MemberCreate"]["properties"]
    assert member["id_card_no"]["pattern"] == "^[0-9]{17}[0-9Xx]$"
    assert member["household_region"]["pattern"] == "^(0[1-9]|[1-9][0-9])[0-9]{4}$"
    assert "NFC" in member["name"]["description"]
    assert schemas["OrganizationCreate"]["properties"]["code"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
    assert schemas["FileRequest"]["properties"]["month"]["pattern"] == "^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
    transfer = schemas["TransferCreate"]["properties"]["registration_no"]
    assert transfer["pattern"] == "^[0-9]{17}[0-9Xx]$"
    for schema in schemas.values():
        for name, field in schema.get("properties", {}).items():
            assert "\\d" not in str(field.get("pattern", "")), (name, field)


# --- strings that are not text ---------------------------------------------------------------


def test_a_lone_surrogate_in_a_json_body_is_refused_not_500(api: Api, known: dict[str, str]) -> None:
    cases = [
        ("/v1/transfers", {"registration_no": "\ud800", "to_organization_code": "QH-C1", "reason": "other",
                           "basis": "household"}, ["body", "registration_no"]),
        ("/v1/certificates", {"registration_no": "\ud800", "kind": "temporary", "purpose": "学习",
                              "valid_until": "2026-12-31", "host_description": "党校"}, ["body", "registration_no"]),
        ("/v1/transfers", {"registration_no": known["registration_no"], "to_organization_code": "XW-C1-B2",
                           "reason": "other", "basis": "residence",
                           "evidence": {"kind": "lease", "reference": "租\udc00约"}},
         ["body", "evidence", "reference"]),
        ("/v1/members", new_member_body(name="张\udfff"), ["body", "name"]),
        ("/v1/organizations", {"code": "\ud800", "name": "x", "kind": "branch", "parent_code": "XW-C2",
                               "region": "320102"}, ["body", "code"]),
    ]
    for path, body, loc in cases:
        problem = refused(api, lambda p=path, b=body: post_raw(api, p, b), "validation_error")
        assert problem["errors"][0]["loc"] == loc, problem
        assert "\ud800" not in problem["detail"]


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_a_body_nested_too_deep_is_refused_not_500(api: Api, depth: int) -> None:
    """A JSON body nested deeper than any of the API's (32 levels) is 422, with a token or
    without one, however deep: the parser's own limit (about a thousand) gave 500."""
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        for headers in (api.client("admin").headers(), {}):
            response = refused(api, lambda b=body, h=headers: api.test_client.post(
                "/v1/transfers", content=b.encode(), headers={**h, "Content-Type": "application/json"}),
                "validation_error")
            assert response["errors"][0]["loc"] == ["body"] and "nested" in response["detail"], response
    shallow = {"registration_no": "X", "to_organization_code": "QH-C1", "reason": "other", "basis": "household",
               "evidence": {"kind": "lease", "reference": "r"}}
    assert "nested" not in post_raw(api, "/v1/transfers", shallow).text


@pytest.mark.parametrize("char", ["\x80", "\x85", "\x9b", "\x9f"])
def test_a_c1_control_character_is_refused_like_the_others(api: Api, char: str) -> None:
    """U+0080-U+009F are control characters too (U+0085 a line break): refused in a body and
    in a query parameter, as NUL and the C0 controls are."""
    problem = refused(api, lambda: post_raw(api, "/v1/members", new_member_body(name=f"张{char}三")),
                      "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "name"] and f"U+{ord(char):04X}" in problem["detail"]
    response = api.client("admin").get("/v1/organizations/XW/roster", q=f"张{char}")
    assert_problem(response, "validation_error")
    assert loc_of(response) == ["query", "q"]


def test_a_day_or_a_number_in_a_query_is_written_as_api_md_writes_it(api: Api) -> None:
    """A query's date is YYYY-MM-DD, as in a body: a Unix timestamp, a datetime or digits
    alone were read as some day (`as_of=20260601` as 1970-08-23, an empty roster that looked
    real); a number is ASCII digits alone (no sign, space or underscore)."""
    admin = api.client("admin")
    for value in ("1780272000", "0", "20260601", "2026-06-01T00:00", "2026-06-01T00:00:00Z", "1e9"):
        for path, name in (("/v1/organizations/XW/roster", "as_of"), ("/v1/organizations/XW/overdue", "on")):
            response = admin.get(path, **{name: value})
            assert_problem(response, "validation_error")
            assert loc_of(response) == ["query", name], (path, value, response.text)
    assert admin.get("/v1/organizations/XW/roster", as_of="2026-06-01").status_code == 200
    for path, name, value in (("/v1/reports/annual", "year", " 2026"), ("/v1/reports/annual", "year", "+2026"),
                              ("/v1/reports/annual", "year", "2_026"), ("/v1/organizations/XW/roster", "limit", "1_0"),
                              ("/v1/organizations/XW/roster", "offset", "+1"),
                              ("/v1/organizations/XW/roster", "min_position", "1_0"),
                              ("/v1/audit/events", "after", "-0"), ("/v1/audit/events", "limit", "1_0")):
        params = {"organization_code": "XW"} if "reports" in path else {}
        response = admin.get(path, **params, **{name: value})
        assert_problem(response, "validation_error")
        assert loc_of(response) == ["query", name], (path, value, response.text)
    assert admin.get("/v1/reports/annual", organization_code="XW", year="2025").status_code == 200


def body_fields(api: Api) -> dict[str, list[str]]:
    """The fields of each POST operation's JSON body, as the OpenAPI document states them."""
    schemas = api.test_client.get("/openapi.json").json()["components"]["schemas"]
    fields = {}
    for path, post in operations(api, "post").items():
        schema = post.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("anyOf", [])]
        names = [name for ref in refs if ref for name in schemas[ref.rsplit("/", 1)[1]]["properties"]]
        fields[path] = names or ["on"]
    return fields


def test_a_lone_surrogate_in_any_post_body_is_refused(api: Api, known: dict[str, str]) -> None:
    tried = 0
    for route_path, fields in body_fields(api).items():
        for field in fields:
            path = fill(route_path, known)
            problem = refused(api, lambda p=path, f=field: post_raw(api, p, {f: "\udbff"}), "validation_error")
            assert problem["errors"][0]["loc"] == ["body", field], (route_path, problem)
            tried += 1
    assert tried > 40


def test_nul_in_every_query_parameter_of_every_get_route_is_refused(api: Api, known: dict[str, str]) -> None:
    tried: set[tuple[str, str]] = set()
    admin = api.client("admin")
    for path, operation in operations(api, "get").items():
        query = parameters(operation, "query")
        required = {p["name"]: known[p["name"]] for p in query if p.get("required")}
        for param in query:
            for bad in ("\x00", "a\x00b", "\x1b", "XW\n"):
                response = admin.get(fill(path, known), **{**required, param["name"]: bad})
                assert_problem(response, "validation_error")
                assert loc_of(response) == ["query", param["name"]], (path, response.text)
            tried.add((path, param["name"]))
    assert {("/v1/organizations/{code}/roster", "q"), ("/v1/transfers", "status"), ("/v1/transfers", "letter_no"),
            ("/v1/transfers", "registration_no"), ("/v1/reports/monthly", "month")} <= tried


def test_nul_or_a_newline_in_every_path_parameter_is_refused(api: Api, known: dict[str, str]) -> None:
    tried = 0
    admin = api.client("admin")
    for method in ("get", "post"):
        for path, operation in operations(api, method).items():
            for param in parameters(operation, "path"):
                name = param["name"]
                for bad in (known[name] + "\x00", "\n", "a\x7fb"):
                    bad_path = fill(path, known, **{name: bad})
                    response = admin.get(bad_path) if method == "get" else admin.post(bad_path, {})
                    assert_problem(response, "validation_error")
                    assert loc_of(response) == ["path", name], (path, response.text)
                tried += 1
    assert tried >= 15


def test_nul_or_controls_in_the_headers_read_are_refused(api: Api) -> None:
    admin = api.client("admin")
    body = {"name": "新操作员", "role": "clerk", "organization_code": "XW"}
    for header, value in (("Idempotency-Key", "k\x00"), ("X-Request-Id", "req\x1b[31m"),
                          ("X-Request-Id", "a\nb")):
        problem = refused(api, lambda h=header, v=value: admin.post("/v1/operators", body, **{h: v}),
                          "validation_error")
        assert problem["errors"][0]["loc"] == ["header", header.lower()]
    # a token with a NUL is no token: 401, as the document's bearer scheme says, naming no token
    problem = assert_problem(api.test_client.get("/v1/organizations/XW", headers={
        "Authorization": f"Bearer {api.tokens['admin']}\x00"}), "unauthenticated")
    assert api.tokens["admin"] not in problem["detail"]


def test_free_text_keeps_tab_and_newline_and_is_stored_in_nfc(api: Api, known: dict[str, str]) -> None:
    clerk = api.client("xw_clerk")
    member = clerk.post("/v1/members", new_member_body(name="Jose\u0301 阮"))
    assert member.status_code == 201, member.text
    assert member.json()["name"] == "José 阮"
    number = member.json()["registration_no"]
    transfer = clerk.post("/v1/transfers", {"registration_no": number, "to_organization_code": "QH-C1",
                                            "reason": "other", "basis": "household"})
    assert transfer.status_code == 201, transfer.text
    declined = clerk.post(f"/v1/transfers/{transfer.json()['transfer_id']}/decline",
                          {"reason": "第一行\n\t第二行"})
    assert declined.status_code == 200, declined.text


FORMULA_NAME = "=cmd|' /C calc'!A0"


def test_a_name_typed_as_a_formula_is_text_in_every_csv_and_excel_file(api: Api) -> None:
    """A name (or an organization's) a clerk typed starting with `=`, `+`, `-` or `@` is
    recorded as typed, and a spreadsheet program opening a list shows it as text: a CSV
    cell gets a leading `'`, an Excel cell is a text cell, never a formula."""
    number = admit(api.ledger, 902, org="XW-C1-B2", name=FORMULA_NAME)
    answer = api.client("admin").get("/v1/organizations/XW-C1-B2/roster", headers={"Accept": "text/csv"})
    assert answer.status_code == 200, answer.text
    rows = {row["registration_no"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    assert rows[number]["name"] == "'" + FORMULA_NAME
    columns = ["registration_no", "name"]
    for start in ("=", "+", "-", "@", "\t"):
        text = list_csv(columns, columns, [{"registration_no": number, "name": start + "1+1"}], lang="en").decode()
        assert next(csv.DictReader(io.StringIO(text)))["name"] == "'" + start + "1+1", start
    workbook = openpyxl.load_workbook(io.BytesIO(list_xlsx("名册", columns, ["登记号", "姓名"],
                                                           [{"registration_no": number, "name": FORMULA_NAME}],
                                                           date(2026, 11, 20))))
    cell = workbook.active.cell(row=2, column=2)
    assert (cell.value, cell.data_type) == (FORMULA_NAME, "s")
