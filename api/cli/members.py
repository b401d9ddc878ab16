"""`ledger member`: members' own access (self-service): their tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import fail, open_ledger
from domain.errors import LedgerError

member_app = typer.Typer(help="Members' own access (self-service): their tokens.", no_args_is_help=True)


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
