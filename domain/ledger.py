"""The Ledger application: every use case of DOMAIN.md §3-§7 as one atomic save.

Each command loads what it needs, checks every rule (raising a `LedgerError` before any
event is saved), acts, and saves all touched aggregates at once. A concurrent change to
any of them makes the store refuse the save; the command is then re-run from a fresh
load, so the loser of a race is judged by the rules against the winner's result
(e.g. "already received") or, after repeated collisions, refused with `conflict`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain.base import SYSTEM, Actor, Context, LedgerAggregate
from domain.certificate import Certificate
from domain.commandkey import CommandKey, next_command_key
from domain.errors import (
    BeforeLastEvent,
    ConfirmationDue,
    Conflict,
    DuplicateRegistration,
    FutureDate,
    LedgerError,
    NotFound,
    NotInTargetSubtree,
    OutOfJurisdiction,
    PerformanceRecordRequired,
    PeriodClosed,
    ProbationEnding,
    SameOrganization,
    TransferOpen,
    ValidationError,
)
from domain.idclaim import IdClaim
from domain.identifiers import (
    certificate_id,
    id_card_digest,
    id_claim_id,
    is_certificate_no,
    is_code,
    make_registration_no,
    member_id,
    organization_id,
    registration_key,
    uuid_key,
    validate_id_card_no,
    validate_region,
    validate_registration_no,
)
from domain.jurisdiction import Jurisdiction
from domain.member import FOUNDED, Member, one_year_after, validate_month
from domain.operator import Operator, new_token, operator_id_for
from domain.organization import COMMITTEE_KINDS, Organization
from domain.transcodings import TRANSCODINGS
from domain.transfer import DEFAULT_VALID_DAYS, Transfer, classify_route

A = TypeVar("A", bound=LedgerAggregate)

PROBATION_ENDING_DAYS = 90
PERFORMANCE_RECORD_AFTER_DAYS = 180
SAVE_ATTEMPTS = 4
# The batch (see `Ledger.batch`) the commands of this thread are gathered into, if any.
_BATCH = threading.local()


@dataclass(frozen=True)
class Recorded:
    """What a command recorded: the global position of its last event, and references."""

    position: int
    registration_no: str | None = None
    transfer_id: str | None = None
    letter_no: str | None = None
    certificate_no: str | None = None
    code: str | None = None


class _Loaded:
    """The aggregates one attempt of one command has loaded, each loaded once."""

    def __init__(self, ledger: Ledger, absent: Collection[UUID] = ()) -> None:
        self.ledger = ledger
        self.by_id: dict[UUID, LedgerAggregate] = {}
        # ids known not to be in the store (a batch's hint; a wrong one fails the save)
        self.absent = absent

    def get(self, aggregate_id: UUID, kind: type[A], what: str) -> A:
        if aggregate_id not in self.by_id:
            try:
                self.by_id[aggregate_id] = self.ledger.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFound(f"{what} is not in the ledger") from None
        found = self.by_id[aggregate_id]
        if not isinstance(found, kind):
            raise NotFound(f"{what} is not in the ledger")
        return found

    def add(self, aggregate: A) -> A:
        self.by_id[aggregate.id] = aggregate
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        if aggregate_id in self.by_id:
            return True
        if aggregate_id in self.absent:
            return False
        return bool(self.ledger.recorder.select_events(aggregate_id, desc=True, limit=1))

    # Lookups: a key that can't be an identifier (not ASCII, a trailing newline, a lone
    # surrogate) names nothing in the ledger.

    def org(self, code: str) -> Organization:
        if not isinstance(code, str) or not code:
            raise ValidationError("an organization code is required")
        if not is_code(code):
            raise NotFound(f"organization {code!r} is not in the ledger")
        return self.get(organization_id(code), Organization, f"organization {code!r}")

    def member(self, registration_no: str) -> Member:
        number = registration_key(registration_no)
        if number is None:
            raise NotFound(f"member {registration_no!r} is not in the ledger")
        return self.get(member_id(number), Member, f"member {registration_no!r}")

    def transfer(self, transfer_id: str) -> Transfer:
        key = uuid_key(transfer_id)
        if key is None:
            raise NotFound(f"transfer {transfer_id!r} is not in the ledger")
        return self.get(key, Transfer, f"transfer {transfer_id!r}")

    def certificate(self, certificate_no: str) -> Certificate:
        if not is_certificate_no(certificate_no):
            raise NotFound(f"certificate {certificate_no!r} is not in the ledger")
        return self.get(certificate_id(certificate_no), Certificate, f"certificate {certificate_no!r}")

    def chain(self, org: Organization) -> list[Organization]:
        """The organization and its ancestors, nearest first."""
        chain = [org]
        while chain[-1].parent_code is not None:
            if len(chain) > 64:
                raise AssertionError(f"organization tree is cyclic at {org.code}")
            chain.append(self.org(chain[-1].parent_code))
        return chain

    def receiving_org(self, code: str) -> Organization:
        """A letter's target, or, if it was dissolved since, its successor (in turn)."""
        org = self.org(code)
        for _ in range(64):
            if org.status == "active" or org.successor_code is None:
                return org
            org = self.org(org.successor_code)
        raise AssertionError(f"successor chain of {code} does not end")

    def committee_of(self, org: Organization) -> Organization:
        """The nearest organization at or above `org` that issues and receives letters."""
        for node in self.chain(org):
            if node.kind in COMMITTEE_KINDS:
                return node
        return self.chain(org)[-1]

    def is_within(self, org: Organization, ancestor_code: str) -> bool:
        return any(node.code == ancestor_code for node in self.chain(org))

    def codes(self, code: str) -> list[str]:
        """The organization's code and its ancestors', nearest first."""
        return [node.code for node in self.chain(self.org(code))]

    def pending(self) -> list[LedgerAggregate]:
        return [a for a in self.by_id.values() if a.pending_events]


class Ledger(Application[UUID]):
    """The transfer ledger. Configure the store with eventsourcing's environment
    (`domain.settings.Settings.event_store_env()` builds it from LEDGER_DATABASE_URL);
    `LEDGER_ID_KEY` (a secret) keys the digests that keep resident ID numbers unique."""

    name = "ledger"
    snapshotting_intervals = {Organization: 100, Member: 100}  # noqa: RUF012
    # Commands load the organization chains again and again: keep recently used aggregates
    # and bring them up to date with only their newer events (fast-forward) on each load.
    # The library hands out a deep copy, so a refused command leaves the cache untouched,
    # and the events written by other processes are read on every load.
    env = {"AGGREGATE_CACHE_MAXSIZE": "5000", "AGGREGATE_CACHE_FASTFORWARD": "y"}  # noqa: RUF012

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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    # --- plumbing ----------------------------------------------------------------------

    def _notify(self, recordings: list[Any]) -> None:
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

    def _run(self, command: Callable[[_Loaded], Recorded]) -> Recorded:
        batch = getattr(_BATCH, "loaded", None)
        if batch is not None and batch.ledger is self:
            return command(batch)  # saved with the rest of the batch by `batch()`
        key = next_command_key()  # set for a keyed request (see domain/commandkey.py)
        for _ in range(SAVE_ATTEMPTS):
            if key is not None and (marker := self._command_marker(key)) is not None:
                return Recorded(self.max_position(), **marker.references)  # recorded before
            loaded = _Loaded(self)
            result = command(loaded)
            pending = loaded.pending()
            if key is not None and pending:
                pending.append(CommandKey.mark(key, pending, result.__dict__))
            try:
                recordings = self.save(*pending)
            except IntegrityError:
                continue  # someone else saved first: judge the command again
            position = max((r.notification.id for r in recordings), default=0)
            return Recorded(**{**result.__dict__, "position": position})
        raise Conflict("the records changed concurrently several times; nothing was recorded")

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
        (it spares a query each): should one exist by the time of the save, the store refuses
        the save (ids are unique) and the batch is judged again without the hint.
        Returns the position of the last event saved (0 if none)."""
        key = None if dry_run else next_command_key()
        for _ in range(SAVE_ATTEMPTS):
            if key is not None and self._command_marker(key) is not None:
                return self.max_position()  # this keyed batch was recorded before
            _BATCH.loaded = loaded = _Loaded(self, absent)
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
                _BATCH.loaded = None
            if refused or dry_run:
                return 0
            pending = loaded.pending()
            if key is not None and pending:
                pending.append(CommandKey.mark(key, pending, {}))
            try:
                recordings = self.save(*pending)
            except IntegrityError:
                absent = ()
                continue  # someone else saved first: judge the batch again
            return max((r.notification.id for r in recordings), default=0)
        raise Conflict("the records changed concurrently several times; nothing was recorded")

    @staticmethod
    def _jurisdiction(ctx: Context, loaded: _Loaded) -> Jurisdiction:
        """The acting operator's rights (domain/jurisdiction.py), over the tree as loaded."""
        return Jurisdiction(ctx.actor.organization_code, loaded.codes)

    @staticmethod
    def _check_scope(ctx: Context, loaded: _Loaded, org: Organization) -> None:
        """An operator acts on its own organization and everything below it."""
        Ledger._jurisdiction(ctx, loaded).check(org.code)

    @staticmethod
    def _held_member(ctx: Context, loaded: _Loaded, registration_no: str) -> tuple[Member, Organization]:
        """A member the operator holds (where it is of record), with that organization. An
        unknown number is refused like a member outside the jurisdiction."""
        rights = Ledger._jurisdiction(ctx, loaded)
        try:
            member = loaded.member(registration_no)
        except NotFound as error:
            raise rights.unknown(error, f"member {registration_no}") from None
        rights.check_member(member.registration_no, member.organization_code)
        return member, loaded.org(member.organization_code)

    @staticmethod
    def _check_open_period(ctx: Context, loaded: _Loaded, *orgs: Organization) -> None:
        """A filed month is frozen for the filing organization's whole subtree, and nothing
        is effective before the last restructuring (registration, move, dissolution) of
        any organization it touches or of their ancestors: reports see one tree per date.
        A refusal names an ancestor only to an operator who may see it."""
        month = f"{ctx.on:%Y-%m}"

        def name(node: Organization, org: Organization) -> str:
            if node is org or Ledger._jurisdiction(ctx, loaded).sees(node.code):
                return node.code
            return f"an organization above {org.code}"

        for org in orgs:
            for node in loaded.chain(org):
                if node.filed_months and node.filed_months[-1] >= month:
                    raise PeriodClosed(
                        f"{name(node, org)} has filed {node.filed_months[-1]}: nothing may be "
                        f"recorded on {ctx.on} or earlier"
                    )
                if ctx.on < node.last_on:
                    raise BeforeLastEvent(
                        f"effective date {ctx.on} is before the last change to organization "
                        f"{name(node, org)} ({node.last_on})"
                    )

    @staticmethod
    def _check_after_subtree_activity(ctx: Context, loaded: _Loaded, org: Organization) -> None:
        """A restructuring can't be back-dated before what its members already did."""
        pending = [org]
        while pending:
            node = pending.pop()
            latest = [node.last_member_on] + [loaded.member(no).last_on for no in node.members]
            for day in latest:
                if day is not None and ctx.on < day:
                    raise BeforeLastEvent(
                        f"effective date {ctx.on} is before events already recorded for members "
                        f"of {node.code} ({day})"
                    )
            pending.extend(loaded.org(child) for child in node.children)

    # --- organizations ------------------------------------------------------------------

    def register_organization(
        self, code: str, name: str, kind: str, parent_code: str | None, region: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def command(loaded: _Loaded) -> Recorded:
            parent = None
            if parent_code is None:
                if actor.organization_code is not None:
                    raise OutOfJurisdiction("only set-up registers a root department")
            else:
                parent = loaded.org(parent_code)
                self._check_scope(ctx, loaded, parent)
                self._check_open_period(ctx, loaded, parent)
            if isinstance(code, str) and loaded.exists(organization_id(code)):
                raise Conflict(f"organization code {code!r} is taken")
            loaded.add(Organization.register(ctx, code, name, kind, parent, region))
            return Recorded(0, code=code)

        return self._run(command)

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

        def command(loaded: _Loaded) -> Recorded:
            org, successor = loaded.org(code), loaded.org(successor_code)
            self._check_scope(ctx, loaded, org)
            self._check_scope(ctx, loaded, successor)
            if loaded.is_within(successor, org.code):
                raise ValidationError("the successor can't sit inside the dissolved organization")
            self._check_open_period(ctx, loaded, org, successor)
            self._check_after_subtree_activity(ctx, loaded, org)
            members = [loaded.member(no) for no in sorted(org.members)]
            for member in members:
                if member.transfer_id is not None:
                    raise TransferOpen(
                        f"member {member.registration_no} has open transfer {member.transfer_id}: "
                        "finish, decline or cancel it before dissolving"
                    )
            if members:
                successor.check_can_hold()
            children = [loaded.org(child) for child in sorted(org.children)]
            org.dissolve(ctx, successor)
            for member in members:
                member.move_on_dissolution(ctx, successor.code)
                org.detach_member(ctx, member.registration_no)
                successor.attach_member(ctx, member.registration_no)
            for child in children:
                if child.status != "active":
                    continue
                child.move(ctx, successor, cause="dissolution")
                org.detach_child(ctx, child.code)
                successor.attach_child(ctx, child.code)
            return Recorded(0, code=code)

        return self._run(command)

    def move_organization(
        self, code: str, parent_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Whole-organization transfer (整建制转移): its members move with it."""
        ctx = self.context(actor, on, request_id)

        def command(loaded: _Loaded) -> Recorded:
            org, new_parent = loaded.org(code), loaded.org(parent_code)
            self._check_scope(ctx, loaded, org)
            self._check_scope(ctx, loaded, new_parent)
            if loaded.is_within(new_parent, org.code):
                raise ValidationError("an organization can't move under its own subtree")
            self._check_open_period(ctx, loaded, org, new_parent)
            self._check_after_subtree_activity(ctx, loaded, org)
            old_parent = loaded.org(org.parent_code) if org.parent_code else None
            org.move(ctx, new_parent)
            if old_parent is not None:
                old_parent.detach_child(ctx, org.code)
            new_parent.attach_child(ctx, org.code)
            return Recorded(0, code=code)

        return self._run(command)

    def file_month(
        self, code: str, month: str,
        *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> Recorded:
        """Filing (报送) freezes a month and every earlier one for the subtree."""
        ctx = self.context(actor, None, request_id)
        validate_month(month)
        if month >= f"{ctx.on:%Y-%m}":
            raise ValidationError(f"{month} is not over yet: only a past month can be filed")

        def command(loaded: _Loaded) -> Recorded:
            org = loaded.org(code)
            self._check_scope(ctx, loaded, org)
            org.file_month(ctx, month)
            return Recorded(0, code=code)

        return self._run(command)

    # --- members ---------------------------------------------------------------------

    def _enroll(
        self, ctx: Context, loaded: _Loaded, *, event: type[Member.Enrolled],
        registration_no: str | None, organization_code: str, id_card_no: str, status: str,
        joined_on: date, household_region: str, **fields: Any,
    ) -> Recorded:
        org = loaded.org(organization_code)
        self._check_scope(ctx, loaded, org)
        org.check_can_hold()
        self._check_open_period(ctx, loaded, org)
        validate_region(household_region, "household_region")
        if not isinstance(joined_on, date):
            raise ValidationError("joined_on must be a date")
        if joined_on < FOUNDED:
            raise ValidationError(f"joined_on can't be before {FOUNDED}")
        digest = id_card_digest(validate_id_card_no(id_card_no), self._id_key)
        claim = None
        if loaded.exists(id_claim_id(digest)):
            claim = loaded.get(id_claim_id(digest), IdClaim, "id claim")
            if claim.registration_no is not None:
                raise self._duplicate_id(ctx, loaded, claim.registration_no)
        if registration_no is None:
            registration_no = self._next_registration_no(loaded, org.region, joined_on)
        elif loaded.exists(member_id(registration_no)):
            raise DuplicateRegistration(f"registration number {registration_no} is taken")
        member = loaded.add(Member.enroll(
            ctx, event, registration_no=registration_no, organization_code=org.code,
            id_digest=digest, status=status, joined_on=joined_on,
            probation_ends_on=one_year_after(joined_on) if status == "probationary" else None,
            household_region=household_region, **fields,
        ))
        org.attach_member(ctx, member.registration_no)
        if claim is None:
            loaded.add(IdClaim.claim(ctx, digest, member.registration_no))
        else:
            claim.reclaim(ctx, member.registration_no)
        return Recorded(0, registration_no=member.registration_no)

    @staticmethod
    def _duplicate_id(ctx: Context, loaded: _Loaded, registration_no: str) -> DuplicateRegistration:
        """The holder of a resident ID number is named only to an operator who holds it."""
        holder = loaded.member(registration_no)
        if Ledger._jurisdiction(ctx, loaded).holds(holder.organization_code):
            return DuplicateRegistration(
                f"this resident ID number already belongs to a living member ({registration_no})"
            )
        return DuplicateRegistration("this resident ID number already belongs to a living member")

    @staticmethod
    def _next_registration_no(loaded: _Loaded, region: str, joined_on: date) -> str:
        for sequence in range(1, 1000):
            number = make_registration_no(region, joined_on, sequence)
            if not loaded.exists(member_id(number)):
                return number
        raise Conflict(f"all 999 registration numbers of region {region} on {joined_on} are used")

    def admit_member(
        self, organization_code: str, *, name: str, id_card_no: str, gender: str,
        birth_date: date, joined_on: date, category: str, household_region: str,
        workplace: str | None = None, residence: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Admission (接收预备党员): a new probationary member with a new registration number."""
        ctx = self.context(actor, on, request_id)
        return self._run(lambda loaded: self._enroll(
            ctx, loaded, event=Member.Admitted, registration_no=None,
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
        return self._run(lambda loaded: self._enroll(
            ctx, loaded, event=Member.Imported, registration_no=number,
            organization_code=organization_code, id_card_no=id_card_no, status=status,
            name=name, gender=gender, birth_date=birth_date, joined_on=joined_on,
            category=category, household_region=household_region, workplace=workplace,
            residence=residence,
        ))

    def _member_command(
        self, registration_no: str, ctx: Context, act: Callable[[Member, Organization, _Loaded], None],
    ) -> Recorded:
        def command(loaded: _Loaded) -> Recorded:
            member, org = self._held_member(ctx, loaded, registration_no)
            self._check_open_period(ctx, loaded, org)
            act(member, org, loaded)
            return Recorded(0, registration_no=member.registration_no)

        return self._run(command)

    def confirm_member(
        self, registration_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._member_command(registration_no, ctx, lambda m, _o, _l: m.confirm(ctx))

    def _release(self, ctx: Context, member: Member, org: Organization, loaded: _Loaded) -> None:
        org.detach_member(ctx, member.registration_no)
        loaded.get(id_claim_id(member.id_digest), IdClaim, "id claim").release(ctx)

    def record_death(
        self, registration_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def act(member: Member, org: Organization, loaded: _Loaded) -> None:
            member.die(ctx)
            self._release(ctx, member, org, loaded)

        return self._member_command(registration_no, ctx, act)

    def record_leaving(
        self, registration_no: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Removal (expelled, withdrew, self-withdrawal) is always a clerk's explicit act."""
        ctx = self.context(actor, on, request_id)

        def act(member: Member, org: Organization, loaded: _Loaded) -> None:
            member.leave(ctx, reason)
            self._release(ctx, member, org, loaded)

        return self._member_command(registration_no, ctx, act)

    def record_org_life(
        self, registration_no: str, organization_code: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """Org life, recorded by the side that holds the member: at the member's own
        organization or, for a certificate holder, at the host of a certificate valid that
        day (or an organization below that host)."""
        ctx = self.context(actor, on, request_id)

        def command(loaded: _Loaded) -> Recorded:
            member, home = self._held_member(ctx, loaded, registration_no)
            member.check_not_gone()
            host = loaded.org(organization_code)
            host.check_active()
            if host.code != home.code and not self._hosted_on(ctx, loaded, member, host):
                raise ValidationError(
                    f"org life of member {member.registration_no} is recorded at {home.code} or at "
                    f"the host of a certificate valid on {ctx.on}, not at {host.code}"
                )
            self._check_open_period(ctx, loaded, home)
            member.attend_org_life(ctx, host.code)
            return Recorded(0, registration_no=member.registration_no)

        return self._run(command)

    def _hosted_on(self, ctx: Context, loaded: _Loaded, member: Member, org: Organization) -> bool:
        """Whether a certificate of the member, valid (and not yet returned) on the day,
        has its host at or above `org`."""
        events = [*self.aggregate_events(member.id), *member.pending_events]
        for event in events:
            if isinstance(event, Member.CertificateIssued):
                certificate = loaded.certificate(event.certificate_no)
                host = certificate.host_organization_code
                ends = certificate.returned_on or certificate.valid_until
                if host and certificate.issued_on <= ctx.on <= ends and loaded.is_within(org, host):
                    return True
        return False

    def record_dues(
        self, registration_no: str, month: str, amount: Any,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        return self._member_command(
            registration_no, ctx, lambda m, _o, _l: m.pay_dues(ctx, month, amount)
        )

    # --- transfers ---------------------------------------------------------------------

    def request_transfer(
        self, registration_no: str, to_organization_code: str, *, reason: str, basis: str,
        evidence: dict[str, str] | None = None, performance_record: str | None = None,
        probation_override_reason: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def command(loaded: _Loaded) -> Recorded:
            member, home = self._held_member(ctx, loaded, registration_no)
            member.check_held()
            member.check_no_open_transfer()
            target = loaded.org(to_organization_code)
            if target.code == home.code:
                raise SameOrganization(f"member {member.registration_no} is already held by {home.code}")
            target.check_can_be_target()
            self._check_probation(ctx, member, performance_record, probation_override_reason)
            self._check_open_period(ctx, loaded, home)
            route = classify_route(
                loaded.committee_of(home).code, loaded.committee_of(target).code,
                home.region, target.region,
            )
            transfer = loaded.add(Transfer.request(
                ctx, registration_no=member.registration_no, from_organization_code=home.code,
                to_organization_code=target.code, reason=reason, basis=basis,
                evidence=dict(evidence) if evidence else None,
                performance_record=(performance_record or "").strip() or None,
                probation_override_reason=(probation_override_reason or "").strip() or None,
                route=route,
            ))
            member.open_transfer(ctx, transfer.transfer_id)
            return Recorded(0, registration_no=member.registration_no, transfer_id=transfer.transfer_id)

        return self._run(command)

    @staticmethod
    def _check_probation(
        ctx: Context, member: Member, performance_record: str | None, override: str | None
    ) -> None:
        """Probation rules of seed 003 for a probationary member's transfer."""
        if member.status != "probationary" or member.probation_ends_on is None:
            return
        Ledger._check_confirmation_due(ctx, member)
        if (member.probation_ends_on - ctx.on).days <= PROBATION_ENDING_DAYS and not (override or "").strip():
            raise ProbationEnding(
                f"probation ends on {member.probation_ends_on}, within {PROBATION_ENDING_DAYS} "
                "days: transfer after confirmation, or give probation_override_reason"
            )
        if (ctx.on - member.joined_on).days > PERFORMANCE_RECORD_AFTER_DAYS and not (
            performance_record or ""
        ).strip():
            raise PerformanceRecordRequired(
                f"more than {PERFORMANCE_RECORD_AFTER_DAYS} days into probation: the developing "
                "organization's performance_record goes with the member"
            )

    @staticmethod
    def _check_confirmation_due(ctx: Context, member: Member) -> None:
        """A member whose probation has ended is confirmed (or not) by the old
        organization before any letter goes out."""
        if member.status == "probationary" and member.probation_ends_on and ctx.on >= member.probation_ends_on:
            raise ConfirmationDue(
                f"probation ended on {member.probation_ends_on}: the organization confirms "
                "(or not) before any transfer"
            )

    def _transfer_command(
        self, transfer_id: str, ctx: Context, side: str,
        act: Callable[[Transfer, Member, _Loaded], Recorded | None],
    ) -> Recorded:
        """A command on a transfer by its sending side ("from") or its receiving side ("to"):
        the committee that issues or receives letters for that side, or an operator above it."""

        def command(loaded: _Loaded) -> Recorded:
            transfer = loaded.transfer(transfer_id)
            home = loaded.org(transfer.from_organization_code)
            side_org = home if side == "from" else loaded.receiving_org(transfer.to_organization_code)
            self._jurisdiction(ctx, loaded).check(
                loaded.committee_of(side_org).code, f"transfer {transfer.transfer_id}"
            )
            member = loaded.member(transfer.registration_no)
            sides = [home, loaded.org(transfer.to_organization_code)]
            if transfer.received_in_code:
                sides.append(loaded.org(transfer.received_in_code))
            self._check_open_period(ctx, loaded, *sides)
            result = act(transfer, member, loaded)
            return result or Recorded(
                0, registration_no=transfer.registration_no, transfer_id=transfer.transfer_id,
                letter_no=transfer.letter_no,
            )

        return self._run(command)

    def decline_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def act(transfer: Transfer, member: Member, _: _Loaded) -> None:
            transfer.decline(ctx, reason)
            member.close_transfer(ctx, transfer.transfer_id)

        return self._transfer_command(transfer_id, ctx, "from", act)

    def issue_letter(
        self, transfer_id: str, valid_days: int = DEFAULT_VALID_DAYS,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def act(transfer: Transfer, member: Member, loaded: _Loaded) -> None:
            transfer.check_status("requested")
            self._check_confirmation_due(ctx, member)
            if member.status == "probationary" and not transfer.probation_override_reason:
                self._check_probation(ctx, member, transfer.performance_record, None)
            home = loaded.org(transfer.from_organization_code)
            target = loaded.org(transfer.to_organization_code)
            target.check_can_be_target()
            committee = loaded.committee_of(home)
            route = classify_route(
                committee.code, loaded.committee_of(target).code, home.region, target.region
            )
            number = committee.take_number(ctx, f"letter-{ctx.on.year}", transfer.transfer_id)
            letter_no = f"{committee.code}-{ctx.on.year}-{number:05d}"
            transfer.issue(ctx, letter_no, committee.code, valid_days, route)
            member.go_in_transit(ctx, transfer.transfer_id, letter_no)

        return self._transfer_command(transfer_id, ctx, "from", act)

    def extend_letter(
        self, transfer_id: str, valid_until: date,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)
        if not isinstance(valid_until, date):
            raise ValidationError("valid_until must be a date")
        return self._transfer_command(
            transfer_id, ctx, "from", lambda t, _m, _l: t.extend(ctx, valid_until)
        )

    def cancel_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def act(transfer: Transfer, member: Member, _: _Loaded) -> None:
            transfer.cancel(ctx, reason)
            member.return_home(ctx, transfer.transfer_id, "cancelled")

        return self._transfer_command(transfer_id, ctx, "from", act)

    def reject_transfer(
        self, transfer_id: str, reason: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def act(transfer: Transfer, member: Member, _: _Loaded) -> None:
            transfer.reject(ctx, reason)
            member.return_home(ctx, transfer.transfer_id, "rejected")

        return self._transfer_command(transfer_id, ctx, "to", act)

    def receive_member(
        self, transfer_id: str, organization_code: str, late_certificate: str | None = None,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The receipt: the member lands in a member-holding organization in the target's
        subtree and changes organization of record, in this one save."""
        ctx = self.context(actor, on, request_id)

        def act(transfer: Transfer, member: Member, loaded: _Loaded) -> None:
            transfer.check_status("issued")
            into = loaded.org(organization_code)
            into.check_can_hold()
            target = loaded.receiving_org(transfer.to_organization_code)
            if not loaded.is_within(into, target.code):
                raise NotInTargetSubtree(f"{into.code} is not {target.code} or below it")
            home = loaded.org(transfer.from_organization_code)
            if into.code == home.code:
                raise SameOrganization(f"the member was sent from {home.code}")
            self._check_open_period(ctx, loaded, into)
            transfer.receive(ctx, into.code, late_certificate)
            member.arrive(ctx, transfer.transfer_id, into.code)
            home.detach_member(ctx, member.registration_no)
            into.attach_member(ctx, member.registration_no)

        return self._transfer_command(transfer_id, ctx, "to", act)

    def return_receipt(
        self, transfer_id: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        """The receipt (回执) goes from the receiving committee straight to the sender."""
        ctx = self.context(actor, on, request_id)
        return self._transfer_command(
            transfer_id, ctx, "to", lambda t, _m, _l: t.return_receipt(ctx)
        )

    # --- certificates ------------------------------------------------------------------

    def issue_certificate(
        self, registration_no: str, *, kind: str, purpose: str, valid_until: date,
        host_organization_code: str | None = None, host_description: str | None = None,
        contact_person: str | None = None,
        actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def command(loaded: _Loaded) -> Recorded:
            member, home = self._held_member(ctx, loaded, registration_no)
            member.check_held()
            sides = [home]
            if host_organization_code:
                host = loaded.org(host_organization_code)
                host.check_active()
                if host.code == home.code:
                    raise SameOrganization("the host is the member's own organization")
                sides.append(host)
            self._check_open_period(ctx, loaded, *sides)
            committee = loaded.committee_of(home)
            prefix = "T" if kind == "temporary" else "M"
            number = committee.take_number(ctx, f"certificate-{ctx.on.year}", member.registration_no)
            certificate = loaded.add(Certificate.issue(
                ctx, certificate_no=f"{committee.code}-{prefix}{ctx.on.year}-{number:05d}",
                kind=kind, registration_no=member.registration_no, home_organization_code=home.code,
                host_organization_code=host_organization_code or None,
                host_description=(host_description or "").strip() or None,
                purpose=(purpose or "").strip(), contact_person=(contact_person or "").strip() or None,
                valid_until=valid_until,
            ))
            member.note_certificate(ctx, certificate.certificate_no)
            return Recorded(0, registration_no=member.registration_no,
                            certificate_no=certificate.certificate_no)

        return self._run(command)

    def return_certificate(
        self, certificate_no: str,
        *, actor: Actor = SYSTEM, on: date | None = None, request_id: str | None = None,
    ) -> Recorded:
        ctx = self.context(actor, on, request_id)

        def command(loaded: _Loaded) -> Recorded:
            rights = self._jurisdiction(ctx, loaded)
            try:
                certificate = loaded.certificate(certificate_no)
            except NotFound as error:
                raise rights.unknown(error, f"certificate {certificate_no}") from None
            home = loaded.org(certificate.home_organization_code)
            host_code = certificate.host_organization_code
            if not (host_code is not None and rights.holds(host_code)):
                rights.check(home.code, f"certificate {certificate.certificate_no}")
            sides = [home] + ([loaded.org(host_code)] if host_code else [])
            self._check_open_period(ctx, loaded, *sides)
            certificate.return_(ctx)
            loaded.member(certificate.registration_no).note_certificate(
                ctx, certificate.certificate_no, returned=True)
            return Recorded(0, registration_no=certificate.registration_no,
                            certificate_no=certificate.certificate_no)

        return self._run(command)

    # --- operators -----------------------------------------------------------------------

    def grant_operator(
        self, name: str, role: str, organization_code: str,
        *, actor: Actor = SYSTEM, request_id: str | None = None,
    ) -> tuple[Recorded, str]:
        """A new operator, acting in `role` over `organization_code`'s subtree. Returns the
        bearer token, which is stored nowhere: show it once."""
        ctx = self.context(actor, None, request_id)
        token = new_token()

        def command(loaded: _Loaded) -> Recorded:
            org = loaded.org(organization_code)
            org.check_active()
            self._check_scope(ctx, loaded, org)
            operator = loaded.add(Operator.grant(ctx, token, name, role, org.code))
            return Recorded(0, code=str(operator.id))

        recorded = self._run(command)
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

        def command(loaded: _Loaded) -> Recorded:
            operator = self._operator(loaded, operator_id)
            self._jurisdiction(ctx, loaded).check(operator.organization_code, f"operator {operator.id}")
            operator.revoke(ctx)
            return Recorded(0, code=str(operator.id))

        return self._run(command)

    @staticmethod
    def _operator(loaded: _Loaded, operator_id: str) -> Operator:
        key = uuid_key(operator_id)
        if key is None:
            raise NotFound(f"operator {operator_id!r} is not in the ledger")
        return loaded.get(key, Operator, f"operator {operator_id!r}")

    def operator(self, operator_id: str) -> Operator:
        return self._operator(_Loaded(self), operator_id)

    def operator_for_token(self, token: str) -> Operator | None:
        """The active operator a bearer token belongs to, or None."""
        try:
            operator: Operator = self.repository.get(operator_id_for(token))
        except AggregateNotFoundError:
            return None
        return operator if isinstance(operator, Operator) and operator.active else None

    # --- reading -----------------------------------------------------------------------

    def organization(self, code: str) -> Organization:
        return _Loaded(self).org(code)

    def member(self, registration_no: str) -> Member:
        return _Loaded(self).member(registration_no)

    def transfer(self, transfer_id: str) -> Transfer:
        return _Loaded(self).transfer(transfer_id)

    def certificate(self, certificate_no: str) -> Certificate:
        return _Loaded(self).certificate(certificate_no)

    def ancestors(self, code: str) -> list[str]:
        """The organization's code and its ancestors', nearest first."""
        loaded = _Loaded(self)
        return [node.code for node in loaded.chain(loaded.org(code))]

    def is_within(self, code: str, ancestor_code: str) -> bool:
        return ancestor_code in self.ancestors(code)

    def jurisdiction(self, scope: str | None) -> Jurisdiction:
        """The rights of an operator scoped to `scope` (domain/jurisdiction.py), for reads."""
        return Jurisdiction(scope, self.ancestors)

    def committee_of(self, code: str) -> str:
        loaded = _Loaded(self)
        return loaded.committee_of(loaded.org(code)).code

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
