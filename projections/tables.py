"""Write-behind row caches for the view tables.

Read models change rows in memory while a batch is applied; `flush()` writes the changed
rows with one upsert (or delete) per table, inside the batch's transaction. After a
failed batch the caches are dropped and reload lazily from the committed tables.

When a cache is `complete` (the engine started from empty, as in a rebuild) it knows
which rows the table holds, so rows it has never written are inserted plainly (COPY on
PostgreSQL) and only rows written before are upserted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any, cast

from projections.db import ViewDatabase

Key = tuple[Any, ...]
Row = dict[str, Any]
_MISSING: Any = object()
COUNTER_COLUMNS = ("organization_code", "month", "figure", "value")
COUNTER_KEY = ("organization_code", "figure", "month")  # the counters tables' primary key, in its order
# Rows a cache keeps across batches at most; a cache that outgrows its limit forgets the
# rows it has kept longest, down to half the limit, and reads misses from the table again.
CACHE_LIMIT = 400_000
COMPLETE_CACHE_LIMIT = 2_000_000
# Keys a counter table remembers writing at most (while it knows every key its table holds).
COUNTER_KEYS_LIMIT = 8_000_000


_last_originator: tuple[object, str] = (None, "")


def originator_key(event: Any) -> str:
    """`str(event.originator_id)`, made once per event however many handlers ask for it
    (the last event's text is kept; a tuple swapped whole, so threads can share it)."""
    global _last_originator
    last = _last_originator
    if last[0] is event:
        return last[1]
    key = str(event.originator_id)
    _last_originator = (event, key)
    return key


class Table:
    """One view table: its DDL, and the rows this engine has touched."""

    def __init__(
        self, name: str, columns: Sequence[str], key: Sequence[str], ddl: Sequence[str],
        written_once: bool = False, index_only: bool = False,
    ) -> None:
        self.name, self.columns, self.key, self.ddl = name, tuple(columns), tuple(key), tuple(ddl)
        # Rows put once under a key never put again, and never read back through the cache
        # (an index of events): kept as the values to insert, until taken.
        self.written_once = written_once
        # Queries read this table by index-only scans (covering indexes, counts): on
        # PostgreSQL a bulk load ends with VACUUM, which sets the visibility map they need
        # (other tables are only analyzed; autovacuum comes to them later).
        self.index_only = index_only
        self.appended: list[tuple[Any, ...]] = []
        # A write-once table's row as its values, in the order of `columns` (no row dict).
        self.append: Callable[[tuple[Any, ...]], None] = self.appended.append
        self.rows: dict[Key, Row | None] = {}
        self.dirty: set[Key] = set()
        # Keys first put since the last flush (while complete, or known new): rows the table does
        # not hold yet. Not in `dirty` unless touched again after being put.
        self.new: set[Key] = set()
        # True when the cache holds every row (a rebuild from empty): a miss means "absent".
        self.complete = False
        self._last_event: tuple[Any, Row | None] = (None, None)  # see originator_row()
        self._key_of: Callable[[Row], Key] = (
            itemgetter(*self.key) if len(self.key) > 1 else lambda row, k=self.key[0]: (row[k],)  # type: ignore[misc]
        )
        self._values: Callable[[Row], tuple[Any, ...]] = itemgetter(*self.columns)
        # SQL from this table's fixed identifiers (never from input).
        cols = ", ".join(self.columns)
        keys = ", ".join(self.key)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns if c not in self.key)
        self._conflict = f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        self._upsert = f"INSERT INTO {name} ({cols}) VALUES ({', '.join('?' for _ in self.columns)}) {self._conflict}"
        where = " AND ".join(f"{k} = ?" for k in self.key)
        self._delete = f"DELETE FROM {name} WHERE {where}"
        self._select = f"SELECT {cols} FROM {name} WHERE {where}"
        self.select_all = f"SELECT {cols} FROM {name} ORDER BY {keys}"

    def fresh(self) -> Table:
        """The same table with an empty cache (each engine has its own)."""
        return Table(self.name, self.columns, self.key, self.ddl, self.written_once, self.index_only)

    def get(self, db: ViewDatabase, key: Key) -> Row | None:
        """The row of `key`, from the cache or the table."""
        row = self.rows.get(key, _MISSING)
        if row is not _MISSING:
            return row
        if self.complete:
            return None
        found = db.query(self._select, key)
        row = dict(zip(self.columns, found[0], strict=True)) if found else None
        self.rows[key] = row
        return row

    def originator_row(self, db: ViewDatabase, event: Any) -> Row | None:
        """The row keyed by the event's `originator_key()`: looked up once an event, however
        many views ask (a row found is kept with the event until another event asks)."""
        last = self._last_event
        if last[0] is event:
            return last[1]
        row = self.get(db, (originator_key(event),))
        if row is not None:
            self._last_event = (event, row)
        return row

    def put(self, row: Row, new: bool = False) -> Row:
        """Keep `row` and write it with the next flush. `new`: the caller knows that the
        table holds no row of its key (as it knows of a write-once table's rows), so it is
        inserted, not upserted."""
        if self.written_once:
            self.appended.append(self._values(row))
            return row
        key = self._key_of(row)
        if (new and key not in self.dirty) or (self.complete and key not in self.rows):
            self.new.add(key)  # (not in `dirty` too: a row touched after it was put is, and is still new)
        else:
            self.dirty.add(key)
        self.rows[key] = row
        return row

    def insert(self, key: Key, row: Row) -> Row:
        """Keep `row`, of `key`, and insert it with the next flush: the caller knows that no
        row of `key` is in the table, or has been put or deleted since the last flush."""
        self.new.add(key)
        self.rows[key] = row
        return row

    def touch(self, row: Row, key: Key | None = None) -> None:
        """Write `row` (of `key`, when the caller has it) with the next flush."""
        self.dirty.add(self._key_of(row) if key is None else key)

    def delete(self, key: Key) -> None:
        if key in self.new:  # never written: nothing to delete
            self.new.discard(key)
            self.dirty.discard(key)
            del self.rows[key]
            return
        self.rows[key] = None
        self.dirty.add(key)

    def flush(self, db: ViewDatabase) -> None:
        self.take()(db)

    def take(self) -> Callable[[ViewDatabase], None]:
        """The changed rows as they are now, written by the returned function (later, maybe
        while the cache goes on changing); the cache counts them as written."""
        rows, values, new = self.rows, self._values, self.new
        # Rows first put since the last take (some touched since, in `dirty` too: written once, here).
        inserts = list(map(values, map(cast(Callable[[Key], Row], rows.__getitem__), new)))
        if self.appended:
            inserts += self.appended
            self.appended.clear()
        upserts, deletes = [], []
        for key in self.dirty - new if new else self.dirty:
            row = rows.get(key)
            if row is None:
                deletes.append(key)
            else:
                upserts.append(values(row))
        self.dirty.clear()
        new.clear()
        if len(rows) > (limit := COMPLETE_CACHE_LIMIT if self.complete else CACHE_LIMIT):
            # Forget the rows first kept longest ago, down to half the limit (the recent
            # ones are those the next events most likely change): misses now read the table.
            for key in list(islice(rows, len(rows) - limit // 2)):
                del rows[key]
            self.complete = False

        def write(db: ViewDatabase) -> None:
            db.executemany(self._delete, deletes)
            db.write_rows(self.name, self.columns, inserts)
            db.write_rows(self.name, self.columns, upserts, self._conflict, self.key)

        return write

    def forget(self) -> None:
        self.rows.clear()
        self.dirty.clear()
        self.new.clear()
        self.appended.clear()
        self.complete = False
        self._last_event = (None, None)


class Counters:
    """Additive figures per (organization, month, figure): deltas summed in memory per batch.

    A figure counted at an organization and at each of its ancestors (`add_up`) is summed
    at the organization alone until the batch is taken, and only then spread up its chain
    (`ancestors`): once for all the batch's changes there, not once a change. The chain
    is the one when spread: call `spread()` before the tree changes."""

    def __init__(self, name: str, ddl: Sequence[str],
                 ancestors: Callable[[str], Sequence[str]] | None = None) -> None:
        self.name, self.ddl, self.ancestors = name, tuple(ddl), ancestors
        self.deltas: dict[tuple[str, str, str], int] = defaultdict(int)
        self.below: dict[tuple[str, str, str], int] = defaultdict(int)  # added up, not spread yet
        # Every key the table holds, when known (the engine started from empty, as in a
        # rebuild): a key not in it is inserted plainly (COPY on PostgreSQL), not upserted.
        self.known: set[tuple[str, str, str]] | None = None
        self._conflict = (
            f"ON CONFLICT (organization_code, month, figure) DO UPDATE SET value = {name}.value + excluded.value"
        )
        self.select_all = (
            f"SELECT organization_code, month, figure, value FROM {name} WHERE value <> 0 "
            "ORDER BY organization_code, month, figure"
        )

    def fresh(self, ancestors: Callable[[str], Sequence[str]] | None = None) -> Counters:
        return Counters(self.name, self.ddl, ancestors)

    def add(self, orgs: Sequence[str], month: str, figure: str, delta: int = 1) -> None:
        for org in orgs:
            self.deltas[(org, month, figure)] += delta

    def add_up(self, org: str, month: str, figure: str, delta: int = 1) -> None:
        """Add at `org` and at each of its ancestors."""
        self.below[(org, month, figure)] += delta

    def spread(self) -> None:
        """Add what was added up to each organization's chain of ancestors as it is now."""
        if not self.below:
            return
        deltas, ancestors = self.deltas, self.ancestors
        assert ancestors is not None, "counters added up need the tree's ancestors"
        for (org, month, figure), delta in self.below.items():
            if delta:
                for up in ancestors(org):
                    deltas[(up, month, figure)] += delta
        self.below.clear()

    def flush(self, db: ViewDatabase) -> None:
        self.take()(db)

    def take(self) -> Callable[[ViewDatabase], None]:
        """The deltas summed so far, added by the returned function; the cache starts again."""
        self.spread()
        known = self.known
        inserts, upserts = [], []
        for key, delta in self.deltas.items():
            if not delta:
                continue
            if known is None or key in known:
                upserts.append((*key, delta))
            else:
                inserts.append((*key, delta))
                known.add(key)
        self.deltas.clear()
        if known is not None and len(known) > COUNTER_KEYS_LIMIT:
            self.known = None

        def write(db: ViewDatabase) -> None:
            db.write_rows(self.name, COUNTER_COLUMNS, inserts)
            db.write_rows(self.name, COUNTER_COLUMNS, upserts, self._conflict, COUNTER_KEY)

        return write

    def forget(self) -> None:
        self.deltas.clear()
        self.below.clear()
        self.known = None
