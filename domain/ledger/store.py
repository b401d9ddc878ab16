"""The Ledger's store: the eventsourcing Application under the `Ledger`, with what every
command's save needs: the environment and mapper of the store, the aggregate cache, the
context of a command (who, when), and the atomic save of a group's aggregates, with the
store's check of what the group read (domain/ledger/recorders.py) and the transaction hook
that writes the views in the same transaction. The writer (domain/ledger/writer.py) saves
through it; the `Ledger` (domain/ledger/application.py) builds on it.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from operator import attrgetter
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper, Notification, PersistenceError
from eventsourcing.utils import Environment, strtobool

from domain.base import SYSTEM, Actor, Context, LedgerAggregate
from domain.commandkey import CommandKey
from domain.errors import FutureDate, ValidationError
from domain.ledger.bulk import load_many, load_one
from domain.ledger.cache import DEFAULT_MAXSIZE, AggregateCache
from domain.ledger.recorders import IN_TRANSACTION, READS, RECORDERS, ReadSet, StaleRead
from domain.member import Member
from domain.organization import Organization
from domain.personal import DataKeys, PersonalDataMapper
from domain.pglog import PostgresLogRecorder
from domain.pgpool import check_recent_only
from domain.transcodings import TRANSCODINGS

log = logging.getLogger("ledger.store")

# `write_snapshots`: an aggregate with fewer events than this is loaded as fast from its events;
# snapshots are written this many at a time (one statement each).
SNAPSHOT_FROM = 4
SNAPSHOT_BATCH = 500


class TransactionHook(Protocol):
    """Work done in the transaction of each save of the Ledger's commands: `begin()` before
    the transaction, then `in_transaction()` (unless the save fails before its insert),
    then `committed()` or `rolled_back()`."""

    def begin(self) -> None:
        """A save is about to begin (e.g. take the locks the work needs, before the store's)."""

    def in_transaction(self, connection: Any, saved: list[tuple[int, Any]], before: int) -> None:
        """Inside the transaction, after the insert: the events with their positions, in
        order, and the greatest position before them (see domain/ledger/recorders.py)."""

    def committed(self) -> None:
        """The transaction committed."""

    def rolled_back(self) -> None:
        """The transaction rolled back (or its end is unknown)."""


class CachedSource:
    """A session's aggregates, from the Ledger's cache of current aggregates: working copies
    for commands, the cached objects themselves for reads that change nothing."""

    def __init__(self, ledger: LedgerStore, copies: bool = True) -> None:
        self.ledger, self.cache, self.copies = ledger, ledger.cache, copies
        self.id_key = ledger._id_key

    def load(self, aggregate_id: UUID) -> LedgerAggregate | None:
        return self.cache.copy(aggregate_id) if self.copies else self.cache.get(aggregate_id)

    def is_stored(self, aggregate_id: UUID) -> bool:
        if aggregate_id in self.cache:
            return True
        return bool(self.ledger.recorder.select_events(aggregate_id, desc=True, limit=1))

    def stored_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return self.ledger.aggregate_events(aggregate_id)


def events_in_order(aggregates: Sequence[LedgerAggregate]) -> list[Any]:
    """The aggregates' pending events in the order they were made (their timestamps), each
    aggregate's own in its order whatever the clock did: the events of several commands
    saved at once (a batch, a group of requests) take positions in the order the commands
    made them, so a member's history read by position is oldest first."""
    return list(heapq.merge(*(a.pending_events for a in aggregates), key=attrgetter("timestamp")))


class LedgerStore(Application[UUID]):
    """The store under the transfer ledger (its settings: see `Ledger`)."""

    name = "ledger"
    snapshotting_intervals = {Organization: 100, Member: 100}  # noqa: RUF012
    # The aggregates commands are decided on are kept by `self.cache` (domain/ledger/cache.py),
    # which follows the store's log; the repository only loads what the cache misses.

    def __init__(
        self, env: dict[str, str] | None = None, *, today: Callable[[], date] | None = None
    ) -> None:
        super().__init__(env)
        # PostgreSQL: a pooled connection is checked as it is lent only when it has not been
        # lent within the last second (domain/pgpool.py), not on every lend.
        self.pool_check = check_recent_only(getattr(self.recorder, "datastore", None))
        key = self.env.get("LEDGER_ID_KEY") or ""
        if len(key) < 16:
            raise ValueError("LEDGER_ID_KEY must be set to a secret of at least 16 characters")
        self._id_key = key.encode()
        zone = ZoneInfo(self.env.get("LEDGER_TIMEZONE") or "Asia/Shanghai")
        self._today = today or (lambda: datetime.now(zone).date())
        # Called with the position of the last event after every save (e.g. to bring the
        # embedded store's views up to date before the command returns).
        self.on_saved: list[Callable[[int], None]] = []
        # Given the events of each save inside its transaction (domain/ledger/recorders.py):
        # e.g. to write the views with them, committed with the events.
        self.transaction_hook: TransactionHook | None = None
        self._committing = threading.local()
        # whether an import writes snapshots of the organizations it saved (`write_snapshots`)
        try:
            self.import_snapshots = strtobool((self.env.get("LEDGER_IMPORT_SNAPSHOTS") or "true").strip())
        except ValueError:
            raise ValueError("LEDGER_IMPORT_SNAPSHOTS must be true or false") from None
        maxsize = int(self.env.get("LEDGER_AGGREGATE_CACHE") or DEFAULT_MAXSIZE)
        self.cache = AggregateCache(self.recorder, self.mapper, self._load, maxsize, self._load_many)
        self._source = CachedSource(self)
        self._reading = CachedSource(self, copies=False)
        # One group of commands is decided and saved at a time in this process, by one
        # writer thread (domain/ledger/writer.py), holding this lock.
        self._writing = threading.RLock()
        # While `collecting_saved()` runs: the kinds of aggregate it collects, and the last
        # saved state of each aggregate of them saved, by id.
        self._collecting: list[tuple[tuple[type, ...], dict[UUID, LedgerAggregate]]] = []

    @property
    def writing(self) -> threading.RLock:
        """The lock a group of commands is judged and saved under in this process: whoever
        holds it keeps this process's saves waiting (the sealer's background batches on SQLite,
        projections/sealer.py)."""
        return self._writing

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """The store's environment, with this package's recorders (they call a save's
        `in_transaction` hook) unless another application recorder is named."""
        found = super().construct_env(name, env)
        recorder = RECORDERS.get(found.get("PERSISTENCE_MODULE") or "")
        if recorder and not found.get("APPLICATION_RECORDER_TOPIC"):
            found["APPLICATION_RECORDER_TOPIC"] = recorder
        return found

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper (with any cipher or compressor its settings name) that also
        seals the personal fields of each event with the data keys of LEDGER_DATA_KEYS."""
        factory = self.factory
        return PersonalDataMapper(transcoder=self.construct_transcoder(), cipher=factory.cipher(),
                                  compressor=factory.compressor(), keys=DataKeys.from_env(self.env))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    # --- plumbing ----------------------------------------------------------------------

    def _notify(self, recordings: list[Any]) -> None:
        hook = getattr(self._committing, "hook", None)
        if hook is not None:  # called by `save()` once the events are committed
            self._committing.hook = None
            hook.committed()
        if recordings and self.on_saved:
            position = max(r.notification.id for r in recordings)
            for callback in self.on_saved:
                callback(position)

    def today(self) -> date:
        return self._today()

    def context(
        self, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None
    ) -> Context:
        today = self.today()
        if on is None:
            on = today
        if not isinstance(on, date) or isinstance(on, datetime):
            raise ValidationError("on must be a date (YYYY-MM-DD)")
        if on > today:
            raise FutureDate(f"effective date {on} is after today ({today})")
        if on.year < 1900:
            raise ValidationError("effective dates start in 1900")
        return Context(on=on, actor=actor, **({"request_id": request_id} if request_id else {}))

    def _load(self, aggregate_id: UUID) -> LedgerAggregate | None:
        """The aggregate as stored now (domain/ledger/bulk.py `load_one`), None if absent."""
        found: LedgerAggregate | None = load_one(self.repository.event_store, self.repository.snapshot_store,
                                                 aggregate_id)
        if found is not NotImplemented:
            return found
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found

    def _load_many(self, aggregate_ids: list[UUID]) -> dict[UUID, LedgerAggregate] | None:
        """`_load` of many aggregates, in bulk (domain/ledger/bulk.py); None when the store
        can't be read in bulk."""
        return load_many(self.repository.event_store, self.repository.snapshot_store, aggregate_ids)

    def _save(self, pending: list[LedgerAggregate], reads: ReadSet | None = None) -> list[Any]:
        """Save the aggregates at once; the cache then holds them. With `reads` (what the
        decisions read, domain/ledger/recorders.py), the store refuses the save when one of
        them changed since. When the store refuses (another process changed one of them
        first), the cache forgets them and those found changed. With a `transaction_hook`,
        the hook is given the events with their positions inside the saving transaction,
        and told whether it committed."""
        hook = self.transaction_hook
        kwargs: dict[str, Any] = {READS: reads} if reads is not None else {}
        if hook is not None:
            events = events_in_order(pending)

            def in_transaction(connection: Any, ids: list[int], before: int) -> None:
                hook.in_transaction(connection, list(zip(ids, events, strict=True)), before)

            kwargs[IN_TRANSACTION] = in_transaction
            hook.begin()
            self._committing.hook = hook
        try:
            recordings = self.save(*pending, **kwargs)
        except IntegrityError as error:
            self.cache.evict([a.id for a in pending])
            if isinstance(error, StaleRead):
                self.cache.evict(error.ids)
            raise
        finally:
            if getattr(self._committing, "hook", None) is not None:  # not committed
                self._committing.hook = None
                hook.rolled_back()  # type: ignore[union-attr]
        self.cache.put(pending, (r.notification.id for r in recordings))
        for kinds, saved in self._collecting:
            saved.update((a.id, a) for a in pending if isinstance(a, kinds))
        return recordings

    @contextlib.contextmanager
    def collecting_saved(self, *kinds: type[LedgerAggregate]) -> Iterator[dict[UUID, LedgerAggregate]]:
        """For the duration, the aggregates of these kinds this process saves, by id: the
        objects last saved, which the cache holds. No command changes them (commands work on
        copies); the cache only brings them forward by the events others record after, so
        an object's state is always that of its version. An import collects the
        organizations it saved, to write their snapshots (`write_snapshots`)."""
        entry: tuple[tuple[type, ...], dict[UUID, LedgerAggregate]] = (kinds, {})
        with self._writing:
            self._collecting.append(entry)
        try:
            yield entry[1]
        finally:
            with self._writing:
                self._collecting.remove(entry)

    def write_snapshots(self, aggregates: Iterable[LedgerAggregate]) -> int:
        """A snapshot of each of these aggregates in the state given, which must be their state
        as saved (`collecting_saved`), written to the snapshot store; the number written.
        eventsourcing's `take_snapshot` loads each aggregate from the store first, which for
        an import's tens of thousands of branches would cost more than the snapshots save.
        Passed over: aggregates of fewer than SNAPSHOT_FROM events, and those at a version
        the library snapshots itself (`snapshotting_intervals`). A snapshot is only a faster
        way to load: a batch the store refuses (e.g. the connection lost) is logged and
        passed over, since the events it would summarize are recorded."""
        store = self.snapshots
        if store is None:
            return 0
        taken = []
        with self.cache.lock:  # the cache may apply others' events to the objects it holds
            for aggregate in aggregates:
                interval = self.snapshotting_intervals.get(type(aggregate))
                if aggregate.version < SNAPSHOT_FROM or (interval and aggregate.version % interval == 0):
                    continue
                snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                if snapshot_class is not None:
                    taken.append(snapshot_class.take(copy.deepcopy(aggregate)))
        written = 0
        for start in range(0, len(taken), SNAPSHOT_BATCH):
            batch = taken[start:start + SNAPSHOT_BATCH]
            try:
                store.put(batch)
            except PersistenceError as error:
                log.warning("snapshots not written (%s): %s", type(error).__name__, error)
                continue
            written += len(batch)
        return written

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """eventsourcing's `Application.save`, but the events of the ledger's own aggregates
        are collected directly: the library asks of every object saved whether it is a domain
        event, through a runtime `Protocol` check that costs about 40 µs an aggregate on
        Python 3.11 (a tenth of an import's CPU)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        ours = [obj for obj in objs if isinstance(obj, LedgerAggregate)]
        processing_event.events.extend(events_in_order(ours))
        for aggregate in ours:
            aggregate.collect_events()  # taken above, in order
            processing_event.aggregates[aggregate.id] = aggregate
        for obj in objs:
            if not isinstance(obj, LedgerAggregate):
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def cache_info(self) -> dict[str, int]:
        """The aggregate cache's size, bound (LEDGER_AGGREGATE_CACHE) and counts."""
        return self.cache.info()


    def _command_marker(self, key: UUID) -> CommandKey | None:
        """The marker of a keyed command already recorded, if any."""
        try:
            marker: LedgerAggregate = self.repository.get(key)
        except AggregateNotFoundError:
            return None
        return marker if isinstance(marker, CommandKey) else None


    def aggregate_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return list(self.repository.event_store.get(aggregate_id))


    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def adopt_saves(self, position: int) -> None:
        """The events up to `position` were saved for this process by others (an import's
        worker processes): its reads of the log (`max_position`, `read_events`, the views'
        catch-up) wait for them as for its own saves, while an older transaction holds
        them back from readers (PostgreSQL, domain/pglog.py). On SQLite a commit is read
        at once."""
        if isinstance(self.recorder, PostgresLogRecorder):
            self.recorder.adopt(position)

    def read_events(
        self, after: int = 0, limit: int = 1000, topics: Sequence[str] = ()
    ) -> Iterator[tuple[int, DomainEventProtocol[UUID]]]:
        """Events after a global position, in order, read in pages (for projections,
        exports and audits). Positions may have gaps."""
        for notification in self.read_stored(after, limit, topics):
            yield notification.id, self.mapper.to_domain_event(notification)

    def read_stored(self, after: int = 0, limit: int = 1000, topics: Sequence[str] = ()) -> Iterator[Notification]:
        """The stored events after a global position, in order, not decoded (`read_events`
        decodes them; the audit stream decodes each on its own, so that one which no longer
        decodes is shown as such instead of failing the rest)."""
        while True:
            page = self.recorder.select_notifications(
                start=after, limit=limit, topics=topics, inclusive_of_start=False
            )
            yield from page
            if len(page) < limit:
                return
            after = page[-1].id
