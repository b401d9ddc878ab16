"""`ledger operator ensure-admin --env-file .env` (what scripts/run does at each start on a
store with data): the admin token it granted the first time is kept in the file and used
again while it is valid, so restarts don't pile up operators; a revoked (or foreign) token
is replaced by a new one, printed once."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from domain.operator import Operator
from tests.conftest import Store
from tests.domain.test_concurrency import count_events

runner = CliRunner()


def ensure_admin(env_file: Path) -> str:
    """What it printed on standard output (a new token, or nothing)."""
    result = runner.invoke(app, ["operator", "ensure-admin", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def kept(env_file: Path) -> list[str]:
    return [line.partition("=")[2] for line in env_file.read_text().splitlines()
            if line.startswith("LEDGER_ADMIN_TOKEN=")]


def test_started_twice_it_keeps_one_admin_and_its_token(env: Store, tmp_path: Path) -> None:
    ledger = env.ledger()
    ledger.register_root("XW", "玄武区委组织部", "320102", on=date(2020, 1, 1))
    env_file = tmp_path / ".env"
    env_file.write_text("LEDGER_ID_KEY=kept-as-it-was\n")
    token = ensure_admin(env_file)
    assert token.startswith("ltk_") and "\n" not in token
    assert kept(env_file) == [token]
    assert "LEDGER_ID_KEY=kept-as-it-was" in env_file.read_text().splitlines()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    operator = ledger.operator_for_token(token)
    assert operator is not None and (operator.role, operator.organization_code) == ("admin", "XW")

    assert ensure_admin(env_file) == ""  # started again: the same token, nothing printed
    assert kept(env_file) == [token]
    assert count_events(ledger, Operator.Granted) == 1


def test_a_revoked_or_foreign_token_is_replaced_by_a_new_admin(env: Store, tmp_path: Path) -> None:
    ledger = env.ledger()
    ledger.register_root("XW", "玄武区委组织部", "320102", on=date(2020, 1, 1))
    env_file = tmp_path / ".env"
    first = ensure_admin(env_file)
    operator = ledger.operator_for_token(first)
    assert operator is not None
    assert runner.invoke(app, ["operator", "revoke", str(operator.id)]).exit_code == 0
    second = ensure_admin(env_file)
    assert second not in ("", first)
    assert kept(env_file) == [second]
    assert ledger.operator_for_token(second) is not None
    # a clerk's token in the file is no admin's: replaced too
    _, clerk = ledger.grant_operator("clerk", "clerk", "XW")
    env_file.write_text(f'LEDGER_ADMIN_TOKEN="{clerk}"\n')
    third = ensure_admin(env_file)
    assert third not in ("", clerk) and kept(env_file) == [third]
    assert ensure_admin(env_file) == ""
    assert count_events(ledger, Operator.Granted) == 4  # three admins and the clerk


def test_an_empty_store_has_no_root_to_administer(env: Store, tmp_path: Path) -> None:
    result = runner.invoke(app, ["operator", "ensure-admin", "--env-file", str(tmp_path / ".env")])
    assert result.exit_code == 1
    assert not (tmp_path / ".env").exists()


def test_a_file_that_can_not_be_written_is_refused_before_anything_is_granted(env: Store, tmp_path: Path) -> None:
    """A missing directory, or a directory given as the file: one line, exit 2, no operator
    granted (the token would be kept nowhere), no traceback."""
    ledger = env.ledger()
    ledger.register_root("XW", "玄武区委组织部", "320102", on=date(2020, 1, 1))
    for env_file in (tmp_path / "nowhere" / ".env", tmp_path):
        result = runner.invoke(app, ["operator", "ensure-admin", "--env-file", str(env_file)])
        assert result.exit_code == 2, result.output
        assert result.stdout == "" and "Traceback" not in result.output
        assert result.stderr.startswith(f"validation_error: cannot write {env_file}")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()
    assert count_events(ledger, Operator.Granted) == 0
