"""Command keys: a command run under a key (an API request's Idempotency-Key) is recorded
at most once.

Invariant: a keyed command saves, in the same atomic save as its own events, a marker
whose id is its key; a keyed command whose marker exists is not run again, and answers
with what the marker holds (the references the command returned the first time). A
process that dies after the save but before its answer was kept leaves the marker, so a
retry learns the first result; one that dies before the save leaves nothing, so a retry
runs the command. Two runs of one key at once can't both save: the store refuses the
second marker (ids are unique), and the loser, judged again, finds the marker.

The keys of a request are set with `keyed(name)` around it (a context variable, which
follows the request into the thread that runs it); each command of the request takes the
next key in order, so a request that runs several commands keys each of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from domain.base import LedgerAggregate
from domain.identifiers import NAMESPACE

# The references a command returns (`domain.ledger.Recorded` but its position).
REFERENCES = ("registration_no", "transfer_id", "letter_no", "certificate_no", "code")
_META = ("on", "actor", "actor_organization", "request_id")


class CommandKeys:
    """The keys of one request's commands: one per command, in the order they run."""

    def __init__(self, name: str) -> None:
        self.base = uuid5(NAMESPACE, f"command:{name}")
        self.taken = 0

    def next(self) -> UUID:
        self.taken += 1
        return uuid5(self.base, str(self.taken))


_KEYS: ContextVar[CommandKeys | None] = ContextVar("ledger_command_keys", default=None)


@contextmanager
def keyed(name: str) -> Iterator[CommandKeys]:
    """Run the commands inside under keys derived from `name` (the same name, the same
    keys: a retry of a request finds what its first run recorded)."""
    keys = CommandKeys(name)
    token = _KEYS.set(keys)
    try:
        yield keys
    finally:
        _KEYS.reset(token)


def next_command_key() -> UUID | None:
    """The key of the command about to run, or None outside `keyed()`."""
    keys = _KEYS.get()
    return keys.next() if keys is not None else None


class CommandKey(LedgerAggregate):
    """The marker of a keyed command that was recorded, with the references it returned."""

    if TYPE_CHECKING:  # state, set by the events (not constructor arguments)
        references: dict[str, str | None]

    class Recorded(LedgerAggregate.Created):
        registration_no: str | None
        transfer_id: str | None
        letter_no: str | None
        certificate_no: str | None
        code: str | None

        def change(self, marker: CommandKey) -> None:
            marker.references = {name: getattr(self, name) for name in REFERENCES}

    @classmethod
    def mark(cls, key: UUID, saved: Sequence[LedgerAggregate], references: dict[str, Any]) -> CommandKey:
        """The marker saved with the aggregates of a command: it carries the command's own
        who, when and request (those of its first event)."""
        first = saved[0].pending_events[0]
        meta = {name: getattr(first, name) for name in _META}
        return cls._create(cls.Recorded, id=key, **meta,
                           **{name: references.get(name) for name in REFERENCES})
