"""Importing rosters: organizations and members from CSV and Excel (.xlsx) files.

An import is all or nothing for the rows it checks: every row is read and checked first
(cells, duplicates within the file, parents, what the ledger already holds, and then every
domain rule, by the Ledger's own commands `Ledger.register_organization` and
`Ledger.import_member`, each row judged once, in chunks of a few hundred aggregates
(MAX_AGGREGATES), each chunk on top of what the chunks before it decided), and only a file
without a single problem is recorded: the chunks are saved as the check judged them
(domain/ledger/checked.py), each one atomic save. Rows identical to what the ledger
recorded for the same natural key (organization code, registration number) are skipped, so
importing a file twice records nothing new; a row that contradicts the record is a problem.

The import acts as the system (like `ledger org add-root`): it runs where the store is,
not through the API, and every event it records carries the request id
`import-<first 12 hex digits of the file's SHA-256>-<row>`, which ties it to the file.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.base import SYSTEM
from domain.errors import (
    Conflict,
    DuplicateRegistration,
    LedgerError,
    NotFound,
    ValidationError,
)
from domain.identifiers import (
    id_card_digest,
    id_claim_id,
    member_id,
    organization_id,
    validate_id_card_no,
    validate_region,
    validate_registration_no,
)
from domain.ledger import Ledger
from domain.ledger.checked import Checked
from domain.member import CATEGORIES, GENDERS, STATUSES, Member
from domain.organization import KINDS, Organization, validate_code
from domain.text import incoming_problem, normalize_text

KINDS_OF_FILE = ("organizations", "members")
# Aggregates per save: at most this many (a save is one transaction: fewer, larger saves
# record faster), at least MIN_AGGREGATES, and about a twentieth of the file's in between, so
# that a small file still moves its progress bar. Over a Unix socket PostgreSQL saves stay
# at MIN_AGGREGATES: a save of 1,000 new aggregates there has stalled in psycopg's pipeline.
MAX_AGGREGATES = 600
MIN_AGGREGATES = 100
# Rows judged per turn of the ledger's writer when checking rows against the domain's rules.
CHECK_ROWS = 2000
# Aggregate ids per query when looking up what the store already holds.
LOOKUP_IDS = 1000
# Recorded values a contradiction may show (codes, not personal data).
SHOWN = ("kind", "parent_code", "region", "status", "category", "organization_code", "household_region")

# --- the file layout ------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str  # the English heading, also the field's name
    chinese: tuple[str, ...]  # accepted Chinese headings, the first is the canonical one
    required: bool = True


ORGANIZATION_COLUMNS = (
    Column("code", ("组织代码", "代码", "组织编码")),
    Column("name", ("组织名称", "名称")),
    Column("kind", ("组织类别", "类别", "组织类型", "类型")),
    Column("parent_code", ("上级组织代码", "上级代码"), required=False),
    Column("region", ("行政区划代码", "区划代码")),
)
MEMBER_COLUMNS = (
    Column("registration_no", ("党员登记号码", "登记号码")),
    Column("name", ("姓名",)),
    Column("id_card_no", ("公民身份号码", "身份证号", "身份证号码")),
    Column("gender", ("性别",)),
    Column("birth_date", ("出生日期",)),
    Column("joined_on", ("入党日期",)),
    Column("status", ("党员状态", "党籍状态")),
    Column("category", ("人员类别",)),
    Column("organization_code", ("所在组织代码", "组织代码")),
    Column("household_region", ("户籍地区划代码", "户籍地")),
    Column("workplace", ("工作单位",), required=False),
    Column("residence", ("居住地", "现居住地"), required=False),
)
COLUMNS = {"organizations": ORGANIZATION_COLUMNS, "members": MEMBER_COLUMNS}

# Chinese words accepted in cells, beside the English codes.
KIND_WORDS = {
    "组织部": "department", "党委组织部": "department", "机关工委": "work_committee",
    "系统党委": "work_committee", "基层党委": "committee", "党委": "committee",
    "党总支": "general_branch", "总支": "general_branch", "党支部": "branch", "支部": "branch",
    "党员服务中心": "service_center", "服务中心": "service_center",
}
GENDER_WORDS = {"男": "male", "女": "female"}
STATUS_WORDS = {"正式党员": "full", "正式": "full", "预备党员": "probationary", "预备": "probationary"}
CATEGORY_WORDS = {
    "干部": "cadre", "学生": "student", "军转干部": "military_transferee", "退役军人": "military_transferee",
    "辅警": "auxiliary_police", "离退休人员": "retiree", "离退休": "retiree", "退休": "retiree",
    "工人": "worker", "农民": "farmer", "其他": "other", "其它": "other",
}
# Dates in ASCII digits, as the module's README lists them (fullmatch: nothing after).
_DATE = re.compile("([0-9]{4}) *[-/.年] *([0-9]{1,2}) *[-/.月] *([0-9]{1,2}) *日?", re.ASCII)
_DATE_DIGITS = re.compile("([0-9]{4})([0-9]{2})([0-9]{2})", re.ASCII)


@dataclass(frozen=True)
class Problem:
    """One bad cell (or row, when `column` is empty), with the refusal's stable code."""

    file: str
    row: int  # as a spreadsheet shows it: the heading is row 1
    column: str  # the heading as written in the file
    code: str
    detail: str
    position: int = field(default=-1, repr=False, compare=False)  # the column's place in the file

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.column}: {self.code}: {self.detail}"


@dataclass
class Row:
    number: int
    values: dict[str, Any]


@dataclass
class Result:
    kind: str
    file: str
    rows: int = 0
    recorded: int = 0  # rows recorded now (or, with dry_run, that would be)
    skipped: int = 0  # rows identical to what the ledger already holds
    position: int = 0
    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # by phase: read, check, record

    @property
    def ok(self) -> bool:
        return not self.problems


Progress = Callable[[str, int, int], None]  # phase, done, total


class ImportFileError(Exception):
    """The file can't be read at all (missing, unknown format, undecodable)."""


# --- reading ------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _cell(value: Any) -> Any:
    """A cell as text, or a date; numbers as Excel keeps them, without a spurious '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            value = int(value)
            if abs(value) >= 10**15:  # beyond a double's exact digits: the number is damaged
                return _Damaged(str(value))
        return str(value)
    if isinstance(value, int):
        return str(value)
    return str(value)


class _Damaged(str):
    """A long number that Excel stored as a floating-point number and so lost digits of."""


def read_table(path: Path, *, encoding: str | None = None, sheet: str | None = None,
               ) -> tuple[list[str], Iterator[tuple[int, list[Any]]], str | None]:
    """The headings and the rows (spreadsheet row number, cells) of a CSV or .xlsx file, and
    the encoding a CSV file was read in."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        if encoding:
            raise ImportFileError("--encoding applies to CSV files only")
        return (*_read_xlsx(path, sheet), None)
    if suffix not in (".csv", ".txt"):
        raise ImportFileError(f"{path.name}: give a .csv or .xlsx file")
    if sheet:
        raise ImportFileError("--sheet applies to Excel files only")
    data = path.read_bytes()
    chosen = encoding or detect_encoding(data)
    try:
        text = data.decode(chosen)
    except LookupError:
        raise ImportFileError(f"unknown encoding {chosen!r}") from None
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{path.name} is not valid {chosen} (byte {error.start})") from None
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    headings = next(reader, [])

    def rows() -> Iterator[tuple[int, list[Any]]]:
        yield from enumerate(reader, start=2)

    return headings, rows(), chosen


def _read_xlsx(path: Path, sheet: str | None) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        raise ImportFileError(f"{path.name} is not a readable .xlsx file ({type(error).__name__})") from None
    if sheet is not None and sheet not in book.sheetnames:
        raise ImportFileError(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
    worksheet = book[sheet] if sheet is not None else book.worksheets[0]
    values = worksheet.iter_rows(values_only=True)
    first = next(values, ())
    headings = [str(_cell(h)) for h in first]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, cells in enumerate(values, start=2):
                yield number, [_cell(c) for c in cells]
        finally:
            book.close()

    return headings, rows()


def _heading_key(text: str) -> str:
    return re.sub(r"[\s_\-（）()]", "", text).lower()


def map_headings(kind: str, headings: list[str], file: str) -> tuple[dict[str, int], list[Problem], list[str]]:
    """Field name -> column index; problems (missing or repeated columns); ignored headings."""
    known: dict[str, str] = {}
    for column in COLUMNS[kind]:
        for word in (column.name, *column.chinese):
            known[_heading_key(word)] = column.name
    index: dict[str, int] = {}
    problems, ignored = [], []
    for i, heading in enumerate(headings):
        name = known.get(_heading_key(heading))
        if name is None:
            if heading:
                ignored.append(heading)
        elif name in index:
            problems.append(Problem(file, 1, heading, "validation_error",
                                    f"a second column for {name} (also column {index[name] + 1})"))
        else:
            index[name] = i
    for column in COLUMNS[kind]:
        if column.required and column.name not in index:
            problems.append(Problem(file, 1, column.name, "validation_error",
                                    f"the file has no column {column.name} ({column.chinese[0]})"))
    return index, problems, ignored


# --- cells ---------------------------------------------------------------------------------


def parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    match = _DATE.fullmatch(text) or _DATE_DIGITS.fullmatch(text)
    if match is None:
        raise ValidationError("a date is written YYYY-MM-DD (or YYYY/M/D, YYYYMMDD, YYYY年M月D日)")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise ValidationError("no such date") from None


def _choice(words: dict[str, str], codes: Iterable[str], what: str) -> Callable[[Any], str]:
    allowed = tuple(codes)

    def parse(value: Any) -> str:
        text = str(value).strip()
        found = words.get(text) or (text.lower() if text.lower() in allowed else None)
        if found is None:
            raise ValidationError(f"{what} must be one of {', '.join(allowed)} (or {'、'.join(words)})")
        return found

    return parse


def _text(limit: int) -> Callable[[Any], str]:
    """Free text, trimmed and in Unicode NFC (as the ledger records it, so that a row read
    again compares equal to what was recorded)."""

    def parse(value: Any) -> str:
        text = normalize_text(str(value).strip())
        if len(text) > limit:
            raise ValidationError(f"at most {limit} characters")
        return text

    return parse


def _number(check: Callable[[str], str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, _Damaged):
            raise ValidationError("the number was stored as a number in Excel and lost its last digits: "
                                  "format the column as text and enter it again")
        return check(str(value))

    return parse


PARSERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "organizations": {
        "code": validate_code,
        "name": _text(200),
        "kind": _choice(KIND_WORDS, KINDS, "kind"),
        "parent_code": lambda v: validate_code(str(v), "parent_code"),
        "region": _number(validate_region),
    },
    "members": {
        "registration_no": _number(validate_registration_no),
        "name": _text(100),
        "id_card_no": _number(validate_id_card_no),
        "gender": _choice(GENDER_WORDS, GENDERS, "gender"),
        "birth_date": parse_date,
        "joined_on": parse_date,
        "status": _choice(STATUS_WORDS, STATUSES, "status"),
        "category": _choice(CATEGORY_WORDS, CATEGORIES, "category"),
        "organization_code": lambda v: validate_code(str(v), "organization_code"),
        "household_region": _number(lambda v: validate_region(v, "household_region")),
        "workplace": _text(200),
        "residence": _text(200),
    },
}


# --- the import ----------------------------------------------------------------------------


def first_stored_events(ledger: Ledger, ids: list[UUID]) -> list[Any]:
    """The stored first event (version 1) of each of these aggregates that the store holds,
    in one query on eventsourcing's events table (PostgreSQL or SQLite), else one per id."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresAggregateRecorder
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    recorder: Any = ledger.recorder
    table = getattr(recorder, "events_table_name", None)
    if not ids or table is None:
        return []
    # The ledger's recorders (domain/ledger/recorders.py) are subclasses of the library's.
    if isinstance(recorder, PostgresAggregateRecorder):
        from psycopg import sql

        schema = getattr(recorder.datastore, "schema", "") or ""
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        statement = sql.SQL("SELECT originator_id, originator_version, topic, state FROM {} "
                            "WHERE originator_id = ANY(%s) AND originator_version = 1").format(name)
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, [ids])
            return [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in cursor.fetchall()]
    if isinstance(recorder, SQLiteAggregateRecorder) and table.isidentifier():
        marks = ",".join("?" for _ in ids)
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                           f"WHERE originator_id IN ({marks}) AND originator_version = 1", [i.hex for i in ids])
            return [StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"])
                    for r in cursor.fetchall()]
    found = []
    for aggregate_id in ids:
        found.extend(recorder.select_events(aggregate_id, limit=1))
    return found


class _Import:
    def __init__(self, ledger: Ledger, path: Path, kind: str, *, encoding: str | None, sheet: str | None,
                 on: date | None, progress: Progress | None) -> None:
        if kind not in KINDS_OF_FILE:
            raise ImportFileError(f"kind must be one of {', '.join(KINDS_OF_FILE)}")
        self.ledger, self.path, self.kind = ledger, path, kind
        self.encoding, self.sheet, self.progress = encoding, sheet, progress
        self.on = ledger.context(on=on).on  # refuses a future or malformed date up front
        self.file = path.name
        self.result = Result(kind, self.file)
        self.headings: list[str] = []
        self.index: dict[str, int] = {}
        self.key = (ledger.env.get("LEDGER_ID_KEY") or "").encode()
        self.tag = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else ""
        self.absent: set[UUID] = set()
        self.checked = Checked()  # the rows' accepted results, judged once (domain/ledger/checked.py)
        self.freeze = gc.get_freeze_count() == 0  # unless the process froze objects of its own

    def problem(self, row: int, name: str, error: LedgerError | str, code: str = "validation_error") -> None:
        column = self.headings[self.index[name]] if name in self.index else name
        if isinstance(error, LedgerError):
            code, detail = error.code, error.detail
        else:
            detail = error
        self.result.problems.append(Problem(self.file, row, column, code, detail, self.index.get(name, -1)))

    def sort_problems(self) -> None:
        self.result.problems.sort(key=lambda p: (p.row, p.position, p.code))

    def tick(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    # reading and checking cells

    def cells(self, number: int, cells: list[Any]) -> tuple[list[Any], list[int]]:
        """A row's cells trimmed, and the places of those that are not text (a lone
        surrogate, NUL or another control character but tab and line breaks: domain/text.py),
        each a problem of its row and column."""
        trimmed, bad = [], []
        for place, cell in enumerate(cells):
            if isinstance(cell, str):
                problem = incoming_problem(cell)
                if problem is not None:
                    heading = self.headings[place] if place < len(self.headings) else f"column {place + 1}"
                    name = next((n for n, i in self.index.items() if i == place), heading)
                    self.problem(number, name, ValidationError(f"{heading} contains {problem}"))
                    bad.append(place)
                cell = cell if isinstance(cell, _Damaged) else cell.strip()  # keeps its mark
            trimmed.append(cell)
        return trimmed, bad

    def read(self) -> list[Row]:
        headings, raw, encoding = read_table(self.path, encoding=self.encoding, sheet=self.sheet)
        self.result.encoding = encoding
        self.headings, unreadable = self.cells(1, headings)
        if unreadable:
            return []
        self.index, problems, self.result.ignored_columns = map_headings(self.kind, self.headings, self.file)
        self.result.problems.extend(problems)
        if problems:
            return []
        parsers = PARSERS[self.kind]
        rows = []
        for number, raw_cells in raw:
            cells, unreadable = self.cells(number, raw_cells)
            if not any(c != "" for c in cells):
                continue  # blank lines between blocks of a roster
            values: dict[str, Any] = {"_bad": True} if unreadable else {}
            bad = bool(unreadable)
            for name, i in self.index.items():
                cell = cells[i] if i < len(cells) else ""
                if i in unreadable:
                    values[name] = None
                    continue
                if cell == "":
                    values[name] = None
                    required = next(c.required for c in COLUMNS[self.kind] if c.name == name)
                    if required:
                        self.problem(number, name, f"{name} is required")
                        bad = True
                    continue
                try:
                    values[name] = parsers[name](cell)
                except LedgerError as error:
                    self.problem(number, name, error)
                    bad = True
            if bad:
                values["_bad"] = True
            rows.append(Row(number, values))
        self.result.rows = len(rows)
        return rows

    def duplicates(self, rows: list[Row], name: str, error: type[LedgerError], what: str) -> None:
        """A natural key given twice in the file: the second row (and any later) is refused."""
        first: dict[str, int] = {}
        for row in rows:
            value = row.values.get(name)
            if value is None:
                continue
            if value in first:
                self.problem(row.number, name, error(f"the same {what} as row {first[value]}"))
                row.values["_bad"] = True
            else:
                first[value] = row.number

    # what the ledger already holds

    def holding_organizations(self, rows: list[Row]) -> None:
        """Each member's organization is in the ledger and holds members (checked on every
        row, also those with other bad cells)."""
        verdicts: dict[str, LedgerError | None] = {}
        for row in rows:
            code = row.values.get("organization_code")
            if code is None:
                continue
            if code not in verdicts:
                try:
                    self.ledger.organization(code).check_can_hold()
                    verdicts[code] = None
                except LedgerError as error:
                    verdicts[code] = error
            if verdicts[code] is not None:
                self.problem(row.number, "organization_code", verdicts[code])  # type: ignore[arg-type]
                row.values["_bad"] = True

    def first_events(self, ids: list[UUID]) -> dict[UUID, Any]:
        """The first event of each of these aggregates that the store holds."""
        found: dict[UUID, Any] = {}
        for start in range(0, len(ids), LOOKUP_IDS):
            for stored in first_stored_events(self.ledger, ids[start:start + LOOKUP_IDS]):
                found[stored.originator_id] = self.ledger.mapper.to_domain_event(stored)
        return found

    def compare(self, row: Row, recorded: Any, fields: dict[str, Any]) -> bool:
        """True if the row is what was recorded; else a problem naming each differing column."""
        differing = [name for name, value in fields.items() if getattr(recorded, name, None) != value]
        for name in differing:
            shown = f" ({getattr(recorded, name, None)})" if name in SHOWN else ""
            self.problem(row.number, name, Conflict(
                f"contradicts what the ledger recorded for this {'member' if self.kind == 'members' else 'code'}"
                f"{shown}"))
        return not differing

    def known(self, rows: list[Row]) -> list[Row]:
        """The rows the ledger does not hold yet (identical ones are skipped). Notes the ids
        the store lacks, as hints for the batches that follow."""
        if self.kind == "organizations":
            keys = [organization_id(row.values["code"]) for row in rows]
        else:
            keys = [member_id(row.values["registration_no"]) for row in rows]
            claims = [id_claim_id(id_card_digest(row.values["id_card_no"], self.key)) for row in rows]
            held = self.first_events(claims)
            self.absent.update(claim for claim in claims if claim not in held)
        first = self.first_events(keys)
        self.absent.update(key for key in keys if key not in first)
        fresh = []
        for done, (row, key) in enumerate(zip(rows, keys, strict=True), start=1):
            if done % 1000 == 0:
                self.tick("checking the ledger", done, len(rows))
            v = row.values
            recorded = first.get(key)
            if self.kind == "organizations":
                if recorded is None:
                    fresh.append(row)
                    continue
                if not isinstance(recorded, Organization.Registered):
                    self.problem(row.number, "code", Conflict("the code belongs to another record"))
                elif self.compare(row, recorded, {"name": v["name"], "kind": v["kind"],
                                                  "parent_code": v["parent_code"], "region": v["region"]}):
                    self.result.skipped += 1
            else:
                if recorded is None:
                    fresh.append(row)
                    continue
                if not isinstance(recorded, Member.Enrolled):
                    self.problem(row.number, "registration_no", Conflict("the number belongs to another record"))
                    continue
                fields = {k: v[k] for k in ("name", "gender", "birth_date", "joined_on", "status", "category",
                                            "organization_code", "household_region", "workplace", "residence")}
                fields["id_digest"] = id_card_digest(v["id_card_no"], self.key)
                same = [n for n in fields if getattr(recorded, n, None) == fields[n]]
                if len(same) == len(fields):
                    self.result.skipped += 1
                else:
                    for name in fields:
                        if name not in same:
                            column = "id_card_no" if name == "id_digest" else name
                            shown = f" ({getattr(recorded, name)})" if column in SHOWN else ""
                            self.problem(row.number, column, Conflict(
                                f"contradicts what the ledger recorded for {v['registration_no']}{shown}"))
        self.tick("checking the ledger", len(rows), len(rows))
        return fresh

    # the domain's rules, through the Ledger's own commands

    def command(self, row: Row) -> Callable[[], object]:
        v, ledger = row.values, self.ledger
        request_id = f"import-{self.tag}-{row.number}"
        if self.kind == "organizations":
            return lambda: ledger.register_organization(
                v["code"], v["name"], v["kind"], v["parent_code"], v["region"],
                actor=SYSTEM, on=self.on, request_id=request_id)
        return lambda: ledger.import_member(
            v["organization_code"], registration_no=v["registration_no"], status=v["status"], name=v["name"],
            id_card_no=v["id_card_no"], gender=v["gender"], birth_date=v["birth_date"], joined_on=v["joined_on"],
            category=v["category"], household_region=v["household_region"], workplace=v["workplace"],
            residence=v["residence"], actor=SYSTEM, on=self.on, request_id=request_id)

    def column_of(self, error: LedgerError) -> str:
        """The column a domain refusal is about, from its code and wording."""
        if self.kind == "organizations":
            if "sits only under" in error.detail:
                return "kind"
            if error.code in ("not_found", "organization_dissolved", "period_closed", "before_last_event") or any(
                    word in error.detail for word in ("children", "root", "parent")):
                return "parent_code"
            if error.code == "conflict":
                return "code"
        else:
            if error.code in ("not_found", "cannot_hold_members", "organization_dissolved",
                              "period_closed", "before_last_event"):
                return "organization_code"
            if error.code == "duplicate_registration":
                return "id_card_no" if "resident ID" in error.detail else "registration_no"
            if "birth_date" in error.detail or "18 or older" in error.detail:
                return "birth_date"
        for column in COLUMNS[self.kind]:
            if error.detail.startswith(column.name):
                return column.name
        return ""

    def check(self, chunks: list[list[Row]]) -> None:
        """Judge every chunk's rows by the Ledger's commands, each chunk on top of the ones
        before it (children see their parents), keeping the results for `record`."""
        done = rows = 0
        while done < len(chunks):
            part = [chunks[done]]
            while done + len(part) < len(chunks) and sum(map(len, part)) < CHECK_ROWS:
                part.append(chunks[done + len(part)])

            def refused(number: int, index: int, error: LedgerError, part: list[list[Row]] = part) -> None:
                self.problem(part[number][index].number, self.column_of(error), error)

            self.ledger.check([[self.command(row) for row in chunk] for chunk in part], keep=self.checked,
                              on_error=refused, absent=self.absent)
            if self.freeze:  # what was decided so far lives until it is saved: not walked by the
                gc.freeze()  # garbage collector again (its full collections grew with the file)
            done += len(part)
            rows += sum(map(len, part))
            self.tick("checking rules", rows, sum(map(len, chunks)))

    def order_organizations(self, rows: list[Row]) -> list[Row]:
        """Parents before children; a parent missing from the file and the ledger, or a cycle,
        is a problem of the child's row."""
        by_code = {row.values["code"]: row for row in rows}
        ordered: list[Row] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        for row in rows:
            path: list[Row] = []
            node: Row | None = row
            while node is not None and state.get(node.values["code"]) is None:
                state[node.values["code"]] = 1
                path.append(node)
                parent = node.values.get("parent_code")
                node = by_code.get(parent) if parent else None
                if node is not None and state.get(node.values["code"]) == 1:
                    for member in path[path.index(node):]:
                        self.problem(member.number, "parent_code", ValidationError(
                            "the parents in the file form a cycle"))
                        member.values["_bad"] = True
                    node = None
            for item in reversed(path):
                state[item.values["code"]] = 2
                ordered.append(item)
        return ordered

    # recording

    def batch_bound(self, rows: list[Row]) -> int:
        """Aggregates per save for these rows (see MAX_AGGREGATES)."""
        env = self.ledger.env
        if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres" and (env.get("POSTGRES_HOST") or "/")[0] == "/":
            return MIN_AGGREGATES
        return max(MIN_AGGREGATES, min(MAX_AGGREGATES, 3 * len(rows) // 20))

    def batches(self, rows: list[Row]) -> Iterator[list[Row]]:
        bound = self.batch_bound(rows)
        batch: list[Row] = []
        touched: set[str] = set()
        for row in rows:
            v = row.values
            if self.kind == "organizations":
                keys = {v["code"], v["parent_code"] or ""}
            else:
                keys = {v["registration_no"], "id:" + v["registration_no"], v["organization_code"]}
            if batch and len(touched) + len(keys - touched) > bound:
                yield batch
                batch, touched = [], set()
            batch.append(row)
            touched |= keys
        if batch:
            yield batch

    def record(self, chunks: list[list[Row]]) -> None:
        """Save the checked chunks in order, each as it was judged (one save each)."""
        done, total = 0, sum(map(len, chunks))
        for index, batch in enumerate(chunks):
            failed: list[tuple[Row, LedgerError]] = []

            def refused(index: int, error: LedgerError, batch: list[Row] = batch,
                        failed: list[tuple[Row, LedgerError]] = failed) -> None:
                failed.append((batch[index], error))

            def commands(batch: list[Row] = batch) -> list[Callable[[], object]]:
                return [self.command(row) for row in batch]  # only if the chunk is judged again

            position = self.ledger.record_checked(self.checked, index, commands, on_error=refused)
            if failed:  # a change between the check and now (another process acting)
                for row, error in failed:
                    self.problem(row.number, self.column_of(error), error)
                return
            done += len(batch)
            self.result.recorded = done
            self.result.position = position or self.result.position
            self.tick("recording", done, total)

    def run(self, dry_run: bool) -> Result:
        clock = time.monotonic()
        rows = self.read()
        kind = self.kind
        if kind == "organizations":
            self.duplicates(rows, "code", Conflict, "organization code")
        else:
            self.duplicates(rows, "registration_no", DuplicateRegistration, "registration number")
            self.duplicates(rows, "id_card_no", DuplicateRegistration, "resident ID number")
            self.holding_organizations(rows)
        good = [row for row in rows if not row.values.get("_bad")]
        self.result.seconds["read"] = time.monotonic() - clock
        clock = time.monotonic()
        fresh = self.known(good)
        if kind == "organizations":
            fresh = self.order_organizations(fresh)
            fresh = [row for row in fresh if not row.values.get("_bad")]
            codes_in_file = {row.values["code"] for row in fresh}
            bad_codes = {row.values.get("code") for row in rows if row.values.get("_bad")}
            for row in list(fresh):
                parent = row.values["parent_code"]
                if parent and parent not in codes_in_file:
                    try:
                        self.ledger.organization(parent)
                    except NotFound:
                        fresh.remove(row)
                        if parent not in bad_codes:  # else the parent's own row has the problem
                            self.problem(row.number, "parent_code", NotFound(
                                f"parent {parent!r} is neither in the file nor in the ledger"))
        else:
            fresh.sort(key=lambda row: (row.values["organization_code"], row.number))
        chunks = list(self.batches(fresh))
        self.check(chunks)
        self.result.seconds["check"] = time.monotonic() - clock
        self.sort_problems()
        if self.result.problems:
            return self.result
        if dry_run:
            self.result.recorded = len(fresh)
            return self.result
        clock = time.monotonic()
        self.record(chunks)
        self.result.seconds["record"] = time.monotonic() - clock
        self.sort_problems()
        return self.result


def import_file(
    ledger: Ledger, path: str | Path, kind: str, *, encoding: str | None = None, sheet: str | None = None,
    on: date | None = None, dry_run: bool = False, progress: Progress | None = None,
) -> Result:
    """Check every row of a roster file and, if none has a problem (and not `dry_run`),
    record the rows the ledger does not hold yet. Raises `ImportFileError` for a file that
    can't be read, `LedgerError` for a bad `on`; row problems are in the result."""
    job = _Import(ledger, Path(path), kind, encoding=encoding, sheet=sheet, on=on, progress=progress)
    try:
        return job.run(dry_run)
    finally:
        if job.freeze:
            gc.unfreeze()
