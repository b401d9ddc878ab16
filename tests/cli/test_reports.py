"""`ledger report` and the report files of api/reportfiles.py, on both stores: the files
read back give the API's figures, and the same report gives the same bytes at another time."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from api import reportfiles
from api.cli import app
from api.reportfiles import XLSX_MEDIA_TYPE, flatten, heading
from domain.ledger import Ledger
from tests.api.conftest import Api
from tests.cli.audit_story import Story, tell_story
from tests.conftest import TEST_ID_KEY, TODAY, Store

runner = CliRunner()


@pytest.fixture
def city(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Api, Story]]:
    """The API on the store (the factories' tree, operators) with the story told."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", store.url)
    monkeypatch.setenv("LEDGER_ID_KEY", TEST_ID_KEY)
    # the command line's today is the API's: the current year's reports depend on it
    monkeypatch.setattr(Ledger, "today", lambda self: TODAY)
    api = Api(store)
    story = tell_story(api.ledger)
    yield api, story
    api.close()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def api_json(api: Api, path: str, **params: Any) -> dict[str, Any]:
    response = api.client("auditor").get(path, **params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def sheet_pairs(content: bytes, sheet: int = 0) -> dict[str, list[Any]]:
    """An Excel sheet's rows by their first cell."""
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    rows = list(workbook.worksheets[sheet].iter_rows(values_only=True))
    return {str(row[0]): list(row[1:]) for row in rows}


def move_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Move the clocks that Excel files pick up (openpyxl's document times, zip entry
    times) years ahead, as a report run at another time would see them."""
    import openpyxl.packaging.core
    import openpyxl.writer.excel

    later = dt.datetime(2031, 5, 6, 7, 8, 9)

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return later.replace(tzinfo=tz)

    clock = types.SimpleNamespace(datetime=Later, timezone=dt.timezone, date=dt.date)
    monkeypatch.setattr(openpyxl.packaging.core, "datetime", clock)
    monkeypatch.setattr(openpyxl.writer.excel, "datetime", clock)
    real_time = zipfile.time  # type: ignore[attr-defined]
    monkeypatch.setattr(zipfile, "time", types.SimpleNamespace(
        time=lambda: later.timestamp(), localtime=real_time.localtime))


def test_monthly_report_json_csv_and_excel_give_the_api_figures(city: tuple[Api, Story], tmp_path: Path) -> None:
    api, _ = city
    expected = api_json(api, "/v1/reports/monthly", organization_code="XW-C1", month="2026-10")
    assert expected["transferred_in_internal"] == expected["transferred_out_internal"] == 1
    assert (expected["imported"], expected["admitted"], expected["in_transit"]) == (1, 1, 1)

    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected

    # CSV in English: the API's own CSV, byte for byte
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-10", "--format", "csv",
                 "--lang", "en")
    assert result.exit_code == 0, result.output
    api_csv = api.client("auditor").get("/v1/reports/monthly", headers={"Accept": "text/csv"},
                                        organization_code="XW-C1", month="2026-10")
    assert result.stdout == api_csv.text
    flat = {k: ("" if v is None else str(v)) for k, v in flatten(expected).items()}
    assert next(csv.DictReader(io.StringIO(result.stdout))) == flat

    # CSV in Chinese, to a file: same figures under Chinese headings
    target = tmp_path / "oct.csv"
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-10", "--format", "csv",
                 "--lang", "zh", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    row = next(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))
    assert row["期末党员数"] == str(expected["closing"]) and row["转入：辖区内"] == "1"
    for key, value in flatten(expected).items():
        if isinstance(value, int) and not isinstance(value, bool):
            assert int(row[heading(key, "zh")]) == value, key

    # Excel, Chinese by default
    target = tmp_path / "oct.xlsx"
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-10", "--format", "xlsx",
                 "--output", str(target))
    assert result.exit_code == 0, result.output
    pairs = sheet_pairs(target.read_bytes())
    for key, value in flatten(expected).items():
        assert pairs[heading(key, "zh")] == [reportfiles._cell(value, "zh")], key
    # and the API gives the same file
    response = api.client("auditor").get("/v1/reports/monthly", headers={"Accept": XLSX_MEDIA_TYPE},
                                         organization_code="XW-C1", month="2026-10")
    assert response.status_code == 200 and response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.content == target.read_bytes()


def test_every_figure_has_a_chinese_heading(city: tuple[Api, Story]) -> None:
    api, _ = city
    annual = api_json(api, "/v1/reports/annual", organization_code="XW", year=2026)
    keys = [*flatten(annual["months"][0]), *(f"{k}" for k in flatten(annual["composition"]))]
    missing = [k for k in keys if heading(k, "zh") == k]
    assert missing == []


def test_annual_report_csv_and_excel_give_the_api_figures(city: tuple[Api, Story], tmp_path: Path) -> None:
    api, _ = city
    expected = api_json(api, "/v1/reports/annual", organization_code="XW", year=2026)
    assert expected["totals"]["transferred_out"] >= 1

    result = run("report", "annual", "--organization", "XW", "--year", "2026")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected

    result = run("report", "annual", "--organization", "XW", "--year", "2026", "--format", "csv", "--lang", "en")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["month"] for r in rows] == [f"2026-{m:02d}" for m in range(1, 12)]  # to today's month
    for row, month in zip(rows, expected["months"], strict=True):
        assert row["closing"] == str(month["closing"]) and row["transferred_out"] == str(month["transferred_out"])

    target = tmp_path / "2026.xlsx"
    result = run("report", "annual", "--organization", "XW", "--year", "2026", "--format", "xlsx",
                 "--lang", "en", "--output", str(target))
    assert result.exit_code == 0, result.output
    months = sheet_pairs(target.read_bytes())
    assert months["item"] == [*(m["month"] for m in expected["months"]), "Year"]
    for key in ("closing", "held", "in_transit", "transferred_in", "admitted", "letters_issued"):
        assert months[key][:11] == [m[key] for m in expected["months"]], key
    for key, total in expected["totals"].items():
        assert months[key][11] == total, key
    assert months["opening"][11] == expected["opening"] and months["closing"][11] == expected["closing"]
    composition = sheet_pairs(target.read_bytes(), sheet=1)
    for key, value in flatten(expected["composition"]).items():
        assert composition[key] == [value], key


def test_the_same_report_gives_the_same_bytes_at_another_time(
    city: tuple[Api, Story], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, _ = city
    monthly = api_json(api, "/v1/reports/monthly", organization_code="XW", month="2026-10")
    annual = api_json(api, "/v1/reports/annual", organization_code="XW", year=2026)
    renders = {
        "monthly_csv_zh": lambda: reportfiles.monthly_csv(monthly),
        "monthly_csv_en": lambda: reportfiles.monthly_csv(monthly, "en"),
        "monthly_xlsx_zh": lambda: reportfiles.monthly_xlsx(monthly),
        "monthly_xlsx_en": lambda: reportfiles.monthly_xlsx(monthly, "en"),
        "annual_csv": lambda: reportfiles.annual_csv(annual),
        "annual_xlsx": lambda: reportfiles.annual_xlsx(annual),
        "chart_zh": lambda: reportfiles.year_chart_png(annual, name="玄武区委组织部"),  # the CLI titles by name
        "chart_en": lambda: reportfiles.year_chart_png(annual, "en"),
    }
    first = {name: render() for name, render in renders.items()}
    args = ("report", "monthly", "--organization", "XW", "--month", "2026-10", "--format", "xlsx", "--output")
    assert run(*args, str(tmp_path / "now.xlsx")).exit_code == 0
    assert run("report", "chart", "--organization", "XW", "--year", "2026", "--output",
               str(tmp_path / "now.png")).exit_code == 0
    with monkeypatch.context() as later:
        move_clocks(later)
        again = {name: render() for name, render in renders.items()}
        assert run(*args, str(tmp_path / "later.xlsx")).exit_code == 0
        assert run("report", "chart", "--organization", "XW", "--year", "2026", "--output",
                   str(tmp_path / "later.png")).exit_code == 0
    for name in renders:
        assert first[name] == again[name], name
    assert (tmp_path / "now.xlsx").read_bytes() == (tmp_path / "later.xlsx").read_bytes() == first["monthly_xlsx_zh"]
    assert (tmp_path / "now.png").read_bytes() == (tmp_path / "later.png").read_bytes() == first["chart_zh"]
    # the times inside are the report's own: the period's last day
    with zipfile.ZipFile(io.BytesIO(first["monthly_xlsx_zh"])) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 10, 31, 0, 0, 0)}
        assert b"2026-10-31T00:00:00Z" in archive.read("docProps/core.xml")
    assert first["chart_zh"].startswith(b"\x89PNG") and b"Matplotlib" not in first["chart_zh"]


def test_without_a_chinese_font_the_chart_falls_back_to_english(
    city: tuple[Api, Story], monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, _ = city
    annual = api_json(api, "/v1/reports/annual", organization_code="XW-C1", year=2026)
    monkeypatch.setattr(reportfiles, "cjk_font", lambda: None)
    chinese, english = reportfiles.year_chart_png(annual, "zh"), reportfiles.year_chart_png(annual, "en")
    assert chinese == english
    other = {**annual, "months": [{**m, "held": m["held"] + 1} for m in annual["months"]]}
    assert reportfiles.year_chart_png(other, "en") != english  # the figures are drawn


def test_filing_a_month_records_it_and_a_second_filing_is_refused(city: tuple[Api, Story], tmp_path: Path) -> None:
    api, _ = city
    before = api.ledger.max_position()
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-09", "--file")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["filed"] is True
    assert api.ledger.max_position() > before
    assert "2026-09" in api.ledger.organization("XW-C1").filed_months

    filed = api.ledger.max_position()
    target = tmp_path / "again.json"
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-09", "--file",
                 "--output", str(target))
    assert result.exit_code == 1
    assert "invalid_transition" in result.stderr and "already filed" in result.stderr
    assert not target.exists() and api.ledger.max_position() == filed

    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2999-12", "--file")
    assert result.exit_code == 1 and "validation_error" in result.stderr
    assert api.ledger.max_position() == filed


def test_a_report_that_could_not_be_written_files_nothing(
    city: tuple[Api, Story], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the report goes is checked before the month is filed: an --output in a missing
    directory (exit 1), an Excel file to a terminal (exit 2); the month stays open, and is
    filed when asked again with somewhere to write."""
    api, _ = city
    before = api.ledger.max_position()
    missing = tmp_path / "nowhere" / "r.json"
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-09", "--file",
                 "--output", str(missing))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"validation_error: cannot write {missing}") and "filed" not in result.stderr
    monkeypatch.setattr("api.cli.common.stdout_is_terminal", lambda: True)
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-09", "--file", "--format", "xlsx")
    assert result.exit_code == 2, result.output
    assert "an Excel file is binary" in result.stderr and result.stdout == ""
    assert api.ledger.max_position() == before
    assert "2026-09" not in api.ledger.organization("XW-C1").filed_months

    target = tmp_path / "r.xlsx"
    result = run("report", "monthly", "--organization", "XW-C1", "--month", "2026-09", "--file", "--format", "xlsx",
                 "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"PK") and "2026-09" in api.ledger.organization("XW-C1").filed_months


@pytest.mark.parametrize("args, code", [
    (("report", "monthly", "--organization", "NOWHERE", "--month", "2026-10"), "not_found"),
    (("report", "monthly", "--organization", "XW", "--month", "2026-13"), "validation_error"),
    (("report", "annual", "--organization", "XW", "--year", "99"), "validation_error"),
    (("report", "chart", "--organization", "NOWHERE", "--year", "2026", "--output", "x.png"), "not_found"),
    (("report", "monthly", "--organization", "NOWHERE", "--month", "2026-09", "--file"), "not_found"),
])
def test_refusals_exit_1_with_the_code_and_no_traceback(
    city: tuple[Api, Story], args: tuple[str, ...], code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, _ = city
    monkeypatch.chdir(tmp_path)
    before = api.ledger.max_position()
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"{code}:") and "Traceback" not in result.output
    assert result.stdout == "" and not (tmp_path / "x.png").exists()
    assert api.ledger.max_position() == before


def test_usage_errors_exit_2(city: tuple[Api, Story]) -> None:
    result = run("report", "monthly", "--organization", "XW", "--month", "2026-10", "--format", "pdf")
    assert result.exit_code == 2 and "pdf" in result.output
    result = run("report", "monthly", "--organization", "XW", "--month", "2026-10", "--lang", "fr")
    assert result.exit_code == 2
    result = run("report", "chart", "--organization", "XW", "--year", "2026")
    assert result.exit_code == 2 and "--output" in result.output


def test_the_timely_rate_breakdowns_are_in_the_csv_and_excel_files(city: tuple[Api, Story], tmp_path: Path) -> None:
    """Seed 001's breakdowns (内部及时率, 军转干部及时率) are columns of the CSV, rows of the
    Excel file (as percentages), and the annual file's year column sums the months."""
    api, _ = city
    annual = api_json(api, "/v1/reports/annual", organization_code="XW", year=2026)
    received = [(month["month"], group, key, figures) for month in annual["months"]
                for group in ("timely_by_side", "timely_by_category", "timely_by_route")
                for key, figures in month[group].items() if figures["received"]]
    assert received, "the story receives letters in XW"
    month, group, key, figures = received[0]
    monthly = api_json(api, "/v1/reports/monthly", organization_code="XW", month=month)
    assert monthly[group][key] == figures

    result = run("report", "monthly", "--organization", "XW", "--month", month, "--format", "csv")
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff"))))
    assert row[heading(f"{group}.{key}.received", "zh")] == str(figures["received"])
    assert heading("timely_by_side.internal.timely_rate", "zh") == "内部及时率"
    assert heading("timely_by_category.military_transferee.timely_rate", "zh") == "军转干部及时率"

    target = tmp_path / "year.xlsx"
    result = run("report", "annual", "--organization", "XW", "--year", "2026", "--format", "xlsx",
                 "--lang", "en", "--output", str(target))
    assert result.exit_code == 0, result.output
    months = sheet_pairs(target.read_bytes())
    year = len(annual["months"])  # the year's column, after the months (to today's in the current year)
    for name in ("received", "on_time", "timely_rate"):
        assert months[f"{group}.{key}.{name}"][year] == annual[group][key][name]
    assert sum(months[f"{group}.{key}.received"][:year]) == annual[group][key]["received"]
    workbook = openpyxl.load_workbook(target)
    rate_row = next(r for r in workbook.worksheets[0].iter_rows() if r[0].value == f"{group}.{key}.timely_rate")
    assert rate_row[year].number_format == "0.00%"
