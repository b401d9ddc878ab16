"""The organization tree, the roster (a page at a time, or whole as a file), the members
the subtree hosts, and a member's page with its history."""

from __future__ import annotations

import sys
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from api.access import MEMBER_ROLES, check_member_visible, rights
from api.deps import ServicesDep
from api.presenters import member_public
from api.routes.common import MinPosition
from api.routes.members import visible_history as member_history
from api.services import check_not_future
from api.web.base import (
    PageNumber,
    SearchText,
    chosen_org,
    page_count,
    page_links,
    paging,
    parse_day,
    render,
    routes,
    seen_once_applied,
    timeline,
)
from api.web.downloads import list_file
from api.web.i18n import translate
from api.web.letter import age_on
from api.web.session import WebCaller, language
from domain.vocabulary import BASES, EVIDENCE_KINDS, TRANSFER_REASONS

TREE_DEPTH = 2  # levels shown below the chosen organization (a province has 50,000 of them)


@routes.get("/")
def tree(request: Request, services: ServicesDep, operator: WebCaller,
         org: str | None = None, min_position: MinPosition = None) -> Response:
    code = chosen_org(request, services, operator, org)
    with services.queries(min_position) as queries:
        nodes = queries.organization_tree(code, services.ledger.today(), depth=TREE_DEPTH)
    up = nodes[0]["parent_code"] if code != operator.organization_code else None
    return render(request, "tree.html", operator=operator, nodes=nodes, org=code, up=up,
                  deeper=any(n["depth"] == TREE_DEPTH for n in nodes))


@routes.get("/orgs/{code}/roster")
def roster(request: Request, code: str, services: ServicesDep, operator: WebCaller,
           q: SearchText = "", as_of: str = "", subtree: str | None = None, filtered: str = "",
           page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """The roster, subtree included unless asked otherwise: the page's form sends `filtered`
    (a hidden field), so a box left unticked (which sends no `subtree`) means without."""
    chosen_org(request, services, operator, code)
    subtree = "1" if subtree == "1" or (subtree is None and not filtered) else "0"
    day = parse_day(as_of, "as_of")
    check_not_future(day, "as_of", services.ledger.today())
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        rows, count = queries.roster(code, as_of=day, subtree=subtree == "1", include_in_transit=True,
                                     **paging(page), search=q.strip() or None)
        names = queries.organization_names(r["organization_code"] for r in rows)
    services.record_access(operator, "roster_page", scope=code)
    pages = page_count(count)
    base = {"q": q, "as_of": as_of, "subtree": subtree}
    return render(request, "roster.html", operator=operator, organization=organization, rows=rows, count=count,
                  names=names,
                  page=page, pages=pages, q=q, as_of=as_of, subtree=subtree,
                  prev_url=f"?{urlencode({**base, 'page': page - 1})}" if page > 1 else None,
                  next_url=f"?{urlencode({**base, 'page': page + 1})}" if page < pages else None)


@routes.get("/orgs/{code}/roster/file")
def roster_file(request: Request, code: str, services: ServicesDep, operator: WebCaller,
                q: SearchText = "", as_of: str = "", subtree: str = "1", format: str = "csv") -> Response:
    """The whole roster (every page) as CSV or Excel, with the page's search and date."""
    chosen_org(request, services, operator, code)
    day = parse_day(as_of, "as_of")
    check_not_future(day, "as_of", services.ledger.today())
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
    when = day or services.ledger.today()
    return list_file(request, format, f"roster-{code}-{when.isoformat()}", translate("roster_title", lang),
                     columns, rows, when)


@routes.get("/members/{registration_no}")
def member_page(request: Request, registration_no: str, services: ServicesDep, operator: WebCaller,
                min_position: MinPosition = None) -> Response:
    seen_once_applied(operator, request, services, min_position)
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
                  dues=dues, names=names, can_request=can_request, reasons=TRANSFER_REASONS, bases=BASES,
                  evidence_kinds=EVIDENCE_KINDS)


@routes.get("/orgs/{code}/hosted")
def hosted(request: Request, code: str, services: ServicesDep, operator: WebCaller,
           page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """The members the subtree hosts (seed 004): open certificates whose host lies in it, with
    their home; the host's clerks record their org life and dues."""
    chosen_org(request, services, operator, code)
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        rows, count = queries.certificates(code, status="open", side="host", **paging(page))
        names = queries.organization_names(
            [c for r in rows for c in (r["home_organization_code"], r["host_organization_code"])])
    services.record_access(operator, "hosted_page", scope=code)
    return render(request, "hosted.html", operator=operator, organization=organization, rows=rows, names=names,
                  pages=page_links(request, "page", page, count), count=count, today=services.ledger.today())

