"""The monthly report page: the month's figures with the timely rate's breakdowns and a
chart of the twelve months to it, filing (报送) a month, and the report as a file."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from api.access import ADMIN_ROLES, check_within
from api.deps import ServicesDep
from api.errors import ApiError
from api.routes.common import MinPosition
from api.services import Services, monthly_figures
from api.web import charts
from api.web.base import FormText, chosen_org, done, render, routes, seen
from api.web.session import WebCaller, check_csrf, language
from domain.calendar import month_text, months_ending
from domain.errors import ValidationError
from domain.identifiers import validate_month

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


def report_month(services: Services, month: str | None) -> str:
    month = (month or "").strip() or month_text(services.ledger.today())
    validate_month(month)
    return month


@routes.get("/orgs/{code}/report")
def report(request: Request, code: str, services: ServicesDep, operator: WebCaller,
           month: str = "", min_position: MinPosition = None) -> Response:
    chosen_org(request, services, operator, code)
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
def file_report_month(request: Request, code: str, services: ServicesDep, operator: WebCaller,
                      csrf_token: FormText = "", month: FormText = "") -> Response:
    """Filing (报送) a month from the report page: an admin's act, the API's POST
    /v1/reports/monthly/file; the Ledger refuses a month not over or already filed."""
    seen(operator, request)
    check_csrf(request, csrf_token)
    operator.require(*ADMIN_ROLES)
    check_within(services, operator, code)
    validate_month(month.strip())
    recorded = services.ledger.file_month(code, month.strip(), actor=operator.actor, request_id=operator.request_id)
    return done(f"/web/orgs/{code}/report", recorded.position, month=month.strip())


@routes.get("/orgs/{code}/report/file")
def report_file(request: Request, code: str, services: ServicesDep, operator: WebCaller,
                month: str = "", format: str = "csv") -> Response:
    chosen_org(request, services, operator, code)
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

