"""Statements as values: `Sql` (text and the values of its placeholders, together) and the
fragments the questions are built from, by projections/queries/ and by the read models'
own (projections/cases.py, projections/certificates.py). Every fragment's text is a
constant of the projections, or chosen from a fixed table of them; every value is a
parameter."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from domain.vocabulary import COMMITTEE_KINDS
from projections.db import ViewDatabase
from projections.transfers import VALID_UNTIL_ON


class Sql:
    """A statement, or a part of one: text with `?` placeholders and their values in order.
    Parts join with `+` (or `Sql.join`), text and values alike, so that a placeholder and
    its value can't drift apart; the text holds no `?` but placeholders (no literal has
    one), which the constructor checks."""

    __slots__ = ("params", "text")

    def __init__(self, text: str, *params: Any) -> None:
        if text.count("?") != len(params):
            raise ValueError(f"{text.count('?')} placeholders, {len(params)} values: {text[:80]!r}")
        self.text = text
        self.params: tuple[Any, ...] = params

    def __add__(self, other: Sql | str) -> Sql:
        tail = other if isinstance(other, Sql) else Sql(other)
        return Sql(self.text + tail.text, *self.params, *tail.params)

    def __radd__(self, other: str) -> Sql:
        return Sql(other) + self

    def __repr__(self) -> str:
        return f"Sql({self.text!r}, {len(self.params)} values)"

    @staticmethod
    def join(separator: str, parts: Iterable[Sql]) -> Sql:
        joined = Sql("")
        for index, part in enumerate(parts):
            joined = joined + (separator if index else "") + part
        return joined

    def wrap(self, before: str, after: str) -> Sql:
        """The text between two constants (a subquery in parentheses, say)."""
        return before + self + after


EMPTY = Sql("")
NAME = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)?", re.ASCII)


def name(column: str) -> str:
    """A column's name (optionally `alias.column`), checked: a name from this package's
    constants, never a value."""
    if not NAME.fullmatch(column):
        raise ValueError(f"not a column name: {column!r}")
    return column


def names(columns: Sequence[str]) -> str:
    """Column names, checked, as a select list."""
    return ", ".join(name(column) for column in columns)


def marks(values: Sequence[Any]) -> Sql:
    """`?, ?, ...`: one placeholder a value (an IN list of a few values)."""
    return Sql(", ".join("?" for _ in values), *values)


def one_of(db: ViewDatabase, column: str, values: Sequence[Any]) -> Sql:
    """`column` (a fixed name) is one of `values`, given as one parameter (ViewDatabase.any_of)."""
    return Sql(db.any_of(name(column)), db.list_param(values))


def table_of(db: ViewDatabase, values: Sequence[Any]) -> Sql:
    """A table `h` of one column, `value`, of the texts given (ViewDatabase.table_of)."""
    return Sql(db.table_of(), db.list_param(values))


def like(column: str, text: str, *, anywhere: bool = True) -> Sql:
    """`column` (a fixed name) contains `text` (or, not `anywhere`, begins with it), every
    character of it taken as itself: `%` and `_` typed in a search are not wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Sql(name(column) + " LIKE ? ESCAPE '\\'", ("%" if anywhere else "") + escaped + "%")


def subtree(code: str) -> Sql:
    """The codes of an organization's subtree as it is now (itself included)."""
    return Sql("SELECT descendant FROM proj_org_closure WHERE ancestor = ?", code)


def in_subtree(column: str, code: str) -> Sql:
    """`column` (a fixed name) is in the subtree."""
    return (name(column) + " IN (") + subtree(code) + ")"


def outside_other_roots(column: str, root: str) -> Sql:
    """`column` (a fixed name) is in none of the other roots' subtrees: for a root, its
    subtree without walking it."""
    return Sql(name(column) + " NOT IN (SELECT descendant FROM proj_org_closure WHERE ancestor IN "
               "(SELECT code FROM proj_organizations WHERE parent_code IS NULL AND code <> ?))", root)


def subtree_as_of(code: str, day: str) -> Sql:
    """`WITH RECURSIVE sub(code) AS (...) `: the subtree as it stood on a day, from the
    parent intervals, to be read as `(SELECT code FROM sub)`. (Its root is read from a view
    table, not given as a parameter, so that both terms have the views' collation.)"""
    return Sql(
        "WITH RECURSIVE sub(code) AS (SELECT code FROM proj_organizations WHERE code = ? "
        "UNION SELECT t.code FROM proj_org_tree t "
        "JOIN sub ON t.parent_code = sub.code WHERE t.from_on <= ? AND (t.to_on IS NULL OR t.to_on > ?)) ",
        code, day, day,
    )


def transfers_of(column: str, code: str) -> Sql:
    """The transfers whose organization in `column` (a fixed name) is in the subtree, by that
    column's index: for a small subtree a union of these, not an OR of IN clauses, which
    scans every transfer."""
    return ("SELECT transfer_id FROM proj_transfers WHERE " + in_subtree(column, code))


def valid_until_on(day: str) -> Sql:
    """The validity of a letter (a transfer row aliased `t`) in effect on a day."""
    return Sql(VALID_UNTIL_ON, day)


def nearest_committee(column: str) -> Sql:
    """The committee (or department) nearest above an organization (`column`, a fixed name,
    e.g. a certificate's home organization): the one that chases what is overdue there. The
    walk up the tree is the closure's, nearest first, stopping at the first."""
    return ("(SELECT o.code FROM proj_org_closure k JOIN proj_organizations o ON o.code = k.ancestor "
            "WHERE k.descendant = " + name(column) + " AND o.kind IN ("
            + marks(COMMITTEE_KINDS) + ") ORDER BY k.depth LIMIT 1)")


def still_open_letters(columns: Sequence[str], day: str) -> Sql:
    """Letters (their `columns`, of proj_transfers) issued by a day and neither received
    nor closed by then: three index ranges of (received_on, closed_on)."""
    select = "SELECT " + names(columns) + " FROM proj_transfers WHERE "
    return Sql.join(" UNION ALL ", (
        Sql(select + "received_on > ? AND issued_on <= ? AND (closed_on IS NULL OR closed_on > ?)", day, day, day),
        Sql(select + "received_on IS NULL AND closed_on IS NULL AND issued_on <= ?", day),
        Sql(select + "received_on IS NULL AND closed_on > ? AND issued_on <= ?", day, day),
    ))


def certificate_not_closed(day: str) -> Sql:
    """A certificate (of either kind, row aliased `c`) not yet closed on a day: one closed by
    a receipt elsewhere, a death or a leaving is no longer out, nor overdue."""
    return Sql("(c.closed_on IS NULL OR c.closed_on > ?)", day)
