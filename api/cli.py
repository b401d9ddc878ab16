"""The `ledger` command line: serve the API, set up roots and operators, load the demo,
rebuild and verify the views (reports and the auditor's commands: api/cli_audit.py)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.organization import Organization
from domain.settings import Settings

app = typer.Typer(help="The transfer ledger (党员组织关系接转台账).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
operator_app = typer.Typer(help="Operators and their bearer tokens.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(operator_app, name="operator")
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width


def settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]
    except Exception as error:  # pydantic's message names the missing setting
        err.print(f"[red]configuration error:[/red] {error}")
        err.print("Set LEDGER_ID_KEY (a secret of 16+ characters) and, for PostgreSQL, LEDGER_DATABASE_URL.")
        raise typer.Exit(2) from None


def open_ledger() -> Ledger:
    from eventsourcing.persistence import PersistenceError

    env = settings().event_store_env()
    try:
        return Ledger(env)
    except ValueError as error:  # a setting the ledger refuses, such as a short LEDGER_ID_KEY
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    except PersistenceError as error:
        err.print(f"[red]store_unavailable:[/red] {error}")
        raise typer.Exit(2) from None


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

    uvicorn.run(create_app(settings(), settle=True), host=host, port=port, log_level="info")


@app.command()
def status(field: Annotated[str | None, typer.Option(help="print only this field")] = None) -> None:
    """The store's state: its last position, its first root department, and how far the
    views trail the log (`lag`: log_position, views_position, behind: events not yet
    applied to the views)."""
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError

    from projections.db import ViewDatabase
    from projections.engine import tracked_position, views_lag

    ledger = open_ledger()
    root = next((e.code for _, e in ledger.read_events(limit=100)
                 if isinstance(e, Organization.Registered) and e.parent_code is None), "")
    try:
        views = ViewDatabase(settings().database_url)
        try:
            lag = views_lag(ledger, tracked_position(views))
        finally:
            views.close()
    except (psycopg.Error, sqlite3.Error, PersistenceError) as error:
        err.print(f"[red]store_unavailable:[/red] {str(error).strip()}")
        raise typer.Exit(2) from None
    info = {"position": ledger.max_position(), "root": root,
            "store": settings().database_url.split("@")[-1], "lag": lag}
    if field and isinstance(info.get(field), dict):
        typer.echo(json.dumps(info[field]))
    else:
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
    told = False

    def advance(done: int, total: int) -> None:
        nonlocal told
        bar.update(task, completed=done, total=total)
        if done >= total and not told:  # the rest takes a while on a large store: say what it is
            told = True
            bar.console.print("every event applied: writing the last batch, then building the views' indexes")

    with progress_bar("rebuilding") as bar:
        task = bar.add_task("events", total=ledger.max_position())
        position = engine.rebuild(progress=advance)
    typer.echo(f"rebuilt to position {position}")


def _difference(columns: tuple[str, ...], live: tuple[object, ...] | None,
                rebuilt: tuple[object, ...] | None) -> str:
    """Which columns of a view row differ from the re-derived row (names, not values:
    view rows can hold personal data; the JSON on standard output has the rows)."""
    if live is None:
        return "missing from the view"
    if rebuilt is None:
        return "in the view but not re-derived from the events"
    changed = [name for name, a, b in zip(columns, live, rebuilt, strict=False) if a != b]
    return "differs in " + ", ".join(changed or ["its values"])


@app.command()
def verify(
    show: Annotated[int, typer.Option(min=1, help="list at most this many mismatches")] = 1000,
) -> None:
    """Re-derive every view from the events and compare; exit 1 on any mismatch.

    Prints the result as JSON on standard output, and each mismatch (view table, row
    key, live row, re-derived row) on standard error. The views are checked as they
    stand, at their position: `lag` says how far that trails the log, and standard error
    says so when it does."""
    ledger = open_ledger()
    engine = _engine(ledger)
    with progress_bar("verifying") as bar:
        task = bar.add_task("events", total=engine.position)
        result = engine.verify(progress=lambda done, total: bar.update(task, completed=done, total=total),
                               limit=show)
    result["lag"] = lag = engine.lag(result["position"])
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    if lag["behind"]:
        err.print(f"[yellow]stale:[/yellow] the views trail the log by {lag['behind']} events: this answer is "
                  f"for position {lag['views_position']}, the log is at {lag['log_position']} (the views "
                  "catch up under `ledger serve` or the worker, or with any `ledger report`)", highlight=False)
    columns = {t.name: getattr(t, "columns", ("organization_code", "month", "figure", "value"))
               for t in [*engine.tables, *engine.counters]}
    for mismatch in result["mismatches"]:
        err.print(f"[red]mismatch[/red] {mismatch['table']} {mismatch['key']}: "
                  f"{_difference(columns[mismatch['table']], mismatch['live'], mismatch['rebuilt'])}",
                  highlight=False)
    hidden = result["mismatch_count"] - len(result["mismatches"])
    if hidden > 0:
        err.print(f"... and {hidden} more mismatches (raise --show to list them)")
    if not result["ok"]:
        err.print(f"[red]verify failed:[/red] {result['mismatch_count']} mismatches; `ledger rebuild` "
                  "re-derives the views from the events")
    raise typer.Exit(0 if result["ok"] else 1)


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


if __name__ == "__main__":  # `python -m api.cli`: run the imported module's app, which has every group
    from api.cli import main as imported_main

    imported_main()
