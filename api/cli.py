"""The `ledger` command line: serve the API, set up roots and operators, load the demo,
rebuild and verify the views, print reports."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.settings import Settings

app = typer.Typer(help="The transfer ledger (党员组织关系接转台账).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
operator_app = typer.Typer(help="Operators and their bearer tokens.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(operator_app, name="operator")
app.add_typer(report_app, name="report")
err = Console(stderr=True)


def settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]
    except Exception as error:  # pydantic's message names the missing setting
        err.print(f"[red]configuration error:[/red] {error}")
        err.print("Set LEDGER_ID_KEY (a secret of 16+ characters) and, for PostgreSQL, LEDGER_DATABASE_URL.")
        raise typer.Exit(2) from None


def open_ledger() -> Ledger:
    return Ledger(settings().event_store_env())


def fail(error: LedgerError) -> None:
    err.print(f"[red]{error.code}:[/red] {error.detail}")
    raise typer.Exit(1)


def progress_bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the HTTP API on the configured store (creates its tables if missing)."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings()), host=host, port=port, log_level="info")


@app.command()
def status(field: Annotated[str | None, typer.Option(help="print only this field")] = None) -> None:
    """The store's state: its last position and its first root department."""
    ledger = open_ledger()
    root = next((e.code for _, e in ledger.read_events(limit=100)  # type: ignore[attr-defined]
                 if type(e).__qualname__ == "Organization.Registered" and e.parent_code is None), "")
    info = {"position": ledger.max_position(), "root": root,
            "store": settings().database_url.split("@")[-1]}
    typer.echo(info[field] if field else json.dumps(info, ensure_ascii=False))


@org_app.command("add-root")
def add_root(
    code: Annotated[str, typer.Option(help="the department's code")],
    name: Annotated[str, typer.Option(help="its name, e.g. 某市委组织部")],
    region: Annotated[str, typer.Option(help="6-digit region code")],
    on: Annotated[str | None, typer.Option(help="effective date YYYY-MM-DD")] = None,
) -> None:
    """Register a root department (only set-up can)."""
    ledger = open_ledger()
    try:
        recorded = ledger.register_root(code, name, region, on=date.fromisoformat(on) if on else None)
    except LedgerError as error:
        fail(error)
    typer.echo(f"registered {code} at position {recorded.position}")


@operator_app.command("add")
def add_operator(
    role: Annotated[str, typer.Option(help="admin, clerk or auditor")],
    organization: Annotated[str, typer.Option(help="the organization code it acts on (with its subtree)")],
    name: Annotated[str, typer.Option(help="the operator's name")],
) -> None:
    """Grant an operator; prints its bearer token as the last line (shown this once)."""
    ledger = open_ledger()
    try:
        recorded, token = ledger.grant_operator(name, role, organization)
    except LedgerError as error:
        fail(error)
    typer.echo(f"operator_id: {recorded.code}")
    typer.echo(token)


@operator_app.command("revoke")
def revoke_operator(operator_id: str) -> None:
    """Revoke an operator's token."""
    ledger = open_ledger()
    try:
        ledger.revoke_operator(operator_id)
    except LedgerError as error:
        fail(error)
    typer.echo(f"revoked {operator_id}")


def _engine(ledger: Ledger):  # type: ignore[no-untyped-def]
    from projections.db import ViewDatabase
    from projections.engine import ProjectionEngine

    return ProjectionEngine(ledger, ViewDatabase(settings().database_url))


@app.command()
def rebuild() -> None:
    """Rebuild every view from the first event."""
    ledger = open_ledger()
    engine = _engine(ledger)
    with progress_bar("rebuilding") as bar:
        task = bar.add_task("events", total=ledger.max_position())
        position = engine.rebuild(progress=lambda done, total: bar.update(task, completed=done, total=total))
    typer.echo(f"rebuilt to position {position}")


@app.command()
def verify() -> None:
    """Re-derive every view from the events and compare; exit 1 on any mismatch."""
    ledger = open_ledger()
    engine = _engine(ledger)
    with progress_bar("verifying") as bar:
        task = bar.add_task("events", total=engine.position)
        result = engine.verify(progress=lambda done, total: bar.update(task, completed=done, total=total))
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    raise typer.Exit(0 if result["ok"] else 1)


@report_app.command("monthly")
def report_monthly(
    organization: Annotated[str, typer.Option(help="organization code")],
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    format: Annotated[str, typer.Option(help="json or csv")] = "json",
) -> None:
    """The monthly report of an organization's subtree."""
    from api.routes.reports import flatten
    from projections.queries import Queries

    ledger = open_ledger()
    engine = _engine(ledger)
    engine.catch_up()
    try:
        report = Queries(engine.db).monthly_report(organization, month)
    except LedgerError as error:
        fail(error)
    if format == "csv":
        import csv

        flat = flatten(report)
        writer = csv.DictWriter(sys.stdout, fieldnames=list(flat), lineterminator="\n")
        writer.writeheader()
        writer.writerow(flat)
    else:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="the random seed: the same seed, the same city")] = 1,
    scale: Annotated[str, typer.Option(help="city (seed 001's sizes) or small (a county, for trying out)")] = "city",
) -> None:
    """Load the demo city (seed 001's sizes) into an empty store; prints an admin token last."""
    from api.demo import load_demo

    if scale not in ("city", "small"):
        err.print("[red]validation_error:[/red] --scale is city or small")
        raise typer.Exit(2)
    ledger = open_ledger()
    try:
        token = load_demo(ledger, seed=seed, progress=err, scale_name=scale)
    except LedgerError as error:
        fail(error)
    engine = _engine(ledger)
    with progress_bar("building views") as bar:
        task = bar.add_task("events", total=ledger.max_position())
        engine.catch_up(progress=lambda done, total: bar.update(task, completed=done, total=total))
    typer.echo(token)


# Command groups kept in their own modules register themselves on `app` when imported.
from api import cli_audit, cli_import, cli_simulate  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
