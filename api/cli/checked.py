"""The checks every `ledger` command line gets before a command runs: each argument is one
line of text, and a usage error is one line on standard error with exit status 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from api.cli.common import err
from domain.personal import PersonalDataUnreadable
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
