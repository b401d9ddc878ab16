"""The roster files' columns (English and Chinese headings), and what an import answers:
its result and each row's problems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS_OF_FILE = ("organizations", "members")


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
    workers: int = 1  # the processes that decided and recorded the rows (api/importing/parts.py)

    @property
    def ok(self) -> bool:
        return not self.problems


Progress = Callable[[str, int, int], None]  # phase, done, total


class ImportFileError(Exception):
    """The file can't be read at all (missing, unknown format, undecodable)."""

