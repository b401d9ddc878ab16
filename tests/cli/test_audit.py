"""The auditor's commands on both stores: `ledger history`, `ledger export`,
`ledger overdue`, and `ledger verify` catching a corrupted view row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from projections.history import event_type
from tests.cli.audit_story import Story, tell_story
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import build_tree

runner = CliRunner()


@pytest.fixture
def told(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Story]]:
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    ledger = store.ledger()
    build_tree(ledger)
    yield store, tell_story(ledger)


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_history_lists_the_members_events_in_order(told: tuple[Store, Story]) -> None:
    store, story = told
    result = run("history", story.moved, "--format", "json")
    assert result.exit_code == 0, result.output
    history = json.loads(result.stdout)
    entries = history["data"]
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions) and len(set(positions)) == len(positions) == history["count"]
    # the events of the ledger's own account of the member, in the order of the stream
    ledger = store.ledger()
    own = {(e.originator_id, e.originator_version) for e in ledger.member_history(story.moved)}
    stream = [(p, e) for p, e in ledger.read_events() if (e.originator_id, e.originator_version) in own]
    assert [(e["position"], e["type"]) for e in entries] == [(p, event_type(e)) for p, e in stream]
    assert [e["on"] for e in entries] == sorted(e["on"] for e in entries)
    assert entries[0]["type"] == "Member.Imported" and entries[-1]["type"] == "Member.DuesPaid"
    assert {"Transfer.LetterIssued", "Transfer.MemberReceived", "Transfer.ReceiptReturned"} <= {
        e["type"] for e in entries}

    result = run("history", story.moved)
    assert result.exit_code == 0, result.output
    table = result.stdout
    assert story.moved in table and story.letter_no in table
    assert "从第一党支部转往第二党支部（毕业，党委内）" in table  # a sentence: the source first, by name
    assert "第二党支部接收（按期）" in table and "交纳 2026-10 党费 12.50 元" in table
    for code in ("graduation", "within_committee", "True", "XW-C1-B1", "原因=", "路径="):
        assert code not in table, code
    lines = [table.index(word) for word in ("录入台账", "申请转接", "开具介绍信", "接收（按期）", "回执退回", "交纳")]
    assert lines == sorted(lines)
    assert table.index("2026-10-06") < table.index("2026-10-09") < table.index("2026-10-12")
    assert f"{history['count']} 条记录" in table

    result = run("history", story.certified, "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "issued temporary certificate" in result.stdout and story.certificate_no in result.stdout


@pytest.mark.parametrize("number, code", [("320102201507019999", "not_found"), ("nonsense", "not_found")])
def test_history_of_an_unknown_member_exits_1_with_the_code(
    told: tuple[Store, Story], number: str, code: str,
) -> None:
    result = run("history", number)
    assert result.exit_code == 1 and result.stderr.startswith(f"{code}:") and result.stdout == ""


def exported(*args: str) -> tuple[list[dict[str, Any]], str]:
    result = run("export", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_export_resumes_exactly_where_it_stopped(told: tuple[Store, Story], tmp_path: Path) -> None:
    store, _ = told
    everything, note = exported()
    stream = list(store.ledger().read_events())
    assert [e["position"] for e in everything] == [p for p, _ in stream]
    for line, (position, event) in zip(everything, stream, strict=True):
        assert (line["type"], line["aggregate_id"], line["version"]) == (
            event_type(event), str(event.originator_id), event.originator_version), position
        assert line["on"] == event.on.isoformat() and "recorded_at" in line  # type: ignore[attr-defined]
    assert f"--after {everything[-1]['position']}" in note

    resumed: list[dict[str, Any]] = []
    after = 0
    while True:
        page, note = exported("--after", str(after), "--limit", "7")
        if not page:
            assert f"last position {after}" in note
            break
        assert len(page) <= 7
        resumed += page
        after = page[-1]["position"]
        assert f"--after {after}" in note
    assert resumed == everything  # no gap, no repeat

    target = tmp_path / "events.jsonl"
    result = run("export", "--after", str(everything[4]["position"]), "--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert [json.loads(line) for line in target.read_text().splitlines()] == everything[5:]

    result = run("export", "--after", "-1")
    assert result.exit_code == 2


def test_overdue_matches_the_overdue_query(told: tuple[Store, Story]) -> None:
    store, story = told
    engine = store.engine(store.ledger())
    engine.catch_up()
    rows, count = store.queries().overdue("XW", TODAY, limit=10_000)
    assert {"overdue_letter", "unreturned_certificate"} <= {r["kind"] for r in rows}

    result = run("overdue", "--organization", "XW", "--on", TODAY.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"data": rows, "count": count}

    result = run("overdue", "--organization", "XW", "--on", TODAY.isoformat(), "--format", "csv", "--lang", "en")
    assert result.exit_code == 0, result.output
    read = list(csv.DictReader(io.StringIO(result.stdout)))  # the API's CSV
    assert read == [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]

    result = run("overdue", "--organization", "XW", "--on", TODAY.isoformat())
    assert result.exit_code == 0, result.output
    assert story.in_transit in result.stdout and "介绍信逾期" in result.stdout
    assert f"{count} 条逾期" in result.stdout

    letters, _ = store.queries().overdue("XW", date(2026, 10, 15), kind="overdue_letter")
    result = run("overdue", "--organization", "XW", "--on", "2026-10-15", "--kind", "overdue_letter",
                 "--format", "json")
    assert json.loads(result.stdout)["data"] == letters
    assert [r["registration_no"] for r in letters] == [story.in_transit]
    assert letters[0]["days_overdue"] == (date(2026, 10, 15) - date.fromisoformat(letters[0]["due_on"])).days


@pytest.mark.parametrize("args, code", [
    (("--organization", "NOWHERE", "--on", "2026-11-20"), "not_found"),
    (("--organization", "XW", "--on", "2026-02-30"), "validation_error"),
    (("--organization", "XW", "--on", "2999-12-31"), "future_date"),  # after any today of the tests
])
def test_overdue_refusals_exit_1_with_the_code(told: tuple[Store, Story], args: tuple[str, ...], code: str) -> None:
    result = run("overdue", *args)
    assert result.exit_code == 1 and result.stderr.startswith(f"{code}:") and result.stdout == ""


def test_an_unknown_overdue_kind_is_a_usage_error(told: tuple[Store, Story]) -> None:
    result = run("overdue", "--organization", "XW", "--on", "2026-11-20", "--kind", "late")
    assert result.exit_code == 2 and result.stderr.startswith("usage_error:") and result.stdout == ""


def test_verify_exits_1_and_lists_each_mismatch_of_a_corrupted_view(told: tuple[Store, Story]) -> None:
    store, story = told
    rebuilt = run("rebuild")
    assert rebuilt.exit_code == 0
    assert rebuilt.stdout == f"rebuilt to position {store.ledger().max_position()}\n"
    assert "building the views' indexes" in rebuilt.stderr  # what the wait after the bar is
    result = run("verify")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True and "mismatch" not in result.stderr

    db = store.queries().db
    db.execute("UPDATE proj_counts SET value = value + 5 WHERE organization_code = ? AND month = ? AND figure = ?",
               ("XW-C1", "2026-10", "admitted"))
    db.execute("UPDATE proj_members SET organization_code = ? WHERE registration_no = ?",
               ("XW-C2-B1", story.imported))
    result = run("verify")
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False and verdict["mismatch_count"] == 2
    assert {m["table"] for m in verdict["mismatches"]} == {"proj_counts", "proj_members"}
    assert all("live" not in m and "rebuilt" not in m and m["difference"] == "changed" for m in verdict["mismatches"])
    assert [m["columns"] for m in verdict["mismatches"] if m["table"] == "proj_members"] == [["organization_code"]]
    mismatches = [line for line in result.stderr.splitlines() if line.startswith("mismatch")]
    assert len(mismatches) == 2
    assert any("proj_counts" in m and "'XW-C1', '2026-10', 'admitted'" in m and "value" in m for m in mismatches)
    assert any("proj_members" in m and "organization_code" in m for m in mismatches)
    assert "verify failed: 2 mismatches" in result.stderr

    assert run("rebuild").exit_code == 0
    assert run("verify").exit_code == 0
