"""What users ask of the views, behind one facade, `Queries`: rosters (now and as of any
date) and the people reads of the routes (rosters.py), the tree and names
(organizations.py), transfer, certificate and case lists (lists.py), the overdue list
(overdue.py, overdue_wide.py, overdue_kinds.py) and the monthly and annual reports of
DOMAIN.md §8 (reports.py). Every query reads only the view tables.

Statements are composed of `sql.Sql` values: a fragment's text (a constant of this
package, or a column name from a fixed table of them, checked by `sql.name`) travels with
the values of its `?` placeholders, so that joining fragments joins their parameters in
the same order, and no value is ever formatted into a statement. Not psycopg.sql: the same
statements run on SQLite (the `sqlite3` module, `?` placeholders) and on PostgreSQL
(psycopg, where ViewDatabase turns each `?` into `%s`); psycopg.sql's Composed objects
render only against a psycopg connection and know nothing of SQLite, while a statement
built as text with its parameters beside it runs on both."""

from __future__ import annotations

from projections.queries.lists import Lists
from projections.queries.organizations import Organizations
from projections.queries.overdue import Overdue
from projections.queries.reports import Reports
from projections.queries.rosters import Rosters

__all__ = ["Queries"]


class Queries(Organizations, Rosters, Lists, Overdue, Reports):
    """Every question asked of the views, on one connection (`db`, a snapshot when the
    caller opened one) and, for work beside it, a spare (`spare`)."""
