"""The unit of work of one command: the aggregates it reads and changes, each got once.

A `Session` asks its `Source` for aggregates (the Ledger's store, or an in-memory set of
aggregates for the domain's rule tests) and hands out working copies: whatever a command
changes stays in the session (`pending()`) until the caller saves it, so a refused command
leaves nothing behind. Besides getting aggregates by their numbers and codes, it walks the
organization tree (`chain`, `committee_of`, `receiving_org`) over the copies it holds.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.base import LedgerAggregate
from domain.case import Case
from domain.certificate import Certificate
from domain.errors import NotFound, ValidationError
from domain.identifiers import (
    certificate_id,
    is_certificate_no,
    is_code,
    member_id,
    organization_id,
    registration_key,
    uuid_key,
)
from domain.member import Member
from domain.organization import Organization, nearest_committee
from domain.transfer import Transfer

A = TypeVar("A", bound=LedgerAggregate)


@dataclass(frozen=True)
class Recorded:
    """What a command recorded: the global position of its last event, and references."""

    position: int
    registration_no: str | None = None
    transfer_id: str | None = None
    letter_no: str | None = None
    certificate_no: str | None = None
    code: str | None = None


class Source(Protocol):
    """Where a session gets aggregates from."""

    id_key: bytes  # keys the digests of resident ID numbers

    def load(self, aggregate_id: UUID) -> LedgerAggregate | None:
        """The current aggregate, a copy the caller may change; None if not stored."""

    def is_stored(self, aggregate_id: UUID) -> bool:
        """Whether an aggregate of that id is stored."""

    def stored_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        """The aggregate's stored events, in order."""


class Session:
    """The aggregates one attempt of one command has got, each got once."""

    def __init__(self, source: Source, absent: Collection[UUID] = ()) -> None:
        self.source = source
        self.by_id: dict[UUID, LedgerAggregate] = {}
        # ids known not to be in the store (a batch's hint; a wrong one fails the save)
        self.absent = absent

    @property
    def id_key(self) -> bytes:
        return self.source.id_key

    def get(self, aggregate_id: UUID, kind: type[A], what: str) -> A:
        if aggregate_id not in self.by_id:
            found = self.source.load(aggregate_id)
            if found is None:
                raise NotFound(f"{what} is not in the ledger")
            self.by_id[aggregate_id] = found
        aggregate = self.by_id[aggregate_id]
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what} is not in the ledger")
        return aggregate

    def add(self, aggregate: A) -> A:
        self.by_id[aggregate.id] = aggregate
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        if aggregate_id in self.by_id:
            return True
        if aggregate_id in self.absent:
            return False
        return self.source.is_stored(aggregate_id)

    def events(self, aggregate: LedgerAggregate) -> list[DomainEventProtocol[UUID]]:
        """The aggregate's stored events and those this session has added to it."""
        return [*self.source.stored_events(aggregate.id), *aggregate.pending_events]

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
        return self._by_uuid(transfer_id, Transfer, f"transfer {transfer_id!r}")

    def certificate(self, certificate_no: str) -> Certificate:
        if not is_certificate_no(certificate_no):
            raise NotFound(f"certificate {certificate_no!r} is not in the ledger")
        return self.get(certificate_id(certificate_no), Certificate, f"certificate {certificate_no!r}")

    def case(self, case_id: str) -> Case:
        return self._by_uuid(case_id, Case, f"case {case_id!r}")

    def _by_uuid(self, text: str, cls: type[A], what: str) -> A:
        """The aggregate of class `cls` whose id is the UUID `text` (`what` names it)."""
        key = uuid_key(text)
        if key is None:
            raise NotFound(f"{what} is not in the ledger")
        return self.get(key, cls, what)

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
        return nearest_committee(self.chain(org), lambda node: node.kind)

    def is_within(self, org: Organization, ancestor_code: str) -> bool:
        return any(node.code == ancestor_code for node in self.chain(org))

    def codes(self, code: str) -> list[str]:
        """The organization's code and its ancestors', nearest first."""
        return [node.code for node in self.chain(self.org(code))]

    def pending(self) -> list[LedgerAggregate]:
        return [a for a in self.by_id.values() if a.pending_events]


class MemorySource:
    """Aggregates held in memory, for the domain's rule tests: `commit(session)` keeps what
    a session changed, as a save would."""

    def __init__(self, id_key: bytes = b"a key of sixteen bytes or more") -> None:
        self.id_key = id_key
        self.aggregates: dict[UUID, LedgerAggregate] = {}
        self.events: dict[UUID, list[DomainEventProtocol[UUID]]] = {}

    def load(self, aggregate_id: UUID) -> LedgerAggregate | None:
        found = self.aggregates.get(aggregate_id)
        return copy.deepcopy(found) if found is not None else None

    def is_stored(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.aggregates

    def stored_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return list(self.events.get(aggregate_id, ()))

    def commit(self, aggregates: Iterable[LedgerAggregate]) -> int:
        """Keep the aggregates with their pending events; returns how many events."""
        count = 0
        for aggregate in aggregates:
            events = aggregate.collect_events()
            self.events.setdefault(aggregate.id, []).extend(events)
            self.aggregates[aggregate.id] = copy.deepcopy(aggregate)
            count += len(events)
        return count
