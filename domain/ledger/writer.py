"""Group commit: one writer thread per Ledger decides the commands in the order they arrive
and saves them in groups.

Callers submit a unit (a command, or a batch judged as a whole) and wait on its future.
The writer takes every unit waiting (up to `MAX_GROUP`), brings the aggregate cache up to
date from the log (one query), and judges each unit in order, alone, in its own `Session`
over an overlay of the working copies the group's accepted units left: an accepted unit's
copies join the overlay; a refused unit's error goes to its future and nothing of it is
kept, so it changes nothing for the units after it. The group's events are then saved in
one transaction, and only then is each future resolved, with the position of its own last
event.

Several processes on one store: the overlay notes every aggregate the group's units read
(accepted or refused), with the version read (0 for one looked for and absent), and the
save is checked against them at its commit (domain/ledger/recorders.py: locks in one order,
then the check, in the save's own round trip): when another process saved a newer version of any of them meanwhile, the
store refuses the save, the cache forgets those aggregates, and the whole group is judged
again on the current state; so is it when the store's unique (id, version) refuses the
save. After `OPTIMISTIC_ATTEMPTS` such rounds the writer takes the store's turn (on
PostgreSQL, an advisory lock every other save takes shared) and judges and saves with
nobody else saving; only when that too fails, `SAVE_ATTEMPTS` rounds in all, is each unit
refused with `conflict`.

One writer per process means commands inside one process never collide with each other:
clerks acting on the same branch at once are decided one after the other.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError

from domain.base import LedgerAggregate
from domain.commandkey import CommandKey
from domain.errors import Conflict
from domain.ledger.recorders import ReadSet, StaleRead
from domain.ledger.session import Recorded, Session
from domain.ledger.store import LedgerStore

log = logging.getLogger(__name__)

MAX_GROUP = 500  # units judged and saved together at most
MAX_GROUP_EVENTS = 2000  # past this many events, the rest of the units wait for the next group
OPTIMISTIC_ATTEMPTS = 3  # rounds judged on the cache before the writer takes the store's turn
SAVE_ATTEMPTS = 6
ANSWER_TIMEOUT = 30.0  # seconds a caller waits for its unit's commit
# The writer thread ends once it has no work (after this long), and the next unit starts
# another: a Ledger nobody uses is not kept alive by its thread (nor its connections).
IDLE_SECONDS = 0.0


def working_copy(aggregate: LedgerAggregate) -> LedgerAggregate:
    """A deep copy of the aggregate's state that shares its pending events (immutable)
    instead of copying them, and appends to a list of its own."""
    pending = aggregate._pending_events
    aggregate._pending_events = []
    try:
        copied = copy.deepcopy(aggregate)
    finally:
        aggregate._pending_events = pending
    copied._pending_events = list(pending)
    return copied


@dataclass(eq=False)
class Unit:
    """What a caller submitted: `judge` runs it on a session and returns its references."""

    judge: Callable[[Session], Recorded]
    key: UUID | None = None  # its command key (domain/commandkey.py), if any
    future: Future[Recorded] = field(default_factory=Future)
    owned: set[tuple[UUID, int]] = field(default_factory=set)  # its events' (id, version)
    result: Recorded | None = None
    error: BaseException | None = None


class _Overlay:
    """A session's source inside a group: the working copies of the group's accepted units
    over the Ledger's cache (itself over the store)."""

    def __init__(self, ledger: LedgerStore) -> None:
        self.ledger = ledger
        self.id_key = ledger._id_key
        self.aggregates: dict[UUID, LedgerAggregate] = {}
        # every aggregate the group's units got from the cache or the store, with the
        # version they got first (0: looked for and absent): what their decisions rest on
        self.read: dict[UUID, int] = {}

    def load(self, aggregate_id: UUID) -> LedgerAggregate | None:
        found = self.aggregates.get(aggregate_id)
        if found is not None:
            return working_copy(found)
        loaded = self.ledger.cache.copy(aggregate_id)
        self.read.setdefault(aggregate_id, loaded.version if loaded is not None else 0)
        return loaded

    def is_stored(self, aggregate_id: UUID) -> bool:
        if aggregate_id in self.aggregates:
            return True
        stored = self.ledger._source.is_stored(aggregate_id)
        if not stored:  # an aggregate, once stored, stays: only its absence can change
            self.read.setdefault(aggregate_id, 0)
        return stored

    def reads(self, pending: list[LedgerAggregate], turn_held: bool) -> ReadSet:
        """What the save of `pending` is checked against at its commit: each aggregate read
        at the oldest version read, each written at the version before the group's events."""
        versions = dict(self.read)
        for aggregate in pending:
            base = aggregate.version - len(aggregate.pending_events)
            versions[aggregate.id] = min(versions.get(aggregate.id, base), base)
        return ReadSet(versions, frozenset(a.id for a in pending), turn_held)

    def stored_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        found = self.aggregates.get(aggregate_id)
        accepted = list(found.pending_events) if found is not None else []
        return [*self.ledger.aggregate_events(aggregate_id), *accepted]


class GroupWriter:
    def __init__(self, ledger: LedgerStore) -> None:
        self.ledger = ledger
        self._queue: deque[Unit] = deque()
        self._ready = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.groups = 0  # groups saved (a seam for tests and benchmarks)
        self.stale = 0  # saves refused because another process changed what they read
        self.turns = 0  # rounds judged and saved holding the store's turn
        # The writer thread holds the store's turn (a unit run from inside a unit then saves
        # under it too, instead of waiting for it).
        self.holding_turn = False

    # --- callers ---------------------------------------------------------------------

    def submit(self, unit: Unit) -> Future[Recorded]:
        with self._ready:
            if self._stopped:
                raise RuntimeError("the ledger is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
                self._thread.start()
            self._queue.append(unit)
            self._ready.notify()
        return unit.future

    def run(self, unit: Unit, timeout: float = ANSWER_TIMEOUT) -> Recorded:
        """Submit the unit and wait for its answer (given after its commit)."""
        if threading.current_thread() is self._thread:
            self._write([unit])  # a command run from inside a unit: judged and saved alone
            return unit.future.result(timeout=0)
        future = self.submit(unit)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            if future.cancel():
                raise Conflict(f"the ledger did not take the command within {timeout:.0f} s; "
                               "nothing was recorded: try again") from None
        try:  # judged or being saved: its answer comes with its commit
            return future.result(timeout=timeout)
        except TimeoutError:
            raise Conflict(f"the ledger did not answer within {2 * timeout:.0f} s; the command "
                           "may have been recorded: read before trying again") from None

    def waiting(self) -> int:
        """Units submitted and not yet taken by the writer."""
        with self._ready:
            return len(self._queue)

    @contextmanager
    def held(self) -> Iterator[None]:
        """The writer takes no new unit inside (units submitted meanwhile wait, and go in
        one group afterwards): for tests and maintenance."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()
            with self._ready:
                self._ready.notify()

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            thread = self._thread
            self._ready.notify()
        self._open.set()
        if thread is not None:
            thread.join(timeout=10)

    # --- the writer thread -----------------------------------------------------------

    def _take(self) -> list[Unit] | None:
        """The next group; None once stopped or idle for `IDLE_SECONDS` (the thread ends)."""
        idle_since = time.monotonic()
        while True:
            with self._ready:
                while not self._queue:
                    if self._stopped or time.monotonic() - idle_since >= IDLE_SECONDS:
                        self._thread = None
                        return None
                    self._ready.wait(timeout=0.5)
            if not self._open.wait(timeout=0.5):
                continue
            with self._ready:
                group: list[Unit] = []
                while self._queue and len(group) < MAX_GROUP:
                    unit = self._queue.popleft()
                    if unit.future.set_running_or_notify_cancel():
                        group.append(unit)
                if group:
                    return group
            idle_since = time.monotonic()

    def _run(self) -> None:
        while (group := self._take()) is not None:
            try:
                left = self._write(group)
            except BaseException as error:  # the store failed: every unit of the group hears it
                log.exception("a group of commands could not be saved")
                for unit in group:
                    if not unit.future.done():
                        unit.future.set_exception(error)
                continue
            if left:
                with self._ready:
                    self._queue.extendleft(reversed(left))

    def _write(self, group: list[Unit]) -> list[Unit]:
        """Judge and save the group; returns the units left for the next group (too many
        events for this one)."""
        ledger = self.ledger
        for attempt in range(SAVE_ATTEMPTS):
            turn = self._turn() if attempt >= OPTIMISTIC_ATTEMPTS and not self.holding_turn else None
            with ledger._writing, turn or nullcontext():
                outer, self.holding_turn = self.holding_turn, self.holding_turn or turn is not None
                try:
                    ledger.cache.refresh()
                    overlay = _Overlay(ledger)
                    judged, left = self._judge(group, overlay)
                    pending = [a for a in overlay.aggregates.values() if a.pending_events]
                    recordings = ledger._save(pending, overlay.reads(pending, self.holding_turn)) if pending else []
                except StaleRead:
                    self.stale += 1
                    continue  # another process changed what the group read: judge it again
                except IntegrityError:
                    continue  # another process saved first: judge the group again
                finally:
                    self.holding_turn = outer
            self.groups += 1
            owner: dict[tuple[UUID, int], Unit] = {}
            for unit in judged:
                owner.update(dict.fromkeys(unit.owned, unit))
            positions: dict[int, int] = {}
            for recording in recordings:
                event = recording.domain_event
                holder = owner.get((event.originator_id, event.originator_version))  # type: ignore[arg-type]
                if holder is not None:
                    positions[id(holder)] = max(positions.get(id(holder), 0), recording.notification.id)
            for unit in judged:
                if unit.error is not None:
                    unit.future.set_exception(unit.error)
                else:
                    assert unit.result is not None
                    position = positions.get(id(unit)) or unit.result.position
                    unit.future.set_result(Recorded(**{**unit.result.__dict__, "position": position}))
            return left
        error = Conflict("the records changed concurrently several times; nothing was recorded")
        for unit in group:
            unit.future.set_exception(error)
        return []

    def _turn(self) -> AbstractContextManager[None] | None:
        """The store's turn (see the module's documentation), where the store has one."""
        turn: Callable[[], AbstractContextManager[None]] | None = getattr(self.ledger.recorder, "turn", None)
        if turn is None:
            return None
        self.turns += 1
        return turn()

    def _judge(self, group: list[Unit], overlay: _Overlay) -> tuple[list[Unit], list[Unit]]:
        ledger = self.ledger
        judged: list[Unit] = []
        events = 0
        for index, unit in enumerate(group):
            if events >= MAX_GROUP_EVENTS:
                return judged, group[index:]
            unit.owned, unit.result, unit.error = set(), None, None
            judged.append(unit)
            if unit.key is not None:
                marker = overlay.aggregates.get(unit.key) or ledger._command_marker(unit.key)
                if isinstance(marker, CommandKey):  # recorded before: answer as then
                    unit.result = Recorded(ledger.cache.position or 0, **marker.references)
                    continue
                overlay.read.setdefault(unit.key, 0)  # not recorded yet, by any process
            session = Session(overlay)
            try:
                result = unit.judge(session)
            except Exception as error:  # refused (or failed): nothing of it is kept
                unit.error = error
                continue
            changed = session.pending()
            new: list[tuple[LedgerAggregate, Any]] = []
            for aggregate in changed:
                before = overlay.aggregates.get(aggregate.id)
                last = before.version if before is not None else 0
                new.extend((aggregate, e) for e in aggregate.pending_events if e.originator_version > last)
            if unit.key is not None and new:
                marker = CommandKey.mark(unit.key, [_FirstEvent(new[0][1])], result.__dict__)  # type: ignore[list-item]
                changed.append(session.add(marker))
                new.append((marker, marker.pending_events[0]))
            unit.owned = {(a.id, e.originator_version) for a, e in new}
            unit.result = result
            events += len(new)
            for aggregate in changed:
                overlay.aggregates[aggregate.id] = aggregate
        return judged, []


class _FirstEvent:
    """What `CommandKey.mark` reads the command's who, when and request from."""

    def __init__(self, event: Any) -> None:
        self.pending_events = [event]
