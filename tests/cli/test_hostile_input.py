"""Hostile input through the command line and the roster importer, on both stores: an
argument that is not one line of text is refused before any command runs (exit 2, naming
the argument); codes, regions, dates and numbers in other scripts' digits are refused; an
import names every such cell by its row and column, records nothing, and keeps free text
(line breaks included) in NFC."""

from __future__ import annotations

import unicodedata
import zipfile
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from domain.identifiers import make_registration_no
from tests.cli.test_import import (
    MEMBER_HEADINGS_ZH,
    ON,
    ORG_HEADINGS_ZH,
    import_orgs,
    member_row,
    problems,
    write_csv,
)
from tests.conftest import Store
from tests.domain.test_hostile_input import ARABIC_INDIC, FULLWIDTH, same_person_id
from tests.factories import build_tree, id_card

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert not isinstance(result.exception, UnicodeError | ValueError), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_an_argument_that_is_not_one_line_of_text_is_refused_before_the_command(env: Store) -> None:
    ledger = env.ledger()
    build_tree(ledger)
    before = ledger.max_position()
    cases = [
        (("org", "add-root", "--code", "JS2\x1b", "--name", "江苏", "--region", "320000"), "--code"),
        (("org", "add-root", "--code", "JS2", "--name", "江\x00苏", "--region", "320000"), "--name"),
        (("org", "add-root", "--code=JS2\n", "--name", "江苏", "--region", "320000"), "--code"),
        (("report", "monthly", "--organization", "XW", "--month", "2024-10\n", "--file"), "--month"),
        (("history", "\udcff"), "argument 2"),  # an undecodable byte of argv
        (("operator", "revoke", "\ud800"), "argument 3"),
    ]
    for args, named in cases:
        code, out, err = run(*args)
        assert code == 2, (args, code, out, err)
        assert f"validation_error: {named} contains" in err, (args, err)
    assert env.ledger().max_position() == before
    assert env.ledger().organization("XW").filed_months == []


def test_a_refusal_quoting_what_was_typed_prints_it_as_it_is(env: Store) -> None:
    build_tree(env.ledger())
    number = make_registration_no("320102", date(2001, 7, 1), 2)
    for typed in ("[/a]", "[bold]x", number.translate(FULLWIDTH), number + " x"):
        code, _, err = run("history", typed)
        assert (code, err.split(":", 1)[0]) == (1, "not_found"), (typed, code, err)
        assert typed in err


def test_add_root_refuses_regions_codes_and_dates_not_in_ascii(env: Store) -> None:
    for args in (("--code", "JS", "--region", "３２００００"), ("--code", "JS", "--region", "٣٢٠٠٠٠"),
                 ("--code", "ＪＳ", "--region", "320000"), ("--code", "JS", "--region", "320000", "--on", "20200101"),
                 ("--code", "JS", "--region", "320000", "--on", "２０２０-01-01")):
        code, out, err = run("org", "add-root", "--name", "江苏省委组织部", *args)
        assert code == 1, (args, out, err)
        assert err.startswith("validation_error:"), (args, err)
    assert env.ledger().max_position() == 0
    code, out, err = run("org", "add-root", "--name", "江苏省委组织部", "--code", "JS", "--region", "320000",
                         "--on", "2020-01-01")
    assert code == 0, err


def test_import_names_every_cell_in_other_digits_or_not_text_and_records_nothing(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    identity = same_person_id()
    rows = [
        member_row(1, registration_no=make_registration_no("320102", date(2001, 7, 1), 2).translate(FULLWIDTH)),
        member_row(2, id_card_no=identity.translate(FULLWIDTH)),
        member_row(3, id_card_no=identity.translate(ARABIC_INDIC)),
        member_row(4, household_region="３２０１０２"),
        member_row(5, birth_date="１９７５-06-06"),
        member_row(6, joined_on="2006年７月1日"),
        member_row(7, name="张\x00三"),
        member_row(8, workplace="单位\x1b[2J"),
        member_row(9, organization_code="XW-C1-B１"),
    ]
    path = write_csv(tmp_path / "hostile.csv", MEMBER_HEADINGS_ZH, rows)
    code, _, err = run("import", "members", path, "--on", ON)
    assert code == 1, err
    assert problems(err) == {
        ("hostile.csv", "2", "党员登记号码", "invalid_registration_no"),
        ("hostile.csv", "3", "公民身份号码", "validation_error"),
        ("hostile.csv", "4", "公民身份号码", "validation_error"),
        ("hostile.csv", "5", "户籍地区划代码", "validation_error"),
        ("hostile.csv", "6", "出生日期", "validation_error"),
        ("hostile.csv", "7", "入党日期", "validation_error"),
        ("hostile.csv", "8", "姓名", "validation_error"),
        ("hostile.csv", "9", "工作单位", "validation_error"),
        ("hostile.csv", "10", "所在组织代码", "validation_error"),
    }
    assert "张" not in err and "\x00" not in err and "\x1b" not in err
    assert "9 problem(s)" in err


def test_import_of_organizations_refuses_codes_and_regions_not_in_ascii(env: Store, tmp_path: Path) -> None:
    rows = [["JS", "江苏省委组织部", "组织部", "", "３２００００"],
            ["NJ-GA-C０2", "南京国安党委", "基层党委", "JS", "320100"],
            ["NJ", "南京市委组织部", "组织部", "JS", "320100"]]
    path = write_csv(tmp_path / "orgs.csv", ORG_HEADINGS_ZH, rows)
    code, _, err = run("import", "organizations", path, "--on", ON)
    assert code == 1, err
    assert {("orgs.csv", "2", "行政区划代码", "validation_error"),
            ("orgs.csv", "3", "组织代码", "validation_error")} <= problems(err)
    assert env.ledger().max_position() == 0


def test_import_keeps_line_breaks_in_free_text_and_stores_it_in_nfc(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    decomposed = unicodedata.normalize("NFD", "阮文Hùng")
    row = member_row(1, name=decomposed, workplace="南京市\n玄武区\t某单位", id_card_no=id_card(11))
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH, [row])
    code, out, err = run("import", "members", path, "--on", ON)
    assert code == 0, err
    member = env.ledger().member(row[0])
    assert (member.name, member.workplace) == ("阮文Hùng", "南京市\n玄武区\t某单位")
    code, out, err = run("import", "members", path, "--on", ON)  # the same file again: nothing new
    assert code == 0, err
    assert "recorded 0, 1 already recorded" in out


def test_a_file_the_reader_can_not_read_is_a_clear_error_and_records_nothing(env: Store, tmp_path: Path) -> None:
    """A quote left open (the rest of the file one cell, however short), a cell past the CSV reader's limit,
    a damaged .xlsx, or a chart sheet named: exit 2 with the file's name and what is wrong,
    never a traceback, nothing recorded."""
    import openpyxl
    from openpyxl.chart import BarChart

    import_orgs(tmp_path)
    before = env.ledger().max_position()
    open_quote = tmp_path / "quote.csv"
    open_quote.write_text(",".join(MEMBER_HEADINGS_ZH) + "\n" + ",".join(member_row(1)).replace("单位1", '"单位1')
                          + "\n" + "\n".join(",".join(member_row(n)) for n in range(2, 3000)) + "\n", encoding="utf-8")
    short_quote = tmp_path / "short.csv"  # a quote left open in the last cell, one row after it
    short_quote.write_text("\n".join(",".join(row) for row in (
        MEMBER_HEADINGS_ZH, member_row(1), member_row(2, residence='"南京市玄武区某路'), member_row(3))) + "\n",
        encoding="utf-8")
    long_cell = write_csv(tmp_path / "long.csv", MEMBER_HEADINGS_ZH, [member_row(1, workplace="单" * 140_000)])
    book = openpyxl.Workbook()
    book.active.append(MEMBER_HEADINGS_ZH)
    book.active.append(member_row(1))
    chart = book.create_chartsheet("图表")
    chart.add_chart(BarChart())
    book.save(tmp_path / "good.xlsx")
    with zipfile.ZipFile(tmp_path / "good.xlsx") as source, zipfile.ZipFile(tmp_path / "cut.xlsx", "w") as cut:
        for entry in source.infolist():
            content = source.read(entry.filename)
            cut.writestr(entry, content[: len(content) // 2] if entry.filename.endswith("sheet1.xml") else content)
    for args, said in (((open_quote,), "quote.csv line"), ((short_quote,), "short.csv line"),
                       ((long_cell,), "long.csv line"),
                       ((tmp_path / "cut.xlsx",), "cut.xlsx is not a readable .xlsx file"),
                       ((tmp_path / "good.xlsx", "--sheet", "图表"), "is a chart")):
        code, _, err = run("import", "members", *args, "--on", ON)
        assert code == 2 and said in err and "Traceback" not in err, (args, code, err)
    assert env.ledger().max_position() == before


def test_a_csv_row_longer_than_its_heading_row_is_a_problem_of_that_row(env: Store, tmp_path: Path) -> None:
    """An unquoted comma in a cell moves the cells after it: the row has more cells than
    the heading row, and it is refused, naming the row, where it was recorded with its
    residence in the workplace's column and the rest dropped."""
    import_orgs(tmp_path)
    before = env.ledger().max_position()
    shifted = [*member_row(2)[:10], "南京市", "玄武区人民政府", "玄武区某小区"]
    path = write_csv(tmp_path / "comma.csv", MEMBER_HEADINGS_ZH, [member_row(1), shifted])
    code, _, err = run("import", "members", path, "--on", ON)
    assert code == 1, err
    assert problems(err) == {("comma.csv", "3", "column 13", "validation_error")}
    assert env.ledger().max_position() == before


def test_a_birth_date_before_1900_is_refused_as_the_api_refuses_it(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    before = env.ledger().max_position()
    path = write_csv(tmp_path / "old.csv", MEMBER_HEADINGS_ZH,
                     [member_row(1, birth_date="00010101"), member_row(2, birth_date="1072-03-03")])
    code, _, err = run("import", "members", path, "--on", ON)
    assert code == 1, err
    assert problems(err) == {("old.csv", "2", "出生日期", "validation_error"),
                             ("old.csv", "3", "出生日期", "validation_error")}
    assert env.ledger().max_position() == before
