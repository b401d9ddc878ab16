"""What every clerk's page shares: the route class that checks a request's strings, turns
refusals into pages and adds the security headers; rendering in the clerk's language; the
form and query helpers; paging; a member's history as sentences.

Every page reuses the API's own checks: the bearer-token check (api/deps.py), the role
check `Caller.require`, the jurisdiction checks (api/access.py), the Ledger's scope
checks (LedgerError) and the Queries' subtree filters. A refusal is a page in the clerk's
language with the status the API would give; a form that changed something redirects to
a page that waits (like `min_position`) until the views show the change.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypedDict
from urllib.parse import quote, urlencode, urlsplit

import psycopg
from eventsourcing.persistence import OperationalError
from fastapi import APIRouter, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from api.access import TRANSFER_ROLES, list_scope
from api.deps import Caller
from api.errors import STATUS_BY_CODE, ApiError
from api.services import Services
from api.web.forms import FORM_TYPES, read_form
from api.web.i18n import LANGUAGES, describe, error_text, translate
from api.web.once import once_field
from api.web.session import (
    LANGUAGE_COOKIE,
    MEMBER_SESSION_COOKIE,
    SESSION_COOKIE,
    SignInRequired,
    clear_cookie,
    is_member_page,
    language,
)
from domain.errors import LedgerError, ValidationError
from domain.identifiers import parse_iso_date
from domain.text import check_incoming
from domain.vocabulary import CASE_OVERDUE_AFTER_DAYS, DEFAULT_VALID_DAYS, MAX_VALID_DAYS

log = logging.getLogger("api.web")

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
# The limits the pages show (a letter's validity, a case's days before it is overdue), and
# the one-time key of a form whose second submit would record again (api/web/once.py).
TEMPLATES.env.globals.update(DEFAULT_VALID_DAYS=DEFAULT_VALID_DAYS, MAX_VALID_DAYS=MAX_VALID_DAYS,
                             CASE_OVERDUE_AFTER_DAYS=CASE_OVERDUE_AFTER_DAYS, once_field=once_field)
PAGE_SIZE = 50
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# --- rendering and refusals ---------------------------------------------------------------

def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    lang = language(request)
    operator = context.get("operator")
    context.setdefault("csrf", getattr(request.state, "csrf", ""))

    def t(key: str, **values: Any) -> str:
        return translate(key, lang, **values)

    def switch(to: str) -> str:
        params = dict(request.query_params)
        params["lang"] = to
        return f"{request.url.path}?{urlencode(params)}"

    names: dict[str, str] = dict(context.get("names") or {})
    if operator is not None and operator.organization_code not in names:  # the header names it
        with request.app.state.services.queries() as queries:
            names.update(queries.organization_names([operator.organization_code]))
    people: dict[str, str] = context.get("people") or {}

    def org(code: str | None) -> str:
        """An organization by name (its code when the name is unknown)."""
        return names.get(code or "", code or "")

    def person(registration_no: str | None) -> str:
        return people.get(registration_no or "", "")

    context.update(
        org=org, person=person, t=t, lang=lang, other_lang="en" if lang == "zh" else "zh", switch=switch,
        can_act=bool(operator and operator.role in TRANSFER_ROLES), home_code=operator.organization_code
        if operator else None,
    )
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def refusal(request: Request, code: str, status: int, detail: str) -> Response:
    lang = language(request)
    return render(request, "error.html", status=status, code=code, message=error_text(code, lang),
                  detail=detail, operator=getattr(request.state, "operator", None))


def safe_next(target: str | None) -> str:
    """A page of this site to go to (under /web/), else the home page: never another site's."""
    target = target or ""
    return target if target.startswith("/web/") and not target.startswith("//") else "/web/"


def referring_page(request: Request) -> str:
    """The page of this site a request came from, by its Referer (the pages send it within
    the site: Referrer-Policy same-origin); the home page for another site's or none."""
    referer = urlsplit(request.headers.get("referer") or "")
    if referer.netloc != request.url.netloc:
        return "/web/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def sign_in_redirect(request: Request) -> Response:
    if is_member_page(request.url.path):  # the member's own pages have their own sign-in
        response = RedirectResponse("/web/me/sign-in", status_code=303)
        clear_cookie(request, response, MEMBER_SESSION_COOKIE)
        return response
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:  # a form's path is no page to come back to: the page the form was on (or the home page)
        target = referring_page(request)
    response = RedirectResponse(f"/web/sign-in?next={quote(target)}", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


MULTILINE_FIELDS = frozenset({"report_text"})  # a textarea's lines (a member's regular report)


async def check_incoming_request(request: Request) -> None:
    """Every string of a page's request (path parameters, query parameters, form fields)
    is one line of text: no lone surrogate, NUL or other control character, tab and line
    breaks included (domain/text.py), as the API's boundary checks its requests
    (api/boundary.py); the form is read strictly first (api/web/forms.py: not too large,
    readable, UTF-8). A refusal names the field, never the value."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_incoming(value, f"path parameter {name}", single_line=True)
    for name, value in request.query_params.multi_items():
        check_incoming(name, "a query parameter's name", single_line=True)
        check_incoming(value, name, single_line=True)
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if request.method == "POST" and content_type in FORM_TYPES:
        for name, field in (await read_form(request)).multi_items():
            check_incoming(name, "a form field's name", single_line=True)
            if isinstance(field, str):
                check_incoming(field, name, single_line=name not in MULTILINE_FIELDS)


class WebRoute(APIRoute):
    """Checks every string of the request first (`check_incoming_request`), turns refusals
    into pages (never a traceback), adds security headers and keeps the language a
    `?lang=` asked for."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                await check_incoming_request(request)
                response = await handler(request)
            except SignInRequired:
                response = sign_in_redirect(request)
            except LedgerError as error:
                response = refusal(request, error.code, STATUS_BY_CODE.get(error.code, 409), error.detail)
            except ApiError as error:
                response = refusal(request, error.code, error.status, error.detail)
            except RequestValidationError as error:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in error.errors())
                response = refusal(request, "validation_error", 422, fields)
            except (OperationalError, psycopg.OperationalError, sqlite3.OperationalError) as error:
                log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                            type(error).__name__)
                response = refusal(request, "not_ready", 503, "")
            except Exception:
                log.exception("unexpected error on web page %s %s", request.method, request.url.path)
                response = refusal(request, "internal_error", 500, "")
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            asked = request.query_params.get("lang")
            if asked in LANGUAGES:
                response.set_cookie(LANGUAGE_COOKIE, asked, max_age=365 * 86400, path="/", samesite="strict",
                                    secure=request.url.scheme == "https")
            return response

        return page


def page_router(prefix: str = "/web") -> APIRouter:
    """A router of pages (`WebRoute`), none of them in the API's schema."""
    return APIRouter(prefix=prefix, include_in_schema=False, route_class=WebRoute)


# The clerks' pages: each group's module (sign_in, orgs, overdue, reports, transfers) adds
# its pages here; api/web/routes.py imports them all, then adds the last, for every other path.
routes = page_router()


# --- input helpers -------------------------------------------------------------------------

def parse_day(text: str | None, field: str) -> date | None:
    """A date field: YYYY-MM-DD in ASCII digits, or None when left empty."""
    text = (text or "").strip()
    return parse_iso_date(text, field) if text else None


_WHOLE_NUMBER = re.compile("[0-9]{1,9}", re.ASCII)


def parse_int(text: str | None, field: str, default: int) -> int:
    """A whole-number field in ASCII digits (`int()` also reads other scripts' digits,
    signs and underscores), or `default` when left empty."""
    text = (text or "").strip()
    if not text:
        return default
    if _WHOLE_NUMBER.fullmatch(text) is None:
        raise ValidationError(f"{field} must be a whole number")
    return int(text)


def done(path: str, position: int, **params: Any) -> Response:
    """After a command: the next page waits for the views to apply it."""
    query = urlencode({**{k: v for k, v in params.items() if v}, "min_position": position, "done": 1})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def seen(operator: Caller, request: Request) -> Caller:
    request.state.operator = operator
    return operator


def seen_once_applied(operator: Caller, request: Request, services: Services, min_position: int | None) -> None:
    """`seen`, then wait (if asked) until the views have applied `min_position`."""
    seen(operator, request)
    if min_position:
        services.wait_for(min_position)


def chosen_org(request: Request, services: Services, operator: Caller, org: str | None) -> str:
    """The organization a page is about: `org`, or the operator's own; within its subtree."""
    seen(operator, request)
    return list_scope(services, operator, org)


FormText = Annotated[str, Form(max_length=500)]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
SearchText = Annotated[str, Query(max_length=50)]


# --- paging ----------------------------------------------------------------------------------

class Paging(TypedDict):
    limit: int
    offset: int


def paging(page: int) -> Paging:
    """The `limit` and `offset` of a list's page `page` (PAGE_SIZE rows a page)."""
    return {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}


def page_count(count: int) -> int:
    """How many pages `count` rows fill (one at least)."""
    return max(1, -(-count // PAGE_SIZE))


def page_links(request: Request, param: str, page: int, count: int) -> dict[str, Any]:
    """A list's page `page` of `count` rows in all: its number, the number of pages and the
    links to the pages before and after (the other parameters kept)."""
    pages = page_count(count)
    params = {k: v for k, v in request.query_params.items() if k not in (param, "done", "min_position")}

    def link(to: int) -> str:
        return f"{request.url.path}?{urlencode({**params, param: to})}"

    return {"page": page, "pages": pages, "count": count, "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < pages else None}


# --- a member's history ----------------------------------------------------------------------

def timeline(request: Request, services: Services, events: list[dict[str, Any]], *codes: str) -> dict[str, str]:
    """A member's history as sentences in the page's language, by effective date, newest
    first (each event gets its `sentence`); returns the names of the organizations the events
    and `codes` name."""
    events.sort(key=lambda e: (e["on"], e["position"]), reverse=True)
    with services.queries() as queries:
        names = queries.organization_names(
            [*codes, *(e.get("actor_organization") for e in events),
             *(e["data"].get(f) for e in events for f in ("from_organization_code", "to_organization_code",
                                                          "organization_code", "issuing_organization_code",
                                                          "home_organization_code", "host_organization_code"))])
    lang = language(request)

    def org_name(code: str | None) -> str:
        return names.get(code or "", code or "—")

    for event in events:
        event["sentence"] = describe(event, lang, org_name)
    return names

