"""`ledger operator`: operators and their bearer tokens (add, ensure-admin, revoke)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.cli.common import OperatorRole, err, fail, first_root, open_ledger, unwritable
from domain.errors import LedgerError

operator_app = typer.Typer(help="Operators and their bearer tokens.", no_args_is_help=True)


@operator_app.command("add")
def add_operator(
    role: Annotated[OperatorRole, typer.Option(help="what it may do (domain/jurisdiction.py)")],
    organization: Annotated[str, typer.Option(help="the organization code it acts on (with its subtree)")],
    name: Annotated[str, typer.Option(help="the operator's name")],
) -> None:
    """Grant an operator; prints its bearer token as the last line (shown this once)."""
    ledger = open_ledger()
    try:
        recorded, token = ledger.grant_operator(name, role.value, organization)
    except LedgerError as error:
        fail(error)
    typer.echo(f"operator_id: {recorded.code}")
    typer.echo(token)


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


def writable_setting_file(env_file: Path) -> None:
    """Exit 2 with one line when the .env file could not be kept (`keep_setting`: its
    directory missing or not writable, the file not a regular one or not readable): checked
    before anything is recorded, so that a token is never granted to be kept nowhere."""
    problem = unwritable(env_file)
    if problem is None and env_file.exists() and not os.access(env_file, os.R_OK):
        problem = "it is not readable"
    if problem is not None:
        err.print(f"[red]validation_error:[/red] cannot write {escape(str(env_file))}: {problem}", highlight=False)
        raise typer.Exit(2)


def keep_setting(env_file: Path, name: str, value: str) -> None:
    """Write `NAME=value` into a .env file (replacing the setting's lines, keeping the others),
    readable by its owner only (mode 600), in one rename. A failure is one line, exit 2."""
    try:
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
    except (OSError, UnicodeError) as error:
        said = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        err.print(f"[red]validation_error:[/red] cannot write {escape(str(env_file))}: {said}", highlight=False)
        raise typer.Exit(2) from None


@operator_app.command("ensure-admin")
def ensure_admin(
    env_file: Annotated[Path, typer.Option(help="the file that keeps the token, as LEDGER_ADMIN_TOKEN=...")]
    = Path(".env"),
    name: Annotated[str, typer.Option(help="the name of an operator granted")] = "admin (scripts/run)",
) -> None:
    """An admin token for the first root, kept in ENV_FILE: the one kept there while it is an
    active admin of that root, else a new one, granted and kept there (mode 600). Prints a
    new token as the only line on standard output; nothing when the kept one is still valid."""
    writable_setting_file(env_file)
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
    typer.echo(token)  # first: should the file fail after all, the token is not lost
    keep_setting(env_file, ADMIN_TOKEN, token)
    err.print(f"granted admin operator {recorded.code} of {root}; its token is kept in {env_file} ({ADMIN_TOKEN})")


@operator_app.command("revoke")
def revoke_operator(operator_id: str) -> None:
    """Revoke an operator's token."""
    ledger = open_ledger()
    try:
        ledger.revoke_operator(operator_id)
    except LedgerError as error:
        fail(error)
    typer.echo(f"revoked {operator_id}")
