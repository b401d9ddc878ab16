"""The member's own pages (self-service, seed 002) under /web/me: sign in with the member's
token, my record (place, letter, certificates), my history, request a transfer, send a
regular report. Laid out for a phone first.

The session is the member's own: its token in a cookie of its own (`ledger_member_session`),
apart from the clerks' (`ledger_session`), so a member's sign-in opens no clerk's page and a
clerk's none of these. Every page asks the Ledger exactly as /v1/me does (api/routes/me.py),
and the words come from the one vocabulary (api/web/i18n.py).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import uuid4

from fastapi import Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from api.deps import Me, ServicesDep
from api.presenters import me_public
from api.routes.common import MinPosition
from api.services import member_history
from api.web.base import FormText, done, page_router, parse_day, render, timeline
from api.web.once import sent_once
from api.web.session import (
    MEMBER_SESSION_COOKIE,
    SignInRequired,
    check_csrf,
    csrf_token,
)
from api.web.sign_in import sign_in_form, signed_in, signed_out
from domain.identifiers import validate_code
from domain.vocabulary import BASES, EVIDENCE_KINDS, REPORT_MAX_CHARS, TRANSFER_REASONS

MEMBER_SIGN_IN_COOKIE = "ledger_member_sign_in"
pages = page_router("/web/me")
ReportText = Annotated[str, Form(max_length=REPORT_MAX_CHARS)]
SIGN_IN_PAGE: dict[str, Any] = {"action": "/web/me/sign-in", "title": "me_sign_in", "token_word": "me_token"}


def web_member(request: Request, services: ServicesDep) -> Me:
    """The member signed in on these pages, by the token its session keeps."""
    token = request.cookies.get(MEMBER_SESSION_COOKIE)
    found = services.ledger.member_for_token(token) if token else None
    if found is None:
        raise SignInRequired  # WebRoute: to /web/me/sign-in
    request.state.csrf = csrf_token(services, token or "")
    return Me(found.registration_no, uuid4().hex)


WebMember = Annotated[Me, Depends(web_member)]


def page(request: Request, services: ServicesDep, me: Me, template: str, **context: Any) -> Response:
    """A member's page with the record; its certificates' hosts by name."""
    record = me_public(services, me.registration_no)
    with services.queries() as queries:
        hosts = queries.organization_names(c["host_organization_code"] for c in record["certificates"])
    return render(request, template, me=record, hosts=hosts, **context)


@pages.get("")
def to_record() -> Response:
    return RedirectResponse("/web/me/", status_code=307)


@pages.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    return sign_in_form(request, MEMBER_SIGN_IN_COOKIE, **SIGN_IN_PAGE)


@pages.post("/sign-in")
def sign_in(request: Request, services: ServicesDep, token: FormText = "", nonce: FormText = "") -> Response:
    def who(token: str) -> str | None:
        return "a member" if services.ledger.member_for_token(token) is not None else None  # no number or name

    return signed_in(request, nonce, token, (MEMBER_SIGN_IN_COOKIE, MEMBER_SESSION_COOKIE), who, "/web/me/",
                     **SIGN_IN_PAGE)


@pages.post("/sign-out")
def sign_out(request: Request, me: WebMember, csrf_token: FormText = "") -> Response:
    return signed_out(request, csrf_token, MEMBER_SESSION_COOKIE, "/web/me/sign-in")


@pages.get("/")
def record(request: Request, services: ServicesDep, me: WebMember, min_position: MinPosition = None) -> Response:
    answer = page(request, services, me, "me.html")
    services.record_access(me, "member", registration_no=me.registration_no)
    return answer


@pages.get("/history")
def history(request: Request, services: ServicesDep, me: WebMember) -> Response:
    with services.queries() as queries:
        events = member_history(services.ledger, queries, me.registration_no)["data"]
    names = timeline(request, services, events)
    answer = page(request, services, me, "me_history.html", events=events, names=names)
    services.record_access(me, "history", registration_no=me.registration_no)
    return answer


@pages.get("/transfer")
def transfer_form(request: Request, services: ServicesDep, me: WebMember, q: str = "", to: str = "") -> Response:
    """The request form; `q` looks up where to go by name (or code), `to` fills it in."""
    q, to = q.strip()[:100], to.strip()
    with services.queries() as queries:
        found = queries.targets_named(q) if q else []
        chosen = queries.organization_names([to]).get(to, "") if to else ""
    return page(request, services, me, "me_transfer.html", reasons=TRANSFER_REASONS, bases=BASES,
                evidence_kinds=EVIDENCE_KINDS, q=q, found=found, to=to if chosen else "", chosen=chosen)


@pages.post("/transfer")
def request_transfer(request: Request, services: ServicesDep, me: WebMember, csrf_token: FormText = "",
                     to_organization_code: FormText = "", reason: FormText = "", basis: FormText = "",
                     evidence_kind: FormText = "", evidence_reference: FormText = "",
                     performance_record: FormText = "", probation_override_reason: FormText = "",
                     on: FormText = "", once: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    evidence = ({"kind": evidence_kind, "reference": evidence_reference.strip()}
                if evidence_kind or evidence_reference.strip() else None)
    to_code, day = validate_code(to_organization_code.strip(), "to_organization_code"), parse_day(on, "on")
    fields = {"to_organization_code": to_code, "reason": reason, "basis": basis, "evidence": evidence,
              "performance_record": performance_record, "probation_override_reason": probation_override_reason,
              "on": on}

    def request_it() -> Response:
        recorded = services.ledger.request_own_transfer(
            me.registration_no, to_code, reason=reason, basis=basis, evidence=evidence,
            performance_record=performance_record.strip() or None,
            probation_override_reason=probation_override_reason.strip() or None, on=day, request_id=me.request_id,
        )
        return done("/web/me/", recorded.position)

    return sent_once(request, services, me.id, once, fields, request_it)


@pages.get("/report")
def report_form(request: Request, services: ServicesDep, me: WebMember) -> Response:
    ledger = services.ledger
    mobile = any(c.kind == "mobile" for c in ledger.open_certificates(me.registration_no))
    reports = list(reversed(ledger.member_reports(me.registration_no)))
    with services.queries() as queries:
        names = queries.organization_names([r.organization_code for r in reports])
    return page(request, services, me, "me_report.html", mobile=mobile, reports=reports, names=names,
                max_chars=REPORT_MAX_CHARS)


@pages.post("/report")
def send_report(request: Request, services: ServicesDep, me: WebMember, csrf_token: FormText = "",
                report_text: ReportText = "", once: FormText = "") -> Response:
    check_csrf(request, csrf_token)

    def send_it() -> Response:
        recorded = services.ledger.send_member_report(me.registration_no, report_text, request_id=me.request_id)
        return done("/web/me/report", recorded.position)

    return sent_once(request, services, me.id, once, {"report_text": report_text}, send_it)
