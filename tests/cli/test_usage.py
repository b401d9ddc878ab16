"""Usage errors of the command line: one line on standard error naming the command's help,
exit status 2, never a traceback; and the help texts list each option's choices."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.common import OperatorRole
from api.cli.reports import OverdueKind
from api.cli.simulate import DemoScale, Scale
from api.simulation.trees import SCALES
from domain.vocabulary import ROLES
from projections.queries.overdue_kinds import OVERDUE_KINDS
from tests.conftest import TEST_ID_KEY

runner = CliRunner()


@pytest.fixture(autouse=True)
def configured(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)


@pytest.mark.parametrize(("args", "words", "command"), [
    (["status", "--field", "bogus"], "'bogus' is not one of 'position', 'root', 'store'", "ledger status"),
    (["overdue", "--organization", "XW", "--kind", "bogus"], "'bogus' is not one of 'overdue_letter'",
     "ledger overdue"),
    (["overdue", "--organization", "XW", "--format", "pdf"], "'pdf' is not one of 'table', 'json', 'csv'",
     "ledger overdue"),
    (["history"], "Missing argument 'member'", "ledger history"),
    (["report", "monthly", "--organization", "XW", "--month", "2026-11", "--bogus"], "No such option: --bogus",
     "ledger report monthly"),
    (["bogus"], "No such command 'bogus'", "ledger"),
    (["export", "--after", "-1"], "greater than or equal to 0", "ledger export"),
    (["operator", "add", "--role", "boss", "--organization", "XW", "--name", "x"],
     "'boss' is not one of 'admin', 'clerk', 'auditor'", "ledger operator add"),
    (["serve", "--port", "99999"], "less than or equal to 65535", "ledger serve"),
    (["report", "annual", "--organization", "XW", "--year", "2_026"], "ASCII digits", "ledger report annual"),
    (["report", "annual", "--organization", "XW", "--year", "+2026"], "ASCII digits", "ledger report annual"),
    (["report", "annual", "--organization", "XW", "--year", " 2026"], "ASCII digits", "ledger report annual"),
    (["report", "chart", "--organization", "XW", "--year", "２０２６", "--output", "x.png"], "ASCII digits",
     "ledger report chart"),
    (["demo", "--scale", "bogus"], "'bogus' is not one of 'city', 'small'", "ledger demo"),
    (["simulate", "--scale", "bogus"], "'bogus' is not one of 'small', 'city', 'province'", "ledger simulate"),
    (["simulate", "--format", "xml"], "'xml' is not one of 'text', 'json'", "ledger simulate"),
])
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], words: str, command: str) -> None:
    result = runner.invoke(app, args, prog_name="ledger")
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("usage_error: ") and words in lines[0]
    assert lines[0].endswith(f"(see `{command} --help`)")


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("LEDGER_DATABASE_URL", "mysql://x", "not the URL of a store"),
    ("LEDGER_DATABASE_URL", "sqlite:///", "a SQLite URL looks like"),
    ("LEDGER_TIMEZONE", "Mars/Base", "not a time zone"),
    ("LEDGER_TIMEZONE", "../../etc/passwd", "not a time zone"),
    ("LEDGER_AGGREGATE_CACHE", "abc", "integer"),
    ("LEDGER_DATA_KEYS", "k1:AAAA", "32 bytes"),
])
@pytest.mark.parametrize("args", [["status"], ["serve"], ["report", "monthly", "--organization", "XW", "--month",
                                                             "2026-10"], ["verify", "--file", "FILE"]])
def test_a_malformed_setting_is_one_line_naming_it_and_exit_2(
        setting: str, value: str, words: str, args: list[str], tmp_path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """README: a missing or malformed setting is a one-line configuration error naming it
    (exit 2), never a traceback; `ledger verify --file` reads only the data keys."""
    if args[0] == "verify" and setting != "LEDGER_DATA_KEYS":
        return
    exported = tmp_path / "export.jsonl"
    exported.write_bytes(b"")
    monkeypatch.setenv(setting, value)
    result = runner.invoke(app, [str(exported) if a == "FILE" else a for a in args], prog_name="ledger")
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"configuration error: {setting}") and words in lines[0]
    assert "AAAA" not in result.stderr and "Mars" not in result.stderr and "mysql" not in result.stderr


def test_the_hint_about_the_secrets_comes_only_when_one_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_ID_KEY")
    result = runner.invoke(app, ["status"], prog_name="ledger")
    assert result.exit_code == 2
    assert result.stderr.startswith("configuration error: LEDGER_ID_KEY")
    assert result.stderr.splitlines()[1].startswith("Set LEDGER_ID_KEY")


def test_a_command_keeps_its_own_exit_status() -> None:
    assert runner.invoke(app, ["status", "--field", "root"], prog_name="ledger").exit_code == 0
    assert runner.invoke(app, ["--help"], prog_name="ledger").exit_code == 0


@pytest.mark.parametrize(("args", "choices"), [
    (["status", "--help"], "position|root|store"),
    (["overdue", "--help"], "table|json|csv"),
    (["history", "--help"], "zh|en"),
    (["report", "monthly", "--help"], "json|csv|xlsx"),
    (["demo", "--help"], "city|small"),
    (["simulate", "--help"], "small|city|province"),
    (["simulate", "--help"], "text|json"),
])
def test_help_lists_the_choices(args: list[str], choices: str) -> None:
    result = runner.invoke(app, args, prog_name="ledger", env={"COLUMNS": "200"})
    assert result.exit_code == 0 and choices in result.stdout


def test_the_roles_of_the_command_line_are_the_domains() -> None:
    assert tuple(role.value for role in OperatorRole) == ROLES


def test_the_overdue_kinds_of_the_command_line_are_the_lists_kinds() -> None:
    assert tuple(k.value for k in OverdueKind) == OVERDUE_KINDS
    help_text = runner.invoke(app, ["overdue", "--help"], prog_name="ledger", env={"COLUMNS": "300"}).stdout
    assert all(kind in help_text for kind in OVERDUE_KINDS)


def test_the_scales_of_the_command_line_are_the_simulations() -> None:
    assert tuple(scale.value for scale in Scale) == tuple(SCALES)
    assert {scale.value for scale in DemoScale} <= set(SCALES)
