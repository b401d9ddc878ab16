"""Lists of a subtree's work: transfers, certificates and first-responder cases."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.errors import ValidationError
from domain.text import search_forms
from projections.cases import bounced, case_rows
from projections.certificates import certificate_rows
from projections.queries.base import Reads
from projections.sql import EMPTY, Sql, in_subtree, like

TRANSFER_COLUMNS = (
    "transfer_id", "letter_no", "registration_no", "from_organization_code",
    "to_organization_code", "received_in_code", "status", "reason", "basis", "route",
    "paper_stops", "network_stops", "requested_on", "issued_on", "valid_until", "received_on",
    "on_time", "receipt_returned_on",
)
# The organization columns of a transfer on each side of it.
SIDES = {"out": ("from_organization_code",), "in": ("to_organization_code", "received_in_code"),
         "both": ("from_organization_code", "to_organization_code", "received_in_code")}
# The columns a transfer list may be narrowed to one value of.
EQUAL_TO = ("status", "letter_no", "registration_no")


class Lists(Reads):
    TRANSFER_COLUMNS = TRANSFER_COLUMNS

    def transfers(
        self, organization_code: str | None = None, status: str | None = None,
        letter_no: str | None = None, registration_no: str | None = None,
        direction: str = "both", limit: int = 100, offset: int = 0,
        search: str | None = None, valid_until_from: date | None = None, valid_until_to: date | None = None,
        received_since: date | None = None, done_since: date | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Transfers by organization subtree (sent from, addressed to, or either), status,
        letter number or member; `search` finds a member's name, a registration number or a
        letter number (a part of it); the dates narrow to letters valid until within a range,
        received since a day, or received or with the receipt back since a day."""
        clauses: list[Sql] = []
        if search:
            forms = search_forms(search)  # as names are kept (NFC but CJK compatibility ideographs)
            names = Sql.join(" OR ", (like("name", form) for form in forms))
            clauses.append(Sql("(") + like("letter_no", forms[0].upper()) + " OR "
                           + like("registration_no", forms[0].upper(), anywhere=False)
                           + " OR registration_no IN (SELECT registration_no FROM proj_members WHERE "
                           + names + "))")
        for clause, day in (("valid_until >= ?", valid_until_from), ("valid_until <= ?", valid_until_to),
                            ("received_on >= ?", received_since)):
            if day is not None:
                clauses.append(Sql(clause, day.isoformat()))
        if done_since is not None:
            clauses.append(Sql("(received_on >= ? OR receipt_returned_on >= ?)",
                               done_since.isoformat(), done_since.isoformat()))
        if organization_code:
            if direction not in SIDES:
                raise ValidationError("direction must be in, out or both")
            clauses.append(Sql.join(" OR ", (in_subtree(column, organization_code)
                                             for column in SIDES[direction])).wrap("(", ")"))
        for column, value in zip(EQUAL_TO, (status, letter_no, registration_no), strict=True):
            if value:
                clauses.append(Sql(column + " = ?", value))
        where = (" WHERE " + Sql.join(" AND ", clauses)) if clauses else EMPTY
        count = self._scalar("SELECT COUNT(*) FROM proj_transfers" + where)
        rows = self._query(
            "SELECT " + ", ".join(TRANSFER_COLUMNS) + " FROM proj_transfers" + where
            + Sql(" ORDER BY requested_on DESC, transfer_id LIMIT ? OFFSET ?", limit, offset),
        )
        data = [dict(zip(TRANSFER_COLUMNS, row, strict=True)) for row in rows]
        for row in data:
            row["on_time"] = None if row["on_time"] is None else bool(row["on_time"])
        return data, int(count or 0)

    def certificates(
        self, organization_code: str, kind: str | None = None, status: str | None = None,
        side: str | None = None, registration_no: str | None = None, limit: int = 100, offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """The certificates of a subtree, from the home side or the host's
        (projections/certificates.py)."""
        self.organization(organization_code)
        return certificate_rows(self.db, organization_code, kind=kind, status=status, side=side,
                                registration_no=registration_no, limit=limit, offset=offset)

    def cases(self, code: str, on: date, status: str | None = None, limit: int = 100,
              offset: int = 0, as_of: bool = False) -> tuple[list[dict[str, Any]], int]:
        """The first-responder cases owned in an organization's subtree, with days open as of
        `on`; with `as_of`, as they stood on `on` (projections/cases.py `case_rows`)."""
        self.organization(code)
        if status is not None and status not in ("open", "closed"):
            raise ValidationError("status must be open or closed")
        return case_rows(self.db, code, status, on, limit, offset, as_of=as_of)

    def is_bounced(self, registration_no: str, on: date) -> bool:
        """Whether the member's transfers were declined or rejected twice or more by `on`."""
        return bounced(self.db, registration_no, on)
