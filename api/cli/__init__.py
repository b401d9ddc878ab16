"""The `ledger` command line: every group wired onto one Typer (`app`; `main` is the
`ledger` entry point, `python -m api.cli` runs it too).

Each group lives in a module of its own with its own Typer, and none imports this one:
`server` (serve, status, new-data-key), `seal` (rebuild, verify, checkpoint: the sealed
log), `simulate` (demo, simulate), `reports` (report monthly/annual/chart, history,
overdue, cases), `audit` (audit access, export), `organizations` (org), `operators`
(operator), `members` (member), `rosters` (import). What they share is `common` (standard
error, the settings, the store opened for one command, output); `checked` checks every
command line before a command runs.
"""

from __future__ import annotations

import typer

from api.cli.audit import audit_app
from api.cli.audit import commands as audit_commands
from api.cli.checked import CheckedGroup
from api.cli.members import member_app
from api.cli.operators import operator_app
from api.cli.organizations import org_app
from api.cli.reports import commands as report_commands
from api.cli.reports import report_app
from api.cli.rosters import import_app
from api.cli.seal import commands as seal_commands
from api.cli.server import commands as server_commands
from api.cli.simulate import commands as simulate_commands

__all__ = ["app", "main"]

app = typer.Typer(help="The transfer ledger (党员组织关系接转台账).", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=CheckedGroup)
# Commands of the top level (a Typer added without a name adds its commands to this one).
app.add_typer(server_commands)
app.add_typer(seal_commands)
app.add_typer(simulate_commands)
app.add_typer(report_commands)
app.add_typer(audit_commands)
# Groups of commands.
app.add_typer(org_app, name="org")
app.add_typer(operator_app, name="operator")
app.add_typer(member_app, name="member")
app.add_typer(report_app, name="report")
app.add_typer(audit_app, name="audit")
app.add_typer(import_app, name="import")


def main() -> None:
    app()
