"""Helpers shared by the routers: common query parameters, a command signed by the
operator, list answers as JSON or CSV."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BeforeValidator

from api.deps import Caller
from api.idempotency import IdempotentRoute
from api.schemas.common import iso_date_only
from api.services import Services
from domain.identifiers import DATE_PATTERN

R = TypeVar("R")


def ascii_number(value: Any) -> Any:
    """A number in a query is ASCII digits alone: no sign, space, underscore or other
    script's digits (which int() would take)."""
    if isinstance(value, str) and re.fullmatch("[0-9]{1,20}", value, re.ASCII) is None:
        raise ValueError("a whole number in ASCII digits")
    return value


# A number in a query (the validator after `Query`, so that the OpenAPI document keeps its
# minimum and maximum).
Number = BeforeValidator(ascii_number)


async def views_reached(
    request: Request,
    min_position: Annotated[int | None, Query(ge=0, le=2**53, description="answer once the views have applied "
                                              "this position"), Number] = None,
) -> int | None:
    """Wait for the views to apply `min_position` before the route runs: on the event loop,
    so that a read waiting holds no thread of the pool that runs routes and no connection
    (503 `not_ready` after LEDGER_READ_WAIT_SECONDS, or at once when LEDGER_READ_WAITERS
    reads wait already). Declared after the operator, it runs once the caller is known."""
    if min_position:
        services: Services = request.app.state.services
        await services.reached(min_position)
    return min_position


# A date in a query, checked as a body's is.
QueryDay = Annotated[date | None, BeforeValidator(iso_date_only),
                     Query(description="ISO date YYYY-MM-DD", json_schema_extra={"pattern": DATE_PATTERN})]
MinPosition = Annotated[int | None, Depends(views_reached)]
Limit = Annotated[int, Query(ge=1, le=1000), Number]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000), Number]


def router(prefix: str, tag: str) -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag], route_class=IdempotentRoute)


def command(operator: Caller, roles: tuple[str, ...], run: Callable[..., R], *args: Any, **fields: Any) -> R:
    """A Ledger command for an operator of one of `roles`, signed with its actor and request id."""
    operator.require(*roles)
    return run(*args, **fields, actor=operator.actor, request_id=operator.request_id)


LIST_TYPES: dict[int | str, dict[str, Any]] = {200: {
    "content": {"text/csv": {}},
    "description": "JSON; with Accept: text/csv the page's rows as CSV (the field names as headings) "
                   "and the number of rows in all in X-Total-Count",
    "headers": {"X-Total-Count": {"description": "with Accept: text/csv, the number of rows in all "
                                                 "(every page)", "schema": {"type": "integer", "minimum": 0}}},
}}


def wants_csv(request: Request) -> bool:
    return "text/csv" in (request.headers.get("accept") or "")


def list_answer(request: Request, columns: list[str], rows: list[dict[str, Any]], count: int) -> Any:
    """`{data, count}`, or with `Accept: text/csv` the rows as CSV (the field names as headings)
    and the number of rows in all in the `X-Total-Count` header."""
    from api.reportfiles import list_csv

    if not wants_csv(request):
        return {"data": rows, "count": count}
    return Response(list_csv(columns, columns, rows, lang="en"), media_type="text/csv; charset=utf-8",
                    headers={"X-Total-Count": str(count)})
