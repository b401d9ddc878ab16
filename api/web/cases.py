"""The first-responder cases' page (首问责任制, seed 003): the cases the subtree owns, open
ones first with the days they have been open, a form to open one for a person who asks,
and on each open case a form to close it. The same checks as the API (api/routes/cases.py):
the role, the subtree, and the Ledger's rules (placed only once the person is held and has
attended org life since the case was opened)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from api.access import CASE_ROLES
from api.deps import ServicesDep
from api.routes.common import MinPosition
from api.web.base import (
    FormText,
    PageNumber,
    chosen_org,
    done,
    page_links,
    page_router,
    paging,
    parse_day,
    render,
    seen,
)
from api.web.once import sent_once
from api.web.session import WebCaller, check_csrf
from domain.errors import ValidationError
from domain.identifiers import validate_code, validate_registration_no
from domain.vocabulary import CASE_OUTCOMES

routes = page_router()


@routes.get("/cases")
def cases_page(request: Request, services: ServicesDep, operator: WebCaller, org: str | None = None,
               status: str = "open", page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    code = chosen_org(request, services, operator, org)
    if status not in ("open", "closed", "all"):
        raise ValidationError("status must be open, closed or all")
    today = services.ledger.today()
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        rows, count = queries.cases(code, today, status=None if status == "all" else status, **paging(page))
        names = queries.organization_names([code, *(r["organization_code"] for r in rows)])
    return render(request, "cases.html", operator=operator, organization=organization, rows=rows, count=count,
                  shown=status, names=names, outcomes=CASE_OUTCOMES, today=today.isoformat(),
                  can_open=operator.role in CASE_ROLES, pager=page_links(request, "page", page, count))


@routes.post("/cases")
def open_case(request: Request, services: ServicesDep, operator: WebCaller, csrf_token: FormText = "",
              organization_code: FormText = "", name: FormText = "", registration_no: FormText = "",
              case_request: FormText = "", on: FormText = "", once: FormText = "") -> Response:
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*CASE_ROLES)
    code = validate_code(organization_code.strip(), "organization_code")
    number = validate_registration_no(registration_no.strip()) if registration_no.strip() else None
    day = parse_day(on, "on")

    def open_it() -> Response:
        recorded = services.ledger.open_case(code, name=name, registration_no=number, request=case_request,
                                             actor=operator.actor, on=day, request_id=operator.request_id)
        return done("/web/cases", recorded.position, org=code)

    return sent_once(request, services, operator.id, once, {"organization_code": code, "name": name,
                     "registration_no": number, "case_request": case_request, "on": on}, open_it)


@routes.post("/cases/{case_id}/close")
def close_case(request: Request, case_id: str, services: ServicesDep, operator: WebCaller,
               csrf_token: FormText = "", outcome: FormText = "", note: FormText = "",
               registration_no: FormText = "", on: FormText = "", org: FormText = "") -> Response:
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*CASE_ROLES)
    # Every field is checked before anything is recorded (a refusal records nothing).
    number = validate_registration_no(registration_no.strip()) if registration_no.strip() else None
    day = parse_day(on, "on")
    back = validate_code(org.strip(), "org") if org.strip() else None
    recorded = services.ledger.close_case(case_id, outcome, note.strip() or None, number, actor=operator.actor,
                                          on=day, request_id=operator.request_id)
    return done("/web/cases", recorded.position, org=back)
