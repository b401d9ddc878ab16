"""The Ledger's reads: aggregates by their numbers and codes, the organization tree, the
bearer tokens' operators and members, and histories. A read changes nothing: it sees the
cached aggregates themselves, brought up to date with the log (inside a batch, the
batch's own session).
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

import domain.ledger.operators as operators
from domain.case import Case
from domain.certificate import Certificate
from domain.errors import LedgerError
from domain.identifiers import (
    id_card_digest,
    is_code,
    member_id,
    organization_id,
    registration_key,
    validate_id_card_no,
    validate_registration_no,
)
from domain.jurisdiction import Jurisdiction
from domain.ledger.runner import LedgerRunner
from domain.ledger.session import Session
from domain.member import Member
from domain.member_access import MemberAccess, access_id, token_registration_no
from domain.operator import Operator, operator_id_for
from domain.organization import Organization
from domain.transfer import Transfer


class LedgerReads(LedgerRunner):
    """The Ledger's reads (its commands are in domain/ledger/application.py)."""

    # --- tokens ------------------------------------------------------------------------

    def operator(self, operator_id: str) -> Operator:
        return operators.get(self._session(), operator_id)

    def operator_for_token(self, token: str) -> Operator | None:
        """The active operator a bearer token belongs to, or None: the cached operator itself
        (read it, never change it), brought up to date with the log."""
        self.cache.refresh()
        found = self._reading.load(operator_id_for(token))
        return found if isinstance(found, Operator) and found.active else None


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

    def preload_organizations(self, codes: Iterable[str]) -> dict[str, Organization]:
        """The organizations of these codes that the ledger holds, brought into memory with
        their ancestors in bulk (a query for each level of the tree and thousand codes,
        domain/ledger/bulk.py), for a caller about to read them or judge commands on them
        (an import); by code, the cached objects themselves (read them, never change them).
        A code the ledger doesn't hold (or that can't be one) is left out: read it with
        `organization` for its error."""
        session = self._reader()
        wanted = [code for code in dict.fromkeys(codes) if isinstance(code, str) and is_code(code)]
        found: dict[str, Organization] = {}
        level, seen = wanted, set(wanted)
        while level:
            self.cache.preload(organization_id(code) for code in level)
            parents: list[str] = []
            for code in level:
                if organization_id(code) not in self.cache:  # not in the store (nor loaded alone)
                    continue
                try:
                    org = session.org(code)
                except LedgerError:
                    continue
                found[code] = org
                if org.parent_code is not None and org.parent_code not in seen:
                    seen.add(org.parent_code)
                    parents.append(org.parent_code)
            level = parents
        return {code: found[code] for code in wanted if code in found}

    @contextlib.contextmanager
    def keeping(self, count: int) -> Iterator[None]:
        """For the duration, the aggregate cache keeps room for `count` aggregates beyond its
        bound (`LEDGER_AGGREGATE_CACHE`), for a caller about to use that many twice: an import
        preloads its file's organizations to check the rows, then judges the rows on them.
        Memory grows by what those aggregates take, until the caller is done."""
        with self.cache.widened(count):
            yield

    def member(self, registration_no: str) -> Member:
        return self._session().member(registration_no)

    def locate(self, registration_no: str, id_card_no: str) -> Member | None:
        """The living member holding both numbers, else None (which of them failed is not
        said). Both are checked in full whatever the first gives: the ID number's keyed
        digest is compared, in constant time, even when the registration number is unknown.
        A number of the right shape is looked for as it is: one with a wrong check character
        (a digit mistyped) is held by nobody, so it is None like any other; only a value
        not even shaped like a number (the two share one shape) is refused as malformed."""
        number = registration_key(registration_no) or validate_registration_no(registration_no)
        card = registration_key(id_card_no) or validate_id_card_no(id_card_no)
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

    def recorded_transfer(self, transfer_id: str) -> dict[str, Any]:
        """The summary of a transfer a command of this process has just recorded: the
        transfer as the cache holds it since that command's save (the state the command
        left, or a later one), with no query to the store. A command's answer; other reads
        use `transfer()`, which follows the log first."""
        with self.cache.lock:
            return Session(self._reading).transfer(transfer_id).summary()

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

