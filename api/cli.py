"""The `ledger` command line: serve the API, set up roots and operators, load the demo,
rebuild and verify the views (reports and the auditor's commands: api/cli_audit.py)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperGroup

from domain.errors import LedgerError
from domain.identifiers import parse_iso_date
from domain.ledger import Ledger
from domain.organization import Organization
from domain.personal import PersonalDataUnreadable
from domain.settings import Settings
from domain.text import incoming_problem

try:  # typer 0.2x carries its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - typer with click as a dependency
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # type: ignore[assignment,no-redef]


def argument_name(args: Sequence[str], index: int) -> str:
    """How a refusal names a command-line argument: its option, else its place."""
    arg = args[index]
    if arg.startswith("--") and "=" in arg:
        return arg.split("=", 1)[0]
    if index > 0 and args[index - 1].startswith("-") and len(args[index - 1]) > 1:
        return args[index - 1]
    return f"argument {index + 1}"


class CheckedGroup(TyperGroup):
    """The `ledger` command: every argument is one line of text, checked once before any
    command runs (no lone surrogate, which is how an undecodable byte reaches Python's
    argv, no NUL, no other control character, tab and line breaks included: domain/text.py).
    A refusal prints `validation_error: ...` naming the argument, not its value, and exits 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        for index, arg in enumerate(args):
            problem = incoming_problem(arg, single_line=True) if isinstance(arg, str) else None
            if problem is not None:
                err.print(f"[red]validation_error:[/red] {argument_name(args, index)} contains {problem}",
                          highlight=False)
                raise typer.Exit(2)
        return super().parse_args(ctx, args)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        """A usage error (an unknown option or option value, a missing argument) is one line
        on standard error, `usage_error: ...` with the command whose help says more, and
        exit status 2; a command's own exit status is kept."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except NoArgsIsHelpError as error:
            typer.echo(error.ctx.get_help(), err=True)
            sys.exit(2)
        except UsageError as error:
            sys.exit(usage_error(error))
        except ClickException as error:
            err.print(f"[red]error:[/red] {escape(one_line(error.format_message()))}", highlight=False)
            sys.exit(error.exit_code)
        except typer.Abort:
            err.print("aborted")
            sys.exit(1)
        except PersonalDataUnreadable as error:  # the data keys configured don't open a stored event
            err.print(f"[red]configuration error:[/red] {escape(str(error))}", highlight=False)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


def one_line(text: str) -> str:
    return " ".join(text.split())


def usage_error(error: UsageError) -> int:
    """Print a usage error as one line, naming the command's --help; its exit status (2)."""
    where = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
    message = one_line(error.format_message()).replace("Value error, ", "")
    err.print(f"[red]usage_error:[/red] {escape(message)}{escape(where)}", highlight=False)
    return error.exit_code


app = typer.Typer(help="The transfer ledger (党员组织关系接转台账).", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=CheckedGroup)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
operator_app = typer.Typer(help="Operators and their bearer tokens.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(operator_app, name="operator")
member_app = typer.Typer(help="Members' own access (self-service): their tokens.", no_args_is_help=True)
app.add_typer(member_app, name="member")
err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width


def settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]
    except Exception as error:  # pydantic's message names the missing setting
        err.print(f"[red]configuration error:[/red] {error}")
        err.print("Set LEDGER_ID_KEY (a secret of 16+ characters), LEDGER_DATA_KEYS (`id:key`, see README) and, "
                  "for PostgreSQL, LEDGER_DATABASE_URL.")
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
        err.print(f"[red]store_unavailable:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None


def fail(error: LedgerError) -> None:
    """`code: words` on standard error, exit 1. The words may quote what was typed: they
    are printed as they are, never read as console markup."""
    err.print(f"[red]{error.code}:[/red] {escape(error.detail)}", highlight=False)
    raise typer.Exit(1)


def progress_bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False)


@app.command()
def serve(
    host: str = "127.0.0.1", port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help=(
        "serve processes on host:port; above 1 (PostgreSQL only) the tables are created first, "
        "once, and the views are kept by a projection worker this command starts too"))] = 1,
) -> None:
    """Run the HTTP API on the configured store (creates its tables if missing)."""
    import uvicorn

    from api.app import create_app

    if workers > 1:
        from api import cluster

        try:
            cluster.serve(settings(), host, port, workers)
        except ValueError as error:
            err.print(f"[red]usage_error:[/red] {escape(str(error))}", highlight=False)
            raise typer.Exit(2) from None
        return
    uvicorn.run(create_app(settings(), settle=True), host=host, port=port, log_level="info")


def first_root(ledger: Ledger) -> str:
    """The code of the first root department registered ("" in an empty store)."""
    return next((e.code for _, e in ledger.read_events(limit=100)
                 if isinstance(e, Organization.Registered) and e.parent_code is None), "")


class StatusField(StrEnum):
    position = "position"
    root = "root"
    store = "store"
    lag = "lag"


@app.command()
def status(field: Annotated[StatusField | None, typer.Option(help="print only this field")] = None) -> None:
    """The store's state: its last position, its first root department, and how far the
    views trail the log (`lag`: log_position, views_position, behind: events not yet
    applied to the views)."""
    import sqlite3

    import psycopg
    from eventsourcing.persistence import PersistenceError

    from projections.db import ViewDatabase
    from projections.engine import tracked_position, views_lag

    ledger = open_ledger()
    root = first_root(ledger)
    try:
        views = ViewDatabase(settings().database_url)
        try:
            lag = views_lag(ledger, tracked_position(views))
        finally:
            views.close()
    except (psycopg.Error, sqlite3.Error, PersistenceError) as error:
        err.print(f"[red]store_unavailable:[/red] {escape(str(error).strip())}")
        raise typer.Exit(2) from None
    info = {"position": ledger.max_position(), "root": root,
            "store": settings().database_url.split("@")[-1], "lag": lag}
    if field and isinstance(info.get(field.value), dict):
        typer.echo(json.dumps(info[field.value]))
    else:
        typer.echo(info[field.value] if field else json.dumps(info, ensure_ascii=False))


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
        recorded = ledger.register_root(code, name, region, on=parse_iso_date(on, "--on") if on else None)
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


@member_app.command("access")
def member_access(
    registration_no: Annotated[str, typer.Argument(help="the member's registration number")],
) -> None:
    """Issue a member's own token (it replaces the member's earlier one); prints it as the last
    line (shown this once). With it the member uses /v1/me and the member's web pages."""
    ledger = open_ledger()
    try:
        recorded, token = ledger.issue_member_access(registration_no)
    except LedgerError as error:
        fail(error)
    typer.echo(f"registration_no: {recorded.registration_no}")
    typer.echo(token)


@member_app.command("revoke-access")
def revoke_member_access(
    registration_no: Annotated[str, typer.Argument(help="the member's registration number")],
) -> None:
    """Revoke a member's own token."""
    ledger = open_ledger()
    try:
        recorded = ledger.revoke_member_access(registration_no)
    except LedgerError as error:
        fail(error)
    typer.echo(f"revoked the access of member {recorded.registration_no}")


ADMIN_TOKEN = "LEDGER_ADMIN_TOKEN"


def read_setting(env_file: Path, name: str) -> str | None:
    """A `NAME=value` line's value in a .env file (the last one), or None."""
    try:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    found = None
    for line in lines:
        key, equals, value = line.strip().removeprefix("export ").partition("=")
        if equals and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found = value
    return found


def keep_setting(env_file: Path, name: str, value: str) -> None:
    """Write `NAME=value` into a .env file (replacing the setting's lines, keeping the others),
    readable by its owner only (mode 600), in one rename."""
    try:
        lines = env_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if line.strip().removeprefix("export ").partition("=")[0].strip() != name]
    partial = env_file.with_name(env_file.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join([*kept, f"{name}={value}"]) + "\n")
    os.replace(partial, env_file)
    env_file.chmod(0o600)


@operator_app.command("ensure-admin")
def ensure_admin(
    env_file: Annotated[Path, typer.Option(help="the file that keeps the token, as LEDGER_ADMIN_TOKEN=...")]
    = Path(".env"),
    name: Annotated[str, typer.Option(help="the name of an operator granted")] = "admin (scripts/run)",
) -> None:
    """An admin token for the first root, kept in ENV_FILE: the one kept there while it is an
    active admin of that root, else a new one, granted and kept there (mode 600). Prints a
    new token as the only line on standard output; nothing when the kept one is still valid."""
    ledger = open_ledger()
    root = first_root(ledger)
    if not root:
        err.print("[red]not_found:[/red] the store has no root department")
        raise typer.Exit(1)
    kept = read_setting(env_file, ADMIN_TOKEN)
    operator = ledger.operator_for_token(kept) if kept else None
    if operator is not None and (operator.role, operator.organization_code) == ("admin", root):
        err.print(f"the admin token kept in {env_file} ({ADMIN_TOKEN}) is still valid: operator {operator.id}")
        return
    try:
        recorded, token = ledger.grant_operator(name, "admin", root)
    except LedgerError as error:
        fail(error)
    keep_setting(env_file, ADMIN_TOKEN, token)
    err.print(f"granted admin operator {recorded.code} of {root}; its token is kept in {env_file} ({ADMIN_TOKEN})")
    typer.echo(token)


@app.command("new-data-key")
def new_data_key(
    key_id: Annotated[str | None, typer.Option("--id", help="the key's id (default: k and the UTC date and time)")]
    = None,
) -> None:
    """A fresh data key as an `id:key` entry for LEDGER_DATA_KEYS, on standard output (to
    rotate, put it first and keep the older ones after it: README "Personal data at rest")."""
    from domain.personal import DataKeyError, DataKeys, new_key_entry

    entry = new_key_entry(key_id)
    try:
        DataKeys(entry)
    except DataKeyError as error:
        err.print(f"[red]validation_error:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(entry)


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
    """Rebuild every view from the first event, once the sealed log checks out: a log whose
    chain breaks is refused (exit 1, naming the position), never rebuilt over."""
    from api.cli_seal import report_break, verify_log

    ledger = open_ledger()
    engine = _engine(ledger)
    told = False

    def advance(done: int, total: int) -> None:
        nonlocal told
        bar.update(task, completed=done, total=total)
        if done >= total and not told:  # the rest takes a while on a large store: say what it is
            told = True
            bar.console.print("every event applied: writing the last batch, then building the views' indexes")

    with progress_bar("checking") as bar:
        verdict = verify_log(ledger, engine.db, None, None, bar)
    if not verdict.ok:
        report_break(verdict)
        typer.echo(json.dumps({"chain": verdict.as_dict()}, indent=2))
        err.print("[red]rebuild refused:[/red] the views would be derived from a log that is not the one "
                  "sealed; find out what changed it first")
        raise typer.Exit(1)
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
    checkpoint: Annotated[Path | None, typer.Option(
        help="a file of `ledger checkpoint`: also prove the log still extends it", dir_okay=False)] = None,
    file: Annotated[Path | None, typer.Option(
        help="check this file of `ledger export` on its own (no store), not the store", dir_okay=False)] = None,
) -> None:
    """Re-derive every view from the events and compare, and recompute the sealed log's
    chain from the stored bytes; exit 1 on any mismatch or break.

    Prints the result as JSON on standard output (`chain`: {ok, events, unsealed,
    first_bad_position, reason}), and each mismatch (view table, row key, live row,
    re-derived row) on standard error. The views are checked as they stand, at their
    position: `lag` says how far that trails the log, and standard error says so when it
    does. With --file only the exported file is checked."""
    from api.cli_seal import (
        checkpoint_key,
        file_keys,
        read_checkpoint,
        report_break,
        verify_access_log,
        verify_file,
        verify_log,
    )

    found = read_checkpoint(checkpoint) if checkpoint is not None else None
    if file is not None:
        key = checkpoint_key() if found is not None else None
        try:
            with file.open("rb") as lines:
                verdict = verify_file(lines, found, key, file_keys())
        except OSError as error:
            err.print(f"[red]validation_error:[/red] cannot read {file}: {error.strerror}")
            raise typer.Exit(2) from None
        typer.echo(json.dumps({"ok": verdict.ok, "chain": verdict.as_dict()}, indent=2))
        report_break(verdict)
        raise typer.Exit(0 if verdict.ok else 1)
    key = checkpoint_key(settings()) if found is not None else None
    ledger = open_ledger()
    engine = _engine(ledger)
    with progress_bar("verifying") as bar:
        chain = verify_log(ledger, engine.db, found, key, bar)
        access_chain = verify_access_log(engine.db)
        task = bar.add_task("events", total=engine.position)
        result = engine.verify(progress=lambda done, total: bar.update(task, completed=done, total=total),
                               limit=show)
    result["lag"] = lag = engine.lag(result["position"])
    result["chain"] = chain.as_dict()
    result["access_chain"] = access_chain.as_dict()
    views_ok = result["ok"]
    result["ok"] = views_ok and chain.ok and access_chain.ok
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    report_break(chain)
    report_break(access_chain, "access log")
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
    if not views_ok:
        err.print(f"[red]verify failed:[/red] {result['mismatch_count']} mismatches; `ledger rebuild` "
                  "re-derives the views from the events")
    raise typer.Exit(0 if result["ok"] else 1)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="the random seed: the same seed, the same city")] = 1,
    scale: Annotated[str, typer.Option(help="city (seed 001's sizes) or small (a county, for trying out)")] = "city",
    env_file: Annotated[Path | None, typer.Option(help="also keep the admin token in this file, as "
                                                       "LEDGER_ADMIN_TOKEN=... (see operator ensure-admin)")] = None,
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
    from projections.sealer import seal_with_progress

    engine = _engine(ledger)
    with progress_bar("sealing") as bar:
        seal_with_progress(ledger, engine.db, bar)
    with progress_bar("building views") as bar:
        task = bar.add_task("events", total=ledger.max_position())
        engine.catch_up(progress=lambda done, total: bar.update(task, completed=done, total=total))
    if env_file is not None:
        keep_setting(env_file, ADMIN_TOKEN, token)
    typer.echo(token)


# Command groups kept in their own modules register themselves on `app` when imported.
from api import cli_audit, cli_import, cli_seal, cli_simulate  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":  # `python -m api.cli`: run the imported module's app, which has every group
    from api.cli import main as imported_main

    imported_main()
