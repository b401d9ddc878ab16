"""A long script of commands (the simulation's history) recorded in consecutive batches.

`run_steps(ledger, steps)` advances an iterator whose every step calls some of the Ledger's
own commands (`ledger.request_transfer(...)`, `ledger.receive_member(...)` ...) and may read
the ledger between them (`ledger.member(...)`, `ledger.organization(...)`). The steps run
inside `Ledger.batch`, so each command is judged by exactly its own rules against what the
commands before it left (the reads see that too), and thousands of them share one atomic
save: a batch ends once its session holds `max_aggregates` aggregates (about 250 keeps a
save's size where PostgreSQL handles it well), and the next step starts the next batch.

A refused command is raised to the caller: the batch it was in records nothing, the
batches before it stay. The steps can't be run twice, so a batch the store refuses (another
process saved one of its aggregates first) is refused with `conflict` instead of being
judged again: run a script only on a store nobody else writes to.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any
from uuid import UUID

from domain.errors import Conflict
from domain.ledger.application import Ledger

MAX_AGGREGATES = 250

Saved = Callable[[list[Any], int], None]  # the events of a batch just committed, its position


def run_steps(
    ledger: Ledger, steps: Iterator[object], *, max_aggregates: int = MAX_AGGREGATES,
    saved: Saved | None = None,
) -> int:
    """Run every step, in batches; returns the position of the last event saved."""
    position = 0
    finished = False
    events: list[Any] = []
    while not finished:
        events.clear()
        judged = False

        def advance() -> None:
            nonlocal finished, judged
            if judged:
                raise Conflict("the store changed while a script of commands was being recorded: "
                               "its batches can't be judged again; record it into a store nobody else writes to")
            judged = True
            session = ledger.batch_session()
            assert session is not None
            session.absent = set(session.absent)
            finished = True
            for _ in steps:
                if len(session.by_id) >= max_aggregates:
                    finished = False
                    break
            events.extend(e for a in session.pending() for e in a.pending_events)

        position = ledger.batch([advance]) or position
        if saved is not None and events:
            saved(events, position)
    return position


def note_absent(ledger: Ledger, ids: Collection[UUID]) -> None:
    """Inside a step: these aggregate ids are known not to be in the store (say, ids the
    script derives from keys it made up itself), which spares a query each when a command
    asks. A wrong hint makes the store refuse the batch's save."""
    session = ledger.batch_session()
    if session is not None and isinstance(session.absent, set):
        session.absent.update(ids)
