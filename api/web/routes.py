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
from api.routes.common import check_within, rights
from api.routes.members import MEMBER_ROLES, check_member_visible, member_public
from api.routes.members import history as member_history
from api.routes.transfers import TRANSFER_ROLES, check_visible
from api.services import Services
from api.web import charts
from api.web.i18n import LANGUAGES, WORDS, error_text, translate
from api.web.letter import letter_facts, render_letter
from api.web.session import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SignInRequired,
    WebOperator,
    check_csrf,
    clear_cookie,
    csrf_token,
    language,
    new_sign_in_nonce,
    operator_for,
    set_cookie,
)
from domain.errors import LedgerError, ValidationError
from domain.identifiers import parse_iso_date, validate_code, validate_month, validate_registration_no
from domain.text import check_incoming
from domain.transfer import BASES, EVIDENCE_KINDS, REASONS

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
    "certificates_returned",
)
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

    context.update(
        t=t, lang=lang, other_lang="en" if lang == "zh" else "zh", switch=switch,
        can_act=bool(operator and operator.role in TRANSFER_ROLES), home_code=operator.organization_code
        if operator else None,
    )
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def refusal(request: Request, code: str, status: int, detail: str) -> Response:
    lang = language(request)
    return render(request, "error.html", status=status, code=code, message=error_text(code, lang),
                  detail=detail, operator=getattr(request.state, "operator", None))


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/web/sign-in?next={quote(target)}", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


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
                check_incoming(field, name, single_line=True)


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


MinPosition = Annotated[int | None, Query(ge=0, le=2**53)]
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
    pages = max(1, -(-count // PAGE_SIZE))
    base = {"q": q, "as_of": as_of, "subtree": subtree}
    return render(request, "roster.html", operator=operator, organization=organization, rows=rows, count=count,
                  page=page, pages=pages, q=q, as_of=as_of, subtree=subtree,
                  prev_url=f"?{urlencode({**base, 'page': page - 1})}" if page > 1 else None,
                  next_url=f"?{urlencode({**base, 'page': page + 1})}" if page < pages else None)


@routes.get("/orgs/{code}/overdue")
def overdue(request: Request, code: str, services: ServicesDep, operator: WebOperator,
            min_position: MinPosition = None) -> Response:
    """Red: past due (the overdue list). Yellow: letters due within 7 days, receipts not
    yet returned. Green: transfers received or whose receipt came back this month."""
    seen(operator, request)
    check_within(services, operator, code)
    today = services.ledger.today()
    month_start = today.replace(day=1).isoformat()
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        red, _ = queries.overdue(code, today, limit=500)
        issued, _ = queries.transfers(code, status="issued", limit=1000)
        received, _ = queries.transfers(code, status="received", limit=1000)
        returned, _ = queries.transfers(code, status="receipt_returned", limit=1000)
    late = {(r["kind"], r["reference"]) for r in red}
    yellow = []
    for t in issued:
        if t["valid_until"] and today.isoformat() <= t["valid_until"] <= (today + timedelta(days=7)).isoformat():
            yellow.append({**t, "kind": "due_soon", "due_on": t["valid_until"]})
    for t in received:
        if ("unreturned_receipt", t["letter_no"]) not in late:
            due = (date.fromisoformat(t["received_on"]) + timedelta(days=30)).isoformat()
            yellow.append({**t, "kind": "receipt_missing", "due_on": due})
    green = [{**t, "kind": "done", "done_on": t["receipt_returned_on"] or t["received_on"]}
             for t in received + returned
             if (t["received_on"] or "") >= month_start or (t["receipt_returned_on"] or "") >= month_start]
    yellow.sort(key=lambda r: r["due_on"])
    green.sort(key=lambda r: r["done_on"], reverse=True)
    return render(request, "overdue.html", operator=operator, organization=organization, red=red,
                  yellow=yellow, green=green, today=today)


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
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        figures = queries.monthly_report(code, month)
        series = [queries.monthly_report(code, m) for m in months_ending(month)]
    chart = charts.monthly_chart(series)
    return render(request, "report.html", operator=operator, organization=organization, report=figures,
                  month=month, figures=REPORT_FIGURES, chart=chart)


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
        figures = queries.monthly_report(code, month)
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


@routes.get("/inbox")
def inbox(request: Request, services: ServicesDep, operator: WebOperator, org: str | None = None,
          min_position: MinPosition = None) -> Response:
    code = chosen_org(request, services, operator, org)
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        waiting, _ = queries.transfers(code, status="issued", direction="in", limit=200)
        receipts, _ = queries.transfers(code, status="received", direction="in", limit=200)
        recent, count = queries.transfers(code, direction="in", limit=50)
    acts, targets = Sides(services, operator), {t["to_organization_code"] for t in waiting}
    by_target = {code: receiving_choices(services, operator, code) for code in targets if acts(code)}
    choices = {t["transfer_id"]: by_target.get(t["to_organization_code"], []) for t in waiting}
    returnable = {t["transfer_id"] for t in receipts if acts(t["to_organization_code"])}
    return render(request, "inbox.html", operator=operator, organization=organization, waiting=waiting,
                  receipts=receipts, recent=recent, count=count, choices=choices, returnable=returnable,
                  today=services.ledger.today().isoformat())


@routes.get("/outbox")
def outbox(request: Request, services: ServicesDep, operator: WebOperator, org: str | None = None,
           min_position: MinPosition = None) -> Response:
    code = chosen_org(request, services, operator, org)
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        requested, _ = queries.transfers(code, status="requested", direction="out", limit=200)
        issued, _ = queries.transfers(code, status="issued", direction="out", limit=200)
        recent, count = queries.transfers(code, direction="out", limit=50)
    acts = Sides(services, operator)
    issuable = {t["transfer_id"] for t in requested if acts(t["from_organization_code"])}
    return render(request, "outbox.html", operator=operator, organization=organization, requested=requested,
                  issued=issued, recent=recent, count=count, issuable=issuable)


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
    return render(request, "transfer.html", operator=operator, transfer=transfer, sending=sending,
                  receiving=receiving, choices=choices)


@routes.get("/transfers/{transfer_id}/letter")
def letter_page(request: Request, transfer_id: str, services: ServicesDep, operator: WebOperator) -> Response:
    """The printable letter with its stub and receipt (api/web/letter.py), for either side."""
    seen(operator, request)
    check_visible(services, operator, transfer_id)
    facts = letter_facts(services, transfer_id)
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
                    late_certificate: FormText = "", on: FormText = "", back: FormText = "") -> Response:
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
                                         late_certificate.strip() or None, **common)
    elif action == "reject":
        recorded = ledger.reject_transfer(transfer_id, reason, **common)
    elif action == "return-receipt":
        recorded = ledger.return_receipt(transfer_id, **common)
    else:
        raise ApiError("not_found", f"no action {action!r} on a transfer", 404)
    target = back if back in ("/web/inbox", "/web/outbox") else f"/web/transfers/{transfer_id}"
    return done(target, recorded.position)


# --- members -------------------------------------------------------------------------------------

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
    events.sort(key=lambda e: (e["on"], e["position"]), reverse=True)  # by effective date, newest first
    return render(request, "member.html", operator=operator, member=member, events=events,
                  can_request=can_request, reasons=REASONS, bases=BASES, evidence_kinds=EVIDENCE_KINDS)


@routes.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    return refusal(request, "page_not_found", 404, "")


__all__ = ["WORDS", "csrf_token", "routes"]
