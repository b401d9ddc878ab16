"""How the Ledger runs its commands: each one, or a batch of them judged as a whole, is a
unit of the group writer (domain/ledger/writer.py), judged on a `Session` and saved with the
group it joins; inside a batch (`Ledger.batch`), a command runs on the batch's own session.
Also the sessions the reads use, over the aggregate cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any
from uuid import UUID

from domain.commandkey import next_command_key
from domain.errors import LedgerError
from domain.ledger.checked import Absent, Checked, KeptSource
from domain.ledger.session import Recorded, Session
from domain.ledger.store import LedgerStore
from domain.ledger.writer import GroupWriter, Unit

# The batch (see `LedgerRunner.batch`) the commands of this thread are gathered into, if any.
_BATCH = threading.local()

Command = Callable[[Session], Recorded]


class LedgerRunner(LedgerStore):
    """The store with its group writer: commands, batches and checked imports."""

    def __init__(self, env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.writer = GroupWriter(self)

    def _session(self, absent: Collection[UUID] = ()) -> Session:
        """A session for a command: working copies of current aggregates (inside a batch,
        the batch's own session: a read there sees what the batch's commands did)."""
        batch = self.batch_session()
        if batch is not None:
            return batch
        self.cache.refresh()
        return Session(self._source, absent)

    def _reader(self) -> Session:
        """A session for a read that changes nothing: the current aggregates themselves
        (inside a batch, the batch's own session)."""
        batch = self.batch_session()
        if batch is not None:
            return batch
        self.cache.refresh()
        return Session(self._reading)

    def batch_session(self) -> Session | None:
        """The session of the batch being judged on this thread (see `batch`), if any."""
        return _BATCH.session if getattr(_BATCH, "ledger", None) is self else None


    def _run(self, command: Command) -> Recorded:
        if getattr(_BATCH, "ledger", None) is self:
            return command(_BATCH.session)  # saved with the rest of the batch by `batch()`
        # The key is taken here, in the caller's context (see domain/commandkey.py).
        return self.writer.run(Unit(command, next_command_key()))


    def batch(
        self, commands: Sequence[Callable[[], object]], *, dry_run: bool = False,
        on_error: Callable[[int, LedgerError], None] | None = None, absent: Collection[UUID] = (),
    ) -> int:
        """Run several commands (e.g. `lambda: ledger.import_member(...)`, one per row of an
        import) as one atomic save. Each is judged by exactly the rules it has on its own,
        against the state the earlier ones of the batch left. A refusal is raised, or given
        to `on_error(index, error)` and the next command judged; either way nothing of the
        batch is recorded, nor with `dry_run`. Keep batches to about a hundred aggregates.
        `absent` may name aggregate ids the caller found missing from the store just before
        (it spares a query each; it is read, not copied: don't change it meanwhile): should
        one exist by the time of the save, the store refuses the save (ids are unique) and
        the batch is judged again without the hint.
        Returns the position of the last event saved (0 if none)."""
        hint: list[Collection[UUID]] = [absent]

        def judge(session: Session) -> Recorded:
            overlay = getattr(session.source, "aggregates", {})
            session.absent = Absent(hint[0], overlay) if hint[0] else ()
            hint[0] = ()  # judged again: without the hint
            refused = self._judge_all(session, commands, on_error)
            if refused or dry_run:
                session.by_id.clear()  # nothing of the batch is recorded
            return Recorded(0)

        return self.writer.run(Unit(judge, None if dry_run else next_command_key())).position

    def _judge_all(
        self, session: Session, commands: Sequence[Callable[[], object]],
        on_error: Callable[[int, LedgerError], None] | None,
    ) -> bool:
        """Judge the commands in order on the session (a refusal raised, or given to
        `on_error`); True if any was refused."""
        _BATCH.session, _BATCH.ledger = session, self
        refused = False
        try:
            for index, command in enumerate(commands):
                try:
                    command()
                except LedgerError as error:
                    if on_error is None:
                        raise
                    refused = True
                    on_error(index, error)
        finally:
            _BATCH.session = _BATCH.ledger = None
        return refused

    def check(
        self, chunks: Sequence[Sequence[Callable[[], object]]], *, keep: Checked,
        on_error: Callable[[int, int, LedgerError], None] | None = None, absent: Collection[UUID] = (),
    ) -> None:
        """Judge chunks of commands as `batch(..., dry_run=True)` judges one, each chunk on
        top of what the chunks before it (in this call and in earlier ones with the same
        `keep`) left, and keep their accepted results in `keep` (domain/ledger/checked.py),
        one chunk each, for `record_checked`. A refusal is raised, or given to
        `on_error(chunk, index, error)` and the next command judged. `absent` is read, not
        copied: don't change it meanwhile."""

        def judge(session: Session) -> Recorded:
            source = KeptSource(keep, session.source)
            overlay = getattr(session.source, "aggregates", {})
            for number, commands in enumerate(chunks):
                part = Session(source, Absent(absent, overlay, keep.latest) if absent else ())

                def refused(index: int, error: LedgerError, number: int = number) -> None:
                    if on_error is None:
                        raise error
                    on_error(number, index, error)

                keep.keep(part, self._judge_all(part, commands, refused))
            return Recorded(0)

        self.writer.run(Unit(judge, None))

    def record_checked(
        self, checked: Checked, index: int, commands: Callable[[], Sequence[Callable[[], object]]],
        *, on_error: Callable[[int, LedgerError], None] | None = None,
    ) -> int:
        """Save chunk `index` of `checked` (judged by `check`) as it was judged, in one
        atomic save, without judging its commands again, unless the store refuses the save
        (another process changed one of its aggregates since the check): then `commands()`
        (the chunk's commands, in order) are judged again as `batch` judges them, and saved if
        none is refused. Returns the position of the last event saved (0 if none)."""
        chunk = [checked.take(index)]

        def judge(session: Session) -> Recorded:
            if chunk:
                for aggregate, _ in chunk.pop():
                    session.add(aggregate)
            elif self._judge_all(session, commands(), on_error):
                session.by_id.clear()  # nothing of the batch is recorded
            return Recorded(0)

        return self.writer.run(Unit(judge, next_command_key())).position

    def close(self) -> None:
        self.writer.stop()
        super().close()

