"""Reading a roster file: CSV (UTF-8 or GB18030) or Excel, its headings mapped to the
columns, and each cell parsed to the value the ledger records (Chinese words accepted
beside the English codes)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from api.importing.columns import COLUMNS, ImportFileError, Problem
from domain.errors import ValidationError
from domain.identifiers import validate_id_card_no, validate_region, validate_registration_no
from domain.organization import validate_code
from domain.text import normalize_text
from domain.vocabulary import CATEGORIES, GENDERS, MEMBER_STATUSES, ORGANIZATION_KINDS

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

def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), UTF-16 with its byte-order mark (Excel's
    "Unicode text"), else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
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
                return Damaged(str(value))
        return str(value)
    if isinstance(value, int):
        return str(value)
    return str(value)


class Damaged(str):
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
    first = text.split("\n", 1)[0]
    # Tab-separated (Excel's "Unicode text" and "Text (tab delimited)") when the headings'
    # line has a tab and no comma; else comma-separated.
    # strict: a quote left open at the end of the file, or one followed by more than a
    # separator, is an error (the lenient reader ends the cell quietly, taking the next rows in)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True,
                        delimiter="\t" if "\t" in first and "," not in first else ",")

    def unreadable(error: csv.Error) -> ImportFileError:
        return ImportFileError(f"{path.name} line {reader.line_num}: not readable as CSV ({error}): a quote "
                               "left open or misplaced, or a cell of more than 131,072 characters")

    try:
        headings = next(reader, [])
    except csv.Error as error:
        raise unreadable(error) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from enumerate(reader, start=2)
        except csv.Error as error:
            raise unreadable(error) from None

    return headings, rows(), chosen


def _read_xlsx(path: Path, sheet: str | None) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    import zipfile
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook

    damaged = (zipfile.BadZipFile, OSError, KeyError, ValueError, ParseError)

    def unreadable(error: Exception) -> ImportFileError:
        return ImportFileError(f"{path.name} is not a readable .xlsx file ({type(error).__name__})")

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except damaged as error:
        raise unreadable(error) from None
    if sheet is not None and sheet not in book.sheetnames:
        raise ImportFileError(f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
    worksheet = book[sheet] if sheet is not None else book.worksheets[0]
    if not hasattr(worksheet, "iter_rows"):  # a chart sheet
        raise ImportFileError(f"{path.name}: sheet {worksheet.title!r} is a chart, not rows")
    values = worksheet.iter_rows(values_only=True)
    try:
        first = next(values, ())
    except damaged as error:
        raise unreadable(error) from None
    headings = [str(_cell(h)) for h in first]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, cells in enumerate(values, start=2):
                yield number, [_cell(c) for c in cells]
        except damaged as error:
            raise unreadable(error) from None
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
        if isinstance(value, Damaged):
            raise ValidationError("the number was stored as a number in Excel and lost its last digits: "
                                  "format the column as text and enter it again")
        return check(str(value))

    return parse


PARSERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "organizations": {
        "code": validate_code,
        "name": _text(200),
        "kind": _choice(KIND_WORDS, ORGANIZATION_KINDS, "kind"),
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
        "status": _choice(STATUS_WORDS, MEMBER_STATUSES, "status"),
        "category": _choice(CATEGORY_WORDS, CATEGORIES, "category"),
        "organization_code": lambda v: validate_code(str(v), "organization_code"),
        "household_region": _number(lambda v: validate_region(v, "household_region")),
        "workplace": _text(200),
        "residence": _text(200),
    },
}

