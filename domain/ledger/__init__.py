"""The Ledger: the write side of the transfer ledger.

- `application` — the `Ledger` (an eventsourcing Application): its public commands, over
  `reads` (its public reads and token lookups), `runner` (commands and batches as units of
  the group writer, `writer`: decided in order, saved in groups, judged again when another
  process changed what they read) and `store` (the store's settings, the aggregate cache,
  the context of a command, the atomic save).
- `session` — the unit of work of one command (`Session`): aggregates got once, working
  copies, and the organization tree's walks (chain, committee, receiving organization).
- `rules` — the rules that span aggregates, as named `check_*` functions.
- `organizations`, `members`, `transfers`, `certificates`, `cases`, `operators` — the use cases,
  each a function of (session, context, arguments): its checks, then its effects.
"""

from __future__ import annotations

from domain.ledger.application import Ledger
from domain.ledger.rules import PERFORMANCE_RECORD_AFTER_DAYS, PROBATION_ENDING_DAYS
from domain.ledger.session import MemorySource, Recorded, Session

__all__ = [
    "PERFORMANCE_RECORD_AFTER_DAYS",
    "PROBATION_ENDING_DAYS",
    "Ledger",
    "MemorySource",
    "Recorded",
    "Session",
]
