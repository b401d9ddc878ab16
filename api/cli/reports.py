"""Reports as scheduled jobs and the lists behind them: `ledger report`, `ledger history`,
`ledger overdue`, `ledger cases`.

Every command reads the configured store (LEDGER_DATABASE_URL), brings the views up to
date first, and answers a refusal with its code and words on standard error and exit
status 1 (2 for a usage error such as an unknown option value).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api import reportfiles
from api.cli.common import (
    HistoryFormat,
    Lang,
    Output,
    check_output,
    emit,
    err,
    opened,
    parse_day,
    prose,
    stdout_console,
)
from api.services import annual_figures, check_not_future, member_history, monthly_figures
from api.web.i18n import describe, translate
from domain.ledger import Ledger
from domain.member import validate_month
from projections.queries import Queries
from projections.queries.overdue_kinds import OVERDUE_COLUMNS

report_app = typer.Typer(
    help="Reports of an organization's subtree: monthly, annual, a chart of a year.", no_args_is_help=True)
commands = typer.Typer()


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class OverdueKind(StrEnum):
    """The kinds of the overdue list (projections/queries.py OVERDUE_KINDS)."""

    overdue_letter = "overdue_letter"
    unreturned_receipt = "unreturned_receipt"
    unreturned_certificate = "unreturned_certificate"
    inactive_6m = "inactive_6m"
    stale_request = "stale_request"
    open_case = "open_case"


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"


Organization = Annotated[str, typer.Option(help="organization code (the report covers its subtree)")]


def ascii_year(text: str) -> int:
    """A year typed as ASCII digits alone, as the HTTP API takes it (int() also reads a
    sign, spaces, underscores and other scripts' digits)."""
    if re.fullmatch("[0-9]{1,20}", text, re.ASCII) is None:
        raise typer.BadParameter("a year is YYYY in ASCII digits")
    return int(text)


Year = Annotated[int, typer.Option(help="the year, YYYY", parser=ascii_year, metavar="YYYY")]
LangOption = Annotated[Lang, typer.Option(
    help="headings: zh (Chinese, the default) or en (the report's field names, as in the HTTP API's "
         "CSV); JSON always has the field names")]


def render_report(report: dict[str, Any], kind: str, format: ReportFormat, lang: Lang) -> bytes:
    if format is ReportFormat.json:
        return reportfiles.report_json(report)
    if format is ReportFormat.csv:
        render = reportfiles.monthly_csv if kind == "monthly" else reportfiles.annual_csv
        return render(report, lang.value)
    render = reportfiles.monthly_xlsx if kind == "monthly" else reportfiles.annual_xlsx
    return render(report, lang.value)


# --- reports ---------------------------------------------------------------------------


@report_app.command("monthly")
@prose
def report_monthly(
    organization: Organization,
    month: Annotated[str, typer.Option(help="the month, YYYY-MM")],
    format: Annotated[ReportFormat, typer.Option(help="json (default), csv or xlsx")] = ReportFormat.json,
    lang: LangOption = Lang.zh,
    output: Output = None,
    file: Annotated[bool, typer.Option(
        "--file", help="first record the filing (报送) of the month, which freezes it and every "
                       "earlier month for the subtree; refused if already filed or not over")] = False,
) -> None:
    """The monthly report (DOMAIN.md §8) of an organization's subtree.

    JSON to standard output by default; csv and xlsx headings follow --lang. An xlsx goes
    to --output, or to standard output only when that is redirected (not a terminal).
    With --file the month is filed first, and the report printed is the filed one; a
    refusal (invalid_transition when already filed, validation_error when the month is
    not over, not_found for an unknown organization) exits 1 and writes no report; an
    --output that can't be written, or an xlsx to a terminal, is refused before filing.
    """
    check_output(output, binary=format is ReportFormat.xlsx)  # before the month is filed: a refusal records nothing
    with opened() as ledger:
        validate_month(month)
        if file:
            recorded = ledger.ledger.file_month(organization, month)
            err.print(f"filed {organization} {month} at position {recorded.position}", highlight=False)
        report = monthly_figures(ledger.queries(), organization, month, ledger.ledger.today())
    emit(render_report(report, "monthly", format, lang), output, binary=format is ReportFormat.xlsx)


@report_app.command("annual")
@prose
def report_annual(
    organization: Organization,
    year: Year,
    format: Annotated[ReportFormat, typer.Option(help="json (default), csv or xlsx")] = ReportFormat.json,
    lang: LangOption = Lang.zh,
    output: Output = None,
) -> None:
    """The annual report of an organization's subtree: the year's months (from its
    registration month, to the current one in the current year), their totals and the
    composition at year end (as of today in the current year).

    csv: one row per month; xlsx: every figure by month with the year's column, and a
    sheet of the year-end composition.
    """
    with opened() as ledger:
        report = annual_figures(ledger.queries(), organization, year, ledger.ledger.today())
    emit(render_report(report, "annual", format, lang), output, binary=format is ReportFormat.xlsx)


@report_app.command("chart")
@prose
def report_chart(
    organization: Organization,
    year: Year,
    output: Annotated[Path, typer.Option(help="the PNG file to write", dir_okay=False)],
    lang: Annotated[Lang, typer.Option(
        help="labels: zh needs a font with Chinese glyphs (fc-list :lang=zh), else English")] = Lang.zh,
) -> None:
    """A PNG chart of an organization's months of a year (those of the annual report):
    members at month end (held and in transit) and the month's flows. The same figures
    give the same bytes."""
    with opened() as ledger:
        report = annual_figures(ledger.queries(), organization, year, ledger.ledger.today())
        name = str(ledger.queries().organization(organization)["name"])
    emit(reportfiles.year_chart_png(report, lang.value, name=name), output)


# --- a member's history ----------------------------------------------------------------

DOCUMENT_FIELDS = ("letter_no", "certificate_no", "late_certificate")
HISTORY_COLUMNS = ("position", "date", "event", "documents", "acted_from")
ORGANIZATION_FIELDS = ("from_organization_code", "organization_code", "to_organization_code",
                       "issuing_organization_code", "home_organization_code", "host_organization_code")


def history_rows(entries: list[dict[str, Any]], lang: str, names: dict[str, str]) -> list[tuple[str, ...]]:
    """The history's entries as table rows: position, date, the event as a sentence
    (organizations by name, kinds in words: api/web/i18n.py), documents, acting organization."""

    def org(code: str | None) -> str:
        return names.get(code or "", code or "—")

    return [(str(entry["position"]), entry["on"], describe(entry, lang, org),
             " ".join(str(entry["data"][f]) for f in DOCUMENT_FIELDS if entry["data"].get(f)),
             org(entry.get("actor_organization")) if entry.get("actor_organization") else "")
            for entry in entries]


def whole_history(ledger: Ledger, queries: Queries, registration_no: str) -> dict[str, Any]:
    """Every entry of the member's history, read a page at a time."""
    entries: list[dict[str, Any]] = []
    while True:
        page = member_history(ledger, queries, registration_no, limit=1000, offset=len(entries))
        entries.extend(page["data"])
        if len(page["data"]) < 1000:
            return {"data": entries, "count": page["count"]}


@commands.command()
@prose
def history(
    member: Annotated[str, typer.Argument(help="the member's registration number (党员登记号码)")],
    format: Annotated[HistoryFormat, typer.Option(help="table (default) or json")] = HistoryFormat.table,
    lang: Annotated[Lang, typer.Option(help="the table's language")] = Lang.zh,
) -> None:
    """A member's whole story, oldest first: admission, transfers with their letters,
    certificates, organization life and dues, each with its date and organizations.

    json gives the entries of the HTTP API's member history: {data: [{position, type,
    on, recorded_at, actor, actor_organization, request_id, data}], count}.
    """
    with opened() as ledger:
        found = ledger.ledger.member(member)
        story = whole_history(ledger.ledger, ledger.queries(), member)
        ledger.read_by_system("history", registration_no=found.registration_no)
    if format is HistoryFormat.json:
        emit(reportfiles.report_json(story), None)
        return
    words = lang.value
    with opened() as ledger:
        queries = ledger.queries()
        names = queries.organization_names(
            [found.organization_code, *(e.get("actor_organization") for e in story["data"]),
             *(e["data"].get(f) for e in story["data"] for f in ORGANIZATION_FIELDS)])
    console = stdout_console()
    place = translate(f"place_{found.place}", words)
    where = names.get(found.organization_code or "", found.organization_code or "")
    console.print(f"{found.registration_no}  {found.name}  {translate(f'status_{found.status}', words)}  "
                  f"{place} {where}".rstrip(), markup=False)
    table = Table(*(translate(c, words) for c in HISTORY_COLUMNS), show_lines=False)
    for row in history_rows(story["data"], words, names):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    console.print(translate("entries", words, count=story["count"]), markup=False)


# --- the overdue list ------------------------------------------------------------------

OVERDUE_HEADINGS = {
    "zh": ("类型", "登记号码", "姓名", "组织", "文书/最近活动", "应办日期", "逾期天数", "责任组织"),
    "en": OVERDUE_COLUMNS,
}


@commands.command()
@prose
def overdue(
    organization: Annotated[str, typer.Option(help="organization code (its subtree is searched)")],
    on: Annotated[str | None, typer.Option(help="as of this date, YYYY-MM-DD (default today)")] = None,
    kind: Annotated[OverdueKind | None, typer.Option(help="only this kind of row")] = None,
    format: Annotated[ListFormat, typer.Option(help="table (default), json or csv")] = ListFormat.table,
    lang: Annotated[Lang, typer.Option(help="the table's language")] = Lang.zh,
) -> None:
    """The overdue list (pocket members) of an organization's subtree as of a date, most
    overdue first: letters not received in time (sent from the subtree or addressed into
    it), receipts not returned, temporary certificates not returned, members inactive for
    six months, requests neither issued nor declined within 30 days, first-responder cases
    open more than 30 days.

    json: {data, count} as GET /v1/organizations/{code}/overdue; csv: those columns.
    """
    with opened() as ledger:
        day = parse_day(on, "on") if on else ledger.ledger.today()
        check_not_future(day, "--on", ledger.ledger.today())
        rows, count = ledger.queries().overdue(organization, day, kind=kind.value if kind else None,
                                                  limit=sys.maxsize)
        ledger.read_by_system("overdue", scope=organization)  # the rows name members
    emit_rows(rows, count, OVERDUE_COLUMNS, OVERDUE_HEADINGS, format, lang,
              lambda row: {**row, "kind": translate(f"okind_{row['kind']}", lang.value)})
    if format is ListFormat.table:
        stdout_console().print(f"{organization} {day.isoformat()}: "
                               + (f"{count} 条逾期" if lang is Lang.zh else f"{count} overdue"))


def emit_rows(rows: list[dict[str, Any]], count: int, columns: tuple[str, ...], headings: Mapping[str, tuple[str, ...]],
              format: ListFormat, lang: Lang, words: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A list on standard output: JSON `{data, count}` as the HTTP API answers, CSV of the
    columns, or a table in `lang` (`words` puts a row's codes in words). The CSV is the
    API's with --lang en; in Chinese it has the table's headings and words, and a byte
    order mark for spreadsheet programs, as a report's CSV has."""
    if format is ListFormat.json:
        emit(reportfiles.report_json({"data": rows, "count": count}), None)
        return
    if format is ListFormat.csv:
        worded = [words(row) for row in rows] if lang is Lang.zh else rows
        emit(reportfiles.list_csv(list(columns), list(headings[lang.value]), worded, lang=lang.value), None)
        return
    table = Table(*headings[lang.value])
    for row in rows:
        shown = words(row)
        table.add_row(*("" if shown[c] is None else str(shown[c]) for c in columns))
    stdout_console().print(table)


# --- first-responder cases (首问责任制) ----------------------------------------------------------

CASE_COLUMNS = ("case_id", "organization_code", "name", "registration_no", "opened_on", "days_open", "status",
                "outcome", "closed_on")
CASE_HEADINGS = {
    "zh": ("案件编号", "首问组织", "姓名", "登记号码", "受理日期", "已办天数", "状态", "结果", "办结日期"),
    "en": CASE_COLUMNS,
}


@commands.command()
@prose
def cases(
    organization: Annotated[str, typer.Option(help="organization code (the cases its subtree owns)")],
    status: Annotated[CaseStatus | None, typer.Option(help="open or closed (default both)")] = None,
    on: Annotated[str | None, typer.Option(help="the cases as of this date, YYYY-MM-DD (default today)")] = None,
    format: Annotated[ListFormat, typer.Option(help="table (default), json or csv")] = ListFormat.table,
    lang: Annotated[Lang, typer.Option(help="the table's language")] = Lang.zh,
) -> None:
    """First-responder cases (首问责任制) owned in an organization's subtree, open ones
    first (oldest first), with the days each has been open (to the day it was closed).
    With --on, the cases as they stood that day: those opened by then, open unless closed
    by then (a later date is refused).

    json: {data, count} as GET /v1/cases; csv: those columns.
    """
    with opened() as ledger:
        day = parse_day(on, "on") if on else ledger.ledger.today()
        check_not_future(day, "--on", ledger.ledger.today())
        rows, count = ledger.queries().cases(organization, day, status=status.value if status else None,
                                             limit=sys.maxsize, as_of=on is not None)
    emit_rows(rows, count, CASE_COLUMNS, CASE_HEADINGS, format, lang, lambda row: {
        **row, "status": translate(f"case_{row['status']}", lang.value),
        "outcome": translate(f"case_{row['outcome']}", lang.value) if row["outcome"] else None})
    if format is ListFormat.table:
        stdout_console().print(f"{organization}: " + (f"{count} 件" if lang is Lang.zh else f"{count} cases"))
