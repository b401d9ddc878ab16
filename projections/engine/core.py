"""The engine's core: the read models it keeps, their tables' set-up (and rebuild from the
first event when their definitions change), the dispatch of each event to the read models
that handle it, and one batch of the log applied with its tracking position in one
transaction (`process_batch()`)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError, resolve_topic

from domain.base import LedgerAggregate
from domain.ledger import Ledger
from domain.personal import FIELD
from projections.cases import CasesView
from projections.certificates import CertificatesView
from projections.db import ViewDatabase
from projections.decoding import EventDecoder
from projections.engine.tracking import SCHEMA_NAME, TRACKING_DDL, TRACKING_NAME, StalePosition
from projections.figures import FiguresView
from projections.filings import FilingsView
from projections.history import HistoryView
from projections.members import MembersView
from projections.operators import OperatorsView
from projections.organizations import OrganizationsView, Tree
from projections.reading import NotificationReader
from projections.tables import Counters, Table
from projections.transfers import TransfersView

log = logging.getLogger("projections.engine")  # one logger for the engine's modules

# SQLite: the suffix of a view table set aside by a rebuild, dropped while the rebuild runs
# (a DROP walks every page of a table: tens of seconds for a province's views).
SET_ASIDE = "_set_aside"


class EngineCore:
    def __init__(self, ledger: Ledger, db: ViewDatabase, *, batch_size: int = 2000) -> None:
        self.ledger, self.db, self.batch_size = ledger, db, batch_size
        self.tree = Tree()
        self.organizations = OrganizationsView(self.tree)
        self.filings = FilingsView(self.tree)
        self.members = MembersView()
        self.transfers = TransfersView(self.tree)
        self.certificates = CertificatesView()
        self.operators = OperatorsView()
        self.figures = FiguresView(self.tree, self.transfers, self.certificates)
        self.cases = CasesView()
        self.history = HistoryView(self.members, self.transfers, self.certificates, self.cases)
        # The read models, one a module, each with its tables. They apply an event in any
        # order: each reads the event, its own rows, and rows of the others that earlier
        # events wrote (tests/projections/test_engine.py applies them in other orders).
        self.models: tuple[Any, ...] = (self.figures, self.organizations, self.filings, self.members, self.transfers,
                                        self.certificates, self.operators, self.cases, self.history)
        # The tree in memory moves after every read model has applied an event: they all see
        # the tree as it stood before the event.
        self.views: tuple[Any, ...] = (*self.models, self.tree)
        self.tables: list[Table] = [t for v in self.views for t in v.tables]
        self.counters: list[Counters] = list(self.figures.counters)
        self.all_tables: list[Table | Counters] = [*self.tables, *self.counters]
        self.position = 0
        self.decoder = EventDecoder(ledger.mapper)
        self._dispatch: dict[type, list[tuple[Any, Callable[..., None]]]] = {}
        self.reader = NotificationReader(ledger.recorder, self.unread_topics())
        self._decode = self.decoder.decode_row if self.reader.rows else self.decoder.decode
        self.applied = 0  # events applied by this engine object
        self._lock = threading.RLock()
        self._advanced = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._set_aside: list[str] = []  # tables the writer drops between batches (SQLite rebuild)
        self._dirty = False  # an apply inside a save failed: the caches reload after it
        # An apply inside a save succeeded and awaits `settle()`: another apply before it is
        # the recorder saving again after that transaction failed (domain/pglog.py retries).
        self._unsettled_apply = False
        # A batch failed and the caches could not be reloaded from the database then: they
        # are, with a new connection if the old one is dead, before the next batch.
        self._unsettled = False
        self._retry = threading.Event()  # set to make the background thread try again now
        # Called with the position after each move of it (from the thread that moved it).
        self.on_advanced: list[Callable[[int], None]] = []
        self._lock_tracking = "SELECT position FROM proj_tracking WHERE name = ?" + (
            " FOR UPDATE" if db.kind == "postgres" else "")
        self.setup()

    # --- set-up ------------------------------------------------------------------------

    def ddl(self, indexes: bool = True) -> list[str]:
        """The views' DDL; without the secondary indexes when not `indexes` (a bulk load
        builds them once at its end)."""
        statements = [TRACKING_DDL]
        for table in self.all_tables:
            statements.extend(s for s in table.ddl if indexes or not s.startswith("CREATE INDEX"))
        return statements

    def fingerprint(self) -> int:
        """A number that changes with the view tables' definitions (not with their indexes),
        as this store runs them."""
        tables = "\n".join(self.db.dialect(s) for s in self.ddl() if not s.startswith("CREATE INDEX"))
        return int(hashlib.sha256(tables.encode()).hexdigest()[:7], 16)

    def setup(self, indexes: bool = True) -> None:
        """Create the view tables if missing and load the tracking position and tree. Views
        applied with other table definitions (an older version) are dropped first, so the
        engine rebuilds them from the first event."""
        with self._lock:
            fingerprint = self.fingerprint()
            with self.db.transaction():
                self.db.execute(TRACKING_DDL)
                stored = self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (SCHEMA_NAME,))
                applied = self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,))
                if stored != fingerprint and (stored is not None or applied):
                    self.check_data_keys()  # before the views are dropped, as a rebuild does
                    log.warning("the view tables' definitions changed: rebuilding the views from the first event")
                    self._drop_tables()
                    self.db.execute(TRACKING_DDL)
                if self.db.kind == "sqlite" and not self._set_aside:
                    # tables an interrupted rebuild set aside (their indexes' names clash)
                    for (name,) in self.db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE ?",
                                                 ("%" + SET_ASIDE,)):
                        self._drop_table(name)
                for statement in self.ddl(indexes):
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO proj_tracking (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
                    (TRACKING_NAME,),
                )
                self.db.execute(
                    "INSERT INTO proj_tracking (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    (SCHEMA_NAME, fingerprint),
                )
            self._reload()

    def _reload(self) -> None:
        for table in self.tables:
            table.forget()
        for counters in self.counters:
            counters.forget()
        self.position = int(
            self.db.scalar("SELECT position FROM proj_tracking WHERE name = ?", (TRACKING_NAME,)) or 0
        )
        self.tree.load(self.db)
        if self.position == 0:  # nothing applied yet: the caches are the whole (empty) truth
            for table in self.tables:
                table.complete = True
            for counters in self.counters:
                counters.known = set()
        self._unsettled = False
        self._moved()

    def _moved(self) -> None:
        """Wake whoever waits for the position (`wait_for()`, `on_advanced`)."""
        self._advanced.notify_all()
        for listener in self.on_advanced:
            listener(self.position)

    def _recover(self) -> None:
        """After a failed batch (its transaction rolled back): forget what the caches saw and
        reload them from the database, or, when it can't be read now, before the next batch."""
        try:
            self._reload()
        except Exception:
            self._unsettled = True

    def _settle_connection(self) -> None:
        """Before a batch, after a failure: a view connection that no longer answers (the
        database restarted) is replaced, and the caches reload from what was committed."""
        if not self._unsettled:
            return
        if not self.db.ping():
            log.warning("the views' database connection was lost; reconnecting")
            self.db.reconnect()
        self._reload()

    # --- applying ----------------------------------------------------------------------

    def _handlers(self, event_type: type) -> list[tuple[Any, Callable[..., None]]]:
        """Each view's handler for an event type, resolved once per type (views that
        ignore the type are left out)."""
        found = self._dispatch.get(event_type)
        if found is None:
            found = []
            for view in self.views:
                dispatcher = type(view).__dict__["apply"].dispatcher
                handler = dispatcher.dispatch(event_type)
                if handler is not dispatcher.dispatch(object):
                    found.append((view, handler))
            self._dispatch[event_type] = found
        return found

    def check_data_keys(self) -> None:
        """Raise PersonalDataUnreadable when the data keys configured don't open the log's
        sealed personal fields, found by SQL in the stored bytes: one event sealed under each
        key id configured, and one sealed under any id not configured, decoded with the
        ledger's mapper. A rebuild checks this before dropping the views, which a key that
        opens nothing would otherwise leave empty (its first sealed event refused)."""
        keys = getattr(self.ledger.mapper, "keys", None)
        if keys is None:
            return
        table = self.ledger.recorder.events_table_name  # type: ignore[attr-defined]
        holds = "position(CAST(? AS bytea) IN state) > 0" if self.db.kind == "postgres" else "instr(state, ?) > 0"
        select = f"SELECT originator_id, originator_version, topic, state FROM {table} WHERE {holds}"
        marker = f'"{FIELD}":"'.encode()
        prefixes = [marker + key_id.encode() + b":" for key_id in keys.ids]
        found = [self.db.query(select + " LIMIT 1", (prefix,)) for prefix in prefixes]
        found.append(self.db.query(select + f" AND NOT {holds}" * len(prefixes) + " LIMIT 1", (marker, *prefixes)))
        for rows in found:
            for originator_id, version, topic, state in rows:
                self.ledger.mapper.to_domain_event(StoredEvent(originator_id=UUID(str(originator_id)),
                                                               originator_version=version, topic=topic,
                                                               state=bytes(state)))

    def unread_topics(self) -> list[str]:
        """The topics of the ledger's event classes that no view handles (bookkeeping such
        as id claims and organizations' member indexes): the reader passes over their events."""
        classes: set[type] = set()
        found: list[type] = [LedgerAggregate.Event]
        while found:
            subclasses: list[type] = found.pop().__subclasses__()
            for subclass in subclasses:
                if subclass not in classes:
                    classes.add(subclass)
                    found.append(subclass)
        unread = []
        for topic in sorted({f"{cls.__module__}:{cls.__qualname__}" for cls in classes}):
            try:
                resolved = resolve_topic(topic)  # the class the store's topic stands for
            except TopicError:
                continue  # (a class defined in a function): read as any topic
            if isinstance(resolved, type) and not self._handlers(resolved):
                unread.append(topic)
        return unread

    def _before_commit(self) -> None:
        """Called inside each batch's transaction after all writes (a seam for tests)."""

    def process_batch(self, until: int | None = None, limit: int | None = None) -> int:
        """Apply the next batch of events; returns how many were applied (0: caught up;
        -1: another engine had applied them, and this one has moved to where it is)."""
        with self._lock:
            self._settle_connection()
            limit = limit or self.batch_size
            notifications, end, count = self.reader.select_range(self.position, limit, until)
            if not count:
                return 0
            decode, position_of = self._decode, self.reader.position
            try:
                with self.db.transaction():
                    stored = self.db.scalar(self._lock_tracking, (TRACKING_NAME,))
                    if stored != self.position:
                        raise StalePosition(stored)
                    for notification in notifications:
                        event = decode(notification)
                        position = position_of(notification)
                        for view, handler in self._handlers(type(event)):
                            handler(view, event, position, self.db)
                    for table in self.tables:
                        table.flush(self.db)
                    for counters in self.counters:
                        counters.flush(self.db)
                    self.db.execute("UPDATE proj_tracking SET position = ? WHERE name = ?", (end, TRACKING_NAME))
                    self._before_commit()
            except StalePosition:
                # Another engine (another process) applied these events first: follow it.
                self._reload()
                return -1
            except BaseException:
                # The transaction rolled back: forget what the caches saw and reload.
                self._recover()
                raise
            self.position = end
            self.applied += count
            self._moved()
            return count

    def _drop_table(self, name: str) -> None:
        self.db.execute("DROP TABLE IF EXISTS " + name)  # names are this module's constants (and SET_ASIDE)


    def _drop_tables(self) -> None:
        for name in ["proj_tracking", *(t.name for t in self.all_tables)]:
            self.db.execute("DROP TABLE IF EXISTS " + name)  # names are this module's constants

