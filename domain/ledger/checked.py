"""Commands judged once: checked in chunks without saving, then saved as they were judged.

An import checks a whole file before it records any of it, and records it in saves of a
bounded size. Rather than judging every command twice (once to check, once to record),
`Ledger.check(chunks, keep=checked)` judges the chunks in order, each command by exactly its
own rules, each chunk on top of what the chunks before it left (as if they were saved), and
keeps in `checked` what each chunk's accepted commands changed: the aggregates and the
events each chunk added to them. `Ledger.record_checked(checked, index, commands)` then saves
chunk `index` as judged, in one atomic save, without judging it again; should the store have
changed one of its aggregates since (another process acting), the store refuses that save and
the chunk's commands are judged again against the current state, as `Ledger.batch` does.
Save the chunks in order: each chunk's events continue the versions the one before left.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Container, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.base import LedgerAggregate
from domain.ledger.session import Session, Source

Chunk = list[tuple[LedgerAggregate, list[Any]]]  # each aggregate as the chunk left it, its new events


class Checked:
    """The accepted results of chunks of commands judged without saving, chunk by chunk."""

    def __init__(self) -> None:
        self.latest: dict[UUID, LedgerAggregate] = {}  # each aggregate as the chunks so far left it
        self.chunks: list[Chunk | None] = []  # None once saved
        self.refused = False  # a command of some chunk was refused

    def keep(self, session: Session, refused: bool) -> None:
        """The session of the next chunk, judged: its changes are kept (its accepted commands'
        effects, which the chunks after it are judged on), in a chunk of their own."""
        chunk: Chunk = []
        for aggregate in session.pending():
            chunk.append((aggregate, list(aggregate.collect_events())))
            self.latest[aggregate.id] = aggregate
        self.chunks.append(chunk)
        self.refused = self.refused or refused
        session.by_id.clear()  # nothing of it is saved with the session

    def take(self, index: int) -> Chunk:
        """Chunk `index`, to be saved (once): the aggregates with their new events pending."""
        if self.refused:
            raise ValueError("a checked command was refused: nothing of the check is to be recorded")
        chunk = self.chunks[index]
        if chunk is None:
            raise ValueError(f"checked chunk {index} was taken already")
        self.chunks[index] = None
        self.latest.clear()  # judging is over: the chunks hold what is to be saved
        for aggregate, events in chunk:
            # eventsourcing's aggregates keep their pending events in `_pending_events`
            aggregate._pending_events = list(events)
        return chunk

    def events_of(self, aggregate_id: UUID) -> list[Any]:
        return [e for chunk in self.chunks if chunk for a, events in chunk if a.id == aggregate_id
                for e in events]


class KeptSource:
    """A session's source while checking: the kept aggregates over another source."""

    def __init__(self, checked: Checked, under: Source) -> None:
        self.checked, self.under, self.id_key = checked, under, under.id_key

    def load(self, aggregate_id: UUID) -> LedgerAggregate | None:
        found = self.checked.latest.get(aggregate_id)
        return copy.deepcopy(found) if found is not None else self.under.load(aggregate_id)

    def is_stored(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.checked.latest or self.under.is_stored(aggregate_id)

    def stored_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return [*self.under.stored_events(aggregate_id), *self.checked.events_of(aggregate_id)]


class Absent(Collection[UUID]):
    """Ids a caller found missing from the store (`hint`), but for those some other
    container now holds (what the group or the kept chunks added): read lazily, never copied."""

    def __init__(self, hint: Collection[UUID], *held: Container[UUID]) -> None:
        self.hint, self.held = hint, held

    def __contains__(self, item: object) -> bool:
        return item in self.hint and not any(item in held for held in self.held)

    def __iter__(self) -> Iterator[UUID]:
        return (item for item in self.hint if item in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)
