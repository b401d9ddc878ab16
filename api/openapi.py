"""The OpenAPI document as the API answers: every status an operation can give, with the
application/problem+json body of each error, the bearer token as a security scheme and
`Idempotency-Key` on every POST. Set here, over the routes FastAPI describes, so that a
route only declares what is its own (its body, its success, its extra content types).

Under /v1 an operation answers:
- 401 always (no token, or one unknown or revoked), 403 always (role or jurisdiction),
  422 always (bad input), 503 always (the database unavailable or busy; for a read with
  `min_position`, the views not there in time);
- 404 when it names something (a path parameter, a body, a query parameter other than
  paging and positions), 409 when it is a command (a POST: a rule, a concurrent change,
  the same Idempotency-Key still running).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import STATUS_BY_CODE
from domain.errors import ALL_ERRORS
from domain.identifiers import CODE_PATTERN

PROBLEM_JSON = "application/problem+json"
# Codes the API layer gives beside the domain's refusals (authentication, roles, idempotency,
# the views or the database not ready).
API_CODES = {"unauthenticated": 401, "forbidden": 403, "not_found": 404, "validation_error": 422,
             "idempotency_key_reused": 422, "conflict": 409, "not_ready": 503}
# Query parameters that name nothing: an unknown value is never a 404.
PLAIN_QUERY = {"limit", "offset", "after", "min_position"}
ERROR_NAMES = {401: "Unauthenticated", 403: "Forbidden", 404: "NotFound", 409: "Refused",
               422: "ValidationProblem", 503: "NotReady"}


def codes_by_status() -> dict[int, list[str]]:
    """Every stable code, under the status it is answered with (api/errors.py)."""
    codes: dict[int, set[str]] = {status: set() for status in ERROR_NAMES}
    for code, status in API_CODES.items():
        codes[status].add(code)
    for error in ALL_ERRORS:
        codes[STATUS_BY_CODE.get(error.code, 409)].add(error.code)
    return {status: sorted(found) for status, found in codes.items()}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Problem": {
            "type": "object",
            "title": "Problem",
            "description": "An error (RFC 9457): `code` is stable and machine-readable.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string", "description": "/problems/{code}"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string", "description": "what was refused and why, in words"},
                "code": {"type": "string"},
                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemError"},
                           "description": "for bad input: each field refused"},
            },
        },
        "ProblemError": {
            "type": "object",
            "title": "ProblemError",
            "required": ["loc", "msg", "type"],
            "properties": {
                "loc": {"type": "array", "items": {"type": "string"},
                        "description": "where: body, query, path or header, then the field"},
                "msg": {"type": "string"},
                "type": {"type": "string"},
            },
        },
    }
    for status, codes in codes_by_status().items():
        schemas[ERROR_NAMES[status]] = {
            "title": ERROR_NAMES[status],
            "allOf": [
                {"$ref": "#/components/schemas/Problem"},
                {"type": "object", "properties": {"status": {"const": status}, "code": {"enum": codes}}},
            ],
        }
    return schemas


def _error(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{ERROR_NAMES[status]}"}}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}}
    return response


def _names_something(operation: dict[str, Any]) -> bool:
    return "requestBody" in operation or any(
        p["in"] == "path" or (p["in"] == "query" and p["name"] not in PLAIN_QUERY)
        for p in operation.get("parameters", [])
    )


def _describe_errors(method: str, operation: dict[str, Any]) -> dict[str, Any]:
    command = method == "post"
    waits = any(p["name"] == "min_position" for p in operation.get("parameters", []))
    errors = {
        401: "no bearer token, or one unknown or revoked (`unauthenticated`)",
        403: "outside the operator's role (`forbidden`) or subtree (`out_of_jurisdiction`)",
        422: "bad input: a parameter, header or field malformed, missing or out of range (the code says which)",
        503: ("the views have not applied `min_position` in time, or the database is unavailable or busy"
              if waits else "the database is unavailable or busy (`not_ready`): try again"),
    }
    if _names_something(operation):
        errors[404] = "what it names is not in the ledger (`not_found`)"
    if command:
        errors[409] = "refused by a rule of the ledger or a concurrent change (the code says which); " \
                      "or a request with the same Idempotency-Key is still running (`conflict`)"
    return {str(status): _error(status, errors[status]) for status in sorted(errors)}


def _success_content(operation: dict[str, Any]) -> None:
    """Give a schema to the files a route declares (CSV text, Excel workbooks)."""
    for status, response in operation["responses"].items():
        if not status.startswith("2"):
            continue
        for media_type, content in response.get("content", {}).items():
            if content.get("schema") is None and media_type.startswith("text/"):
                content["schema"] = {"type": "string"}
            elif content.get("schema") is None and media_type != "application/json":
                content["schema"] = {"type": "string", "format": "binary"}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key with the same request answers the first response again (a refusal "
                   "included) and records nothing new; with another request: 422 `idempotency_key_reused`.",
    "schema": {"type": "string", "maxLength": 200},
}


# A path, query or header value is one line of text (api/boundary.py refuses the rest):
# no control character at all, tab, line feed and carriage return included.
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


# An optional filter by organization code given empty is no filter.
CODE_OR_EMPTY_PATTERN = "^(" + CODE_PATTERN.strip("^$") + ")?$"


def _one_line(parameter: dict[str, Any]) -> None:
    """A parameter's string schema (or each string of its anyOf) states it is one line, and
    an organization code's its form."""
    name, schema = parameter["name"], parameter.get("schema", {})
    code = name == "code" or name.endswith("_code")
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string" and "pattern" not in option and "enum" not in option:
            option["pattern"] = (CODE_PATTERN if parameter.get("required") else CODE_OR_EMPTY_PATTERN) if code \
                else LINE_PATTERN


def document(app: FastAPI) -> dict[str, Any]:
    """The document FastAPI builds from the routes, with the answers they really give."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(_schemas())
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "an operator's token (`ledger operator add`, or `POST /v1/operators`)"}}
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            parameters = [p for p in operation.get("parameters", [])
                          if not (p["in"] == "header" and p["name"].lower() == "authorization")]
            if method == "post":
                parameters.append(IDEMPOTENCY_KEY)
                for status, response in operation["responses"].items():
                    if status.startswith("2"):
                        response.setdefault("headers", {})["Idempotent-Replayed"] = {
                            "description": "present on a response given again for an Idempotency-Key",
                            "schema": {"type": "string", "const": "true"}}
            for parameter in parameters:
                _one_line(parameter)
            operation["parameters"] = parameters
            operation["security"] = [{"bearer": []}]
            operation["responses"].update(_describe_errors(method, operation))
            _success_content(operation)
    # FastAPI's own validation error bodies are never answered: bad input is a Problem.
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    return doc


def install(app: FastAPI) -> None:
    """Serve `document(app)` at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

