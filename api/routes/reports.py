"""Monthly and annual reports (JSON; CSV with Accept: text/csv; Excel with Accept:
application/vnd.openxmlformats-officedocument.spreadsheetml.sheet) and filing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from api.access import ADMIN_ROLES, check_within
from api.deps import CurrentCaller, ServicesDep
from api.presenters import month_filed
from api.reportfiles import XLSX_MEDIA_TYPE, annual_xlsx, flatten, list_csv, monthly_xlsx
from api.routes.common import MinPosition, Number, command, router, wants_csv
from api.schemas import FileRequest
from api.services import annual_figures, monthly_figures
from domain.member import validate_month

routes = router("/v1/reports", "reports")


def as_csv(rows: list[dict[str, Any]]) -> Response:
    columns = list(rows[0])
    return Response(list_csv(columns, columns, rows, lang="en"), media_type="text/csv; charset=utf-8")


def wants_xlsx(request: Request) -> bool:
    return XLSX_MEDIA_TYPE in (request.headers.get("accept") or "")


def as_xlsx(content: bytes, name: str) -> Response:
    return Response(content, media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


FILE_TYPES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}, XLSX_MEDIA_TYPE: {}}}}


@routes.get("/monthly", responses=FILE_TYPES)
def monthly(
    request: Request, services: ServicesDep, operator: CurrentCaller,
    organization_code: Annotated[str, Query(min_length=1)],
    month: Annotated[str, Query(min_length=1, description="YYYY-MM")],
    min_position: MinPosition = None,
) -> Any:
    check_within(services, operator, organization_code)
    validate_month(month)
    with services.queries(min_position) as queries:
        report = monthly_figures(queries, organization_code, month, services.ledger.today())
    if wants_xlsx(request):
        return as_xlsx(monthly_xlsx(report), f"monthly-{organization_code}-{month}")
    return as_csv([flatten(report)]) if wants_csv(request) else report


@routes.get("/annual", responses=FILE_TYPES)
def annual(
    request: Request, services: ServicesDep, operator: CurrentCaller,
    organization_code: Annotated[str, Query(min_length=1)], year: Annotated[int, Query(ge=1900, le=2999), Number],
    min_position: MinPosition = None,
) -> Any:
    check_within(services, operator, organization_code)
    with services.queries(min_position) as queries:
        report = annual_figures(queries, organization_code, year, services.ledger.today())
    if wants_xlsx(request):
        return as_xlsx(annual_xlsx(report), f"annual-{organization_code}-{year}")
    return as_csv([flatten(m) for m in report["months"]]) if wants_csv(request) else report


@routes.post("/monthly/file")
def file_month(body: FileRequest, services: ServicesDep, operator: CurrentCaller) -> Any:
    """Filing (报送) freezes the month, and every earlier one, for the subtree."""
    recorded = command(operator, ADMIN_ROLES, services.ledger.file_month, body.organization_code, body.month)
    return month_filed(body.organization_code, body.month, recorded)
