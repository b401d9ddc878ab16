"""The Ledger application: every use case of DOMAIN.md §3-§7 as one atomic save.

Each public command builds its context (who, when), then runs a use case (the modules
beside this one: organizations, members, transfers, certificates, operators) on a
`Session`: the use case checks every rule (raising a `LedgerError` before any event is
saved) and acts on the session's working copies; the Ledger saves all touched aggregates
at once (domain/ledger/writer.py: in groups). A concurrent change, by another process, to
any aggregate a command read or wrote makes the store refuse the save
(domain/ledger/recorders.py); the command is then judged again from a fresh state, so the
loser of a race is judged by the rules against the winner's result (e.g. "already
received").
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper
from eventsourcing.utils import Environment

import domain.ledger.cases as cases
import domain.ledger.certificates as certificates
import domain.ledger.member_access as member_access
import domain.ledger.members as members
import domain.ledger.operators as operators
import domain.ledger.organizations as organizations
import domain.ledger.transfers as transfers
from domain.base import SYSTEM, Actor, Context, LedgerAggregate
from domain.case import Case
from domain.certificate import Certificate
from domain.commandkey import CommandKey, next_command_key
from domain.errors import Conflict, FutureDate, LedgerError, ValidationError
from domain.identifiers import (
    id_card_digest,
    member_id,
    registration_key,
    validate_id_card_no,
    validate_registration_no,
)
from domain.jurisdiction import Jurisdiction
from domain.ledger.cache import DEFAULT_MAXSIZE, AggregateCache
from domain.ledger.checked import Absent, Checked, KeptSource
from domain.ledger.recorders import IN_TRANSACTION, READS, RECORDERS, ReadSet, StaleRead
from domain.ledger.session import Recorded, Session
from domain.ledger.writer import GroupWriter, Unit
from domain.member import Member, validate_month
from domain.member_access import MemberAccess, access_id, new_member_token, token_digest, token_registration_no
from domain.operator import Operator, new_token, operator_id_for
from domain.organization import Organization
from domain.personal import DataKeys, PersonalDataMapper
from domain.transcodings import TRANSCODINGS
from domain.transfer import DEFAULT_VALID_DAYS, Transfer

# The batch (see `Ledger.batch`) the commands of this thread are gathered into, if any.
_BATCH = threading.local()

Command = Callable[[Session], Recorded]


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


class _CachedSource:
    """A session's aggregates, from the Ledger's cache of current aggregates: working copies
    for commands, the cached objects themselves for reads that change nothing."""

    def __init__(self, ledger: Ledger, copies: bool = True) -> None:
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


class Ledger(Application[UUID]):
    """The transfer ledger. Configure the store with eventsourcing's environment
    (`domain.settings.Settings.event_store_env()` builds it from LEDGER_DATABASE_URL);
    `LEDGER_ID_KEY` (a secret) keys the digests that keep resident ID numbers unique;
    `LEDGER_DATA_KEYS` (secrets) encrypt the personal fields of stored events
    (domain/personal.py)."""

    name = "ledger"
    snapshotting_intervals = {Organization: 100, Member: 100}  # noqa: RUF012
    # The aggregates commands are decided on are kept by `self.cache` (domain/ledger/cache.py),
    # which follows the store's log; the repository only loads what the cache misses.

    def __init__(
        self, env: dict[str, str] | None = None, *, today: Callable[[], date] | None = None
    ) -> None:
        super().__init__(env)
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
        maxsize = int(self.env.get("LEDGER_AGGREGATE_CACHE") or DEFAULT_MAXSIZE)
        self.cache = AggregateCache(self.recorder, self.mapper, self._load, maxsize)
        self._source = _CachedSource(self)
        self._reading = _CachedSource(self, copies=False)
        # One group of commands is decided and saved at a time in this process, by one
        # writer thread (domain/ledger/writer.py).
        self._writing = threading.RLock()
        self.writer = GroupWriter(self)

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
        try:
            found: LedgerAggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found

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
            events = [e for a in pending for e in a.pending_events]

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
        self.cache.put(pending)
        return recordings

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """eventsourcing's `Application.save`, but the events of the ledger's own aggregates
        are collected directly: the library asks of every object saved whether it is a domain
        event, through a runtime `Protocol` check that costs about 40 µs an aggregate on
        Python 3.11 (a tenth of an import's CPU)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, LedgerAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def cache_info(self) -> dict[str, int]:
        """The aggregate cache's size, bound (LEDGER_AGGREGATE_CACHE) and counts."""
        return self.cache.info()

    def _run(self, command: Command) -> Recorded:
        if getattr(_BATCH, "ledger", None) is self:
            return command(_BATCH.session)  # saved with the rest of the batch by `batch()`
        # The key is taken here, in the caller's context (see domain/commandkey.py).
        return self.writer.run(Unit(command, next_command_key()))

    def _command_marker(self, key: UUID) -> CommandKey | None:
        """The marker of a keyed command already recorded, if any."""
        try:
            marker: LedgerAggregate = self.repository.get(key)
        except AggregateNotFoundError:
            return None
        return marker if isinstance(marker, CommandKey) else None

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

    # --- organizations ------------------------------------------------------------------

    def register_organization(
        self, code: str, name: str, kind: str, parent_code: str | None, region: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: organizations.register(s, ctx, code, name, kind, parent_code, region))

    def register_root(
        self, code: str, name: str, region: str, *, on: date | None = None,
        request_id: str | None = None,
    ) -> Recorded:
        return self.register_organization(
            code, name, "department", None, region, on=on, request_id=request_id
        )

    def dissolve_organization(
        self, code: str, successor_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: organizations.dissolve(s, ctx, code, successor_code))

    def move_organization(
        self, code: str, parent_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Whole-organization transfer (整建制转移): its members move with it."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: organizations.move(s, ctx, code, parent_code))

    def file_month(
        self, code: str, month: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Filing (报送) freezes a month and every earlier one for the subtree."""
        ctx = self.context(actor, on, request_id)
        validate_month(month)
        if month >= f"{ctx.on:%Y-%m}":
            raise ValidationError(f"{month} is not over yet: only a past month can be filed")
        return self._run(lambda s: organizations.file_month(s, ctx, code, month))

    # --- members ---------------------------------------------------------------------

    def admit_member(
        self, organization_code: str, *, name: str, id_card_no: str, gender: str,
        birth_date: date, joined_on: date, category: str, household_region: str,
        workplace: str | None = None, residence: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Admission (接收预备党员): a new probationary member with a new registration number."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.enroll(
            s, ctx, event=Member.Admitted, registration_no=None,
            organization_code=organization_code, id_card_no=id_card_no, status="probationary",
            name=name, gender=gender, birth_date=birth_date, joined_on=joined_on,
            category=category, household_region=household_region, workplace=workplace,
            residence=residence,
        ))

    def import_member(
        self, organization_code: str, *, registration_no: str | None, status: str, name: str,
        id_card_no: str, gender: str, birth_date: date, joined_on: date, category: str,
        household_region: str, workplace: str | None = None, residence: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Import from existing records, with the member's registration number (validated);
        without one, the ledger gives a number as for an admission."""
        ctx = self.context(actor, on, request_id)
        number = validate_registration_no(registration_no) if registration_no is not None else None
        return self._run(lambda s: members.enroll(
            s, ctx, event=Member.Imported, registration_no=number,
            organization_code=organization_code, id_card_no=id_card_no, status=status,
            name=name, gender=gender, birth_date=birth_date, joined_on=joined_on,
            category=category, household_region=household_region, workplace=workplace,
            residence=residence,
        ))

    def confirm_member(
        self, registration_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.confirm(s, ctx, registration_no))

    def record_death(
        self, registration_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_death(s, ctx, registration_no))

    def record_leaving(
        self, registration_no: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Removal (expelled, withdrew, self-withdrawal) is always a clerk's explicit act."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_leaving(s, ctx, registration_no, reason))

    def record_org_life(
        self, registration_no: str, organization_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Org life, recorded by the side that holds the member: at the member's own
        organization or, for a certificate holder, at the host of a certificate valid that
        day (or an organization below that host)."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_org_life(s, ctx, registration_no, organization_code))

    def record_dues(
        self, registration_no: str, month: str, amount: Any,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: members.record_dues(s, ctx, registration_no, month, amount))

    # --- transfers ---------------------------------------------------------------------

    def request_transfer(
        self, registration_no: str, to_organization_code: str, *, reason: str, basis: str,
        evidence: dict[str, str] | None = None, performance_record: str | None = None,
        probation_override_reason: str | None = None, transfer_id: UUID | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """A transfer request; `transfer_id` (a new one by default) lets a caller that must
        be reproducible (the simulation) choose it: one already taken is refused."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.request(
            s, ctx, registration_no, to_organization_code, reason=reason, basis=basis,
            evidence=evidence, performance_record=performance_record,
            probation_override_reason=probation_override_reason, transfer_id=transfer_id,
        ))

    def decline_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.decline(s, ctx, transfer_id, reason))

    def issue_letter(
        self, transfer_id: str, valid_days: int = DEFAULT_VALID_DAYS,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.issue_letter(s, ctx, transfer_id, valid_days))

    def extend_letter(
        self, transfer_id: str, valid_until: date,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        if not isinstance(valid_until, date):
            raise ValidationError("valid_until must be a date")
        return self._run(lambda s: transfers.extend_letter(s, ctx, transfer_id, valid_until))

    def cancel_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.cancel(s, ctx, transfer_id, reason))

    def reject_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.reject(s, ctx, transfer_id, reason))

    def receive_member(
        self, transfer_id: str, organization_code: str, late_certificate: str | None = None,
        *, presented_by: str = "member", agent_name: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The receipt: the member lands in a member-holding organization in the target's
        subtree and changes organization of record, in this one save (which closes the
        member's open certificate). `presented_by`: the member, or an agent (他人代办),
        optionally named."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.receive(
            s, ctx, transfer_id, organization_code, late_certificate, presented_by, agent_name))

    def return_receipt(
        self, transfer_id: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The receipt (回执) goes from the receiving committee straight to the sender."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: transfers.return_receipt(s, ctx, transfer_id))

    # --- certificates ------------------------------------------------------------------

    def issue_certificate(
        self, registration_no: str, *, kind: str, purpose: str, valid_until: date,
        host_organization_code: str | None = None, host_description: str | None = None,
        contact_person: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: certificates.issue(
            s, ctx, registration_no, kind=kind, purpose=purpose, valid_until=valid_until,
            host_organization_code=host_organization_code, host_description=host_description,
            contact_person=contact_person,
        ))

    def return_certificate(
        self, certificate_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: certificates.return_(s, ctx, certificate_no))

    # --- first-responder cases (首问责任制) ------------------------------------------------

    def open_case(
        self, organization_code: str, *, name: str, request: str, registration_no: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The organization a person first asks owns the case until it is closed; the
        returned `code` is the case id."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: cases.open_(
            s, ctx, organization_code, name=name, registration_no=registration_no, request=request))

    def close_case(
        self, case_id: str, outcome: str, note: str | None = None, registration_no: str | None = None,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._run(lambda s: cases.close(
            s, ctx, case_id, outcome=outcome, note=note, registration_no=registration_no))

    # --- operators -----------------------------------------------------------------------

    def grant_operator(
        self, name: str, role: str, organization_code: str,
        *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> tuple[Recorded, str]:
        """A new operator, acting in `role` over `organization_code`'s subtree. Returns the
        bearer token, which is stored nowhere: show it once."""
        ctx = self.context(actor, None, request_id)
        token = new_token()
        recorded = self._run(lambda s: operators.grant(s, ctx, token, name, role, organization_code))
        if recorded.code != str(operator_id_for(token)):  # granted by this key's first run
            raise Conflict(
                f"operator {recorded.code} was granted by the first run of this request, whose "
                "answer (with the token, shown once) was lost: revoke it and grant another"
            )
        return recorded, token

    def revoke_operator(
        self, operator_id: str, *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, None, request_id)
        return self._run(lambda s: operators.revoke(s, ctx, operator_id))

    def operator(self, operator_id: str) -> Operator:
        return operators.get(self._session(), operator_id)

    def operator_for_token(self, token: str) -> Operator | None:
        """The active operator a bearer token belongs to, or None: the cached operator itself
        (read it, never change it), brought up to date with the log."""
        self.cache.refresh()
        found = self._reading.load(operator_id_for(token))
        return found if isinstance(found, Operator) and found.active else None

    # --- members' own access (domain/ledger/member_access.py) ----------------------------

    def issue_member_access(
        self, registration_no: str, *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> tuple[Recorded, str]:
        """A member's token, replacing the earlier one; stored nowhere: show it once."""
        ctx = self.context(actor, None, request_id)
        token = new_member_token(registration_key(registration_no) or "")
        recorded = self._run(lambda s: member_access.issue(s, ctx, registration_no, token))
        if recorded.code != token_digest(token):  # issued by this key's first run
            raise Conflict(
                f"member {recorded.registration_no}'s token was issued by the first run of this "
                "request, whose answer (with the token, shown once) was lost: issue another"
            )
        return recorded, token

    def revoke_member_access(
        self, registration_no: str, *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, None, request_id)
        return self._run(lambda s: member_access.revoke(s, ctx, registration_no))

    def member_for_token(self, token: str) -> Member | None:
        """The member whose working token this is, or None (unknown, replaced or revoked;
        or the member died or left: a gone member's access ends with the membership)."""
        number = token_registration_no(token)
        if number is None:
            return None
        self.cache.refresh()
        found = self._reading.load(access_id(number))
        if not isinstance(found, MemberAccess) or not found.accepts(token):
            return None
        member = self._reading.load(member_id(number))
        return member if isinstance(member, Member) and not member.is_gone else None

    def request_own_transfer(
        self, registration_no: str, to_organization_code: str, *, reason: str, basis: str,
        evidence: dict[str, str] | None = None, performance_record: str | None = None,
        probation_override_reason: str | None = None, on: date | None = None,
        request_id: str | None = None,
    ) -> Recorded:
        """A member's own transfer request (self-service, seed 002)."""
        ctx = self.context(SYSTEM, on, request_id)
        return self._run(lambda s: member_access.request_own_transfer(
            s, ctx, registration_no, to_organization_code, reason=reason, basis=basis,
            evidence=evidence, performance_record=performance_record,
            probation_override_reason=probation_override_reason,
        ))

    def send_member_report(
        self, registration_no: str, text: str, *, request_id: str | None = None,
    ) -> Recorded:
        """A mobile member's regular report (定期汇报) to the home organization."""
        ctx = self.context(SYSTEM, None, request_id)
        return self._run(lambda s: member_access.send_report(s, ctx, registration_no, text))

    def member_reports(self, registration_no: str) -> list[MemberAccess.ReportSent]:
        """The member's regular reports, oldest first."""
        number = self.member(registration_no).registration_no
        return [e for e in self.aggregate_events(access_id(number)) if isinstance(e, MemberAccess.ReportSent)]

    def open_certificates(self, registration_no: str) -> list[Certificate]:
        """The member's certificates not yet returned (or closed)."""
        session = self._reader()
        member = session.member(registration_no)
        numbers = [e.certificate_no for e in session.events(member)  # type: ignore[attr-defined]
                   if isinstance(e, Member.CertificateIssued)]
        found = [session.certificate(no) for no in dict.fromkeys(numbers)]
        return [c for c in found if c.status == "issued"]

    # --- reading -----------------------------------------------------------------------

    def organization(self, code: str) -> Organization:
        return self._session().org(code)

    def member(self, registration_no: str) -> Member:
        return self._session().member(registration_no)

    def locate(self, registration_no: str, id_card_no: str) -> Member | None:
        """The living member holding both numbers, else None (which of them failed is not
        said). Both are checked in full whatever the first gives: the ID number's keyed
        digest is compared, in constant time, even when the registration number is unknown."""
        number, card = validate_registration_no(registration_no), validate_id_card_no(id_card_no)
        wanted = id_card_digest(card, self._id_key)
        try:
            member: Member | None = self.member(number)
        except LedgerError:
            member = None
        held = member.id_digest if member is not None else id_card_digest("0" * 18, self._id_key)
        matches = hmac.compare_digest(held.encode(), wanted.encode())
        return member if member is not None and matches and not member.is_gone else None

    def transfer(self, transfer_id: str) -> Transfer:
        return self._session().transfer(transfer_id)

    def certificate(self, certificate_no: str) -> Certificate:
        return self._session().certificate(certificate_no)

    def case(self, case_id: str) -> Case:
        return self._session().case(case_id)

    def ancestors(self, code: str) -> list[str]:
        """The organization's code and its ancestors', nearest first."""
        return self._reader().codes(code)

    def is_within(self, code: str, ancestor_code: str) -> bool:
        return ancestor_code in self.ancestors(code)

    def jurisdiction(self, scope: str | None) -> Jurisdiction:
        """The rights of an operator scoped to `scope` (domain/jurisdiction.py), for reads."""
        return Jurisdiction(scope, self.ancestors)

    def committee_of(self, code: str) -> str:
        session = self._reader()
        return session.committee_of(session.org(code)).code

    def aggregate_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return list(self.repository.event_store.get(aggregate_id))

    def member_history(self, registration_no: str) -> list[DomainEventProtocol[UUID]]:
        """The member's events and those of every transfer it was part of, in order."""
        member = self.member(registration_no)
        events = self.aggregate_events(member.id)
        transfer_ids = {
            e.transfer_id for e in events if isinstance(e, Member.TransferOpened)  # type: ignore[attr-defined]
        }
        for transfer_id in transfer_ids:
            events.extend(self.aggregate_events(UUID(transfer_id)))
        return sorted(events, key=lambda e: e.timestamp)  # type: ignore[attr-defined]

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read_events(
        self, after: int = 0, limit: int = 1000, topics: Sequence[str] = ()
    ) -> Iterator[tuple[int, DomainEventProtocol[UUID]]]:
        """Events after a global position, in order, read in pages (for projections,
        exports and audits). Positions may have gaps."""
        while True:
            page = self.recorder.select_notifications(
                start=after, limit=limit, topics=topics, inclusive_of_start=False
            )
            for notification in page:
                yield notification.id, self.mapper.to_domain_event(notification)
            if len(page) < limit:
                return
            after = page[-1].id
