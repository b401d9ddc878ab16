"""`ledger cases`: the first-responder cases of a subtree, as GET /v1/cases answers them, and
`ledger overdue --kind open_case`."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.reports import CASE_COLUMNS, CASE_HEADINGS, OVERDUE_HEADINGS
from api.web.i18n import translate
from projections.queries.overdue_kinds import OVERDUE_COLUMNS
from tests.conftest import TEST_ID_KEY, TODAY, Store
from tests.factories import build_tree

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_cases_list_as_the_api_and_the_overdue_list(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    ledger = store.ledger()
    build_tree(ledger)
    old = ledger.open_case("XW-S", name="刘洋", request="落实组织关系", on=TODAY - timedelta(days=45)).code
    new = ledger.open_case("XW-C1", name="王芳", request="找不到原单位党组织", on=TODAY - timedelta(days=3)).code
    done = ledger.open_case("XW-S", name="李某", request="咨询", on=date(2026, 1, 5)).code
    assert old and new and done
    ledger.close_case(done, "withdrawn", on=date(2026, 1, 9))
    engine = store.engine(ledger)
    engine.catch_up()
    rows, count = store.queries().cases("XW", TODAY)
    assert [r["case_id"] for r in rows] == [old, new, done] and count == 3
    assert [r["days_open"] for r in rows] == [45, 3, 4]

    result = run("cases", "--organization", "XW", "--on", TODAY.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"data": rows, "count": 3}
    result = run("cases", "--organization", "XW", "--status", "open", "--on", TODAY.isoformat(), "--format", "csv",
                 "--lang", "en")
    assert result.exit_code == 0, result.output
    assert not result.stdout_bytes.startswith(b"\xef\xbb\xbf")
    read = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["case_id"], r["days_open"], r["status"]) for r in read] == [(old, "45", "open"), (new, "3", "open")]
    result = run("cases", "--organization", "XW-S")
    assert result.exit_code == 0, result.output
    assert "刘洋" in result.stdout and "本人撤回" in result.stdout and "2 件" in result.stdout
    result = run("cases", "--organization", "NOWHERE")
    assert result.exit_code == 1 and result.stderr.startswith("not_found:")

    result = run("overdue", "--organization", "XW", "--kind", "open_case", "--on", TODAY.isoformat(),
                 "--format", "json")
    assert result.exit_code == 0, result.output
    assert [(r["reference"], r["days_overdue"]) for r in json.loads(result.stdout)["data"]] == [(old, 15)]
    result = run("overdue", "--organization", "XW", "--kind", "open_case", "--on", TODAY.isoformat(),
                 "--lang", "en")
    assert "刘洋" in result.stdout and "1 overdue" in result.stdout


def test_cases_on_a_day_are_the_cases_as_they_stood_then(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """--on D: the cases opened by D, closed only if closed by D (no negative days open, no
    case listed before it was opened); a later date is refused, as the overdue list's is;
    without --on the list is the API's, every case as it stands."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    monkeypatch.setattr("domain.ledger.Ledger.today", lambda self: TODAY)
    ledger = store.ledger()
    build_tree(ledger)
    early = ledger.open_case("XW-S", name="刘洋", request="落实组织关系", on=date(2026, 3, 1)).code
    late = ledger.open_case("XW-C1", name="王芳", request="找不到原单位党组织", on=date(2026, 9, 1)).code
    assert early and late
    ledger.close_case(early, "withdrawn", note="本人撤回", on=date(2026, 6, 1))
    store.engine(ledger).catch_up()

    def listed(*args: str) -> list[tuple[Any, ...]]:
        result = run("cases", "--organization", "XW", "--format", "json", *args)
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["count"] == len(answer["data"])
        return [(r["case_id"], r["status"], r["days_open"], r["outcome"], r["closed_on"]) for r in answer["data"]]

    assert listed("--on", "2026-01-01") == []
    assert listed("--on", "2026-04-01") == [(early, "open", 31, None, None)]
    assert listed("--on", "2026-04-01", "--status", "closed") == []
    assert listed("--on", "2026-10-01") == [(late, "open", 30, None, None), (early, "closed", 92, "withdrawn",
                                                                              "2026-06-01")]
    assert listed("--on", "2026-10-01", "--status", "open") == [(late, "open", 30, None, None)]
    rows, _ = store.queries().cases("XW", TODAY)
    assert listed() == [(r["case_id"], r["status"], r["days_open"], r["outcome"], r["closed_on"]) for r in rows]
    assert [r["case_id"] for r in rows] == [late, early]

    for command in ("cases", "overdue"):
        result = run(command, "--organization", "XW", "--on", (TODAY + timedelta(days=1)).isoformat())
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.startswith("future_date:") and result.stdout == ""


def test_a_chinese_csv_has_chinese_headings_words_and_a_byte_order_mark(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a report's CSV (README "Formats"): `--lang zh`, the default, gives the table's
    headings and words and starts with the UTF-8 byte order mark spreadsheet programs need."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    ledger = store.ledger()
    build_tree(ledger)
    case = ledger.open_case("XW-S", name="刘洋", request="落实组织关系", on=TODAY - timedelta(days=45)).code
    store.engine(ledger).catch_up()
    on = ("--on", TODAY.isoformat())
    for args, headings, words in (
            (("cases", *on), CASE_HEADINGS["zh"], {"case_id": case, "status": translate("case_open", "zh")}),
            (("overdue", "--kind", "open_case", *on), OVERDUE_HEADINGS["zh"],
             {"reference": case, "kind": translate("okind_open_case", "zh")})):
        for lang in ((), ("--lang", "zh")):
            result = run(*args, "--organization", "XW", "--format", "csv", *lang)
            assert result.exit_code == 0, result.output
            assert result.stdout_bytes.startswith(b"\xef\xbb\xbf")
            read = list(csv.reader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))
            assert tuple(read[0]) == headings and len(read) == 2
            row = dict(zip(read[0], read[1], strict=True))
            columns = CASE_COLUMNS if args[0] == "cases" else OVERDUE_COLUMNS
            shown = {column: row[heading] for column, heading in zip(columns, headings, strict=True)}
            assert {k: shown[k] for k in words} == words and "刘洋" in read[1]
        english = run(*args, "--organization", "XW", "--format", "csv", "--lang", "en")
        assert english.stdout.splitlines()[0] == ",".join(CASE_COLUMNS if args[0] == "cases" else OVERDUE_COLUMNS)
