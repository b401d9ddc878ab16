"""Write-behind row caches for the view tables.

Read models change rows in memory while a batch is applied; `flush()` writes the changed
rows with one upsert (or delete) per table, inside the batch's transaction. After a
failed batch the caches are dropped and reload lazily from the committed tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from projections.db import ViewDatabase

Key = tuple[Any, ...]
Row = dict[str, Any]


class Table:
    """One view table: its DDL, and the rows this engine has touched."""

    def __init__(
        self, name: str, columns: Sequence[str], key: Sequence[str], ddl: Sequence[str]
    ) -> None:
        self.name, self.columns, self.key, self.ddl = name, tuple(columns), tuple(key), tuple(ddl)
        self.rows: dict[Key, Row | None] = {}
        self.dirty: set[Key] = set()
        # True when the cache holds every row (a rebuild from empty): a miss means "absent".
        self.complete = False
        # SQL from this table's fixed identifiers (never from input).
        cols = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        keys = ", ".join(self.key)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns if c not in self.key)
        self._upsert = (
            f"INSERT INTO {name} ({cols}) VALUES ({marks}) ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        )
        where = " AND ".join(f"{k} = ?" for k in self.key)
        self._delete = f"DELETE FROM {name} WHERE {where}"
        self._select = f"SELECT {cols} FROM {name} WHERE {where}"
        self.select_all = f"SELECT {cols} FROM {name} ORDER BY {keys}"

    def fresh(self) -> Table:
        """The same table with an empty cache (each engine has its own)."""
        return Table(self.name, self.columns, self.key, self.ddl)

    def get(self, db: ViewDatabase, key: Key) -> Row | None:
        if key in self.rows:
            return self.rows[key]
        if self.complete:
            return None
        found = db.query(self._select, key)
        row = dict(zip(self.columns, found[0], strict=True)) if found else None
        self.rows[key] = row
        return row

    def put(self, row: Row) -> Row:
        key = tuple(row[k] for k in self.key)
        self.rows[key] = row
        self.dirty.add(key)
        return row

    def touch(self, row: Row) -> None:
        self.dirty.add(tuple(row[k] for k in self.key))

    def delete(self, key: Key) -> None:
        self.rows[key] = None
        self.dirty.add(key)

    def flush(self, db: ViewDatabase) -> None:
        upserts, deletes = [], []
        for key in self.dirty:
            row = self.rows.get(key)
            if row is None:
                deletes.append(key)
            else:
                upserts.append(tuple(row[c] for c in self.columns))
        db.executemany(self._delete, deletes)
        db.executemany(self._upsert, upserts)
        self.dirty.clear()
        if len(self.rows) > 400_000 and not self.complete:
            self.rows.clear()

    def forget(self) -> None:
        self.rows.clear()
        self.dirty.clear()
        self.complete = False


class Counters:
    """Additive figures per (organization, month, figure): deltas summed in memory per batch."""

    def __init__(self, name: str, ddl: Sequence[str]) -> None:
        self.name, self.ddl = name, tuple(ddl)
        self.deltas: dict[tuple[str, str, str], int] = defaultdict(int)
        self._add = (
            f"INSERT INTO {name} (organization_code, month, figure, value) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (organization_code, month, figure) DO UPDATE SET value = {name}.value + excluded.value"
        )
        self.select_all = (
            f"SELECT organization_code, month, figure, value FROM {name} WHERE value <> 0 "
            "ORDER BY organization_code, month, figure"
        )

    def fresh(self) -> Counters:
        return Counters(self.name, self.ddl)

    def add(self, orgs: Sequence[str], month: str, figure: str, delta: int = 1) -> None:
        for org in orgs:
            self.deltas[(org, month, figure)] += delta

    def flush(self, db: ViewDatabase) -> None:
        db.executemany(self._add, [(*k, v) for k, v in self.deltas.items() if v])
        self.deltas.clear()

    def forget(self) -> None:
        self.deltas.clear()
