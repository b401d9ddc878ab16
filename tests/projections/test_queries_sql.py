"""Statements composed of fragments (projections/sql.py): the values travel with
their placeholders, in order, and only checked column names join the text."""

from __future__ import annotations

import pytest

from projections.sql import Sql, in_subtree, name, still_open_letters


def test_fragments_join_their_values_in_the_order_of_their_placeholders() -> None:
    statement = "SELECT a FROM t WHERE " + Sql("b = ?", 1) + " AND " + Sql.join(" OR ", (
        Sql("c = ?", 2), Sql("d IN (?, ?)", 3, 4))).wrap("(", ")") + Sql(" LIMIT ?", 5)
    assert statement.text == "SELECT a FROM t WHERE b = ? AND (c = ? OR d IN (?, ?)) LIMIT ?"
    assert statement.params == (1, 2, 3, 4, 5)


def test_a_fragment_whose_values_do_not_match_its_placeholders_is_refused() -> None:
    with pytest.raises(ValueError, match="2 placeholders, 1 values"):
        Sql("a = ? AND b = ?", 1)
    with pytest.raises(ValueError, match="0 placeholders, 1 values"):
        Sql("a = 1", 1)


@pytest.mark.parametrize("text", ["code) OR (1 = 1", "code; DROP TABLE proj_members", "'x'", "Code", "c.d.e",
                                  "code\u0661", ""])
def test_only_column_names_join_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a column name"):
        name(text)
    with pytest.raises(ValueError):
        in_subtree(text, "XW")


def test_a_subtree_and_the_letters_still_open_take_their_values_as_parameters() -> None:
    code = "XW' OR '1' = '1"
    statement = in_subtree("t.from_organization_code", code)
    assert code not in statement.text and statement.params == (code,)
    letters = still_open_letters(("transfer_id",), "2026-01-31")
    assert "2026" not in letters.text and letters.params == ("2026-01-31",) * 6
