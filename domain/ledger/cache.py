"""The aggregates commands are decided on, kept in memory and current.

`AggregateCache` maps an aggregate id to the aggregate's current state, for at most
`maxsize` aggregates (least recently used out first; `LEDGER_AGGREGATE_CACHE`). A miss loads
the aggregate through the repository (snapshot and newer events) once. The cache follows
the store's log instead of asking the store for each aggregate: `refresh()` reads, in one
query, the events recorded after the cache's position (by this process or any other), and
applies each one to its cached aggregate when it is that aggregate's next version (an event
already applied is passed over; one that skips a version evicts the aggregate, which is
loaded again when next needed). The Ledger puts its own saved aggregates in with `put()`,
with the positions the save gave their events: when those follow the cache's position
with no gap (nobody else saved in between), the cache moves past them, so that the next
`refresh()` does not read back what this process has just saved (an import's save of
600 aggregates would otherwise be read again, page by page, before the next save).

The cached objects are never handed out to be changed: a command works on copies
(`copy()`), so a refused command leaves the cache as it was. Every method holds the
cache's lock.

A caller about to use many aggregates twice may make room for them for a while
(`widened()`): an import checks that each row's organization holds members, then judges
the rows on the same organizations (a file of 100,000 members names about 37,000 of them).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from domain.base import LedgerAggregate

DEFAULT_MAXSIZE = 10_000
# Events read in one query of `refresh()`; past this many pages at once the cache is cleared
# instead (a bulk load by another process: reloading what is needed is cheaper).
REFRESH_PAGE = 1000
REFRESH_MAX_PAGES = 20
# Others' saves are followed by their headers first (`AggregateCache._page`) once a page of
# at least this many events was read: big saves (another process importing) are mostly of
# aggregates not held here; a few events (another server's commands) are read whole at once.
HEADERS_FROM = 64


class AggregateCache:
    def __init__(
        self, recorder: ApplicationRecorder, mapper: Mapper[UUID],
        load: Callable[[UUID], LedgerAggregate | None], maxsize: int = DEFAULT_MAXSIZE,
        load_many: Callable[[list[UUID]], dict[UUID, LedgerAggregate] | None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("the aggregate cache holds at least one aggregate")
        self.recorder, self.mapper, self._load, self._load_many = recorder, mapper, load, load_many
        self.maxsize = self.bound = maxsize  # maxsize: the bound, or more while widened
        self._widenings: list[int] = []
        self.lock = threading.RLock()
        self._items: OrderedDict[UUID, LedgerAggregate] = OrderedDict()
        self.position: int | None = None  # the last notification id followed
        self.hits = self.misses = self.evictions = self.applied = self.refreshes = 0
        self.skipped = 0  # events of this process's own saves followed without reading them back
        # the order of refresh() calls and reads of the log (see `refresh`), and when the
        # last completed read began
        self._tickets = itertools.count(1)
        self._read_from = 0
        self._big_pages = False  # the last page read held HEADERS_FROM events or more

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._items

    def get(self, aggregate_id: UUID) -> LedgerAggregate | None:
        """The cached aggregate itself (read it, never change it), loaded on a miss; None
        if the store doesn't hold it."""
        with self.lock:
            if self.position is None:
                self.refresh()  # the position to follow from, before anything is loaded
            found = self._items.get(aggregate_id)
            if found is not None:
                self.hits += 1
                self._items.move_to_end(aggregate_id)
                return found
            self.misses += 1
            loaded = self._load(aggregate_id)
            if loaded is not None:
                self._keep(loaded)
            return loaded

    def preload(self, aggregate_ids: Iterable[UUID]) -> None:
        """Load at once those of these aggregates the cache doesn't hold (domain/ledger/bulk.py:
        a query for a thousand of them rather than one or two each), for a caller about to
        get them all; those the store doesn't hold are left to `get`. Holds at most `maxsize`
        (the least recently used out first, as always)."""
        with self.lock:
            if self.position is None:
                self.refresh()  # the position to follow from, before anything is loaded
            missing = [i for i in dict.fromkeys(aggregate_ids) if i not in self._items]
            if not missing or self._load_many is None:
                return
            loaded = self._load_many(missing)
            for aggregate in (loaded or {}).values():
                self.misses += 1
                self._keep(aggregate)

    def copy(self, aggregate_id: UUID) -> LedgerAggregate | None:
        """A working copy of the current aggregate, to change."""
        with self.lock:
            found = self.get(aggregate_id)
            return copy.deepcopy(found) if found is not None else None

    def put(self, aggregates: Iterable[LedgerAggregate], positions: Iterable[int] = ()) -> None:
        """Aggregates just saved (their pending events collected): the current state.
        `positions`: the notification ids the save gave all its events. When they are the
        ids right after the cache's position, without a gap, no other event lies between
        (every id up to the position was followed, and the rest are this save's): the cache
        then follows the log up to the last of them without reading them back."""
        with self.lock:
            for aggregate in aggregates:
                cached = self._items.get(aggregate.id)
                if cached is None or cached.version <= aggregate.version:
                    self._keep(aggregate)
            ids = sorted(positions)
            if (ids and self.position is not None and ids[0] == self.position + 1
                    and ids[-1] - ids[0] + 1 == len(ids)):
                self.position = ids[-1]
                self.skipped += len(ids)

    @contextlib.contextmanager
    def widened(self, extra: int) -> Iterator[None]:
        """For the duration, room for `extra` aggregates beyond the bound (several callers
        at once: the widest asked for); then back to the bound, the least recently used out
        first."""
        if extra < 0:
            raise ValueError("the cache can't be widened by fewer than no aggregates")
        with self.lock:
            self._widenings.append(extra)
            self.maxsize = self.bound + max(self._widenings)
        try:
            yield
        finally:
            with self.lock:
                self._widenings.remove(extra)
                self.maxsize = self.bound + max(self._widenings, default=0)
                self._trim()

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        with self.lock:
            for aggregate_id in aggregate_ids:
                if self._items.pop(aggregate_id, None) is not None:
                    self.evictions += 1

    def clear(self) -> None:
        with self.lock:
            self.evictions += len(self._items)
            self._items.clear()

    def refresh(self) -> int:
        """Apply what the store recorded since the last refresh; returns the position.
        Callers that arrive while a refresh reads the log wait for it; when a refresh that
        began after they called has completed meanwhile, they take its result instead of
        reading the log again (what it read includes all that was recorded before they
        called): one query serves the requests that arrive together."""
        ticket = next(self._tickets)
        with self.lock:
            if self._read_from > ticket and self.position is not None:
                return self.position
            started = next(self._tickets)
            position = self._follow()
            self._read_from = started
            return position

    def _follow(self) -> int:
        with self.lock:
            self.refreshes += 1
            if self.position is None:
                self.position = self.recorder.max_notification_id() or 0
                return self.position
            for _ in range(REFRESH_MAX_PAGES):
                page, last, read = self._page()
                for notification in page:
                    cached = self._items.get(notification.originator_id)  # type: ignore[arg-type]
                    if cached is not None and notification.originator_version > cached.version:
                        if notification.originator_version == cached.version + 1:
                            event: Any = self.mapper.to_domain_event(notification)
                            event.mutate(cached)
                            self.applied += 1
                        else:
                            self.evict([cached.id])
                if last is not None:
                    self.position = last
                if read < REFRESH_PAGE:
                    return self.position
            # far behind: forget everything rather than read it all
            latest = self.recorder.max_notification_id() or 0
            self.clear()
            self.position = latest
            return latest

    def _page(self) -> tuple[Sequence[Notification], int | None, int]:
        """The next page of the log after `position`: the events of it that change a cached
        aggregate (and any between them), the page's last id, and its number of events.
        After a big page (HEADERS_FROM), where the recorder gives a page's headers alone
        (`select_headers`: id, aggregate, version), the events themselves are read only when
        one of them is of a cached aggregate: others' saves of aggregates this process
        doesn't hold (another process importing, say) then cost a query of three columns, no
        decoding."""
        assert self.position is not None
        headers = getattr(self.recorder, "select_headers", None)
        if headers is None or not self._big_pages:
            page = self.recorder.select_notifications(start=self.position, limit=REFRESH_PAGE,
                                                      inclusive_of_start=False)
            self._big_pages = len(page) >= HEADERS_FROM
            return page, page[-1].id if page else None, len(page)
        heads: Sequence[tuple[int, UUID, int]] = headers(self.position, REFRESH_PAGE)
        self._big_pages = len(heads) >= HEADERS_FROM
        if not heads:
            return [], None, 0
        first = next((notification_id for notification_id, aggregate_id, version in heads
                      if (cached := self._items.get(aggregate_id)) is not None and version > cached.version), None)
        last = heads[-1][0]
        if first is None:
            return [], last, len(heads)
        # every id up to `last` was readable: the same rows are read again, in full
        return self.recorder.select_notifications(start=first, stop=last, limit=REFRESH_PAGE), last, len(heads)

    def info(self) -> dict[str, int]:
        """What the cache holds and how it served (for reports and benchmarks)."""
        with self.lock:
            return {"size": len(self._items), "maxsize": self.maxsize, "hits": self.hits,
                    "misses": self.misses, "evictions": self.evictions, "applied": self.applied,
                    "refreshes": self.refreshes, "skipped": self.skipped, "position": self.position or 0}

    def _keep(self, aggregate: LedgerAggregate) -> None:
        self._items[aggregate.id] = aggregate
        self._items.move_to_end(aggregate.id)
        self._trim()

    def _trim(self) -> None:
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
            self.evictions += 1
