"""The `ledger` command line setting up a store (a root, operators, the demo) and reading it
back (status, a report, rebuild, verify), through typer's runner, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from tests.conftest import Store

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_set_up_a_root_and_an_operator_whose_token_is_the_last_line(env: Store) -> None:
    code, out = run("org", "add-root", "--code", "XW", "--name", "玄武区委组织部", "--region", "320102",
                    "--on", "2020-01-01")
    assert code == 0, out
    code, out = run("operator", "add", "--role", "admin", "--organization", "XW", "--name", "张三")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    operator = env.ledger().operator_for_token(token)
    assert operator is not None and (operator.role, operator.organization_code) == ("admin", "XW")
    code, out = run("status")
    assert json.loads(out)["root"] == "XW"


def test_refusals_exit_non_zero_with_the_code(env: Store) -> None:
    code, _ = run("operator", "add", "--role", "admin", "--organization", "NOWHERE", "--name", "x")
    assert code == 1
    code, _ = run("org", "add-root", "--code", "XW", "--name", "n", "--region", "12")
    assert code == 1


def test_demo_then_report_rebuild_and_verify(env: Store, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    code, out = run("demo", "--scale", "small", "--env-file", str(env_file))
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert env.ledger().operator_for_token(token) is not None
    # scripts/run keeps the demo's admin token, and uses it again at the next start
    assert env_file.read_text() == f"LEDGER_ADMIN_TOKEN={token}\n"
    assert run("operator", "ensure-admin", "--env-file", str(env_file)) == (0, "")
    assert env_file.read_text() == f"LEDGER_ADMIN_TOKEN={token}\n"
    root = json.loads(run("status")[1])["root"]
    code, out = run("report", "monthly", "--organization", root, "--month", "2026-10")
    assert code == 0, out
    report = json.loads(out)
    assert report["closing"] == report["held"] + report["in_transit"] > 0
    code, csv_out = run("report", "monthly", "--organization", root, "--month", "2026-10", "--format", "csv",
                      "--lang", "en")
    header, row = csv_out.strip().splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["closing"] == str(report["closing"])
    assert run("rebuild")[0] == 0
    code, out = run("verify")
    assert code == 0
    assert json.loads(out[out.index("{"):])["ok"] is True
    # the hosted members' page and the cases page have something to show
    queries = env.queries()
    hosted, _ = queries.certificates(root, status="open", side="host")
    assert [c for c in hosted if c["kind"] == "mobile" and c["host_organization_code"]]
    cases, _ = queries.cases(root, env.ledger().today(), status="open")
    assert cases and cases[0]["name"]
    code, _ = run("demo", "--scale", "small")
    assert code == 1  # only into an empty store


def test_demo_refuses_an_env_file_it_could_not_write_before_loading_anything(env: Store, tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--scale", "small", "--env-file", str(tmp_path / "nowhere" / ".env")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"validation_error: cannot write {tmp_path / 'nowhere' / '.env'}")
    assert "Traceback" not in result.output and result.stdout == ""
    assert env.ledger().max_position() == 0  # nothing loaded: the demo can still be loaded
