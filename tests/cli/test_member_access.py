"""`ledger member access NO` and `ledger member revoke-access NO`: the command line's
counterparts of POST /v1/members/{registration_no}/access and .../access/revoke."""

from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app
from tests.conftest import Store
from tests.factories import admit, build_tree

runner = CliRunner()


def test_issue_replace_and_revoke_a_members_token(env: Store) -> None:
    ledger = env.ledger()
    build_tree(ledger)
    number = admit(ledger, 1)

    first = runner.invoke(app, ["member", "access", number])
    assert first.exit_code == 0, first.output
    token = first.stdout.strip().splitlines()[-1]
    assert first.stdout.splitlines()[0] == f"registration_no: {number}"
    assert ledger.member_for_token(token) is not None

    second = runner.invoke(app, ["member", "access", number])
    replacement = second.stdout.strip().splitlines()[-1]
    assert replacement != token
    assert ledger.member_for_token(token) is None and ledger.member_for_token(replacement) is not None

    revoked = runner.invoke(app, ["member", "revoke-access", number])
    assert revoked.exit_code == 0 and ledger.member_for_token(replacement) is None

    again = runner.invoke(app, ["member", "revoke-access", number])
    assert again.exit_code == 1 and "invalid_transition" in again.stderr


def test_an_unknown_member_gets_no_token(env: Store) -> None:
    build_tree(env.ledger())
    result = runner.invoke(app, ["member", "access", "320102201501010998"])
    assert result.exit_code == 1 and result.stdout == "" and "not_found" in result.stderr
