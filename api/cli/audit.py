"""The auditor's commands: `ledger export` (the event stream with its seals, resumable) and
`ledger audit access` (who read which member's personal record).

Every command reads the configured store (LEDGER_DATABASE_URL) and answers a refusal with
its code and words on standard error and exit status 1 (2 for a usage error).
"""

from __future__ import annotations

import json
import os
from typing import Annotated, BinaryIO

import typer
from rich.markup import escape
from rich.table import Table

from api import reportfiles
from api.cli.common import HistoryFormat, Output, emit, err, opened, prose, stdout_bytes, stdout_console
from api.cli.seal import export_lines
from projections import access

commands = typer.Typer()


# --- the event stream --------------------------------------------------------------------


@commands.command()
@prose
def export(
    after: Annotated[int, typer.Option(min=0, help="export the events after this global position")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many events")] = None,
    output: Output = None,
) -> None:
    """The event stream as JSON lines, oldest first: position, type, aggregate_id,
    version, on, recorded_at, actor, actor_organization, request_id and the event's own
    fields under data (the lines of GET /v1/audit/events), and under sealed the event's
    stored bytes with its seals, so that `ledger verify --file` checks the file on its own.

    Resumable: run again with --after the last position written to continue exactly
    where it stopped (standard error says which). Positions may have gaps.
    """
    with opened() as ledger:
        target: BinaryIO = stdout_bytes()
        if output is not None:
            try:  # readable by its owner only: the lines hold the members' personal fields in plain text
                descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(descriptor, 0o600)  # a file there before keeps no wider mode
                target = os.fdopen(descriptor, "wb")
            except OSError as error:
                err.print(f"[red]validation_error:[/red] cannot write {output}: {error.strerror}")
                raise typer.Exit(1) from None
        written, last = 0, after
        ledger.read_by_system("export", scope=str(after))
        try:
            for line in export_lines(ledger.ledger, ledger.engine.db, after):
                target.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
                written, last = written + 1, line["position"]
                if limit is not None and written >= limit:
                    break
            target.flush()
        finally:
            if output is not None:
                target.close()
    err.print(f"exported {written} events after position {after}; last position {last} "
              f"(continue with --after {last})", highlight=False)


# --- who read what ----------------------------------------------------------------------------

audit_app = typer.Typer(help="The auditor's logs.", no_args_is_help=True)
ACCESS_COLUMNS = ("position", "at", "operator_id", "organization_code", "action", "registration_no", "scope")


@audit_app.command("access")
@prose
def audit_access(
    after: Annotated[int, typer.Option(min=0, help="rows after this position")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="at most this many rows")] = 1000,
    registration_no: Annotated[str | None, typer.Option(help="only the reads of this member's record")] = None,
    format: Annotated[HistoryFormat, typer.Option(help="table (default) or json")] = HistoryFormat.table,
) -> None:
    """Who read which member's personal record, and when: the access log, oldest first
    (the rows of GET /v1/audit/access; the command line reads as the system, with no
    operator)."""
    from domain.identifiers import validate_registration_no

    with opened() as ledger:
        number = validate_registration_no(registration_no, "--registration-no") if registration_no else None
        access.setup(ledger.engine.db)
        rows = access.rows(ledger.engine.db, after, limit, number)
    if format is HistoryFormat.json:
        emit(reportfiles.report_json({"data": rows, "next_after": rows[-1]["position"] if rows else after}), None)
        return
    table = Table(*ACCESS_COLUMNS)
    for row in rows:
        table.add_row(*("" if row[c] is None else escape(str(row[c])) for c in ACCESS_COLUMNS))
    console = stdout_console()
    console.print(table)
    console.print(f"{len(rows)} rows", markup=False)
