"""What every group of the `ledger` command line shares: standard error, the settings,
the store and its views opened for one command, a refusal's exit, and output to standard
output or a file."""

from __future__ import annotations

import inspect
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NoReturn, TypeVar

import click
import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from domain.errors import LedgerError
from domain.identifiers import parse_iso_date
from domain.ledger import Ledger
from domain.organization import Organization
from domain.settings import Settings, faulty_settings, named_problems
from projections import access
from projections.engine import ProjectionEngine
from projections.queries import Queries

err = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width


def settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]
    except Exception as error:  # named by variable and problem, never with the value given
        said = named_problems(error) if isinstance(error, ValidationError) else str(error)
        err.print(f"[red]configuration error:[/red] {escape(said)}", highlight=False)
        if isinstance(error, ValidationError) and faulty_settings(error) & {"LEDGER_ID_KEY", "LEDGER_DATA_KEYS"}:
            # the secrets every store needs, and no default can stand for
            err.print("Set LEDGER_ID_KEY (a secret of 16+ characters), LEDGER_DATA_KEYS (`id:key`, see README) "
                      "and, for PostgreSQL, LEDGER_DATABASE_URL.")
        raise typer.Exit(2) from None


def closed_with_command(close: Callable[[], None]) -> None:
    """`close` called when the command ends, whatever its end (a refusal, an error): its
    connections go then, not when the process ends (a test's runner runs many commands in
    one process, each with its own pool)."""
    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().call_on_close(close)


def open_ledger() -> Ledger:
    configured = settings()
    try:
        ledger = Ledger(configured.event_store_env())
        closed_with_command(ledger.close)
        return ledger
    except ValueError as error:  # a setting the ledger refuses, such as a short LEDGER_ID_KEY
        err.print(f"[red]configuration error:[/red] {error}")
        raise typer.Exit(2) from None
    except PersistenceError as error:
        err.print(f"[red]store_unavailable:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None


def open_engine(ledger: Ledger) -> ProjectionEngine:
    """The projection engine of the configured store's views."""
    from projections.db import ViewDatabase

    engine = ProjectionEngine(ledger, ViewDatabase(settings().database_url))
    closed_with_command(engine.db.close)
    return engine


def fail(error: LedgerError) -> NoReturn:
    """`code: words` on standard error, exit 1. The words may quote what was typed: they
    are printed as they are, never read as console markup."""
    err.print(f"[red]{error.code}:[/red] {escape(error.detail)}", highlight=False)
    raise typer.Exit(1)


def progress_bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False)


def first_root(ledger: Ledger) -> str:
    """The code of the first root department registered ("" in an empty store)."""
    return next((e.code for _, e in ledger.read_events(limit=100)
                 if isinstance(e, Organization.Registered) and e.parent_code is None), "")


# --- options shared by several commands ---------------------------------------------------


class Lang(StrEnum):
    zh = "zh"
    en = "en"


class OperatorRole(StrEnum):
    """An operator's role (domain/vocabulary.py ROLES)."""

    admin = "admin"
    clerk = "clerk"
    auditor = "auditor"


class HistoryFormat(StrEnum):
    table = "table"
    json = "json"


Output = Annotated[Path | None, typer.Option(help="write to this file instead of standard output",
                                             dir_okay=False)]

Command = TypeVar("Command", bound=Callable[..., Any])


def prose(command: Command) -> Command:
    """Let `--help` wrap the docstring's paragraphs to the terminal (typer keeps line breaks)."""
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    command.__doc__ = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    return command


# --- the store and its views, for one command ----------------------------------------------


class Opened:
    """The ledger and its views, for one command."""

    def __init__(self, ledger: Ledger, engine: ProjectionEngine) -> None:
        self.ledger, self.engine = ledger, engine

    def queries(self) -> Queries:
        """Queries on the views, once they have applied every recorded event."""
        self.engine.catch_up()
        return Queries(self.engine.db)

    def read_by_system(self, action: str, registration_no: str | None = None, scope: str | None = None) -> None:
        """A read of personal records from the command line (as the system): one row of the
        access log (projections/access.py)."""
        access.setup(self.engine.db)
        access.record(self.engine.db, action, operator_id=None, organization_code=None,
                      registration_no=registration_no, scope=scope)


@contextmanager
def opened() -> Iterator[Opened]:
    """Open the store; a refusal inside exits 1 with its code and words."""
    ledger = open_ledger()
    try:
        engine = open_engine(ledger)
    except (psycopg.Error, sqlite3.Error) as error:
        ledger.close()
        unavailable(error)
    try:
        yield Opened(ledger, engine)
    except LedgerError as error:
        fail(error)
    except (PersistenceError, psycopg.Error, sqlite3.Error) as error:
        unavailable(error)
    finally:
        engine.db.close()
        ledger.close()


def unavailable(error: Exception) -> NoReturn:
    err.print(f"[red]store_unavailable:[/red] {str(error).strip()}")
    raise typer.Exit(2) from None


def parse_day(text: str, field: str) -> date:
    return parse_iso_date(text, f"--{field}")


# --- output -------------------------------------------------------------------------------


def stdout_bytes() -> BinaryIO:
    sys.stdout.flush()  # what was echoed as text goes first
    return sys.stdout.buffer


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def unwritable(path: Path) -> str | None:
    """Why a file could not be written at `path`, or None: its directory missing or not
    writable, the path something other than a regular file, or a file not writable."""
    directory = path.parent
    if not directory.is_dir():
        return f"its directory {directory} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"its directory {directory} is not writable"
    if path.exists() and not path.is_file():
        return "it is not a regular file"
    if path.exists() and not os.access(path, os.W_OK):
        return "it is not writable"
    return None


def check_output(output: Path | None, *, binary: bool = False) -> None:
    """Refuse, as `emit` would, output it could not write: before anything is recorded (a
    month filed, say), so that a refusal records nothing."""
    if output is not None:
        problem = unwritable(output)
        if problem is not None:
            err.print(f"[red]validation_error:[/red] cannot write {escape(str(output))}: {problem}", highlight=False)
            raise typer.Exit(1)
        return
    if binary and stdout_is_terminal():
        binary_on_terminal()


def binary_on_terminal() -> NoReturn:
    err.print("[red]validation_error:[/red] an Excel file is binary: give --output FILE.xlsx "
              "or redirect standard output to a file")
    raise typer.Exit(2)


def emit(content: bytes, output: Path | None, *, binary: bool = False) -> None:
    """Write to the file, or to standard output; binary content is refused on a terminal."""
    if output is not None:
        try:
            output.write_bytes(content)
        except OSError as error:
            err.print(f"[red]validation_error:[/red] cannot write {output}: {error.strerror}")
            raise typer.Exit(1) from None
        err.print(f"wrote {output} ({len(content)} bytes)", highlight=False)
        return
    if binary and stdout_is_terminal():
        binary_on_terminal()
    stream = stdout_bytes()
    stream.write(content)
    stream.flush()


def stdout_console() -> Console:
    """Tables on standard output: the terminal's width, or 160 columns into a pipe."""
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False, soft_wrap=False)
