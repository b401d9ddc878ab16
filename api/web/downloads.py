"""Lists as files: a page's list, every row of it, as CSV or Excel (api/reportfiles.py),
with Chinese headings unless the page is English."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from api.web.i18n import translate
from api.web.session import language
from domain.errors import ValidationError

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


def list_file(request: Request, format: str, name: str, title: str, columns: list[str],
              rows: list[dict[str, Any]], day: date) -> Response:
    """A list as a CSV or Excel download (Chinese headings unless the page is English)."""
    from api import reportfiles

    lang = language(request)
    headings = [translate(LIST_HEADINGS[c], "zh") for c in columns]
    if format == "csv":
        body, media = reportfiles.list_csv(columns, headings, rows, lang), "text/csv; charset=utf-8"
    elif format == "xlsx":
        body = reportfiles.list_xlsx(title, columns, headings, rows, day, lang)
        media = reportfiles.XLSX_MEDIA_TYPE
    else:
        raise ValidationError("format must be csv or xlsx")
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename=\"{quote(name)}.{format}\""})

