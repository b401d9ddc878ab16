"""The web pages: sign-in, the organization tree, rosters, the inbox and outbox of
transfers with their forms, the overdue ledger, member pages and the monthly report.

Every page reuses the API's own checks: the bearer-token check (api/deps.py), the role
check `Operator.require`, the jurisdiction checks of api/routes, the Ledger's scope checks
(LedgerError) and the Queries' subtree filters. A refusal is a page in the clerk's
language with the status the API would give; a form that changed something redirects to
a page that waits (like `min_position`) until the views show the change.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import psycopg
from eventsourcing.persistence import OperationalError
from fastapi import APIRouter, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from api.deps import Operator, ServicesDep
from api.errors import STATUS_BY_CODE, ApiError
from api.routes.common import MinPosition, check_within, rights
from api.routes.members import MEMBER_ROLES, check_member_visible, member_public
from api.routes.members import visible_history as member_history
from api.routes.reports import monthly_figures
from api.routes.transfers import TRANSFER_ROLES, check_visible
from api.services import Services
from api.web import charts
from api.web.i18n import LANGUAGES, WORDS, describe, error_text, translate
from api.web.letter import age_on, letter_facts, render_letter
from api.web.session import (
    LANGUAGE_COOKIE,
    MEMBER_SESSION_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SignInRequired,
    WebOperator,
    check_csrf,
    clear_cookie,
    csrf_token,
    is_member_page,
    language,
    new_sign_in_nonce,
    operator_for,
    set_cookie,
)
from domain.errors import LedgerError, ValidationError
from domain.identifiers import parse_iso_date, validate_code, validate_month, validate_registration_no
from domain.text import check_incoming
from domain.transfer import BASES, EVIDENCE_KINDS, REASONS
from projections.queries.overdue_kinds import OVERDUE_KINDS

log = logging.getLogger("api.web")

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
PAGE_SIZE = 50
MEMBER_HOLDING = ("branch", "service_center")
REPORT_FIGURES = (
    "opening", "admitted", "imported", "transferred_in_internal", "transferred_in_external",
    "transferred_in_whole_org", "transferred_in", "transferred_out_internal", "transferred_out_external",
    "transferred_out_whole_org", "transferred_out", "deceased", "left", "closing", "held", "in_transit",
    "overdue_letters", "certificates_out", "mobile_out", "hosted", "probationary", "full",
    "letters_issued", "letters_received", "letters_cancelled", "letters_rejected", "received_on_time",
    "received_late", "timely_rate", "receipts_returned", "receipt_days_average", "certificates_issued",
    "certificates_returned", "certificates_out_opening", "temporary_out", "certificates_closed",
    "certificate_return_rate", "open_cases", "cases_opened", "cases_closed", "cases_placed", "bounced_members",
)
# The timely rate's breakdowns shown under the figures (seed 001): group, then its keys.
TIMELY_BREAKDOWNS = ("timely_by_side", "timely_by_category", "timely_by_route")
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


def sign_in_redirect(request: Request) -> Response:
    if is_member_page(request.url.path):  # the member's own pages have their own sign-in
        response = RedirectResponse("/web/me/sign-in", status_code=303)
        clear_cookie(request, response, MEMBER_SESSION_COOKIE)
        return response
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/web/sign-in?next={quote(target)}", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MULTILINE_FIELDS = frozenset({"report_text"})  # a textarea's lines (a member's regular report)


async def check_incoming_request(request: Request) -> None:
    """Every string of a page's request (path parameters, query parameters, form fields)
    is one line of text: no lone surrogate, NUL or other control character, tab and line
    breaks included (domain/text.py), as the API's boundary checks its requests
    (api/boundary.py). A refusal names the field, never the value."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_incoming(value, f"path parameter {name}", single_line=True)
    for name, value in request.query_params.multi_items():
        check_incoming(name, "a query parameter's name", single_line=True)
        check_incoming(value, name, single_line=True)
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if request.method == "POST" and content_type in FORM_TYPES:
        for name, field in (await request.form()).multi_items():
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


routes = APIRouter(prefix="/web", include_in_schema=False, route_class=WebRoute)


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


def seen(operator: Operator, request: Request) -> Operator:
    request.state.operator = operator
    return operator


def chosen_org(request: Request, services: Services, operator: Operator, org: str | None) -> str:
    """The organization a page is about: `org`, or the operator's own; within its subtree."""
    seen(operator, request)
    code = org or operator.organization_code
    check_within(services, operator, code)
    return code


FormText = Annotated[str, Form(max_length=500)]


# --- sign-in ---------------------------------------------------------------------------------

def safe_next(target: str | None) -> str:
    target = target or ""
    return target if target.startswith("/web/") and not target.startswith("//") else "/web/"


@routes.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    nonce = new_sign_in_nonce()
    response = render(request, "sign_in.html", nonce=nonce, next=safe_next(next))
    set_cookie(request, response, SIGN_IN_COOKIE, nonce)
    return response


@routes.post("/sign-in")
def sign_in(request: Request, services: ServicesDep, token: FormText = "", nonce: FormText = "",
            next: FormText = "/web/") -> Response:
    kept = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not nonce or nonce != kept:
        return refusal(request, "csrf", 403, "")
    operator = operator_for(services, token.strip()) if token.strip() else None
    if operator is None:
        fresh = new_sign_in_nonce()
        response = render(request, "sign_in.html", status=401, nonce=fresh, next=safe_next(next),
                          error=error_text("unauthenticated", language(request)))
        set_cookie(request, response, SIGN_IN_COOKIE, fresh)
        return response
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token.strip(), max_age=12 * 3600)
    clear_cookie(request, response, SIGN_IN_COOKIE)
    log.info("web sign-in by operator %s", operator.id)
    return response


@routes.post("/sign-out")
def sign_out(request: Request, operator: WebOperator, csrf_token: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    response = RedirectResponse("/web/sign-in", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


# --- organizations ---------------------------------------------------------------------------

TREE_DEPTH = 2  # levels shown below the chosen organization (a province has 50,000 of them)


@routes.get("/")
def tree(request: Request, services: ServicesDep, operator: WebOperator,
         org: str | None = None, min_position: MinPosition = None) -> Response:
    code = chosen_org(request, services, operator, org)
    with services.queries(min_position) as queries:
        nodes = queries.organization_tree(code, services.ledger.today(), depth=TREE_DEPTH)
    up = nodes[0]["parent_code"] if code != operator.organization_code else None
    return render(request, "tree.html", operator=operator, nodes=nodes, org=code, up=up,
                  deeper=any(n["depth"] == TREE_DEPTH for n in nodes))


@routes.get("/orgs/{code}/roster")
def roster(request: Request, code: str, services: ServicesDep, operator: WebOperator,
           q: Annotated[str, Query(max_length=50)] = "", as_of: str = "", subtree: str = "1",
           page: Annotated[int, Query(ge=1, le=1_000_000)] = 1, min_position: MinPosition = None) -> Response:
    seen(operator, request)
    check_within(services, operator, code)
    day = parse_day(as_of, "as_of")
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        rows, count = queries.roster(code, as_of=day, subtree=subtree == "1", include_in_transit=True,
                                     limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, search=q.strip() or None)
        names = queries.organization_names(r["organization_code"] for r in rows)
    services.record_access(operator, "roster_page", scope=code)
    pages = max(1, -(-count // PAGE_SIZE))
    base = {"q": q, "as_of": as_of, "subtree": subtree}
    return render(request, "roster.html", operator=operator, organization=organization, rows=rows, count=count,
                  names=names,
                  page=page, pages=pages, q=q, as_of=as_of, subtree=subtree,
                  prev_url=f"?{urlencode({**base, 'page': page - 1})}" if page > 1 else None,
                  next_url=f"?{urlencode({**base, 'page': page + 1})}" if page < pages else None)


YELLOW_KINDS = ("due_soon", "receipt_missing")
OVERDUE_BANDS = {**{k: "red" for k in OVERDUE_KINDS}, **{k: "yellow" for k in YELLOW_KINDS}, "done": "green"}


def page_links(request: Request, param: str, page: int, count: int) -> dict[str, Any]:
    """A list's page `page` of `count` rows in all: its number, the number of pages and the
    links to the pages before and after (the other parameters kept)."""
    pages = max(1, -(-count // PAGE_SIZE))
    params = {k: v for k, v in request.query_params.items() if k not in (param, "done", "min_position")}

    def link(to: int) -> str:
        return f"{request.url.path}?{urlencode({**params, param: to})}"

    return {"page": page, "pages": pages, "count": count, "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < pages else None}


PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]


def overdue_bands(queries: Any, code: str, today: date, kind: str, page: int, limit: int) -> dict[str, Any]:
    """The overdue ledger's bands: each a page of rows and the number of rows in all.
    Red: past due (the overdue list). Yellow: letters due within 7 days, receipts not yet
    returned (and not yet overdue). Green: transfers received or whose receipt came back
    this month. `kind` narrows to one kind (and its band); '' gives every band's first page."""
    offset = (page - 1) * limit
    bands: dict[str, Any] = {}
    wanted = OVERDUE_BANDS.get(kind)
    if wanted in (None, "red"):
        rows, count = queries.overdue(code, today, kind=kind or None, limit=limit, offset=offset)
        bands["red"] = (rows, count)
    if wanted in (None, "yellow"):
        yellow, total = [], 0
        if kind in ("", "due_soon"):
            rows, count = queries.transfers(code, status="issued", valid_until_from=today,
                                            valid_until_to=today + timedelta(days=7), limit=limit, offset=offset)
            yellow += [{**t, "kind": "due_soon", "due_on": t["valid_until"]} for t in rows]
            total += count
        if kind in ("", "receipt_missing"):
            rows, count = queries.transfers(code, status="received", received_since=today - timedelta(days=30),
                                            limit=limit, offset=offset)
            yellow += [{**t, "kind": "receipt_missing",
                        "due_on": (date.fromisoformat(t["received_on"]) + timedelta(days=30)).isoformat()}
                       for t in rows]
            total += count
        yellow.sort(key=lambda r: r["due_on"])
        bands["yellow"] = (yellow, total)
    if wanted in (None, "green"):
        rows, count = queries.transfers(code, done_since=today.replace(day=1), limit=limit, offset=offset)
        bands["green"] = ([{**t, "kind": "done", "done_on": t["receipt_returned_on"] or t["received_on"]}
                           for t in rows], count)
    return bands


@routes.get("/orgs/{code}/overdue")
def overdue(request: Request, code: str, services: ServicesDep, operator: WebOperator, kind: str = "",
            page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """The overdue ledger in three colours, each band with its true number of rows; a kind
    chosen shows its band alone, a page at a time."""
    seen(operator, request)
    check_within(services, operator, code)
    if kind and kind not in OVERDUE_BANDS:
        raise ValidationError(f"kind must be one of {', '.join(OVERDUE_BANDS)}")
    today = services.ledger.today()
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        bands = overdue_bands(queries, code, today, kind, page, PAGE_SIZE)
        rows = [r for band in bands.values() for r in band[0]]
        names = queries.organization_names(
            [r.get(c) for r in rows for c in ("organization_code", "responsible_organization_code",
                                              "from_organization_code", "to_organization_code",
                                              "received_in_code")])
        people = queries.member_names(r["registration_no"] for r in rows)
    biggest = max(count for _, count in bands.values())
    return render(request, "overdue.html", operator=operator, organization=organization, bands=bands,
                  kind=kind, kinds=list(OVERDUE_BANDS), today=today, names=names, people=people,
                  pager=page_links(request, "page", page, biggest) if kind else None)


@routes.get("/orgs/{code}/overdue/file")
def overdue_file(request: Request, code: str, services: ServicesDep, operator: WebOperator, kind: str = "",
                 format: str = "csv") -> Response:
    """The overdue list (the red band, every row) as CSV or Excel, in the page's language."""
    seen(operator, request)
    check_within(services, operator, code)
    if kind and kind not in OVERDUE_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(OVERDUE_KINDS)}")
    today = services.ledger.today()
    with services.queries() as queries:
        rows, _ = queries.overdue(code, today, kind=kind or None, limit=sys.maxsize)
        names = queries.organization_names(
            [r.get(c) for r in rows for c in ("organization_code", "responsible_organization_code")])
    lang = language(request)
    rows = [{**r, "kind": translate(f"okind_{r['kind']}", lang) if lang == "zh" else r["kind"],
             "organization_name": names.get(r["organization_code"] or "", ""),
             "responsible_organization_name": names.get(r["responsible_organization_code"] or "", "")}
            for r in rows]
    columns = ["kind", "name", "registration_no", "organization_name", "organization_code", "reference",
               "due_on", "days_overdue", "responsible_organization_name", "responsible_organization_code"]
    headings = [translate(LIST_HEADINGS[c], "zh") for c in columns]
    return list_file(request, format, f"overdue-{code}-{today.isoformat()}", translate("overdue_title", lang),
                     columns, headings, rows, today)


LIST_HEADINGS = {
    "kind": "kind", "name": "member_name", "registration_no": "registration_no",
    "organization_name": "organization", "organization_code": "code", "reference": "reference",
    "due_on": "due_on", "days_overdue": "days_overdue", "responsible_organization_name": "responsible",
    "responsible_organization_code": "responsible_code", "status": "status", "since": "since", "place": "place",
    "letter_no": "letter_no", "from_organization_name": "from_org", "from_organization_code": "from_code",
    "to_organization_name": "to_org", "to_organization_code": "to_code", "requested_on": "requested_on",
    "issued_on": "issued_on", "valid_until": "valid_until", "received_on": "received_on",
    "receipt_returned_on": "receipt_returned_on", "reason": "reason",
}


def list_file(request: Request, format: str, name: str, title: str, columns: list[str], headings: list[str],
              rows: list[dict[str, Any]], day: date) -> Response:
    """A list as a CSV or Excel download (Chinese headings unless the page is English)."""
    from api import reportfiles

    lang = language(request)
    if format == "csv":
        body, media = reportfiles.list_csv(columns, headings, rows, lang), "text/csv; charset=utf-8"
    elif format == "xlsx":
        body = reportfiles.list_xlsx(title, columns, headings, rows, day, lang)
        media = reportfiles.XLSX_MEDIA_TYPE
    else:
        raise ValidationError("format must be csv or xlsx")
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename=\"{quote(name)}.{format}\""})


@routes.get("/orgs/{code}/roster/file")
def roster_file(request: Request, code: str, services: ServicesDep, operator: WebOperator,
                q: Annotated[str, Query(max_length=50)] = "", as_of: str = "", subtree: str = "1",
                format: str = "csv") -> Response:
    """The whole roster (every page) as CSV or Excel, with the page's search and date."""
    seen(operator, request)
    check_within(services, operator, code)
    day = parse_day(as_of, "as_of")
    with services.queries() as queries:
        rows, _ = queries.roster(code, as_of=day, subtree=subtree == "1", include_in_transit=True,
                                 limit=sys.maxsize, offset=0, search=q.strip() or None)
        names = queries.organization_names(r["organization_code"] for r in rows)
    services.record_access(operator, "roster_file", scope=code)
    lang = language(request)
    rows = [{**r, "organization_name": names.get(r["organization_code"], ""),
             "status": translate(f"status_{r['status']}", lang), "place": translate(f"place_{r['place']}", lang)}
            for r in rows]
    columns = ["name", "registration_no", "status", "organization_name", "organization_code", "place", "since"]
    headings = [translate(LIST_HEADINGS[c], "zh") for c in columns]
    when = day or services.ledger.today()
    return list_file(request, format, f"roster-{code}-{when.isoformat()}", translate("roster_title", lang),
                     columns, headings, rows, when)


@routes.get("/transfers/file")
def transfers_file(request: Request, services: ServicesDep, operator: WebOperator, org: str | None = None,
                   direction: str = "in", q: Annotated[str, Query(max_length=50)] = "",
                   format: str = "csv") -> Response:
    """The inbox's or outbox's transfers (every one, with the page's search) as CSV or Excel."""
    code = chosen_org(request, services, operator, org)
    if direction not in ("in", "out"):
        raise ValidationError("direction must be in or out")
    with services.queries() as queries:
        rows, _ = queries.transfers(code, direction=direction, limit=sys.maxsize, search=q.strip() or None)
        names, people = transfer_names(queries, rows)
    services.record_access(operator, "transfers_file", scope=code)
    lang = language(request)
    rows = [{**r, "name": people.get(r["registration_no"], ""),
             "from_organization_name": names.get(r["from_organization_code"], ""),
             "to_organization_code": r["received_in_code"] or r["to_organization_code"],
             "to_organization_name": names.get(r["received_in_code"] or r["to_organization_code"], ""),
             "status": translate(f"tstatus_{r['status']}", lang), "reason": translate(f"reason_{r['reason']}", lang)}
            for r in rows]
    columns = ["letter_no", "name", "registration_no", "from_organization_name", "from_organization_code",
               "to_organization_name", "to_organization_code", "status", "reason", "requested_on", "issued_on",
               "valid_until", "received_on", "receipt_returned_on"]
    headings = [translate(LIST_HEADINGS[c], "zh") for c in columns]
    today = services.ledger.today()
    title = translate("nav_inbox" if direction == "in" else "nav_outbox", lang)
    return list_file(request, format, f"transfers-{direction}-{code}-{today.isoformat()}", title, columns,
                     headings, rows, today)


def report_month(services: Services, month: str | None) -> str:
    month = (month or "").strip() or services.ledger.today().strftime("%Y-%m")
    validate_month(month)
    return month


def months_ending(month: str, count: int = 12) -> list[str]:
    year, mon = int(month[:4]), int(month[5:7])
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year, mon - 1) if mon > 1 else (year - 1, 12)
    return months[::-1]


@routes.get("/orgs/{code}/report")
def report(request: Request, code: str, services: ServicesDep, operator: WebOperator,
           month: str = "", min_position: MinPosition = None) -> Response:
    seen(operator, request)
    check_within(services, operator, code)
    month = report_month(services, month)
    today = services.ledger.today()
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        figures = monthly_figures(queries, code, month, today)
        first = str(organization["registered_on"])[:7]
        series = [queries.monthly_report(code, m) for m in months_ending(month) if m >= first]
    chart = charts.monthly_chart(series)
    can_file = operator.role == "admin" and figures["month_over"] and not figures.get("filed")
    return render(request, "report.html", operator=operator, organization=organization, report=figures,
                  month=month, figures=REPORT_FIGURES, chart=chart, today=today, can_file=can_file,
                  breakdowns=TIMELY_BREAKDOWNS)


@routes.post("/orgs/{code}/report/filing")
def file_report_month(request: Request, code: str, services: ServicesDep, operator: WebOperator,
                      csrf_token: FormText = "", month: FormText = "") -> Response:
    """Filing (报送) a month from the report page: an admin's act, the API's POST
    /v1/reports/monthly/file; the Ledger refuses a month not over or already filed."""
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require("admin")
    check_within(services, operator, code)
    validate_month(month.strip())
    recorded = services.ledger.file_month(code, month.strip(), actor=operator.actor, request_id=operator.request_id)
    return done(f"/web/orgs/{code}/report", recorded.position, month=month.strip())


@routes.get("/orgs/{code}/report/file")
def report_file(request: Request, code: str, services: ServicesDep, operator: WebOperator,
                month: str = "", format: str = "csv") -> Response:
    seen(operator, request)
    check_within(services, operator, code)
    month = report_month(services, month)
    if format not in ("csv", "xlsx"):
        raise ValidationError("format must be csv or xlsx")
    try:
        from api import reportfiles
    except ImportError:
        raise ApiError("report_files_unavailable", "report files are not available", 503) from None
    with services.queries() as queries:
        figures = monthly_figures(queries, code, month, services.ledger.today())
    lang = language(request)
    if format == "csv":
        body, media = reportfiles.monthly_csv(figures, lang=lang), "text/csv; charset=utf-8"
    else:
        body = reportfiles.monthly_xlsx(figures, lang=lang)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"monthly-{code}-{month}.{format}"
    return Response(body, media_type=media, headers={"Content-Disposition": f"attachment; filename=\"{quote(name)}\""})


# --- transfers ---------------------------------------------------------------------------------

def receiving_choices(services: Services, operator: Operator, to_code: str) -> list[dict[str, Any]]:
    """Member-holding organizations in the letter's target subtree that the operator acts for."""
    with services.queries() as queries:
        nodes = queries.subtree(to_code)
        if not rights(services, operator).holds(to_code):
            mine = {n["code"] for n in queries.subtree(operator.organization_code)}
            nodes = [n for n in nodes if n["code"] in mine]
    return [n for n in nodes if n["kind"] in MEMBER_HOLDING and n["status"] == "active"]


class Sides:
    """Whether the operator acts for an organization's side of a transfer, as the Ledger
    decides (the side's committee or above); remembered for one page."""

    def __init__(self, services: Services, operator: Operator) -> None:
        self.services, self.operator = services, operator
        self.known: dict[str, bool] = {}

    def __call__(self, code: str) -> bool:
        if self.operator.role not in TRANSFER_ROLES:
            return False
        if code not in self.known:
            committee = self.services.ledger.committee_of(code)
            self.known[code] = rights(self.services, self.operator).holds(committee)
        return self.known[code]


SearchText = Annotated[str, Query(max_length=50)]


def transfer_names(queries: Any, rows: list[dict[str, Any]], extra: list[str] | None = None,
                   ) -> tuple[dict[str, str], dict[str, str]]:
    """The names of the organizations and members of transfer rows."""
    names = queries.organization_names(
        [r.get(c) for r in rows for c in ("from_organization_code", "to_organization_code", "received_in_code")]
        + (extra or []))
    return names, queries.member_names(r["registration_no"] for r in rows)


@routes.get("/inbox")
def inbox(request: Request, services: ServicesDep, operator: WebOperator, org: str | None = None,
          q: SearchText = "", waiting_page: PageNumber = 1, receipts_page: PageNumber = 1,
          recent_page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """Letters addressed to the subtree: to receive (or reject), receipts to return, and all
    of them; searched by name, registration number or letter number, a page at a time."""
    code = chosen_org(request, services, operator, org)
    search = q.strip() or None
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        waiting, waiting_count = queries.transfers(code, status="issued", direction="in", limit=PAGE_SIZE,
                                                   offset=(waiting_page - 1) * PAGE_SIZE, search=search)
        receipts, receipts_count = queries.transfers(code, status="received", direction="in", limit=PAGE_SIZE,
                                                     offset=(receipts_page - 1) * PAGE_SIZE, search=search)
        recent, count = queries.transfers(code, direction="in", limit=PAGE_SIZE,
                                          offset=(recent_page - 1) * PAGE_SIZE, search=search)
    acts, targets = Sides(services, operator), {t["to_organization_code"] for t in waiting}
    by_target = {code: receiving_choices(services, operator, code) for code in targets if acts(code)}
    choices = {t["transfer_id"]: by_target.get(t["to_organization_code"], []) for t in waiting}
    returnable = {t["transfer_id"] for t in receipts if acts(t["to_organization_code"])}
    with services.queries() as queries:
        names, people = transfer_names(queries, waiting + receipts + recent)
    return render(request, "inbox.html", operator=operator, organization=organization, waiting=waiting,
                  receipts=receipts, recent=recent, count=count, choices=choices, returnable=returnable,
                  today=services.ledger.today().isoformat(), names=names, people=people, q=q, org_code=code,
                  pages={"waiting": page_links(request, "waiting_page", waiting_page, waiting_count),
                         "receipts": page_links(request, "receipts_page", receipts_page, receipts_count),
                         "recent": page_links(request, "recent_page", recent_page, count)})


@routes.get("/outbox")
def outbox(request: Request, services: ServicesDep, operator: WebOperator, org: str | None = None,
           q: SearchText = "", requested_page: PageNumber = 1, issued_page: PageNumber = 1,
           recent_page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """Requests to issue (or decline), letters out to extend or cancel, and all of them;
    searched and paged like the inbox."""
    code = chosen_org(request, services, operator, org)
    search = q.strip() or None
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        requested, requested_count = queries.transfers(code, status="requested", direction="out", limit=PAGE_SIZE,
                                                       offset=(requested_page - 1) * PAGE_SIZE, search=search)
        issued, issued_count = queries.transfers(code, status="issued", direction="out", limit=PAGE_SIZE,
                                                 offset=(issued_page - 1) * PAGE_SIZE, search=search)
        recent, count = queries.transfers(code, direction="out", limit=PAGE_SIZE,
                                          offset=(recent_page - 1) * PAGE_SIZE, search=search)
        names, people = transfer_names(queries, requested + issued + recent)
    acts = Sides(services, operator)
    issuable = {t["transfer_id"] for t in requested if acts(t["from_organization_code"])}
    return render(request, "outbox.html", operator=operator, organization=organization, requested=requested,
                  issued=issued, recent=recent, count=count, issuable=issuable, names=names, people=people,
                  q=q, org_code=code,
                  pages={"requested": page_links(request, "requested_page", requested_page, requested_count),
                         "issued": page_links(request, "issued_page", issued_page, issued_count),
                         "recent": page_links(request, "recent_page", recent_page, count)})


BULK_ACTIONS = ("issue", "receive", "return-receipt")
BULK_LIMIT = 200


@routes.post("/transfers/bulk")
def bulk_action(request: Request, services: ServicesDep, operator: WebOperator, csrf_token: FormText = "",
                action: FormText = "", transfer_id: Annotated[list[str] | None, Form()] = None,
                valid_days: FormText = "", back: FormText = "") -> Response:
    """Issue, receive or return the receipt of many letters at once: each one judged alone
    by the Ledger's own command, as if sent by its own form. The page names the letters
    done and those refused, with the reason in words; a refused one records nothing, and
    one outside the operator's subtree is named only by what the operator sent."""
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*TRANSFER_ROLES)
    if action not in BULK_ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(BULK_ACTIONS)}")
    chosen = list(dict.fromkeys(transfer_id or []))
    if not chosen:
        raise ValidationError("transfer_id: choose at least one letter")
    if len(chosen) > BULK_LIMIT:
        raise ValidationError(f"transfer_id: at most {BULK_LIMIT} letters at once")
    if any(len(tid) > 64 for tid in chosen):
        raise ValidationError("transfer_id: a transfer id has at most 64 characters")
    days = parse_int(valid_days, "valid_days", 30)
    lang, ledger, acts = language(request), services.ledger, Sides(services, operator)
    done_rows: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    position = 0
    for tid in chosen:
        shown: dict[str, Any] = {"transfer_id": tid, "letter_no": None, "registration_no": None}
        try:
            check_visible(services, operator, tid)
            transfer = ledger.transfer(tid)
            shown = {"transfer_id": tid, "letter_no": transfer.letter_no, "registration_no": transfer.registration_no}
            common: dict[str, Any] = {"actor": operator.actor, "request_id": operator.request_id}
            if action == "issue":
                recorded = ledger.issue_letter(tid, days, **common)
            elif action == "receive":
                recorded = ledger.receive_member(tid, bulk_receiving(services, operator, acts, transfer), None,
                                                 **common)
            else:
                recorded = ledger.return_receipt(tid, **common)
            position = max(position, recorded.position or 0)
            done_rows.append({**shown, "letter_no": recorded.letter_no or shown["letter_no"]})
        except LedgerError as error:
            refused.append({**shown, "code": error.code, "message": error_text(error.code, lang),
                            "detail": error.detail if shown["registration_no"] else ""})
    if position:
        services.wait_for(position)
    with services.queries() as queries:
        people = queries.member_names(r["registration_no"] for r in done_rows + refused)
    target = back if back in ("/web/inbox", "/web/outbox") else "/web/inbox"
    status = 200 if done_rows or not refused else STATUS_BY_CODE.get(refused[0]["code"], 409)
    return render(request, "bulk.html", status=status, operator=operator, action=action, done_rows=done_rows,
                  refused=refused, people=people,
                  back=f"{target}?{urlencode({'min_position': position})}" if position else target)


def bulk_receiving(services: Services, operator: Operator, acts: Sides, transfer: Any) -> str:
    """Where a letter received with others goes: the organization it is addressed to when
    that holds members, else the one member-holding organization below it; with several to
    choose from, the letter's own page asks which."""
    target = transfer.to_organization_code
    choices = receiving_choices(services, operator, target) if acts(target) else []
    codes = [c["code"] for c in choices]
    if target in codes:
        return str(target)
    if len(codes) == 1:
        return codes[0]
    if not acts(target):
        return str(target)  # the Ledger refuses it, in its own words
    raise ValidationError("the letter is addressed to an organization with several branches: "
                          "choose the branch on the letter's own page")


@routes.get("/transfers/{transfer_id}")
def transfer_page(request: Request, transfer_id: str, services: ServicesDep, operator: WebOperator,
                  min_position: MinPosition = None) -> Response:
    seen(operator, request)
    if min_position:
        services.wait_for(min_position)
    check_visible(services, operator, transfer_id)
    transfer = services.ledger.transfer(transfer_id).summary()
    acts = Sides(services, operator)
    sending, receiving = acts(transfer["from_organization_code"]), acts(transfer["to_organization_code"])
    choices = receiving_choices(services, operator, transfer["to_organization_code"]) \
        if receiving and transfer["status"] == "issued" else []
    with services.queries() as queries:
        names = queries.organization_names(
            [transfer["from_organization_code"], transfer["to_organization_code"], transfer["received_in_code"]])
        people = queries.member_names([transfer["registration_no"]])
    return render(request, "transfer.html", operator=operator, transfer=transfer, sending=sending,
                  receiving=receiving, choices=choices, names=names, people=people)


@routes.get("/transfers/{transfer_id}/letter")
def letter_page(request: Request, transfer_id: str, services: ServicesDep, operator: WebOperator) -> Response:
    """The printable letter with its stub and receipt (api/web/letter.py), for either side."""
    seen(operator, request)
    check_visible(services, operator, transfer_id)
    facts = letter_facts(services, transfer_id)
    services.record_access(operator, "letter", registration_no=facts["registration_no"])
    page = render_letter(facts, stylesheet_url="/web/static/letter.css", print_script="/web/static/app.js",
                         back_url=f"/web/transfers/{transfer_id}")
    return Response(page, media_type="text/html; charset=utf-8")


@routes.post("/transfers")
def request_transfer(request: Request, services: ServicesDep, operator: WebOperator, csrf_token: FormText = "",
                     registration_no: FormText = "", to_organization_code: FormText = "", reason: FormText = "",
                     basis: FormText = "", evidence_kind: FormText = "", evidence_reference: FormText = "",
                     performance_record: FormText = "", probation_override_reason: FormText = "",
                     on: FormText = "") -> Response:
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*TRANSFER_ROLES)
    evidence = ({"kind": evidence_kind, "reference": evidence_reference.strip()}
                if evidence_kind or evidence_reference.strip() else None)
    recorded = services.ledger.request_transfer(
        validate_registration_no(registration_no.strip()),
        validate_code(to_organization_code.strip(), "to_organization_code"), reason=reason, basis=basis,
        evidence=evidence,
        performance_record=performance_record.strip() or None,
        probation_override_reason=probation_override_reason.strip() or None,
        actor=operator.actor, on=parse_day(on, "on"), request_id=operator.request_id,
    )
    return done(f"/web/transfers/{recorded.transfer_id}", recorded.position)


@routes.post("/transfers/{transfer_id}/{action}")
def transfer_action(request: Request, transfer_id: str, action: str, services: ServicesDep,
                    operator: WebOperator, csrf_token: FormText = "", reason: FormText = "",
                    valid_days: FormText = "", valid_until: FormText = "", organization_code: FormText = "",
                    late_certificate: FormText = "", presented_by: FormText = "member", agent_name: FormText = "",
                    on: FormText = "", back: FormText = "") -> Response:
    """Issue, decline, extend, cancel, receive, reject or return the receipt: the Ledger's
    commands, with the API's role check; the Ledger checks the side and the subtree."""
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*TRANSFER_ROLES)
    ledger, day = services.ledger, parse_day(on, "on")
    common: dict[str, Any] = {"actor": operator.actor, "on": day, "request_id": operator.request_id}
    if action == "issue":
        recorded = ledger.issue_letter(transfer_id, parse_int(valid_days, "valid_days", 30), **common)
    elif action == "decline":
        recorded = ledger.decline_transfer(transfer_id, reason, **common)
    elif action == "extend":
        until = parse_day(valid_until, "valid_until")
        if until is None:
            raise ValidationError("valid_until is required")
        recorded = ledger.extend_letter(transfer_id, until, **common)
    elif action == "cancel":
        recorded = ledger.cancel_transfer(transfer_id, reason, **common)
    elif action == "receive":
        recorded = ledger.receive_member(transfer_id, validate_code(organization_code.strip(), "organization_code"),
                                         late_certificate.strip() or None, presented_by=presented_by,
                                         agent_name=agent_name.strip() or None, **common)
    elif action == "reject":
        recorded = ledger.reject_transfer(transfer_id, reason, **common)
    elif action == "return-receipt":
        recorded = ledger.return_receipt(transfer_id, **common)
    else:
        raise ApiError("not_found", f"no action {action!r} on a transfer", 404)
    target = back if back in ("/web/inbox", "/web/outbox") else f"/web/transfers/{transfer_id}"
    return done(target, recorded.position)


# --- members -------------------------------------------------------------------------------------

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


@routes.get("/members/{registration_no}")
def member_page(request: Request, registration_no: str, services: ServicesDep, operator: WebOperator,
                min_position: MinPosition = None) -> Response:
    seen(operator, request)
    if min_position:
        services.wait_for(min_position)
    check_member_visible(services, operator, registration_no)
    member = member_public(services, registration_no)
    events = member_history(registration_no, services, operator, 1000, 0, None)["data"]
    place = member["place"]
    can_request = (operator.role in MEMBER_ROLES and place["kind"] == "held"
                   and rights(services, operator).holds(place["organization_code"]))
    names = timeline(request, services, events, place["organization_code"])
    record = services.ledger.member(registration_no)
    dues = [{"month": e["data"]["month"], "amount": e["data"]["amount"], "on": e["on"]}
            for e in events if e["type"] == "Member.DuesPaid"]
    today = services.ledger.today()
    details = {"birth_date": record.birth_date, "age": age_on(record.birth_date, today),
               "workplace": record.workplace, "residence": record.residence}
    services.record_access(operator, "member_page", registration_no=member["registration_no"])
    return render(request, "member.html", operator=operator, member=member, events=events, details=details,
                  dues=dues, names=names, can_request=can_request, reasons=REASONS, bases=BASES,
                  evidence_kinds=EVIDENCE_KINDS)


@routes.get("/orgs/{code}/hosted")
def hosted(request: Request, code: str, services: ServicesDep, operator: WebOperator,
           page: Annotated[int, Query(ge=1, le=1_000_000)] = 1, min_position: MinPosition = None) -> Response:
    """The members the subtree hosts (seed 004): open certificates whose host lies in it, with
    their home; the host's clerks record their org life and dues."""
    seen(operator, request)
    check_within(services, operator, code)
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        rows, count = queries.certificates(code, status="open", side="host", limit=PAGE_SIZE,
                                           offset=(page - 1) * PAGE_SIZE)
        names = queries.organization_names(
            [c for r in rows for c in (r["home_organization_code"], r["host_organization_code"])])
    return render(request, "hosted.html", operator=operator, organization=organization, rows=rows, names=names,
                  pages=page_links(request, "page", page, count), count=count, today=services.ledger.today())


@routes.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    return refusal(request, "page_not_found", 404, "")


__all__ = ["WORDS", "csrf_token", "routes"]
