"""The HTTP API's boundary: every string of a request is checked once, here, before any
route (or the idempotency store, or a query on the views) sees it; a query parameter with
an empty value counts as not sent.

`IncomingText` checks the path and its parameters, every query parameter (name and
value), the headers the API reads, and every string of a JSON body (keys too) with
`domain.text.check_incoming`: no lone surrogate, no NUL, no other control character;
tab, LF and CR only in a JSON body's strings (free text), never in the path, the query or
a header. A request that fails is answered 422 `validation_error` (problem+json, naming the
field, never echoing the value) and reaches nothing, so nothing is recorded. The web
pages (under /web) check their own paths, queries and forms the same way
(api/web/routes.py), to answer with a page.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from domain.text import incoming_problem, incoming_tree_problem

# The request headers the API reads (api/deps.py, api/idempotency.py, the reports' Accept).
# Not Authorization: a token is only ever hashed, and one that isn't a token (whatever it
# holds) is 401 `unauthenticated`, as the OpenAPI document's bearer scheme says.
HEADERS_READ = ("x-request-id", "idempotency-key", "accept", "content-type")
WEB_PREFIX = "/web"
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def is_json(headers: Headers) -> bool:
    """Whether the API would read the body as JSON (as FastAPI decides: no content type,
    application/json or application/*+json)."""
    content_type = headers.get("content-type")
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def path_parameter(scope: Scope) -> str | None:
    """The name of the path parameter that holds a refused character, from the paths the
    app's OpenAPI document lists (computed once by the app; read only for a refused path)."""
    openapi = getattr(scope.get("app"), "openapi", None)
    if openapi is None:
        return None
    for template in openapi().get("paths", {}):
        regex, _, _ = compile_path(template)
        match = regex.match(scope.get("path", ""))
        if match is None:
            continue
        for name, value in match.groupdict().items():
            if incoming_problem(value, single_line=True) is not None:
                return name
    return None


def head_problem(scope: Scope) -> tuple[list[str], str, str] | None:
    """(loc, field named in words, what is wrong) for the first refused string of the
    request's path, query or headers read; None if all are text."""
    path = scope.get("path", "")
    found = incoming_problem(path, single_line=True)
    if found is not None:
        name = path_parameter(scope)
        if name is None:
            return ["path"], "the path", found
        return ["path", name], f"path parameter {name}", found
    for name, value in QueryParams(scope.get("query_string", b"")).multi_items():
        found = incoming_problem(name, single_line=True)
        if found is not None:
            return ["query"], "a query parameter's name", found
        found = incoming_problem(value, single_line=True)
        if found is not None:
            return ["query", name], f"query parameter {name}", found
    headers = Headers(scope=scope)
    for name in HEADERS_READ:
        for value in headers.getlist(name):
            found = incoming_problem(value, single_line=True)
            if found is not None:
                return ["header", name], f"header {name}", found
    return None


# No body of the API nests more than a few levels; a deeper one is refused before any code
# that walks it recursively (the route's own parsing included) meets it.
MAX_DEPTH = 32


def nested_deeper(data: Any, limit: int) -> bool:
    """Whether a parsed JSON document has objects or arrays more than `limit` levels deep
    (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def body_problem(body: bytes) -> tuple[list[str], str, str] | None:
    """The same for a JSON body's strings (a body that is not JSON is left to the route,
    which refuses it)."""
    if not body:
        return None
    deep = ["body"], "the body", f"JSON nested more than {MAX_DEPTH} levels deep"
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    except RecursionError:  # nested deeper than the parser goes (about a thousand levels)
        return deep
    if nested_deeper(data, MAX_DEPTH):
        return deep
    found = incoming_tree_problem(data, ("body",))
    if found is None:
        return None
    path, what = found
    return list(path), ".".join(path[1:]) or "the body", what


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in (to hand to the app again)."""
    messages, chunks = [], []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def without_empty_values(query: bytes) -> bytes:
    """The query string less its parameters with an empty value (`kind=`, or `kind` alone):
    API.md writes its filters `?status=&organization_code=`, and a client that sends a
    filter empty means no filter, not a value that fails to parse."""
    if not query:
        return query
    kept = [part for part in query.split(b"&") if part.partition(b"=")[2]]
    return b"&".join(kept)


class IncomingText:
    """ASGI middleware: refuse, before routing, a request with a string that is not text.
    Parameters of the query with an empty value are dropped first (`without_empty_values`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] != "http" or path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        kept = without_empty_values(query)
        if kept != query:
            scope = {**scope, "query_string": kept}
        found = head_problem(scope)
        if found is None and scope["method"] in BODY_METHODS and is_json(Headers(scope=scope)):
            body, messages = await read_body(receive)
            found = body_problem(body)
            receive = replay(messages, receive)
        if found is None:
            await self.app(scope, receive, send)
            return
        loc, field, what = found
        response = problem(422, "validation_error", f"{field} contains {what}",
                           errors=[{"loc": loc, "msg": f"contains {what}", "type": "value_error"}])
        await response(scope, receive, send)


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the messages already read, then the client's own."""
    pending = list(messages)

    async def again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return again
