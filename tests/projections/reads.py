"""Where the views put a member, read as the product reads it: the roster of record."""

from __future__ import annotations

from projections.queries import Queries


def of_record(queries: Queries, code: str, number: str) -> list[tuple[str, str, str]]:
    """The member's rows (registration number, place, organization) on the roster of record
    of `code` now, those in transit included: one row when the member is held there or in
    transit from there, none otherwise."""
    rows, _ = queries.roster(code, include_in_transit=True, search=number)
    return [(r["registration_no"], r["place"], r["organization_code"]) for r in rows if r["registration_no"] == number]
