"""`ledger import`: organizations and members from CSV and Excel rosters.

The logic is in `api.importing`; these commands only wire it to the configured store and
show its progress and problems.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli.common import err, fail, open_ledger
from api.importing import COLUMNS, ImportFileError, Result, import_file
from api.importing.parts import MAX_WORKERS, PARALLEL_FROM_ROWS, WorkerFailed
from domain.errors import LedgerError
from domain.identifiers import parse_iso_date

PROGRESS_FROM_ROWS = 2000  # smaller files import without a progress bar

import_app = typer.Typer(
    help="Import rosters (organizations, then members) from CSV or Excel (.xlsx) files. Every row is "
    "checked first; a file with any bad row records nothing and lists every problem as "
    "FILE:ROW:COLUMN: CODE: DETAIL (exit 1). Rows already in the ledger unchanged are skipped, so "
    "importing a file again records nothing new. The import acts as the system, on the store of "
    "LEDGER_DATABASE_URL.",
    no_args_is_help=True,
)


def _headings(kind: str) -> str:
    return "; ".join(
        f"{c.name} / {c.chinese[0]}{'' if c.required else ' (optional)'}" for c in COLUMNS[kind]
    )


FileArg = Annotated[Path, typer.Argument(help="a .csv (UTF-8, with or without BOM, or GB18030) or .xlsx file",
                                         show_default=False)]
EncodingOpt = Annotated[str | None, typer.Option(
    help="the CSV file's encoding (default: UTF-8 if it decodes, else GB18030)")]
SheetOpt = Annotated[str | None, typer.Option(help="the Excel sheet to read (default: the first)")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="check every row, record nothing")]
OnOpt = Annotated[str | None, typer.Option(help="effective date of what is recorded, YYYY-MM-DD (default today)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON")]
WorkersOpt = Annotated[int | None, typer.Option(
    min=1, show_default=False,
    help="processes that judge and record the file's rows, split by organization (default: one per core, "
    f"at most {MAX_WORKERS}, for a file of {PARALLEL_FROM_ROWS:,} rows or more; else 1)")]


def _run(kind: str, file: Path, encoding: str | None, sheet: str | None, dry_run: bool, on: str | None,
         as_json: bool, workers: int | None = None) -> None:
    try:
        day = parse_iso_date(on, "--on") if on else None
    except LedgerError:
        err.print("[red]validation_error:[/red] --on is a date YYYY-MM-DD")
        raise typer.Exit(2) from None
    ledger = open_ledger()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=err)
    tasks: dict[str, object] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if total < PROGRESS_FROM_ROWS:
            return
        if not tasks:
            bar.start()
        if phase not in tasks:
            tasks[phase] = bar.add_task(f"{kind}: {phase}", total=total)
        bar.update(tasks[phase], completed=done, total=total)  # type: ignore[arg-type]

    try:
        result = import_file(ledger, file, kind, encoding=encoding, sheet=sheet, on=day, dry_run=dry_run,
                             progress=progress, workers=workers)
    except ImportFileError as error:
        typer.echo(f"validation_error: {error}", err=True)
        raise typer.Exit(2) from None
    except LedgerError as error:
        fail(error)
    except WorkerFailed as error:  # what it recorded before is skipped when the file is imported again
        typer.echo(f"import stopped: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        if tasks:
            bar.stop()
        ledger.close()
    _report(result, dry_run, as_json)


def _report(result: Result, dry_run: bool, as_json: bool) -> None:
    for problem in result.problems:
        typer.echo(str(problem), err=True)
    if result.ignored_columns:
        typer.echo(f"ignored columns: {', '.join(result.ignored_columns)}", err=True)
    summary = {
        "file": result.file, "kind": result.kind, "rows": result.rows,
        ("would_record" if dry_run else "recorded"): result.recorded,
        "already_recorded": result.skipped, "problems": len(result.problems), "position": result.position,
        "encoding": result.encoding,
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    elif result.problems:
        if result.recorded and not dry_run:  # the store changed while recording
            outcome = (f"stopped after recording {result.recorded} rows (they are skipped when the file "
                       "is imported again)")
        else:
            outcome = "nothing recorded"
        typer.echo(f"{len(result.problems)} problem(s) in {result.file}: {outcome}", err=True)
    else:
        verb = "would record" if dry_run else "recorded"
        typer.echo(f"{result.file}: {result.rows} rows, {verb} {result.recorded}, "
                   f"{result.skipped} already recorded" + ("" if dry_run else f", position {result.position}"))
    if result.problems:
        raise typer.Exit(1)


@import_app.command("organizations")
def import_organizations(file: FileArg, encoding: EncodingOpt = None, sheet: SheetOpt = None,
                         dry_run: DryRunOpt = False, on: OnOpt = None, as_json: JsonOpt = False) -> None:
    """Import organizations. Parents may come earlier or later in the file, or be in the ledger
    already; a row without a parent is a root department."""
    _run("organizations", file, encoding, sheet, dry_run, on, as_json)


@import_app.command("members")
def import_members(file: FileArg, encoding: EncodingOpt = None, sheet: SheetOpt = None,
                   dry_run: DryRunOpt = False, on: OnOpt = None, as_json: JsonOpt = False,
                   workers: WorkersOpt = None) -> None:
    """Import members with their registration numbers into organizations already in the ledger.
    A big file is judged and recorded by several processes at once, each with the rows of its
    own organizations; it is still all or nothing."""
    _run("members", file, encoding, sheet, dry_run, on, as_json, workers)


import_organizations.__doc__ = f"{import_organizations.__doc__}\n\nColumns: {_headings('organizations')}."
import_members.__doc__ = f"{import_members.__doc__}\n\nColumns: {_headings('members')}."
