"""`ledger org`: organizations the command line sets up (a root department)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import fail, open_ledger
from domain.errors import LedgerError
from domain.identifiers import parse_iso_date

org_app = typer.Typer(help="Organizations.", no_args_is_help=True)


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
