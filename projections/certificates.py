"""Read model of introduction certificates with their states (table proj_certificates),
and what it answers: the certificate lists (API.md, second wave), the certificates of an
organization's subtree seen from the home side (the members it sends away) or from the
host's (the members it hosts, seed 004), by kind and status, with the members' names; and
the monthly report's certificate figures, from the figures' counters.

A certificate's status in these rows is `open` (issued, neither returned nor closed),
`returned` (the host endorsed it and it came back) or `closed` (it ended without coming
back: the member was received elsewhere by a formal transfer, died or left).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatchmethod
from typing import Any

from domain.certificate import Certificate
from domain.errors import ValidationError
from domain.vocabulary import CERTIFICATE_KINDS
from projections.db import ViewDatabase
from projections.sql import Sql, in_subtree, name, names
from projections.tables import Table, originator_key

CERTIFICATES = Table(
    "proj_certificates",
    ["certificate_id", "certificate_no", "kind", "registration_no", "home_organization_code",
     "host_organization_code", "host_description", "purpose", "contact_person", "issued_on",
     "valid_until", "status", "returned_on", "closed_on"],
    ["certificate_id"],
    ["CREATE TABLE IF NOT EXISTS proj_certificates (certificate_id TEXT PRIMARY KEY, "
     "certificate_no TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, registration_no TEXT NOT NULL, "
     "home_organization_code TEXT NOT NULL, host_organization_code TEXT, host_description TEXT, "
     "purpose TEXT NOT NULL, contact_person TEXT, issued_on TEXT NOT NULL, valid_until TEXT NOT NULL, "
     "status TEXT NOT NULL, returned_on TEXT, closed_on TEXT)",
     "CREATE INDEX IF NOT EXISTS proj_certificates_home ON proj_certificates (home_organization_code, status)",
     # the members a host's subtree hosts
     "CREATE INDEX IF NOT EXISTS proj_certificates_host ON proj_certificates (host_organization_code, status)",
     "CREATE INDEX IF NOT EXISTS proj_certificates_member ON proj_certificates (registration_no)",
     # certificates not returned by a date (never, or later), by their validity
     "CREATE INDEX IF NOT EXISTS proj_certificates_open ON proj_certificates (returned_on, valid_until, kind, "
     "issued_on, registration_no, home_organization_code, certificate_no, closed_on)"],
    index_only=True,  # counted and listed from covering indexes
)


class CertificatesView:
    def __init__(self) -> None:
        self.certificates = CERTIFICATES.fresh()
        self.tables = (self.certificates,)

    @singledispatchmethod
    def apply(self, event: Any, position: int, db: ViewDatabase) -> None:
        """Events of other kinds change nothing here."""

    @apply.register
    def _(self, event: Certificate.Issued, position: int, db: ViewDatabase) -> None:
        self.certificates.put({
            "certificate_id": originator_key(event), "certificate_no": event.certificate_no,
            "kind": event.kind, "registration_no": event.registration_no,
            "home_organization_code": event.home_organization_code,
            "host_organization_code": event.host_organization_code,
            "host_description": event.host_description, "purpose": event.purpose,
            "contact_person": event.contact_person, "issued_on": event.on.isoformat(),
            "valid_until": event.valid_until.isoformat(), "status": "issued", "returned_on": None,
            "closed_on": None,
        })

    @apply.register
    def _(self, event: Certificate.Returned, position: int, db: ViewDatabase) -> None:
        row = self.certificates.get(db, (originator_key(event),))
        assert row is not None
        row.update(status="returned", returned_on=event.on.isoformat())
        self.certificates.touch(row)

    @apply.register
    def _(self, event: Certificate.Closed, position: int, db: ViewDatabase) -> None:
        row = self.certificates.get(db, (originator_key(event),))
        assert row is not None
        row.update(status="closed", closed_on=event.on.isoformat())
        self.certificates.touch(row)


# --- what the certificates answer (used by projections/queries/) -------------------------

SIDES = ("home", "host")
SIDE_COLUMNS = {"home": "c.home_organization_code", "host": "c.host_organization_code"}
STATUSES = {"open": "issued", "returned": "returned", "closed": "closed"}  # the list's word: the view's
COLUMNS = ("certificate_no", "kind", "registration_no", "name", "home_organization_code",
           "host_organization_code", "host_description", "purpose", "contact_person", "issued_on",
           "valid_until", "status", "returned_on", "closed_on")


def certificate_rows(
    db: ViewDatabase, organization_code: str, *, kind: str | None = None, status: str | None = None,
    side: str | None = None, registration_no: str | None = None, limit: int = 100, offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The certificates whose home (side `home`), whose host (side `host`) or either (no
    side) lies in the organization's subtree, newest first; one page and how many in all."""
    if kind is not None and kind not in CERTIFICATE_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(CERTIFICATE_KINDS)}")
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}")
    if side is not None and side not in SIDES:
        raise ValidationError(f"side must be one of {', '.join(SIDES)}")
    sides = [side] if side else list(SIDES)
    where = Sql.join(" AND ", [
        Sql.join(" OR ", (in_subtree(SIDE_COLUMNS[s], organization_code) for s in sides)).wrap(" WHERE (", ")"),
        *(Sql("c." + name(column) + " = ?", value)
          for column, value in (("kind", kind), ("status", STATUSES.get(status or "")),
                                ("registration_no", registration_no)) if value),
    ])
    count = "SELECT COUNT(*) FROM proj_certificates c" + where
    selected = names(["m.name" if column == "name" else "c." + column for column in COLUMNS])
    select = ("SELECT " + selected + " FROM proj_certificates c JOIN proj_members m ON m.registration_no = "
              "c.registration_no") + where + Sql(" ORDER BY c.issued_on DESC, c.certificate_no DESC LIMIT ? OFFSET ?",
                                                 limit, offset)
    total = db.scalar(count.text, count.params)
    rows = db.query(select.text, select.params)
    words = {stored: word for word, stored in STATUSES.items()}
    found = []
    for row in rows:
        record = dict(zip(COLUMNS, row, strict=True))
        record["status"] = words.get(record["status"], record["status"])
        found.append(record)
    return found, int(total or 0)


def return_rate(returned: int, issued: int) -> float | None:
    """Certificates returned over certificates issued in the period (seed 001: 开具 N 份,
    返回 M 份, 返回率), None when none was issued."""
    return round(returned / issued, 4) if issued else None


def with_return_rate(totals: dict[str, int]) -> dict[str, Any]:
    """A period's totals with the certificates' return rate of the period."""
    return {**totals, "certificate_return_rate": return_rate(
        totals["certificates_returned"], totals["certificates_issued"])}


def certificate_figures(flow: Callable[[str], int], out: int, mobile_out: int) -> dict[str, Any]:
    """The monthly report's certificate figures (DOMAIN.md §8, issue 23), from the month's
    flows (`flow(figure)`) and the certificates out at its end: out by kind at the month's
    end and at its start, issued, returned and closed in the month, and those that came in
    or went out with a whole organization moved; so that, for every organization and month,
        certificates_out = certificates_out_opening + certificates_issued - certificates_returned
                           - certificates_closed + certificates_transferred_in_whole_org
                           - certificates_transferred_out_whole_org
    (the last two are zero unless an organization moved that month)."""
    issued, returned = flow("certificates_issued"), flow("certificates_returned")
    return {
        "certificates_out_opening": out - flow("certificates_out"),
        "certificates_out": out, "temporary_out": out - mobile_out, "mobile_out": mobile_out,
        "certificates_issued": issued, "certificates_returned": returned,
        "certificates_closed": flow("certificates_closed"),
        "certificates_transferred_in_whole_org": flow("certificates_transferred_in_whole_org"),
        "certificates_transferred_out_whole_org": flow("certificates_transferred_out_whole_org"),
        "certificate_return_rate": return_rate(returned, issued),
    }
