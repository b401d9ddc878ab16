"""The monthly and annual reports of DOMAIN.md §8, by effective date, for an organization's
subtree; and the letters overdue at a month's end, as the subtree stood that day."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.calendar import month_bounds
from domain.errors import ValidationError
from domain.member import validate_month
from domain.vocabulary import CATEGORIES, LEAVE_REASONS, NETWORK_STOPS, PAPER_STOPS, ROUTES, TRANSFER_REASONS
from projections.cases import report_waiting
from projections.certificates import certificate_figures, with_return_rate
from projections.figures import STOCKS
from projections.queries.base import Reads
from projections.sql import (
    Sql,
    marks,
    name,
    one_of,
    still_open_letters,
    subtree_as_of,
    valid_until_on,
)

# The timely rate's breakdowns (seed 001): by the member's category, by route, and from
# inside versus outside the reporting organization's subtree.
TIMELY_GROUPS = {"category": CATEGORIES, "route": ROUTES, "side": ("internal", "external")}
# The member columns the annual report's composition counts by.
COMPOSITION = ("category", "gender")


class Reports(Reads):
    LARGE_SUBTREE = 1000  # organizations: above this, start from the letters, not the tree

    def overdue_letters_at(self, code: str, end: date) -> int:
        """The letters out of the subtree as it stood on `end` that were overdue that day:
        issued, past their validity of that day, neither received nor closed by then. A
        small subtree is walked down as it stood. For a large one (a province has 50,000
        organizations) the letters still open on `end` are found by index; a letter from an
        organization whose chain stands as it stood on `end` (no organization in it ever
        moved or began after that day) is in the subtree as it is now (the closure); the
        few others walk up their organization's chain as it stood, to see whether it
        reaches `code`."""
        day = end.isoformat()
        size = self.db.scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM proj_org_closure WHERE ancestor = ? LIMIT ?) s",
            (code, self.LARGE_SUBTREE + 1),
        )
        if int(size or 0) <= self.LARGE_SUBTREE:
            return int(self._scalar(
                subtree_as_of(code, day) + Sql("SELECT COUNT(*) FROM proj_transfers t WHERE t.issued_on <= ? AND ", day)
                + valid_until_on(day) + Sql(" < ? AND (t.received_on IS NULL OR t.received_on > ?) "
                                            "AND (t.closed_on IS NULL OR t.closed_on > ?) "
                                            "AND t.from_organization_code IN (SELECT code FROM sub)", day, day, day)
            ) or 0)
        counted, walked = 0, []
        for transfer_id, organization, count in self._query(
            "WITH overdue(transfer_id, code) AS (SELECT t.transfer_id, t.from_organization_code FROM ("
            + still_open_letters(("transfer_id", "from_organization_code", "first_valid_until"), day)
            + ") t WHERE " + valid_until_on(day) + Sql(" < ?), ", day)
            # the subtrees of the organizations that ever moved, or began after `end`
            + Sql("changed(code) AS (SELECT k.descendant FROM proj_org_closure k WHERE k.ancestor IN ("
                  "SELECT code FROM proj_org_tree WHERE to_on IS NOT NULL "
                  "UNION SELECT code FROM proj_org_tree WHERE to_on IS NULL AND from_on > ?)) ", day)
            + Sql("SELECT NULL, NULL, COUNT(*) FROM overdue WHERE code NOT IN (SELECT code FROM changed) AND EXISTS "
                  "(SELECT 1 FROM proj_org_closure k WHERE k.ancestor = ? AND k.descendant = overdue.code) "
                  "UNION ALL SELECT transfer_id, code, NULL FROM overdue WHERE code IN (SELECT code FROM changed)",
                  code)
        ):
            if transfer_id is None:
                counted += int(count)
            else:
                walked.append((transfer_id, organization))
        return counted + self._reaching(walked, code, day)

    def _reaching(self, letters: list[tuple[str, str]], code: str, day: str) -> int:
        """How many of the letters (transfer id, organization) have `code` in their
        organization's chain as it stood on `day` (the organization itself included): the
        chains are read a level at a time, for all the letters at once."""
        parents: dict[str, set[str]] = {}
        origins = {organization for _, organization in letters}
        level = set(origins)
        while level:
            parents.update((organization, set()) for organization in level)
            above: set[str] = set()
            for organization, parent in self._query(
                "SELECT code, parent_code FROM proj_org_tree WHERE " + one_of(self.db, "code", sorted(level))
                + Sql(" AND parent_code IS NOT NULL AND from_on <= ? AND (to_on IS NULL OR to_on > ?)", day, day)
            ):
                parents[organization].add(parent)
                above.add(parent)
            level = above - parents.keys()

        def reaches(organization: str) -> bool:
            seen, stack = set(), [organization]
            while stack:
                current = stack.pop()
                if current == code:
                    return True
                if current not in seen:
                    seen.add(current)
                    stack.extend(parents.get(current, ()))
            return False
        reaching = {organization for organization in origins if reaches(organization)}  # each walked once
        return len({transfer_id for transfer_id, organization in letters if organization in reaching})

    def monthly_report(self, code: str, month: str) -> dict[str, Any]:
        """The figures of DOMAIN.md §8 for an organization's subtree and a month, by
        effective date; counts are of record (in-transit members count at the sender)."""
        self.organization(code)
        validate_month(month)
        first, last = month_bounds(month)
        flows: dict[str, Any] = dict(self.db.query(
            "SELECT figure, value FROM proj_counts WHERE organization_code = ? AND month = ?", (code, month)
        ))
        stocks = dict.fromkeys(STOCKS, 0)
        stocks.update(dict(self._query(
            Sql("SELECT figure, SUM(value) FROM proj_counts WHERE organization_code = ? AND month <= ? "
                "AND figure IN (", code, month) + marks(STOCKS) + ") GROUP BY figure"
        )))
        f = {k: int(v) for k, v in flows.items()}

        def g(name: str) -> int:
            return f.get(name, 0)

        closing = int(stocks["net"])
        opening = closing - g("net")
        transferred_in = {k: g(f"transferred_in_{k}") for k in ("internal", "external", "whole_org")}
        transferred_out = {k: g(f"transferred_out_{k}") for k in ("internal", "external", "whole_org")}
        left_by_reason = {r: g(f"left_{r}") for r in LEAVE_REASONS}
        overdue = self.overdue_letters_at(code, last)
        received, on_time = g("letters_received"), g("received_on_time")
        issued_by_route = {r: g(f"route_{r}") for r in ROUTES}
        report = {
            "organization_code": code, "month": month,
            "period_start": first.isoformat(), "period_end": last.isoformat(),
            "opening": opening,
            "admitted": g("admitted"), "imported": g("imported"),
            **{f"transferred_in_{k}": v for k, v in transferred_in.items()},
            "transferred_in": sum(transferred_in.values()),
            **{f"transferred_out_{k}": v for k, v in transferred_out.items()},
            "transferred_out": sum(transferred_out.values()),
            "deceased": g("deceased"), "left": g("left"), "left_by_reason": left_by_reason,
            "closing": closing,
            "held": closing - int(stocks["in_transit"]), "in_transit": int(stocks["in_transit"]),
            "overdue_letters": int(overdue or 0),
            "certificates_out": int(stocks["certificates_out"]), "mobile_out": int(stocks["mobile_out"]),
            "hosted": int(stocks["hosted"]),
            "probationary": int(stocks["probationary"]), "full": int(stocks["full"]),
            "letters_issued": g("letters_issued"), "letters_received": received,
            "letters_cancelled": g("letters_cancelled"), "letters_rejected": g("letters_rejected"),
            "received_on_time": on_time, "received_late": g("received_late"),
            "timely_rate": round(on_time / received, 4) if received else None,
            "receipts_returned": g("receipts_returned"),
            "receipt_days_total": g("receipt_days"),
            "receipt_days_average": round(g("receipt_days") / g("receipts_returned"), 2)
            if g("receipts_returned") else None,
            **certificate_figures(g, int(stocks["certificates_out"]), int(stocks["mobile_out"])),
            "by_reason": {r: g(f"reason_{r}") for r in TRANSFER_REASONS},
            "by_route": issued_by_route,
            "paper_stops": sum(PAPER_STOPS[r] * n for r, n in issued_by_route.items()),
            "network_stops": sum(NETWORK_STOPS * n for n in issued_by_route.values()),
        }
        filed = self.db.query(
            "SELECT filed_on FROM proj_filings WHERE organization_code = ? AND month >= ? "
            "ORDER BY month LIMIT 1", (code, month),
        )
        report["filed"] = bool(filed)
        report.update(report_waiting(self.db, code, first, last))
        report.update(timely_groups(f))
        return report

    def annual_report(self, code: str, year: int, months: list[dict[str, Any]] | None = None,
                      as_of: date | None = None) -> dict[str, Any]:
        """The year's months (the monthly reports given, else all twelve), their totals,
        and the composition as of `as_of` (the year's end unless given: the current year's
        is as of today, api.services.annual_figures)."""
        if not isinstance(year, int) or not 1900 <= year <= 2999:
            raise ValidationError("year must be a four-digit year")
        if months is None:
            months = [self.monthly_report(code, f"{year:04d}-{m:02d}") for m in range(1, 13)]
        summed = ("admitted", "imported", "transferred_in", "transferred_out", "deceased", "left",
                  "letters_issued", "letters_received", "received_on_time", "receipts_returned",
                  "certificates_issued", "certificates_returned", "certificates_closed")
        year_end = (as_of or date(year, 12, 31)).isoformat()
        composition: dict[str, dict[str, int]] = {}
        for column in COMPOSITION:
            composition[column] = {
                key: int(n) for key, n in self._query(
                    # the subtree as it stood at year end (or `as_of`), as the months' closings count it
                    subtree_as_of(code, year_end) + "SELECT " + name("m." + column)
                    + ", COUNT(*) FROM proj_stints s JOIN proj_members m ON m.registration_no = s.registration_no "
                    "WHERE s.organization_code IN (SELECT code FROM sub)"
                    + Sql(" AND s.from_on <= ? AND (s.to_on IS NULL OR s.to_on > ?) GROUP BY ", year_end, year_end)
                    + name("m." + column)
                )
            }
        return {
            "organization_code": code, "year": year, "as_of": year_end,
            "opening": months[0]["opening"], "closing": months[-1]["closing"],
            "totals": with_return_rate({k: sum(m[k] for m in months) for k in summed}),
            **summed_timely(months),
            "composition": {
                "probationary": months[-1]["probationary"], "full": months[-1]["full"],
                "held": months[-1]["held"], "in_transit": months[-1]["in_transit"], **composition,
            },
            "months": months,
        }


def timely_groups(counts: dict[str, int]) -> dict[str, Any]:
    """The breakdowns' groups from the counters `received_<group>_<key>` and
    `received_on_time_<group>_<key>` (summed over any months)."""
    groups: dict[str, Any] = {}
    for group, keys in TIMELY_GROUPS.items():
        groups[f"timely_by_{group}"] = {key: timely(counts.get(f"received_{group}_{key}", 0),
                                                    counts.get(f"received_on_time_{group}_{key}", 0))
                                        for key in keys}
    return groups


def timely(received: int, on_time: int) -> dict[str, Any]:
    return {"received": received, "on_time": on_time,
            "timely_rate": round(on_time / received, 4) if received else None}


def summed_timely(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The breakdowns of several months (an annual report's) summed."""
    counts: dict[str, int] = {}
    for report in reports:
        for group in TIMELY_GROUPS:
            for key, figures in report[f"timely_by_{group}"].items():
                counts[f"received_{group}_{key}"] = counts.get(f"received_{group}_{key}", 0) + figures["received"]
                counts[f"received_on_time_{group}_{key}"] = (
                    counts.get(f"received_on_time_{group}_{key}", 0) + figures["on_time"])
    return timely_groups(counts)
