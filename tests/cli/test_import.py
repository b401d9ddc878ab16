"""`ledger import organizations|members` through typer's runner on the real app, on both
stores: good files in every encoding and in Excel, refusals cell by cell with file, row and
column (and nothing recorded), re-imports that record nothing new, and contradicting ones
that are refused."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from api.cli import app
from api.importing import MAX_AGGREGATES, import_file
from domain.errors import Conflict, ValidationError
from domain.identifiers import make_registration_no, organization_id
from domain.ledger import Ledger
from tests.conftest import Store
from tests.factories import TREE, id_card

runner = CliRunner()
ON = "2024-01-02"

ORG_HEADINGS_ZH = ["组织代码", "组织名称", "组织类别", "上级组织代码", "行政区划代码"]
ORG_HEADINGS_EN = ["code", "name", "kind", "parent_code", "region"]
MEMBER_HEADINGS_ZH = ["党员登记号码", "姓名", "公民身份号码", "性别", "出生日期", "入党日期", "党员状态",
                      "人员类别", "所在组织代码", "户籍地区划代码", "工作单位", "居住地"]
MEMBER_HEADINGS_EN = ["registration_no", "name", "id_card_no", "gender", "birth_date", "joined_on", "status",
                      "category", "organization_code", "household_region", "workplace", "residence"]
# the organizations of the shared test tree under XW, children listed before their parents
ORGS = [["XW-C1-B1", "第一党支部", "党支部", "XW-C1-G1", "320102"],
        ["XW-C1-G1", "第一党总支", "党总支", "XW-C1", "320102"],
        ["XW-C1", "玄武街道党工委", "基层党委", "XW", "320102"],
        ["XW", "玄武区委组织部", "组织部", "", "320102"],
        ["XW-C1-B2", "第二党支部", "branch", "XW-C1-G1", "320102"],
        ["XW-S", "玄武区党员服务中心", "service_center", "XW", "320102"]]


def member_row(n: int, org: str = "XW-C1-B1", **changes: str) -> list[str]:
    birth = date(1970 + n % 20, 1 + n % 12, 1 + n % 28)
    joined = date(2000 + n % 20, 7, 1)
    row = {"registration_no": make_registration_no("320102", joined, 1 + n % 999), "name": f"党员{n}",
           "id_card_no": id_card(n, birth), "gender": "女" if n % 2 else "男", "birth_date": birth.isoformat(),
           "joined_on": joined.isoformat(), "status": "正式党员", "category": "干部", "organization_code": org,
           "household_region": "320102", "workplace": f"单位{n}" if n % 3 else "", "residence": ""}
    row.update(changes)
    return list(row.values())


def write_csv(path: Path, headings: list[str], rows: list[list[Any]], encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(headings)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, headings: list[str], rows: list[list[Any]], sheet: str = "花名册") -> Path:
    book = Workbook()
    first = book.active
    first.title = "说明"
    first.append(["本表为导入模板"])
    worksheet = book.create_sheet(sheet)
    worksheet.append(headings)
    for row in rows:
        worksheet.append(row)
    book.save(path)
    return path


def run(*args: Any) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def problems(stderr: str) -> set[tuple[str, str, str, str]]:
    """(file, row, column, code) of every problem line."""
    found = set()
    for line in stderr.splitlines():
        parts = line.split(":", 4)
        if len(parts) == 5 and parts[1].isdigit():
            found.add((parts[0], parts[1], parts[2], parts[3].strip()))
    return found


def position(store: Store) -> int:
    ledger = store.ledger()
    return ledger.max_position()


def import_orgs(tmp_path: Path) -> None:
    code, _, err = run("import", "organizations", write_csv(tmp_path / "orgs.csv", ORG_HEADINGS_ZH, ORGS),
                       "--on", ON)
    assert code == 0, err


def roster(store: Store, code: str) -> list[dict[str, Any]]:
    engine = store.engine(store.ledger())
    engine.catch_up()
    rows, _ = store.queries().roster(code, limit=1000)
    return rows


def test_good_files_import_and_the_roster_shows_the_members(env: Store, tmp_path: Path) -> None:
    code, out, err = run("import", "organizations", write_csv(tmp_path / "orgs.csv", ORG_HEADINGS_ZH, ORGS),
                         "--on", ON, "--json")
    assert code == 0, err
    assert json.loads(out) | {"position": 0} == {
        "file": "orgs.csv", "kind": "organizations", "rows": 6, "recorded": 6, "already_recorded": 0,
        "problems": 0, "position": 0, "encoding": "utf-8"}
    ledger = env.ledger()
    assert ledger.organization("XW-C1-B1").parent_code == "XW-C1-G1"
    assert ledger.organization("XW").kind == "department" and ledger.organization("XW").parent_code is None
    assert ledger.organization("XW-C1-G1").name == "第一党总支"
    members = [member_row(n) for n in range(1, 6)] + [member_row(n, "XW-S", status="预备党员") for n in (6, 7)]
    code, out, err = run("import", "members", write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, members),
                         "--on", ON)
    assert code == 0, err
    assert "recorded 7, 0 already recorded" in out
    branch = roster(env, "XW-C1-B1")
    assert sorted((r["registration_no"], r["name"], r["status"]) for r in branch) == sorted(
        (m[0], m[1], "full") for m in members[:5])
    assert {(r["name"], r["status"]) for r in roster(env, "XW-S")} == {("党员6", "probationary"),
                                                                       ("党员7", "probationary")}
    member = env.ledger().member(members[0][0])
    assert (member.origin, member.birth_date, member.gender, member.category) == (
        "imported", date.fromisoformat(members[0][4]), "female", "cadre")
    assert member.last_on == date.fromisoformat(ON)
    events = [e for _, e in env.ledger().read_events()]
    assert all(e.actor == "system" and e.request_id.startswith("import-") for e in events)


@pytest.mark.parametrize("variant", ["utf-8-sig", "gb18030", "utf-16", "xlsx"])
def test_encodings_and_excel_import_the_same_rows(env: Store, tmp_path: Path, variant: str) -> None:
    """utf-16 is Excel's "Unicode text" (a .txt file, tab-separated, with a byte-order mark);
    a workplace holding a comma stays one cell."""
    import_orgs(tmp_path)
    rows = [member_row(n) for n in range(1, 4)] + [member_row(4, name="欧阳䶮", residence="鼓楼区𠀋巷")]
    rows[1][10] = "玄武区, 某单位"
    if variant == "xlsx":
        # Excel keeps dates as dates and region codes as numbers
        rows = [[*r[:4], date.fromisoformat(r[4]), date.fromisoformat(r[5]), *r[6:9], int(r[9]), *r[10:]]
                for r in rows]
        path = write_xlsx(tmp_path / "花名册.xlsx", MEMBER_HEADINGS_ZH, rows)
        code, out, err = run("import", "members", path, "--sheet", "花名册", "--on", ON, "--json")
    elif variant == "utf-16":
        path = write_csv(tmp_path / "花名册.txt", MEMBER_HEADINGS_ZH, rows, encoding=variant, delimiter="\t")
        assert path.read_bytes().startswith(b"\xff\xfe")
        code, out, err = run("import", "members", path, "--on", ON, "--json")
    else:
        path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH, rows, encoding=variant)
        assert path.read_bytes().startswith(b"\xef\xbb\xbf") == (variant == "utf-8-sig")
        code, out, err = run("import", "members", path, "--on", ON, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["recorded"], summary["encoding"]) == (4, None if variant == "xlsx" else variant)
    member = env.ledger().member(rows[3][0])
    assert (member.name, member.residence, member.household_region) == ("欧阳䶮", "鼓楼区𠀋巷", "320102")
    assert env.ledger().member(rows[1][0]).workplace == "玄武区, 某单位"
    assert {r["name"] for r in roster(env, "XW-C1-B1")} == {"党员1", "党员2", "党员3", "欧阳䶮"}


def test_a_members_file_without_the_optional_columns_imports(env: Store, tmp_path: Path) -> None:
    """工作单位 and 居住地 may be left out of the file: its members are recorded without them,
    and importing the file again records nothing new."""
    import_orgs(tmp_path)
    rows = [member_row(n)[:10] for n in (1, 2)]
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH[:10], rows)
    for dry_run in (("--dry-run",), ()):
        code, out, err = run("import", "members", path, "--on", ON, "--json", *dry_run)
        assert code == 0, err
        assert json.loads(out)["would_record" if dry_run else "recorded"] == 2
    member = env.ledger().member(rows[0][0])
    assert (member.name, member.workplace, member.residence) == ("党员1", None, None)
    code, out, err = run("import", "members", path, "--on", ON, "--json")
    assert code == 0, err
    assert (json.loads(out)["recorded"], json.loads(out)["already_recorded"]) == (0, 2)


def test_encoding_option_overrides_detection(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH, [member_row(1)], encoding="gb18030")
    before = position(env)
    code, _, err = run("import", "members", path, "--encoding", "utf-8", "--on", ON)
    assert code == 2 and "not valid utf-8" in err
    code, _, err = run("import", "members", path, "--encoding", "gb18030", "--on", ON)
    assert code == 0, err
    assert position(env) > before


def test_every_bad_cell_is_reported_with_its_row_and_column_and_nothing_is_recorded(
    env: Store, tmp_path: Path,
) -> None:
    import_orgs(tmp_path)
    ok = member_row(1)
    rows = [
        ok,                                                                      # 2: fine
        member_row(2, registration_no=ok[0][:17] + ("0" if ok[0][17] != "0" else "1")),  # 3: check character
        member_row(3, id_card_no=id_card(3)[:17] + ("0" if id_card(3)[17] != "0" else "1")),  # 4: ID check
        member_row(4, birth_date="1980-02-30", gender="未知"),                   # 5: two bad cells
        member_row(5, joined_on="2001年13月1日", status="党员", category="学者"),  # 6: three bad cells
        member_row(6, organization_code="XW-C1"),                                # 7: a committee holds no one
        member_row(7, organization_code="NOWHERE", household_region="3201"),     # 8: unknown org, bad region
        member_row(8, registration_no=ok[0]),                                    # 9: number of row 2
        member_row(9, id_card_no=ok[2]),                                         # 10: ID of row 2
        member_row(10, name=""),                                                 # 11: required
        member_row(11, birth_date="2000-01-01", joined_on="2010-07-01"),         # 12: joined at 10
        member_row(12, joined_on="2025-07-01"),                                  # 13: after the effective date
    ]
    path = write_csv(tmp_path / "bad.csv", MEMBER_HEADINGS_ZH, rows)
    before = position(env)
    code, out, err = run("import", "members", path, "--on", ON)
    assert code == 1
    assert out == ""
    assert problems(err) == {
        ("bad.csv", "3", "党员登记号码", "invalid_registration_no"),
        ("bad.csv", "4", "公民身份号码", "validation_error"),
        ("bad.csv", "5", "出生日期", "validation_error"),
        ("bad.csv", "5", "性别", "validation_error"),
        ("bad.csv", "6", "入党日期", "validation_error"),
        ("bad.csv", "6", "党员状态", "validation_error"),
        ("bad.csv", "6", "人员类别", "validation_error"),
        ("bad.csv", "7", "所在组织代码", "cannot_hold_members"),
        ("bad.csv", "8", "所在组织代码", "not_found"),
        ("bad.csv", "8", "户籍地区划代码", "validation_error"),
        ("bad.csv", "9", "党员登记号码", "duplicate_registration"),
        ("bad.csv", "10", "公民身份号码", "duplicate_registration"),
        ("bad.csv", "11", "姓名", "validation_error"),
        ("bad.csv", "12", "出生日期", "validation_error"),
        ("bad.csv", "13", "入党日期", "validation_error"),
    }
    assert "15 problem(s) in bad.csv: nothing recorded" in err
    assert position(env) == before
    for line in err.splitlines():  # no personal data in the messages
        assert all(word not in line for word in (rows[2][2], rows[8][2], *(r[1] for r in rows if r[1]))), line


def test_organization_rows_are_checked_for_codes_kinds_and_parents(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    rows = [["A-1", "甲", "committee", "XW", "320102"],       # 2: fine (parent in the ledger)
            ["A-1-B", "甲支部", "branch", "A-1", "320102"],     # 3: fine (parent in the file)
            ["A-1-B-X", "乙", "branch", "A-1-B", "320102"],     # 4: a branch has no children
            ["A 2", "丙", "委员会", "XW", "3201"],              # 5: bad code, kind, region
            ["A-3", "丁", "committee", "MISSING", "320102"],    # 6: parent nowhere
            ["A-1", "甲二", "committee", "XW", "320102"],       # 7: code of row 2
            ["A-4", "戊", "committee", "", "320102"],           # 8: only a department is a root
            ["A-5", "己", "general_branch", "A-6", "320102"],   # 9: a cycle
            ["A-6", "庚", "general_branch", "A-5", "320102"],   # 10: a cycle
            ["XW-C1", "玄武街道党工委改", "committee", "XW", "320102"]]  # 11: contradicts the ledger
    path = write_csv(tmp_path / "o.csv", ORG_HEADINGS_EN, rows)
    before = position(env)
    code, _, err = run("import", "organizations", path, "--on", ON)
    assert code == 1
    assert problems(err) == {
        ("o.csv", "4", "parent_code", "validation_error"),
        ("o.csv", "5", "code", "validation_error"),
        ("o.csv", "5", "kind", "validation_error"),
        ("o.csv", "5", "region", "validation_error"),
        ("o.csv", "6", "parent_code", "not_found"),
        ("o.csv", "7", "code", "conflict"),
        ("o.csv", "8", "parent_code", "validation_error"),
        ("o.csv", "9", "parent_code", "validation_error"),
        ("o.csv", "10", "parent_code", "validation_error"),
        ("o.csv", "11", "name", "conflict"),
    }
    assert position(env) == before
    good = write_csv(tmp_path / "good.csv", ORG_HEADINGS_EN, [rows[1], rows[0]])
    code, _, err = run("import", "organizations", good, "--on", ON)
    assert code == 0, err
    assert env.ledger().organization("A-1-B").parent_code == "A-1"


def test_missing_columns_and_unreadable_files_are_refused(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    before = position(env)
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH[:3], [member_row(1)[:3]])
    code, _, err = run("import", "members", path, "--on", ON)
    assert code == 1
    assert ("m.csv", "1", "gender", "validation_error") in problems(err)
    (tmp_path / "m.txt.gz").write_bytes(b"\x1f\x8b")
    assert run("import", "members", tmp_path / "m.txt.gz")[0] == 2
    assert run("import", "members", tmp_path / "none.csv")[0] == 2
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    code, _, err = run("import", "members", tmp_path / "broken.xlsx")
    assert code == 2 and "not a readable .xlsx" in err
    xlsx = write_xlsx(tmp_path / "m.xlsx", MEMBER_HEADINGS_ZH, [member_row(1)])
    code, _, err = run("import", "members", xlsx, "--sheet", "Sheet9")
    assert code == 2 and "no sheet 'Sheet9'" in err
    assert run("import", "members", xlsx, "--on", "2024-13-01")[0] == 2
    assert run("import", "members", xlsx, "--on", "2999-01-01")[0] == 1  # future_date
    assert position(env) == before


def test_an_id_number_that_excel_stored_as_a_number_is_refused(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    row: list[Any] = member_row(1)
    row[2] = int(id_card(1, date(1971, 2, 2))[:17] + "1") * 1.0  # as a float: digits lost
    path = write_xlsx(tmp_path / "m.xlsx", MEMBER_HEADINGS_ZH, [row], sheet="Sheet1")
    code, _, err = run("import", "members", path, "--sheet", "Sheet1", "--on", ON)
    assert code == 1
    assert problems(err) == {("m.xlsx", "2", "公民身份号码", "validation_error")}
    assert "format the column as text" in err


def test_the_same_file_twice_records_nothing_new(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH, [member_row(n) for n in range(1, 6)])
    assert run("import", "members", path, "--on", ON)[0] == 0
    after_first = position(env)
    code, out, err = run("import", "members", path, "--on", ON, "--json")
    assert code == 0, err
    assert json.loads(out)["recorded"] == 0 and json.loads(out)["already_recorded"] == 5
    code, out, _ = run("import", "organizations", tmp_path / "orgs.csv", "--on", ON, "--json")
    assert code == 0 and json.loads(out)["already_recorded"] == len(ORGS)
    assert position(env) == after_first
    # a file with old and new rows records only the new ones
    grown = write_csv(tmp_path / "m2.csv", MEMBER_HEADINGS_ZH, [member_row(n) for n in range(1, 8)])
    code, out, _ = run("import", "members", grown, "--on", ON, "--json")
    assert (code, json.loads(out)["recorded"], json.loads(out)["already_recorded"]) == (0, 2, 5)
    assert len(roster(env, "XW-C1-B1")) == 7


def test_a_contradicting_re_import_is_refused(env: Store, tmp_path: Path) -> None:
    import_orgs(tmp_path)
    rows = [member_row(n) for n in range(1, 4)]
    assert run("import", "members", write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_ZH, rows), "--on", ON)[0] == 0
    before = position(env)
    changed = [rows[0], member_row(2, organization_code="XW-C1-B2", status="预备党员"),
               member_row(3, id_card_no=id_card(99)), member_row(4)]
    code, _, err = run("import", "members", write_csv(tmp_path / "m2.csv", MEMBER_HEADINGS_ZH, changed),
                       "--on", ON)
    assert code == 1
    assert problems(err) == {("m2.csv", "3", "党员状态", "conflict"), ("m2.csv", "3", "所在组织代码", "conflict"),
                             ("m2.csv", "4", "公民身份号码", "conflict")}
    assert position(env) == before
    # a new number for a person the ledger already holds
    again = member_row(50, id_card_no=rows[0][2])
    code, _, err = run("import", "members", write_csv(tmp_path / "m3.csv", MEMBER_HEADINGS_ZH, [again]),
                       "--on", ON)
    assert code == 1
    assert problems(err) == {("m3.csv", "2", "公民身份号码", "duplicate_registration")}
    assert position(env) == before


def test_dry_run_checks_everything_and_records_nothing(env: Store, tmp_path: Path) -> None:
    before = position(env)
    code, out, err = run("import", "organizations", write_csv(tmp_path / "o.csv", ORG_HEADINGS_ZH, ORGS),
                         "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["would_record"] == len(ORGS)
    assert position(env) == before
    bad = write_csv(tmp_path / "bad.csv", ORG_HEADINGS_ZH, [*ORGS, ["B", "乙", "branch", "XW-C1-B1", "320102"]])
    code, _, err = run("import", "organizations", bad, "--dry-run")
    assert code == 1 and problems(err) == {("bad.csv", "8", "上级组织代码", "validation_error")}


def test_large_files_are_recorded_in_bounded_batches(store: Store, tmp_path: Path) -> None:
    ledger = store.ledger()
    for code in ("JS", "NJ", "XW", "XW-C1", "XW-C1-G1", "XW-C1-B1", "XW-C1-B2", "XW-S"):
        name, kind, parent, region = TREE[code]
        ledger.register_organization(code, name, kind, parent, region, on=date(2020, 1, 1))
    rows = [member_row(n, ("XW-C1-B1", "XW-C1-B2", "XW-S")[n % 3]) for n in range(1, 181)]
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, rows)
    sizes: list[int] = []
    save = ledger.save

    def counting_save(*aggregates: Any, **kwargs: Any) -> Any:
        sizes.append(len(aggregates))
        return save(*aggregates, **kwargs)

    ledger.save = counting_save  # type: ignore[method-assign]
    phases: set[str] = set()
    result = import_file(ledger, path, "members", on=date(2024, 1, 2),
                         progress=lambda phase, done, total: phases.add(phase))
    assert result.ok and result.recorded == 180
    assert len(sizes) >= 4 and max(sizes) <= MAX_AGGREGATES
    assert sum(len(ledger.organization(c).members) for c in ("XW-C1-B1", "XW-C1-B2", "XW-S")) == 180
    assert {"checking rules", "recording"} <= phases


def test_a_batch_with_a_refused_command_records_nothing(ledger: Ledger) -> None:
    before = ledger.max_position()
    with pytest.raises(ValidationError):
        ledger.batch([lambda: ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1)),
                      lambda: ledger.register_root("R2", "乙", "12", on=date(2020, 1, 1))])
    refused: list[tuple[int, str]] = []
    ledger.batch([lambda: ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1)),
                  lambda: ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1))],
                 on_error=lambda i, error: refused.append((i, error.code)))
    assert refused == [(1, "conflict")]
    assert ledger.max_position() == before
    assert ledger.batch([lambda: ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1))]) > before
    assert ledger.organization("R1").name == "甲"


def test_a_wrong_absent_hint_is_caught_by_the_store(ledger: Ledger) -> None:
    ledger.register_root("R1", "甲", "320102", on=date(2020, 1, 1))
    before = ledger.max_position()
    with pytest.raises(Conflict):
        ledger.batch([lambda: ledger.register_root("R1", "乙", "320102", on=date(2020, 1, 1))],
                     absent={organization_id("R1")})
    assert ledger.max_position() == before and ledger.organization("R1").name == "甲"


def test_a_change_to_the_store_while_recording_stops_the_import_at_that_row(store: Store, tmp_path: Path) -> None:
    ledger = store.ledger()
    for code in ("JS", "NJ", "XW", "XW-C1", "XW-C1-G1", "XW-C1-B1", "XW-C1-B2"):
        name, kind, parent, region = TREE[code]
        ledger.register_organization(code, name, kind, parent, region, on=date(2020, 1, 1))
    rows = [member_row(n) for n in range(1, 121)]
    path = write_csv(tmp_path / "m.csv", MEMBER_HEADINGS_EN, rows)
    other = store.ledger()
    last = rows[-1]

    meddled: list[int] = []

    def meddle(phase: str, done: int, total: int) -> None:
        if phase == "recording" and done < total and not meddled:
            meddled.append(done)
            # another process imports the last row's person under another number
            other.import_member("XW-C1-B2", registration_no=make_registration_no("320102", date(2010, 7, 1), 1),
                                status="full", name="某人", id_card_no=last[2], gender="male",
                                birth_date=date.fromisoformat(last[4]), joined_on=date(2010, 7, 1),
                                category="worker", household_region="320102", on=date(2024, 1, 2))

    result = import_file(ledger, path, "members", on=date(2024, 1, 2), progress=meddle)
    assert [(p.row, p.column, p.code) for p in result.problems] == [(121, "id_card_no", "duplicate_registration")]
    assert meddled and meddled[0] <= result.recorded < 120
    held = ledger.organization("XW-C1-B1").members
    assert len(held) == result.recorded and last[0] not in held
