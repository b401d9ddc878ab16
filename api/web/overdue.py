"""The overdue ledger in three colours (domain/flags.py decides the bands), each band with
its true number of rows, and the overdue list as a file."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

from fastapi import Request
from starlette.responses import Response

from api.deps import ServicesDep
from api.routes.common import MinPosition
from api.web.base import PageNumber, chosen_org, page_links, paging, render, routes
from api.web.downloads import list_file
from api.web.i18n import translate
from api.web.session import WebCaller, language
from domain.errors import ValidationError
from domain.flags import (
    done_since,
    due_soon_window,
    overdue_bands,
    receipt_due,
    receipt_window_start,
)
from domain.vocabulary import OVERDUE_KINDS
from projections.queries import Queries

OVERDUE_BANDS = overdue_bands(OVERDUE_KINDS)  # every kind the page shows, with its colour


def band_rows(queries: Queries, code: str, today: date, kind: str, limit: int, offset: int) -> dict[str, Any]:
    """The overdue ledger's bands: each a page of rows and the number of rows in all.
    Red: past due (the overdue list). Yellow: letters due soon, receipts not yet returned
    (and not yet overdue). Green: transfers received or whose receipt came back this month.
    `kind` narrows to one kind (and its band); '' gives every band's first page."""
    bands: dict[str, Any] = {}
    wanted = OVERDUE_BANDS.get(kind)
    if wanted in (None, "red"):
        rows, count = queries.overdue(code, today, kind=kind or None, limit=limit, offset=offset)
        bands["red"] = (rows, count)
    if wanted in (None, "yellow"):
        yellow, total = [], 0
        if kind in ("", "due_soon"):
            first, last = due_soon_window(today)
            rows, count = queries.transfers(code, status="issued", valid_until_from=first, valid_until_to=last,
                                            limit=limit, offset=offset)
            yellow += [{**t, "kind": "due_soon", "due_on": t["valid_until"]} for t in rows]
            total += count
        if kind in ("", "receipt_missing"):
            rows, count = queries.transfers(code, status="received", received_since=receipt_window_start(today),
                                            limit=limit, offset=offset)
            yellow += [{**t, "kind": "receipt_missing",
                        "due_on": receipt_due(date.fromisoformat(t["received_on"])).isoformat()} for t in rows]
            total += count
        yellow.sort(key=lambda r: r["due_on"])
        bands["yellow"] = (yellow, total)
    if wanted in (None, "green"):
        rows, count = queries.transfers(code, done_since=done_since(today), limit=limit, offset=offset)
        bands["green"] = ([{**t, "kind": "done", "done_on": t["receipt_returned_on"] or t["received_on"]}
                           for t in rows], count)
    return bands


@routes.get("/orgs/{code}/overdue")
def overdue(request: Request, code: str, services: ServicesDep, operator: WebCaller, kind: str = "",
            page: PageNumber = 1, min_position: MinPosition = None) -> Response:
    """The overdue ledger in three colours, each band with its true number of rows; a kind
    chosen shows its band alone, a page at a time."""
    chosen_org(request, services, operator, code)
    if kind and kind not in OVERDUE_BANDS:
        raise ValidationError(f"kind must be one of {', '.join(OVERDUE_BANDS)}")
    today = services.ledger.today()
    with services.queries(min_position) as queries:
        organization = queries.organization(code)
        bands = band_rows(queries, code, today, kind, **paging(page))
        rows = [r for band in bands.values() for r in band[0]]
        names = queries.organization_names(
            [r.get(c) for r in rows for c in ("organization_code", "responsible_organization_code",
                                              "from_organization_code", "to_organization_code",
                                              "received_in_code")])
        people = queries.member_names(r["registration_no"] for r in rows)
    biggest = max(count for _, count in bands.values())
    services.record_access(operator, "overdue_page", scope=code)
    return render(request, "overdue.html", operator=operator, organization=organization, bands=bands,
                  kind=kind, kinds=list(OVERDUE_BANDS), today=today, names=names, people=people,
                  pager=page_links(request, "page", page, biggest) if kind else None)


@routes.get("/orgs/{code}/overdue/file")
def overdue_file(request: Request, code: str, services: ServicesDep, operator: WebCaller, kind: str = "",
                 format: str = "csv") -> Response:
    """The overdue list (the red band, every row) as CSV or Excel, in the page's language."""
    chosen_org(request, services, operator, code)
    if kind and kind not in OVERDUE_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(OVERDUE_KINDS)}")
    today = services.ledger.today()
    with services.queries() as queries:
        rows, _ = queries.overdue(code, today, kind=kind or None, limit=sys.maxsize)
        names = queries.organization_names(
            [r.get(c) for r in rows for c in ("organization_code", "responsible_organization_code")])
    services.record_access(operator, "overdue_file", scope=code)
    lang = language(request)
    rows = [{**r, "kind": translate(f"okind_{r['kind']}", lang) if lang == "zh" else r["kind"],
             "organization_name": names.get(r["organization_code"] or "", ""),
             "responsible_organization_name": names.get(r["responsible_organization_code"] or "", "")}
            for r in rows]
    columns = ["kind", "name", "registration_no", "organization_name", "organization_code", "reference",
               "due_on", "days_overdue", "responsible_organization_name", "responsible_organization_code"]
    return list_file(request, format, f"overdue-{code}-{today.isoformat()}", translate("overdue_title", lang),
                     columns, rows, today)
