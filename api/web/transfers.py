"""Transfers on the clerks' pages: the inbox and the outbox (searched, a page at a time, or
whole as a file), many letters issued, received or returned at once, a transfer's page
with its forms, the printable letter, and the Ledger's commands on a transfer."""

from __future__ import annotations

import sys
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from starlette.responses import Response

from api.access import TRANSFER_ROLES, check_transfer_visible, rights
from api.deps import Caller, ServicesDep
from api.errors import STATUS_BY_CODE, ApiError
from api.routes.common import MinPosition
from api.services import Services
from api.web.base import (
    FormText,
    PageNumber,
    SearchText,
    chosen_org,
    done,
    page_links,
    paging,
    parse_day,
    parse_int,
    render,
    routes,
    seen,
    seen_once_applied,
)
from api.web.downloads import list_file
from api.web.i18n import error_text, translate
from api.web.letter import letter_facts, render_letter
from api.web.once import sent_once
from api.web.session import WebCaller, check_csrf, language
from domain.errors import LedgerError, ValidationError
from domain.identifiers import validate_code, validate_registration_no
from domain.vocabulary import DEFAULT_VALID_DAYS, HOLDING_KINDS
from projections.queries import Queries

BACK_PAGES = ("/web/inbox", "/web/outbox")  # where a form sent from a list goes back to


def receiving_choices(services: Services, operator: Caller, to_code: str) -> list[dict[str, Any]]:
    """Member-holding organizations in the letter's target subtree that the operator acts for."""
    with services.queries() as queries:
        nodes = queries.subtree(to_code)
        if not rights(services, operator).holds(to_code):
            mine = {n["code"] for n in queries.subtree(operator.organization_code)}
            nodes = [n for n in nodes if n["code"] in mine]
    return [n for n in nodes if n["kind"] in HOLDING_KINDS and n["status"] == "active"]


class Sides:
    """Whether the operator acts for an organization's side of a transfer, as the Ledger
    decides (the side's committee or above); remembered for one page."""

    def __init__(self, services: Services, operator: Caller) -> None:
        self.services, self.operator = services, operator
        self.known: dict[str, bool] = {}

    def __call__(self, code: str) -> bool:
        if self.operator.role not in TRANSFER_ROLES:
            return False
        if code not in self.known:
            committee = self.services.ledger.committee_of(code)
            self.known[code] = rights(self.services, self.operator).holds(committee)
        return self.known[code]


def transfer_names(queries: Queries, rows: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """The names of the organizations and members of transfer rows."""
    names = queries.organization_names(
        r.get(c) for r in rows for c in ("from_organization_code", "to_organization_code", "received_in_code"))
    return names, queries.member_names(r["registration_no"] for r in rows)


def box_lists(request: Request, queries: Queries, code: str, direction: str, q: str,
              lists: dict[str, tuple[str | None, int]]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """The lists of an inbox or outbox, searched by `q`: each by its name, with its status
    (None: every transfer) and the page asked for (the `NAME_page` parameter); returns their
    rows and their page links."""
    rows: dict[str, list[dict[str, Any]]] = {}
    pages: dict[str, Any] = {}
    for name, (status, page) in lists.items():
        rows[name], count = queries.transfers(code, status=status, direction=direction, search=q.strip() or None,
                                              **paging(page))
        pages[name] = page_links(request, f"{name}_page", page, count)
    return rows, pages


@routes.get("/inbox")
def inbox(request: Request, services: ServicesDep, operator: WebCaller, org: str | None = None,
          q: SearchText = "", waiting_page: PageNumber = 1, receipts_page: PageNumber = 1,
          recent_page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """Letters addressed to the subtree: to receive (or reject), receipts to return, and all
    of them; searched by name, registration number or letter number, a page at a time."""
    code = chosen_org(request, services, operator, org)
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        lists, pages = box_lists(request, queries, code, "in", q, {
            "waiting": ("issued", waiting_page), "receipts": ("received", receipts_page),
            "recent": (None, recent_page)})
    waiting, receipts, recent = lists["waiting"], lists["receipts"], lists["recent"]
    acts, targets = Sides(services, operator), {t["to_organization_code"] for t in waiting}
    by_target = {code: receiving_choices(services, operator, code) for code in targets if acts(code)}
    choices = {t["transfer_id"]: by_target.get(t["to_organization_code"], []) for t in waiting}
    returnable = {t["transfer_id"] for t in receipts if acts(t["to_organization_code"])}
    with services.queries() as queries:
        names, people = transfer_names(queries, waiting + receipts + recent)
    services.record_access(operator, "inbox_page", scope=code)
    return render(request, "inbox.html", operator=operator, organization=organization, waiting=waiting,
                  receipts=receipts, recent=recent, count=pages["recent"]["count"], choices=choices,
                  returnable=returnable, today=services.ledger.today().isoformat(), names=names, people=people,
                  q=q, org_code=code, pages=pages)


@routes.get("/outbox")
def outbox(request: Request, services: ServicesDep, operator: WebCaller, org: str | None = None,
           q: SearchText = "", requested_page: PageNumber = 1, issued_page: PageNumber = 1,
           recent_page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """Requests to issue (or decline), letters out to extend or cancel, and all of them;
    searched and paged like the inbox."""
    code = chosen_org(request, services, operator, org)
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        lists, pages = box_lists(request, queries, code, "out", q, {
            "requested": ("requested", requested_page), "issued": ("issued", issued_page),
            "recent": (None, recent_page)})
        names, people = transfer_names(queries, lists["requested"] + lists["issued"] + lists["recent"])
    acts = Sides(services, operator)
    issuable = {t["transfer_id"] for t in lists["requested"] if acts(t["from_organization_code"])}
    services.record_access(operator, "outbox_page", scope=code)
    return render(request, "outbox.html", operator=operator, organization=organization,
                  requested=lists["requested"], issued=lists["issued"], recent=lists["recent"],
                  count=pages["recent"]["count"], issuable=issuable, names=names, people=people, q=q,
                  org_code=code, pages=pages)


BULK_ACTIONS = ("issue", "receive", "return-receipt")
BULK_LIMIT = 200


@routes.post("/transfers/bulk")
def bulk_action(request: Request, services: ServicesDep, operator: WebCaller, csrf_token: FormText = "",
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
    days = parse_int(valid_days, "valid_days", DEFAULT_VALID_DAYS)
    lang, ledger, acts = language(request), services.ledger, Sides(services, operator)
    done_rows: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    position = 0
    for tid in chosen:
        shown: dict[str, Any] = {"transfer_id": tid, "letter_no": None, "registration_no": None}
        try:
            check_transfer_visible(services, operator, tid)
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
    target = back if back in BACK_PAGES else "/web/inbox"
    status = 200 if done_rows or not refused else STATUS_BY_CODE.get(refused[0]["code"], 409)
    return render(request, "bulk.html", status=status, operator=operator, action=action, done_rows=done_rows,
                  refused=refused, people=people,
                  back=f"{target}?{urlencode({'min_position': position})}" if position else target)


def bulk_receiving(services: Services, operator: Caller, acts: Sides, transfer: Any) -> str:
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


@routes.get("/transfers/file")
def transfers_file(request: Request, services: ServicesDep, operator: WebCaller, org: str | None = None,
                   direction: str = "in", q: SearchText = "", format: str = "csv") -> Response:
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
    today = services.ledger.today()
    title = translate("nav_inbox" if direction == "in" else "nav_outbox", lang)
    return list_file(request, format, f"transfers-{direction}-{code}-{today.isoformat()}", title, columns, rows,
                     today)


@routes.get("/transfers/{transfer_id}")
def transfer_page(request: Request, transfer_id: str, services: ServicesDep, operator: WebCaller,
                  min_position: MinPosition = None) -> Response:
    seen_once_applied(operator, request, services, min_position)
    check_transfer_visible(services, operator, transfer_id)
    transfer = services.ledger.transfer(transfer_id).summary()
    acts = Sides(services, operator)
    sending, receiving = acts(transfer["from_organization_code"]), acts(transfer["to_organization_code"])
    choices = receiving_choices(services, operator, transfer["to_organization_code"]) \
        if receiving and transfer["status"] == "issued" else []
    with services.queries() as queries:
        names = queries.organization_names(
            [transfer["from_organization_code"], transfer["to_organization_code"], transfer["received_in_code"]])
        people = queries.member_names([transfer["registration_no"]])
    services.record_access(operator, "transfer_page", registration_no=transfer["registration_no"])
    return render(request, "transfer.html", operator=operator, transfer=transfer, sending=sending,
                  receiving=receiving, choices=choices, names=names, people=people)


@routes.get("/transfers/{transfer_id}/letter")
def letter_page(request: Request, transfer_id: str, services: ServicesDep, operator: WebCaller) -> Response:
    """The printable letter with its stub and receipt (api/web/letter.py), for either side."""
    seen(operator, request)
    check_transfer_visible(services, operator, transfer_id)
    facts = letter_facts(services, transfer_id)
    services.record_access(operator, "letter", registration_no=facts["registration_no"])
    page = render_letter(facts, stylesheet_url="/web/static/letter.css", print_script="/web/static/app.js",
                         back_url=f"/web/transfers/{transfer_id}")
    return Response(page, media_type="text/html; charset=utf-8")


@routes.post("/transfers")
def request_transfer(request: Request, services: ServicesDep, operator: WebCaller, csrf_token: FormText = "",
                     registration_no: FormText = "", to_organization_code: FormText = "", reason: FormText = "",
                     basis: FormText = "", evidence_kind: FormText = "", evidence_reference: FormText = "",
                     performance_record: FormText = "", probation_override_reason: FormText = "",
                     on: FormText = "", once: FormText = "") -> Response:
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*TRANSFER_ROLES)
    evidence = ({"kind": evidence_kind, "reference": evidence_reference.strip()}
                if evidence_kind or evidence_reference.strip() else None)
    number = validate_registration_no(registration_no.strip())
    to_code, day = validate_code(to_organization_code.strip(), "to_organization_code"), parse_day(on, "on")
    fields = {"registration_no": number, "to_organization_code": to_code, "reason": reason, "basis": basis,
              "evidence": evidence, "performance_record": performance_record,
              "probation_override_reason": probation_override_reason, "on": on}

    def request_it() -> Response:
        recorded = services.ledger.request_transfer(
            number, to_code, reason=reason, basis=basis, evidence=evidence,
            performance_record=performance_record.strip() or None,
            probation_override_reason=probation_override_reason.strip() or None,
            actor=operator.actor, on=day, request_id=operator.request_id,
        )
        return done(f"/web/transfers/{recorded.transfer_id}", recorded.position)

    return sent_once(request, services, operator.id, once, fields, request_it)


@routes.post("/transfers/{transfer_id}/{action}")
def transfer_action(request: Request, transfer_id: str, action: str, services: ServicesDep,
                    operator: WebCaller, csrf_token: FormText = "", reason: FormText = "",
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
        recorded = ledger.issue_letter(transfer_id, parse_int(valid_days, "valid_days", DEFAULT_VALID_DAYS), **common)
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
    target = back if back in BACK_PAGES else f"/web/transfers/{transfer_id}"
    return done(target, recorded.position)

